import { describe, expect, it } from 'vitest';
import { TracelabError, type StepFootprint } from '@tracelab/core';
import { Dpor, KernelPool, runSchedule, type RunOutcome, type Scenario } from '@tracelab/explore';
import { InlineExecutor, SpecDecoder, SpecEncoder, Speculator, replaySpeculated, runSpeculated, sameRun, type SpecResult } from '../src/internal/speculate.js';
import { lostUpdate, wakePick, wakePreempt } from './fixtures.js';

interface Search {
  /** The plan of each run, in order, and what it ended in. */
  readonly runs: string[];
  readonly stats: string;
  readonly ready: number;
}

/**
 * The DPOR loop of `explore`, with or without speculative runs made in this thread (packed and
 * unpacked as for a worker thread).
 */
function search(s: Scenario, variant: string, scale: number, bound: number, speculate: boolean, symmetric = false): Search {
  const dpor = new Dpor(bound, true, symmetric);
  const pool = new KernelPool();
  const aheadPool = new KernelPool();
  const spec = speculate ? new Speculator(new InlineExecutor((req) => runSpeculated(s, variant, scale, symmetric, req, aheadPool), 4)) : null;
  const runs: string[] = [];
  for (;;) {
    const picker = dpor.next();
    if (picker === null) break;
    const ahead = spec?.take(dpor) ?? null;
    const o: RunOutcome =
      ahead === null
        ? runSchedule(s, variant, scale, picker, pool, dpor.footprintSink(dpor.recordFrom), dpor.recordFrom)
        : replaySpeculated(ahead, picker, dpor.footprintSink(dpor.recordFrom));
    runs.push(`${dpor.planKey} ${o.choices.map((c) => c.value).join('')} ${o.steps} ${o.violation?.name ?? '-'}`);
    dpor.record(o);
    spec?.fill(dpor);
  }
  return { runs, stats: JSON.stringify(dpor.stats), ready: spec?.stats.ready ?? 0 };
}

/** A bounded Dpor advanced run by run until `want` later runs are on its stack, and those runs. */
function withUpcoming(variant: string, want: number): { dpor: Dpor; reqs: ReturnType<Dpor['upcoming']> } {
  const dpor = new Dpor(2, true, false);
  for (let i = 0; i < 200; i++) {
    const picker = dpor.next();
    if (picker === null) break;
    dpor.record(runSchedule(lostUpdate, variant, 2, picker, undefined, dpor.footprintSink(0)));
    // upcoming hands each entry out once: ask only when enough are there.
    let pending = 0;
    for (const n of (dpor as unknown as { stack: Array<{ kind: string; alts?: number[]; backtrack?: Set<number>; done?: Set<number> }> }).stack)
      pending += n.kind === 'local' ? n.alts!.length : n.backtrack!.size - n.done!.size;
    if (pending > want) return { dpor, reqs: dpor.upcoming(want) };
  }
  throw new Error(`no ${want} later runs`);
}

