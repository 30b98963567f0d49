import { TASKLIST_LOCK, intMapGet, threadFlagChecker, type KernelState, type PluginContext } from '@tracelab/core';
import { TIF_SYSCALL_TRACEPOINT, TRACEPOINTS_MUTEX } from '../events.js';
import { SYS_ENTER, SYS_EXIT } from '../lttng_syscalls.js';
import { CTF_PACKET_LAYOUT } from '@tracelab/formats';
import type { RingBuffer } from '../buffer.js';
import type { RingBufferState, RingBufferSummary } from '../events.js';
import type { RingBufferSession } from './session.js';

/**
 * The ring buffer's invariants (run after every step), in the order the violations report
 * them: `overlap` (with `interrupts`), `delivery`, `commit`, `packets`, `offsets`,
 * `syscall-refcount`, `syscall-flag`.
 */
export function registerInvariants(ctx: PluginContext<RingBufferState>, st: RingBufferSession): void {
  const opts = st.opts;
  if (!opts.checks) return;
  // First: a plain-store reserve also moves the offset back, which `offsets` would report as
  // the symptom; the overlap is the cause.
  if (opts.interrupts) ctx.invariant('ring-buffer/overlap', () => st.overlapError ?? false);
  ctx.invariant('ring-buffer/delivery', () => deliveryCheck(st));
  ctx.invariant('ring-buffer/commit', (s) => {
    if (st.errors.length > 0) return st.errors[0];
    for (const [id, r] of st.inFlight) {
      if (r.interrupt) continue;
      const t = intMapGet(s.tasks, r.pid);
      // With `interrupts` a record's write and commit are separate steps: a task on its way
      // out (its release hook's sched_process_free, exit code set) holds one while it runs.
      // The idle task (pid 0, not in the task map) never exits.
      if (opts.interrupts && (r.pid === 0 || (t !== undefined && t.state === 'running'))) continue;
      if (t === undefined || t.exitCode !== null)
        return `reservation ${id} (cpu ${r.buf.cpu}, offset ${r.o}) by pid ${r.pid}: the task exited without committing it`;
    }
    return false;
  });
  ctx.invariant('ring-buffer/packets', () => st.packetErrors[0] ?? false);
  ctx.invariant('ring-buffer/offsets', () => offsetsCheck(st));
  ctx.invariant('ring-buffer/syscall-refcount', (s) => syscallRefcountCheck(st, s));
  const disagreeing = threadFlagChecker(TIF_SYSCALL_TRACEPOINT);
  ctx.invariant('ring-buffer/syscall-flag', (s) => syscallFlagCheck(st, s, disagreeing));
}

/**
 * SEMANTICS.md §1(d) I1 for TIF_SYSCALL_TRACEPOINT: when tracepoints_mutex is free (no
 * regfunc/unregfunc walk half done) and no fork is inside its tasklist write section (between
 * its link and its re-copy), every thread on the task list, kernel threads and zombies
 * included, has the flag exactly when R > 0. Incremental over the task trie
 * (`threadFlagChecker`).
 */
function syscallFlagCheck(st: RingBufferSession, s: KernelState, disagreeing: ReturnType<typeof threadFlagChecker>): string | false {
  const m = s.locks[TRACEPOINTS_MUTEX];
  if (m !== undefined && m.kind === 'mutex' && m.owner !== null) return false;
  const tasklist = s.locks[TASKLIST_LOCK];
  if (tasklist !== undefined && tasklist.kind !== 'mutex' && tasklist.writer !== null) return false;
  const r = st.sysTracepointRefcount;
  const bad = disagreeing(s.tasks, r > 0);
  if (bad === null) return false;
  const what = `pid ${bad.pid} (${bad.comm}${bad.kthread ? ', a kernel thread' : ''})`;
  return r > 0
    ? `${what} is on the task list without ${TIF_SYSCALL_TRACEPOINT} while sys_tracepoint_refcount is ${r}: its syscalls are not traced`
    : `${what} still has ${TIF_SYSCALL_TRACEPOINT} with sys_tracepoint_refcount at 0`;
}

/**
 * SEMANTICS.md §1(d) for the syscall tracepoints: I4, 0 <= R <= 2 (sys_enter and sys_exit
 * share syscall_regfunc), always; I2, R equals the number of them whose key is on, whenever
 * tracepoints_mutex is free (regfunc counts before the key goes on, unregfunc after it goes off).
 */
