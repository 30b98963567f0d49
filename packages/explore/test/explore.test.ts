import { describe, expect, it } from 'vitest';
import { decodeSchedule, TracelabError } from '@tracelab/core';
import {
  candidateOf,
  isFailure,
  decodeReplay,
  defineScenario,
  encodeReplay,
  explore,
  indexedPicker,
  KernelPool,
  planChunks,
  runPlannedChunk,
  foldChunks,
  replayString,
  formatTrace,
  lenientReplay,
  replay,
  runSchedule,
  shrink,
  type Scenario,
} from '@tracelab/explore';
import { gpHog, lostUpdate } from './fixtures.js';

describe('explore finds the lost update and not its fix', () => {
  it.each(['portfolio', 'random', 'pct', 'dfs'] as const)(
    '%s finds the unsafe variant over seeds 1..10, and the failure replays to the same log',
    (strategy) => {
      for (let seed = 1; seed <= 10; seed++) {
        const r = explore(lostUpdate, { variant: 'racy', strategy, seed, budget: 2000 });
        expect(r.found, `${strategy} seed ${seed}`).toBe(true);
        const f = r.failure!;
        expect(f.invariant).toBe('counter/no-lost-update');
        expect(f.replay.length).toBeLessThan(100);
        // The replay string alone re-runs the shrunk schedule: same violation, same log.
        const again = replay(lostUpdate, f.replay);
        expect(again.violation?.name).toBe(f.invariant);
        expect(again.logHash).toBe(f.logHash);
        expect(again.kernel.log.length).toBe(f.log.length);
        // The original (unshrunk) schedule replays the failure too.
        expect(replay(lostUpdate, f.original.replay).violation?.name).toBe(f.invariant);
      }
    },
  );

  it('the fixed variant is clean: 600 portfolio schedules, and the complete DFS with preemption bound 2', () => {
    const p = explore(lostUpdate, { variant: 'fixed', budget: 600 });
    expect(p).toMatchObject({ found: false, schedules: 600 });
    expect(p.selfCheck.runs).toBeGreaterThan(5);
    const d = explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 2, budget: 100_000 });
    expect(d.found).toBe(false);
    expect(d.complete).toBe(true);
    expect(d.dfs!.perBound.length).toBe(3);
    expect(d.schedules).toBeGreaterThan(50);
  });

  it("refuses a scale out of the knob's range, and any scale for a scenario without a knob (it would change nothing)", () => {
    expect(() => explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 0, scale: 1 })).toThrow(
      /scale \(workers\) must be an integer from 2 to \d+ for scenario lost-update, got 1/,
    );
    expect(gpHog.scale).toBeUndefined();
    let err: unknown;
    try {
      explore(gpHog, { budget: 1, scale: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect(err).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/scenario gp-hog has no scale knob; leave scale out \(got 1\)/) });
    expect(explore(gpHog, { budget: 1 }).schedules).toBe(1);
  });

  it('reduction: an unknown one, or one for a strategy other than dfs, is INVALID_OPTION naming it', () => {
    const codeOf = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return null;
    };
    const unknown = codeOf(() => explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 0, reduction: 'visible' as never }));
    expect(unknown).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/unknown reduction "visible"; reductions: none, visible-steps/) });
    for (const strategy of ['dpor', 'random'] as const) {
      const wrong = codeOf(() => explore(lostUpdate, { variant: 'fixed', strategy, budget: 1, reduction: 'none' }));
      expect(wrong).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining(`reduction applies to dfs, not ${strategy}`) });
    }
    // A chunk plan (what other machines run) refuses them too, rather than drop them.
    expect(codeOf(() => planChunks(lostUpdate, { variant: 'fixed', reduction: 'none' }))).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('reduction applies to dfs, not portfolio'),
    });
    expect(codeOf(() => planChunks(lostUpdate, { variant: 'fixed', strategy: 'random', timeLimitMs: 1000 }))).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('timeLimitMs applies to dfs and dpor, not random'),
    });
    // The default is stated in the result and skips nothing; the reduction, on the same tree,
    // skips alternatives and runs fewer schedules.
    const plain = explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 1, budget: 100_000 });
    expect(plain.dfs).toMatchObject({ reduction: 'none', reduced: 0 });
    const reduced = explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 1, budget: 100_000, reduction: 'visible-steps' });
    expect(reduced.dfs!.reduction).toBe('visible-steps');
    expect(reduced.dfs!.reduced).toBeGreaterThan(0);
    expect(reduced.schedules).toBeLessThan(plain.schedules);
    expect(reduced.complete && plain.complete).toBe(true);
  });

  it('DFS needs one preemption for the lost update: the bound-0 tree is clean, bound 1 finds it', () => {
    const zero = explore(lostUpdate, { variant: 'racy', strategy: 'dfs', bound: 0, budget: 100_000 });
    expect(zero).toMatchObject({ found: false, complete: true });
    const one = explore(lostUpdate, { variant: 'racy', strategy: 'dfs', bound: 1, budget: 100_000 });
    expect(one.found).toBe(true);
    expect(one.failure!.preemptions).toBeLessThanOrEqual(1);
  });
});

