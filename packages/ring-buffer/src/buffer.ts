import { EAGAIN, EBUSY, EIO, ENOBUFS, ENOSPC, EPERM } from '@tracelab/core';
import { CTF_MAGIC, CTF_PACKET_LAYOUT } from '@tracelab/formats';

/** ENODATA (include/uapi/asm-generic/errno.h): get_subbuf on a finalized buffer with nothing left. */
export const ENODATA = 61;

/**
 * One per-CPU buffer of an LTTng lib ring buffer channel (lttng-modules
 * src/lib/ringbuffer/ring_buffer_frontend.c, include/ringbuffer/frontend_api.h), on a real
 * ArrayBuffer, as fast host TypeScript. Sub-buffers are laid out as CTF packets: the packet
 * header and context are written at `switch_new_start` (magic, uuid, stream ids,
 * timestamp_begin, packet_seq_num, cpu_id) and completed at delivery (timestamp_end,
 * content_size, packet_size, events_discarded), so the consumer writes a delivered sub-buffer
 * out as it is.
 *
 * Offsets are free-running plain numbers, exact up to 2^53 bytes. The fast path never divides
 * or takes a floating-point modulo (V8 compiles `%` on doubles to a call, ~5 ns): the index of
 * the sub-buffer holding `o` is `((o * (1 / subbufSize)) | 0) & (numSubbuf - 1)` (the multiply
 * by a power-of-two reciprocal is exact, and `| 0` is ToInt32, which wraps modulo 2^32, so the
 * low bits stay right past 2^31 and 2^32), and "a multiple of subbufSize" is
 * `(x & (subbufSize - 1)) === 0` (the same ToInt32 argument). See docs/ring-buffer.md,
 * "Performance".
 *
 * Concurrency. This class is single-threaded host code: each method runs to completion. The
 * simulation (src/internal/plugin.ts) supplies the kernel's rules around it: `reserve`,
 * `switchSubbuf` and a LOCAL commit run on the owner CPU with preemption off (that is what
 * makes LTTng's CPU-local `v_` operations correct); a REMOTE commit is an atomic add from any
 * CPU; the modelled non-atomic local add from another CPU (the unsafe `local-only` variant)
 * is split by the caller into `ccLocal[i]` read, a scheduling point and a write.
 */
export type RingBufferMode = 'discard' | 'overwrite';

export interface RingBufferConfig {
  readonly cpu: number;
  /** Bytes per sub-buffer: a power of two, at least 128. */
  readonly subbufSize: number;
  /** Sub-buffers per buffer: a power of two, at least 2. */
  readonly numSubbuf: number;
  readonly mode: RingBufferMode;
  /** The trace uuid's 16 bytes (RFC 4122 order), written in every packet header. */
  readonly uuid: Uint8Array;
  readonly streamId: number;
  /**
   * lttng-modules' reader sub-buffer ids (update_read_sb_index). Overwrite mode: the buffer has
   * num_subbuf + 1 sub-buffers of memory (extra_reader_sb); the writer's table maps each index
   * to one of them and the reader owns the extra one (its spare). get_subbuf swaps its spare
   * with the sub-buffer it reads, only while that sub-buffer's id carries noref and the lap
   * being consumed (else -EAGAIN), so the reader reads in place while the writer, wrapping onto
   * that index, writes into the spare. Discard mode: no exchange, the reader reads the writer's
   * sub-buffer in place (the writer cannot wrap onto it before put_subbuf moves consumed).
   * false (default): the reader copies the packet out, and the memory is num_subbuf sub-buffers.
   */
  readonly readerSwap?: boolean;
  /**
   * UNSAFE when false (a broken reader, to show the swap is needed): with `readerSwap` in
   * overwrite mode, get_subbuf neither checks the id's noref and lap nor exchanges its spare into
   * the writer's table: it reads the writer's sub-buffer in place, as in discard mode, and a
   * writer that laps onto that index meanwhile writes over the packet being read. Default true.
   */
  readonly readerSwapExchange?: boolean;
}

/** A sub-buffer lap delivered by `checkDeliver`: what the lifecycle event records. */
export interface Delivery {
  readonly subbuf: number;
  readonly lap: number;
  readonly packetSeq: number;
  readonly records: number;
  readonly discarded: number;
}

/**
 * A packet the consumer took out (`getSubbuf`): bytes are the reader's own copy, or with
 * `readerSwap` a view of the sub-buffer the reader swapped in (valid until its next `getSubbuf`,
 * which gives that memory back to the writer).
 */
export interface ConsumedPacket {
  readonly subbuf: number;
  readonly lap: number;
  readonly packetSeq: number;
  readonly records: number;
  /** `packet_size` bytes: header, records, padding. */
  readonly bytes: Uint8Array;
  readonly timestampBegin: number;
  readonly timestampEnd: number;
}

