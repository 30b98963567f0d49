import { describe, expect, it, vi } from 'vitest';
import { current, footprintsConflict, intMapFrom, intMapValues, mutexLock, mutexUnlock, printk, schedPoint, type StepFootprint } from '@tracelab/core';
import {
  BoundedDfs,
  Dpor,
  defineScenario,
  finalStateDigest,
  explore,
  isFailure,
  runSchedule,
  FAIRNESS_WINDOW,
  type Picker,
  type RunOutcome,
  type Scenario,
} from '@tracelab/explore';
import { unionFp } from '../src/internal/dpor.js';
import { checkOrder, flagPair, halfPass, idleWindow, ipiDrain, localSteps, lostUpdate, sleepPoll, wakePick, wakePreempt } from './fixtures.js';

/**
 * Two kernel threads take two mutexes, `fixed` in one order, `abba` in opposite orders (a
 * lock-order deadlock some interleavings reach). Small enough for the unreduced, unbounded search.
 */
const locks = defineScenario({
  name: 'two-locks',
  description: 'two threads, two mutexes',
  plugins: () => [],
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [
    { name: 'fixed', description: 'both take a then b', safe: true },
    { name: 'abba', description: 'opposite orders', safe: false, expect: ['kernel/stuck'] },
  ],
  setup(kernel, { variant }) {
    const taker = (x: string, y: string) =>
      (function* () {
        yield* mutexLock(x);
        yield* schedPoint();
        yield* mutexLock(y);
        yield* mutexUnlock(y);
        yield* mutexUnlock(x);
      })();
    kernel.spawnKthread(taker('a', 'b'), { comm: 'ab' });
    kernel.spawnKthread(variant === 'abba' ? taker('b', 'a') : taker('a', 'b'), { comm: variant === 'abba' ? 'ba' : 'ab2' });
  },
});

/** The final state's digest, with the violation (if any) that halted the run. */
const digest = finalStateDigest;

interface Search {
  next(): Picker | null;
  record(o: RunOutcome): void;
}

/** Every final state (and violation) a search reaches, and the schedules it ran. */
function reach(
  scenario: Scenario,
  variant: string,
  scale: number,
  search: Search,
  sink?: () => Parameters<typeof runSchedule>[5],
): { digests: Set<string>; runs: number; failures: Set<string> } {
  const digests = new Set<string>();
  const failures = new Set<string>();
  let runs = 0;
  let cut = 0;
  for (;;) {
    const picker = search.next();
    if (picker === null) break;
    const o = runSchedule(scenario, variant, scale, picker, undefined, sink?.());
    search.record(o);
    runs++;
    // A halted run's state depends on where in its trace the check fired, and a run cut at
    // maxSteps stopped wherever the count fell: only finished runs are compared by state;
    // violations by name. Every fixture here finishes: a cut run fails the search.
    if (o.done) digests.add(digest(o));
    else if (o.violation !== null && isFailure(o)) failures.add(o.violation.name);
    else if (o.violation === null) cut++;
    if (runs > 200_000) throw new Error('search did not end');
  }
  if (cut > 0) throw new Error(`${cut} runs of ${scenario.name}/${variant} were cut at maxSteps: its states would not be compared`);
  return { digests, runs, failures };
}

function dpor(scenario: Scenario, variant: string, scale: number, bound: number | null, localRule = true) {
  const d = new Dpor(bound, localRule);
  return { ...reach(scenario, variant, scale, d, () => d.footprintSink()), stats: d.stats };
}

describe('dpor soundness on small scenarios', () => {
  for (const [variant, bounds] of [
    ['fixed', [0, 1]],
    ['racy', [0, 1, 2]],
  ] as const) {
    for (const bound of bounds) {
      it(`lost-update/${variant}, 2 workers, bound ${bound}: the final states and violations of the unreduced DFS`, () => {
        const full = reach(lostUpdate, variant, 2, new BoundedDfs(bound, true, false));
        const red = dpor(lostUpdate, variant, 2, bound);
        expect(red.runs).toBeLessThanOrEqual(full.runs);
        expect([...red.digests].sort()).toEqual([...full.digests].sort());
        expect([...red.failures].sort()).toEqual([...full.failures].sort());
      });
    }
  }
});

describe('dpor soundness where tasks outnumber CPUs', () => {
  // wake-preempt: 3 tasks on 2 CPUs; the woken task gets a CPU by preempting the incrementer at
  // its point, which reads only "the runqueue is not empty" (rq:nonempty): the wake-up that
  // makes it true must be raced with that point, the switches that leave it true need not be.
  for (const [variant, bounds] of [
    ['fixed', [0, 1, 2]],
    ['racy', [0, 1, 2]],
  ] as const) {
    for (const bound of bounds) {
      it(`wake-preempt/${variant}, bound ${bound}: the final states and violations of the unreduced DFS`, () => {
        const full = reach(wakePreempt, variant, 1, new BoundedDfs(bound, true, false));
        const red = dpor(wakePreempt, variant, 1, bound);
        expect(red.runs).toBeLessThanOrEqual(full.runs);
        expect([...red.digests].sort()).toEqual([...full.digests].sort());
        expect([...red.failures].sort()).toEqual([...full.failures].sort());
        if (variant === 'racy' && bound >= 1) expect(red.failures).toEqual(new Set(['counter/no-lost-update']));
      });
    }
  }

  it('wake-preempt/racy: dpor finds the lost update at no more preemptions than the DFS', () => {
    const d = explore(wakePreempt, { variant: 'racy', strategy: 'dpor', bound: 2, budget: 100_000 });
    const f = explore(wakePreempt, { variant: 'racy', strategy: 'dfs', bound: 2, budget: 100_000 });
    expect(d.found).toBe(true);
    expect(d.failure!.invariant).toBe('counter/no-lost-update');
    expect(d.failure!.original.preemptions).toBeLessThanOrEqual(f.failure!.original.preemptions);
  });

  for (const bound of [0, 1]) {
    it(`lost-update/fixed, 3 workers on 2 CPUs, bound ${bound}: the final states of the unreduced DFS`, () => {
      const full = reach(lostUpdate, 'fixed', 3, new BoundedDfs(bound, true, false));
      const red = dpor(lostUpdate, 'fixed', 3, bound);
      expect(red.runs).toBeLessThanOrEqual(full.runs);
      expect([...red.digests].sort()).toEqual([...full.digests].sort());
      expect(red.failures).toEqual(new Set());
    });
  }
});

