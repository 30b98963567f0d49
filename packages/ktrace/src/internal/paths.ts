import {
  EINVAL,
  current,
  doEachThread,
  emit,
  getState,
  intMapGet,
  mutexLock,
  mutexUnlock,
  printk,
  rcuReadLock,
  rcuReadUnlock,
  readLock,
  readUnlock,
  schedPoint,
  setThreadFlag,
  type KPath,
  type KernelState,
} from '@tracelab/core';
import { KERNEL_TRACE_MUTEX, TIF_KERNEL_TRACE, type KtraceOp, type KtraceRcuView, type KtraceState, type KtraceWalk } from '../events.js';

/** The resolved options the kernel paths follow (see `KtraceOptions` for the meaning of each). */
export interface PathOptions {
  readonly walk: KtraceWalk;
  readonly rcuView: KtraceRcuView;
  readonly refcountOutsideMutex: boolean;
}

const INITIAL: KtraceState = { refcount: 0, sets: 0, clears: 0, inFlight: 0, callers: {}, walk: null, walks: 0 };

/** The slice as kernel code reads it (the initial value before registration is applied). */
export function ktraceSlice(s: KernelState): KtraceState {
  return s.plugins.ktrace ?? INITIAL;
}

export const INITIAL_KTRACE_STATE = INITIAL;

function hasFlag(s: KernelState, pid: number): boolean | undefined {
  const t = intMapGet(s.tasks, pid);
  return t === undefined ? undefined : t.flags[TIF_KERNEL_TRACE] === true;
}

/**
 * The kernel paths of the plugin, named after the LTTng functions (kernel/sched.c of the
 * 2009 patch) and upstream's syscall_tracepoint_update (kernel/fork.c).
 *
 * Lock order: kernel_trace_mutex → tasklist_lock (read). copy_process takes tasklist_lock
 * for write and never kernel_trace_mutex, so the two cannot deadlock.
 */
