import type { Draft } from 'immer';
import type { EventType, KernelEvent } from './events.js';
import type { KPath, McountReturn } from './paths.js';
import type { KernelState, PluginStates, TaskRunState } from './state.js';

/**
 * Each plugin's API on `kernel.api`, keyed by the plugin's name, as in `dependsOn`,
 * `state.plugins` and its event types (`kernel.api['rcu-tasks']`). Plugins add theirs by
 * declaration merging:
 * `declare module '@tracelab/core' { interface PluginApis { markers: MarkersApi } }`
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface PluginApis {}

/** The hooks kernel code runs, like the kernel's tracehooks, and what each handler receives. */
export interface HookArgs {
  /**
   * copy_process: `dup` right after dup_task_struct (no lock), `link` under the tasklist write
   * lock right after the list insertion. `cloneFlags` has `CLONE_VFORK` for `u.vfork`.
   *
   * Two more stages run only for handlers that name them (`tap(..., { stage })`), so a stack
   * that taps neither runs exactly as before they existed: `prelock`, after the preemptible
   * copy work (copy_mm, copy_files) and before write_lock(tasklist_lock); `prelink`, under
   * the write lock before the list insertion (LTTng's place for its flag re-copy), followed
   * by a scheduling point for the rest of the write section before the insertion (the
   * siglock, the fatal-signal check), during which other CPUs run.
   *
   * `parent` is 0 for a task the host started (`kernel.spawn`, `spawnKthread`, `call`) or kernel
   * code started (`kthreadRun`): the model has no init or kthreadd to fork it, so the child runs
   * both stages itself, as its first code, and is linked between them (`task/linked`). A plugin
   * that copies per-task state from the parent gives such a child what a task on the list has
   * now (the kernel's child of init or kthreadd, which every walk visits first, would).
   */
  fork: { readonly stage: ForkStage; readonly parent: number; readonly child: number; readonly cloneFlags: number };
  /**
   * tracehook_report_clone: in the parent after copy_process linked the child and dropped the
   * tasklist lock, before the child is woken (it cannot run yet). No lock held: may sleep.
   */
  clone: { readonly parent: number; readonly child: number; readonly cloneFlags: number };
  /**
   * do_fork after wake_up_new_task, in the parent, no lock held (it may sleep): the child may
   * already run. For CLONE_VFORK it comes before the parent waits for the child's exec or exit.
   */
  cloneComplete: { readonly parent: number; readonly child: number; readonly cloneFlags: number };
  /** sys_execve after the path was read: `filename` is the path as given, `comm` its basename. */
  exec: { readonly pid: number; readonly comm: string; readonly filename: string };
  /** do_exit, before the task is torn down. */
  exit: { readonly pid: number; readonly code: number };
  /** After exit_notify: the task is a zombie (or about to be released, if autoreaped). */
  death: { readonly pid: number; readonly code: number };
  /** release_task: the task is about to leave the task list for good; `by` reaps it. */
  release: { readonly pid: number; readonly by: number };
  /** Syscall entry slow path: runs only for tasks with the handler's thread flag set. */
  syscallEntry: { readonly pid: number; readonly name: string; readonly args: Readonly<Record<string, number>> };
  syscallExit: { readonly pid: number; readonly name: string; readonly ret: number };
  /**
   * A signal about to be delivered; a handler may return the disposition to apply. `sig: 0`: no
   * signal, the path was forced by TIF_SIGPENDING; a disposition returned then is ignored, but a
   * {@link SignalInjection} is acted on (utrace_get_signal's signal an engine chose in its pass),
   * for a real signal too (in its place).
   */
  signal: { readonly pid: number; readonly sig: number };
  /** After a context switch on `cpu`, in the context of `next`, with preemption disabled. */
  contextSwitch: {
    readonly cpu: number;
    readonly prev: number;
    readonly next: number;
    readonly preempted: boolean;
    readonly prevState: TaskRunState;
    readonly time: number;
    /** `prev`'s comm at the switch: an exiting task (dead, maybe released by now) still has it there. */
    readonly prevComm: string;
  };
  /** On the way back to user mode, after signals. */
  returnToUser: { readonly pid: number };
  pageFault: { readonly pid: number; readonly addr: number; readonly user: boolean };
  moduleLoad: { readonly module: string; readonly data: Readonly<Record<string, unknown>> };
  moduleUnload: { readonly module: string };
  /** Each pass of a CPU's idle loop. */
  idle: { readonly cpu: number };
  /**
   * try_to_wake_up: right after a `sched/wakeup` emitted by kernel code, in the waker's context
   * (`by`, on `cpu`), with whatever the waker holds still held (so the handler must not sleep).
   * Wakeups by a timer have no waking context and run no hook.
   */
  wakeup: { readonly pid: number; readonly by: number; readonly cpu: number };
  /**
   * A hard interrupt's handler (`name: 'timer'`), on `cpu`, in the interrupted task's context,
   * with the preempt count's hardirq part raised and interrupts off: the handler must not sleep
   * (scheduling while atomic, oopsed). Only with `createKernel({ interrupts })`.
   */
  irq: { readonly cpu: number; readonly name: string };
  /** An NMI's handler on `cpu`: may run anywhere, interrupts off or inside a hard interrupt. */
  nmi: { readonly cpu: number };
}

