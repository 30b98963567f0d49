import { describe, expect, it } from 'vitest';
import {
  definePlugin,
  emit,
  msleep,
  rcuIdleEnter,
  rcuIdleExit,
  schedPoint,
  synchronizeRcu,
  type Kernel,
  type KernelEvent,
  type KPath,
  type Program,
} from '@tracelab/core';
import { rcuTasksKernel } from './helpers.js';

/**
 * The Tasks-Rude flavour (SEMANTICS.md §6, "RCU not watching in the idle loop and Tasks-Rude"):
 * synchronize_rcu_tasks_rude returns only once every CPU, idle ones included, has passed a
 * context switch, so an idle routine running where RCU is not watching when it was called has
 * finished. RCU-sched does not wait for it: the idle loop's extended quiescent state counts.
 */

declare module '@tracelab/core' {
  interface EventMap {
    'idle-routine/in': { routine: number };
    'idle-routine/out': { routine: number };
  }
}

/** An instrumented idle routine that runs with RCU not watching across three scheduling points. */
function idleRoutine() {
  return definePlugin({
    name: 'idle-routine',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.declareEvents(['idle-routine/in', 'idle-routine/out']);
      // Routine numbers: written only by the idle hook, in the step that begins a routine.
      let next = 0;
      ctx.onReset(() => (next = 0));
      ctx.tap('idle', function* routine() {
        const n = next++;
        yield* rcuIdleEnter();
        yield* emit({ type: 'idle-routine/in', routine: n });
        for (let i = 0; i < 3; i++) yield* schedPoint();
        yield* emit({ type: 'idle-routine/out', routine: n });
        yield* rcuIdleExit();
      });
      return {};
    },
  });
}

const napper: Program = function* napper(u) {
  for (let i = 0; i < 4; i++) {
    yield u.syscall('getpid');
    yield u.sleep(2);
  }
};

type Wait = 'rude' | 'rcu-sched';

/** A waiter that runs `rounds` grace periods of the given kind, with naps between, beside two nappers. */
function kernelFor(seed: number, wait: Wait): Kernel {
  const k = rcuTasksKernel({ seed, cpus: 2, extra: [idleRoutine()] });
  k.spawnKthread(
    (function* waiter(): KPath<void> {
      for (let i = 0; i < 4; i++) {
        yield* msleep(1 + (i % 2));
        yield* emit({ type: 'idle-routine/in', routine: -1 - i }); // a marker: the wait begins
        if (wait === 'rude') yield* k.api['rcu-tasks'].synchronizeRcuTasksRude();
        else yield* synchronizeRcu();
        yield* emit({ type: 'idle-routine/out', routine: -1 - i }); // the wait returned
      }
    })(),
    { comm: 'waiter' },
  );
  k.spawn(napper);
  k.spawn(napper);
  return k;
}

/**
 * `bad`: waits that returned while an idle routine in progress when they began was still
 * running; `covered`: waits that began with a routine in progress (what makes the check bite).
 */
function waitsEndedUnderARoutine(k: Kernel): { bad: number; covered: number } {
  const running = new Set<number>();
  const atStart = new Map<number, Set<number>>();
  let bad = 0;
  let covered = 0;
  for (const e of k.log) {
    if (e.type === 'idle-routine/in') {
      if (e.routine >= 0) running.add(e.routine);
      else {
        atStart.set(e.routine, new Set(running));
        if (running.size > 0) covered++;
      }
    } else if (e.type === 'idle-routine/out') {
      if (e.routine >= 0) running.delete(e.routine);
      else if ([...atStart.get(e.routine)!].some((r) => running.has(r))) bad++;
    }
  }
  return { bad, covered };
}

describe('synchronizeRcuTasksRude', () => {
  it('runs a worker bound to each CPU and returns after all of them', () => {
    const k = kernelFor(1, 'rude');
    const r = k.run({ maxSteps: 50_000 });
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    const starts = k.log.filter((e) => e.type === 'rcu-tasks/rude-start');
    expect(starts.length).toBe(4);
    for (const s of starts) {
      const mine = k.log.filter((e): e is KernelEvent<'rcu-tasks/rude-cpu'> => e.type === 'rcu-tasks/rude-cpu' && e.pid === s.pid && e.seq > s.seq);
      const end = k.log.find((e) => e.type === 'rcu-tasks/rude-end' && e.pid === s.pid && e.seq > s.seq)!;
      const before = mine.filter((e) => e.seq < end.seq);
      // One worker per CPU ran, each on its own CPU, before the wait returned.
      expect(before.map((e) => e.cpu).sort()).toEqual([0, 1]);
      for (const w of before) expect(k.log.find((e) => e.type === 'task/spawned' && e.pid === w.worker)).toMatchObject({ boundCpu: w.cpu, kthread: true });
    }
  });

  it('never returns while an idle routine RCU is not watching (in progress at the call) still runs, over 60 seeds; RCU-sched does, in some', () => {
    let rcuSchedUnder = 0;
    let rudeCovered = 0;
    let waits = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const rude = kernelFor(seed, 'rude');
      expect(rude.run({ maxSteps: 50_000 }).violations).toEqual([]);
      const r = waitsEndedUnderARoutine(rude);
      expect(r.bad).toBe(0);
      rudeCovered += r.covered;
      waits += rude.log.filter((e) => e.type === 'rcu-tasks/rude-end').length;
      const sched = kernelFor(seed, 'rcu-sched');
      sched.run({ maxSteps: 50_000 });
      rcuSchedUnder += waitsEndedUnderARoutine(sched).bad;
    }
    expect(waits).toBe(240);
    // Many Rude waits began with an idle CPU inside its routine.
    expect(rudeCovered).toBeGreaterThan(20);
    // The idle loop's extended quiescent state satisfies RCU-sched: the difference is real.
    expect(rcuSchedUnder).toBeGreaterThan(0);
  });
});
