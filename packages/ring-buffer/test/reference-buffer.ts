import { EAGAIN, EBUSY, EIO, ENOBUFS, ENOSPC, EPERM } from '@tracelab/core';
import { CTF_MAGIC, CTF_PACKET_LAYOUT } from '@tracelab/formats';
import { ENODATA, type ConsumedPacket, type Delivery, type RingBufferConfig, type RingBufferMode } from '../src/buffer.js';

/**
 * The differential oracle for src/buffer.ts: the first, straightforward version of the ring
 * buffer (offsets divided and taken modulo the sub-buffer size at every use, the sub-buffer
 * index recomputed at every reserve and commit). The fast path in src/buffer.ts replaced that
 * arithmetic with cached per-sub-buffer state, reciprocal multiplies and masks; the tests in
 * fast-path.test.ts drive both with the same operations and require the same results (offsets,
 * errnos, bytes, deliveries, counters). Kept verbatim apart from its name; do not optimize it.
 */
const HDR = CTF_PACKET_LAYOUT.size;
const PAGE = 4096;

function writeU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / 4294967296) >>> 0, true);
}

export class ReferenceRingBuffer {
  readonly cpu: number;
  readonly subbufSize: number;
  readonly numSubbuf: number;
  readonly bufSize: number;
  readonly mode: RingBufferMode;
  readonly bytes: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  private readonly uuid: Uint8Array;
  private readonly streamId: number;

  // ---- writer side: guarded by the owner CPU with preemption off (LTTng's local ops) -------
  /** Free-running reserve position. Moves only forward. */
  offset = 0;
  /** Absolute offset where the current sub-buffer ends (fast-path bound). */
  private curEnd = 0;
  /** Absolute offset of the current sub-buffer's start, and its byte position in `bytes`. */
  private curBase = 0;
  private curPos = 0;
  /** Byte position in `bytes` of the last successful reserve: the caller writes there. */
  pos = 0;
  /** The last timestamp handed to a reserve or switch (timestamps never go backwards). */
  lastTs = 0;
  /** Records reserved in the current lap of each sub-buffer. */
  readonly records: Float64Array;
  /** packet_seq_num of the current lap of each sub-buffer (assigned at switch_new_start). */
  readonly seqNum: Float64Array;
  private packetCount = 0;
  /** Written at switch_old_end / switch_new_end: data bytes, timestamp_end, lost snapshot. */
  readonly dataSize: Float64Array;
  readonly tsEnd: Float64Array;
  readonly tsBegin: Float64Array;
  readonly lostAtEnd: Float64Array;
  /** records_lost_full / _wrap / _big (CPU-local counters). */
  recordsLostFull = 0;
  recordsLostWrap = 0;
  recordsLostBig = 0;
  /** Successful reserves (records produced into the buffer). */
  recordsReserved = 0;
  /** Reserve attempts refused with -EAGAIN (buffer disabled/finalized): not records, not lost. */
  recordsRefused = 0;
  /** record_disabled / finalized: reserve returns -EAGAIN. */
  disabled = false;
  finalized = false;

  // ---- commit counters ----------------------------------------------------------------
  /** commit_hot[i].cc LOCAL: added to by the owner CPU only (local add). */
  readonly ccLocal: Float64Array;
  /** commit_hot[i].cc REMOTE: atomic adds from a CPU that is not the owner (the seed's proposal). */
  readonly ccRemote: Float64Array;
  /** commit_cold[i].cc_sb: the commit count at the last delivery (the delivery CAS target). */
  readonly ccSb: Float64Array;

  // ---- reader side: guarded by the consumer (one reader per buffer) -----------------------
  /** consumed: moves forward only, in whole sub-buffers (CAS; the overwrite push moves it too). */
  consumed = 0;
  /** get_subbuf held, and the consumed position it was taken at. */
  held = false;
  private heldConsumed = 0;
  /** Records in each sub-buffer's lap at its delivery (what the consumer will write out). */
  readonly deliveredRecords: Float64Array;
  /** Records in delivered laps that the overwrite push skipped before the consumer read them. */
  recordsOverwritten = 0;
  packetsOverwritten = 0;
  /** Records in packets the consumer took out. */
  recordsConsumed = 0;
  packetsConsumed = 0;

