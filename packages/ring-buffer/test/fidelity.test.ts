/**
 * Issue 22: the LTTng ring buffer's semantics of SEMANTICS.md 5.2 that had no test, and the
 * invariants that no test showed firing. Each test names the section it covers.
 */
import { EBUSY, EEXIST, EIO, EAGAIN, ENOENT, createKernel, type Kernel } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { CTF_PACKET_LAYOUT as L } from '@tracelab/formats';
import { describe, expect, test } from 'vitest';
import { expectClean, kernelWith } from '@tracelab/testing';
import { RESERVE_RETRY, RING_BUFFER_INVARIANTS, RingBuffer, finishRingBuffer, ringBuffer, type RingBufferOptions } from '../src/index.js';
import { withFaults, type RingBufferPluginFaults } from '../src/internal/faults.js';
import { decodeStreams } from './decode.js';
import { workload } from './helpers.js';

const HDR = L.size;
const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
const uuid = new Uint8Array(16).fill(3);
const mk = (subbufSize = 256, numSubbuf = 4): RingBuffer => new RingBuffer({ cpu: 0, subbufSize, numSubbuf, mode: 'discard', uuid, streamId: 0 });
const u64 = (p: Uint8Array, at: number): number => Number(new DataView(p.buffer, p.byteOffset, p.byteLength).getBigUint64(at, true));

/** The ring buffer's stack with test-only faults attached. */
function faultyKernel(seed: number, options: RingBufferOptions, faults: RingBufferPluginFaults = {}, cpus = 2): Kernel {
  return kernelWith({ cpus, seed, plugins: [rcuTasks(), tracepoints(), ringBuffer(withFaults(options, faults))] });
}

function run(seed: number, options: RingBufferOptions, faults: RingBufferPluginFaults = {}, tasks = 4, opens = 6, cpus = 2): Kernel {
  const k = faultyKernel(seed, options, faults, cpus);
  for (const p of workload(tasks, opens)) k.spawn(p);
  k.run({ maxSteps: 200_000 });
  return k;
}

/** Runs the workload and the session's end; the first violation, or undefined. */
function firstViolation(
  seed: number,
  options: RingBufferOptions,
  faults: RingBufferPluginFaults = {},
  tasks = 4,
  opens = 6,
  cpus = 2,
): { name: string; message: string } | undefined {
  const k = run(seed, options, faults, tasks, opens, cpus);
  if (k.violations.length > 0) return k.violations[0];
  try {
    finishRingBuffer(k, { maxSteps: 200_000 });
  } catch (err) {
    // A violation inside the flush's kernel.call is thrown (INVARIANT_VIOLATED) with it attached.
    const v = (err as { violation?: { name: string; message: string } }).violation;
    if (v !== undefined) return v;
    throw err;
  }
  return k.violations[0];
}

// Put one record (reserve + local commit), as the fast path does.
function put(b: RingBuffer, slot: number, ts: number): number {
  const o = b.reserve(slot, ts);
  if (o >= 0) b.commit(o, slot, true);
  return o;
}

