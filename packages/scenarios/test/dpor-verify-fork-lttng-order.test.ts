import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * The eighth fixed variant verified in CI (issue 20: the unbounded search at the smallest
 * scale), fork-flag-race's `lttng-order`: 317,372 traces, about two minutes on one core (120 s
 * in the test on 2026-12-07), 400 MB (docs/benchmarks.md, "Checks kept apart by owner"). A file
 * of its own, so the runner overlaps it with the other long searches.
 */
describe('dpor without a bound: fork-flag-race/lttng-order', () => {
  it('lttng-order: verified at scale 1 (one child), every trace explored up to swapping the CPUs, no violation', () => {
    expectVerifiedUnbounded('fork-flag-race', 300_000, 'lttng-order');
  }, 1_200_000);
});
