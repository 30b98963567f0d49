/**
 * @tracelab/core: the event-sourced simulated kernel on which tracing mechanisms run as
 * plugins. See the package README for the API, events, state and invariants.
 */
export { createKernel, replay, resolvePlugins, CORE_VERSION, LOG_VERSION } from './kernel.js';
export { conflictObjects, footprintsConflict, observedGroups, OBSERVER_HOST } from './internal/footprint.js';
export { appended, copyObject, withField, withKey, without, withoutField, withoutKey } from './plain.js';
export type { Mutable } from './plain.js';
export type { FootprintSink, ObservedBy, ObservedSets, StepFootprint } from './internal/footprint.js';
export { WATCHDOG_EXIT_CODE, WATCHDOG_DEFAULT_MS } from './internal/watchdog.js';
export type { WatchdogOptions, WatchdogReport } from './internal/watchdog.js';
export type {
  Kernel,
  KernelOptions,
  PollLoops,
  ReplayedKernel,
  ReplayOptions,
  ReplayReport,
  ResetOptions,
  RunOptions,
  RunResult,
  SpawnOptions,
  SubscriberError,
  Violation,
  WaitingTask,
} from './kernel.js';

export {
  randomStrategy,
  replaySchedule,
  encodeSchedule,
  encodeScheduleRuns,
  decodeSchedule,
  parseSchedule,
  MAX_CHOICE_VALUE,
  MAX_EXPANDED_CHOICES,
} from './strategy.js';
export type { Chooser, EncodeScheduleOptions, RandomStrategyOptions, ReplayStrategy, ScheduleContext, ScheduleInfo, Strategy } from './strategy.js';

export {
  callRcu,
  copyFromUser,
  current,
  emit,
  fn,
  getState,
  msleep,
  pollSleep,
  mutexIsHeldBy,
  kthreadRun,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  printk,
  rcuReadLock,
  isKPath,
  isGeneratorFunction,
  callbackPath,
  rcuIdleEnter,
  rcuIdleExit,
  rcuIsWatching,
  HARDIRQ_OFFSET,
  NMI_OFFSET,
  inIrq,
  inNmi,
  inInterrupt,
  inIrqCount,
  inNmiCount,
  irqsDisabled,
  localIrqDisable,
  localIrqEnable,
  localIrqSave,
  localIrqRestore,
  smpCallFunctionSingle,
  rcuReadUnlock,
  readLock,
  readUnlock,
  schedPoint,
  schedule,
  shouldFailAlloc,
  spinLock,
  spinUnlock,
  synchronizeRcu,
  waitEvent,
  waitEventTimeout,
  wakeUp,
  writeLock,
  writeUnlock,
} from './paths.js';
export type { ChoiceKind, Command, CopyResult, Current, KPath, KthreadOptions, McountReturn, PollDone, RcuCallback, SmpCallFunction } from './paths.js';
export type { InterruptOptions } from './internal/irq.js';

export { apiKey, definePlugin } from './plugin.js';
export type {
  CorePaths,
  HookArgs,
  HookHandler,
  HookName,
  ForkStage,
  HookResult,
  InvariantCheck,
  InvariantOptions,
  LivenessMonitor,
  McountHandler,
  PluginApis,
  PluginContext,
  PluginFootprint,
  PlainSliceReducer,
  PluginStack,
  SignalAction,
  SignalInjection,
  SyscallEntryAction,
  SyscallBody,
  TapOptions,
  TracelabPlugin,
} from './plugin.js';

export {
  userOps,
  CLONE_VFORK,
  MADV_PAGEOUT,
  SIGCHLD,
  SIGCONT,
  SIGINT,
  SIGKILL,
  SIGSEGV,
  SIGSTOP,
  SIGTERM,
  SIGTRAP,
  SIGTSTP,
  SIGUSR1,
  TIF_SIGPENDING,
} from './program.js';
export type { Program, SyscallArgs, UserOp, UserOps, WaitResult } from './program.js';

export type { EventHeader, EventInput, CoreEventMap, CoreEventType, EventMap, EventType, KernelEvent } from './events.js';
export { CORE_EVENT_TYPES } from './events.js';

export { PAGE_SIZE, TASKLIST_LOCK } from './state.js';
export type {
  CpuState,
  FunctionState,
  KernelInfo,
  KernelState,
  LockState,
  MmState,
  ModuleState,
  PluginStates,
  RcuState,
  TaskMode,
  TaskRunState,
  TaskState,
} from './state.js';

export { ValueLabels, describeValue } from './labels.js';
export { intMapDelete, intMapEmpty, intMapFrom, intMapGet, intMapHas, intMapNextKey, intMapSet, intMapValues, intMapWith } from './int-map.js';
export type { IntMap, IntMapNode } from './int-map.js';

export { canonicalEqual, canonicalJson, logToNdjson } from './internal/canonical-json.js';

export {
  EAGAIN,
  EALREADY,
  EBUSY,
  ECHILD,
  EEXIST,
  EFAULT,
  EINPROGRESS,
  EINTR,
  EINVAL,
  EIO,
  ENOBUFS,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  EPERM,
  ESRCH,
  TracelabError,
  errnoName,
  kernelBug,
} from './errors.js';
export type { CoreErrorCode, TracelabErrorCode, TracelabErrorCodes } from './errors.js';
/** The strategies' PRNG (sfc32 seeded through splitmix32), for strategies written outside the core. */
export { createPrng, type Prng } from './internal/prng.js';
export { trackComm } from './comm.js';
export { option, pluginOptions, type EarlierOptions, type OptionRule, type OptionSpec, type OptionsSchema, type ResolvedOptions } from './options.js';
export { doEachThread, setThreadFlag, threadFlagChecker, type ThreadWalk } from './threads.js';
export { drive, isSchedulingCommand, type DriveOptions } from './drive.js';
export { gpKthread, invokeCallbackBatch, type CallbackBatch, type CallbackListCounters, type GpKthreadRound, type QueuedCallback } from './callback-batches.js';
export { priorityIndex, withProbe, type Prioritised } from './probes.js';