function syscallRefcountCheck(st: RingBufferSession, s: KernelState): string | false {
  const r = st.sysTracepointRefcount;
  if (r < 0 || r > 2) return `sys_tracepoint_refcount is ${r}, outside 0..2`;
  const m = s.locks[TRACEPOINTS_MUTEX];
  if (m !== undefined && m.kind === 'mutex' && m.owner !== null) return false;
  const on = (st.tp.enabled(SYS_ENTER) ? 1 : 0) + (st.tp.enabled(SYS_EXIT) ? 1 : 0);
  return r === on ? false : `sys_tracepoint_refcount is ${r} while ${on} of sys_enter/sys_exit have probes`;
}

/** Every sub-buffer lap fully committed is delivered, unless a check_deliver on it is still in progress. */
function deliveryCheck(st: RingBufferSession): string | false {
  if (st.buffers === null) return false;
  for (const buf of st.buffers) {
    if (buf.deliveryError !== null) return buf.deliveryError;
    const sb = buf.subbufSize;
    for (let i = 0; i < buf.numSubbuf; i++) {
      const complete = Math.floor(buf.ghostCommitted[i]! / sb);
      if (
        complete !== buf.deliveredLaps[i] &&
        !(complete === buf.deliveredLaps[i]! + 1 && (st.deliverChecks[buf.cpu * st.opts.numSubbuf + i]! > 0 || pendingFor(buf, i)))
      ) {
        return `cpu ${buf.cpu} sub-buffer ${i}: ${complete} laps fully committed (${buf.ghostCommitted[i]} bytes) but ${buf.deliveredLaps[i]} delivered; its commit count reads ${buf.ccLocal[i]! + buf.ccRemote[i]!}: a commit was lost`;
      }
    }
  }
  return false;
}

/** The write offset and the consumed position never move back; the consumer stays at sub-buffer starts; discard mode never laps the reader. */
function offsetsCheck(st: RingBufferSession): string | false {
  if (st.buffers === null) return false;
  const { seenOffsets, seenConsumed } = st;
  for (const buf of st.buffers) {
    if (buf.offset < seenOffsets[buf.cpu]!) return `cpu ${buf.cpu}: offset moved back from ${seenOffsets[buf.cpu]} to ${buf.offset}`;
    if (buf.consumed < seenConsumed[buf.cpu]!) return `cpu ${buf.cpu}: consumed moved back from ${seenConsumed[buf.cpu]} to ${buf.consumed}`;
    if (buf.consumed % buf.subbufSize !== 0) return `cpu ${buf.cpu}: consumed ${buf.consumed} is not at a sub-buffer start`;
    if (buf.mode === 'discard' && buf.offset - buf.consumed > buf.bufSize)
      return `cpu ${buf.cpu}: discard mode writer ${buf.offset - buf.consumed} bytes ahead of the reader (buffer ${buf.bufSize})`;
    seenOffsets[buf.cpu] = buf.offset;
    seenConsumed[buf.cpu] = buf.consumed;
  }
  return false;
}

function pendingFor(buf: RingBuffer, idx: number): boolean {
  for (let j = 0; j < buf.pendingChecks.length; j += 2) if (buf.pendingChecks[j] === idx) return true;
  return false;
}

/**
 * SEMANTICS.md 5.2(d) at the reader: timestamp_begin <= timestamp_end <= the next packet's
 * timestamp_begin, content_size <= packet_size, packet_seq_num strictly increasing (a gap is
 * an overwrite, never a repeat), events_discarded never decreasing (it is a running total).
 * Called by the consumer for each packet it takes.
 */
export function checkPacket(st: RingBufferSession, cpu: number, bytes: Uint8Array, begin: number, end: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = CTF_PACKET_LAYOUT;
  const seq = Number(dv.getBigUint64(L.packetSeqNum, true));
  const discarded = Number(dv.getBigUint64(L.eventsDiscarded, true));
  const content = Number(dv.getBigUint64(L.contentSize, true));
  const size = Number(dv.getBigUint64(L.packetSize, true));
  const { lastTsEnd, lastSeq, lastDiscarded, packetErrors } = st;
  const prev = lastTsEnd[cpu]!;
  if (begin > end || begin < prev)
    packetErrors.push(`cpu ${cpu} packet ${seq}: timestamp_begin ${begin}, timestamp_end ${end}, previous packet ended at ${prev}`);
  if (content > size) packetErrors.push(`cpu ${cpu} packet ${seq}: content_size ${content} > packet_size ${size}`);
  if (seq <= lastSeq[cpu]!) packetErrors.push(`cpu ${cpu}: packet_seq_num ${seq} after ${lastSeq[cpu]} (it must strictly increase)`);
  if (discarded < lastDiscarded[cpu]!)
    packetErrors.push(`cpu ${cpu} packet ${seq}: events_discarded ${discarded} after ${lastDiscarded[cpu]} (a running total never decreases)`);
  lastTsEnd[cpu] = end;
  lastSeq[cpu] = seq;
  lastDiscarded[cpu] = discarded;
}