/**
 * Test-only breakages of the buffer's own bookkeeping (src/internal/faults.ts sets them), so a
 * test can watch an invariant fire on a broken buffer. Never set by the plugin's options.
 */
export interface RingBufferFaults {
  /** packet_seq_num from the sub-buffer index instead of the buffer's packet count (repeats after a wrap). */
  packetSeqFromIndex?: boolean;
  /** events_discarded as the records lost since the previous packet instead of the running total. */
  eventsDiscardedPerPacket?: boolean;
  /** put_subbuf's move_consumer as a plain store instead of a forward-only CAS (an overwrite push meanwhile is undone). */
  moveConsumerPlainStore?: boolean;
}

/**
 * One pass of lib_ring_buffer_try_reserve_slow up to its reads: the offset it read
 * (`offset_cmp`) and what it decided from it. The caller then reads the target's cc_sb
 * (`reserveSlowCheck`) and tries the CAS (`reserveSlowApply`); between the steps other CPUs
 * may move the offset (a remote switch) or deliver the target.
 */
export interface ReserveSlowPlan {
  readonly old: number;
  /** Where the record starts (past a new packet header when switchNewStart). */
  readonly begin: number;
  readonly switchOldEnd: boolean;
  readonly switchNewStart: boolean;
}

/** What a step of the slow path returns when it must start over (the offset moved under it). */
export const RESERVE_RETRY = -0x10000;

const HDR = CTF_PACKET_LAYOUT.size;
const PAGE = 4096;
/** Uint32Array stores are little-endian only on a little-endian host; otherwise use the DataView. */
/** Sections of `RingBuffer.hot`. */
const LOCAL = 0;
const REMOTE = 1;
const GHOST = 2;
const REC = 3;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function writeU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / 4294967296) >>> 0, true);
}

export class RingBuffer {
  // Fields the constructor assigns are `declare`d: with the ES2022 target TypeScript would
  // otherwise define each as `undefined` first, and V8 would then generalize it to "any tagged
  // value" (a map check on every typed-array read, a Smi/HeapNumber check on every number read
  // of the fast path: ~2 ns per reserve + commit). See docs/ring-buffer.md, "Performance".
  declare readonly cpu: number;
  declare readonly subbufSize: number;
  declare readonly numSubbuf: number;
  declare readonly bufSize: number;
  declare readonly mode: RingBufferMode;
  declare readonly bytes: ArrayBuffer;
  /** `RingBufferConfig.readerSwap`. */
  declare readonly readerSwap: boolean;
  /**
   * With `readerSwap`, lttng-modules' sub-buffer ids (backend buf_wsb / buf_rsb), kept as three
   * arrays instead of one packed word: `wsbPage[i]`, the memory (sub-buffer of `bytes`) the
   * writer's index i uses; `wsbNoref[i]`, 1 once lap `wsbLap[i]` of index i is delivered (the
   * reader may take it), 0 from the writer's switch_new_start into it (the writer owns it).
   * Written by the writer (switch_new_start, delivery) and by the reader's swap in `getSubbuf`
   * (a compare-and-exchange upstream: here `getSubbuf` is one step). Null without `readerSwap`.
   */
  declare readonly wsbPage: Uint32Array | null;
  declare readonly wsbNoref: Uint8Array | null;
  declare readonly wsbLap: Float64Array | null;
  /** `RingBufferConfig.readerSwapExchange` (false: the unsafe in-place read in overwrite mode). */
  declare readonly swapExchange: boolean;
  /** buf_rsb: the memory the reader owns (its spare, or the sub-buffer it read last). Reader only. */
  rsbPage = 0;
  declare readonly u8: Uint8Array;
  declare readonly dv: DataView;
  /**
   * 32-bit word view of `bytes` in host byte order. For the fast path of a probe: when the host
   * is little-endian (`wordStores`) and a record's `pos` is a multiple of 4, its 32-bit fields
   * can be stored as `u32[(pos >>> 2) + k]`, which is cheaper than `dv.setUint32`. Records are
   * byte-packed (CTF `align = 8` bits), so `pos` is not always aligned: check it.
   */
  declare readonly u32: Uint32Array;
  /** Whether `u32` stores are little-endian (the CTF byte order), i.e. the host is. */
  readonly wordStores: boolean = LITTLE_ENDIAN_HOST;
  declare private readonly uuid: Uint8Array;
  declare private readonly streamId: number;
  /** 1 / subbufSize: exact (a power of two), so `o * invSubbuf` is `o / subbufSize` without a divide. */
  declare private readonly invSubbuf: number;
  /** numSubbuf - 1 and subbufSize - 1: masks for the sub-buffer index and the offset in it. */
  declare private readonly idxMask: number;
  declare private readonly offMask: number;

