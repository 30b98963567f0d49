import { describe, expect, it } from 'vitest';
import { TracelabError } from '@tracelab/core';
import { drawWorkload, MECHANISM_NAMES, OP_KINDS, PIPE_LEN, replayTorture, runSeed, torture, UNSAFE_OPTIONS, type MechanismName } from '@tracelab/torture';

/**
 * CI's torture run: 300 seeds per mechanism in the safe configuration, every invariant and
 * liveness monitor on. The seeds and schedules are fixed, so a violation here is a bug that
 * replays from the printed string.
 */
const CI_SEEDS = 300;

describe('safe configurations', () => {
  it.each(MECHANISM_NAMES)('%s: no violation over 300 seeds, readers that outlived a removal counted, grace periods and churn done', (mechanism) => {
    const r = torture({ mechanism, seeds: CI_SEEDS, shrinkFailures: 1 });
    const m = r.mechanisms[0]!;
    const detail = m.violations.map((v) => `seed ${v.seed}: ${v.invariant}: ${v.message}\n  ${v.shrunk?.replay ?? v.replay}`).join('\n');
    expect(detail).toBe('');
    expect(r.ok).toBe(true);
    expect(m.seeds).toBe(CI_SEEDS);
    // Every seed ran to its end: a run cut at the step limit checks less than it claims.
    expect(m.cut).toBe(0);
    // The swarm covered every machine size and turned each kind off on some seeds.
    expect(m.swarm.cpus.every((n) => n > 0)).toBe(true);
    for (const k of OP_KINDS) expect(m.swarm.kinds[k]).toBeLessThan(CI_SEEDS);
    // The churn happened: something was registered, toggled or replaced on most seeds.
    expect(Object.values(m.ops).reduce((a, b) => a + b, 0)).toBeGreaterThan(CI_SEEDS);
    if (mechanism !== 'locks' && mechanism !== 'utrace') {
      // Grace periods ended, and readers reached objects: some of them after the object was
      // removed (slot 1), which is what makes the empty slots 2.. mean something.
      expect(Object.values(m.gracePeriods).reduce((a, b) => a + b, 0)).toBeGreaterThan(CI_SEEDS);
      expect(m.readerPipe[0]).toBeGreaterThan(0);
      if (mechanism !== 'ring-buffer' && mechanism !== 'ktrace') expect(m.readerPipe[1]).toBeGreaterThan(0);
    }
    expect(m.readerPipe.slice(2).every((n) => n === 0)).toBe(true);
  });
});

/** Seeds an unsafe option may take before it is caught: the target. */
const CATCH_WITHIN = 2000;

describe('unsafe options: a torture test that cannot catch a broken implementation proves nothing', () => {
  it.each(UNSAFE_OPTIONS.map((u) => [u.name, u] as const))('%s is caught, by an invariant it is expected to break', (_name, u) => {
    const r = torture({ unsafe: u.name, seeds: CATCH_WITHIN, shrinkRuns: 100 });
    const m = r.mechanisms[0]!;
    expect(r.ok).toBe(true);
    expect(m.mechanism).toBe(u.mechanism);
    expect(m.caughtAt).not.toBeNull();
    const v = m.violations[0]!;
    expect(u.expect).toContain(v.invariant);
    // The seeds counted are those up to the catch, and it replays: the string reproduces the same violation.
    expect(m.seeds).toBe(m.caughtAt! - m.firstSeed + 1);
    expect(replayTorture(v.replay).violation?.name).toBe(v.invariant);
    expect(replayTorture(v.shrunk!.replay).violation?.name).toBe(v.shrunk!.invariant);
  });
});

describe('the Reader Pipe', () => {
  it("counts a reader that reaches a freed object, and the busted writer's runs are caught by torture's own check", () => {
    const r = runSeed('rcu-sched', 1, 'busted-rcu-sched-writer');
    expect(r.failure?.invariant).toBe('torture/checks');
    expect(r.failure?.message).toMatch(/after it was freed/);
    expect(r.pipe.length).toBe(PIPE_LEN + 1);
  });

  it('is a function of the seed: the same seed gives the same counts and steps', () => {
    expect(runSeed('rcu-tasks', 5, 'safe')).toEqual(runSeed('rcu-tasks', 5, 'safe'));
  });
});

describe('swarm workloads', () => {
  it('draw 1 to 8 CPUs and switch operation kinds off per seed; a seed with fork off never forks', () => {
    const cpus = new Set<number>();
    let noFork = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const w = drawWorkload(seed);
      cpus.add(w.cpus);
      expect(w.kinds.length).toBeGreaterThan(0);
      if (!w.kinds.includes('fork')) noFork = seed;
    }
    expect([...cpus].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(noFork).toBeGreaterThan(0);
    const run = replayTorture(`locks#${noFork}:safe:S1:`);
    const userForks = run.kernel.log.filter((e) => e.type === 'fork/dup');
    expect(userForks).toEqual([]);
  });
});

describe('bad input', () => {
  it('an unknown unsafe option is UNKNOWN_UNSAFE_OPTION listing every known one', () => {
    let err: unknown;
    try {
      torture({ unsafe: 'free-immediatly' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect((err as TracelabError).code).toBe('UNKNOWN_UNSAFE_OPTION');
    for (const u of UNSAFE_OPTIONS) expect((err as TracelabError).message).toContain(u.name);
  });

  it('an unknown mechanism, an option of another mechanism, and bad counts are INVALID_OPTION', () => {
    expect(() => torture({ mechanism: 'kprobes' as MechanismName })).toThrow(/unknown mechanism "kprobes"; mechanisms: markers/);
    expect(() => torture({ mechanism: 'markers', unsafe: 'no-barrier' })).toThrow(/no-barrier belongs to utrace, not markers/);
    expect(() => torture({ seeds: 0 })).toThrow(/seeds must be an integer/);
    expect(() => replayTorture('markers#x:safe:S1:')).toThrow(/is not <mechanism>#<seed>/);
  });
});
