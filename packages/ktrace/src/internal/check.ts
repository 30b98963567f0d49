import { TASKLIST_LOCK, intMapValues, type IntMap, type IntMapNode, type InvariantCheck, type KernelState, type TaskState } from '@tracelab/core';
import { TIF_KERNEL_TRACE } from '../events.js';
import { ktraceSlice } from './paths.js';

/**
 * I1 of SEMANTICS.md 1(d), in the form the issue states it: once every set/clear call has
 * returned, every live thread has F == (refcount > 0).
 *
 * - "Live" is a task on the task list: linked by its fork (or started by the host) and not
 *   yet released. Zombies are included: they are still on the list, and the walk visits
 *   them as do_each_thread does. A child between `dup` and `link` is not live yet.
 * - Not checked while a set/clear call is in flight (the walk is half done; a caller that
 *   died part-way is no longer in flight once it exits), nor while
 *   someone holds the tasklist lock for write (a fork between its link and its re-copy).
 * - Host-started tasks are no exception: they run the fork hooks themselves (parent 0) and are
 *   listed only in between, under the tasklist write lock.
 *
 * The check is incremental, so a 100,000-thread kernel does not pay a full scan per step:
 * it remembers the last task map it verified (with the same expectation) and, the task map
 * being a persistent trie, looks only at the tasks whose objects changed since. A full scan
 * happens when the expectation changes (once per set/clear, the same order as the walk).
 */
export function flagInvariant(): InvariantCheck {
  // The last task map verified, under which expectation. Host-side memo, not state.
  let verifiedTasks: IntMap<TaskState> | null = null;
  let verifiedWant = false;
  return (s: KernelState) => {
    const k = ktraceSlice(s);
    if (k.inFlight > 0) return false;
    const tasklist = s.locks[TASKLIST_LOCK];
    if (tasklist !== undefined && tasklist.kind !== 'mutex' && tasklist.writer !== null) return false;
    const want = k.refcount > 0;
    let bad: TaskState | null = null;
    if (verifiedTasks !== null && verifiedWant === want && verifiedTasks.depth === s.tasks.depth) {
      if (verifiedTasks === s.tasks) return false;
      bad = changedLeaves(verifiedTasks.root, s.tasks.root, s.tasks.depth - 1, want);
    } else {
      for (const t of intMapValues(s.tasks)) {
        if (wrong(t, want)) {
          bad = t;
          break;
        }
      }
    }
    if (bad !== null) {
      return want
        ? `pid ${bad.pid} (${bad.comm}) is on the task list without ${TIF_KERNEL_TRACE} while the refcount is ${k.refcount} and no set/clear is in progress`
        : `pid ${bad.pid} (${bad.comm}) still has ${TIF_KERNEL_TRACE} with the refcount at 0 and no set/clear in progress`;
    }
    verifiedTasks = s.tasks;
    verifiedWant = want;
    return false;
  };
}

/** A live task whose flag disagrees with the refcount. */
function wrong(t: TaskState, want: boolean): boolean {
  return t.listed && (t.flags[TIF_KERNEL_TRACE] === true) !== want;
}

/** The first task in `b` that is not the very same object at the same place in `a` and is wrong. */
function changedLeaves(a: IntMapNode<TaskState> | null, b: IntMapNode<TaskState>, level: number, want: boolean): TaskState | null {
  for (let i = 0; i < b.length; i++) {
    const bc = b[i] ?? null;
    if (bc === null) continue;
    const ac = a === null ? null : (a[i] ?? null);
    if (ac === bc) continue;
    if (level === 0) {
      if (wrong(bc as TaskState, want)) return bc as TaskState;
    } else {
      const found = changedLeaves(ac as IntMapNode<TaskState> | null, bc as IntMapNode<TaskState>, level - 1, want);
      if (found !== null) return found;
    }
  }
  return null;
}

/**
 * I4 (0 ≤ R) and "the refcount equals sets minus clears": each returned set counts one,
 * each returned clear (that did not refuse) one; once no call is in flight, the refcount
 * the kernel code stored must agree. A lost update (`refcountOutsideMutex`) breaks it.
 */
export const refcountInvariant: InvariantCheck = (s) => {
  const k = ktraceSlice(s);
  if (k.refcount < 0) return `the refcount is ${k.refcount}`;
  if (k.inFlight === 0 && k.refcount !== k.sets - k.clears) {
    return `the refcount is ${k.refcount} after ${k.sets} sets and ${k.clears} clears returned (expected ${k.sets - k.clears})`;
  }
  return false;
};
