import { describe, expect, it } from 'vitest';
import { createKernel, rcuReadLock, rcuReadUnlock, schedPoint, synchronizeRcu, type KernelEvent } from '@tracelab/core';
import { CPUS_PID, HOST_TID, TASKS_PID, cpuTid, toChromeTrace, validateChromeTrace, type ChromeTraceEvent } from '@tracelab/formats';

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
    expect(names).toEqual(['CPU 0', 'CPU 1', 'no CPU (timers, host)']);
    const switchesIn = k.log.filter((e): e is KernelEvent<'sched/switch'> => e.type === 'sched/switch' && e.next !== 0).length;
    const runs = trace.traceEvents.filter((e) => e.ph === 'X' && e.pid === CPUS_PID);
    expect(runs).toHaveLength(switchesIn);
    for (const cpu of [0, 1]) {
      const slices = runs.filter((e) => e.tid === cpuTid(cpu)).sort((a, b) => a.ts! - b.ts!);
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

describe('trace.json for every parser (issue 15)', () => {
  it('every event has a cat, metadata too, and no event is on tid 0 (CPU 0 is tid 1)', () => {
    const trace = toChromeTrace(workload().log);
    expect(trace.traceEvents.filter((e) => typeof e.cat !== 'string')).toEqual([]);
    expect(trace.traceEvents.filter((e) => e.ph === 'M').every((e) => e.cat === '__metadata')).toBe(true);
    expect(trace.traceEvents.filter((e) => e.tid === 0)).toEqual([]);
    expect(cpuTid(0)).toBe(1);
    expect(cpuTid(-1)).toBe(HOST_TID);
  });

  it("a flow arrow from each wakeup to the woken task's next run", () => {
    const k = workload();
    const trace = toChromeTrace(k.log);
    const starts = trace.traceEvents.filter((e) => e.ph === 's');
    const ends = trace.traceEvents.filter((e) => e.ph === 'f');
    expect(starts).toHaveLength(k.log.filter((e) => e.type === 'sched/wakeup').length);
    // Every woken task ran again, so every arrow ends, at the switch that runs it, bound to its slice.
    expect(ends.map((e) => e.id).sort()).toEqual(starts.map((e) => e.id).sort());
    for (const f of ends) {
      const s = starts.find((x) => x.id === f.id)!;
      expect(f.bp).toBe('e');
      expect(f.ts!).toBeGreaterThanOrEqual(s.ts!);
      const pid = s.args!['pid'] as number;
      const run = trace.traceEvents.find((e) => e.ph === 'X' && e.pid === CPUS_PID && e.tid === f.tid && e.ts === f.ts && e.args!['pid'] === pid);
      expect(run, `the run of pid ${pid} at ${f.ts}`).toBeDefined();
    }
  });

  it('a runnable-tasks counter per CPU that follows the run queue', () => {
    const k = workload();
    const trace = toChromeTrace(k.log);
    const counters = trace.traceEvents.filter((e) => e.ph === 'C' && e.name === 'runnable tasks');
    expect(counters.length).toBeGreaterThan(0);
    // The last sample of each tick totals the run queue's length after that tick's events.
    const lastAt = new Map<number, number>();
    for (const c of counters)
      lastAt.set(
        c.ts!,
        Object.values(c.args!).reduce((a: number, b) => a + (b as number), 0),
      );
    const queued = new Set<number>();
    const after = new Map<number, number>();
    for (const e of k.log) {
      if (e.type === 'sched/wakeup') queued.add(e.pid);
      if (e.type === 'sched/switch') {
        queued.delete(e.next);
        if (e.prev !== 0 && e.prevState === 'runnable') queued.add(e.prev);
      }
      after.set(e.time, queued.size);
    }
    for (const [ts, total] of lastAt) expect({ ts, total }).toEqual({ ts, total: after.get(ts) });
    expect(lastAt.size).toBeGreaterThan(5);
  });

  it('no instant repeats what a slice shows: span begin/end events, tasks-trace readers and ktrace syscalls are not instants', () => {
    const k = workload();
    const trace = toChromeTrace(k.log, { spans: [{ begin: 'kernel/printk', end: 'kernel/oops', key: () => 1, name: () => 'x', category: 'test' }] });
    const instants = trace.traceEvents.filter((e) => e.ph === 'i');
    for (const name of ['rcu/gp-start', 'rcu/gp-end', 'ktrace/syscall-entry', 'ktrace/syscall-exit', 'rcu-tasks/trace-lock', 'rcu-tasks/trace-unlock']) {
      expect(instants.filter((e) => e.name === name)).toEqual([]);
    }
    const keys = instants.map((e) => JSON.stringify([e.name, e.ts, e.tid, e.args]));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
