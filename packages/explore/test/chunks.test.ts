import { describe, expect, it } from 'vitest';
import { explore, foldChunks, planChunks, runPlannedChunk, type ChunkResult } from '@tracelab/explore';
import { lostUpdate } from './fixtures.js';

/** Chunks 0..upTo in a scrambled order, some twice (as a queue that re-ran a chunk delivers them). */
function scrambled(results: ChunkResult[]): ChunkResult[] {
  const out = results.filter((_, i) => i % 2 === 1).concat(results.filter((_, i) => i % 2 === 0).reverse());
  return [...out, ...results.filter((_, i) => i % 3 === 0)];
}

describe('chunk plans: running chunks elsewhere and folding them', () => {
  it('folds to the result explore gives in one thread, for any chunk size, in any order, with repeats and with chunks run past the failure', () => {
    // Seed 30 of the portfolio fails at schedule 7, so small chunks put it past chunk 0.
    const cases = [
      { variant: 'racy', seed: 30, budget: 400 },
      { variant: 'fixed', seed: 1, budget: 90 },
    ];
    for (const c of cases) {
      const one = explore(lostUpdate, c);
      if (c.variant === 'racy') {
        expect(one.found).toBe(true);
        expect(one.schedules).toBeGreaterThan(5);
      }
      for (const chunkSize of [1, 3, 16, 64]) {
        const plan = planChunks(lostUpdate, { ...c, chunkSize });
        expect(plan.chunks).toBe(Math.ceil(c.budget / chunkSize));
        const first = one.found ? Math.floor(one.failure!.index / chunkSize) : plan.chunks - 1;
        // What parallel workers deliver: every chunk up to the failing one, and two past it.
        const results: ChunkResult[] = [];
        for (let k = 0; k <= Math.min(plan.chunks - 1, first + 2); k++) results.push(runPlannedChunk(lostUpdate, plan, k));
        const folded = foldChunks(lostUpdate, plan, scrambled(results));
        expect(folded, `chunk size ${chunkSize}`).toEqual(one);
      }
    }
  });

  it('needs every chunk below the first failure: a missing one is INVALID_OPTION naming it; chunks past the failure are not needed', () => {
    const plan = planChunks(lostUpdate, { variant: 'racy', seed: 7, budget: 400, chunkSize: 1 });
    const one = explore(lostUpdate, { variant: 'racy', seed: 7, budget: 400 });
    const f = one.failure!.index;
    const results = Array.from({ length: f + 1 }, (_, k) => runPlannedChunk(lostUpdate, plan, k));
    expect(foldChunks(lostUpdate, plan, results).schedules).toBe(f + 1);
    const without = results.filter((r) => r.start !== 1);
    expect(() => foldChunks(lostUpdate, plan, without)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/chunk 1 \(schedules 1\.\.1\) has no result/) }),
    );
    const fixed = planChunks(lostUpdate, { variant: 'fixed', budget: 32, chunkSize: 16 });
    expect(() => foldChunks(lostUpdate, fixed, [runPlannedChunk(lostUpdate, fixed, 0)])).toThrow(
      /chunk 1 \(schedules 16\.\.31\) has no result, and no earlier chunk failed/,
    );
  });

  it("refuses dfs (its tree is searched in order), a chunk outside the plan, and another scenario's plan", () => {
    expect(() => planChunks(lostUpdate, { strategy: 'dfs' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/dfs .* cannot be cut into chunks/) }),
    );
    const plan = planChunks(lostUpdate, { variant: 'fixed', budget: 10, chunkSize: 4 });
    expect(plan.chunks).toBe(3);
    expect(runPlannedChunk(lostUpdate, plan, 2).schedules).toBe(2);
    expect(() => runPlannedChunk(lostUpdate, plan, 3)).toThrow(/chunk 3 is outside the plan's 0\.\.2/);
    expect(() => runPlannedChunk(lostUpdate, { ...plan, scenario: 'other' }, 0)).toThrow(/the plan is for scenario other/);
  });
});
