import { describe, it } from 'vitest';
import { expectVerified } from './reach.js';

/**
 * detach-during-callback/fixed, searched within five preemptions (137,358 traces in 171,082
 * schedules, about two minutes on one core). Its unbounded tree was called verified from the
 * thirteenth pass to the fifteenth (217,356 traces), with 1,837 runs cut at maxSteps: the traced
 * task's CPU starved behind the tracer's utrace_barrier polling, and no continuation of those runs
 * searched. DPOR now searches the ones that take the task within the fairness window, and the
 * unbounded tree no longer completes in a test's time (docs/explore.md §4a, sixteenth pass).
 * Bound 5 is the largest that does: schedules grow about sixfold a bound (4,872, 31,240, 171,082
 * at bounds 3 to 5). Its cut runs (3,703, 2.7% of the traces) are those starved runs, whose
 * continuations past the window are not searched: the verdict covers them so far, and the share
 * is bounded so that a change which cuts many more shows.
 */
describe('dpor within five preemptions: detach-during-callback', () => {
  it('fixed: clean at scale 1 (one open) within 5 preemptions, up to swapping the CPUs, every trace run; its cut runs covered up to the cap', () => {
    expectVerified('detach-during-callback', 130_000, 'fixed', 5, 0.04);
  }, 1_200_000);
});
