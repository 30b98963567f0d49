import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * The seventh fixed variant verified in CI (issue 20: the unbounded search at the smallest
 * scale), in a file of its own so the runner puts it beside the others: about one and a half
 * minutes on one core, 221,100 traces. It completes only because ktrace's flag check declares
 * its reads (`tflags:*`, its slice, the tasklist lock; 998,570 traces in ten minutes when its
 * recorded whole-table read was observed): docs/explore.md §4a, twelfth and thirteenth passes.
 */
describe('dpor without a bound: fork-flag-race', () => {
  it('fixed: verified at scale 1 (one child), every trace explored up to swapping the CPUs, no violation', () => {
    expectVerifiedUnbounded('fork-flag-race', 100_000);
  }, 1_200_000);
});
