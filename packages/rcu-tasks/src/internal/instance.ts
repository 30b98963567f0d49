import type { RcuCallback } from '@tracelab/core';
import type { RcuTasksFlavour } from '../events.js';
import type { ResolvedRcuTasksOptions } from './options.js';

/** A queued callback's closure: hot data, outside the immutable state, keyed by callback id. */
export interface Closure {
  readonly fn: RcuCallback;
  readonly label: string;
}

/**
 * The state of one rcu-tasks plugin instance (one kernel) that lives beside the slice, as one
 * explicit object: what the kernel paths of tasks.ts share. The slice (`state.plugins['rcu-tasks']`)
 * holds everything else and is written only by reducers.
 */
export interface RcuTasksInstance {
  /** The options, resolved once by the factory. Never written. */
  readonly options: ResolvedRcuTasksOptions;
  /** Back-off of the GP kthread after invoking a batch (hz/10 ticks), so more callbacks collect into the next. Never written. */
  readonly batchDelay: number;
  /**
   * The queued callbacks' closures, per flavour, by callback id. Guarded by the runtime's
   * single thread: `callRcuTasks` adds an entry in the same step as its `callback-queued`
   * event, and only the flavour's GP kthread deletes it, when it invokes it; `kernel.reset`
   * clears both. A queueing step rolled back by an oops leaves an entry whose id the next call
   * reuses (the id comes from the state, which the rollback restored), so nothing leaks or
   * runs twice.
   */
  readonly closures: Readonly<Record<RcuTasksFlavour, Map<number, Closure>>>;
}

export function createRcuTasksInstance(options: ResolvedRcuTasksOptions): RcuTasksInstance {
  return { options, batchDelay: Math.max(1, Math.floor(options.hz / 10)), closures: { tasks: new Map(), trace: new Map() } };
}

/** `kernel.reset`: the callbacks of the previous run are gone with it (the kthread state is in the slice). */
export function resetInstance(m: RcuTasksInstance): void {
  m.closures.tasks.clear();
  m.closures.trace.clear();
}