export type HookName = keyof HookArgs & string;

/**
 * The stages of the `fork` hook, in the order copy_process runs them. A tap without `stage`
 * runs at `dup` and `link` only; `prelock` and `prelink` run only the taps that name them.
 */
export type ForkStage = 'dup' | 'prelock' | 'prelink' | 'link';

/**
 * What a handler may return: a signal disposition; `'abort'` from `syscallEntry` to skip the
 * syscall's body (it returns -ENOSYS); from `exit`, the exit code do_exit goes on with (as a
 * tracer's report_exit changes `*exit_code` in the kernel; an integer, anything else is
 * ignored). Every other hook ignores returns. When several handlers return one, the last in
 * hook order wins.
 */
export interface HookResults {
  signal: SignalAction | SignalInjection | undefined;
  syscallEntry: SyscallEntryAction | undefined;
  exit: number | undefined;
}
export type SyscallEntryAction = 'abort';
/**
 * What happens to a signal at delivery. `'hold'` (a `signal` hook's answer only, utrace's
 * UTRACE_SIGNAL_HOLD) leaves it pending, undelivered, and the signal path takes it again at once
 * (get_signal's loop), after a preemption point.
 */
export type SignalAction = 'ignore' | 'terminate' | 'stop' | 'continue' | 'hold';
/**
 * A `signal` handler's answer to a forced pass (`sig: 0`, nothing dequeued): act on signal `sig`
 * with `action` as if it had been dequeued, without touching the queue. utrace_get_signal's
 * no-signal pass gives one when an engine injects a signal (writes `info.si_signo`) or returns a
 * TERM/CORE/STOP/TSTP action (a representative signal, reported as `si_signo`, which may be 0).
 * `sig` is an integer 0..64; 'terminate' exits with 128 + sig, 'stop' is a job-control stop.
 * Anything else throws `HOOK_RESULT_INVALID`. Returned for a real signal (utrace_get_signal
 * stole it and its engines chose another signal, or another number to report), the real signal
 * leaves the queue and `sig` is acted on in its place (`signal/deliver` with `dequeued`).
 */
export interface SignalInjection {
  readonly sig: number;
  readonly action: Exclude<SignalAction, 'hold'>;
}
export type HookResult<H extends HookName> = H extends keyof HookResults ? HookResults[H] : void;

/**
 * A hook handler: a generator function (kernel code that may take locks and scheduling points)
 * or a plain function (code that runs through without a step), returning the hook's result.
 */
export type HookHandler<H extends HookName> = (args: HookArgs[H]) => KPath<HookResult<H> | void> | HookResult<H> | void;

