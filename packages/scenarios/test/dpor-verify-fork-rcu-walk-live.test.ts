import { describe, it } from 'vitest';
import { expectVerifiedUnbounded } from './reach.js';

/**
 * The ninth fixed variant verified in CI (issue 20: the unbounded search at the smallest scale),
 * fork-flag-race's `rcu-walk-live`: 265,652 traces, about a minute and a half on one core (95 s
 * in the test on 2026-12-07), 266 MB (docs/benchmarks.md, "Checks kept apart by owner"). A file
 * of its own, so the runner overlaps it with the other long searches.
 */
describe('dpor without a bound: fork-flag-race/rcu-walk-live', () => {
  it('rcu-walk-live: verified at scale 1 (one child), every trace explored up to swapping the CPUs, no violation', () => {
    expectVerifiedUnbounded('fork-flag-race', 250_000, 'rcu-walk-live');
  }, 1_200_000);
});
