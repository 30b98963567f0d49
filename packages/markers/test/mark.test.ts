import { describe, expect, it } from 'vitest';
import { createKernel, msleep, printk, type Kernel, type KernelEvent, type Program } from '@tracelab/core';
import { CORE_MARKERS, markers, type MarkerProbe } from '@tracelab/markers';
import { eventsOf, expectClean, kernelWith, recorder, nop } from './helpers.js';

const FMT = 'v %d';

describe('mark: the simulated call', () => {
  it('calls every probe with the call-site private data and arguments; a disarmed or unknown site takes no step', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    // Disarmed: the mark is a branch inside one step; nothing is logged between the two printks.
    k.call(
      (function* () {
        yield* printk('before');
        yield* api.mark('ev', 'cp', 1);
        yield* api.mark('unknown', 'cp', 1);
        yield* printk('after');
      })(),
    );
    const before = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'before')!;
    expect(k.log[before.seq + 1]).toMatchObject({ type: 'kernel/printk', text: 'after' });
    k.call(api.probeRegister('ev', FMT, recorder(calls, 'a'), 'pa'));
    k.call(api.probeRegister('ev', FMT, recorder(calls, 'b'), 'pb'));
    k.call(api.mark('ev', 'cp', 42));
    expect(calls).toEqual([
      ['a', 'pa', 'cp', FMT, [42]],
      ['b', 'pb', 'cp', FMT, [42]],
    ]);
    k.run();
    expectClean(k);
  });

  it('calls probes with preemption disabled, and logs each call when logProbeCalls is on', () => {
    const k = kernelWith({ logProbeCalls: true }, { seed: 3 });
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    const q: MarkerProbe = nop();
    k.call(api.probeRegister('ev', FMT, p, 1));
    k.call(api.probeRegister('ev', FMT, q, 2));
    for (let i = 0; i < 5; i++) k.call(api.mark('ev', null, i));
    const calls = eventsOf(k, 'markers/probe-call');
    expect(calls).toHaveLength(10);
    for (const c of calls) expect(k.stateAt(c.seq).cpus[c.cpu]!.preemptCount).toBeGreaterThan(0);
    expect(calls.map((c) => c.private)).toEqual(Array.from({ length: 5 }, () => ['n:1', 'n:2']).flat());
    expect(calls.every((c) => c.array !== null)).toBe(true);
    k.run();
    expectClean(k);
    // Off by default: the same calls log nothing.
    const quiet = kernelWith();
    quiet.api.markers.defineMarker('ev', FMT);
    quiet.call(quiet.api.markers.probeRegister('ev', FMT, p));
    quiet.call(quiet.api.markers.mark('ev', null, 1));
    expect(eventsOf(quiet, 'markers/probe-call')).toEqual([]);
  });

  it('lets other CPUs act between reading the probes and each call', () => {
    // Two kernel threads mark the same 3-probe site; some seed must show the other CPU's events
    // between one mark's preempt_disable and its probe calls.
    let interleaved = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const k = kernelWith({ logProbeCalls: true }, { seed });
      const api = k.api.markers;
      api.defineMarker('ev', FMT);
      for (let i = 0; i < 3; i++) k.call(api.probeRegister('ev', FMT, nop(), i));
      for (const comm of ['m0', 'm1']) {
        k.spawnKthread(
          (function* () {
            for (let i = 0; i < 5; i++) yield* api.mark('ev', comm, i);
          })(),
          { comm },
        );
      }
      k.run();
      expectClean(k);
      const log = k.log;
      for (let i = 1; i < log.length; i++) {
        const e = log[i]!;
        if (e.type !== 'markers/probe-call') continue;
        const prev = log[i - 1]!;
        if (prev.cpu !== e.cpu && prev.cpu >= 0) interleaved++;
      }
    }
    expect(interleaved).toBeGreaterThan(0);
  });
});

/** Every probe call was of a probe registered at some moment of its read section, by the log alone. */
function checkCallsAgainstLog(k: Kernel): number {
  const log = k.log;
  const registered = new Map<string, Array<[number, boolean]>>(); // key -> [seq, registered?] changes
  for (const e of log) {
    if (e.type === 'markers/probe-registered' || e.type === 'markers/probe-unregistered') {
      const key = `${e.name}|${e.probe}|${e.private}`;
      const list = registered.get(key) ?? [];
      list.push([e.seq, e.type === 'markers/probe-registered']);
      registered.set(key, list);
    }
  }
  const isRegisteredAt = (key: string, seq: number): boolean => {
    let on = false;
    for (const [s, v] of registered.get(key) ?? []) if (s <= seq) on = v;
    return on;
  };
  let checked = 0;
  for (const e of log) {
    if (e.type !== 'markers/probe-call') continue;
    // The read section began at the last preempt_disable on this CPU that reached the count the call runs at.
    const count = k.stateAt(e.seq).cpus[e.cpu]!.preemptCount;
    let start = e.seq;
    while (start > 0) {
      const x = log[--start]! as KernelEvent;
      if (x.type === 'cpu/preempt-count' && x.cpu === e.cpu && x.count === count) break;
    }
    const key = `${e.name}|${e.probe}|${e.private}`;
    const changes = (registered.get(key) ?? []).filter(([s]) => s > start && s <= e.seq);
    const ok = isRegisteredAt(key, start) || changes.some(([, v]) => v);
    if (!ok) throw new Error(`seq ${e.seq}: ${key} called, not registered during [${start}, ${e.seq}]`);
    checked++;
  }
  return checked;
}