describe('SEMANTICS.md 5.2(d) invariants seen firing on a broken buffer', () => {
  const small = { subbufSize: 256, numSubbuf: 4 } as const;

  test('ring-buffer/offsets: put_subbuf moving consumed with a plain store (not a forward-only CAS) undoes an overwrite push made while the reader held the packet', () => {
    const opts = { subbufSize: 256, numSubbuf: 2, mode: 'overwrite' } as const;
    const found = SEEDS.slice(0, 10)
      .map((seed) => firstViolation(seed, opts, { moveConsumerPlainStore: true }, 6, 10))
      .filter((v) => v !== undefined);
    expect(found.length).toBeGreaterThan(0);
    for (const v of found) {
      expect(v.name).toBe(RING_BUFFER_INVARIANTS.offsets);
      expect(v.message).toMatch(/consumed moved back/);
    }
    for (const seed of SEEDS.slice(0, 10)) expect(firstViolation(seed, opts, {}, 6, 10)).toBeUndefined();
  });

  test('ring-buffer/commit (same CPU): a record never committed is found when its task exits', () => {
    const v = firstViolation(1, small, { leakCommit: 'syscall_entry_open' });
    expect(v?.name).toBe(RING_BUFFER_INVARIANTS.commit);
    expect(v?.message).toMatch(/exited without committing/);
    expect(firstViolation(1, small)).toBeUndefined();
  });

  test('ring-buffer/commit (same CPU): a record committed twice is found', () => {
    const v = firstViolation(1, small, { doubleCommit: 'sched_switch' });
    expect(v?.name).toBe(RING_BUFFER_INVARIANTS.commit);
    expect(v?.message).toMatch(/committed twice/);
  });

  test('ring-buffer/packets: packet_seq_num taken from the sub-buffer index repeats after a wrap, and the reader sees it', () => {
    const v = firstViolation(1, { subbufSize: 256, numSubbuf: 2 }, { packetSeqFromIndex: true });
    expect(v?.name).toBe(RING_BUFFER_INVARIANTS.packets);
    expect(v?.message).toMatch(/packet_seq_num 0 after 1 \(it must strictly increase\)/);
    expect(firstViolation(1, { subbufSize: 256, numSubbuf: 2 })).toBeUndefined();
  });

  test('ring-buffer/packets: events_discarded written per packet instead of as a running total decreases, and the reader sees it', () => {
    // Two small sub-buffers and 6 tasks: the consumer falls behind and records are lost in bursts.
    const opts = { subbufSize: 256, numSubbuf: 2 } as const;
    const v = firstViolation(7, opts, { eventsDiscardedPerPacket: true }, 6, 10);
    expect(v?.name).toBe(RING_BUFFER_INVARIANTS.packets);
    expect(v?.message).toMatch(/events_discarded \d+ after \d+ \(a running total never decreases\)/);
    expect(firstViolation(7, opts, {}, 6, 10)).toBeUndefined();
  });
});

describe('SEMANTICS.md 5.2(b) check_deliver in two steps (cc_sb CAS to old + 1, end fields, cc_sb = cc)', () => {
  test('between the CAS and the publication, a writer wrapping onto the sub-buffer drops its record (-EIO) and the reader cannot take it', () => {
    const b = mk(256, 2);
    // Fill sub-buffer 0 with records committed by hand, so its delivery can be split.
    const slots: number[] = [];
    for (let i = 0; i < 4; i++) slots.push(b.reserve(40, i + 1)); // 84..244
    for (const o of slots.slice(0, 3)) b.commit(o, 40, true);
    // The next record switches to sub-buffer 1 (padding of 0 is added: count not complete, one commit missing).
    put(b, 40, 10);
    // The last commit of sub-buffer 0: the add, then the two delivery steps by hand.
    b.addCommit(0, 40, true);
    const lap = b.deliverBegin(0, slots[3]!, true);
    expect(lap).toBe(0);
    expect(b.ccSb[0]).toBe(1); // old + 1: owned, not delivered
    // A second committer that saw the count complete loses the CAS.
    expect(b.deliverBegin(0, slots[3]!, true)).toBe(-1);
    expect(b.getSubbuf()).toBe(-EAGAIN);
    // Fill sub-buffer 1 so the writer wraps onto sub-buffer 0: dropped, counted as a wrap loss.
    let o = 0;
    for (let i = 0; i < 10 && o >= 0; i++) o = put(b, 40, 20 + i);
    expect(o).toBe(-EIO);
    expect(b.recordsLostWrap).toBe(1);
    b.deliverEnd(0, lap);
    expect(b.ccSb[0]).toBe(256);
    expect(b.deliveryError).toBeNull();
    const p = b.getSubbuf();
    expect(typeof p).toBe('object');
  });

  test('without the CAS (a compare, then the write), two committers that both saw the count complete deliver the lap twice: ring-buffer/delivery fires', () => {
    // Three CPUs, eight tasks and a switch timer: the timer's switch closes sub-buffers while
    // migrated tasks commit into them remotely, so two check_deliver calls meet.
    const opts = { subbufSize: 128, numSubbuf: 4, interleave: true, deliverCas: false, switchTimer: 1 } as const;
    const seeds = SEEDS.slice(0, 12);
    const found = seeds.map((seed) => firstViolation(seed, opts, {}, 8, 8, 3)).filter((v) => v !== undefined);
    expect(found.length).toBeGreaterThan(0);
    for (const v of found) {
      expect(v.name).toBe(RING_BUFFER_INVARIANTS.delivery);
      expect(v.message).toMatch(/delivered after/);
    }
    const withCas = { ...opts, deliverCas: true };
    for (const seed of seeds) expect(firstViolation(seed, withCas, {}, 8, 8, 3)).toBeUndefined();
  });
});

