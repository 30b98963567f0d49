import { endianness } from 'node:os';
import { EAGAIN, EIO, ENOBUFS, ENOSPC } from '@tracelab/core';
import { describe, expect, test } from 'vitest';
import { RingBuffer, type ConsumedPacket, type RingBufferMode } from '../src/index.js';
import { ReferenceRingBuffer } from './reference-buffer.js';

/**
 * The fast path (cached current sub-buffer, reciprocal multiplies and masks instead of `/` and
 * `%`, one typed array for the hot counters, word stores for the event header) must not change
 * what the buffer does: these tests drive it and the first, straightforward version
 * (test/reference-buffer.ts) with the same operations and compare everything observable.
 */

const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

/** A small deterministic PRNG (tests must not use Math.random). */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 4294967296) * n);
  };
}

type Buf = RingBuffer | ReferenceRingBuffer;

/** Everything observable about a buffer, for comparison. */
function observe(b: Buf): unknown {
  return {
    offset: b.offset,
    consumed: b.consumed,
    lastTs: b.lastTs,
    held: b.held,
    lost: [b.recordsLostFull, b.recordsLostWrap, b.recordsLostBig, b.recordsRefused],
    reserved: b.recordsReserved,
    overwritten: [b.recordsOverwritten, b.packetsOverwritten],
    consumedCounts: [b.recordsConsumed, b.packetsConsumed],
    arrays: [
      b.records,
      b.seqNum,
      b.dataSize,
      b.tsEnd,
      b.tsBegin,
      b.lostAtEnd,
      b.ccLocal,
      b.ccRemote,
      b.ccSb,
      b.deliveredRecords,
      b.ghostCommitted,
      b.deliveredLaps,
    ].map((a) => Array.from(a)),
    deliveries: b.deliveries.slice(),
    deliveryError: b.deliveryError,
  };
}

/** Writes a record's header and a payload the reference way: DataView stores only. */
function writeRef(b: ReferenceRingBuffer, pos: number, id: number, ts: number, slot: number): void {
  b.dv.setUint32(pos, id, true);
  b.dv.setUint32(pos + 4, ts >>> 0, true);
  b.dv.setUint32(pos + 8, Math.floor(ts / 4294967296), true);
  for (let k = 12; k < slot; k++) b.u8[pos + k] = (id + k) & 0xff;
}
function writeFast(b: RingBuffer, pos: number, id: number, ts: number, slot: number): void {
  const p = b.writeEventHeader(pos, id, ts);
  expect(p).toBe(pos + 12);
  for (let k = 12; k < slot; k++) b.u8[pos + k] = (id + k) & 0xff;
}

interface Config {
  readonly mode: RingBufferMode;
  readonly subbufSize: number;
  readonly numSubbuf: number;
}

/**
 * Runs `steps` random operations on both buffers: reserves of random sizes (unaligned, some
 * bigger than a sub-buffer), commits of random outstanding reservations (LOCAL or REMOTE, in any
 * order), switches, consumer reads, discards of the last reservation, disabling. Compares every
 * return value after each operation and all state every few operations.
 */