  // ---- checker (ghost) state: what the invariants compare against --------------------------
  /** The true sum of every add to each sub-buffer's commit count, immune to lost updates. */
  readonly ghostCommitted: Float64Array;
  /** Laps delivered per sub-buffer. */
  readonly deliveredLaps: Float64Array;
  /** Set when a lap was delivered twice or before it was complete. */
  deliveryError: string | null = null;

  /** Deliveries since the owner last drained them (the plugin turns them into events). */
  readonly deliveries: Delivery[] = [];

  constructor(config: RingBufferConfig) {
    const { subbufSize, numSubbuf } = config;
    this.cpu = config.cpu;
    this.subbufSize = subbufSize;
    this.numSubbuf = numSubbuf;
    this.bufSize = subbufSize * numSubbuf;
    this.mode = config.mode;
    this.uuid = config.uuid;
    this.streamId = config.streamId;
    this.bytes = new ArrayBuffer(this.bufSize);
    this.u8 = new Uint8Array(this.bytes);
    this.dv = new DataView(this.bytes);
    const f = (): Float64Array => new Float64Array(numSubbuf);
    this.records = f();
    this.seqNum = f();
    this.dataSize = f();
    this.tsEnd = f();
    this.tsBegin = f();
    this.lostAtEnd = f();
    this.ccLocal = f();
    this.ccRemote = f();
    this.ccSb = f();
    this.deliveredRecords = f();
    this.ghostCommitted = f();
    this.deliveredLaps = f();
  }

  /** index(o) = (o mod buf_size) / subbuf_size. */
  subbufIndex(o: number): number {
    return ((o / this.subbufSize) | 0) & (this.numSubbuf - 1);
  }

  /** lap(o) = o div buf_size. */
  lap(o: number): number {
    return Math.floor(o / this.bufSize);
  }

  /** Records lost so far (events_discarded): full + wrap + big. */
  get recordsLost(): number {
    return this.recordsLostFull + this.recordsLostWrap + this.recordsLostBig;
  }

  /**
   * lib_ring_buffer_reserve for a record of `slot` bytes (event header + payload) at
   * timestamp `ts` (must not be below `lastTs`). Returns the record's offset (>= 0), with
   * `pos` set to its byte position in `bytes`, or a negative errno: -EAGAIN (disabled),
   * -ENOBUFS (discard mode, buffer full: records_lost_full), -ENOSPC (bigger than a
   * sub-buffer: records_lost_big), -EIO (the target sub-buffer's previous lap was never
   * delivered: records_lost_wrap). The caller writes `slot` bytes at `pos`, then commits.
   */
  reserve(slot: number, ts: number): number {
    const o = this.offset;
    // Fast path: not at a sub-buffer start, fits, and does not end exactly on the boundary.
    if (o + slot < this.curEnd && !this.disabled) {
      this.offset = o + slot;
      this.pos = this.curPos + (o - this.curBase);
      this.lastTs = ts;
      {
        const i = this.subbufIndex(o);
        this.records[i] = this.records[i]! + 1;
      }
      this.recordsReserved++;
      return o;
    }
    return this.reserveSlow(slot, ts);
  }