describe('invariants hold under concurrent registration (default variant)', () => {
  it('every call, checked against the log alone, is of a probe registered during its read section', () => {
    let checked = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const k = kernelWith({ logProbeCalls: true }, { seed });
      const api = k.api.markers;
      api.defineMarker('ev', FMT);
      const probes: MarkerProbe[] = [0, 1, 2].map(() => nop());
      k.call(api.probeRegister('ev', FMT, probes[0]!, 0));
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 15; i++) {
            yield* api.mark('ev', null, i);
            yield* msleep(1);
          }
        })(),
        { comm: 'reader' },
      );
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 4; i++) {
            yield* api.probeRegister('ev', FMT, probes[1]!, i);
            yield* api.probeRegister('ev', FMT, probes[2]!, i);
            yield* api.probeUnregister('ev', probes[1]!, i);
            yield* api.probeUnregister('ev', probes[2]!, i);
          }
        })(),
        { comm: 'writer' },
      );
      const r = k.run({ maxSteps: 200_000 });
      expect(r.done).toBe(true);
      expectClean(k);
      checked += checkCallsAgainstLog(k);
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe("the core kernel's own sites", () => {
  const workload: Program = function* sh(u) {
    const kid = yield u.fork(function* child(u2) {
      yield u2.compute(2);
      yield u2.exec('/bin/cc', function* cc(u3) {
        yield u3.syscall('getpid');
        yield u3.exit(3);
      });
    });
    yield u.compute(3);
    yield u.wait();
    void kid;
    yield u.exit(0);
  };

  it('fire from the scheduler, fork, exec and exit hooks as the workload runs', () => {
    const k = createKernel({ cpus: 2, seed: 7, plugins: [markers()] });
    const api = k.api.markers;
    expect(api.sites().map((s) => s.name)).toEqual(Object.values(CORE_MARKERS).map((m) => m.name));
    const calls: unknown[][] = [];
    // The task hooks' sites (the irq sites fire only with interrupts: test/irq.test.ts).
    const { schedSchedule, processFork, exec, processExit } = CORE_MARKERS;
    for (const m of [schedSchedule, processFork, exec, processExit]) k.call(api.probeRegister(m.name, m.format, recorder(calls, m.name)));
    k.spawn(workload);
    const r = k.run();
    expect(r.done).toBe(true);
    expectClean(k);
    const of = (name: string) => calls.filter((c) => c[0] === name).map((c) => c[4] as unknown[]);
    const armedAt = eventsOf(k, 'markers/probe-registered').at(-1)!.seq;
    const after = <T extends { seq: number }>(xs: T[]) => xs.filter((e) => e.seq > armedAt);
    const forks = eventsOf(k, 'fork/link').map((e) => [e.parent, e.child]);
    expect(forks).toHaveLength(1);
    expect(of('kernel_process_fork')).toEqual(forks);
    expect(of('fs_exec')).toEqual(after(eventsOf(k, 'task/exec')).map((e) => [e.pid, e.comm]));
    expect(of('kernel_process_exit')).toEqual(after(eventsOf(k, 'task/exit')).map((e) => [e.pid, e.code]));
    // Each sched marker call is one of the log's switches .
    const switches = eventsOf(k, 'sched/switch').map((e) => `${e.prev}>${e.next}@${e.cpu}:${e.preempted ? 1 : 0}`);
    const sched = of('kernel_sched_schedule').map((a) => `${String(a[0])}>${String(a[1])}@${String(a[2])}:${String(a[3])}`);
    expect(sched.length).toBeGreaterThan(3);
    for (const s of sched) expect(switches).toContain(s);
  });

  it('cost nothing while disarmed: the same run without probes logs no markers event', () => {
    const k = createKernel({ cpus: 2, seed: 7, plugins: [markers()] });
    k.spawn(workload);
    k.run();
    expectClean(k);
    expect(k.log.filter((e) => e.type.startsWith('markers/'))).toEqual([]);
  });
});