describe('dpor: the runqueue as membership objects (fourth pass)', () => {
  // wake-pick: two wake-ups queue different tasks (they commute), and a switch picking from the
  // runqueue reads all of it. Both orders of the sleepers (counter 12 and 21) must be reached.
  // (Bound 2 is 23,368 unreduced schedules, most of them the `task` choices of four kernel
  // threads queued at once: left to a bench.)
  for (const bound of [0, 1]) {
    it(`wake-pick, bound ${bound}: the final states of the unreduced DFS`, () => {
      const full = reach(wakePick, 'fixed', 1, new BoundedDfs(bound, true, false));
      const red = dpor(wakePick, 'fixed', 1, bound);
      expect(red.runs).toBeLessThanOrEqual(full.runs);
      expect([...red.digests].sort()).toEqual([...full.digests].sort());
      expect(red.failures).toEqual(new Set());
    });
  }

  it('wake-pick reaches both orders of the sleepers, and the wake-ups commute', () => {
    const counters = new Set<number>();
    const d = new Dpor(1);
    let wakes: StepFootprint[] = [];
    for (;;) {
      const picker = d.next();
      if (picker === null) break;
      const steps: StepFootprint[] = [];
      const sink = d.footprintSink();
      const o = runSchedule(wakePick, 'fixed', 1, picker, undefined, (s) => {
        steps.push(s);
        sink(s);
      });
      d.record(o);
      counters.add(o.kernel.state.plugins.counter!.value);
      if (wakes.length === 0) wakes = steps.filter((s) => s.writes.some((w) => /^runq:[12]$/.test(w)) && !s.reads.includes('runq:*'));
    }
    expect(counters).toEqual(new Set([12, 21]));
    // The first run's two wake-ups (one per waker, neither picking a task) do not conflict.
    expect(wakes.length).toBeGreaterThanOrEqual(2);
    const [a, b] = wakes as [StepFootprint, StepFootprint];
    expect(a.writes.filter((w) => w.startsWith('runq:'))).not.toEqual(b.writes.filter((w) => w.startsWith('runq:')));
    expect(footprintsConflict({ ...a, cpu: 0 }, { ...b, cpu: 1 })).toBe(false);
  });
});

describe('dpor: why the backtrack points were added (backtrackReasons)', () => {
  it('names, for each point a race added, the objects of the conflict; every point has a reason', () => {
    const lost = dpor(lostUpdate, 'racy', 2, 1).stats;
    const total = Object.values(lost.backtrackReasons).reduce((a, b) => a + b, 0);
    expect(lost.backtracks).toBeGreaterThan(0);
    // A point added for several reasons is counted under each; none is added without one.
    expect(total).toBeGreaterThanOrEqual(1);
    // The racy increment's load and store: the counter's slice.
    expect(lost.backtrackReasons['plugin:counter']).toBeGreaterThan(0);
    // wake-pick: the gates' shared slice, and an idle CPU that could take a woken sleeper.
    const wake = dpor(wakePick, 'fixed', 1, 1).stats;
    expect(wake.backtrackReasons['plugin:gates']).toBeGreaterThan(0);
    expect(wake.backtrackReasons['pending-idle']).toBeGreaterThan(0);
    expect(wake.backtrackReasons['runq:1']).toBeUndefined(); // pids are folded
  });

  it('counts as backtrack points only the branches it runs: in a complete search, one per schedule that branched at a cpu choice; CPUs asked for where they sleep apart', () => {
    for (const bound of [2, undefined]) {
      const r = explore(sleepPoll, { variant: 'any', strategy: 'dpor', ...(bound === undefined ? {} : { bound }), budget: 10_000, shrink: false, workers: 1 });
      expect(r.complete).toBe(true);
      expect(r.dpor!.backtracks).toBe(r.dpor!.branched['cpu']);
      // Sleep sets (unbounded only) put CPUs to sleep that later races ask for again.
      if (bound === undefined) expect(r.dpor!.asleep).toBeGreaterThan(0);
      else expect(r.dpor!.asleep).toBe(0);
    }
  });
});

describe('dpor: the local-preemption rule (third pass)', () => {
  // local-steps: one CPU, so only preemptions reorder the two tasks; a final state of `peek`
  // and of `clock` needs the preemption right before a step that logs nothing and writes
  // nothing shared. A rule that judged that step by its events or its writes alone, forgot the
  // clock, or decided once on the first run instead of on every run through the node, would
  // set that preemption aside and miss the state (each was tried: the digests then differ).
  for (const variant of ['peek', 'clock', 'private']) {
    for (const bound of [1, 2]) {
      it(`local-steps/${variant}, bound ${bound}: the final states of the unreduced DFS`, () => {
        const full = reach(localSteps, variant, 1, new BoundedDfs(bound, true, false));
        const red = dpor(localSteps, variant, 1, bound);
        expect(red.runs).toBeLessThanOrEqual(full.runs);
        expect([...red.digests].sort()).toEqual([...full.digests].sort());
        expect(red.failures).toEqual(new Set());
        if (variant === 'private') {
          // Nothing shared: the preemption before the silent step is set aside, and never needed.
          expect(red.stats.localPruned).toBeGreaterThan(0);
          expect(red.runs).toBeLessThan(dpor(localSteps, variant, 1, bound, false).runs);
        } else {
          // The first run shows no conflict (other acts only before watcher is done); a later
          // run shows the store, and the alternative set aside is put back.
          expect(red.stats.localRestored).toBeGreaterThan(0);
        }
      });
    }
  }

  for (const [variant, bounds] of [
    ['fixed', [0, 1]],
    ['racy', [1, 2]],
  ] as const) {
    for (const bound of bounds) {
      it(`lost-update/${variant}, 3 workers (private work first), bound ${bound}: the rule changes no state, prunes some`, () => {
        const off = dpor(lostUpdate, variant, 3, bound, false);
        const on = dpor(lostUpdate, variant, 3, bound);
        expect([...on.digests].sort()).toEqual([...off.digests].sort());
        expect([...on.failures].sort()).toEqual([...off.failures].sort());
        expect(on.runs).toBeLessThanOrEqual(off.runs);
      });
    }
  }
});

