import { describe, expect, test } from 'vitest';
import { msleep, replay, type KPath } from '@tracelab/core';
import { formatRcuTasksSummary, rcuTasks, summarizeRcuTasks } from '@tracelab/rcu-tasks';
import { eventsOf, expectClean } from '@tracelab/testing';
import { busySyscall, cb, kernelSection, rcuTasksKernel, userLoad } from './helpers.js';

describe('summarizeRcuTasks', () => {
  test('reports every GP with its latency, the batching and the totals, the same from a replayed log', () => {
    const k = rcuTasksKernel({ seed: 6 });
    const api = k.api['rcu-tasks'];
    k.spawnKthread(kernelSection(60, 1), { comm: 'reader' });
    userLoad(k, 2, 100);
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < 4; i++) yield* api.callRcuTasks(cb(), `free${i}`);
        yield* api.synchronizeRcuTasks();
        yield* api.rcuReadLockTrace();
        yield* msleep(3);
        yield* api.rcuReadUnlockTrace();
        yield* api.synchronizeRcuTasksTrace();
      })(),
      { comm: 'updater' },
    );
    const r = k.run();
    expectClean(k, r);
    const s = summarizeRcuTasks(k.log);
    const starts = eventsOf(k, 'rcu-tasks/gp-start');
    const ends = eventsOf(k, 'rcu-tasks/gp-end');
    expect(s.gps.map((g) => [g.flavour, g.gp, g.start, g.end, g.latency])).toEqual(
      starts.map((st) => {
        const end = ends.find((e) => e.flavour === st.flavour && e.gp === st.gp)!;
        return [st.flavour, st.gp, st.time, end.time, end.time - st.time];
      }),
    );
    expect(s.tasks.queued).toBe(5);
    expect(s.tasks.invoked).toBe(5);
    expect(s.tasks.completed).toBe(starts.filter((e) => e.flavour === 'tasks').length);
    expect(s.tasks.callbacksPerGp).toBe(5 / s.tasks.completed);
    expect(s.trace).toMatchObject({ started: 1, completed: 1, queued: 1, invoked: 1 });
    expect(s.traceSections).toBe(1);
    const lines = formatRcuTasksSummary(s);
    expect(lines[0]).toMatch(/^ {2}rcu-tasks: \d+ of \d+ grace periods completed, latency min \d+ \/ mean [\d.]+ \/ max \d+ ticks; 5 of 5 callbacks invoked/);
    expect(lines.some((l) => l.startsWith('  rcu-tasks-trace: 1 of 1 grace periods completed'))).toBe(true);

    const again = replay(k.log, { plugins: [busySyscall(), rcuTasks()] });
    expect(again.logHash()).toBe(k.logHash());
    expect(summarizeRcuTasks(again.log)).toEqual(s);
    expect(again.state.plugins['rcu-tasks']).toEqual(k.state.plugins['rcu-tasks']);
  });

  test('prints nothing for a run that never used RCU-tasks', () => {
    const k = rcuTasksKernel();
    k.run();
    expect(formatRcuTasksSummary(summarizeRcuTasks(k.log))).toEqual([]);
  });
});