describe('SEMANTICS.md 6 (5.2): the slow path re-reads offset after cc_sb and retries', () => {
  function racedPlan(): { b: RingBuffer; plan: ReturnType<RingBuffer['reserveSlowPlan']> } {
    const b = mk(256, 2);
    put(b, 40, 1);
    b.switchSubbuf(2); // ACTIVE: sub-buffer 0 closed; the offset sits at sub-buffer 1's start
    expect(b.offset).toBe(256);
    const p = b.getSubbuf(); // the reader takes it, so the buffer is not full for the retry
    if (typeof p === 'number') throw new Error(`get_subbuf ${p}`);
    b.putSubbuf(p);
    // A reserve reads the offset (its plan: a new packet in sub-buffer 1, lap 0)...
    const plan = b.reserveSlowPlan(40);
    // ...and before it reads cc_sb, the finalize's SWITCH_FLUSH on another CPU delivers sub-buffer 1 empty.
    expect(b.switchSubbuf(3, false, true)).toBe(true);
    expect(b.ccSb[1]).toBe(256);
    return { b, plan };
  }

  test('with the re-read: the offset moved, so the pass starts over instead of counting a loss', () => {
    const { b, plan } = racedPlan();
    expect(b.reserveSlowCheck(plan, 40, true)).toBe(RESERVE_RETRY);
    expect(b.recordsLostWrap).toBe(0);
    expect(b.reserveRetries).toBe(1);
    // The retry plans from the new offset (sub-buffer 0, lap 1, delivered at lap 0): it may go ahead.
    const again = b.reserveSlowPlan(40);
    expect(b.reserveSlowCheck(again, 40, true)).toBe(0);
    expect(b.reserveSlowApply(again, 40, 4)).toBe(512 + HDR);
    expect(b.deliveryError).toBeNull();
  });

  test("without it (unsafe): cc_sb of a newer lap is compared with the stale offset's lap, a record is lost for nothing, and the checker says so", () => {
    const { b, plan } = racedPlan();
    expect(b.reserveSlowCheck(plan, 40, false)).toBe(-EIO);
    expect(b.recordsLostWrap).toBe(1);
    expect(b.deliveryError).toMatch(/records_lost_wrap counted from a stale offset/);
  });

  test('in the simulation, with a switch timer moving offsets remotely, reserves retry and every record is still accounted for', () => {
    let retries = 0;
    for (const seed of SEEDS.slice(0, 20)) {
      const k = run(seed, { subbufSize: 256, numSubbuf: 4, interleave: true, switchTimer: 1 });
      expectClean(k);
      finishRingBuffer(k);
      expectClean(k);
      expect(k.api['ring-buffer'].checkAccounting()).toEqual([]);
      retries += k.api['ring-buffer'].buffers().reduce((a, b) => a + b.reserveRetries, 0);
    }
    expect(retries).toBeGreaterThan(0);
  });
});