describe('dpor records each run from where it leaves the last run (recordFrom)', () => {
  /** The search with the prefix unrecorded, as explore runs it: its stats, each run's digest, and the steps it skipped. */
  function skipping(scenario: Scenario, variant: string, scale: number, bound: number | null) {
    const d = new Dpor(bound);
    const runs: string[] = [];
    let skipped = 0;
    for (let p = d.next(); p !== null; p = d.next()) {
      const from = d.recordFrom;
      skipped += from;
      const o = runSchedule(scenario, variant, scale, p, undefined, d.footprintSink(from), from);
      d.record(o);
      runs.push(digest(o));
    }
    return { stats: d.stats, runs, skipped };
  }

  /** The same search told every step (each prefix step compared with the one kept). */
  function every(scenario: Scenario, variant: string, scale: number, bound: number | null) {
    const d = new Dpor(bound);
    const runs: string[] = [];
    for (let p = d.next(); p !== null; p = d.next()) {
      const o = runSchedule(scenario, variant, scale, p, undefined, d.footprintSink());
      d.record(o);
      runs.push(digest(o));
    }
    return { stats: d.stats, runs };
  }

  for (const [scenario, variant, scale, bound] of [
    [locks, 'fixed', 1, 2],
    [locks, 'abba', 1, null],
    [lostUpdate, 'racy', 2, 2],
    [wakePick, 'fixed', 1, 1],
    [localSteps, 'fixed', 1, 2],
  ] as const) {
    it(`${scenario.name}/${variant}, bound ${bound ?? 'none'}: the same search as recording every step`, () => {
      const all = every(scenario, variant, scale, bound);
      const skip = skipping(scenario, variant, scale, bound);
      expect(skip.stats).toEqual(all.stats);
      // The same schedules in the same order, each to the same end.
      expect(skip.runs).toEqual(all.runs);
      expect(skip.skipped).toBeGreaterThan(0);
    });
  }

  it("starts each run's sleep set where the same search recording every step has it when the prefix ends", () => {
    // Unbounded (sleep sets on): the set after the kept prefix is computed from the kept steps in
    // `next()`; the search that keeps nothing computes it step by step as the run goes.
    for (const [scenario, variant, scale] of [
      [locks, 'abba', 1],
      [locks, 'fixed', 1],
      [lostUpdate, 'racy', 2],
    ] as const) {
      const reuse = new Dpor(null);
      const online = new Dpor(null, true, false, false);
      const sleepOf = (d: Dpor): number[] => [...(d as unknown as { sleepNow: ReadonlyMap<number, unknown> }).sleepNow.keys()].sort();
      let compared = 0;
      for (let p = reuse.next(), q = online.next(); p !== null; p = reuse.next(), q = online.next()) {
        expect(q).not.toBeNull();
        const from = reuse.recordFrom;
        const atPrefixEnd = sleepOf(reuse);
        let onlineAt: number[] | null = from === 0 ? [] : null;
        let heard = 0;
        const sink = online.footprintSink();
        const o = runSchedule(scenario, variant, scale, q!, undefined, (f) => {
          sink(f);
          if (++heard === from) onlineAt = sleepOf(online);
        });
        online.record(o);
        reuse.record(runSchedule(scenario, variant, scale, p, undefined, reuse.footprintSink(from), from));
        expect(atPrefixEnd).toEqual(onlineAt);
        compared++;
      }
      expect(online.next()).toBeNull();
      expect(compared).toBeGreaterThan(0);
      // These fixtures (and the catalog's unbounded trees) never reach a prefix's end with a CPU
      // asleep: here the kept set is shown equal, not shown to carry a sleeper.
    }
  });

  it('a run told every step compares the replayed prefix with the last run, and stops when it differs', () => {
    // A scenario that is not a function of its choices: each run's first thread reads another lock.
    let runs = 0;
    const drifting = defineScenario({
      name: 'drifting',
      description: 'reads a lock named by a host-side counter',
      plugins: () => [],
      source: 'test fixture',
      cpus: 2,
      maxSteps: 200,
      variants: [{ name: 'fixed', description: 'the only one', safe: true }],
      setup(kernel) {
        const lock = `l${runs++}`;
        const t = (name: string) =>
          (function* () {
            yield* mutexLock(name);
            yield* mutexUnlock(name);
            yield* schedPoint();
            yield* mutexLock('shared');
            yield* mutexUnlock('shared');
          })();
        kernel.spawnKthread(t(lock), { comm: 'a' });
        kernel.spawnKthread(t('other'), { comm: 'b' });
      },
    });
    const d = new Dpor(2);
    expect(() => reach(drifting, 'fixed', 1, d, () => d.footprintSink())).toThrow(/replayed prefix differs from the same step of the last run/);
  });
});

