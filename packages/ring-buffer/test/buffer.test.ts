import { EAGAIN, EBUSY, EIO, ENOBUFS, ENOSPC, EPERM } from '@tracelab/core';
import { CTF_MAGIC, CTF_PACKET_LAYOUT as L } from '@tracelab/formats';
import { describe, expect, test } from 'vitest';
import { ENODATA, RingBuffer, type ConsumedPacket, type RingBufferMode } from '../src/index.js';

const HDR = L.size; // 84
const uuid = new Uint8Array(16).fill(7);
const mk = (mode: RingBufferMode = 'discard', subbufSize = 256, numSubbuf = 4): RingBuffer =>
  new RingBuffer({ cpu: 1, subbufSize, numSubbuf, mode, uuid, streamId: 0 });
const u64 = (p: Uint8Array, at: number): number => Number(new DataView(p.buffer, p.byteOffset).getBigUint64(at, true));

/** Reserve + commit one record of `slot` bytes, writing its timestamp at its first bytes. */
function put(b: RingBuffer, slot: number, ts: number): number {
  const o = b.reserve(slot, ts);
  if (o >= 0) {
    b.dv.setUint32(b.pos, ts, true);
    b.commit(o, slot, true);
  }
  return o;
}
function take(b: RingBuffer): ConsumedPacket[] {
  const out: ConsumedPacket[] = [];
  for (;;) {
    const p = b.getSubbuf();
    if (typeof p === 'number') return out;
    b.putSubbuf(p);
    out.push(p);
  }
}

describe('reserve slow path at sub-buffer boundaries', () => {
  test('the first reserve writes the packet header; records pack after it', () => {
    const b = mk();
    expect(put(b, 40, 10)).toBe(HDR);
    expect(put(b, 40, 11)).toBe(HDR + 40);
    const dv = b.dv;
    expect(dv.getUint32(L.magic, true)).toBe(CTF_MAGIC);
    expect(b.u8.slice(L.uuid, L.uuid + 16)).toEqual(uuid);
    expect(dv.getUint32(L.cpuId, true)).toBe(1);
    expect(Number(dv.getBigUint64(L.timestampBegin, true))).toBe(10);
    expect(b.deliveries).toEqual([]);
  });

  test('a record that does not fit closes the sub-buffer with padding and is delivered with the sizes in bits', () => {
    const b = mk();
    put(b, 40, 1); // 84..124
    put(b, 40, 2); // 124..164
    put(b, 40, 3); // 164..204
    put(b, 40, 4); // 204..244
    expect(b.deliveries).toEqual([]);
    const o = put(b, 40, 5); // 244+40 > 256: next sub-buffer
    expect(o).toBe(256 + HDR);
    expect(b.deliveries).toEqual([{ subbuf: 0, lap: 0, packetSeq: 0, records: 4, discarded: 0 }]);
    expect(Number(b.dv.getBigUint64(L.contentSize, true))).toBe(244 * 8);
    expect(Number(b.dv.getBigUint64(L.packetSize, true))).toBe(256 * 8);
    expect(Number(b.dv.getBigUint64(L.timestampEnd, true))).toBe(5);
    expect(b.u8.slice(244, 256).every((x) => x === 0)).toBe(true);
    expect(b.ccLocal[0]).toBe(256);
  });

  test('a record ending exactly on the boundary: padding 0, the next reserve starts a new packet', () => {
    const b = mk();
    put(b, 256 - HDR - 72, 1);
    expect(put(b, 72, 2)).toBe(256 - 72);
    expect(b.offset).toBe(256);
    expect(b.deliveries.map((d) => d.subbuf)).toEqual([0]);
    expect(b.dataSize[0]).toBe(256);
    expect(put(b, 8, 3)).toBe(256 + HDR);
    expect(b.seqNum[1]).toBe(1);
  });

  test('delivery waits for the last commit, whichever record it is, and happens once', () => {
    const b = mk();
    const o1 = b.reserve(40, 1);
    put(b, 40, 2);
    expect(put(b, 150, 3)).toBe(256 + HDR); // switch: sub-buffer 0 closed, o1 still uncommitted
    expect(b.deliveries).toEqual([]);
    b.commit(o1, 40, false); // a REMOTE commit completes it
    expect(b.deliveries.length).toBe(1);
    b.checkDeliver(0, o1);
    expect(b.deliveries.length).toBe(1);
    expect(b.deliveryError).toBeNull();
  });
});

