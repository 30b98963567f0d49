import { describe, it } from 'vitest';
import { expectVerified } from './reach.js';

/**
 * detach-during-callback/fixed, verified within five preemptions (137,358 traces in 171,082
 * schedules, about two minutes on one core). Its unbounded tree was called verified from the
 * thirteenth pass to the fifteenth (217,356 traces), but 1,837 of its runs were cut at maxSteps
 * with the traced task's CPU starved behind the tracer's utrace_barrier polling, and those runs'
 * fair continuations were never searched. DPOR searches them now, and the unbounded tree no
 * longer completes in a test's time (docs/explore.md §4a, sixteenth pass). Bound 5 is the
 * largest that does: schedules grow about sixfold a bound (4,872, 31,240, 171,082 at bounds 3 to 5).
 */
describe('dpor within five preemptions: detach-during-callback', () => {
  it('fixed: verified at scale 1 (one open) within 5 preemptions, up to swapping the CPUs, no violation, no run cut', () => {
    expectVerified('detach-during-callback', 130_000, 'fixed', 5);
  }, 1_200_000);
});