  // ---- writer side: guarded by the owner CPU with preemption off (LTTng's local ops) -------
  /** Free-running reserve position. Moves only forward. */
  offset = 0;
  /** Absolute offset where the current sub-buffer ends (fast-path bound). */
  private curEnd = 0;
  /** Absolute offset of the current sub-buffer's start, and its byte position in `bytes`. */
  private curBase = 0;
  private curPos = 0;
  /** The current sub-buffer's index, and `curPos - curBase` (a record at `o` is at `o + curDelta`). */
  private curIdx = 0;
  private curDelta = 0;
  /** Index in `hot` of the current sub-buffer's record count (`REC * numSubbuf + curIdx`). */
  private curRec = 0;
  /** Byte position in `bytes` of the last successful reserve: the caller writes there. */
  pos = 0;
  /** The last timestamp handed to a reserve or switch (timestamps never go backwards). */
  lastTs = 0;
  /** Records reserved in the current lap of each sub-buffer. */
  declare readonly records: Float64Array;
  /** packet_seq_num of the current lap of each sub-buffer (assigned at switch_new_start). */
  declare readonly seqNum: Float64Array;
  private packetCount = 0;
  /** Written at switch_old_end / switch_new_end: data bytes, timestamp_end, lost snapshot. */
  declare readonly dataSize: Float64Array;
  declare readonly tsEnd: Float64Array;
  declare readonly tsBegin: Float64Array;
  declare readonly lostAtEnd: Float64Array;
  /** records_lost_full / _wrap / _big (CPU-local counters). */
  recordsLostFull = 0;
  recordsLostWrap = 0;
  recordsLostBig = 0;
  /**
   * Records refused because the CPU was already RING_BUFFER_MAX_NESTING deep in reserves
   * (lib_ring_buffer_get_cpu's limit): counted by the plugin's reserve path on the owner CPU.
   */
  recordsLostNesting = 0;
  /**
   * Records refused because the trace clock read failed (-EIO from lttng-modules' ktime_get
   * wrapper in NMI context, `traceClock: 'ktime-get'`). lttng-modules' try_reserve_slow returns
   * before its lost counters; tracelab counts them, as it does the nesting limit's (a departure,
   * docs/ring-buffer.md). Counted by the plugin's reserve path on the owner CPU.
   */
  recordsLostClock = 0;
  /** Successful reserves (records produced into the buffer). */
  recordsReserved = 0;
  /** Reserve attempts refused with -EAGAIN (buffer disabled/finalized): not records, not lost. */
  recordsRefused = 0;
  /** record_disabled / finalized: reserve returns -EAGAIN. */
  disabled = false;
  finalized = false;

  /**
   * The counters the fast path touches, in one array so reserve and commit check one typed
   * array instead of four: `[ccLocal | ccRemote | ghostCommitted | records]`, `numSubbuf`
   * each. The public `ccLocal`, `ccRemote`, `ghostCommitted` and `records` are views into it.
   * Guarded as each view says.
   */
  declare private readonly hot: Float64Array;

  // ---- commit counters ----------------------------------------------------------------
  /** commit_hot[i].cc LOCAL: added to by the owner CPU only (local add). */
  declare readonly ccLocal: Float64Array;
  /** commit_hot[i].cc REMOTE: atomic adds from a CPU that is not the owner (the seed's proposal). */
  declare readonly ccRemote: Float64Array;
  /** commit_cold[i].cc_sb: the commit count at the last delivery (the delivery CAS target). */
  declare readonly ccSb: Float64Array;

  // ---- reader side: guarded by the consumer (one reader per buffer) -----------------------
  /** consumed: moves forward only, in whole sub-buffers (CAS; the overwrite push moves it too). */
  consumed = 0;
  /** get_subbuf held, and the consumed position it was taken at. */
  held = false;
  private heldConsumed = 0;
  /** Records in each sub-buffer's lap at its delivery (what the consumer will write out). */
  declare readonly deliveredRecords: Float64Array;
  /** Records in delivered laps that the overwrite push skipped before the consumer read them. */
  recordsOverwritten = 0;
  packetsOverwritten = 0;
  /** Records in packets the consumer took out. */
  recordsConsumed = 0;
  packetsConsumed = 0;

  // ---- checker (ghost) state: what the invariants compare against --------------------------
  /** The true sum of every add to each sub-buffer's commit count, immune to lost updates. */
  declare readonly ghostCommitted: Float64Array;
  /** Laps delivered per sub-buffer. */
  declare readonly deliveredLaps: Float64Array;
  /** Set when a lap was delivered twice or before it was complete. */
  deliveryError: string | null = null;