export interface TapOptions {
  /** Higher runs first; ties run in registration order (as tracepoint priorities). Default 10. */
  readonly priority?: number;
  /** fork only: the stage to run at. Default: `dup` and `link` (see `ForkStage`). */
  readonly stage?: ForkStage;
  /** syscallEntry/syscallExit: the thread flag that sends a task to this handler's slow path. */
  readonly flag?: string;
}

/** A safety check run after every step that changed the state: return a message when violated. */
export type InvariantCheck = (state: KernelState) => string | false | null | undefined | void;

/**
 * `invariant(name, check, options)`. `reads`: the shared objects the check reads, named as step
 * footprints name them (docs/explore.md §4a; `tflags:*` for which tasks are on the task list and
 * the thread flags of those that are, `plugin:<name>` for a slice, `lock:<name>`...). While an explorer
 * records footprints they stand for what the check observes instead of what it was seen to
 * read, so a check that walks the whole task table for its flags is not ordered by every
 * other write of a task record. A contract, as `PluginContext.footprint` is: the list must
 * cover everything the check reads to decide (its message may read more), or a DPOR search
 * can miss a violation. Without it the check's reads are recorded as it makes them.
 */
export interface InvariantOptions {
  readonly reads?: readonly string[];
}

/**
 * A hot/cold liveness monitor: `hot` returns what is pending (a grace period not ended...)
 * or null when cold. It is violated when it stays hot for more than `bound` steps while every
 * task that could run has had a chance to run (so unfair schedules raise no false alarm).
 */
export interface LivenessMonitor {
  hot(state: KernelState): string | null;
  /** Steps it may stay hot. Default 10,000. */
  readonly bound?: number;
}

/**
 * A function tracer's handler on an mcount site: `ip` and `parentIp` are function names. Its
 * path may return a path to run when the traced function returns (see `fn`).
 */
export type McountHandler = (ip: string, parentIp: string) => KPath<McountReturn> | void;

/** A syscall body: runs inside `fn('sys_<name>')`; returns the syscall's return value. */
export type SyscallBody = (args: Readonly<Record<string, number>>) => KPath<number> | number;

/**
 * What a step that emitted one of a plugin's events touched of the data the plugin keeps
 * outside its slice, by key (`PluginContext.footprint`): keys are the plugin's own names (a
 * memory location, an engine, a buffer), read or written.
 */
export interface PluginFootprint {
  readonly reads?: readonly string[];
  readonly writes?: readonly string[];
}

/**
 * A plain reducer (`ctx.onPlain(type, reducer)`): the frozen slice in, the new slice out (the
 * same object when the event changes nothing). See `PluginContext.onPlain`.
 */
export type PlainSliceReducer<S, T extends EventType = EventType> = (slice: S, event: KernelEvent<T>, state: KernelState) => S;