describe('shrinking', () => {
  it('reaches a fixed point: shrinking the shrunk schedule again changes nothing; fewer workers and preemptions than found', () => {
    const r = explore(lostUpdate, { variant: 'racy', strategy: 'random', seed: 3, budget: 2000 });
    const f = r.failure!;
    expect(f.shrink.fixedPoint).toBe(true);
    expect(f.scale).toBe(2); // the scale knob went down from 3 workers to the minimum
    expect(f.preemptions).toBeLessThanOrEqual(f.original.preemptions);
    const t = decodeReplay(lostUpdate, f.replay);
    const start = candidateOf(
      t.scale,
      runSchedule(lostUpdate, t.variant, t.scale, lenientReplay(decodeSchedule(t.schedule, { context: `lost-update/${t.variant}@${t.scale}` }))),
    );
    const again = shrink(lostUpdate, t.variant, start, f.invariant);
    expect(again.fixedPoint).toBe(true);
    expect(replayString(lostUpdate, t.variant, again.best.scale, again.best.values, again.best.outcome.steps)).toBe(f.replay);
    expect(again.best.values).toEqual(decodeSchedule(t.schedule, { context: `lost-update/${t.variant}@${t.scale}` }));
    expect(again.best.outcome.kernel.logHash()).toBe(f.logHash);
  });
});