export function kernelTracePaths(options: PathOptions) {
  /**
   * do_each_thread / while_each_thread, setting or clearing the flag on every thread on the
   * task list, with a scheduling point between threads so that forks and exits on other
   * CPUs interleave with the walk (the rwlock keeps preemption off, so this CPU is not
   * preempted, but the others run).
   *
   * - `tasklist`: read_lock(&tasklist_lock). No task joins or leaves the list until the
   *   unlock (fork/link and release_task take the lock for write), so the version of the
   *   list read at the lock is the live list for the whole walk. A fork that links after
   *   the walk re-copies the flag from its parent, which the walk has already set.
   * - `rcu`: rcu_read_lock_sched. The reader excludes nobody: forks link and tasks are
   *   released while it walks. An RCU reader is only guaranteed to see the list as it was
   *   when its read-side section began ("a nano delayed version of the list", Frederic
   *   Weisbecker in the thread); the model gives it exactly that version, the weakest view
   *   RCU allows. A child linked after that version, whose re-copy ran before the walk
   *   reached its parent, is never visited and keeps F=0 for good (SEMANTICS.md 1(c)).
   *   With `rcuView: 'live'` the reader follows the list as it is at each step instead (a
   *   sequentially consistent machine): it misses a child only if the child's re-copy ran
   *   before the walker set the parent and its insertion came after the walker left the tail,
   *   which needs the re-copy before the insertion (LTTng's order, `forkRecopy: 'before-link'`).
   */
  function* walkAllThreads(op: KtraceOp): KPath<void> {
    const me = yield* current();
    const set = op === 'set';
    const via = options.walk;
    if (via === 'rcu') yield* rcuReadLock();
    else yield* readLock();
    // The version of the task list this walker reads. Immutable state is exactly an RCU
    // version: under the read lock it stays the live list until the unlock.
    const list = (yield* getState()).tasks;
    yield* emit({ type: 'ktrace/walk-start', op, pid: me.pid, via });
    const live = via === 'rcu' && options.rcuView === 'live';
    const { visited, changed } = yield* doEachThread(list, (t) => setThreadFlag(t.pid, TIF_KERNEL_TRACE, set), { live });
    yield* emit({ type: 'ktrace/walk-end', op, pid: me.pid, visited, changed });
    if (via === 'rcu') yield* rcuReadUnlock();
    else yield* readUnlock();
  }

  /**
   * The refcount update and, on 0→1 (set) or 1→0 (clear), the walk. With the default
   * options all of it runs under kernel_trace_mutex, as in the LTTng patch:
   * `if (kernel_trace_refcount++) goto end;` / `if (--kernel_trace_refcount) goto end;`.
   *
   * With `refcountOutsideMutex`, the refcount is read and written before the mutex is taken,
   * with a scheduling point between the load and the store (`refcount++` is not one
   * instruction). Two things go wrong: two updates can read the same value (a lost update),
   * and a caller that decided "1→0, clear" can take the mutex after one that decided
   * "0→1, set", so the clear walk runs last while the refcount says traced.
   */
  function* kernelTraceRefcount(op: KtraceOp): KPath<number> {
    const me = yield* current();
    yield* emit({ type: 'ktrace/call', op, pid: me.pid });
    let ret: number;
    if (options.refcountOutsideMutex) {
      const old = ktraceSlice(yield* getState()).refcount;
      if (op === 'clear' && old === 0) {
        ret = yield* unbalancedClear(me.pid);
      } else {
        yield* schedPoint(); // between the load and the store of the increment
        const value = op === 'set' ? old + 1 : old - 1;
        yield* emit({ type: 'ktrace/refcount', op, pid: me.pid, value });
        yield* mutexLock(KERNEL_TRACE_MUTEX);
        if (isTransition(op, value)) yield* walkAllThreads(op);
        yield* mutexUnlock(KERNEL_TRACE_MUTEX);
        ret = 0;
      }
    } else {
      yield* mutexLock(KERNEL_TRACE_MUTEX);
      const old = ktraceSlice(yield* getState()).refcount;
      if (op === 'clear' && old === 0) {
        ret = yield* unbalancedClear(me.pid);
      } else {
        const value = op === 'set' ? old + 1 : old - 1;
        yield* emit({ type: 'ktrace/refcount', op, pid: me.pid, value });
        if (isTransition(op, value)) yield* walkAllThreads(op);
        ret = 0;
      }
      yield* mutexUnlock(KERNEL_TRACE_MUTEX);
    }
    yield* emit({ type: 'ktrace/return', op, pid: me.pid, ret });
    return ret;
  }

  /** The LTTng code would take the refcount to -1 here; we warn and refuse instead. */
  function* unbalancedClear(pid: number): KPath<number> {
    yield* printk(`ktrace: WARNING: clear_kernel_trace_flag_all_tasks by pid ${pid} with refcount 0 (unbalanced clear), ignored`);
    return -EINVAL;
  }

  function isTransition(op: KtraceOp, value: number): boolean {
    return op === 'set' ? value === 1 : value === 0;
  }

  /**
   * child->F := current->F (set or clear), as the LTTng hunk in copy_process and upstream's
   * syscall_tracepoint_update(child). Tapped at `link`, under the tasklist write lock, it is
   * what closes the race with the walk: the walk (read lock) and the link section (write
   * lock) exclude each other, so either the walk came first and the parent has the flag, or
   * the link came first and the walk visits the child. Tapped at `dup` it is
   * dup_task_struct's copy of thread_info: made with no lock held, possibly stale by `link`.
   * (The core's `fork/dup` already copies every thread flag, so at `dup` this stores nothing
   * unless the core stops doing so.)
   */
  function* copyKernelTraceFlag(parent: number, child: number): KPath<void> {
    const s = yield* getState();
    // Parent 0: a task the host started, forking itself. Its stand-in parent (init, kthreadd)
    // is the first task every walk visits, so it has the flag exactly when the refcount says.
    const parentHas = parent === 0 ? ktraceSlice(s).refcount > 0 : hasFlag(s, parent) === true;
    yield* setThreadFlag(child, TIF_KERNEL_TRACE, parentHas);
  }

  return {
    *setKernelTraceFlagAllTasks(): KPath<number> {
      return yield* kernelTraceRefcount('set');
    },
    *clearKernelTraceFlagAllTasks(): KPath<number> {
      return yield* kernelTraceRefcount('clear');
    },
    copyKernelTraceFlag,
  };
}