describe('speculative runs of a bounded DPOR search', () => {
  it('leave the search as it is: the same runs in the same order, the same statistics, most of them made ahead', () => {
    // The symmetry rule (lost-update's CPUs are alike) reads the state at the first `cpu` choice:
    // a run made ahead carries what it found.
    const cases: Array<[Scenario, string, number, number, boolean?]> = [
      [lostUpdate, 'fixed', 2, 2],
      [lostUpdate, 'fixed', 2, 2, true],
      [lostUpdate, 'racy', 2, 2],
      [wakePreempt, 'fixed', 1, 2],
      [wakePick, 'fixed', 1, 1],
    ];
    for (const [s, variant, scale, bound, symmetric] of cases) {
      const plain = search(s, variant, scale, bound, false, symmetric);
      const ahead = search(s, variant, scale, bound, true, symmetric);
      if (symmetric === true) expect(JSON.parse(plain.stats).mirrored).toBeGreaterThan(0);
      expect(ahead.runs, `${s.name}/${variant} bound ${bound}`).toEqual(plain.runs);
      expect(ahead.stats).toBe(plain.stats);
      expect(plain.runs.length).toBeGreaterThan(10);
      // Made ahead and taken: everything but the runs the last run's races made next.
      expect(ahead.ready, `${s.name}/${variant} bound ${bound}`).toBeGreaterThan(plain.runs.length / 4);
    }
  });

  it('offers no run to make ahead without a bound (sleep sets steer an unbounded run)', () => {
    const dpor = new Dpor(null, true, false);
    const picker = dpor.next()!;
    const o = runSchedule(lostUpdate, 'fixed', 2, picker, undefined, dpor.footprintSink(0));
    dpor.record(o);
    expect(dpor.upcoming(100)).toEqual([]);
    expect(withUpcoming('fixed', 3).reqs.length).toBe(3);
  });

  it('pack into ids and back without losing a field, across messages that share a table', () => {
    const enc = new SpecEncoder();
    const dec = new SpecDecoder();
    const { reqs } = withUpcoming('racy', 6);
    expect(reqs.length).toBe(6);
    let firstNames = -1;
    for (const req of [{ key: '', plan: [], fromStep: 0 }, ...reqs]) {
      const r = runSpeculated(lostUpdate, 'racy', 2, false, req);
      const wire = enc.encode(r);
      if (firstNames < 0) firstNames = wire.names.length;
      else expect(wire.names.length).toBeLessThan(firstNames);
      dec.learn(wire);
      const back = dec.decode(wire);
      expect(back).toEqual(r);
      expect(back.footprints.length).toBeGreaterThan(0);
      // What the search's picker reads at a new node: the idle CPUs' pids, and then the runqueue.
      for (const p of r.picks) if (p.kind === 'cpu') expect(p.runqueue !== undefined).toBe(p.pids.includes(0));
      expect(back.footprints.map((f) => Object.keys(f).join())).toEqual(r.footprints.map((f) => Object.keys(f).join()));
    }
  });

  it('stop the search when a run made ahead is not the run the search asks for', () => {
    const made = runSpeculated(lostUpdate, 'fixed', 2, false, { key: '', plan: [], fromStep: 0 });
    const at = made.choices.findIndex((c) => c.n >= 2);
    expect(at).toBeGreaterThanOrEqual(0);
    // The same run, but one choice answered otherwise than the search's rule answers it.
    const forged: SpecResult = { ...made, choices: made.choices.map((c, i) => (i === at ? { ...c, value: (c.value + 1) % c.n } : c)) };
    const dpor = new Dpor(2, true, false);
    let caught: unknown = null;
    try {
      replaySpeculated(forged, dpor.next()!, dpor.footprintSink(0));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TracelabError);
    expect((caught as TracelabError).code).toBe('SCHEDULE_DIVERGED');
    expect((caught as Error).message).toContain(`at choice ${at}`);
    // The run as made replays cleanly.
    const again = new Dpor(2, true, false);
    expect(() => replaySpeculated(made, again.next()!, again.footprintSink(0))).not.toThrow();
  });

  it('self-check a run made ahead by making it again here: choices, steps, end and footprints must agree', () => {
    // The deepest of them: a run that records from a later step (its prefix unrecorded).
    const req = withUpcoming('racy', 6).reqs.reduce((a, b) => (b.fromStep > a.fromStep ? b : a));
    const made = runSpeculated(lostUpdate, 'racy', 2, false, req);
    expect(made.fromStep).toBeGreaterThan(0);
    const again = (): { o: RunOutcome; fps: StepFootprint[] } => {
      const fps: StepFootprint[] = [];
      const values = made.choices.map((c) => c.value);
      const o = runSchedule(lostUpdate, 'racy', 2, { pick: (p) => values[p.index] ?? 0 }, undefined, (fp) => fps.push(fp), made.fromStep);
      return { o, fps };
    };
    const { o, fps } = again();
    expect(sameRun(made, o, fps)).toBe(true);
    // A footprint that differs in one read, one step fewer, or another end is another run.
    const changed = fps.map((f, i) => (i === fps.length - 1 ? { ...f, reads: [...f.reads, 'lock:other'] } : f));
    expect(sameRun(made, o, changed)).toBe(false);
    expect(sameRun(made, o, fps.slice(1))).toBe(false);
    expect(sameRun(made, { ...o, steps: o.steps + 1 }, fps)).toBe(false);
    expect(sameRun(made, { ...o, done: !o.done }, fps)).toBe(false);
  });
});
