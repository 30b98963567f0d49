import { current, fn, type KPath } from '@tracelab/core';
import { TICK_FUNCTION } from './internal/constants.js';

/**
 * The timer tick's traced function, after kernel/time/timer.c (with `traceTick`): the tick's
 * handler calls update_process_times, an mcount site in hard-interrupt context.
 */

/**
 * The `irq` tap: on the timer interrupt, call the traced update_process_times. Its mcount site
 * runs in hard-interrupt context, inside whatever the CPU was doing (a callback included).
 */
export function* updateProcessTimesHook({ name }: { readonly name: string }): KPath<void> {
  if (name === 'timer') yield* fn(TICK_FUNCTION, updateProcessTimes());
}

/** The body of update_process_times: nothing of its own here. */
export function* updateProcessTimes(): KPath<void> {
  yield* current();
}
