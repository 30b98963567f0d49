import type { IntMap } from './int-map.js';

/** Task states, as `ps` would name them. */
export type TaskRunState = 'new' | 'running' | 'runnable' | 'sleeping' | 'stopped' | 'zombie' | 'dead';
/** What the task is executing: its user program, kernel code, or (pid 0 only) the idle loop. */
export type TaskMode = 'user' | 'kernel' | 'idle';

export interface TaskState {
  readonly pid: number;
  readonly tgid: number;
  /** 0 when the task was started by the host (`kernel.spawn`) and so is reaped automatically. */
  readonly parent: number;
  readonly children: readonly number[];
  readonly comm: string;
  readonly kthread: boolean;
  readonly state: TaskRunState;
  readonly mode: TaskMode;
  /** The CPU it runs on, or last ran on; -1 before it first ran. */
  readonly cpu: number;
  /** Present for a task bound to one CPU (`{ cpu }` at spawn, kthread_bind): the only CPU it may run on. */
  readonly boundCpu?: number;
  /** Thread flags (`TIF_KERNEL_TRACE`, ...): a set of names, each present with `true`. */
  readonly flags: Readonly<Record<string, true>>;
  /** Voluntary and involuntary context switches (`nvcsw`, `nivcsw`). */
  readonly nvcsw: number;
  readonly nivcsw: number;
  /** On the task list: from the fork's `link` stage (or spawn) until release. */
  readonly listed: boolean;
  /** The wait channel while sleeping (`mutex:markers_mutex`, `wait:12`, `timer`), else null. */
  readonly waitingOn: string | null;
  /** Tick at which a timed sleep ends; null otherwise. */
  readonly wakeAt: number | null;
  /**
   * Present (true) while the task is stopped in TASK_TRACED: a tracer holds it, and SIGCONT
   * does not wake it (SIGKILL still does). Absent in every other state, a job-control stop
   * (TASK_STOPPED) included. Written by the `task/sleep`, `task/traced` and `sched/wakeup`
   * reducers.
   */
  readonly traced?: true;
  /** The syscall in progress, if any. */
  readonly syscall: string | null;
  readonly pendingSignals: readonly number[];
  readonly exitCode: number | null;
  readonly exitState: null | 'zombie' | 'dead';
  readonly nextFd: number;
}

export interface CpuState {
  readonly id: number;
  /** The running task's pid; 0 is this CPU's idle task (`swapper/N`). */
  readonly curr: number;
  readonly preemptCount: number;
  readonly online: boolean;
}

export type LockState =
  | {
      readonly kind: 'mutex';
      readonly owner: number | null;
      /** FIFO: the head gets the mutex handed over at unlock. */
      readonly waiters: readonly number[];
    }
  | {
      readonly kind: 'rwlock' | 'spinlock';
      readonly writer: number | null;
      readonly readers: readonly number[];
      /** FIFO; while a writer waits, new readers queue behind it (queued rwlock fairness). */
      readonly waiters: ReadonlyArray<{ readonly pid: number; readonly write: boolean }>;
    };

export interface RcuState {
  /** Grace periods completed so far. */
  readonly completed: number;
  /** The grace period in progress (number `completed + 1`), or null. */
  readonly gp: null | { readonly seq: number; readonly start: number; readonly pending: readonly number[] };
  /** Callbacks queued with `callRcu` and not yet invoked. */
  readonly callbacks: ReadonlyArray<{ readonly id: number; readonly gp: number; readonly label: string }>;
  readonly nextCallbackId: number;
}

export interface MmState {
  readonly tgid: number;
  /** Next free user address for data the program hands to syscalls. */
  readonly brk: number;
  /** Resident pages, by page number. A page not in the map faults on first access. */
  readonly pages: IntMap<true>;
  /** Strings the program stored in its memory, by start address. */
  readonly data: IntMap<string>;
}

export interface ModuleState {
  readonly name: string;
  readonly state: 'live' | 'going';
  readonly data: Readonly<Record<string, unknown>>;
}

export interface FunctionState {
  readonly name: string;
}

export interface KernelInfo {
  readonly cpus: number;
  readonly seed: number;
  readonly coreVersion: string;
  readonly plugins: ReadonlyArray<{ readonly name: string; readonly version: string; readonly options?: unknown }>;
  /** Plugins disabled by an oops, with the reason. */
  readonly disabledPlugins: Readonly<Record<string, string>>;
  readonly nextPid: number;
  readonly oopses: number;
  readonly tasksReleased: number;
}

/**
 * Plugin slices, keyed by plugin name. A plugin declares its slice type by augmenting this
 * interface in its `events.ts`:
 * `declare module '@tracelab/core' { interface PluginStates { markers: MarkersState } }`
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface PluginStates {}

/** The whole kernel state: immutable, replaced by a new object on every event. */
export interface KernelState {
  /** Tick of the last applied event. */
  readonly clock: { readonly now: number };
  readonly kernel: KernelInfo;
  readonly cpus: readonly CpuState[];
  /** Runnable tasks waiting for a CPU, oldest first. */
  readonly runqueue: readonly number[];
  readonly tasks: IntMap<TaskState>;
  readonly locks: Readonly<Record<string, LockState>>;
  readonly rcu: RcuState;
  readonly memory: IntMap<MmState>;
  readonly modules: Readonly<Record<string, ModuleState>>;
  readonly functions: Readonly<Record<string, FunctionState>>;
  readonly plugins: Readonly<Partial<PluginStates>> & Readonly<Record<string, unknown>>;
}

export const TASKLIST_LOCK = 'tasklist_lock';
export const PAGE_SIZE = 4096;
