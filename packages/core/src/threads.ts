import type { IntMap } from './int-map.js';
import { PEEK, emit, schedPoint, type KPath } from './paths.js';
import type { KernelState, TaskState } from './state.js';
import { intMapGet, intMapNextKey } from './int-map.js';

/** What `doEachThread` did: the threads it visited, and those whose visit returned true. */
export interface ThreadWalk {
  readonly visited: number;
  readonly changed: number;
}

/**
 * do_each_thread / while_each_thread over one version of the task list: every task on it
 * (`listed`: linked by fork and not yet released), in pid order, with a scheduling point
 * between two threads (`schedPoints: false` leaves them out), so forks and exits on other CPUs
 * interleave with the walk. The caller holds what makes `tasks` the list it may walk: the
 * tasklist read lock (then it is the live list until the unlock) or an RCU-sched reader (then
 * it is the version the reader began with, and tasks linked since are not visited): read it
 * with `getState()` after taking the lock, as ktrace's walk and the syscall tracepoint flag
 * walk do. A visit that returns true counts as a change.
 */
export function* doEachThread(
  tasks: IntMap<TaskState>,
  visit: (task: TaskState) => KPath<boolean | void> | boolean | void,
  options: { readonly schedPoints?: boolean } = {},
): KPath<ThreadWalk> {
  const schedPoints = options.schedPoints ?? true;
  let visited = 0;
  let changed = 0;
  for (let pid = intMapNextKey(tasks, -1); pid !== -1; pid = intMapNextKey(tasks, pid)) {
    const task = intMapGet(tasks, pid)!;
    if (!task.listed) continue;
    if (visited > 0 && schedPoints) yield* schedPoint();
    visited++;
    const r = visit(task);
    const did = typeof r === 'object' && r !== null ? yield* r : r;
    if (did === true) changed++;
  }
  return { visited, changed };
}

/**
 * set_tsk_thread_flag / clear_tsk_thread_flag: `task/flags` for `pid` when the flag is not
 * already as asked (set_bit on a set bit stores nothing, so nothing is logged). A task gone
 * from the live state (freed while an RCU walker still had it in its version) is not written.
 * Returns whether the flag changed.
 */
export function* setThreadFlag(pid: number, flag: string, on: boolean): KPath<boolean> {
  const task = intMapGet(((yield PEEK) as KernelState).tasks, pid);
  if (task === undefined || (task.flags[flag] === true) === on) return false;
  yield* emit({ type: 'task/flags', pid, set: on ? [flag] : [], clear: on ? [] : [flag] });
  return true;
}