describe('lost counters', () => {
  test('-ENOBUFS in discard mode when the reader is a whole buffer behind; events_discarded in the next packet', () => {
    const b = mk('discard', 256, 2);
    let lost = 0;
    for (let i = 0; i < 20; i++) if (put(b, 100, i) === -ENOBUFS) lost++;
    expect(lost).toBeGreaterThan(0);
    expect(b.recordsLostFull).toBe(lost);
    expect(b.recordsLostWrap + b.recordsLostBig).toBe(0);
    const first = take(b);
    expect(first.length).toBe(1);
    put(b, 100, 100); // room again: a new packet, closing nothing yet
    b.switchSubbuf(101);
    const rest = take(b);
    const last = rest[rest.length - 1]!;
    expect(u64(last.bytes, L.eventsDiscarded)).toBe(lost);
    expect(b.recordsReserved + b.recordsLost).toBe(21);
  });

  test('-ENOSPC for a record bigger than a sub-buffer', () => {
    const b = mk();
    expect(put(b, 256 - HDR + 1, 1)).toBe(-ENOSPC);
    expect(b.recordsLostBig).toBe(1);
    expect(put(b, 256 - HDR, 2)).toBe(HDR);
  });

  test('-EIO when the target sub-buffer still waits for a commit of its previous lap', () => {
    const b = mk('overwrite', 256, 2);
    b.reserve(100, 1); // never committed: sub-buffer 0 lap 0 is never delivered
    put(b, 100, 2); // sub-buffer 1
    expect(put(b, 100, 3)).toBe(-EIO); // wraps to sub-buffer 0
    expect(b.recordsLostWrap).toBe(1);
    expect(b.recordsLostFull).toBe(0);
  });

  test('-EAGAIN when disabled, counted in no lost counter', () => {
    const b = mk();
    b.disabled = true;
    expect(put(b, 40, 1)).toBe(-EAGAIN);
    expect(b.recordsLost).toBe(0);
  });
});

describe('overwrite mode (flight recorder)', () => {
  test('loses whole sub-buffers only: packet_seq_num has gaps, every record read or counted', () => {
    const b = mk('overwrite', 256, 4);
    let produced = 0;
    for (let i = 0; i < 100; i++) if (put(b, 60, i) >= 0) produced++;
    expect(b.recordsLost).toBe(0);
    b.switchSubbuf(1000);
    const got = take(b);
    expect(got.length).toBeLessThanOrEqual(4);
    const seqs = got.map((p) => u64(p.bytes, L.packetSeqNum));
    expect(seqs[0]).toBeGreaterThan(0); // the oldest packets were overwritten
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    expect(b.packetsOverwritten).toBe(seqs[0]);
    expect(b.recordsOverwritten % 2).toBe(0); // 2 records of 60 bytes fit a 256-byte packet
    expect(b.recordsConsumed + b.recordsOverwritten).toBe(produced);
  });
});

describe('consumer', () => {
  test('get_subbuf: -EAGAIN while the writer is inside, -EBUSY when held, -ENODATA once finalized', () => {
    const b = mk();
    put(b, 40, 1);
    expect(b.getSubbuf()).toBe(-EAGAIN);
    b.switchSubbuf(2);
    const p = b.getSubbuf() as ConsumedPacket;
    expect(typeof p).toBe('object');
    expect(b.getSubbuf()).toBe(-EBUSY);
    b.putSubbuf(p);
    b.finalized = true;
    expect(b.getSubbuf()).toBe(-ENODATA);
    expect(b.consumed).toBe(256);
  });

  test('try_discard_reserve gives back only the last record', () => {
    const b = mk();
    const o1 = b.reserve(40, 1);
    const o2 = b.reserve(40, 2);
    expect(b.tryDiscardReserve(o1, 40)).toBe(-EPERM);
    expect(b.tryDiscardReserve(o2, 40)).toBe(0);
    expect(b.offset).toBe(o2);
  });
});
