import { describe, expect, test } from 'vitest';
import { getState, msleep, schedPoint, type KPath } from '@tracelab/core';
import { KTHREAD_COMM } from '@tracelab/rcu-tasks';
import { eventsOf, expectClean, seeds } from '@tracelab/testing';
import { cb, kernelSection, rcuTasksKernel } from './helpers.js';

describe('callRcuTasks and the GP kthread', () => {
  test('the kthread starts on the first call, batches every queued callback into one GP, runs them in order, and exits when idle', () => {
    const k = rcuTasksKernel();
    const ran: number[] = [];
    const api = k.api['rcu-tasks'];
    k.spawnKthread(
      (function* () {
        for (let i = 0; i < 5; i++) {
          yield* api.callRcuTasks(
            cb(() => ran.push(i)),
            `cb${i}`,
          );
        }
      })(),
      { comm: 'queuer' },
    );
    const r = k.run();
    expectClean(k, r);
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    const starts = eventsOf(k, 'rcu-tasks/gp-start');
    expect(starts.map((e) => [e.gp, e.first, e.last])).toEqual([[1, 1, 5]]);
    const kt = eventsOf(k, 'rcu-tasks/kthread-start');
    expect(kt).toHaveLength(1);
    expect(k.log.find((e) => e.type === 'task/spawned' && e.pid === kt[0]!.pid)).toMatchObject({ comm: KTHREAD_COMM.tasks, kthread: true });
    expect(eventsOf(k, 'rcu-tasks/kthread-exit').map((e) => e.pid)).toEqual([kt[0]!.pid]);
    expect(eventsOf(k, 'rcu-tasks/callback-invoked').map((e) => e.label)).toEqual(['cb0', 'cb1', 'cb2', 'cb3', 'cb4']);
    expect(k.api['rcu-tasks'].completed()).toBe(1);
    expect(k.state.plugins['rcu-tasks']!.tasks.kthread).toBeNull();
  });

  test('a callback queued after the list was taken waits for the next grace period', () => {
    for (const seed of seeds(10)) {
      const k = rcuTasksKernel({ seed });
      const api = k.api['rcu-tasks'];
      const ids: number[] = [];
      k.spawnKthread(
        (function* (): KPath<void> {
          ids.push(yield* api.callRcuTasks(cb(), 'A'));
          // Wait until the GP kthread has taken the list, then queue B.
          while ((yield* getState()).plugins['rcu-tasks']!.tasks.gp === null) yield* msleep(1);
          ids.push(yield* api.callRcuTasks(cb(), 'B'));
        })(),
        { comm: 'queuer' },
      );
      const r = k.run();
      expectClean(k, r);
      const invoked = eventsOf(k, 'rcu-tasks/callback-invoked');
      expect(invoked.map((e) => [e.label, e.gp])).toEqual([
        ['A', 1],
        ['B', 2],
      ]);
      const end1 = eventsOf(k, 'rcu-tasks/gp-end').find((e) => e.gp === 1)!;
      const start2 = eventsOf(k, 'rcu-tasks/gp-start').find((e) => e.gp === 2)!;
      const queuedB = eventsOf(k, 'rcu-tasks/callback-queued').find((e) => e.label === 'B')!;
      expect(queuedB.seq).toBeLessThan(end1.seq); // B was queued while GP 1 was running...
      expect([start2.first, start2.last]).toEqual([ids[1], ids[1]]); // ...and GP 2 took it
      expect(invoked[1]!.seq).toBeGreaterThan(eventsOf(k, 'rcu-tasks/gp-end').find((e) => e.gp === 2)!.seq);
    }
  });

  test('under a flood, callbacks are batched (far fewer GPs than callbacks), each runs once, in queue order', () => {
    const k = rcuTasksKernel({ seed: 3 });
    const api = k.api['rcu-tasks'];
    const ran: number[] = [];
    for (let q = 0; q < 3; q++) {
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 20; i++) {
            const id = yield* api.callRcuTasks(cb(() => ran.push(id)));
            yield* msleep(1);
          }
        })(),
        { comm: `flood${q}` },
      );
    }
    const r = k.run();
    expectClean(k, r);
    expect(ran).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const gps = eventsOf(k, 'rcu-tasks/gp-start');
    expect(gps.length).toBeLessThan(20);
    expect(gps.reduce((a, g) => a + g.last - g.first + 1, 0)).toBe(60);
  });

  test('synchronizeRcuTasks returns only after every task in a kernel section at the call has left it', () => {
    let checked = 0;
    for (const seed of seeds(20)) {
      const k = rcuTasksKernel({ seed });
      const inside = new Set<number>();
      for (let i = 0; i < 3; i++) {
        k.spawnKthread(
          (function* (): KPath<void> {
            yield* msleep(1 + i);
            inside.add(i);
            for (let j = 0; j < 40; j++) yield* schedPoint();
            inside.delete(i);
            yield* msleep(2);
          })(),
          { comm: `reader${i}` },
        );
      }
      let before: number[] = [];
      let after: number[] = [];
      k.spawnKthread(
        (function* (): KPath<void> {
          yield* msleep(5);
          before = [...inside];
          yield* k.api['rcu-tasks'].synchronizeRcuTasks();
          after = before.filter((i) => inside.has(i));
        })(),
        { comm: 'updater' },
      );
      const r = k.run();
      expectClean(k, r);
      expect(after).toEqual([]);
      if (before.length > 0) checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  test('rcuBarrierTasks waits for every callback queued before it, including ones queued during a GP in progress', () => {
    for (const seed of seeds(10)) {
      const k = rcuTasksKernel({ seed });
      const api = k.api['rcu-tasks'];
      const ran = new Set<number>();
      const queued: number[] = [];
      let missing: number[] | null = null;
      for (let q = 0; q < 2; q++) {
        k.spawnKthread(
          (function* (): KPath<void> {
            for (let i = 0; i < 4; i++) {
              const id = yield* api.callRcuTasks(cb(() => ran.add(id)));
              queued.push(id);
              yield* msleep(2 + q);
            }
          })(),
          { comm: `q${q}` },
        );
      }
      k.spawnKthread(
        (function* (): KPath<void> {
          yield* msleep(6);
          const before = [...queued];
          yield* api.rcuBarrierTasks();
          missing = before.filter((id) => !ran.has(id));
        })(),
        { comm: 'barrier' },
      );
      const r = k.run();
      expectClean(k, r);
      expect(missing).toEqual([]);
      expect(ran.size).toBe(8);
    }
  });

  test('the kthread is restarted by a call after it exited, and run() still ends with done', () => {
    const k = rcuTasksKernel();
    const api = k.api['rcu-tasks'];
    k.call(api.synchronizeRcuTasks());
    expect(k.run().done).toBe(true);
    k.call(api.synchronizeRcuTasks());
    const r = k.run();
    expectClean(k, r);
    const starts = eventsOf(k, 'rcu-tasks/kthread-start');
    const exits = eventsOf(k, 'rcu-tasks/kthread-exit');
    expect(starts).toHaveLength(2);
    expect(exits.map((e) => e.pid)).toEqual(starts.map((e) => e.pid));
    expect(starts[1]!.pid).not.toBe(starts[0]!.pid);
    expect(api.completed()).toBe(2);
  });

  test('a callback that blocks or throws is abandoned and logged; the others still run and the kthread goes on', () => {
    const k = rcuTasksKernel();
    const api = k.api['rcu-tasks'];
    const ran: string[] = [];
    k.call(
      (function* (): KPath<void> {
        yield* api.callRcuTasks(
          cb(() => ran.push('a')),
          'a',
        );
        yield* api.callRcuTasks(function* () {
          yield* msleep(1);
          ran.push('sleeper');
        }, 'sleeper');
        // eslint-disable-next-line require-yield -- it throws at its first step, on purpose
        yield* api.callRcuTasks(function* () {
          throw new Error('boom');
        }, 'thrower');
        yield* api.rcuBarrierTasks();
      })(),
    );
    const r = k.run();
    expect(r.done).toBe(true);
    expect(ran).toEqual(['a']);
    const failed = eventsOf(k, 'rcu-tasks/callback-failed');
    expect(failed.map((e) => e.label)).toEqual(['sleeper', 'thrower']);
    expect(failed[0]!.message).toMatch(/tried to sleep or reschedule \(switch\)/);
    expect(failed[1]!.message).toBe('boom');
    expect(k.violations).toEqual([]);
  });

  test('the same seed gives the same log', () => {
    const run = () => {
      const k = rcuTasksKernel({ seed: 9 });
      for (let i = 0; i < 2; i++) k.spawnKthread(kernelSection(30, 2), { comm: 'r' });
      k.spawnKthread(k.api['rcu-tasks'].synchronizeRcuTasks(), { comm: 'u' });
      k.run();
      return k.logHash();
    };
    expect(run()).toBe(run());
  });
});

describe('issue 13: callbacks written as plain functions', () => {
  test('run after the grace period like generator callbacks', () => {
    const k = rcuTasksKernel();
    const ran: string[] = [];
    const api = k.api['rcu-tasks'];
    k.spawnKthread(
      (function* () {
        yield* api.callRcuTasks(() => {
          ran.push('tasks');
        }, 'plain');
        yield* api.callRcuTasksTrace(() => {
          ran.push('trace');
        }, 'plain-trace');
        yield* api.rcuBarrierTasks();
        yield* api.rcuBarrierTasksTrace();
      })(),
      { comm: 'queuer' },
    );
    const r = k.run();
    expectClean(k, r);
    expect(ran.sort()).toEqual(['tasks', 'trace']);
    expect(
      eventsOf(k, 'rcu-tasks/callback-invoked')
        .map((e) => e.label)
        .filter((l) => l.startsWith('plain'))
        .sort(),
    ).toEqual(['plain', 'plain-trace']);
  });
});
