/**
 * `auditReduction`: DPOR against the unreduced DFS on a stack of the user's own. The stash-read
 * fixture's `silent` variants break the soundness argument's proviso (a plugin writes what it
 * keeps outside the state in a step that logs none of its events), so DPOR misses an order there,
 * and the audit must name what it missed with a schedule that reaches it.
 */
import { describe, expect, it } from 'vitest';
import { TracelabError, current, emit, mutexLock, mutexUnlock, schedPoint, definePlugin, type KPath } from '@tracelab/core';
import { auditReduction, defineScenario, finalStateDigest, replay, type RunOutcome } from '@tracelab/explore';
import { checkOrder, lostUpdate, stashRead } from './fixtures.js';

declare module '@tracelab/core' {
  interface EventMap {
    'drift/value': { value: number };
    'first/ran': { on: number };
  }
  interface PluginStates {
    drift: { value: number };
    first: { cpu: number };
  }
}

/**
 * One kernel thread on two interchangeable CPUs records the CPU it ran on. The two final states
 * are mirror images, each reached only by the mirror image of the other's schedule: DPOR with
 * the symmetry rule runs one of them.
 */
const firstCpu = defineScenario({
  name: 'first-cpu',
  description: 'the CPU that ran first, recorded',
  source: 'test fixture',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 40,
  variants: [{ name: 'fixed', description: 'the only one', safe: true }],
  plugins: () => [
    definePlugin<Record<string, never>, { cpu: number }>({
      name: 'first',
      version: '0.1.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.onReset();
        ctx.initSlice({ cpu: -1 });
        ctx.on('first/ran', (s, e) => {
          if (s.cpu < 0) s.cpu = e.on;
        });
        return {};
      },
    }),
  ],
  setup(kernel) {
    kernel.spawnKthread(
      (function* (): KPath<void> {
        const on = (yield* current()).cpu;
        yield* emit({ type: 'first/ran', on });
      })(),
      { comm: 'a' },
    );
  },
});

/** Re-runs a difference's schedule: its final state's digest, or its violation's name. */
function reached(replayed: ReturnType<typeof replay>): { digest: string | null; violation: string | null } {
  return {
    digest: replayed.done ? finalStateDigest({ ...replayed, choices: [], busy: [] } as RunOutcome) : null,
    violation: replayed.violation?.name ?? null,
  };
}