describe('dpor: an idle pass still due when the last task exits (an idle tap)', () => {
  // When the opener exits, the other CPU's boot pass may still be due. Were the run to end there,
  // that pass's footprint would be unknown and no race would name it: DPOR ran the pass only
  // before the window opened and never found the failure the unreduced DFS finds. The drain
  // (docs/core.md decision 22) runs it, so its race with the close is found and reversed.
  for (const scale of [1, 2]) {
    for (const bound of [1, 2]) {
      it(`idle-window, opener on cpu ${scale - 1}, bound ${bound}: the violations and final states of the unreduced DFS`, () => {
        const full = reach(idleWindow, 'racy', scale, new BoundedDfs(bound, true, false));
        const red = dpor(idleWindow, 'racy', scale, bound);
        if (scale === 1 || bound === 2) expect(full.failures).toEqual(new Set(['window/never-seen']));
        expect([...red.failures].sort()).toEqual([...full.failures].sort());
        expect([...red.digests].sort()).toEqual([...full.digests].sort());
        expect(red.runs).toBeLessThanOrEqual(full.runs);
      });
    }
  }
  it('idle-window, unbounded: the violation', () => {
    for (const scale of [1, 2]) expect(dpor(idleWindow, 'racy', scale, null).failures).toEqual(new Set(['window/never-seen']));
  });
});

describe('dpor: a run ends with nothing under way (the drain, docs/core.md decision 22)', () => {
  // CPU 0's idle pass spans a point; the only task exits after one step on CPU 1. Were the run to
  // end at the exit, the unreduced search would reach "pane open" as a final state (the pass cut
  // halfway) and DPOR, finding no race with the exit, would not. Drained, both end with it closed.
  // Bound 0 runs one schedule each way and passes without the drain too; bound 12 exceeds any
  // schedule's preemptions here, so the DFS at 12 runs every schedule (unbounded).
  for (const bound of [0, 1, 2, null]) {
    it(`half-pass, bound ${bound ?? 'none'}: the final states of the unreduced DFS`, () => {
      const full = reach(halfPass, 'only', 1, new BoundedDfs(bound ?? 12, true, false));
      const red = dpor(halfPass, 'only', 1, bound);
      expect([...red.digests].sort()).toEqual([...full.digests].sort());
      expect(full.failures.size + red.failures.size).toBe(0);
      expect(red.runs).toBeLessThanOrEqual(full.runs);
    });
  }
  it('half-pass: every run, whatever its schedule, ends with the pass finished', () => {
    const d = new BoundedDfs(12, true, false);
    let runs = 0;
    for (let p = d.next(); p !== null; p = d.next()) {
      const o = runSchedule(halfPass, 'only', 1, p);
      d.record(o);
      runs++;
      expect(o.done).toBe(true);
      const pane = o.kernel.state.plugins.pane!;
      expect(pane.open).toBe(false);
      expect(pane.passes).toBeGreaterThan(0);
    }
    expect(runs).toBeGreaterThan(1);
  });
});

describe('dpor: a run cut in the drain (an IPI behind a polling idle pass)', () => {
  // The default run is cut at maxSteps with CPU 0's IPI never taken: the cut rule must try an
  // eligible idle CPU with nothing queued (its step is the IPI, or a pass), or DPOR calls the
  // search complete and clean where the DFS finds the violation.
  // Variant `alive` is the same cut with the task still alive (the sender polls): the cut rule
  // passed over CPU 0's IPI there too, before idle CPUs were halted and since.
  for (const [variant, bound] of [
    ['racy', 1],
    ['racy', 2],
    ['alive', 1],
    ['alive', 2],
  ] as const) {
    it(`ipi-drain/${variant}, bound ${bound}: the violation the unreduced DFS finds`, () => {
      // The unreduced DFS (runs cut at maxSteps are part of this fixture: `reach` refuses them).
      // The visible-step reduction misses `alive` (the test below).
      const full = new BoundedDfs(bound, true, false);
      let failing = 0;
      for (let p = full.next(); p !== null; p = full.next()) {
        const o = runSchedule(ipiDrain, variant, 1, p);
        full.record(o);
        if (o.violation !== null && isFailure(o)) failing++;
      }
      const red = explore(ipiDrain, { variant, strategy: 'dpor', bound, budget: 5_000, shrink: false });
      expect(failing).toBeGreaterThan(0);
      expect(red.found).toBe(true);
      expect(red.failure!.invariant).toBe('flagpole/never-raised');
      expect(red.dpor!.backtrackReasons['cut']).toBeGreaterThan(0);
    });
  }
  it("ipi-drain/alive: explore's dfs finds it; with the visible-step reduction it calls the tree clean", () => {
    // The sender polls through getState() and logs nothing until the flag is up: a step that
    // reads what another CPU writes, which the reduction takes as invisible, so it never tries
    // CPU 0's IPI before it (docs/explore.md §4). Unreduced, the default, it is found.
    for (const bound of [1, 2]) {
      const sound = explore(ipiDrain, { variant: 'alive', strategy: 'dfs', bound, budget: 5_000, shrink: false });
      expect(sound.found).toBe(true);
      expect(sound.failure!.invariant).toBe('flagpole/never-raised');
      expect(sound.dfs).toMatchObject({ reduced: 0, reduction: 'none' });
      const reduced = explore(ipiDrain, { variant: 'alive', strategy: 'dfs', bound, budget: 5_000, reduction: 'visible-steps', shrink: false });
      expect(reduced.found).toBe(false);
      expect(reduced.complete).toBe(true);
      expect(reduced.dfs!.reduction).toBe('visible-steps');
      expect(reduced.dfs!.reduced).toBeGreaterThan(0);
    }
  });
  it('ipi-drain: the default run is cut in the drain, not done', () => {
    const o = runSchedule(ipiDrain, 'racy', 1, { pick: (c) => (c.kind === 'cpu' && c.same >= 0 ? c.same : 0) });
    expect(o.violation).toBeNull();
    expect(o.done).toBe(false);
    expect(o.kernel.state.plugins.flagpole!.last).toBe(true);
  });
});

