import type { IntMap, IntMapNode } from './int-map.js';
import { PEEK, emit, schedPoint, type KPath } from './paths.js';
import type { KernelState, TaskState } from './state.js';
import { intMapGet, intMapNextKey, intMapValues } from './int-map.js';

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
 *
 * `live: true` follows the list as it is at each step instead (list_for_each_entry_rcu on a
 * sequentially consistent machine): after each thread the next one is looked up in the current
 * state, so a task linked at the tail before the walker gets there is visited, and one released
 * before the walker reaches it is not. `tasks` then only gives the first thread.
 */
export function* doEachThread(
  tasks: IntMap<TaskState>,
  visit: (task: TaskState) => KPath<boolean | void> | boolean | void,
  options: { readonly schedPoints?: boolean; readonly live?: boolean } = {},
): KPath<ThreadWalk> {
  const schedPoints = options.schedPoints ?? true;
  const live = options.live ?? false;
  let list = tasks;
  let visited = 0;
  let changed = 0;
  for (let pid = intMapNextKey(list, -1); pid !== -1; pid = intMapNextKey(list, pid)) {
    const task = intMapGet(list, pid)!;
    if (!task.listed) continue;
    if (visited > 0 && schedPoints) yield* schedPoint();
    visited++;
    // The live view reads the entry as it is now (its flags may have changed since `list`).
    const r = visit(live ? (intMapGet(((yield PEEK) as KernelState).tasks, pid) ?? task) : task);
    const did = typeof r === 'object' && r !== null ? yield* r : r;
    if (did === true) changed++;
    if (live) list = ((yield PEEK) as KernelState).tasks;
  }
  return { visited, changed };
}

/**
 * The incremental form of "every task on the task list has `flag` exactly when `want`" (I1 of
 * SEMANTICS.md 1(d), for ktrace's TIF_KERNEL_TRACE and the ring buffer's
 * TIF_SYSCALL_TRACEPOINT): returns the first listed task that disagrees, or null. It remembers
 * the last task map it found clean under the same `want` (a host-side memo over immutable
 * values, reset-safe) and, the map being a persistent trie, visits only the task objects that
 * changed since; a full scan happens when `want` changes. Callers decide when the check applies
 * (not while a walk or a fork's write section is in progress).
 */
export function threadFlagChecker(flag: string): (tasks: IntMap<TaskState>, want: boolean) => TaskState | null {
  // The last task map verified clean, under which expectation. Written only by this closure.
  let verifiedTasks: IntMap<TaskState> | null = null;
  let verifiedWant = false;
  const wrong = (t: TaskState): boolean => t.listed && (t.flags[flag] === true) !== verifiedWant;
  return (tasks, want) => {
    let bad: TaskState | null = null;
    if (verifiedTasks !== null && verifiedWant === want && verifiedTasks.depth === tasks.depth) {
      if (verifiedTasks === tasks) return null;
      bad = changedLeaves(verifiedTasks.root, tasks.root, tasks.depth - 1, wrong);
    } else {
      verifiedWant = want;
      verifiedTasks = null;
      for (const t of intMapValues(tasks)) {
        if (wrong(t)) {
          bad = t;
          break;
        }
      }
    }
    if (bad === null) verifiedTasks = tasks;
    return bad;
  };
}

/** The first task in `b` that is not the very same object at the same place in `a` and is wrong. */
function changedLeaves(a: IntMapNode<TaskState> | null, b: IntMapNode<TaskState>, level: number, wrong: (t: TaskState) => boolean): TaskState | null {
  for (let i = 0; i < b.length; i++) {
    const bc = b[i] ?? null;
    if (bc === null) continue;
    const ac = a === null ? null : (a[i] ?? null);
    if (ac === bc) continue;
    if (level === 0) {
      if (wrong(bc as TaskState)) return bc as TaskState;
    } else {
      const found = changedLeaves(ac as IntMapNode<TaskState> | null, bc as IntMapNode<TaskState>, level - 1, wrong);
      if (found !== null) return found;
    }
  }
  return null;
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
