import { TASKLIST_LOCK, threadFlagChecker, type InvariantCheck, type KernelState } from '@tracelab/core';
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
 * The check is incremental (the core's `threadFlagChecker`), so a 100,000-thread kernel does
 * not pay a full scan per step: a full scan happens only when the expectation changes (once
 * per set/clear, the same order as the walk).
 */
export function flagInvariant(): InvariantCheck {
  const disagreeing = threadFlagChecker(TIF_KERNEL_TRACE);
  return (s: KernelState) => {
    const k = ktraceSlice(s);
    if (k.inFlight > 0) return false;
    const tasklist = s.locks[TASKLIST_LOCK];
    if (tasklist !== undefined && tasklist.kind !== 'mutex' && tasklist.writer !== null) return false;
    const want = k.refcount > 0;
    const bad = disagreeing(s.tasks, want);
    if (bad === null) return false;
    return want
      ? `pid ${bad.pid} (${bad.comm}) is on the task list without ${TIF_KERNEL_TRACE} while the refcount is ${k.refcount} and no set/clear is in progress`
      : `pid ${bad.pid} (${bad.comm}) still has ${TIF_KERNEL_TRACE} with the refcount at 0 and no set/clear in progress`;
  };
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