  private reserveSlow(slot: number, ts: number): number {
    if (this.disabled) {
      this.recordsRefused++;
      return -EAGAIN;
    }
    const sb = this.subbufSize;
    const old = this.offset;
    let begin = old;
    let switchOldEnd = false;
    let switchNewStart = false;
    const off = old % sb;
    if (off === 0) {
      switchNewStart = true;
    } else if (off + slot > sb) {
      switchOldEnd = true;
      switchNewStart = true;
    }
    if (switchNewStart) {
      if (switchOldEnd) begin = old - off + sb;
      const idx = this.subbufIndex(begin);
      const lapBase = this.lap(begin) * sb;
      // The target's previous lap must have been delivered (cc_sb caught up), else a commit
      // is still missing there: drop the record.
      if (this.ccSb[idx] !== lapBase) {
        this.recordsLostWrap++;
        return -EIO;
      }
      if (this.mode === 'discard' && begin - (this.consumed - (this.consumed % sb)) >= this.bufSize) {
        this.recordsLostFull++;
        return -ENOBUFS;
      }
      begin += HDR;
      if ((begin % sb) + slot > sb) {
        this.recordsLostBig++;
        return -ENOSPC;
      }
    }
    const end = begin + slot;
    const endSwitchOld = end % sb === 0;
    // The CAS: this model runs each reserve atomically on its owner CPU.
    this.offset = end;
    if (this.mode === 'overwrite') this.pushReader(end - 1);
    if (switchOldEnd) this.switchOldEnd(old, ts);
    if (switchNewStart) this.switchNewStart(begin - HDR, ts);
    const idx = this.subbufIndex(begin);
    this.pos = this.curPos + (begin - this.curBase);
    this.lastTs = ts;
    this.records[idx] = this.records[idx]! + 1;
    this.recordsReserved++;
    if (endSwitchOld) this.switchNewEnd(end, ts);
    return begin;
  }

  /**
   * lib_ring_buffer_reserve_push_reader (overwrite mode): when the writer is a whole buffer
   * ahead of the reader, push consumed to the next sub-buffer; the lap it skips is lost to
   * the consumer (a gap in packet_seq_num), unless the consumer holds it already.
   */
  private pushReader(last: number): void {
    const sb = this.subbufSize;
    const consumed = this.consumed;
    const consumedTrunc = consumed - (consumed % sb);
    if (last - (last % sb) - consumedTrunc >= this.bufSize) {
      if (!(this.held && this.heldConsumed === consumed)) {
        const idx = this.subbufIndex(consumed);
        this.recordsOverwritten += this.deliveredRecords[idx]!;
        this.packetsOverwritten++;
      }
      this.consumed = consumedTrunc + sb;
    }
  }

  /** switch_old_end: close the sub-buffer holding `old - 1`: data size, padding, ts_end, lost snapshot. */
  private switchOldEnd(old: number, ts: number): void {
    const sb = this.subbufSize;
    const idx = this.subbufIndex(old - 1);
    const dataSize = ((old - 1) % sb) + 1;
    this.dataSize[idx] = dataSize;
    this.tsEnd[idx] = ts;
    this.lostAtEnd[idx] = this.recordsLost;
    this.addCommit(idx, sb - dataSize, true);
    this.checkDeliver(idx, old - 1);
  }

  /** switch_new_start: write the packet header at `start` (a sub-buffer start) and count it. */
  private switchNewStart(start: number, ts: number): void {
    const idx = this.subbufIndex(start);
    const pos = idx * this.subbufSize;
    this.curBase = start;
    this.curPos = pos;
    this.curEnd = start + this.subbufSize;
    this.records[idx] = 0;
    const seq = this.packetCount++;
    this.seqNum[idx] = seq;
    this.tsBegin[idx] = ts;
    const dv = this.dv;
    const L = CTF_PACKET_LAYOUT;
    dv.setUint32(pos + L.magic, CTF_MAGIC, true);
    this.u8.set(this.uuid, pos + L.uuid);
    dv.setUint32(pos + L.streamId, this.streamId, true);
    writeU64(dv, pos + L.streamInstanceId, this.cpu);
    writeU64(dv, pos + L.timestampBegin, ts);
    writeU64(dv, pos + L.timestampEnd, 0);
    writeU64(dv, pos + L.contentSize, 0);
    writeU64(dv, pos + L.packetSize, 0);
    writeU64(dv, pos + L.packetSeqNum, seq);
    writeU64(dv, pos + L.eventsDiscarded, 0);
    dv.setUint32(pos + L.cpuId, this.cpu, true);
    this.addCommit(idx, HDR, true);
    this.checkDeliver(idx, start);
  }