describe('dpor: a run cut with a CPU starved (a poller that sleeps between looks)', () => {
  // sleep-poll: the poller's looks race with the setter's raise. Reversed, that race puts a look
  // first, and the default then keeps the poller's CPU for good: the run is cut at maxSteps with
  // the setter starved on CPU 1. Its continuations (the setter taken after k looks) are runs no
  // race of the cut run leads to, since the raise never ran in it; and each pass of the poller
  // writes its timer, the runqueue and the clock, so the polling cut rule does not take it either.
  // The starved rule tries the setter within the fairness window; the races of that run put it
  // before each look. Later positions are not searched: those runs stay counted as cut
  // (docs/explore.md §4a, sixteenth pass).
  const keepCpu0: Picker = { pick: (c) => (c.kind === 'cpu' && c.cpus !== undefined && c.cpus.includes(0) ? c.cpus.indexOf(0) : 0) };
  const fair: Picker = { pick: (c) => (c.kind === 'cpu' ? c.index % c.n : 0) };
  const dporOf = (variant: string, bound: number | null) =>
    explore(sleepPoll, { variant, strategy: 'dpor', ...(bound === null ? {} : { bound }), budget: 5_000, shrink: false });

  it('a schedule that keeps the poller is cut with CPU 1 eligible and never picked through the window; a fair one finishes', () => {
    const cut = runSchedule(sleepPoll, 'any', 1, keepCpu0);
    expect(cut.done).toBe(false);
    expect(cut.violation).toBeNull();
    const tail = cut.choices.filter((c) => c.kind === 'cpu').slice(-FAIRNESS_WINDOW);
    expect(tail).toHaveLength(FAIRNESS_WINDOW);
    for (const c of tail) {
      expect(c.cpus).toContain(1);
      expect(c.cpus![c.value]).toBe(0);
    }
    expect(runSchedule(sleepPoll, 'any', 1, fair).done).toBe(true);
  });

  for (const bound of [2, null]) {
    it(`two-misses, ${bound === null ? 'unbounded' : `bound ${bound}`}: found, through the starved run's continuations`, () => {
      const r = dporOf('two-misses', bound);
      expect(r.found).toBe(true);
      expect(r.failure!.invariant).toBe('poll/not-after-two-misses');
      expect(r.dpor!.backtrackReasons['starved']).toBeGreaterThan(0);
    });
  }

  it('any, unbounded: complete and clean; the setter is taken after every number of looks within the window, and the starved runs stay counted as cut', () => {
    const d = new Dpor(null);
    const seen = new Set<number>();
    let cut = 0;
    // The longest CPU 1 waited in a finished run: steps in a row whose CPU was chosen from several
    // that offered CPU 1, none of them CPU 1's (a step with no such choice ends a wait).
    let longestWait = 0;
    for (let p = d.next(); p !== null; p = d.next()) {
      const firstChoice: number[] = [];
      const sink = d.footprintSink();
      const o = runSchedule(sleepPoll, 'any', 1, p, undefined, (fp) => {
        firstChoice.push(fp.choiceAt);
        sink(fp);
      });
      d.record(o);
      expect(o.violation).toBeNull();
      if (!o.done) {
        cut++;
        continue;
      }
      seen.add((o.kernel.state.plugins['poll'] as { seen: number }).seen);
      let wait = 0;
      firstChoice.forEach((at, k) => {
        const end = firstChoice[k + 1] ?? o.choices.length;
        const c = at < end ? o.choices[at] : undefined;
        const passedOver = c?.kind === 'cpu' && c.cpus !== undefined && c.cpus.includes(1) && c.cpus[c.value] !== 1;
        wait = passedOver ? wait + 1 : 0;
        longestWait = Math.max(longestWait, wait);
      });
    }
    expect(longestWait).toBe(FAIRNESS_WINDOW - 1);
    // The setter waits at most FAIRNESS_WINDOW - 1 choices between CPUs from the start of its
    // wait; the poller takes two of them a look: 25 misses at most, and each count below it.
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i));
    expect(cut).toBeGreaterThan(0);
    const r = explore(sleepPoll, { variant: 'any', strategy: 'dpor', budget: 5_000 });
    expect(r).toMatchObject({ found: false, complete: true, cut });
  });

  it('the rule fires only when the wait at the cut fills the window: not at maxSteps 51, at 52', () => {
    // The tree's first cut run starves CPU 1 from its third step on: cut at 51 steps it has
    // waited 49, at 52 it has waited FAIRNESS_WINDOW (50). Below that the run counts as still
    // working at the cap and is left to it (the tree is the 8 runs of the old rule).
    const capped = (maxSteps: number) => defineScenario({ ...sleepPoll, name: `sleep-poll-${maxSteps}`, maxSteps });
    const short = explore(capped(51), { variant: 'any', strategy: 'dpor', budget: 5_000, shrink: false });
    expect(short.dpor!.backtrackReasons['starved']).toBeUndefined();
    expect(short.schedules).toBe(8);
    const full = explore(capped(52), { variant: 'any', strategy: 'dpor', budget: 5_000, shrink: false });
    expect(full.dpor!.backtrackReasons['starved']).toBeGreaterThan(0);
    expect(full.schedules).toBeGreaterThan(8);
  });

  it('late-miss (a check past the window): the unreduced DFS finds it; DPOR does not, and its verdict says runs were cut', () => {
    // What the rule does not claim: a setter taken after 30 misses waited longer than the window.
    const dfs = explore(sleepPoll, { variant: 'late-miss', strategy: 'dfs', bound: 2, budget: 5_000, shrink: false });
    expect(dfs.found).toBe(true);
    expect(dfs.failure!.invariant).toBe('poll/not-after-thirty-misses');
    const r = dporOf('late-miss', null);
    expect(r).toMatchObject({ found: false, complete: true });
    expect(r.cut).toBeGreaterThan(0);
  });
});

describe('dpor, unbounded, against the unreduced search', () => {
  // The fixed variant's unreduced tree (3,672 schedules, ~15 s) is left to the bench.
  for (const variant of ['abba']) {
    it(`two-locks/${variant}: the same final states and violations as every schedule`, () => {
      // Bound 12 exceeds any schedule's preemptions here: the unreduced DFS runs them all.
      const full = reach(locks, variant, 1, new BoundedDfs(12, false, false));
      const red = dpor(locks, variant, 1, null);
      expect([...red.digests].sort()).toEqual([...full.digests].sort());
      expect([...red.failures].sort()).toEqual([...full.failures].sort());
      expect(red.runs).toBeLessThan(full.runs);
      expect(red.stats.traces).toBeGreaterThan(0);
      if (variant === 'abba') expect(red.failures).toEqual(new Set(['kernel/stuck']));
    });
  }
});