/** What `register(ctx)` gets: everything a plugin may touch, and nothing else. */
export interface PluginContext<S = unknown> {
  readonly name: string;
  /** The number of CPUs of this kernel. */
  readonly cpus: number;
  /** The current kernel state (host-side reads; kernel paths use `getState()`). */
  state(): KernelState;
  /** This plugin's slice of the current state. */
  slice(): S;
  /** Declares the slice and its initial value (set when `kernel/plugin-registered` is applied). */
  initSlice(initial: S): void;
  /** Declares event types this plugin emits without a reducer. Types are `<plugin>/<name>`. */
  declareEvents(types: readonly string[]): void;
  /**
   * Names, for explorers' partial-order reduction (step footprints, issue 20), what a step that
   * emits an event of `type` (one of this plugin's declared types) touched of the data the
   * plugin keeps outside its slice: `of(event)` gives the keys it read and wrote, which become
   * the objects `@<plugin>:<key>`. Two such steps commute unless one writes a key the other
   * touches. Without it, every event of the plugin writes all of that data (`@<plugin>:*`).
   * The contract: the keys cover everything the plugin's code read or wrote outside the slice
   * for that event in its step, every such access goes with an event, and no invariant or
   * liveness monitor reads that data (checks are recorded through the state they are given,
   * so a check reading outside data would see orders the search takes as equal). Folding the
   * event into the slice is still a write of the slice (`plugin:<name>`), as for any event.
   * While recording, a footprint that throws or gives something other than lists of keys makes
   * the event touch all of the data (the run goes on as unrecorded) and the step then throws
   * a `PLUGIN_INVALID` error to the host, naming the plugin and the event.
   */
  footprint(type: string, of: (event: KernelEvent) => PluginFootprint): void;
  /**
   * Names what the step under way touched of the data this plugin keeps outside its slice when
   * its own code read or wrote that data in a step that logs none of its events (an event would
   * name it through `footprint`): the keys become reads and writes of `@<plugin>:<key>` in the
   * step's footprint, `'*'` all of the data. Without it such an access is invisible to DPOR,
   * which may then take two orders of a race for one (docs/explore.md §4a, the soundness
   * argument's proviso; `tracelab explore --audit` finds them). Does nothing unless an explorer
   * records footprints, nor outside a step (host-side code; the checks run after the step and
   * declare what they read with `InvariantOptions.reads`). Keys as `footprint` takes them, or
   * `'*'`; anything else throws `PLUGIN_INVALID`, recording or not.
   */
  touched(f: PluginFootprint): void;
  /**
   * `path`, naming `f` as `touched` in every step in which it runs: before each resumption, so
   * every step that runs any of its code (its own or what it delegates to with `yield*`) names
   * the objects, across its scheduling points. For code that reaches the plugin's outside data
   * from many places and over several steps (a ring buffer's reserve, copy, commit and
   * delivery), wrapped once where the plugin's code is entered (a probe, a hook, a kthread, an
   * API path). Errors thrown into it reach `path`; keys are checked once, here.
   */
  touching<T>(f: PluginFootprint, path: KPath<T>): KPath<T>;
  /**
   * Declares an event type with its reducer, which folds it into the slice. Reducers are
   * pure: no clocks, no randomness, nothing but (slice, event, state). They may also fold
   * core events (`task/released`) into the slice. The reducer gets an immer draft of the slice
   * and writes it, or returns a new slice; `onPlain` is the faster plain form.
   */
  on<T extends EventType>(type: T, reducer: (slice: Draft<S>, event: KernelEvent<T>, state: KernelState) => S | void): void;
  /**
   * `on` with a plain reducer: declares the event type (or adds a reducer for a declared one, as
   * `on`), and the reducer gets the slice itself,
   * frozen, and returns the new slice, built from new objects and arrays around the parts it
   * keeps, or the same object when the event changes nothing. No immer draft is made, which is
   * most of what a fold costs for a small change (docs/core.md §2, "Plain reducers").
   *
   * The contract is the slice's, as for drafted reducers: the input is frozen and never
   * changes, so writing it throws (`TypeError` in strict mode, as every ES module is) and the
   * event fails like a throwing reducer (its writes undone, the plugin contained). The core
   * freezes what the reducer returns, walking into the objects that are not frozen yet (a
   * frozen object's children are frozen), so keep the parts that did not change by identity:
   * a part with the same identity as before is unchanged, and checks memoise on that. A
   * reducer that returns `undefined` (a drafted reducer's "no change") fails the event with
   * `PLUGIN_INVALID`, naming the plugin and the event type. Slices are plain data: objects,
   * arrays and primitives (a Map or Set is frozen as an object, not made read-only).
   *
   * Otherwise as `on`: pure, (slice, event, state) only; `state` is the state as
   * folded so far (the core's change and earlier plugins' slices for this event included).
   */
  onPlain<T extends EventType>(type: T, reducer: PlainSliceReducer<S, T>): void;
  /** Taps a kernel hook with a generator handler. */
  tap<H extends HookName>(hook: H, handler: HookHandler<H>, options?: TapOptions): void;
  invariant(name: string, check: InvariantCheck, options?: InvariantOptions): void;
  liveness(name: string, monitor: LivenessMonitor): void;
  /** Adds a syscall; its body runs inside the instrumented function `sys_<name>`. */
  defineSyscall(name: string, body: SyscallBody): void;
  /** Declares an instrumented kernel function (an mcount site) before anything calls it. */
  defineFunction(name: string): void;
  /** Patches the mcount site of `fn(name)`; null restores the nop. */
  patchFunction(name: string, handler: McountHandler | null): void;
  /**
   * Records how to undo a change this plugin just made to data it keeps outside the state (a
   * probe array, a buffer, a registry), should the step segment that made it be rolled back by
   * an oops. The state's own changes (events) are undone by the core; the undo records of a
   * segment run newest first, before its events are taken back. Between steps (host context)
   * nothing is rolled back and the call records nothing. The core's own tables (tasks, timers,
   * patches, RCU callbacks, invariants) are journalled the same way.
   */
  onRollback(undo: () => void): void;
  /** Kernel paths of the core that need the kernel instance (module load/unload). */
  readonly paths: CorePaths;
  /** Another plugin's API (one this plugin depends on). */
  api<K extends keyof PluginApis>(name: K): PluginApis[K];
  /** The API of a plugin named in `optionalDependsOn`, or undefined when it is not in the stack. */
  optionalApi<K extends keyof PluginApis>(name: K): PluginApis[K] | undefined;
  /**
   * Makes the kernel resettable with this plugin (`kernel.reset()`): `restore` puts back, as
   * they were when `register` returned, whatever the plugin keeps outside the state (buffers,
   * registries, host-side tables). The state, the log and the core's own tables are reset by
   * the core. A plugin that keeps nothing there calls it with no function; identity memos over
   * immutable values (an invariant's last verified map) stay valid and need nothing.
   * A kernel with any plugin that did not call it refuses `reset` (`RESET_UNSUPPORTED`).
   */
  onReset(restore?: () => void): void;
}