describe('SEMANTICS.md 5.2(b) switch: FLUSH writes an empty packet on finalize', () => {
  test('SWITCH_FLUSH on an empty sub-buffer delivers a header-only packet; SWITCH_ACTIVE does not switch it', () => {
    const b = mk();
    put(b, 40, 1);
    expect(b.switchSubbuf(5)).toBe(true);
    expect(b.switchSubbuf(6)).toBe(false); // ACTIVE, empty: nothing
    expect(b.switchSubbuf(7, true, true)).toBe(true); // FLUSH, empty: switched
    expect(b.deliveries.map((d) => [d.subbuf, d.records])).toEqual([
      [0, 1],
      [1, 0],
    ]);
    const first = b.getSubbuf();
    expect(b.getSubbuf()).toBe(-EBUSY); // one held at a time
    if (typeof first === 'number') throw new Error(`get_subbuf ${first}`);
    b.putSubbuf(first);
    const empty = b.getSubbuf();
    if (typeof empty === 'number') throw new Error(`get_subbuf ${empty}`);
    expect(u64(empty.bytes, L.contentSize)).toBe(HDR * 8);
    expect(u64(empty.bytes, L.packetSeqNum)).toBe(1);
    expect(u64(empty.bytes, L.timestampBegin)).toBe(7);
  });

  test('at the end of a session every CPU buffer ends with a packet, even one with no record since its last switch', () => {
    // Only the syscall events: the flush's own kernel thread writes nothing.
    const k = run(3, { subbufSize: 4096, numSubbuf: 4, events: ['syscall_*'] });
    // Switch everything first (ACTIVE, from the host while the kernel is still), as a timer
    // would, so the finalize finds every buffer at a sub-buffer start.
    for (const b of k.api['ring-buffer'].buffers()) b.switchSubbuf(b.lastTs + 1);
    expect(k.api['ring-buffer'].buffers().every((b) => b.offset % 4096 === 0)).toBe(true);
    expect(finishRingBuffer(k)).toBe(true);
    expectClean(k);
    for (const packets of k.api['ring-buffer'].streams()) {
      const last = packets.at(-1)!;
      expect(u64(last, L.contentSize)).toBe(HDR * 8);
      expect(u64(last, L.timestampEnd)).toBeGreaterThanOrEqual(u64(last, L.timestampBegin));
    }
    const { events } = decodeStreams(k.api['ring-buffer'].traceClass(), k.api['ring-buffer'].streams());
    expect(events.length).toBe(k.api['ring-buffer'].summary().delivered);
  });
});

describe('SEMANTICS.md 5.2(b) the periodic switch timer and the read timer', () => {
  // A task that writes a few records, then stays quiet for a long time.
  function quiet(k: Kernel): void {
    k.spawn(function* quiet(u) {
      yield u.syscall('open', { path: '/etc/motd', flags: 0 });
      for (let i = 0; i < 40; i++) yield u.sleep(5);
    });
  }

  test('switch timer: a quiet stream still delivers what it holds, before the session ends', () => {
    const delivered = (timer: number): number => {
      const k = faultyKernel(2, { subbufSize: 4096, numSubbuf: 4, switchTimer: timer, events: ['syscall_*'] });
      quiet(k);
      k.run({ maxSteps: 100_000 });
      expectClean(k);
      return k.state.plugins['ring-buffer']!.perCpu.reduce((a, c) => a + c.packetsDelivered, 0);
    };
    // Without the timer a 4 KiB sub-buffer is not filled by this workload: nothing is delivered until the flush.
    expect(delivered(0)).toBe(0);
    expect(delivered(10)).toBeGreaterThan(0);
  });

  test('read timer: the writer wakes nobody; the consumer starts at a timer expiry after the delivery, and every record still arrives', () => {
    const k = run(4, { subbufSize: 256, numSubbuf: 8, readTimer: 7 });
    expectClean(k);
    finishRingBuffer(k);
    expectClean(k);
    expect(k.api['ring-buffer'].checkAccounting()).toEqual([]);
    const log = k.log;
    const firstDelivery = log.find((e) => e.type === 'ring-buffer/subbuf-delivered')!;
    const consumerStart = log.find((e) => e.type === 'task/spawned' && e.comm === 'lttng-consumerd')!;
    const timerStart = log.findIndex((e) => e.type === 'task/spawned' && e.comm === 'lttng-read-timer');
    expect(timerStart).toBeGreaterThanOrEqual(0);
    // The consumer was not started in the delivering step: it ran only after a timer period.
    expect(consumerStart.time).toBeGreaterThanOrEqual(firstDelivery.time + 7);
    // Without the read timer the writer starts the consumer in the delivering step.
    const eager = run(4, { subbufSize: 256, numSubbuf: 8 });
    const eagerDelivery = eager.log.find((e) => e.type === 'ring-buffer/subbuf-delivered')!;
    const eagerStart = eager.log.find((e) => e.type === 'task/spawned' && e.comm === 'lttng-consumerd')!;
    expect(eagerStart.time).toBe(eagerDelivery.time);
  });
});