describe('explore --strategy dpor', () => {
  it('completes on the fixed variant and says how many traces and schedules', () => {
    const r = explore(locks, { variant: 'fixed', strategy: 'dpor', budget: 100_000 });
    expect(r.found).toBe(false);
    expect(r.complete).toBe(true);
    expect(r.dpor!.bound).toBeNull();
    expect(r.dpor!.traces).toBeGreaterThan(0);
    expect(r.dpor!.traces).toBeLessThanOrEqual(r.schedules);
  });

  it('finds the deadlock, with a replay string that replays it, at no more preemptions than the DFS', () => {
    const d = explore(locks, { variant: 'abba', strategy: 'dpor', bound: 2, budget: 100_000 });
    const f = explore(locks, { variant: 'abba', strategy: 'dfs', bound: 2, budget: 100_000 });
    expect(d.found).toBe(true);
    expect(d.failure!.invariant).toBe('kernel/stuck');
    expect(d.failure!.original.preemptions).toBeLessThanOrEqual(f.failure!.original.preemptions);
    expect(d.schedules).toBeLessThanOrEqual(f.schedules);
  });

  it('says why it stopped: the tree done (null), the budget, or the time limit, which only dfs and dpor take', () => {
    const done = explore(lostUpdate, { variant: 'fixed', strategy: 'dpor', bound: 1, budget: 100_000 });
    expect(done).toMatchObject({ complete: true, stoppedBy: null });
    const cut = explore(lostUpdate, { variant: 'fixed', strategy: 'dpor', budget: 3 });
    expect(cut).toMatchObject({ complete: false, stoppedBy: 'budget', schedules: 3 });
    // A tree that is done exactly at its budget is complete, not stopped short.
    expect(explore(lostUpdate, { variant: 'fixed', strategy: 'dpor', bound: 1, budget: done.schedules })).toMatchObject({ complete: true, stoppedBy: null });
    // The clock, driven: the deadline is set at 0 (+ 5 ms); the first schedule starts at 0, the
    // second would at 10. One schedule runs.
    const now = vi.spyOn(performance, 'now');
    try {
      now.mockReturnValueOnce(0).mockReturnValueOnce(0).mockReturnValue(10);
      const timed = explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', budget: 100_000, timeLimitMs: 5, selfCheckEvery: 0 });
      expect(timed).toMatchObject({ complete: false, stoppedBy: 'time', schedules: 1 });
    } finally {
      now.mockRestore();
    }
    const found = explore(lostUpdate, { variant: 'racy', strategy: 'dpor', bound: 1, budget: 100_000, timeLimitMs: 600_000 });
    expect(found).toMatchObject({ found: true, stoppedBy: null });
    expect(explore(lostUpdate, { variant: 'fixed', budget: 16 })).toMatchObject({ stoppedBy: 'budget' });
    expect(() => explore(lostUpdate, { variant: 'fixed', budget: 16, timeLimitMs: 1000 })).toThrow(/timeLimitMs applies to dfs and dpor, not portfolio/);
    expect(() => explore(lostUpdate, { variant: 'fixed', strategy: 'dpor', timeLimitMs: 0 })).toThrow(/timeLimitMs must be an integer >= 1, got 0/);
  });

  it('gives the same answer whatever the worker count (it runs on one thread, as the DFS)', () => {
    const one = explore(lostUpdate, { variant: 'racy', strategy: 'dpor', bound: 1, budget: 100_000, workers: 1 });
    const two = explore(lostUpdate, { variant: 'racy', strategy: 'dpor', bound: 1, budget: 100_000, workers: 2, hostCpus: 2 });
    expect({ ...two, workers: 0, workersCapped: null }).toEqual({ ...one, workers: 0, workersCapped: null });
  });
});

/**
 * A final state's digest up to swapping the two CPUs: the least of the digests of the state and
 * of its mirror image (CPU records swapped, each task's CPU and RCU's pending CPUs renamed). For
 * fixtures whose plugins keep nothing per CPU.
 */
function digestUpToCpus(o: RunOutcome): string {
  const st = o.kernel.state;
  const swap = (c: number): number => (c === 0 ? 1 : c === 1 ? 0 : c);
  const mirror = {
    ...st,
    cpus: [st.cpus[1]!, st.cpus[0]!].map((c) => ({ ...c, id: swap(c.id) })),
    tasks: intMapFrom([...intMapValues(st.tasks)].map((t) => [t.pid, { ...t, cpu: swap(t.cpu) }] as const)),
    rcu: st.rcu.gp === null ? st.rcu : { ...st.rcu, gp: { ...st.rcu.gp, pending: st.rcu.gp.pending.map(swap).sort() } },
  };
  const plain = { ...st, tasks: intMapFrom([...intMapValues(st.tasks)].map((t) => [t.pid, t] as const)) };
  const d = [plain, mirror].map((s) => finalStateDigest({ ...o, kernel: { state: s } as unknown as RunOutcome['kernel'] })).sort();
  return d[0]!;
}