  /** switch_new_end: the record ends exactly on the boundary: the sub-buffer is full, padding 0. */
  private switchNewEnd(end: number, ts: number): void {
    const idx = this.subbufIndex(end - 1);
    this.dataSize[idx] = this.subbufSize;
    this.tsEnd[idx] = ts;
    this.lostAtEnd[idx] = this.recordsLost;
    this.curEnd = end; // the next reserve is at a sub-buffer start: slow path
  }

  /** Adds to a commit count: LOCAL (owner CPU) or REMOTE (atomic, any CPU). Also the ghost sum. */
  addCommit(idx: number, n: number, local: boolean): void {
    if (local) this.ccLocal[idx] = this.ccLocal[idx]! + n;
    else this.ccRemote[idx] = this.ccRemote[idx]! + n;
    this.ghostCommitted[idx] = this.ghostCommitted[idx]! + n;
  }

  /**
   * lib_ring_buffer_commit for the record reserved at `o` (`slot` bytes): add to the commit
   * count (`local`: the committing CPU is the owner), then re-read the sum and deliver if the
   * lap is complete.
   */
  commit(o: number, slot: number, local: boolean): void {
    const idx = ((o / this.subbufSize) | 0) & (this.numSubbuf - 1);
    if (local) this.ccLocal[idx] = this.ccLocal[idx]! + slot;
    else this.ccRemote[idx] = this.ccRemote[idx]! + slot;
    this.ghostCommitted[idx] = this.ghostCommitted[idx]! + slot;
    const cc = this.ccLocal[idx]! + this.ccRemote[idx]!;
    // Complete when cc = (lap + 1) * subbuf_size: test the cheap "multiple of sb" first.
    if (cc % this.subbufSize === 0) this.checkDeliver(idx, o);
  }

  /**
   * lib_ring_buffer_check_deliver: when the commit count (LOCAL + REMOTE) of the lap holding
   * `o` is complete, the winner of the cc_sb CAS delivers: it writes the packet context's end
   * fields, snapshots the record count, and publishes cc_sb = cc.
   */
  checkDeliver(idx: number, o: number): void {
    const sb = this.subbufSize;
    const lap = this.lap(o);
    const cc = this.ccLocal[idx]! + this.ccRemote[idx]!;
    if (cc - sb !== lap * sb) return;
    if (this.ccSb[idx] !== cc - sb) return; // lost the CAS, or already delivered
    // ghost checks: exactly once per lap, and only when every add of the lap is in.
    if (this.deliveredLaps[idx] !== lap) this.deliveryError ??= `cpu ${this.cpu} sub-buffer ${idx}: lap ${lap} delivered after ${this.deliveredLaps[idx]} laps`;
    if (this.ghostCommitted[idx] !== cc)
      this.deliveryError ??= `cpu ${this.cpu} sub-buffer ${idx} lap ${lap} delivered with commit count ${cc} while ${this.ghostCommitted[idx]} bytes were committed`;
    this.deliveredLaps[idx] = lap + 1;
    const pos = idx * sb;
    const dv = this.dv;
    const L = CTF_PACKET_LAYOUT;
    const dataSize = this.dataSize[idx]!;
    const packetSize = Math.min(sb, Math.ceil(dataSize / PAGE) * PAGE);
    writeU64(dv, pos + L.timestampEnd, this.tsEnd[idx]!);
    writeU64(dv, pos + L.contentSize, dataSize * 8);
    writeU64(dv, pos + L.packetSize, packetSize * 8);
    writeU64(dv, pos + L.eventsDiscarded, this.lostAtEnd[idx]!);
    if (packetSize > dataSize) this.u8.fill(0, pos + dataSize, pos + packetSize);
    const records = this.records[idx]!;
    this.deliveredRecords[idx] = records;
    this.ccSb[idx] = cc;
    this.deliveries.push({ subbuf: idx, lap, packetSeq: this.seqNum[idx]!, records, discarded: this.lostAtEnd[idx]! });
  }

