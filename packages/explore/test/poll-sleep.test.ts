import { describe, expect, it } from 'vitest';
import { callRcu, current, definePlugin, emit, getState, intMapGet, msleep, pollSleep, schedPoint, type KernelState } from '@tracelab/core';
import { auditReduction, defineScenario, explore, finalStateDigest } from '../src/index.js';
import { BoundedDfs } from '../src/internal/dfs.js';
import { KernelPool, isFailure, runSchedule } from '../src/internal/run.js';

/**
 * `pollSleep` sets aside the looks of a poll loop that would fail while nothing else is timed
 * (docs/core.md, "Poll loops"). The claim: the kernel reaches the same final states and
 * violations as the one whose loop waits with `msleep`, timestamps aside (`finalStateDigest`; the
 * poller has exited by the end, so its switch counts are not in the final state). Here a
 * poller waits for a worker that raises a counter three times; between the first and second raise
 * it is busy three steps (no timer pending: the looks are set aside), sleeps two ticks (its timer
 * pending: the poller looks each tick) and is busy one more. The poller records the count it found. Both
 * kernels are searched without reduction within two preemptions, and their final states compared.
 */

declare module '@tracelab/core' {
  interface EventMap {
    'pw/raise': { by: 'worker' };
    'pw/seen': { count: number };
    'ob/raise': { by: 'worker' };
    'ob/seen': { what: string; value: number };
  }
}

const COUNT = 3;

const counter = definePlugin<Record<string, never>, { count: number; seen: number }>({
  name: 'pw',
  version: '0.1.0',
  core: '^0.1.0',
  register(ctx) {
    ctx.initSlice({ count: 0, seen: -1 });
    ctx.onReset();
    ctx.on('pw/raise', (s) => {
      s.count++;
    });
    ctx.on('pw/seen', (s, e) => {
      s.seen = e.count;
    });
    return {};
  },
});

const count = (s: KernelState): number => (s.plugins['pw'] as { count: number }).count;

const pollWait = defineScenario({
  name: 'poll-wait',
  description: 'a poller waiting, a tick between looks, for a worker to raise a counter to 3',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [
    { name: 'msleep', description: 'the loop waits with msleep(1)', safe: true },
    { name: 'poll-sleep', description: 'the loop waits with pollSleep(1, done)', safe: true },
  ],
  plugins: () => [counter],
  pollLoops: () => 'on-change',
  setup(kernel, { variant }) {
    kernel.spawnKthread(
      (function* worker() {
        yield* emit({ type: 'pw/raise', by: 'worker' });
        for (let i = 0; i < 3; i++) yield* schedPoint();
        yield* msleep(2);
        yield* schedPoint();
        yield* emit({ type: 'pw/raise', by: 'worker' });
        yield* schedPoint();
        yield* emit({ type: 'pw/raise', by: 'worker' });
      })(),
      { comm: 'worker' },
    );
    kernel.spawnKthread(
      (function* poller() {
        const done = (s: KernelState): boolean => count(s) >= 2;
        for (;;) {
          const s = yield* getState();
          if (done(s)) {
            yield* emit({ type: 'pw/seen', count: count(s) });
            return;
          }
          if (variant === 'msleep') yield* msleep(1);
          else yield* pollSleep(1, done);
        }
      })(),
      { comm: 'poller' },
    );
  },
});

/** What the unreduced DFS within `bound` reaches: final states and violations, the schedules run, the runs cut. */
function reached(variant: string, bound: number): { states: Set<string>; violations: Set<string>; schedules: number; cut: number; seen: Set<number> } {
  const tree = new BoundedDfs(bound, true, false);
  const pool = new KernelPool();
  const r = { states: new Set<string>(), violations: new Set<string>(), schedules: 0, cut: 0, seen: new Set<number>() };
  for (let p = tree.next(); p !== null; p = tree.next()) {
    const o = runSchedule(pollWait, variant, 1, p, pool);
    tree.record(o);
    r.schedules++;
    if (o.done) {
      r.states.add(finalStateDigest(o));
      r.seen.add((o.kernel.state.plugins['pw'] as { seen: number }).seen);
    } else if (o.violation !== null && isFailure(o)) r.violations.add(o.violation.name);
    else r.cut++;
  }
  return r;
}

