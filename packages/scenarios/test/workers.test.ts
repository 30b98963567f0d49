import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { explore } from '@tracelab/explore';
import { scenario } from '@tracelab/scenarios';

// Worker threads load the built packages (they cannot load TypeScript): build them first, so
// the workers run the same code as this test (tsc -b is incremental: fast when up to date).
beforeAll(() => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/scenarios/tsconfig.lib.json'], { cwd: root, stdio: 'inherit' });
}, 120_000);

describe('parallel exploration', () => {
  it('caps the workers at the host CPUs and at the chunks in the budget, and says so', () => {
    const s = scenario('fork-flag-race');
    const many = explore(s, { variant: 'fixed', budget: 48, workers: 100, hostCpus: 2 });
    expect(many.workers).toBe(2);
    expect(many.workersCapped).toBe('100 workers asked, 2 started: 2 CPUs');
    const small = explore(s, { variant: 'fixed', budget: 20, workers: 8, hostCpus: 8 });
    expect(small.workers).toBe(2);
    expect(small.workersCapped).toBe('8 workers asked, 2 started: 2 chunks of 16 schedules in the budget');
    const one = explore(s, { variant: 'fixed', budget: 48 });
    expect({ found: many.found, schedules: many.schedules, steps: many.steps }).toEqual({ found: one.found, schedules: one.schedules, steps: one.steps });
  });

  it('finds the same failure (schedule number, invariant, shrunk replay string) with 1 and 2 workers', () => {
    const s = scenario('fork-flag-race');
    // Failures past the first chunks of 16 schedules: the workers race to them. (Since host-
    // started tasks run their own fork tail, PCT no longer reaches the rcu-walk race within
    // 1,000 schedules on seeds 1..12; no-recopy's is the PCT case.)
    for (const [variant, seed, strategy, budget] of [
      ['rcu-walk', 2, 'portfolio', 300],
      ['no-recopy', 7, 'pct', 1000],
    ] as const) {
      const one = explore(s, { variant, seed, budget, strategy });
      const two = explore(s, { variant, seed, budget, strategy, workers: 2, hostCpus: 2 });
      expect(one.schedules).toBeGreaterThan(16);
      expect(two.workers).toBe(2);
      expect(one.found).toBe(true);
      expect({ found: two.found, schedules: two.schedules, replay: two.failure?.replay, hash: two.failure?.logHash }).toEqual({
        found: one.found,
        schedules: one.schedules,
        replay: one.failure?.replay,
        hash: one.failure?.logHash,
      });
    }
  });

  it.each([
    ['detach-during-callback', 'no-barrier', 2],
    ['trampoline-free', 'rcu-sched', 2],
    // Seed 2: since the tracepoints moved onto @tracelab/tracepoints, seed 1 is found within the first chunk.
    ['commit-after-migration', 'local-only', 2],
  ] as const)('%s / %s: the same failure with 1 and 2 workers (seed %i, found past the first chunk)', (name, variant, seed) => {
    const s = scenario(name);
    const one = explore(s, { variant, seed, budget: 300 });
    const two = explore(s, { variant, seed, budget: 300, workers: 2, hostCpus: 2 });
    expect(one.found).toBe(true);
    expect(one.schedules).toBeGreaterThan(16);
    expect(two.workers).toBe(2);
    expect({ schedules: two.schedules, invariant: two.failure?.invariant, replay: two.failure?.replay, hash: two.failure?.logHash }).toEqual({
      schedules: one.schedules,
      invariant: one.failure?.invariant,
      replay: one.failure?.replay,
      hash: one.failure?.logHash,
    });
  });

  it('explores a fixed variant to the same (clean) end with 1 and 2 workers', () => {
    const s = scenario('marker-array-free');
    const one = explore(s, { variant: 'fixed', budget: 96 });
    const two = explore(s, { variant: 'fixed', budget: 96, workers: 2, hostCpus: 2 });
    expect(two).toMatchObject({ found: false, schedules: 96, workers: 2, steps: one.steps });
  });

  it.each([
    ['detach-during-callback', 'fixed', 2, 5000],
    // Symmetric CPUs: the mirror check re-runs each sampled run made in a worker here.
    ['marker-array-free', 'fixed', 1, 5000],
    ['fork-flag-race', 'no-recopy', 2, 5000],
  ] as const)(
    'bounded DPOR on %s / %s (bound %i): workers make its later runs, and the search is the one a single thread makes',
    (name, variant, bound, budget) => {
      const s = scenario(name);
      const options = { variant, strategy: 'dpor' as const, bound, budget, shrink: false, selfCheckEvery: 8 };
      const one = explore(s, options);
      const two = explore(s, { ...options, workers: 2, hostCpus: 2 });
      const same = (r: typeof one): unknown => ({
        found: r.found,
        schedules: r.schedules,
        steps: r.steps,
        complete: r.complete,
        dpor: r.dpor,
        selfCheck: r.selfCheck,
        unfair: r.unfair,
        failure: r.failure === null ? null : { index: r.failure.index, original: r.failure.original },
      });
      expect(same(two)).toEqual(same(one));
      expect(one.speculation).toBeNull();
      expect(two.workers).toBe(2);
      const spec = two.speculation!;
      // Every run of the search was taken from a worker or made here, and some were handed out.
      expect(spec.ready + spec.abandoned + spec.local).toBe(two.schedules);
      expect(spec.ready + spec.abandoned + spec.unused).toBeGreaterThan(0);
      expect(one.selfCheck.runs).toBeGreaterThan(0);
      if (variant === 'fixed') expect(one.complete).toBe(true);
      else expect(one.found).toBe(true);
    },
  );

  it('runs an unbounded DPOR search on one thread whatever the workers (sleep sets steer its runs)', () => {
    const s = scenario('utrace-exit-flags');
    const one = explore(s, { variant: 'fixed', strategy: 'dpor', budget: 400, shrink: false });
    const two = explore(s, { variant: 'fixed', strategy: 'dpor', budget: 400, shrink: false, workers: 2, hostCpus: 2 });
    expect(two.speculation).toBeNull();
    expect(two.workers).toBe(1);
    expect(two.dpor).toEqual(one.dpor);
  });
});