describe('SEMANTICS.md 5.2(b) snapshot mode (lttng snapshot record)', () => {
  test('overwrite buffers no consumer drains; a snapshot copies the newest packets, with gaps in packet_seq_num for the overwritten ones', () => {
    const k = run(1, { subbufSize: 256, numSubbuf: 4, mode: 'overwrite', snapshot: true }, {}, 6, 10);
    expectClean(k);
    expect(k.log.some((e) => e.type === 'ring-buffer/subbuf-consumed')).toBe(false);
    const n = k.call(k.api['ring-buffer'].snapshotRecord());
    expect(n).toBeGreaterThan(0);
    const snap = k.api['ring-buffer'].snapshots()[0]!;
    expect(snap.reduce((a, p) => a + p.length, 0)).toBe(n);
    const overwritten = k.api['ring-buffer'].buffers().reduce((a, b) => a + b.packetsOverwritten, 0);
    expect(overwritten).toBeGreaterThan(0);
    for (const packets of snap) {
      const seqs = packets.map((p) => u64(p, L.packetSeqNum));
      expect(packets.length).toBeLessThanOrEqual(4);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    }
    // The first packet of some CPU's snapshot is not packet 0: the older ones were overwritten.
    expect(snap.some((packets) => packets.length > 0 && u64(packets[0]!, L.packetSeqNum) > 0)).toBe(true);
    const { events } = decodeStreams(k.api['ring-buffer'].traceClass(), snap);
    expect(events.length).toBeGreaterThan(0);
    // The consumer never moved: a second snapshot sees at least what the first did.
    expect(k.call(k.api['ring-buffer'].snapshotRecord())).toBeGreaterThanOrEqual(n);
    finishRingBuffer(k);
    expect(k.api['ring-buffer'].checkAccounting()).toEqual([]);
  });

  test("the flush's empty-packet switch pushes the reader: every record is delivered, lost, overwritten or held, over 30 seeds and 0 to 2 snapshots", () => {
    // lib_ring_buffer_switch_slow pushes the reader with offsets.old. At the session's end the
    // writer can sit on a sub-buffer boundary a whole buffer ahead of the consumer; SWITCH_FLUSH
    // then opens the consumer's sub-buffer for an empty packet. Without the push, the lap it
    // overwrites is counted nowhere (seeds 1 and 20 with no snapshot, 4, 5, 9, 14, 18, 21, 22,
    // 25 and 26 with one or two, each 2 to 5 records short).
    const short: string[] = [];
    for (let seed = 1; seed <= 30; seed++) {
      for (const snaps of [0, 1, 2]) {
        const k = run(seed, { subbufSize: 256, numSubbuf: 4, mode: 'overwrite', snapshot: true }, {}, 6, 10);
        for (let i = 0; i < snaps; i++) k.call(k.api['ring-buffer'].snapshotRecord());
        finishRingBuffer(k);
        for (const line of k.api['ring-buffer'].checkAccounting()) short.push(`seed ${seed}, ${snaps} snapshots: ${line}`);
      }
    }
    expect(short).toEqual([]);
  });

  test('snapshot needs overwrite mode', () => {
    expect(() => ringBuffer({ snapshot: true })).toThrow(/snapshot needs mode 'overwrite'/);
  });
});

