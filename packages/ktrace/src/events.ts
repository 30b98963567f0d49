import type { KPath } from '@tracelab/core';

/**
 * The per-thread kernel trace flag (LTTng's TIF_KERNEL_TRACE; upstream's
 * TIF_SYSCALL_TRACEPOINT, later SYSCALL_WORK_SYSCALL_TRACEPOINT). It lives in the task's
 * thread flags (`TaskState.flags`), changed only through the core's `task/flags` event; a
 * task with it set takes the syscall slow path.
 */
export const TIF_KERNEL_TRACE = 'TIF_KERNEL_TRACE';

/** The mutex that guards the refcount and serializes the walks (LTTng's kernel_trace_mutex). */
export const KERNEL_TRACE_MUTEX = 'kernel_trace_mutex';

/** Which of the two refcounted operations an event belongs to. */
export type KtraceOp = 'set' | 'clear';

/** How the walk reaches every thread: under the tasklist read lock, or as an RCU-sched reader. */
export type KtraceWalk = 'tasklist' | 'rcu';

/**
 * Where copy_process re-copies the flag from the parent (`KtraceOptions.forkRecopy`):
 * `'after-link'` (upstream, 4af4206be: under the tasklist write lock, after the list
 * insertion), `'before-link'` (LTTng's patch: under the write lock, before the insertion),
 * `'before-lock'` (unsafe: before write_lock), `false` (unsafe: no re-copy).
 */
export type KtraceForkRecopy = 'after-link' | 'before-link' | 'before-lock' | false;

/**
 * What version of the task list the `walk: 'rcu'` reader sees (`KtraceOptions.rcuView`):
 * `'version'` the list as it was when its read-side section began (the stand-in for a weakly
 * ordered machine, docs/ktrace.md §2.1), `'live'` the list as it is at each step (a
 * sequentially consistent machine).
 */
export type KtraceRcuView = 'version' | 'live';

/** The plugin's slice, `state.plugins.ktrace`. Every field is written only by reducers. */
export interface KtraceState {
  /**
   * kernel_trace_refcount: sets minus clears. Guarded by kernel_trace_mutex (with
   * `refcountOutsideMutex`, by nothing: that is the unsafe variant).
   */
  readonly refcount: number;
  /** set calls that have returned (each returns 0), or whose caller died after storing the refcount. */
  readonly sets: number;
  /**
   * clear calls that have returned 0 (an unbalanced clear returns -EINVAL and is not counted),
   * or whose caller died after storing the refcount.
   */
  readonly clears: number;
  /**
   * set/clear calls entered and not yet returned (the size of `callers`); the invariants hold
   * only when it is 0.
   */
  readonly inFlight: number;
  /**
   * The set/clear calls in flight, by the caller's pid: which op, and whether it has stored
   * the refcount yet. A caller that exits before returning (killed by an oops) is dropped at
   * its `task/exit`; if it had stored, its op counts in `sets` / `clears`.
   */
  readonly callers: Readonly<Record<number, { readonly op: KtraceOp; readonly stored: boolean }>>;
  /** The walk in progress (at most one: walks run under kernel_trace_mutex), or null. */
  readonly walk: null | { readonly op: KtraceOp; readonly pid: number; readonly via: KtraceWalk };
  /** Walks completed so far. */
  readonly walks: number;
}

export interface KtraceApi {
  /**
   * set_kernel_trace_flag_all_tasks: under kernel_trace_mutex, refcount++; on 0→1, sets the
   * flag on every thread (walking the task list, a scheduling point between threads).
   * Returns 0. Every thread on the task list when it returns has the flag, and every fork
   * linked from then on inherits it (with the default options).
   */
  setKernelTraceFlagAllTasks(): KPath<number>;
  /**
   * clear_kernel_trace_flag_all_tasks: under kernel_trace_mutex, refcount--; on 1→0, clears
   * the flag on every thread. Returns 0, or -EINVAL (refcount untouched) when the refcount
   * is already 0: a clear without a matching set is the caller's bug.
   */
  clearKernelTraceFlagAllTasks(): KPath<number>;
  /** True when `pid` exists and has TIF_KERNEL_TRACE set (a host-side read of the current state). */
  isTraced(pid: number): boolean;
  /**
   * The refcount now: the value stored in kernel_trace_refcount. With the default options it
   * equals sets minus clears once no call is in flight; with `refcountOutsideMutex` a lost
   * update makes them differ.
   */
  refcount(): number;
}

declare module '@tracelab/core' {
  interface EventMap {
    /** A set or clear call was entered by `pid`. */
    'ktrace/call': { op: KtraceOp; pid: number };
    /** The store to kernel_trace_refcount: `value` is what the caller computed from its read. */
    'ktrace/refcount': { op: KtraceOp; pid: number; value: number };
    /** The walk over every thread begins, holding the tasklist read lock or an RCU-sched reader. */
    'ktrace/walk-start': { op: KtraceOp; pid: number; via: KtraceWalk };
    /** The walk is done: `visited` threads, `changed` of them had their flag flipped. */
    'ktrace/walk-end': { op: KtraceOp; pid: number; visited: number; changed: number };
    /** A set or clear call returns `ret` (0, or -EINVAL for an unbalanced clear). */
    'ktrace/return': { op: KtraceOp; pid: number; ret: number };
    /** The syscall slow path of a flagged thread, at entry: trace_sys_enter. */
    'ktrace/syscall-entry': { pid: number; name: string; args: Record<string, number> };
    /** The syscall slow path of a flagged thread, at exit: trace_sys_exit. */
    'ktrace/syscall-exit': { pid: number; name: string; ret: number };
  }
  interface PluginStates {
    ktrace: KtraceState;
  }
  interface PluginApis {
    ktrace: KtraceApi;
  }
}