describe('replay strings', () => {
  const failing = () => explore(lostUpdate, { variant: 'racy', strategy: 'random', seed: 3, budget: 2000 }).failure!;

  it('encode the variant, a non-default scale, the counts and a checksum over scenario, variant and scale', () => {
    const f = failing();
    expect(f.replay).toMatch(/^racy@2:S2:\d+\.\d+:[0-9a-z(){}]*:[0-9a-z]{7}$/);
    const t = decodeReplay(lostUpdate, f.replay);
    expect(t).toMatchObject({ variant: 'racy', scale: 2, schedule: f.schedule, info: { steps: f.steps } });
    expect(encodeReplay(lostUpdate, t)).toBe(f.replay);
    expect(replayString(lostUpdate, 'racy', 3, [0, 1], 7)).toMatch(/^racy:S2:2\.7:01:/);
    expect(() => decodeReplay(lostUpdate, 'S2:2.7:01:0000000')).toThrow(/not <variant>/);
    expect(() => decodeReplay(lostUpdate, 'nope:S2:2.7:01:0000000')).toThrow(/no variant "nope"; variants: fixed, racy/);
    expect(() => decodeReplay(lostUpdate, 'racy@1:S2:2.7:01:0000000')).toThrow(/scale 1 is outside/);
    expect(() => decodeReplay(lostUpdate, 'racy@1000000000000000:S2:2.7:01:0000000')).toThrow(/scale 1000000000000000 is outside/);
    expect(() => decodeReplay(lostUpdate, 'racy:S2:2.7:0(:0000000')).toThrow(TracelabError);
  });

  it('refuses a counterexample with any one character cut, instead of replaying another schedule', () => {
    const f = failing();
    for (let i = 0; i < f.replay.length; i++) {
      const cut = f.replay.slice(0, i) + f.replay.slice(i + 1);
      expect(() => replay(lostUpdate, cut), cut).toThrow(TracelabError);
    }
  });

  it('refuses the same schedule under another scale or variant (the checksum covers them)', () => {
    const f = failing();
    const body = f.replay.slice(f.replay.indexOf(':') + 1);
    expect(() => replay(lostUpdate, `racy@3:${body}`)).toThrow(
      expect.objectContaining({ code: 'SCHEDULE_INVALID', message: expect.stringMatching(/checksum/) }),
    );
    expect(() => replay(lostUpdate, `fixed@2:${body}`)).toThrow(/checksum/);
  });

  it('a huge repeat count is refused at once, naming the character in the whole string', () => {
    const e = (() => {
      try {
        decodeReplay(lostUpdate, 'racy@2:S2:4.11:0{10000000000}:0000000');
      } catch (err) {
        return err as TracelabError;
      }
      return null;
    })();
    expect(e).toMatchObject({ code: 'SCHEDULE_INVALID', detail: { position: 16 } });
    expect(e!.message).toMatch(/repeat count 10000000000 .* at character 16$/);
  });

  it('an old S1 string gets SCHEDULE_VERSION saying to re-run, not another schedule', () => {
    expect(() => replay(lostUpdate, 'racy@2:S1:1011')).toThrow(expect.objectContaining({ code: 'SCHEDULE_VERSION' }));
  });

  it('a string whose step count disagrees with the re-run is a divergence, not a clean replay', () => {
    const f = failing();
    const t = decodeReplay(lostUpdate, f.replay);
    const values = t.info.runs.flatMap(([v, n]) => Array<number>(n).fill(v));
    const wrong = replayString(lostUpdate, 'racy', t.scale, values, f.steps + 5);
    expect(() => replay(lostUpdate, wrong)).toThrow(
      expect.objectContaining({
        code: 'SCHEDULE_DIVERGED',
        message: expect.stringMatching(new RegExp(`records a run of ${f.steps + 5} steps.*after ${f.steps}`)),
      }),
    );
  });
});

describe('liveness: a grace period that never ends', () => {
  it('is reported for a hog inside an RCU-sched read section', () => {
    const r = explore(gpHog, { variant: 'stuck-reader', budget: 200 });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe('explore/grace-period-ends');
    expect(r.failure!.message).toMatch(/grace period 1 .* has not ended.*every runnable task ran/);
  });

  it('raises no false alarm when the grace period waits for a preemptible hog, under fair and unfair schedules', () => {
    // An unfair schedule: the hog's CPU is never stepped (the other CPU always is), nobody is
    // preempted. The grace period is held up far past the monitor's bound (100 steps); the core's
    // runqueue-only fairness alarms once the runqueue empties, and explore drops that alarm as
    // unfair (the hog, on its CPU, never had a step in the window).
    const starve = runSchedule(gpHog, 'fixed', 0, {
      pick: (p) =>
        p.kind === 'cpu'
          ? Math.max(
              0,
              p.pids.findIndex((pid) => pid !== 1),
            )
          : 0,
    });
    const start = starve.kernel.log.find((e) => e.type === 'rcu/gp-start')!;
    expect(starve.kernel.log.some((e) => e.type === 'rcu/gp-end')).toBe(false);
    expect(starve.kernel.state.clock.now - start.time).toBeGreaterThan(100);
    expect(starve.violation?.name).toBe('explore/grace-period-ends');
    expect(isFailure(starve)).toBe(false);
    // The same kernel under the strategies: no failure.
    const p = explore(gpHog, { variant: 'fixed', budget: 150 });
    expect(p.found).toBe(false);
    const d = explore(gpHog, { variant: 'fixed', strategy: 'dfs', bound: 1, budget: 300 });
    expect(d.found).toBe(false);
  });
});