describe('symmetry: a scenario whose CPUs are interchangeable', () => {
  const symmetric = defineScenario({ ...lostUpdate, name: 'lost-update-sym', symmetricCpus: true });

  for (const [variant, bound] of [
    ['fixed', 1],
    ['fixed', 2],
    ['racy', 1],
    ['fixed', null],
  ] as const) {
    it(`lost-update/${variant}, ${bound === null ? 'unbounded' : `bound ${bound}`}: the DFS's final states up to renaming the CPUs, and its violations, in fewer schedules`, () => {
      const plain = new Dpor(bound, true, false);
      const mirrored = new Dpor(bound, true, true);
      const runs = (search: Dpor) => {
        const out = { digests: new Set<string>(), failures: new Set<string>(), runs: 0 };
        for (let p = search.next(); p !== null; p = search.next()) {
          const o = runSchedule(symmetric, variant, 2, p, undefined, search.footprintSink());
          search.record(o);
          out.runs++;
          if (o.done) out.digests.add(digestUpToCpus(o));
          else if (o.violation !== null && isFailure(o)) out.failures.add(o.violation.name);
        }
        return out;
      };
      const without = runs(plain);
      const withRule = runs(mirrored);
      // Bounded: against the unreduced DFS. Unbounded (too large for it): against plain DPOR,
      // which the tests above check against the DFS.
      const full = { digests: new Set<string>(), failures: new Set<string>() };
      if (bound === null) {
        for (const x of without.digests) full.digests.add(x);
        for (const x of without.failures) full.failures.add(x);
      } else {
        const d = new BoundedDfs(bound, true, false);
        for (let p = d.next(); p !== null; p = d.next()) {
          const o = runSchedule(lostUpdate, variant, 2, p);
          d.record(o);
          if (o.done) full.digests.add(digestUpToCpus(o));
          else if (o.violation !== null && isFailure(o)) full.failures.add(o.violation.name);
        }
      }
      expect([...withRule.digests].sort()).toEqual([...full.digests].sort());
      expect([...withRule.failures].sort()).toEqual([...full.failures].sort());
      expect(mirrored.stats.mirrored).toBeGreaterThan(0);
      expect(withRule.runs).toBeLessThan(without.runs);
      if (bound === null) expect(mirrored.stats.traces * 2).toBe(plain.stats.traces);
    });
  }

  it('explore runs the mirror image of schedule 0 and every 16th after it, self-check or not, and refuses a scenario whose CPUs are not alike', () => {
    const r = explore(symmetric, { variant: 'fixed', strategy: 'dpor', bound: 1, budget: 100_000, selfCheckEvery: 0 });
    expect(r.complete).toBe(true);
    expect(r.dpor!.symmetric).toBe(true);
    expect(r.dpor!.mirrorChecks).toBe(Math.ceil(r.schedules / 16));
    expect(r.dpor!.mirrorChecks).toBeGreaterThan(1);
    expect(explore(lostUpdate, { variant: 'fixed', strategy: 'dpor', bound: 1, budget: 100_000 }).dpor!.mirrorChecks).toBeNull();
    // A thread that does one more step on CPU 1 than on CPU 0: the mirror image of a schedule
    // runs other events.
    const lopsided = defineScenario({
      name: 'lopsided',
      description: 'a thread that looks at its CPU',
      source: 'test fixture',
      cpus: 2,
      maxSteps: 100,
      symmetricCpus: true,
      variants: [{ name: 'fixed', description: 'the only one', safe: true }],
      plugins: () => [],
      setup(kernel) {
        for (let i = 0; i < 2; i++)
          kernel.spawnKthread(
            (function* () {
              const me = yield* current();
              if (me.cpu === 1) yield* schedPoint();
              yield* schedPoint();
            })(),
            { comm: `t${i}` },
          );
      },
    });
    expect(() => explore(lopsided, { variant: 'fixed', strategy: 'dpor', budget: 1000 })).toThrow(
      /declares symmetricCpus, but schedule #0 and its mirror image \(CPUs 0 and 1 swapped\) ran differently/,
    );
    // The same steps on either CPU, but a message that names the CPU's role: only the events'
    // payloads tell the mirror image apart.
    const named = defineScenario({
      ...lopsided,
      name: 'named',
      setup(kernel) {
        for (let i = 0; i < 2; i++)
          kernel.spawnKthread(
            (function* () {
              const me = yield* current();
              yield* printk(me.cpu === 0 ? 'the first CPU' : 'the other CPU');
              yield* schedPoint();
            })(),
            { comm: `t${i}` },
          );
      },
    });
    expect(() => explore(named, { variant: 'fixed', strategy: 'dpor', budget: 1000 })).toThrow(
      /ran differently: event \d+ is .*the other CPU.* in the mirror image/,
    );
    expect(() => defineScenario({ ...lopsided, name: 'three', cpus: 3 })).toThrow(/symmetricCpus is for two CPUs .* got cpus 3/);
  });

  it('applies only where every CPU is idle and no task is bound to one', () => {
    const bound = defineScenario({
      ...lostUpdate,
      name: 'lost-update-bound',
      symmetricCpus: true,
      setup(kernel, ctx) {
        lostUpdate.setup(kernel, ctx);
        kernel.spawnKthread(
          (function* () {
            yield* schedPoint();
          })(),
          { comm: 'pinned', cpu: 1 },
        );
      },
    });
    const d = new Dpor(1, true, true);
    for (let p = d.next(); p !== null; p = d.next()) d.record(runSchedule(bound, 'fixed', 2, p, undefined, d.footprintSink()));
    expect(d.stats.mirrored).toBe(0);
  });

  it('defineScenario refuses a symmetricCpus that is not a boolean', () => {
    expect(() => defineScenario({ ...lostUpdate, symmetricCpus: 'yes' as unknown as boolean })).toThrow(/symmetricCpus must be true or false, got "yes"/);
  });
});