function differential(seed: number, cfg: Config, steps: number, errnos: Set<number>, before?: (fast: RingBuffer, ref: ReferenceRingBuffer) => void): number {
  const fast = new RingBuffer({ cpu: 1, uuid, streamId: 2, ...cfg });
  const ref = new ReferenceRingBuffer({ cpu: 1, uuid, streamId: 2, ...cfg });
  before?.(fast, ref);
  const rnd = lcg(seed);
  const open: { o: number; slot: number }[] = [];
  let ts = fast.lastTs;
  let last: { o: number; slot: number } | null = null;
  let delivered = 0;
  const held: [ConsumedPacket | null, ConsumedPacket | null] = [null, null];
  for (let step = 0; step < steps; step++) {
    const op = rnd(100);
    if (op < 45) {
      // reserve: mostly small records, a few that do not fit a sub-buffer
      const slot = rnd(10) === 0 ? 12 + rnd(cfg.subbufSize) : 12 + rnd(48);
      ts += rnd(3);
      const a = fast.reserve(slot, ts);
      const b = ref.reserve(slot, ts);
      expect(a).toBe(b);
      if (a < 0) errnos.add(-a);
      if (a >= 0) {
        expect(fast.pos).toBe(ref.pos);
        writeFast(fast, fast.pos, step & 0xffff, ts, slot);
        writeRef(ref, ref.pos, step & 0xffff, ts, slot);
        open.push({ o: a, slot });
        last = { o: a, slot };
      }
    } else if (op < 85 && open.length > 0) {
      // commit one outstanding reservation, mostly among the oldest; LOCAL or REMOTE
      const [r] = open.splice(rnd(Math.min(open.length, 3)), 1);
      const local = rnd(4) !== 0;
      fast.commit(r!.o, r!.slot, local);
      ref.commit(r!.o, r!.slot, local);
      if (last === r) last = null;
    } else if (op < 89) {
      const local = rnd(3) !== 0;
      expect(fast.switchSubbuf(ts, local)).toBe(ref.switchSubbuf(ts, local));
    } else if (op < 95) {
      if (held[0] === null) {
        const a = fast.getSubbuf();
        const b = ref.getSubbuf();
        expect(typeof a).toBe(typeof b);
        if (typeof a === 'number') expect(a).toBe(b);
        else {
          expect(a).toEqual(b);
          if (rnd(3) === 0) {
            held[0] = a;
            held[1] = b as ConsumedPacket;
          } else {
            fast.putSubbuf(a);
            ref.putSubbuf(b as ConsumedPacket);
          }
        }
      } else {
        fast.putSubbuf(held[0]);
        ref.putSubbuf(held[1]!);
        held[0] = held[1] = null;
      }
    } else if (op < 98 && last !== null) {
      expect(fast.tryDiscardReserve(last.o, last.slot)).toBe(ref.tryDiscardReserve(last.o, last.slot));
      const i = open.indexOf(last);
      if (i >= 0 && fast.offset === last.o) open.splice(i, 1);
      last = null;
    } else if (op < 99) {
      fast.disabled = ref.disabled = !fast.disabled;
    }
    if (step % 64 === 0) {
      expect(observe(fast)).toEqual(observe(ref));
      delivered += fast.deliveries.length;
      fast.deliveries.length = 0;
      ref.deliveries.length = 0;
    }
  }
  expect(observe(fast)).toEqual(observe(ref));
  expect(Buffer.from(fast.bytes).equals(Buffer.from(ref.bytes))).toBe(true);
  expect(fast.deliveryError).toBeNull();
  return delivered + fast.deliveries.length;
}

describe('the fast path does what the straightforward version does', () => {
  const configs: Config[] = [
    { mode: 'discard', subbufSize: 128, numSubbuf: 2 },
    { mode: 'discard', subbufSize: 256, numSubbuf: 4 },
    { mode: 'overwrite', subbufSize: 256, numSubbuf: 4 },
    { mode: 'overwrite', subbufSize: 512, numSubbuf: 8 },
  ];
  for (const cfg of configs) {
    test(`${cfg.mode}, ${cfg.numSubbuf} x ${cfg.subbufSize} B: same offsets, errnos, bytes, deliveries and counters over seeds 1..12`, () => {
      let delivered = 0;
      const errnos = new Set<number>();
      for (let seed = 1; seed <= 12; seed++) delivered += differential(seed, cfg, 1500, errnos);
      // the sequences reach deliveries and every refusal of their mode (the comparison is not vacuous)
      expect(delivered).toBeGreaterThan(50);
      expect([...errnos].sort((x, y) => x - y)).toEqual(cfg.mode === 'discard' ? [EIO, EAGAIN, ENOSPC, ENOBUFS] : [EIO, EAGAIN, ENOSPC]);
    });
  }
});

