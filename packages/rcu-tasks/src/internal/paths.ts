import type { KPath, RcuCallback } from '@tracelab/core';
import { callRcuTasksFlavour, rcuReadLockTrace, rcuReadUnlockTrace, synchronizeRcuTasksRude, waitForCallback } from '../tasks.js';
import { createRcuTasksInstance, resetInstance } from './instance.js';
import type { ResolvedRcuTasksOptions } from './options.js';

/**
 * The kernel paths of tasks.ts bound to one plugin instance (one kernel), as the API offers
 * them, and the instance's reset.
 */
export function rcuTasksPaths(options: ResolvedRcuTasksOptions) {
  const m = createRcuTasksInstance(options);
  return {
    /** `kernel.reset`: the callbacks of the previous run are gone with it (the kthread state is in the slice). */
    reset: (): void => resetInstance(m),
    callRcuTasks: (fn: RcuCallback, label = 'callback') => callRcuTasksFlavour(m, 'tasks', fn, label),
    *synchronizeRcuTasks(): KPath<void> {
      yield* waitForCallback(m, 'tasks', 'synchronize_rcu_tasks');
    },
    /** A single FIFO list, so a callback queued now runs after every one queued before it. */
    *rcuBarrierTasks(): KPath<void> {
      yield* waitForCallback(m, 'tasks', 'rcu_barrier_tasks');
    },
    rcuReadLockTrace,
    rcuReadUnlockTrace,
    callRcuTasksTrace: (fn: RcuCallback, label = 'callback') => callRcuTasksFlavour(m, 'trace', fn, label),
    *synchronizeRcuTasksTrace(): KPath<void> {
      yield* waitForCallback(m, 'trace', 'synchronize_rcu_tasks_trace');
    },
    *rcuBarrierTasksTrace(): KPath<void> {
      yield* waitForCallback(m, 'trace', 'rcu_barrier_tasks_trace');
    },
    synchronizeRcuTasksRude,
  };
}