  /**
   * lib_ring_buffer_switch_slow: close the current sub-buffer if it holds anything, so it
   * can be delivered once its commits are in (ACTIVE and FLUSH alike: an empty sub-buffer is
   * not switched: see docs). Runs on the owner CPU; `local` false when run from another CPU
   * (its padding add then goes to the REMOTE counter). Returns true if it switched.
   */
  switchSubbuf(ts: number, local = true): boolean {
    const old = this.offset;
    const sb = this.subbufSize;
    if (old % sb === 0) return false;
    const next = old - (old % sb) + sb;
    this.offset = next;
    this.curEnd = next;
    if (ts > this.lastTs) this.lastTs = ts;
    const idx = this.subbufIndex(old - 1);
    const dataSize = ((old - 1) % sb) + 1;
    this.dataSize[idx] = dataSize;
    this.tsEnd[idx] = this.lastTs;
    this.lostAtEnd[idx] = this.recordsLost;
    this.addCommit(idx, sb - dataSize, local);
    this.checkDeliver(idx, old - 1);
    return true;
  }

  /**
   * lib_ring_buffer_try_discard_reserve: gives back the record reserved at `o` (`slot` bytes)
   * if it is still the last one reserved. 0, or -EPERM when another record followed it.
   */
  tryDiscardReserve(o: number, slot: number): number {
    if (this.offset !== o + slot) return -EPERM;
    this.offset = o;
    if (this.curEnd === o + slot) this.curEnd = o - (o % this.subbufSize) + this.subbufSize;
    const idx = this.subbufIndex(o);
    this.records[idx] = this.records[idx]! - 1;
    this.recordsReserved--;
    return 0;
  }

  // ---- consumer ---------------------------------------------------------------------------

  /**
   * lib_ring_buffer_get_subbuf at the current consumed position: -EBUSY if one is held
   * already; -EAGAIN if that lap is not delivered yet or the writer is still inside it
   * (-ENODATA once finalized); otherwise the reader takes the packet (the swap of the
   * reader's spare sub-buffer is modelled as a copy into the reader's own bytes) and 0.
   */
  getSubbuf(): ConsumedPacket | number {
    if (this.held) return -EBUSY;
    const consumed = this.consumed;
    const sb = this.subbufSize;
    const idx = this.subbufIndex(consumed);
    const lap = this.lap(consumed);
    const notReady = this.ccSb[idx] !== (lap + 1) * sb || this.offset - (this.offset % sb) === consumed - (consumed % sb);
    if (notReady) return this.finalized ? -ENODATA : -EAGAIN;
    const pos = idx * sb;
    const dataSize = this.dataSize[idx]!;
    const packetSize = Math.min(sb, Math.ceil(dataSize / PAGE) * PAGE);
    this.held = true;
    this.heldConsumed = consumed;
    return {
      subbuf: idx,
      lap,
      packetSeq: this.seqNum[idx]!,
      records: this.deliveredRecords[idx]!,
      bytes: this.u8.slice(pos, pos + packetSize),
      timestampBegin: this.tsBegin[idx]!,
      timestampEnd: this.tsEnd[idx]!,
    };
  }

  /** lib_ring_buffer_put_subbuf + move_consumer: release, and move consumed forward (CAS: a push may have moved it already). */
  putSubbuf(packet: ConsumedPacket): void {
    if (!this.held) return;
    this.held = false;
    this.recordsConsumed += packet.records;
    this.packetsConsumed++;
    const target = this.heldConsumed - (this.heldConsumed % this.subbufSize) + this.subbufSize;
    if (this.consumed < target) this.consumed = target;
  }
}
