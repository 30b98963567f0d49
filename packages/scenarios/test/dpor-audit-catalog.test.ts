/**
 * DPOR's reduction audited on every variant of the catalog at its smallest scale, bound 1:
 * DPOR and the DFS that tries every alternative reach the same final states and violations
 * (`auditReduction`, docs/explore.md §4a, "Auditing the reduction"). A footprint that a change to
 * a plugin or the core leaves short shows here as a missed state or violation, named with a replay
 * string. Bound 2 takes minutes a variant on some of them: `npm run audit:catalog -- --bound 2`.
 */
import { describe, expect, it } from 'vitest';
import { auditReduction } from '@tracelab/explore';
import { catalog } from '../src/index.js';

describe('every catalog variant at its smallest scale, bound 1: DPOR reaches what the unreduced DFS reaches', () => {
  for (const s of catalog.values())
    for (const v of s.variants)
      it(`${s.name}/${v.name}`, () => {
        const a = auditReduction(s, { variant: v.name, bound: 1, ...(s.scale !== undefined ? { scale: s.scale.min } : {}) });
        expect(a.missed).toEqual([]);
        expect(a.extra).toEqual([]);
        expect(a.agrees).toBe(true);
        // DPOR runs no more schedules than the search it reduces.
        expect(a.dpor.schedules).toBeLessThanOrEqual(a.dfs.schedules);
      }, 120_000);
});