describe('determinism self-check', () => {
  it('refuses a scenario whose setup is not a function of its variant', () => {
    let calls = 0;
    const flaky: Scenario = defineScenario({
      ...lostUpdate,
      name: 'flaky',
      setup(kernel, ctx) {
        calls++;
        lostUpdate.setup(kernel, { ...ctx, scale: 2 + (calls % 2) });
      },
    });
    expect(() => explore(flaky, { variant: 'fixed', budget: 64 })).toThrow(/not deterministic/);
  });
});

describe('formatTrace', () => {
  it('prints the counterexample one column per CPU with the running task', () => {
    const f = explore(lostUpdate, { variant: 'racy', budget: 500 }).failure!;
    const text = formatTrace(f.log, 2);
    expect(text.split('\n')[0]).toMatch(/cpu0.*\| cpu1/);
    expect(text).toMatch(/\[\d+ inc\d\] counter\/store pid=\d value=1/);
  });
});

describe('the kernel pool (one kernel per worker, reset between schedules)', () => {
  it('runs each schedule exactly as a fresh kernel does, on the same kernel object', () => {
    const pool = new KernelPool();
    let found = 0;
    let reused: unknown = null;
    for (const variant of ['fixed', 'racy']) {
      for (let i = 0; i < 60; i++) {
        const fresh = runSchedule(lostUpdate, variant, 3, indexedPicker('random', 7, i, 10).picker);
        const hash = fresh.kernel.logHash();
        const pooled = runSchedule(lostUpdate, variant, 3, indexedPicker('random', 7, i, 10).picker, pool);
        expect(pooled.kernel.logHash()).toBe(hash);
        expect(pooled.choices).toEqual(fresh.choices);
        expect(pooled.violation?.name ?? null).toBe(fresh.violation?.name ?? null);
        if (pooled.violation !== null) found++;
        if (i > 0) expect(pooled.kernel).toBe(reused);
        reused = pooled.kernel;
      }
    }
    // The racy variant fails on some of these schedules: the reset kernel reports them too.
    expect(found).toBeGreaterThan(0);
  });
});

describe('runs cut at maxSteps are counted (ExploreResult.cut)', () => {
  // The same scenario with a cap below any run's length: every run is cut, none fails.
  const capped = defineScenario({ ...lostUpdate, name: 'lost-update-capped', maxSteps: 5 });

  it('a tree search counts every run its cap cut, and none when the cap is the scenario’s own', () => {
    for (const strategy of ['dpor', 'dfs'] as const) {
      const cut = explore(capped, { variant: 'fixed', strategy, bound: 1, budget: 500, shrink: false });
      expect(cut.found, strategy).toBe(false);
      expect(cut.schedules, strategy).toBeGreaterThan(0);
      expect(cut.cut, strategy).toBe(cut.schedules);
      const whole = explore(lostUpdate, { variant: 'fixed', strategy, bound: 1, budget: 500, shrink: false });
      expect(whole.complete, strategy).toBe(true);
      expect(whole.cut, strategy).toBe(0);
    }
  });

  it('a seeded search counts them through its chunks, and a chunk result written before the count (no `cut`) folds as 0', () => {
    const r = explore(capped, { variant: 'fixed', strategy: 'portfolio', budget: 40, seed: 3 });
    expect(r.found).toBe(false);
    expect(r.cut).toBe(40);
    expect(explore(lostUpdate, { variant: 'fixed', strategy: 'portfolio', budget: 40, seed: 3 }).cut).toBe(0);
    const plan = planChunks(capped, { variant: 'fixed', strategy: 'random', budget: 20, seed: 3, chunkSize: 10 });
    const chunks = [0, 1].map((c) => runPlannedChunk(capped, plan, c));
    expect(chunks.map((c) => c.cut)).toEqual([10, 10]);
    expect(foldChunks(capped, plan, chunks).cut).toBe(20);
    const older = chunks.map(({ cut: _cut, ...rest }) => rest);
    expect(foldChunks(capped, plan, older).cut).toBe(0);
  });
});
