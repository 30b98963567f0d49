import { describe, expect, it } from 'vitest';
import { explore } from '@tracelab/explore';
import { catalog, scenario } from '@tracelab/scenarios';

/** The DFS's budget per unsafe variant in CI; dpor gets the same tree bound and a larger budget. */
const DFS_BUDGET = 300;
const DPOR_BUDGET = 3000;

const unsafe = [...catalog.values()].flatMap((s) => s.variants.filter((v) => !v.safe).map((v) => [s.name, v.name] as const));

describe.each(unsafe)('%s / %s', (name, variant) => {
  it(`dpor (bound 2) finds it at no more preemptions than the DFS, when the DFS finds it within ${DFS_BUDGET} schedules`, () => {
    const s = scenario(name);
    const d = explore(s, { variant, strategy: 'dfs', bound: 2, budget: DFS_BUDGET, shrink: false, selfCheckEvery: 0 });
    // The fork-flag walk races and others need more preemptions or schedules than this: left to the bench.
    if (!d.found) return;
    const p = explore(s, { variant, strategy: 'dpor', bound: 2, budget: DPOR_BUDGET, shrink: false, selfCheckEvery: 0 });
    expect(p.found).toBe(true);
    expect(p.failure!.original.preemptions).toBeLessThanOrEqual(d.failure!.original.preemptions);
  });
});
