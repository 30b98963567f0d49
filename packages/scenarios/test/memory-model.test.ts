import { describe, expect, it } from 'vitest';
import { decodeSchedule, type Kernel, type KernelEvent } from '@tracelab/core';
import { decisionSteps, decodeReplay, explore, indexedPicker, lenientReplay, replay, replayContext, runSchedule, type Scenario } from '@tracelab/explore';
import { memoryModel } from '@tracelab/memory-model';
import { scenario } from '@tracelab/scenarios';

/**
 * The barrier scenarios on the memory-model plugin: each unsafe counterexample must show a
 * load that missed a store already made (the memory effect, not an interleaving), and the
 * same variants under a sequentially consistent memory must never fail.
 */

type Load = KernelEvent<'memory-model/load'>;
const loads = (k: Kernel): Load[] => k.log.filter((e): e is Load => e.type === 'memory-model/load');

function counterexample(s: Scenario, variant: string): Kernel {
  const f = explore(s, { variant, seed: 1, budget: 300 }).failure!;
  expect(f).toBeDefined();
  const r = replay(s, f.replay);
  expect(r.violation?.name).toBe('memory-model/warn-on');
  return r.kernel;
}

/** The same scenario with every load returning the newest store. */
function sequential(s: Scenario): Scenario {
  return { ...s, plugins: () => [memoryModel({ model: 'sc' })] };
}

function cleanUnderSc(s: Scenario, variant: string, n = 150): void {
  const sc = sequential(s);
  const scale = s.scale?.default ?? 0;
  const k = decisionSteps(sc, variant, scale);
  for (let i = 0; i < n; i++) {
    const out = runSchedule(sc, variant, scale, indexedPicker('portfolio', 1, i, k).picker);
    expect(out.violation, `schedule ${i}`).toBeNull();
  }
}

describe('utrace-exit-flags', () => {
  const s = scenario('utrace-exit-flags');
  for (const variant of ['no-release-mb', 'no-attach-mb']) {
    it(`${variant}: both loads miss the other side's store, which was made before them (store buffering)`, () => {
      const k = counterexample(s, variant);
      const flags = loads(k).find((e) => e.loc === 'task42.utrace_flags')!;
      const exit = loads(k).find((e) => e.loc === 'task42.exit_state')!;
      expect(flags.value).toBe(0);
      expect(exit.value).toBe(0);
      // At least one of them had the other store available and did not see it.
      expect(flags.index < flags.newest || exit.index < exit.newest).toBe(true);
      const stores = k.log.filter((e) => e.type === 'memory-model/store');
      expect(stores.length).toBeGreaterThanOrEqual(2);
    });
    it(`${variant}: under a sequentially consistent memory no schedule fails`, () => cleanUnderSc(s, variant));
  }
});

describe('marker-publish', () => {
  const s = scenario('marker-publish');
  it('plain-store: the site read the new pointer, then an entry older than the one stored before the pointer', () => {
    const k = counterexample(s, 'plain-store');
    const ptr = loads(k).find((e) => e.loc === 'marker.multi' && e.value === 'probe_array1')!;
    const entry = loads(k).find((e) => e.seq > ptr.seq && e.loc.startsWith('probe_array1[') && e.value === 0)!;
    expect(entry.index).toBeLessThan(entry.newest);
    const stored = k.log.find((e) => e.type === 'memory-model/store' && e.loc === entry.loc)!;
    const published = k.log.find((e) => e.type === 'memory-model/store' && e.loc === 'marker.multi')!;
    expect(stored.seq).toBeLessThan(published.seq);
  });
  it('plain-store: under a sequentially consistent memory no schedule fails', () => cleanUnderSc(s, 'plain-store'));
});

describe('subbuf-commit-order', () => {
  const s = scenario('subbuf-commit-order');
  for (const variant of ['no-wmb', 'no-rmb']) {
    it(`${variant}: the consumer saw the full commit count, then a record's old bytes`, () => {
      const k = counterexample(s, variant);
      const count = loads(k).find((e) => e.loc === 'subbuf0.commit_count' && e.value !== 0)!;
      const rec = loads(k).find((e) => e.seq > count.seq && e.loc.startsWith('subbuf0.record') && e.value === 0)!;
      expect(rec.index).toBeLessThan(rec.newest);
    });
    it(`${variant}: under a sequentially consistent memory no schedule fails`, () => cleanUnderSc(s, variant));
  }
  it('fixed: in many schedules the consumer reads the records only after seeing them committed, and never a stale one', () => {
    const scale = s.scale!.default;
    const k = decisionSteps(s, 'fixed', scale);
    let delivered = 0;
    for (let i = 0; i < 200; i++) {
      const out = runSchedule(s, 'fixed', scale, indexedPicker('portfolio', 1, i, k).picker);
      expect(out.violation).toBeNull();
      const recs = loads(out.kernel).filter((e) => e.loc.startsWith('subbuf0.record'));
      if (recs.length > 0) delivered++;
      for (const r of recs) expect(r.value).not.toBe(0);
    }
    expect(delivered).toBeGreaterThan(20);
  });
});

describe("memory choices are the strategies' own kind ('memory')", () => {
  const cases = [
    ['utrace-exit-flags', 'no-release-mb'],
    ['marker-publish', 'plain-store'],
    ['subbuf-commit-order', 'no-wmb'],
  ] as const;
  for (const [name, variant] of cases) {
    it(`${name} / ${variant}: PCT alone finds the stale read (PCT used to answer every memory choice with option 0)`, () => {
      const r = explore(scenario(name), { variant, seed: 1, budget: 2000, strategy: 'pct' });
      expect(r.found).toBe(true);
      expect(r.failure!.invariant).toBe('memory-model/warn-on');
    });
  }

  it('the shrunk counterexample keeps only the stale reads the failure needs, and each is a memory choice', () => {
    for (const [name, variant] of cases) {
      const s = scenario(name);
      const f = explore(s, { variant, seed: 1, budget: 300 }).failure!;
      const t = decodeReplay(s, f.replay);
      const values = decodeSchedule(t.schedule, { context: replayContext(s, t.variant, t.scale) });
      const r = runSchedule(s, variant, t.scale, lenientReplay(values));
      expect(r.violation?.name).toBe('memory-model/warn-on');
      const stale = r.choices.map((c, i) => [c, i] as const).filter(([c]) => c.kind === 'memory' && c.value !== 0);
      expect(stale.length, name).toBeGreaterThan(0);
      // Each stale read is needed: answering it with the newest store makes the failure go away.
      for (const [, i] of stale) {
        const fresh = r.choices.map((x) => x.value);
        fresh[i] = 0;
        const again = runSchedule(s, variant, t.scale, lenientReplay(fresh));
        expect(again.violation?.name, `${name}: stale read at choice ${i}`).not.toBe('memory-model/warn-on');
      }
    }
  });
});
