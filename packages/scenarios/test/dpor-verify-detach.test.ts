import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * The sixth fixed variant verified in CI (issue 20: the unbounded search at the smallest scale),
 * in a file of its own so the runner puts it beside the others rather than after them: about
 * two minutes on one core of the CI machine, 217,356 traces (281,549 before utrace's checks
 * declared their task reads; docs/explore.md §4a, "Thirteenth pass"). The five smaller ones are
 * in dpor.test.ts.
 */
describe('dpor without a bound: detach-during-callback', () => {
  it('fixed: verified at scale 1 (one open), every trace explored up to swapping the CPUs, no violation', () => {
    expectVerifiedUnbounded('detach-during-callback', 100_000);
  }, 1_200_000);
});