  /** Deliveries since the owner last drained them (the plugin turns them into events). */
  readonly deliveries: Delivery[] = [];

  /**
   * Set by a caller that runs check_deliver's two steps itself (the simulation's `interleave`):
   * the switches and commits done here then leave their check_deliver calls in
   * `pendingChecks` (pairs of sub-buffer index and offset) for the caller to run. Guarded by
   * the caller, which drains the list in the step that filled it.
   */
  deferDelivery = false;
  readonly pendingChecks: number[] = [];

  /** Slow-path passes started over because the offset moved while cc_sb was read. */
  reserveRetries = 0;
  /** Test-only breakages (src/internal/faults.ts); null in every real run. */
  faults: RingBufferFaults | null = null;
  /** events_discarded of the last packet delivered (for the per-packet fault only). */
  private lostAtLastDelivery = 0;

  constructor(config: RingBufferConfig) {
    const { subbufSize, numSubbuf } = config;
    this.cpu = config.cpu;
    this.subbufSize = subbufSize;
    this.numSubbuf = numSubbuf;
    this.bufSize = subbufSize * numSubbuf;
    this.mode = config.mode;
    this.uuid = config.uuid;
    this.streamId = config.streamId;
    this.readerSwap = config.readerSwap === true;
    this.swapExchange = config.readerSwapExchange !== false;
    this.bytes = new ArrayBuffer(this.bufSize + (this.readerSwap && this.mode === 'overwrite' ? subbufSize : 0));
    this.wsbPage = this.readerSwap ? Uint32Array.from({ length: numSubbuf }, (_, i) => i) : null;
    this.wsbNoref = this.readerSwap ? new Uint8Array(numSubbuf) : null;
    this.wsbLap = this.readerSwap ? new Float64Array(numSubbuf) : null;
    this.rsbPage = numSubbuf;
    this.u8 = new Uint8Array(this.bytes);
    this.dv = new DataView(this.bytes);
    this.u32 = new Uint32Array(this.bytes);
    this.invSubbuf = 1 / subbufSize;
    this.idxMask = numSubbuf - 1;
    this.offMask = subbufSize - 1;
    const f = (): Float64Array => new Float64Array(numSubbuf);
    const hot = new Float64Array(4 * numSubbuf);
    const view = (k: number): Float64Array => hot.subarray(k * numSubbuf, (k + 1) * numSubbuf);
    this.hot = hot;
    this.ccLocal = view(LOCAL);
    this.ccRemote = view(REMOTE);
    this.ghostCommitted = view(GHOST);
    this.records = view(REC);
    this.seqNum = f();
    this.dataSize = f();
    this.tsEnd = f();
    this.tsBegin = f();
    this.lostAtEnd = f();
    this.ccSb = f();
    this.deliveredRecords = f();
    this.deliveredLaps = f();
  }

  /** index(o) = (o mod buf_size) / subbuf_size (exact for any offset below 2^53: see the class comment). */
  subbufIndex(o: number): number {
    return ((o * this.invSubbuf) | 0) & this.idxMask;
  }

  /** The byte position in `bytes` of index `idx`'s sub-buffer (its memory in the writer's table with `readerSwap`). */
  subbufPos(idx: number): number {
    return (this.wsbPage === null ? idx : this.wsbPage[idx]!) * this.subbufSize;
  }

  /** lap(o) = o div buf_size. */
  lap(o: number): number {
    return Math.floor(o / this.bufSize);
  }

  /** Records lost so far (events_discarded): full + wrap + big + nesting + clock. */
  get recordsLost(): number {
    return this.recordsLostFull + this.recordsLostWrap + this.recordsLostBig + this.recordsLostNesting + this.recordsLostClock;
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
    const end = o + slot;
    // Fast path: not at a sub-buffer start, fits, and does not end exactly on the boundary.
    // Everything it needs about the current sub-buffer was cached at switch_new_start.
    if (end < this.curEnd && !this.disabled) {
      this.offset = end;
      this.pos = o + this.curDelta;
      this.lastTs = ts;
      const hot = this.hot;
      const r = this.curRec;
      hot[r] = hot[r]! + 1;
      this.recordsReserved++;
      return o;
    }
    return this.reserveSlow(slot, ts);
  }

  /**
   * The reserve fast path alone: the record's offset (with `pos` set), or RESERVE_RETRY when
   * the slow path must run (a sub-buffer start, a record that does not fit or ends on the
   * boundary, or a disabled buffer).
   */
  tryReserveFast(slot: number, ts: number): number {
    const o = this.offset;
    const end = o + slot;
    if (end >= this.curEnd || this.disabled) return RESERVE_RETRY;
    this.offset = end;
    this.pos = o + this.curDelta;
    this.lastTs = ts;
    const r = this.curRec;
    this.hot[r] = this.hot[r]! + 1;
    this.recordsReserved++;
    return o;
  }