describe('pollSleep against msleep in the same poll loop', () => {
  it('reaches the same final states, timestamps aside (finalStateDigest), with fewer schedules and no run cut', () => {
    const polling = reached('msleep', 2);
    const set = reached('poll-sleep', 2);
    expect(set.violations).toEqual(polling.violations);
    expect([...set.states].sort()).toEqual([...polling.states].sort());
    // The poller found the counter at 2 and at 3 (it looked between the raises, and after).
    expect([...set.seen].sort()).toEqual([2, 3]);
    expect(set.cut).toBe(0);
    expect(set.schedules).toBeLessThan(polling.schedules);
  });

  it('DPOR reaches what the unreduced DFS reaches within 1, 2 and 3 preemptions, and verifies the poll-sleep loop within 3', () => {
    // Unbounded, the tree is large (more than 50,000 traces): the worker may be preempted at each
    // of its points, for the poller, and picked up by either CPU.
    for (const bound of [1, 2, 3]) {
      const a = auditReduction(pollWait, { variant: 'poll-sleep', bound });
      expect(a.missed).toEqual([]);
      expect(a.extra).toEqual([]);
      expect(a.agrees).toBe(true);
    }
    const r = explore(pollWait, { variant: 'poll-sleep', strategy: 'dpor', bound: 3, budget: 100_000, shrink: false });
    expect(r.complete).toBe(true);
    expect(r.found).toBe(false);
    expect(r.cut).toBe(0);
  });
});

/**
 * What the rule must not set aside: looks that something in the kernel could tell from none
 * (docs/core.md, "Poll loops"). In each fixture a worker raises a counter three times with a
 * preemption point after each, and a poller waits for 3; the plugin keeps what it observed.
 * - `rcu`: the worker queues an RCU-sched callback first, which records the count when it runs.
 *   In the polling kernel the poller's wake-ups let the worker be preempted at its points, and
 *   each such switch is a quiescent state: the callback can see 1, 2 or 3.
 * - `hook`: a context-switch hook records the count at every switch, the poller's included.
 * - `preempt`: the worker records the CPUs it raised on, in order; the poller's wake-ups let it
 *   be preempted at its points and moved to the other CPU.
 */
const observer = (hook: boolean) =>
  definePlugin<Record<string, never>, { count: number; seen: string[] }>({
    name: 'ob',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ count: 0, seen: [] });
      ctx.onReset();
      ctx.on('ob/raise', (s) => {
        s.count++;
      });
      ctx.on('ob/seen', (s, e) => {
        const k = `${e.what}:${e.value}`;
        if (!s.seen.includes(k)) s.seen = [...s.seen, k].sort();
      });
      if (hook)
        ctx.tap('contextSwitch', function* () {
          yield* emit({ type: 'ob/seen', what: 'switch', value: obCount(yield* getState()) });
        });
      return {};
    },
  });

const obCount = (s: KernelState): number => (s.plugins['ob'] as { count: number }).count;

