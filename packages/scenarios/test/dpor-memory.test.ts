import { describe, expect, it } from 'vitest';
import { conflictObjects, definePlugin, emit, type KPath, type StepFootprint } from '@tracelab/core';
import { BoundedDfs, defineScenario, Dpor, runSchedule, type Scenario } from '@tracelab/explore';
import { memoryModel } from '@tracelab/memory-model';
import { reach, type Search } from './reach.js';

declare module '@tracelab/core' {
  interface EventMap {
    'outcome/set': { key: string; value: number | string };
  }
  interface PluginStates {
    outcome: Record<string, number | string>;
  }
}

/** What the readers loaded, folded into the state (the weak memory itself lives outside it). */
function outcomePlugin() {
  return definePlugin<Record<string, never>, Record<string, number | string>>({
    name: 'outcome',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({});
      ctx.onReset();
      ctx.on('outcome/set', (s, e) => {
        s[e.key] = e.value;
      });
      return {};
    },
  });
}

/**
 * Message passing under the SC model: what the reader sees depends only on how its loads
 * interleave with the writer's stores (0,0 / 0,1 / 1,1; never 1,0). A load reads its location's
 * coherence order (`@memory-model:loc/<loc>`) and a store writes it: without that read the two
 * tasks would share nothing and a reduced search would see one interleaving.
 */
const messagePassing = defineScenario({
  name: 'mp-sc',
  description: 'a writer stores x then y; a reader loads y then x (sequentially consistent memory)',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [{ name: 'fixed', description: 'nothing to find: what a search must reach are the outcomes', safe: true }],
  plugins: () => [memoryModel({ model: 'sc' }), outcomePlugin()],
  setup(kernel) {
    const m = kernel.api['memory-model'];
    kernel.spawnKthread(
      (function* writer(): KPath<void> {
        yield* m.writeOnce('x', 1);
        yield* m.writeOnce('y', 1);
      })(),
      { comm: 'writer' },
    );
    kernel.spawnKthread(
      (function* reader(): KPath<void> {
        const r1 = yield* m.readOnce('y');
        const r2 = yield* m.readOnce('x');
        yield* emit({ type: 'outcome/set', key: 'r', value: `${r1},${r2}` });
      })(),
      { comm: 'reader' },
    );
  },
});

/**
 * Store buffering with smp_mb() on the weak memory: each task stores, fences, loads the other's
 * location. The fences agree on one order (`@memory-model:global`, which smp_mb() reads and
 * writes): whichever comes second sees the first task's store, so 0,0 is never an outcome.
 */
const storeBuffering = defineScenario({
  name: 'sb-mb',
  description: 'two tasks each store, smp_mb(), then load the other task location (weak memory)',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [{ name: 'fixed', description: 'nothing to find: what a search must reach are the outcomes', safe: true }],
  plugins: () => [memoryModel(), outcomePlugin()],
  setup(kernel) {
    const m = kernel.api['memory-model'];
    for (const [mine, theirs] of [
      ['x', 'y'],
      ['y', 'x'],
    ] as const)
      kernel.spawnKthread(
        (function* task(): KPath<void> {
          yield* m.writeOnce(mine, 1);
          yield* m.smpMb();
          const r = yield* m.readOnce(theirs);
          yield* emit({ type: 'outcome/set', key: theirs, value: r });
        })(),
        { comm: `t-${mine}` },
      );
  },
});

/**
 * Every other fence once per task, for their footprints: a critical section under `L` (each task),
 * one under `M` (the first task), an RCU read-side section, and smp_wmb()/smp_rmb().
 */
const fences = defineScenario({
  name: 'fences',
  description: 'two tasks run the lock, RCU and write/read fences of the memory model',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 300,
  variants: [{ name: 'fixed', description: 'nothing to find: only the footprints are looked at', safe: true }],
  plugins: () => [memoryModel()],
  setup(kernel) {
    const m = kernel.api['memory-model'];
    for (const id of [1, 2])
      kernel.spawnKthread(
        (function* task(): KPath<void> {
          yield* m.spinLock('L');
          yield* m.writeOnce(`x${id}`, 1);
          yield* m.spinUnlock('L');
          if (id === 1) {
            yield* m.spinLock('M');
            yield* m.spinUnlock('M');
          }
          yield* m.rcuReadLock();
          yield* m.readOnce('y');
          yield* m.rcuReadUnlock();
          yield* m.smpWmb();
          yield* m.smpRmb();
        })(),
        { comm: `t${id}` },
      );
  },
});

/** The final states, the outcomes the readers saw, and the violations a search reaches, and its schedules. */
function reachOutcomes(s: Scenario, scale: number, search: Search, sink?: () => Parameters<typeof runSchedule>[5]) {
  const outcomes = new Set<string>();
  const r = reach(s, s.variants[0]!.name, scale, search, sink, (o) =>
    outcomes.add(JSON.stringify(Object.fromEntries(Object.entries(o.kernel.state.plugins.outcome ?? {}).sort()))),
  );
  return { ...r, outcomes };
}