describe("SEMANTICS.md 2.2(b) tracepoint_probe_register_prio / unregister, as the ring buffer's tracepoint table has them", () => {
  test('higher prio runs first, ties keep registration order; -EEXIST for the same (probe, data); -ENOENT with no probe; an absent probe is 0; the last unregister turns the key off', () => {
    const k = createKernel({ cpus: 1, seed: 1, plugins: [rcuTasks(), tracepoints(), ringBuffer({ enableAll: false })] });
    const api = k.api['ring-buffer'];
    api.defineTracepoint({ name: 'ev', fields: [{ name: 'n', type: { kind: 'integer', size: 32, signed: false } }] });
    const order: string[] = [];
    const probe = (tag: string) => (): void => {
      order.push(tag);
    };
    const a = probe('a10');
    const b = probe('b20');
    const c = probe('c10');
    const d = probe('d5');
    expect(k.call(api.tracepointProbeUnregister('ev', a))).toBe(-ENOENT);
    expect(k.call(api.tracepointProbeRegister('ev', a, null, 10))).toBe(0);
    expect(k.call(api.tracepointProbeRegister('ev', b, null, 20))).toBe(0);
    expect(k.call(api.tracepointProbeRegister('ev', c, null, 10))).toBe(0);
    expect(k.call(api.tracepointProbeRegister('ev', d, null, 5))).toBe(0);
    expect(k.call(api.tracepointProbeRegister('ev', c, null, 30))).toBe(-EEXIST);
    expect(k.call(api.tracepointProbeRegister('ev', c, 'other data', 30))).toBe(0); // another (probe, data)
    k.call(api.trace('ev', { n: 1 }));
    expect(order).toEqual(['c10', 'b20', 'a10', 'c10', 'd5']);
    expect(k.call(api.tracepointProbeUnregister('ev', probe('never')))).toBe(0);
    for (const [p, data] of [
      [a, null],
      [b, null],
      [c, null],
      [c, 'other data'],
      [d, null],
    ] as const)
      expect(k.call(api.tracepointProbeUnregister('ev', p, data))).toBe(0);
    // The key is the tracepoints plugin's: off, and its slice agrees.
    expect(k.api.tracepoints.enabled('ev')).toBe(false);
    expect(k.state.plugins.tracepoints!.tracepoints['ev']!.enabled).toBe(false);
    order.length = 0;
    k.call(api.trace('ev', { n: 2 }));
    expect(order).toEqual([]);
    expect(k.call(api.tracepointProbeUnregister('ev', a))).toBe(-ENOENT);
    k.run();
    expectClean(k);
  });
});

describe('SEMANTICS.md 5.2(c) the upstream relative: trace_user_fault_read', () => {
  function syscallEvents(copyStrategy: 'in-place' | 'user-fault-read', seed: number): { events: string[]; restarts: number } {
    const k = run(seed, { copyStrategy, subbufSize: 4096, numSubbuf: 8 });
    expectClean(k);
    finishRingBuffer(k);
    expect(k.api['ring-buffer'].checkAccounting()).toEqual([]);
    const { events } = decodeStreams(k.api['ring-buffer'].traceClass(), k.api['ring-buffer'].streams());
    return {
      events: events
        .filter((e) => e.name === 'syscall_entry_open' || e.name === 'syscall_entry_newstat')
        .map((e) => `${e.name} ${JSON.stringify(e.fields)}`)
        .sort(),
      restarts: k.state.plugins['ring-buffer']!.restarts,
    };
  }

  test('copies into the per-CPU buffer preemptible, retries when a fault slept (a context switch on that CPU), and records the same events as in-place', () => {
    let restarts = 0;
    for (const seed of [1, 2, 3]) {
      const a = syscallEvents('in-place', seed);
      const b = syscallEvents('user-fault-read', seed);
      expect(b.events).toEqual(a.events);
      expect(b.events.length).toBe(4 * 6 + 4);
      restarts += b.restarts;
    }
    // The first copy of a string on a page not yet touched faults and sleeps: that copy is redone.
    expect(restarts).toBeGreaterThan(0);
  });
});
