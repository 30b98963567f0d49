import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * The tenth fixed variant verified in CI (issue 20: the unbounded search at the smallest scale),
 * detach-during-callback/fixed: 326,163 traces, about four minutes on one core.
 *
 * Until the twenty-second session its unbounded tree did not end (2,290,512 schedules in 58
 * minutes): the tracer polls utrace_barrier once a tick, time was the step count, and the search
 * could take the tracer's CPU for look after look while the traced task's CPU, busy, took
 * nothing, so every number of looks before each of the task's steps was a trace. The barrier
 * now waits with `pollSleep`, and the scenario's kernel sets aside the looks nothing in it could
 * tell from none (`pollLoops: 'on-change'`; docs/core.md, "Poll loops"; docs/explore.md §4a,
 * eighteenth pass). No run is cut at the cap now, and none is stopped as unfair: the verdict is
 * the full one.
 */
describe('dpor without a bound: detach-during-callback', () => {
  it('fixed: verified at scale 1 (one open), every trace explored up to swapping the CPUs, no run cut', () => {
    expectVerifiedUnbounded('detach-during-callback', 300_000);
  }, 1_200_000);
});
