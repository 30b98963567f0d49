import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * marker-array-free/fixed verified in CI (issue 20: the unbounded search at the smallest scale):
 * one marker call against the writer's two rounds (scale knob `marks`, since the twentieth
 * session; docs/scenarios.md), 63,605 traces, about 40 s on one core. With the old knob (the
 * writer's rounds; six marks) the smallest scale's tree had more than 3.6 million traces
 * (docs/explore.md §4a, fifteenth and sixteenth passes).
 */
describe('dpor without a bound: marker-array-free', () => {
  it('fixed: verified at scale 1 (one marker call), every trace explored up to swapping the CPUs, no violation', () => {
    expectVerifiedUnbounded('marker-array-free', 60_000);
  }, 1_200_000);
});