function observed(kind: 'rcu' | 'hook' | 'preempt') {
  return defineScenario({
    name: `poll-observed-${kind}`,
    description: `a poll loop whose looks a ${kind} observer can tell from none`,
    source: 'test fixture',
    cpus: 2,
    maxSteps: 150,
    variants: [
      { name: 'msleep', description: 'the loop waits with msleep(1)', safe: true },
      { name: 'poll-sleep', description: 'the loop waits with pollSleep(1, done)', safe: true },
    ],
    plugins: () => [observer(kind === 'hook')],
    pollLoops: () => 'on-change',
    setup(kernel, { variant }) {
      let poller = -1;
      kernel.spawnKthread(
        (function* worker() {
          // After the poller's first look: what follows happens while it waits.
          while ((intMapGet((yield* getState()).tasks, poller)?.nvcsw ?? 0) === 0) yield* schedPoint();
          if (kind === 'rcu') {
            yield* callRcu(function* () {
              yield* emit({ type: 'ob/seen', what: 'callback', value: obCount(yield* getState()) });
            });
          }
          let cpus = 0;
          for (let i = 0; i < COUNT; i++) {
            cpus = cpus * 10 + (yield* current()).cpu;
            yield* emit({ type: 'ob/raise', by: 'worker' });
            yield* schedPoint();
          }
          if (kind === 'preempt') yield* emit({ type: 'ob/seen', what: 'cpus', value: cpus });
        })(),
        { comm: 'worker' },
      );
      poller = kernel.spawnKthread(
        (function* () {
          const done = (s: KernelState): boolean => obCount(s) >= COUNT;
          while (!done(yield* getState())) yield* variant === 'msleep' ? msleep(1) : pollSleep(1, done);
        })(),
        { comm: 'poller' },
      );
    },
  });
}

function observations(kind: 'rcu' | 'hook' | 'preempt', variant: string): { seen: Set<string>; states: Set<string> } {
  const sc = observed(kind);
  const tree = new BoundedDfs(2, true, false);
  const pool = new KernelPool();
  const r = { seen: new Set<string>(), states: new Set<string>() };
  for (let p = tree.next(); p !== null; p = tree.next()) {
    const o = runSchedule(sc, variant, 1, p, pool);
    tree.record(o);
    if (!o.done) continue;
    r.states.add(finalStateDigest(o));
    for (const x of (o.kernel.state.plugins['ob'] as { seen: string[] }).seen) r.seen.add(x);
  }
  return r;
}

describe('Scenario.pollLoops', () => {
  it("creates the variant's kernels with it, and defineScenario refuses one that is not a function", () => {
    const o = runSchedule(pollWait, 'poll-sleep', 1, { pick: () => 0 }, new KernelPool());
    expect(o.kernel.log[0]).toMatchObject({ type: 'kernel/created', pollLoops: 'on-change' });
    expect(() => defineScenario({ ...pollWait, name: 'poll-wait-bad', pollLoops: 'on-change' as unknown as () => 'on-change' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: 'scenario "poll-wait-bad": pollLoops must be a function of the variant, got string' }),
    );
  });
});

describe('pollSleep keeps the looks an observer can tell from none', () => {
  it('rcu: an RCU-sched callback queued while the poller waits sees the count at 1, 2 and 3, as with msleep', () => {
    const polling = observations('rcu', 'msleep');
    const set = observations('rcu', 'poll-sleep');
    expect([...polling.seen].filter((x) => x.startsWith('callback')).sort()).toEqual(['callback:1', 'callback:2', 'callback:3']);
    expect([...set.seen].sort()).toEqual([...polling.seen].sort());
    expect([...set.states].sort()).toEqual([...polling.states].sort());
  });

  it("hook: a context-switch hook sees the same counts at switches, the poller's included", () => {
    const polling = observations('hook', 'msleep');
    const set = observations('hook', 'poll-sleep');
    expect(polling.seen.size).toBeGreaterThan(2);
    expect([...set.seen].sort()).toEqual([...polling.seen].sort());
  });

  it("preempt: the worker is preempted at its points and moves CPU as the poller's wake-ups let it, as with msleep", () => {
    const polling = observations('preempt', 'msleep');
    const set = observations('preempt', 'poll-sleep');
    // Runs in which the worker moved between two raises (CPUs 0 then 1, or 1 then 0).
    const moved = (seen: Set<string>): string[] => [...seen].filter((x) => x.startsWith('cpus:') && !['cpus:0', 'cpus:111'].includes(x)).sort();
    expect(moved(polling.seen).length).toBeGreaterThan(0);
    expect(moved(set.seen)).toEqual(moved(polling.seen));
    expect([...set.seen].sort()).toEqual([...polling.seen].sort());
    expect([...set.states].sort()).toEqual([...polling.states].sort());
  });
});