/** Records the range a reserve took and checks it against the lap's other records (`ring-buffer/overlap`). */
export function noteRange(st: RingBufferSession, buf: RingBuffer, o: number, slot: number, tpName: string, pid: number): void {
  const sb = buf.subbufSize;
  const abs = Math.floor(o / sb);
  const laps = st.reserved[buf.cpu]!;
  let ranges = laps.get(abs);
  if (ranges === undefined) {
    ranges = [];
    laps.set(abs, ranges);
    for (const k of laps.keys()) if (k <= abs - buf.numSubbuf) laps.delete(k);
  }
  for (let i = 0; i < ranges.length; i += 2) {
    if (o < ranges[i + 1]! && ranges[i]! < o + slot) {
      st.overlapError ??= `cpu ${buf.cpu} sub-buffer ${buf.subbufIndex(o)}: ${tpName} (pid ${pid}) reserved bytes ${o}..${o + slot} over a record already reserved at ${ranges[i]}..${ranges[i + 1]}: two records share bytes (the offset update lost a reserve made between its read and its store)`;
    }
  }
  ranges.push(o, o + slot);
}

/** A reserve given back (try_discard_reserve): its range is free again. */
export function forgetRange(st: RingBufferSession, buf: RingBuffer, o: number, slot: number): void {
  const ranges = st.reserved[buf.cpu]!.get(Math.floor(o / buf.subbufSize));
  if (ranges === undefined) return;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i] === o && ranges[i + 1] === o + slot) {
      ranges.splice(i, 2);
      return;
    }
  }
}

/** Host-side accounting check; [] when records produced = consumed + lost + overwritten exactly (call when quiescent, after flush). */
export function checkAccounting(st: RingBufferSession): string[] {
  const out = [...st.errors];
  if (st.buffers === null) return out;
  for (const buf of st.buffers) {
    const lostN = buf.recordsLost;
    const produced = buf.recordsReserved + lostN;
    // Snapshot mode: no consumer; what the buffer still holds is accounted for there.
    const accounted = buf.recordsConsumed + lostN + buf.recordsOverwritten + (st.opts.snapshot ? recordsHeld(buf) : 0);
    if (produced !== accounted)
      out.push(
        `cpu ${buf.cpu}: ${produced} records produced (${buf.recordsReserved} reserved + ${lostN} lost) but ${buf.recordsConsumed} delivered + ${lostN} lost + ${buf.recordsOverwritten} overwritten = ${accounted}`,
      );
  }
  if (st.inFlight.size > 0) out.push(`${st.inFlight.size} reservations never committed`);
  return out;
}

/** Records in the laps between the consumed position and the writer (snapshot mode's accounting). */
function recordsHeld(buf: RingBuffer): number {
  let n = 0;
  const sb = buf.subbufSize;
  for (let pos = buf.consumed - (buf.consumed % sb); pos < buf.offset; pos += sb) {
    const idx = buf.subbufIndex(pos);
    n += buf.deliverable(pos) ? buf.deliveredRecords[idx]! : buf.records[idx]!;
  }
  return n;
}

/** `{ delivered, lost, perCpu }` from the buffers' host counters. */
export function summary(st: RingBufferSession): RingBufferSummary {
  const perCpu = (st.buffers ?? []).map((b) => ({
    cpu: b.cpu,
    delivered: b.recordsConsumed,
    lost: b.recordsLost + b.recordsOverwritten,
    lostFull: b.recordsLostFull,
    lostWrap: b.recordsLostWrap,
    lostBig: b.recordsLostBig,
    lostNesting: b.recordsLostNesting,
    ...(b.recordsLostClock > 0 ? { lostClock: b.recordsLostClock } : {}),
    overwritten: b.recordsOverwritten,
    packets: b.packetsConsumed,
  }));
  return { delivered: perCpu.reduce((a, c) => a + c.delivered, 0), lost: perCpu.reduce((a, c) => a + c.lost, 0), perCpu };
}