export interface CorePaths {
  /** load_module: records the module, then runs the moduleLoad hooks (which arm its sites). */
  loadModule(name: string, data?: Record<string, unknown>): KPath<number>;
  /** delete_module: moduleUnload hooks while the module is going, then it is gone. Returns 0 or -ENOENT. */
  unloadModule(name: string): KPath<number>;
}

/**
 * A plugin object, as made by its package's factory: `markers({ ... })`. Plain data plus
 * `register`; `core` is the semver range of `@tracelab/core` it works with, `dependsOn` the
 * plugins it needs, by name, with ranges.
 */
export interface TracelabPlugin<Api = unknown, S = unknown> {
  readonly name: string;
  readonly version: string;
  readonly core: string;
  readonly dependsOn?: Readonly<Record<string, string>>;
  /**
   * Plugins this one works with when they are in the stack (ranges checked, registered first),
   * and does without when they are not: `ktrace` fires markers only if `markers` is there.
   */
  readonly optionalDependsOn?: Readonly<Record<string, string>>;
  /** JSON options, recorded in the log so a replay can check it runs the same stack. */
  readonly options?: unknown;
  register(ctx: PluginContext<S>): Api;
}

/** A stack as users write it: `false`, `null` and `undefined` entries are skipped. */
export type PluginStack = ReadonlyArray<TracelabPlugin<any, any> | false | null | undefined>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The key of a plugin's API on `kernel.api`: its name (`kernel.api['rcu-tasks']`).
 * @deprecated The key is the plugin's name since core 0.2 (it was the name in camelCase).
 */
export function apiKey(name: string): string {
  return name;
}

/** Identity helper that types a plugin object. */
export function definePlugin<Api, S = unknown>(plugin: TracelabPlugin<Api, S>): TracelabPlugin<Api, S> {
  return plugin;
}

export type { PluginStates };