  /**
   * lib_ring_buffer_reserve_slow: the CAS retry loop over lib_ring_buffer_try_reserve_slow,
   * run here as one atomic step (the owner CPU with preemption off). The simulation runs the
   * same three steps with scheduling points between them (`reserveSlowPlan`,
   * `reserveSlowCheck`, `reserveSlowApply`).
   */
  private reserveSlow(slot: number, ts: number): number {
    for (;;) {
      if (this.disabled) {
        this.recordsRefused++;
        return -EAGAIN;
      }
      const plan = this.reserveSlowPlan(slot);
      const r = this.reserveSlowCheck(plan, slot, true);
      if (r === RESERVE_RETRY) continue;
      if (r < 0) return r;
      const o = this.reserveSlowApply(plan, slot, ts);
      if (o !== RESERVE_RETRY) return o;
    }
  }

  /** try_reserve_slow, first step: read the offset and decide whether the record switches sub-buffers. */
  reserveSlowPlan(slot: number): ReserveSlowPlan {
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
      begin += HDR;
    }
    return { old, begin, switchOldEnd, switchNewStart };
  }

  /**
   * try_reserve_slow, second step: read the target sub-buffer's cc_sb, then (after a read
   * barrier) the offset again: if it moved, the cc_sb read may belong to another lap than the
   * offset the plan was made from, so start over (RESERVE_RETRY). `reread` false is the
   * unsafe variant without that re-read (SEMANTICS.md 6, §5.2). Then the integrity check
   * (-EIO, records_lost_wrap), the full check in discard mode (-ENOBUFS, records_lost_full)
   * and the size check (-ENOSPC, records_lost_big). 0 when the record may go ahead.
   */
  reserveSlowCheck(plan: ReserveSlowPlan, slot: number, reread: boolean, ccSbRead?: number): number {
    if (!plan.switchNewStart) return 0;
    const sb = this.subbufSize;
    const begin = plan.begin - HDR;
    const idx = this.subbufIndex(begin);
    const lapBase = this.lap(begin) * sb;
    const commitCount = ccSbRead ?? this.ccSb[idx]!;
    if (reread && this.offset !== plan.old) {
      this.reserveRetries++;
      return RESERVE_RETRY;
    }
    // The target's previous lap must have been delivered (cc_sb caught up), else a commit
    // is still missing there (or its delivery is half done): drop the record.
    if (commitCount !== lapBase) {
      // A cc_sb already past the lap this reserve targets was read for a newer offset than the
      // plan's: the loss is counted from two states that never held together.
      if (commitCount > lapBase)
        this.deliveryError ??= `cpu ${this.cpu} sub-buffer ${idx}: records_lost_wrap counted from a stale offset (${plan.old}): cc_sb reads ${commitCount}, past lap ${lapBase / sb} that the reserve targets`;
      this.recordsLostWrap++;
      return -EIO;
    }
    if (this.mode === 'discard' && begin - (this.consumed - (this.consumed % sb)) >= this.bufSize) {
      this.recordsLostFull++;
      return -ENOBUFS;
    }
    if ((plan.begin % sb) + slot > sb) {
      this.recordsLostBig++;
      return -ENOSPC;
    }
    return 0;
  }

  /**
   * The CAS of offset from `plan.old` to the record's end (RESERVE_RETRY when the offset
   * moved), then push_reader, switch_old_end, switch_new_start and switch_new_end. Returns
   * the record's offset, with `pos` set.
   */
  reserveSlowApply(plan: ReserveSlowPlan, slot: number, ts: number): number {
    if (this.offset !== plan.old) {
      this.reserveRetries++;
      return RESERVE_RETRY;
    }
    const sb = this.subbufSize;
    const { old, begin, switchOldEnd, switchNewStart } = plan;
    const end = begin + slot;
    const endSwitchOld = end % sb === 0;
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
   * The **unsafe** `offsetUpdate: 'plain-store'` variant of the offset update: the offset read
   * by `reserveSlowPlan` is not compared again; the record's end is stored over whatever the
   * offset holds now. A reserve made meanwhile on this CPU (an interrupt's, between the read
   * and this store) is overwritten: both records own the same bytes. The record's byte
   * position is computed from its own offset (the cached current sub-buffer may be the
   * interrupt's by now). Returns the record's offset, with `pos` set.
   */
  reservePlainStore(plan: ReserveSlowPlan, slot: number, ts: number): number {
    const { old, begin, switchOldEnd, switchNewStart } = plan;
    const end = begin + slot;
    this.offset = end;
    if (this.mode === 'overwrite') this.pushReader(end - 1);
    if (switchOldEnd) this.switchOldEnd(old, ts);
    if (switchNewStart) this.switchNewStart(begin - HDR, ts);
    const idx = this.subbufIndex(begin);
    this.pos = this.subbufPos(idx) + (begin & this.offMask);
    if (ts > this.lastTs) this.lastTs = ts;
    this.records[idx] = this.records[idx]! + 1;
    this.recordsReserved++;
    if ((end & this.offMask) === 0) this.switchNewEnd(end, ts);
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
  private switchNewStart(start: number, ts: number, local = true): void {
    const idx = this.subbufIndex(start);
    // clear noref: the writer owns this sub-buffer's memory until the lap is delivered.
    if (this.wsbNoref !== null) this.wsbNoref[idx] = 0;
    const pos = this.subbufPos(idx);
    this.curBase = start;
    this.curPos = pos;
    this.curIdx = idx;
    this.curDelta = pos - start;
    this.curRec = REC * this.numSubbuf + idx;
    this.curEnd = start + this.subbufSize;
    this.records[idx] = 0;
    const count = this.packetCount++;
    const seq = this.faults?.packetSeqFromIndex === true ? idx : count;
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
    this.addCommit(idx, HDR, local);
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
    const idx = ((o * this.invSubbuf) | 0) & this.idxMask;
    const hot = this.hot;
    const n = this.numSubbuf;
    const remote = REMOTE * n + idx;
    if (local)
      hot[idx] = hot[idx]! + slot; // LOCAL * n + idx
    else hot[remote] = hot[remote]! + slot;
    const ghost = GHOST * n + idx;
    hot[ghost] = hot[ghost]! + slot;
    // Complete when cc = (lap + 1) * subbuf_size: test the cheap "multiple of sb" first (a
    // mask, not `%`: see the class comment), checkDeliver compares the lap.
    if (((hot[idx]! + hot[remote]!) & this.offMask) === 0) this.checkDeliver(idx, o);
  }

  /**
   * Writes the channel's CTF event header `{ uint32 id; uint64 timestamp }` (12 bytes,
   * little-endian) at `pos`, the first bytes of a reserved record: word stores when `pos` is
   * 4-aligned on a little-endian host, DataView stores otherwise. Returns `pos + 12`, where the
   * payload starts. `ts` is a non-negative integer below 2^53.
   */
  writeEventHeader(pos: number, id: number, ts: number): number {
    const lo = ts >>> 0;
    const hi = (ts - lo) / 4294967296;
    if ((pos & 3) === 0 && this.wordStores) {
      const u32 = this.u32;
      const w = pos >>> 2;
      u32[w] = id;
      u32[w + 1] = lo;
      u32[w + 2] = hi;
    } else {
      const dv = this.dv;
      dv.setUint32(pos, id, true);
      dv.setUint32(pos + 4, lo, true);
      dv.setUint32(pos + 8, hi, true);
    }
    return pos + 12;
  }

  /**
   * lib_ring_buffer_check_deliver, as one step: when the commit count (LOCAL + REMOTE) of the
   * lap holding `o` is complete, the winner of the cc_sb CAS delivers. The simulation runs the
   * two halves (`deliverBegin`, `deliverEnd`) as separate steps.
   */
  checkDeliver(idx: number, o: number): void {
    if (this.deferDelivery) {
      this.pendingChecks.push(idx, o);
      return;
    }
    const lap = this.deliverBegin(idx, o, true);
    if (lap >= 0) this.deliverEnd(idx, lap);
  }

  /**
   * check_deliver's first step: if the lap holding `o` is complete (cc = (lap+1)·subbuf_size),
   * the compare-and-exchange of cc_sb from lap·subbuf_size to lap·subbuf_size + 1. Only its
   * winner delivers; until `deliverEnd` publishes cc_sb = cc, a writer wrapping onto this
   * sub-buffer sees it undelivered (and drops its record: -EIO) and the reader cannot take
   * it. Returns the lap won, or -1. `cas` false is the unsafe variant: a plain compare (the
   * caller writes old + 1 itself later), so two committers can both pass it.
   */
  deliverBegin(idx: number, o: number, cas: boolean): number {
    const sb = this.subbufSize;
    const lap = this.lap(o);
    const cc = this.ccLocal[idx]! + this.ccRemote[idx]!;
    if (cc - sb !== lap * sb) return -1;
    if (this.ccSb[idx] !== cc - sb) return -1; // lost the CAS, or already delivered
    if (cas) this.ccSb[idx] = cc - sb + 1;
    return lap;
  }

  /**
   * check_deliver's second step, in exclusive ownership of the sub-buffer's control fields:
   * the end fields of the packet context (timestamp_end, content_size, packet_size,
   * events_discarded), the record count, then cc_sb = cc (the sub-buffer is delivered).
   */
  deliverEnd(idx: number, lap: number): void {
    const sb = this.subbufSize;
    const cc = (lap + 1) * sb;
    // ghost checks: exactly once per lap, and only when every add of the lap is in.
    if (this.deliveredLaps[idx] !== lap) this.deliveryError ??= `cpu ${this.cpu} sub-buffer ${idx}: lap ${lap} delivered after ${this.deliveredLaps[idx]} laps`;
    if (this.ghostCommitted[idx] !== cc)
      this.deliveryError ??= `cpu ${this.cpu} sub-buffer ${idx} lap ${lap} delivered with commit count ${cc} while ${this.ghostCommitted[idx]} bytes were committed`;
    this.deliveredLaps[idx] = lap + 1;
    const pos = this.subbufPos(idx);
    const dv = this.dv;
    const L = CTF_PACKET_LAYOUT;
    const dataSize = this.dataSize[idx]!;
    const packetSize = Math.min(sb, Math.ceil(dataSize / PAGE) * PAGE);
    let discarded = this.lostAtEnd[idx]!;
    if (this.faults?.eventsDiscardedPerPacket === true) {
      const total = discarded;
      discarded = total - this.lostAtLastDelivery;
      this.lostAtLastDelivery = total;
    }
    writeU64(dv, pos + L.timestampEnd, this.tsEnd[idx]!);
    writeU64(dv, pos + L.contentSize, dataSize * 8);
    writeU64(dv, pos + L.packetSize, packetSize * 8);
    writeU64(dv, pos + L.eventsDiscarded, discarded);
    if (packetSize > dataSize) this.u8.fill(0, pos + dataSize, pos + packetSize);
    const records = this.records[idx]!;
    this.deliveredRecords[idx] = records;
    this.ccSb[idx] = cc;
    // set noref with the lap's offset: the reader may swap this sub-buffer out now.
    if (this.wsbNoref !== null) {
      this.wsbNoref[idx] = 1;
      this.wsbLap![idx] = lap;
    }
    this.deliveries.push({ subbuf: idx, lap, packetSeq: this.seqNum[idx]!, records, discarded });
  }

  /**
   * lib_ring_buffer_switch_slow: close the current sub-buffer so it can be delivered once its
   * commits are in. SWITCH_ACTIVE (`flush` false: the periodic timer, a snapshot) switches only
   * a sub-buffer that holds something. SWITCH_FLUSH (finalize) also switches an empty one: it
   * writes the packet header there (switch_old_start) and delivers a packet of just the header,
   * so the trace knows when the stream ended even with no record since the last switch; not
   * when the sub-buffer is still undelivered from its previous lap, nor when a discard-mode
   * buffer is full. Runs on the owner CPU; `local` false when run from another CPU (its adds
   * then go to the REMOTE counter). Returns true if it switched.
   */
  switchSubbuf(ts: number, local = true, flush = false): boolean {
    const old = this.offset;
    const sb = this.subbufSize;
    if (old % sb === 0) {
      if (!flush) return false;
      const idx = this.subbufIndex(old);
      if (this.ccSb[idx] !== this.lap(old) * sb) return false;
      if (this.mode === 'discard' && old - (this.consumed - (this.consumed % sb)) >= this.bufSize) return false;
      if (ts > this.lastTs) this.lastTs = ts;
      // switch_old_start: the packet header of the empty sub-buffer, counted in its commit count.
      this.offset = old + sb;
      // lib_ring_buffer_switch_slow pushes the reader with offsets.old: here that is the start
      // of the sub-buffer this switch opens, which in overwrite mode may be the consumer's (a
      // lap behind). Without the push the lap it overwrites is counted nowhere.
      if (this.mode === 'overwrite') this.pushReader(old);
      this.switchNewStart(old, this.lastTs, local);
      this.curEnd = old + sb;
      this.closeSubbuf(old + HDR, local);
      return true;
    }
    if (ts > this.lastTs) this.lastTs = ts;
    const next = old - (old % sb) + sb;
    this.offset = next;
    this.curEnd = next;
    this.closeSubbuf(old, local);
    return true;
  }

  /** switch_old_end from a switch: the sub-buffer holding `old - 1` ends at `old`. */
  private closeSubbuf(old: number, local: boolean): void {
    const sb = this.subbufSize;
    const idx = this.subbufIndex(old - 1);
    const dataSize = ((old - 1) % sb) + 1;
    this.dataSize[idx] = dataSize;
    this.tsEnd[idx] = this.lastTs;
    this.lostAtEnd[idx] = this.recordsLost;
    this.addCommit(idx, sb - dataSize, local);
    this.checkDeliver(idx, old - 1);
  }

  /**
   * The sub-buffer at `pos` (any lap position) is delivered and the writer is not in it: what
   * lib_ring_buffer_poll_deliver tells the read timer, and the snapshot's per-packet test.
   */
  deliverable(pos: number): boolean {
    const sb = this.subbufSize;
    const idx = this.subbufIndex(pos);
    return this.ccSb[idx] === (this.lap(pos) + 1) * sb && this.offset - (this.offset % sb) !== pos - (pos % sb);
  }

  /**
   * lib_ring_buffer_snapshot_sample_positions: the consumed position and the produced one (the
   * writer's offset truncated to its sub-buffer): the window a snapshot reads.
   */
  snapshotPositions(): { consumed: number; produced: number } {
    const sb = this.subbufSize;
    return { consumed: this.consumed - (this.consumed % sb), produced: this.offset - (this.offset % sb) };
  }

  /**
   * Reads the packet at `pos` (a sub-buffer start inside the snapshot window) without moving
   * the consumer: -EAGAIN if it is not delivered (or was overwritten: its lap moved on).
   */
  readSubbufAt(pos: number): ConsumedPacket | number {
    if (!this.deliverable(pos)) return -EAGAIN;
    const sb = this.subbufSize;
    const idx = this.subbufIndex(pos);
    const dataSize = this.dataSize[idx]!;
    const packetSize = Math.min(sb, Math.ceil(dataSize / PAGE) * PAGE);
    const at = this.subbufPos(idx);
    return {
      subbuf: idx,
      lap: this.lap(pos),
      packetSeq: this.seqNum[idx]!,
      records: this.deliveredRecords[idx]!,
      bytes: this.u8.slice(at, at + packetSize),
      timestampBegin: this.tsBegin[idx]!,
      timestampEnd: this.tsEnd[idx]!,
    };
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
   * (-ENODATA once finalized); otherwise the reader takes the packet: a copy into the
   * reader's own bytes, or with `readerSwap` update_read_sb_index's swap of its spare (-EAGAIN
   * when, in overwrite mode, the sub-buffer's id lost noref or names another lap).
   */
  getSubbuf(): ConsumedPacket | number {
    if (this.held) return -EBUSY;
    const consumed = this.consumed;
    const sb = this.subbufSize;
    const idx = this.subbufIndex(consumed);
    const lap = this.lap(consumed);
    const notReady = this.ccSb[idx] !== (lap + 1) * sb || this.offset - (this.offset % sb) === consumed - (consumed % sb);
    if (notReady) return this.finalized ? -ENODATA : -EAGAIN;
    const exchange = this.wsbPage !== null && this.mode === 'overwrite' && this.swapExchange;
    if (exchange && (this.wsbNoref![idx] !== 1 || this.wsbLap![idx] !== lap)) return -EAGAIN;
    const pos = this.wsbPage === null ? idx * sb : exchange ? this.swapReadSubbuf(idx, lap) : this.subbufPos(idx);
    const dataSize = this.dataSize[idx]!;
    const packetSize = Math.min(sb, Math.ceil(dataSize / PAGE) * PAGE);
    this.held = true;
    this.heldConsumed = consumed;
    return {
      subbuf: idx,
      lap,
      packetSeq: this.seqNum[idx]!,
      records: this.deliveredRecords[idx]!,
      bytes: this.wsbPage === null ? this.u8.slice(pos, pos + packetSize) : this.u8.subarray(pos, pos + packetSize),
      timestampBegin: this.tsBegin[idx]!,
      timestampEnd: this.tsEnd[idx]!,
    };
  }

  /**
   * update_read_sb_index in overwrite mode: the reader's spare, its id marked noref with the lap
   * being consumed, goes into the writer's table at `idx` (the cmpxchg, whose noref and lap
   * checks `getSubbuf` made), and the sub-buffer there becomes the reader's. Returns the byte
   * position of the memory the reader now owns.
   */
  private swapReadSubbuf(idx: number, lap: number): number {
    const wsb = this.wsbPage!;
    const page = wsb[idx]!;
    wsb[idx] = this.rsbPage;
    this.wsbNoref![idx] = 1;
    this.wsbLap![idx] = lap;
    this.rsbPage = page;
    return page * this.subbufSize;
  }

  /** lib_ring_buffer_put_subbuf + move_consumer: release, and move consumed forward (CAS: a push may have moved it already). */
  putSubbuf(packet: ConsumedPacket): void {
    if (!this.held) return;
    this.held = false;
    this.recordsConsumed += packet.records;
    this.packetsConsumed++;
    const target = this.heldConsumed - (this.heldConsumed % this.subbufSize) + this.subbufSize;
    if (this.consumed < target || this.faults?.moveConsumerPlainStore === true) this.consumed = target;
  }
}