describe("a sleeping CPU's footprint: the union over the runs through its node", () => {
  const fp = (writes: string[], updates?: string[]): StepFootprint => ({
    cpu: 0,
    choiceAt: 0,
    reads: [],
    writes,
    ...(updates ? { updates } : {}),
    clockRead: false,
    observed: [],
  });

  it('keeps an object an update only while no run wrote it plainly, and adds what a run adds', () => {
    const both = unionFp(fp(['kernel'], ['kernel']), fp(['kernel'], ['kernel']));
    expect(both.updates).toEqual(['kernel']);
    // A run that wrote it plainly: the union writes it plainly (it conflicts with another update).
    for (const u of [unionFp(fp(['kernel'], ['kernel']), fp(['kernel'])), unionFp(fp(['kernel']), fp(['kernel'], ['kernel']))]) {
      expect(u.updates ?? []).not.toContain('kernel');
      expect(footprintsConflict({ ...u, cpu: 0 }, { ...fp(['kernel'], ['kernel']), cpu: 1 })).toBe(true);
    }
    // A run that repeats what the union has returns it as it is; one that reads more extends it.
    const a = fp(['task:1'], []);
    expect(unionFp(a, fp(['task:1']))).toBe(a);
    expect(unionFp(a, { ...fp([]), reads: ['lock:m'] }).reads).toEqual(['lock:m']);
    expect(unionFp(a, { ...fp([]), clockRead: true }).clockRead).toBe(true);
  });
});

describe('a check that declares its reads (core InvariantOptions.reads)', () => {
  // flag-pair: the flag steps touch different task records; only the check orders them.
  const violations = (variant: string, search: { next(): Picker | null; record(o: RunOutcome): void }, dpor: Dpor | null): Set<string> => {
    const out = new Set<string>();
    for (let p = search.next(); p !== null; p = search.next()) {
      const o = runSchedule(flagPair, variant, 1, p, undefined, dpor?.footprintSink());
      search.record(o);
      if (o.violation !== null && isFailure(o)) out.add(o.violation.name);
    }
    return out;
  };
  for (const bound of [2, 3, null] as const) {
    it(`bound ${bound ?? 'none'}: DPOR finds the interleaved state the unreduced DFS finds, with tflags:* declared as with the reads recorded`, () => {
      for (const variant of ['declared', 'recorded']) {
        expect(violations(variant, new BoundedDfs(bound ?? 12, true, false), null), `dfs ${variant}`).toEqual(new Set(['flag-pair/order']));
      }
      const dporOf = (variant: string): Set<string> => {
        const d = new Dpor(bound);
        return violations(variant, d, d);
      };
      expect(dporOf('declared')).toEqual(new Set(['flag-pair/order']));
      expect(dporOf('recorded')).toEqual(new Set(['flag-pair/order']));
    });
  }

  it('observes the declared objects, not what it reads: tflags:* where the view records the task table', () => {
    const observed = (variant: string): Set<string> => {
      const d = new Dpor(1);
      const out = new Set<string>();
      const sink = d.footprintSink();
      const o = runSchedule(flagPair, variant, 1, d.next()!, undefined, (f) => {
        for (const x of f.observed) out.add(x);
        sink(f);
      });
      expect(o.done).toBe(true);
      return out;
    };
    expect([...observed('declared')]).toContain('tflags:*');
    expect([...observed('declared')].some((x) => x.startsWith('task'))).toBe(false);
    expect([...observed('recorded')]).toContain('task:*');
  });
});

describe('the checks order two steps only when one owner reads both (StepFootprint.observedBy)', () => {
  // check-order: two steps on different objects; nothing but the checks can race them.
  it('the default run does not reach the refused state: a search finds it only by racing the two steps', () => {
    for (const variant of ['flags', 'joined', 'joined-crowded']) {
      const d = new Dpor(null);
      const o = runSchedule(checkOrder, variant, 1, d.next()!, undefined, d.footprintSink());
      expect({ variant, done: o.done, violation: o.violation }).toEqual({ variant, done: true, violation: null });
    }
  });

  for (const bound of [1, 2, null] as const) {
    it(`bound ${bound ?? 'none'}: DPOR finds what only one check's reads order (a declared tflags:* read; a plugin check reading two slices)`, () => {
      for (const variant of ['flags', 'joined', 'joined-crowded']) {
        const full = reach(checkOrder, variant, 1, new BoundedDfs(bound ?? 12, true, false));
        expect(full.failures, `dfs ${variant}`).toEqual(new Set(['check-order/between']));
        const red = dpor(checkOrder, variant, 1, bound);
        expect(red.failures, `dpor ${variant}`).toEqual(full.failures);
        expect(red.stats.backtrackReasons['observed:order-a'] ?? 0, variant).toBeGreaterThan(0);
      }
    });
  }

  it("one owner's checks reading both objects race the steps; two owners' checks, one object each, do not", () => {
    const one = dpor(checkOrder, 'one-owner', 1, null);
    const two = dpor(checkOrder, 'two-owners', 1, null);
    const none = dpor(checkOrder, 'unchecked', 1, null);
    const full = reach(checkOrder, 'two-owners', 1, new BoundedDfs(12, true, false));
    // The same final states as the unreduced DFS either way (none of these checks can fail).
    expect([...one.digests].sort()).toEqual([...full.digests].sort());
    expect([...two.digests].sort()).toEqual([...full.digests].sort());
    expect(one.failures.size + two.failures.size).toBe(0);
    // Two owners' checks add no trace to the unchecked search; one owner's add the steps' orders.
    expect(two.stats.traces).toBe(none.stats.traces);
    expect(one.stats.traces).toBeGreaterThan(two.stats.traces);
    expect(one.stats.backtrackReasons['observed:order-a'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(two.stats.backtrackReasons).filter((r) => r.startsWith('observed'))).toEqual([]);
  });

  it('records what each owner read after each step, the host as (host)', () => {
    const owners = new Map<string, Set<string>>();
    const d = new Dpor(null);
    const sink = d.footprintSink();
    runSchedule(checkOrder, 'two-owners', 1, d.next()!, undefined, (f) => {
      for (const g of f.observedBy ?? []) for (const o of g.objects) (owners.get(g.owner) ?? owners.set(g.owner, new Set()).get(g.owner)!).add(o);
      expect(new Set((f.observedBy ?? []).flatMap((g) => g.objects))).toEqual(new Set(f.observed));
      sink(f);
    });
    expect(Object.fromEntries([...owners].map(([k, v]) => [k, [...v]]))).toEqual({ 'order-a': ['plugin:order-a'], 'order-b': ['plugin:order-b'] });
  });
});
