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
});