describe('offsets past 2^31 and 2^32 bytes', () => {
  const SB = 1 << 20;
  const HDR = 84;
  /** Fills whole sub-buffers with one record each (ending on the boundary) until `target`. */
  function advance(b: Buf, target: number): void {
    let ts = 0;
    while (b.offset < target) {
      const o = b.reserve(SB - HDR, ++ts);
      expect(o).toBeGreaterThanOrEqual(0);
      b.commit(o, SB - HDR, true);
      b.deliveries.length = 0;
    }
  }

  test('the sub-buffer index and the delivery test stay exact: the same results as the reference past 2^32', () => {
    const target = 2 ** 32 + 3 * SB;
    const delivered = differential(7, { mode: 'overwrite', subbufSize: SB, numSubbuf: 2 }, 4000, new Set(), (fast, ref) => {
      advance(fast, target);
      advance(ref, target);
      expect(fast.offset).toBe(target);
    });
    expect(delivered).toBeGreaterThan(0);
  });

  test('a record reserved past 2^32 is delivered in the lap its offset says, with its record count', () => {
    const b = new RingBuffer({ cpu: 0, subbufSize: SB, numSubbuf: 4, mode: 'overwrite', uuid, streamId: 0 });
    const start = 2 ** 32 + 2 * SB; // sub-buffer 2 of lap 1024
    advance(b, start);
    const ts = b.lastTs + 1;
    const o1 = b.reserve(100, ts);
    const o2 = b.reserve(100, ts);
    expect(o1).toBe(start + HDR);
    expect(o2).toBe(start + HDR + 100);
    expect(b.subbufIndex(o2)).toBe(2);
    b.commit(o2, 100, true);
    b.switchSubbuf(ts); // closes sub-buffer 2; o1 still uncommitted
    expect(b.deliveries).toEqual([]);
    b.commit(o1, 100, false);
    expect(b.deliveries).toEqual([{ subbuf: 2, lap: 2 ** 32 / (4 * SB), packetSeq: start / SB, records: 2, discarded: 0 }]);
    expect(b.deliveryError).toBeNull();
  });
});

describe('the hot counters are shared with their public views', () => {
  test('a lost update written through ccLocal (the local-only race) is what commit sees: the lap is never delivered', () => {
    const b = new RingBuffer({ cpu: 0, subbufSize: 256, numSubbuf: 2, mode: 'discard', uuid, streamId: 0 });
    const o1 = b.reserve(40, 1);
    const o2 = b.reserve(40, 2);
    // a remote CPU reads ccLocal, the owner commits o2 meanwhile, the remote CPU writes back
    const v = b.ccLocal[0]!;
    b.commit(o2, 40, true);
    b.ccLocal[0] = v + 40;
    b.ghostCommitted[0] = b.ghostCommitted[0]! + 40;
    void o1;
    b.switchSubbuf(3);
    expect(b.deliveries).toEqual([]);
    expect(b.ccLocal[0]! + b.ccRemote[0]!).toBe(256 - 40);
    expect(b.ghostCommitted[0]).toBe(256);
    expect(b.records[0]).toBe(2);
  });
});

describe('writeEventHeader', () => {
  test('writes { u32 id; u64 timestamp } little-endian at aligned and unaligned positions, and returns where the payload starts', () => {
    const b = new RingBuffer({ cpu: 0, subbufSize: 256, numSubbuf: 2, mode: 'discard', uuid, streamId: 0 });
    expect(b.wordStores).toBe(endianness() === 'LE');
    const ts = 2 ** 40 + 2 ** 32 + 0x89abcdef;
    for (const pos of [84, 85, 86, 87, 88, 200]) {
      b.u8.fill(0xee);
      expect(b.writeEventHeader(pos, 0x01020304, ts)).toBe(pos + 12);
      const dv = new DataView(b.bytes);
      expect(dv.getUint32(pos, true)).toBe(0x01020304);
      expect(dv.getBigUint64(pos + 4, true)).toBe(BigInt(ts));
      expect(b.u8[pos - 1]).toBe(0xee);
      expect(b.u8[pos + 12]).toBe(0xee);
    }
  });
});