describe('dpor with the memory model keyed by location (issue 20: memory locations as footprint objects)', () => {
  it('message passing (SC): every outcome of the unreduced DFS, at bounds 1 and 2 and unbounded', () => {
    for (const bound of [1, 2]) {
      const full = reachOutcomes(messagePassing, 1, new BoundedDfs(bound, true, false));
      const d = new Dpor(bound);
      const red = reachOutcomes(messagePassing, 1, d, () => d.footprintSink());
      expect([...red.digests].sort()).toEqual([...full.digests].sort());
      expect(red.runs).toBeLessThanOrEqual(full.runs);
    }
    const d = new Dpor(null);
    const un = reachOutcomes(messagePassing, 1, d, () => d.footprintSink());
    expect([...un.outcomes].sort()).toEqual(['{"r":"0,0"}', '{"r":"0,1"}', '{"r":"1,1"}']);
  });

  it('store buffering with smp_mb() (weak): every outcome of the unreduced DFS, never 0,0', () => {
    const full = reachOutcomes(storeBuffering, 1, new BoundedDfs(2, true, false));
    const d = new Dpor(2);
    const red = reachOutcomes(storeBuffering, 1, d, () => d.footprintSink());
    expect([...red.digests].sort()).toEqual([...full.digests].sort());
    const both = (o: string) => JSON.parse(o) as { x: number; y: number };
    expect([...red.outcomes].map(both).some((o) => o.x === 0 && o.y === 0)).toBe(false);
    expect(red.outcomes.size).toBe(3);
    const dn = new Dpor(null);
    const un = reachOutcomes(storeBuffering, 1, dn, () => dn.footprintSink());
    expect([...un.outcomes].sort()).toEqual([...full.outcomes].sort());
  });

  it('the footprints: loads read a location, stores write it, smp_mb() reads and writes the global order, nothing is the whole memory', () => {
    const stepsOf = (sc: Scenario) => {
      const d = new Dpor(null);
      const steps: StepFootprint[] = [];
      const sink = d.footprintSink();
      runSchedule(sc, 'fixed', 1, d.next()!, undefined, (f) => {
        steps.push(f);
        sink(f);
      });
      return steps;
    };
    const keys = (fs: StepFootprint[], kind: 'reads' | 'writes', prefix: string) => fs.flatMap((f) => f[kind].filter((o) => o.startsWith(prefix))).sort();
    const mp = stepsOf(messagePassing);
    const loads = mp.filter((f) => f.reads.some((r) => r.startsWith('@memory-model:loc/')));
    const stores = mp.filter((f) => f.writes.some((w) => w.startsWith('@memory-model:loc/')));
    expect(keys(loads, 'reads', '@memory-model:loc/')).toEqual(['@memory-model:loc/x', '@memory-model:loc/y']);
    expect(keys(stores, 'writes', '@memory-model:loc/')).toEqual(['@memory-model:loc/x', '@memory-model:loc/y']);
    for (const f of [...loads, ...stores]) expect(f.writes.filter((w) => w === 'plugin:memory-model' || w === '@memory-model:*')).toEqual([]);
    // The writer's store of y and the reader's load of y race; its store of x and the load of y do not.
    const apart = (f: StepFootprint) => ({ ...f, cpu: f.cpu + 10 });
    const storeOf = (loc: string) => stores.find((f) => f.writes.includes(`@memory-model:loc/${loc}`))!;
    const loadOfY = loads.find((f) => f.reads.includes('@memory-model:loc/y'))!;
    expect(conflictObjects(storeOf('y'), apart(loadOfY))).toContain('@memory-model:loc/y');
    expect(conflictObjects(storeOf('x'), apart(loadOfY)).filter((o) => o.startsWith('@'))).toEqual([]);
    const mbs = stepsOf(storeBuffering).filter((f) => f.writes.includes('@memory-model:global'));
    expect(mbs).toHaveLength(2);
    expect(mbs.every((f) => f.reads.includes('@memory-model:global'))).toBe(true);
    expect(conflictObjects(mbs[0]!, apart(mbs[1]!))).toContain('@memory-model:global');
  });

  it('the fences: a lock release and the next acquire of that lock meet on its released view, of another lock not; RCU read-side sections meet on the global order; no step touches the views of another task', () => {
    const d = new Dpor(null);
    const steps: StepFootprint[] = [];
    const sink = d.footprintSink();
    runSchedule(fences, 'fixed', 1, d.next()!, undefined, (f) => {
      steps.push(f);
      sink(f);
    });
    const apart = (f: StepFootprint) => ({ ...f, cpu: f.cpu + 10 });
    const touching = (key: string, kind: 'reads' | 'writes') => steps.filter((f) => f[kind].includes(`@memory-model:${key}`));
    const acquiresL = touching('lock/L', 'reads');
    const releasesL = touching('lock/L', 'writes');
    expect([acquiresL.length, releasesL.length]).toEqual([2, 2]);
    const [acquireM] = touching('lock/M', 'reads');
    expect(acquireM).toBeDefined();
    // t1's release of L, then t2's acquire of L: ordered by the view it hands over.
    expect(conflictObjects(releasesL[0]!, apart(acquiresL[1]!))).toContain('@memory-model:lock/L');
    expect(conflictObjects(releasesL[1]!, apart(acquireM!)).filter((o) => o.startsWith('@'))).toEqual([]);
    const rcuLocks = touching('global', 'reads');
    const rcuUnlocks = touching('global', 'writes');
    expect([rcuLocks.length, rcuUnlocks.length]).toEqual([2, 2]);
    expect(conflictObjects(rcuUnlocks[0]!, apart(rcuLocks[1]!))).toContain('@memory-model:global');
    // Every memory key a step touched is the global order, a lock's view, a location, or its own task's views.
    for (const f of steps) {
      const own = `@memory-model:view/${f.pid}`;
      for (const o of [...f.reads, ...f.writes].filter((x) => x.startsWith('@memory-model:')))
        expect(o === own || /^@memory-model:(global|lock\/[LM]|loc\/(x1|x2|y))$/.test(o), `${o} in a step of pid ${f.pid}`).toBe(true);
    }
  });
});
