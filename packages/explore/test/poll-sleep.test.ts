import { describe, expect, it } from 'vitest';
import { definePlugin, emit, getState, msleep, pollSleep, schedPoint, type KernelState } from '@tracelab/core';
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

  it('DPOR reaches what the unreduced DFS reaches, and verifies the poll-sleep loop unbounded', () => {
    for (const bound of [1, 2, null]) {
      const a = auditReduction(pollWait, { variant: 'poll-sleep', bound });
      expect(a.missed).toEqual([]);
      expect(a.extra).toEqual([]);
      expect(a.agrees).toBe(true);
    }
    const r = explore(pollWait, { variant: 'poll-sleep', strategy: 'dpor', budget: 100_000, shrink: false });
    expect(r.complete).toBe(true);
    expect(r.found).toBe(false);
    expect(r.cut).toBe(0);
  });
});
