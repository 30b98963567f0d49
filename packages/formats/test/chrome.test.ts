import { describe, expect, it } from 'vitest';
import { createKernel, rcuReadLock, rcuReadUnlock, schedPoint, synchronizeRcu, type KernelEvent } from '@tracelab/core';
import { CPUS_PID, TASKS_PID, toChromeTrace, validateChromeTrace, type ChromeTraceEvent } from '@tracelab/formats';

function workload() {
  const k = createKernel({ cpus: 2, seed: 5 });
  k.spawn(function* sh(u) {
    for (let i = 0; i < 3; i++) {
      yield u.fork(function* cc(u2) {
        yield u2.syscall('open', { path: `/src/${i}.c` });
        yield u2.compute(5);
        yield u2.exit(0);
      });
    }
    for (let i = 0; i < 3; i++) yield u.wait();
  });
  k.spawnKthread(
    (function* () {
      yield* rcuReadLock();
      yield* schedPoint();
      yield* rcuReadUnlock();
      yield* synchronizeRcu();
    })(),
    { comm: 'rcu-user' },
  );
  expect(k.run().done).toBe(true);
  return k;
}

describe('Chrome trace-event JSON', () => {
  it('follows the trace-event format and survives a JSON round trip', () => {
    const k = workload();
    const trace = JSON.parse(JSON.stringify(toChromeTrace(k.log)));
    expect(validateChromeTrace(trace)).toEqual([]);
  });

  it('has one track per CPU whose slices never overlap and match the context switches', () => {
    const k = workload();
    const trace = toChromeTrace(k.log);
    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === CPUS_PID).map((e) => e.args!['name']);
    expect(names).toEqual(['CPU 0', 'CPU 1']);
    const switchesIn = k.log.filter((e): e is KernelEvent<'sched/switch'> => e.type === 'sched/switch' && e.next !== 0).length;
    const runs = trace.traceEvents.filter((e) => e.ph === 'X' && e.pid === CPUS_PID);
    expect(runs).toHaveLength(switchesIn);
    for (const cpu of [0, 1]) {
      const slices = runs.filter((e) => e.tid === cpu).sort((a, b) => a.ts! - b.ts!);
      for (let i = 1; i < slices.length; i++) expect(slices[i]!.ts!).toBeGreaterThanOrEqual(slices[i - 1]!.ts! + slices[i - 1]!.dur!);
    }
  });

  it('draws syscalls per task, grace periods as async spans, and trace events as instants', () => {
    const k = workload();
    const trace = toChromeTrace(k.log);
    const syscalls = trace.traceEvents.filter((e) => e.pid === TASKS_PID && e.ph === 'X');
    expect(syscalls.filter((e) => e.name === 'sys_open')).toHaveLength(3);
    const gps = k.log.filter((e) => e.type === 'rcu/gp-end').length;
    expect(gps).toBeGreaterThan(0);
    expect(trace.traceEvents.filter((e: ChromeTraceEvent) => e.ph === 'b' && e.cat === 'rcu')).toHaveLength(gps);
    expect(validateChromeTrace({ traceEvents: [{ name: 'x', ph: 'e', cat: 'rcu', id: 1, ts: 1, pid: 1, tid: 0 }] })).toEqual([
      'traceEvents[0]: async end without a begin (cat rcu, id 1)',
    ]);
    expect(validateChromeTrace({ traceEvents: [{ name: 'x', ph: 'X', ts: 1, pid: 1, tid: 0 }] })[0]).toMatch(/needs dur/);
  });
});
