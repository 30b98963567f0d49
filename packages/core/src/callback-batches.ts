import { current, getState, type KPath, type RcuCallback } from './paths.js';
import type { KernelState } from './state.js';

/**
 * The counters of a plugin's callback list, as its slice holds them (rcu-tasks' flavours, each
 * SRCU domain): callbacks get ids from 1 in queue order; `takenThrough` is the last id a batch
 * took; `completed` counts the grace periods that ended.
 */
export interface CallbackListCounters {
  readonly completed: number;
  readonly takenThrough: number;
  readonly nextCallbackId: number;
}

/** What one round of a grace-period kthread takes: the grace period it runs and the callback ids it waits for. */
export interface CallbackBatch {
  readonly gp: number;
  readonly first: number;
  readonly last: number;
}

/** A queued callback's closure, kept by the plugin outside the immutable state, keyed by id. */
export interface QueuedCallback {
  readonly fn: RcuCallback;
  readonly label: string;
}

/** What a plugin's grace-period kthread does in each part of its round (`gpKthread`). */
export interface GpKthreadRound {
  /** The list's counters in `state` (read at the top of each round). */
  counters(state: KernelState): CallbackListCounters;
  /**
   * Optional. Nothing is queued: wait for the next callback, as a work item's worker waits for
   * the next queue_work. True: something is queued, go on with the next round; false: stop (the
   * kthread then logs its exit). Without it the kthread exits at once.
   */
  idle?(pid: number): KPath<boolean>;
  /** Nothing is queued and the kthread stops: log the exit. The kthread returns after it (the next call starts a new one). */
  exit(pid: number): KPath<void>;
  /** One grace period for `batch`: log its start (the list grab), wait for it, log its end. */
  gracePeriod(batch: CallbackBatch, pid: number): KPath<void>;
  /** Invoke the batch's callbacks (`invokeCallbackBatch`) and whatever follows a batch. */
  invoke(batch: CallbackBatch): KPath<void>;
}

/**
 * A callback-batching grace-period kthread (rcu_tasks_kthread, SRCU's process_srcu with
 * srcu_invoke_callbacks): take every callback queued so far, run a grace period, invoke the
 * batch; again while callbacks keep coming; when none is queued, wait for one (`idle`) or exit.
 * The caller starts it from the step that queues a callback and finds no kthread, so a call
 * cannot slip between the kthread deciding to exit and its exit (`idle` must decide and the
 * exit must log in one step for the same reason).
 */
export function* gpKthread(round: GpKthreadRound): KPath<void> {
  const me = yield* current();
  for (;;) {
    const c = round.counters(yield* getState());
    if (c.nextCallbackId - 1 === c.takenThrough) {
      if (round.idle !== undefined && (yield* round.idle(me.pid))) continue;
      yield* round.exit(me.pid);
      return;
    }
    const batch: CallbackBatch = { gp: c.completed + 1, first: c.takenThrough + 1, last: c.nextCallbackId - 1 };
    yield* round.gracePeriod(batch, me.pid);
    yield* round.invoke(batch);
  }
}

/**
 * Invokes a batch's callbacks in queue order, each taken out of `closures` (the plugin's map,
 * which this writes: it deletes each id it takes). `run` invokes one and returns null, or why it
 * failed; a callback with no closure was queued by a step that was rolled back, and fails.
 * `report` logs each outcome (with the label, `?` for a missing closure). Returns how many ran.
 */
export function* invokeCallbackBatch<C extends QueuedCallback>(
  closures: Map<number, C> | undefined,
  batch: CallbackBatch,
  run: (cb: C) => KPath<string | null>,
  report: (id: number, label: string, failure: string | null) => KPath<void>,
): KPath<number> {
  let invoked = 0;
  for (let id = batch.first; id <= batch.last; id++) {
    const cb = closures?.get(id);
    closures?.delete(id);
    const failure = cb === undefined ? `callback ${id} has no closure (queued by a step that was rolled back)` : yield* run(cb);
    if (failure === null) invoked++;
    yield* report(id, cb?.label ?? '?', failure);
  }
  return invoked;
}
