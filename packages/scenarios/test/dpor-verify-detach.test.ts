import { describe, expect, it } from 'vitest';
import { explore } from '@tracelab/explore';
import { scenario } from '@tracelab/scenarios';

/**
 * The sixth fixed variant verified in CI (issue 20: the unbounded search at the smallest scale),
 * in a file of its own so the runner puts it beside the others rather than after them: about
 * two minutes on one core of the CI machine, 217,356 traces (docs/explore.md §4a, "Thirteenth
 * pass"). The five smaller ones are in dpor.test.ts.
 */
describe('dpor without a bound: detach-during-callback', () => {
  it('fixed: verified at scale 1 (one open), every trace explored up to swapping the CPUs, no violation', () => {
    const s = scenario('detach-during-callback');
    const r = explore(s, {
      variant: 'fixed',
      strategy: 'dpor',
      scale: s.scale!.min,
      budget: 600_000,
      shrink: false,
      selfCheckEvery: 0,
    });
    expect(r.found).toBe(false);
    expect(r.complete).toBe(true);
    expect(r.dpor!.bound).toBeNull();
    expect(r.dpor!.symmetric).toBe(true);
    // The claim is completion; the count is the bench's business (217,356 today: 281,549 before
    // utrace's checks declared their task reads).
    expect(r.dpor!.traces).toBeGreaterThan(100_000);
    expect(r.dpor!.mirrorChecks).toBeGreaterThan(0);
  }, 1_200_000);
});