describe('auditReduction', () => {
  it('agrees where the plugin logs its write of the data it keeps outside the state', () => {
    const a = auditReduction(stashRead, { variant: 'evented', bound: 1 });
    expect(a.agrees).toBe(true);
    expect(a.stoppedBy).toBeNull();
    expect(a.dfs.complete && a.dpor.complete).toBe(true);
    // The reads before the put, after it, and around it, by both searches.
    expect(a.dfs.states).toBe(3);
    expect(a.dpor.states).toBe(3);
    expect(a.missed).toEqual([]);
    expect(a.extra).toEqual([]);
    expect(a.dpor.schedules).toBeLessThanOrEqual(a.dfs.schedules);
  });

  it('agrees where the plugin names its write with ctx.touched instead of an event', () => {
    const a = auditReduction(stashRead, { variant: 'touched', bound: 1 });
    expect(a.agrees).toBe(true);
    expect(a.dpor.states).toBe(3);
    expect(auditReduction(stashRead, { variant: 'touched', bound: null }).agrees).toBe(true);
  });

  it('names the final state DPOR missed where the write logs nothing, with a schedule that reaches it', () => {
    const a = auditReduction(stashRead, { variant: 'silent', bound: 1 });
    expect(a.agrees).toBe(false);
    expect(a.dfs.states).toBe(3);
    expect(a.dpor.states).toBe(2);
    expect(a.missed).toHaveLength(1);
    const miss = a.missed[0]!;
    expect(miss.kind).toBe('state');
    expect(reached(replay(stashRead, miss.replay)).digest).toBe(miss.what);
    // The put came between the reads there.
    expect(replay(stashRead, miss.replay).kernel.state.plugins.stash!.saw).toEqual([0, 7]);
    expect(a.extra).toEqual([]);
  });

  it('names the violation DPOR missed, and finds none missing where the write is logged', () => {
    const silent = auditReduction(stashRead, { variant: 'silent-checked', bound: 1 });
    expect(silent.dfs.violations).toEqual(['stash/reads-disagree']);
    expect(silent.dpor.violations).toEqual([]);
    const miss = silent.missed.find((m) => m.kind === 'violation');
    expect(miss?.what).toBe('stash/reads-disagree');
    expect(reached(replay(stashRead, miss!.replay)).violation).toBe('stash/reads-disagree');
    expect(silent.agrees).toBe(false);

    const evented = auditReduction(stashRead, { variant: 'evented-checked', bound: 1 });
    expect(evented.agrees).toBe(true);
    expect(evented.dpor.violations).toEqual(['stash/reads-disagree']);
  });

  it('agrees on a racy stack whose footprints are whole, at bounds 0 to 2', () => {
    for (const bound of [0, 1, 2]) {
      const a = auditReduction(lostUpdate, { variant: 'racy', bound, scale: 2 });
      expect(a.agrees, `bound ${bound}`).toBe(true);
      expect(a.dfs.states, `bound ${bound}`).toBe(a.dpor.states);
      if (bound > 0) expect(a.dpor.violations).toEqual(['counter/no-lost-update']);
    }
  });

  it('unbounded (bound null): DPOR with its sleep sets against every schedule there is', () => {
    const silent = auditReduction(stashRead, { variant: 'silent', bound: null });
    expect(silent.bound).toBeNull();
    expect(silent.missed.map((m) => m.kind)).toEqual(['state']);
    expect(auditReduction(stashRead, { variant: 'evented', bound: null }).agrees).toBe(true);
    // Ordered only through a check, and found only if the two steps are raced: the sleep sets
    // must not put the racing CPU to sleep past the step the check orders.
    const joined = auditReduction(checkOrder, { variant: 'joined', bound: null });
    expect(joined.agrees).toBe(true);
    expect(joined.dfs.violations).toEqual(['check-order/between']);
    const racy = auditReduction(lostUpdate, { variant: 'racy', bound: null, scale: 2 });
    expect(racy.agrees).toBe(true);
    expect(racy.dpor.schedules).toBeLessThan(racy.dfs.schedules);
  });

  it('compares nothing it did not finish: a budget that stops DPOR leaves `missed` empty and the audit open', () => {
    const a = auditReduction(stashRead, { variant: 'silent', bound: 1, budget: 1 });
    expect(a.dpor.complete).toBe(false);
    expect(a.stoppedBy).toBe('budget');
    expect(a.missed).toEqual([]);
    expect(a.agrees).toBe(false);
    expect(a.dpor.schedules).toBe(1);
    // The traces of the runs made, not of a tree the stopping look began.
    expect(a.dpor.traces).toBe(1);
  });

  it('reports what DPOR reached and the DFS did not when runs are not a function of their choices', () => {
    // A host counter read by the setup: every run is another run (what `explore`'s self-check catches).
    let drift = 0;
    const drifting = defineScenario({
      name: 'drifting',
      description: 'a setup that reads a host counter',
      source: 'test fixture',
      cpus: 2,
      maxSteps: 40,
      variants: [{ name: 'fixed', description: 'the only one', safe: true }],
      plugins: () => [
        definePlugin<Record<string, never>, { value: number }>({
          name: 'drift',
          version: '0.1.0',
          core: '^0.1.0',
          register(ctx) {
            ctx.onReset();
            ctx.initSlice({ value: 0 });
            ctx.on('drift/value', (s, e) => {
              s.value = e.value;
            });
            return {};
          },
        }),
      ],
      setup(kernel) {
        const value = drift++;
        kernel.spawnKthread(
          (function* (): KPath<void> {
            yield* schedPoint();
            yield* emit({ type: 'drift/value', value });
          })(),
          { comm: 'drift', cpu: 0 },
        );
      },
    });
    const a = auditReduction(drifting, { bound: 1 });
    expect(a.extra.length).toBeGreaterThan(0);
    expect(a.missed.length).toBeGreaterThan(0);
    expect(a.agrees).toBe(false);
  });

  it('runs DPOR without the symmetry rule: both mirror-image final states are reached and compared', () => {
    const a = auditReduction(firstCpu, { bound: 1 });
    expect(a.dfs.states).toBe(2);
    expect(a.dpor.states).toBe(2);
    expect(a.agrees).toBe(true);
  });

  it('stops with SCHEDULE_DIVERGED when a replayed prefix records another footprint (runs not a function of their choices)', () => {
    let run = 0;
    const wandering = defineScenario({
      name: 'wandering',
      description: 'a setup that takes another lock each run',
      source: 'test fixture',
      cpus: 2,
      maxSteps: 40,
      variants: [{ name: 'fixed', description: 'the only one', safe: true }],
      plugins: () => [],
      setup(kernel) {
        const lock = `l${run++}`;
        for (const comm of ['a', 'b'])
          kernel.spawnKthread(
            (function* (): KPath<void> {
              yield* mutexLock(lock);
              yield* mutexUnlock(lock);
            })(),
            { comm },
          );
      },
    });
    expect(() => auditReduction(wandering, { bound: 1 })).toThrow(/not deterministic/);
  });

  it('does not call an audit that compared nothing agreed: every run cut at maxSteps', () => {
    const cut = defineScenario({ ...stashRead, name: 'stash-cut', maxSteps: 3 });
    const a = auditReduction(cut, { variant: 'evented', bound: 1 });
    expect(a.stoppedBy).toBeNull();
    expect(a.dfs.cut).toBe(a.dfs.schedules);
    expect(a.dfs.states + a.dfs.violations.length).toBe(0);
    expect(a.missed).toEqual([]);
    expect(a.agrees).toBe(false);
  });

  it('refuses bad options with a coded error that names them', () => {
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        if (err instanceof TracelabError) return `${err.code}: ${err.message}`;
        throw err;
      }
      return 'no error';
    };
    expect(code(() => auditReduction(stashRead, { bound: -1 }))).toMatch(/^INVALID_OPTION: auditReduction: bound must be an integer >= 0, got -1/);
    expect(code(() => auditReduction(stashRead, { budget: 0 }))).toMatch(/^INVALID_OPTION: auditReduction: budget/);
    expect(code(() => auditReduction(stashRead, { scale: 3 }))).toMatch(/^INVALID_OPTION: auditReduction: scenario stash-read has no scale knob/);
    expect(code(() => auditReduction(stashRead, { variant: 'nope' }))).toMatch(/^INVALID_OPTION: .*nope/);
    expect(code(() => auditReduction(lostUpdate, { scale: 1 }))).toMatch(/^INVALID_OPTION: auditReduction: scale \(workers\)/);
  });
});
