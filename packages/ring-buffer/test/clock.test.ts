import { EAGAIN, EIO, TracelabError, createKernel, randomStrategy, schedPoint, type Kernel, type KPath, type Strategy } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { describe, expect, test } from 'vitest';
import { eventsOf, expectClean } from '@tracelab/testing';
import { finishRingBuffer, ringBuffer, summarizeRingBuffer, type TraceClock } from '../src/index.js';
import { decodeStreams } from './decode.js';
import { workload } from './helpers.js';

const INT32 = { kind: 'integer', size: 32, signed: true } as const;

/** The workload with timer interrupts and NMIs, recorded with `traceClock`, then flushed. */
function run(seed: number, traceClock: TraceClock): { k: Kernel; running: number } {
  const k = createKernel({
    cpus: 2,
    seed,
    interrupts: { timer: { period: 3 }, nmi: { period: 5 } },
    strategy: randomStrategy({ irqProbability: 0.3 }),
    plugins: [rcuTasks(), tracepoints(), ringBuffer({ interrupts: true, traceClock, subbufSize: 4096, numSubbuf: 8 })],
  });
  for (const p of workload(3, 4)) k.spawn(p);
  k.run();
  const running = k.log.length;
  expect(finishRingBuffer(k)).toBe(true);
  return { k, running };
}

/** A strategy that takes the first `n` NMIs offered once `armed()`, and answers every other choice with 0. */
function firstNmis(n: number, armed: () => boolean): Strategy {
  let taken = 0;
  return { name: 'first-nmis', create: () => ({ choose: (kind) => (kind === 'nmi' && armed() && taken < n ? (taken++, 1) : 0) }) };
}

function decoded(k: Kernel): { names: string[]; discarded: number[] } {
  const api = k.api['ring-buffer'];
  const d = decodeStreams(api.traceClass(), api.streams());
  return { names: d.events.map((e) => e.name), discarded: d.discarded };
}

function clockLosses(k: Kernel) {
  return eventsOf(k, 'ring-buffer/record-lost', (e) => e.reason === 'clock');
}

describe("trace clock -EIO (traceClock: 'ktime-get')", () => {
  test('an NMI reserve gets -EIO from the clock: its record is dropped and counted as lost (reason clock, in events_discarded), every other record is delivered', () => {
    for (const seed of [1, 2, 3]) {
      const { k, running } = run(seed, 'ktime-get');
      expectClean(k);
      const api = k.api['ring-buffer'];
      expect(api.checkAccounting()).toEqual([]);
      const { names: recorded, discarded } = decoded(k);
      // No sample reaches the trace; each is counted in the clock's lost counter only.
      expect(recorded).not.toContain('nmi_sample');
      for (const b of api.buffers()) expect([b.recordsLostFull, b.recordsLostWrap, b.recordsLostBig, b.recordsLostNesting]).toEqual([0, 0, 0, 0]);
      // Each NMI that arrived while recording failed its clock read once, on its own CPU.
      const errors = clockLosses(k);
      const summary = summarizeRingBuffer(k);
      expect(summary.lost).toBe(errors.length);
      for (const cpu of [0, 1]) {
        const nmis = eventsOf(k, 'irq/entry', (e) => e.cpu === cpu && e.name === 'nmi');
        const mine = errors.filter((e) => e.bufCpu === cpu);
        expect(mine.length).toBeGreaterThanOrEqual(nmis.filter((e) => e.seq < running).length);
        expect(mine.length).toBeLessThanOrEqual(nmis.length);
        expect(mine.length).toBeGreaterThan(3);
        expect(mine.every((e) => e.tracepoint === 'nmi_sample')).toBe(true);
        expect(api.buffers()[cpu]!.recordsLostClock).toBe(mine.length);
        expect(summary.perCpu[cpu]!.lostClock).toBe(mine.length);
        expect(k.state.plugins['ring-buffer']!.perCpu[cpu]!.lost.clock).toBe(mine.length);
        // The last packet's events_discarded includes them (the flush's packet comes after every one).
        expect(discarded[cpu]).toBe(mine.length);
      }
      // The timer interrupt's records (hard-irq context, not NMI) are all there.
      expect(recorded).toContain('irq_handler_entry');
      expect(recorded).toContain('timer_hrtimer_expire_entry');
    }
  });

  test('the same seeds with the NMI-safe clock (the default) record every sample and see no clock error', () => {
    for (const seed of [1, 2, 3]) {
      const { k } = run(seed, 'nmi-safe');
      expectClean(k);
      expect(decoded(k).names).toContain('nmi_sample');
      expect(clockLosses(k)).toEqual([]);
      expect(k.api['ring-buffer'].buffers().every((b) => b.recordsLostClock === 0)).toBe(true);
      expect(summarizeRingBuffer(k).perCpu.every((c) => c.lostClock === undefined)).toBe(true);
    }
  });

  test('eventReserve from an NMI returns -EIO with the CPU released; from a task it reserves', () => {
    // NMIs are taken only once the probe that reserves from them is registered.
    let armed = false;
    const k = createKernel({
      cpus: 1,
      seed: 1,
      interrupts: { timer: false, nmi: true },
      strategy: firstNmis(3, () => armed),
      plugins: [rcuTasks(), tracepoints(), ringBuffer({ interrupts: true, traceClock: 'ktime-get', statedump: false, events: [] })],
    });
    const api = k.api['ring-buffer'];
    api.defineTracepoint({ name: 'rec', fields: [{ name: 'v', type: INT32 }] });
    const inNmi: number[] = [];
    const nestingAfter: number[] = [];
    let fromTask: number | string = 'none';
    k.spawnKthread(
      (function* writer(): KPath<void> {
        yield* api.tracepointProbeRegister('nmi_sample', function* probe(): KPath<void> {
          const r = yield* api.eventReserve('rec', { v: 1 });
          inNmi.push(typeof r === 'number' ? r : 0);
          nestingAfter.push(api.nesting()[0]!);
        });
        armed = true;
        for (let i = 0; i < 30; i++) yield* schedPoint();
        const r = yield* api.eventReserve('rec', { v: 2 });
        fromTask = typeof r === 'number' ? r : r.tracepoint;
        if (typeof r !== 'number') yield* api.eventCommit(r);
        yield* api.flush();
      })(),
      { comm: 'writer' },
    );
    k.run();
    expectClean(k);
    // One reserve per NMI that arrived, each refused by the clock.
    expect(inNmi.length).toBeGreaterThan(0);
    expect(inNmi.length).toBe(eventsOf(k, 'irq/entry', (e) => e.name === 'nmi').length);
    expect(inNmi.every((r) => r === -EIO)).toBe(true);
    // get_cpu's nesting level is back where the NMI found it (0: the writer held no record).
    expect(nestingAfter.every((n) => n === 0)).toBe(true);
    expect(fromTask).toBe('rec');
    expect(api.buffers()[0]!.recordsLostClock).toBe(inNmi.length);
    expect(clockLosses(k).map((e) => e.tracepoint)).toEqual(inNmi.map(() => 'rec'));
    expect(api.checkAccounting()).toEqual([]);
  });

  test('after the session stops, an NMI reserve gets -EAGAIN (record_disabled is checked before the clock) and nothing is counted lost', () => {
    let armed = false;
    const k = createKernel({
      cpus: 1,
      seed: 1,
      interrupts: { timer: false, nmi: true },
      strategy: firstNmis(3, () => armed),
      plugins: [rcuTasks(), tracepoints(), ringBuffer({ interrupts: true, traceClock: 'ktime-get', statedump: false, events: [] })],
    });
    const api = k.api['ring-buffer'];
    api.defineTracepoint({ name: 'rec', fields: [{ name: 'v', type: INT32 }] });
    const inNmi: number[] = [];
    k.spawnKthread(
      (function* writer(): KPath<void> {
        yield* api.tracepointProbeRegister('nmi_sample', function* probe(): KPath<void> {
          const r = yield* api.eventReserve('rec', { v: 1 });
          inNmi.push(typeof r === 'number' ? r : 0);
        });
        yield* api.flush();
        armed = true;
        for (let i = 0; i < 30; i++) yield* schedPoint();
      })(),
      { comm: 'writer' },
    );
    k.run();
    expectClean(k);
    expect(inNmi.length).toBeGreaterThan(0);
    expect(inNmi.every((r) => r === -EAGAIN)).toBe(true);
    expect(api.buffers()[0]!.recordsLostClock).toBe(0);
    expect(clockLosses(k)).toEqual([]);
  });

  test("traceClock 'ktime-get' without interrupts, or an unknown clock, is refused with INVALID_OPTION", () => {
    expect(() => ringBuffer({ traceClock: 'ktime-get' })).toThrow(/traceClock 'ktime-get' needs interrupts: true/);
    expect(() => ringBuffer({ interrupts: true, traceClock: 'tsc' as never })).toThrow(TracelabError);
    expect(() => ringBuffer({ interrupts: true, traceClock: 'tsc' as never })).toThrow(/traceClock/);
  });
});
