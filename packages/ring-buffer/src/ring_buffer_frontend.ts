/**
 * The ring buffer's kernel paths, after lttng-modules' src/lib/ringbuffer/ring_buffer_frontend.c:
 * lib_ring_buffer_reserve (fast path, the slow path's steps, the CPU-local cmpxchg loop),
 * lib_ring_buffer_get_cpu / put_cpu (the nesting guard), lib_ring_buffer_commit and
 * check_deliver, the switch and read timers, the flush (switch FLUSH, local or by IPI) and
 * lib_ring_buffer_snapshot. The byte-level buffer they drive is buffer.ts; each path here adds
 * the kernel's rules around it: preemption, scheduling points, the lifecycle events.
 */
import {
  EIO,
  ENOBUFS,
  ENOSPC,
  EPERM,
  current,
  emit,
  getState,
  inIrqCount,
  inNmiCount,
  intMapValues,
  kthreadRun,
  msleep,
  preemptDisable,
  preemptEnable,
  schedPoint,
  smpCallFunctionSingle,
  type KPath,
} from '@tracelab/core';
import { RESERVE_RETRY, type RingBuffer } from './buffer.js';
import { RING_BUFFER_MAX_NESTING, type LostReason } from './events.js';
import { consumerThread } from './lttng_consumerd.js';
import { noteRange } from './internal/invariants.js';
import { TICK_NS } from './internal/metadata.js';
import { READ_TIMER_COMM, SWITCH_TIMER_COMM, CONSUMER_COMM, type Held, type RingBufferSession, type Tracepoint } from './internal/session.js';

/** The buffer's host counters before a step, to tell what it overwrote meanwhile. */
export function snap(buf: RingBuffer): { ow: number; owRecords: number } {
  return { ow: buf.packetsOverwritten, owRecords: buf.recordsOverwritten };
}

/** The trace clock for the next record of `buf`: the switch's tick in a switch hook, else now; never before the buffer's last record. */
export function* timestamp(st: RingBufferSession, buf: RingBuffer): KPath<number> {
  const now = st.switchTs[buf.cpu] ?? (yield* getState()).clock.now * TICK_NS;
  return now > buf.lastTs ? now : buf.lastTs + 1;
}

/**
 * The lifecycle events of what the buffer did since `before` (overwritten packets,
 * deliveries), and the reader's wake-up: with a read timer the writer wakes nobody
 * (RING_BUFFER_WAKEUP_BY_TIMER): the timer polls. Otherwise the writer wakes the consumer.
 * Snapshot mode: nobody drains the buffers.
 */
export function* drain(st: RingBufferSession, buf: RingBuffer, before: { ow: number; owRecords: number }): KPath<void> {
  if (buf.packetsOverwritten !== before.ow) {
    yield* emit({
      type: 'ring-buffer/subbuf-overwritten',
      bufCpu: buf.cpu,
      packets: buf.packetsOverwritten - before.ow,
      records: buf.recordsOverwritten - before.owRecords,
    });
  }
  if (buf.deliveries.length === 0) return;
  const ds = buf.deliveries.splice(0);
  for (const d of ds) yield* emit({ type: 'ring-buffer/subbuf-delivered', bufCpu: buf.cpu, ...d });
  if (st.opts.snapshot) return;
  if (st.opts.readTimer > 0) {
    if (!st.readTimerAlive) {
      st.readTimerAlive = true;
      yield* kthreadRun(st.within(readTimerThread(st)), READ_TIMER_COMM);
    }
    return;
  }
  if (!st.consumerAlive) {
    st.consumerAlive = true;
    yield* kthreadRun(st.within(consumerThread(st)), CONSUMER_COMM);
  }
}

/** Some user task has not exited: the session's timers keep running. */
function* workloadAlive(): KPath<boolean> {
  for (const t of intMapValues((yield* getState()).tasks)) if (!t.kthread && t.exitState === null) return true;
  return false;
}

/**
 * switch_buffer_timer: every `switchTimer` ticks, switch(ACTIVE) each CPU buffer that holds
 * records, so a quiet stream still delivers them. lttng-modules pins one timer per CPU and
 * switches on the owner; here it is one thread (not a callback in the tick), and a switch of
 * another CPU's buffer adds its padding to the REMOTE counter (what the IPI would make a local
 * add). The thread quits when the workload has exited or every buffer is finalized, and the
 * next reserve starts it again.
 */
export function* switchTimerThread(st: RingBufferSession): KPath<void> {
  for (;;) {
    yield* msleep(st.opts.switchTimer);
    if (!(yield* workloadAlive()) || st.bufs().every((b) => b.finalized)) {
      st.switchTimerAlive = false;
      return;
    }
    let switched = 0;
    for (const buf of st.bufs()) {
      if (buf.finalized) continue;
      yield* preemptDisable();
      const cpu = (yield* current()).cpu;
      const before = snap(buf);
      const ts = yield* timestamp(st, buf);
      if (buf.switchSubbuf(ts, cpu === buf.cpu || st.opts.commitCounters === 'local-only', false)) switched++;
      yield* pendingDeliveries(st, buf);
      yield* drain(st, buf, before);
      yield* preemptEnable();
    }
    if (switched > 0) yield* emit({ type: 'ring-buffer/switch-timer', switched });
  }
}

/**
 * read_buffer_timer: every `readTimer` ticks, poll each buffer for a delivered sub-buffer
 * (lib_ring_buffer_poll_deliver) and wake the consumer if one is there. Quits when nothing
 * is left to read and the workload has exited or the session is finalized.
 */
export function* readTimerThread(st: RingBufferSession): KPath<void> {
  for (;;) {
    yield* msleep(st.opts.readTimer);
    const ready = st.bufs().some((b) => b.deliverable(b.consumed));
    if (ready && !st.consumerAlive) {
      st.consumerAlive = true;
      yield* kthreadRun(st.within(consumerThread(st)), CONSUMER_COMM);
    }
    if (!ready && !st.consumerAlive && (st.bufs().every((b) => b.finalized) || !(yield* workloadAlive()))) {
      st.readTimerAlive = false;
      return;
    }
  }
}

/** A refused reserve as a `record-lost` event, when its errno is a loss (-EAGAIN after the session stopped is not). */
export function* lost(buf: RingBuffer, ret: number, tp: Tracepoint, pid: number): KPath<void> {
  const reason: LostReason | null = ret === -ENOBUFS ? 'full' : ret === -EIO ? 'wrap' : ret === -ENOSPC ? 'big' : ret === -EPERM ? 'nesting' : null;
  if (reason !== null) yield* emit({ type: 'ring-buffer/record-lost', bufCpu: buf.cpu, reason, tracepoint: tp.def.name, pid });
}

/**
 * lib_ring_buffer_reserve with `interleave`: the fast path as one step, the slow path as
 * lttng-modules' steps with scheduling points between them (preemption is off, so only other
 * CPUs act there: a remote switch moving the offset, a remote commit delivering the target).
 */
function* reserveSteps(st: RingBufferSession, buf: RingBuffer, slot: number, first: number): KPath<{ o: number; ts: number }> {
  let ts = first;
  if (buf.disabled) return { o: buf.reserve(slot, ts), ts }; // -EAGAIN, counted as refused
  const fast = buf.tryReserveFast(slot, ts);
  if (fast !== RESERVE_RETRY) return { o: fast, ts };
  for (;;) {
    // Each pass reads the clock again (try_reserve_slow's `retry:`): a switch that moved the
    // offset meanwhile may have ended the sub-buffer later than the first reading.
    ts = yield* timestamp(st, buf);
    if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
    const plan = buf.reserveSlowPlan(slot);
    // offset read; cc_sb is read after a read barrier: other CPUs may act in between.
    yield* schedPoint();
    const r = buf.reserveSlowCheck(plan, slot, st.opts.reserveReread);
    if (r === RESERVE_RETRY) continue;
    if (r < 0) return { o: r, ts };
    yield* schedPoint();
    // The session may have been finalized meanwhile (its switch already ran): refused.
    if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
    const o = buf.reserveSlowApply(plan, slot, ts);
    if (o !== RESERVE_RETRY) return { o, ts };
  }
}

/**
 * lib_ring_buffer_reserve with `interrupts`: the CPU-local compare-and-exchange loop on the
 * write offset. Read the offset and work out where the record goes (with the slow path's
 * checks when it starts a sub-buffer), then, at a later step, compare-and-exchange the offset
 * from what was read to the record's end. Preemption is off, but an interrupt or NMI may
 * arrive at the scheduling point between the two and reserve on this CPU's buffer: the
 * cmpxchg then fails and the loop starts over from a fresh read (and a fresh timestamp, so
 * records stay in time order). `offsetUpdate: 'plain-store'` stores the end without the
 * compare: the interrupt's record is overwritten by this one.
 */
function* reserveCmpxchg(st: RingBufferSession, buf: RingBuffer, slot: number, first: number): KPath<{ o: number; ts: number }> {
  let ts = first;
  for (;;) {
    if (buf.disabled) return { o: buf.reserve(slot, ts), ts }; // -EAGAIN, counted as refused
    const plan = buf.reserveSlowPlan(slot);
    const r = buf.reserveSlowCheck(plan, slot, st.opts.reserveReread);
    if (r < 0 && r !== RESERVE_RETRY) return { o: r, ts };
    if (r === 0) {
      // Between local_read(&offset) and local_cmpxchg: an interrupt may come here.
      yield* schedPoint();
      // The session may have been stopped meanwhile (a flush from another CPU): refused.
      if (buf.disabled) return { o: buf.reserve(slot, ts), ts };
      if (st.opts.offsetUpdate === 'plain-store') return { o: buf.reservePlainStore(plan, slot, ts), ts };
      const o = buf.reserveSlowApply(plan, slot, ts);
      if (o !== RESERVE_RETRY) return { o, ts };
    }
    ts = yield* timestamp(st, buf);
  }
}

/**
 * lttng-modules' trace_clock_monotonic_wrapper (wrapper/trace-clock.h, the clock of kernels
 * without ktime_get_mono_fast_ns): in NMI context it returns (u64) -EIO instead of reading
 * ktime_get(), whose seqlock the NMI may have interrupted a writer of. lib_ring_buffer_reserve
 * checks record_disabled first (-EAGAIN wins); then lib_ring_buffer_try_reserve reads the
 * clock, sees -EIO and takes the slow path, and lib_ring_buffer_try_reserve_slow reads it again
 * and returns -EIO before its lost-counter checks. So: true when this reserve runs in an NMI
 * on a buffer still recording. Only with `traceClock: 'ktime-get'`.
 */
function* clockFails(buf: RingBuffer): KPath<boolean> {
  if (buf.disabled) return false;
  return inNmiCount((yield* current()).preemptCount);
}

/** reserveOn, with null for a failed reserve. */
export function* reserveHere(st: RingBufferSession, tp: Tracepoint, slot: number, pid: number, cpu: number): KPath<Held | null> {
  const r = yield* reserveOn(st, tp, slot, pid, cpu);
  return typeof r === 'number' ? null : r;
}

/**
 * lib_ring_buffer_reserve on the current CPU's buffer (preemption must be off): the record's
 * place, or the negative errno of a failed reserve (counted as lost where it is a loss).
 * Starts the switch timer at the first reserve when the session has one.
 */
export function* reserveOn(st: RingBufferSession, tp: Tracepoint, slot: number, pid: number, cpu: number): KPath<Held | number> {
  const opts = st.opts;
  const buf = st.bufs()[cpu]!;
  if (opts.traceClock === 'ktime-get' && (yield* clockFails(buf))) {
    buf.recordsLostClock++;
    yield* emit({ type: 'ring-buffer/record-lost', bufCpu: buf.cpu, reason: 'clock', tracepoint: tp.def.name, pid });
    return -EIO;
  }
  let ts = yield* timestamp(st, buf);
  const before = snap(buf);
  let o: number;
  if (opts.interrupts) {
    // (`interleave` is refused with `interrupts`: no deferred deliveries here.)
    ({ o, ts } = yield* reserveCmpxchg(st, buf, slot, ts));
  } else if (opts.interleave) {
    ({ o, ts } = yield* reserveSteps(st, buf, slot, ts));
    yield* pendingDeliveries(st, buf);
  } else {
    o = buf.reserve(slot, ts);
  }
  yield* drain(st, buf, before);
  if (opts.switchTimer > 0 && !st.switchTimerAlive && !buf.finalized) {
    st.switchTimerAlive = true;
    yield* kthreadRun(st.within(switchTimerThread(st)), SWITCH_TIMER_COMM);
  }
  if (o < 0) {
    yield* lost(buf, o, tp, pid);
    return o;
  }
  let interrupt = false;
  if (opts.interrupts) {
    noteRange(st, buf, o, slot, tp.def.name, pid);
    const c = (yield* current()).preemptCount;
    interrupt = inIrqCount(c) || inNmiCount(c);
  }
  const id = st.nextReservation++;
  st.inFlight.set(id, { pid, buf, o, interrupt });
  return { id, buf, o, pos: buf.pos, ts, tp: tp.def.name };
}

/**
 * lib_ring_buffer_get_cpu after preempt_disable: the CPU's nesting level goes up, unless it
 * is RING_BUFFER_MAX_NESTING already. That bound is the recursion guard: a probe that traces
 * from inside its own record (or interrupts stacked deeper than task, irq and NMI) is
 * refused there, counted as lost (`record-lost`, reason 'nesting'), instead of recursing.
 * Returns false when refused (the level is unchanged).
 */
export function* getCpu(st: RingBufferSession, tp: Tracepoint, cpu: number, pid: number): KPath<boolean> {
  const nesting = st.nesting;
  if (nesting[cpu]! >= RING_BUFFER_MAX_NESTING) {
    const buf = st.bufs()[cpu]!;
    buf.recordsLostNesting++;
    yield* lost(buf, -EPERM, tp, pid);
    return false;
  }
  nesting[cpu] = nesting[cpu]! + 1;
  if (nesting[cpu]! > st.nestingPeak[cpu]!) st.nestingPeak[cpu] = nesting[cpu]!;
  return true;
}

/** lib_ring_buffer_put_cpu: the nesting level goes down (before preempt_enable). */
export function putCpu(st: RingBufferSession, cpu: number): void {
  st.nesting[cpu] = st.nesting[cpu]! - 1;
}

/**
 * check_deliver with `interleave`: the cc_sb compare-and-exchange, then (another step) the
 * packet's end fields and cc_sb = cc. With `deliverCas: false` the compare and the write of
 * old + 1 are separate steps, so two committers that both saw the count complete deliver.
 */
function* checkDeliverSteps(st: RingBufferSession, buf: RingBuffer, idx: number, o: number): KPath<void> {
  const lap = buf.deliverBegin(idx, o, st.opts.deliverCas);
  if (lap < 0) return;
  if (!st.opts.deliverCas) {
    yield* schedPoint();
    buf.ccSb[idx] = lap * buf.subbufSize + 1;
  }
  yield* schedPoint();
  buf.deliverEnd(idx, lap);
}

/** Runs, as steps, the check_deliver calls a switch or a reserve left pending (`interleave`). */
export function* pendingDeliveries(st: RingBufferSession, buf: RingBuffer): KPath<void> {
  while (buf.pendingChecks.length > 0) {
    const idx = buf.pendingChecks.shift()!;
    const o = buf.pendingChecks.shift()!;
    const key = buf.cpu * st.opts.numSubbuf + idx;
    st.deliverChecks[key] = st.deliverChecks[key]! + 1;
    try {
      yield* checkDeliverSteps(st, buf, idx, o);
    } finally {
      st.deliverChecks[key] = st.deliverChecks[key]! - 1;
    }
  }
}

/**
 * A CPU-local add done from another CPU (`commitCounters: 'local-only'`): not atomic against
 * the owner: read, (the owner may add meanwhile), write.
 */
function* nonAtomicLocalAdd(buf: RingBuffer, idx: number, slot: number): KPath<void> {
  const v = buf.ccLocal[idx]!;
  yield* schedPoint();
  buf.ccLocal[idx] = v + slot;
  buf.ghostCommitted[idx] = buf.ghostCommitted[idx]! + slot;
}

/**
 * lib_ring_buffer_commit from the current CPU (preemption must be off): LOCAL on the owner,
 * else per `commitCounters`; then check_deliver. With `interleave` the add, the re-read of the
 * count and check_deliver are separate steps.
 */
export function* commitHere(st: RingBufferSession, r: { id: number; buf: RingBuffer; o: number; tp: string }, slot: number, cpu: number): KPath<void> {
  const { opts, faults } = st;
  if (faults.leakCommit === r.tp && !st.faultsDone.has('leak')) {
    st.faultsDone.add('leak');
    return;
  }
  if (!st.inFlight.delete(r.id)) st.errors.push(`reservation ${r.id} on cpu ${r.buf.cpu} committed twice`);
  const buf = r.buf;
  const before = snap(buf);
  if (faults.doubleCommit === r.tp && !st.faultsDone.has('double')) {
    st.faultsDone.add('double');
    if (!st.inFlight.delete(r.id)) st.errors.push(`reservation ${r.id} on cpu ${r.buf.cpu} committed twice`);
    buf.commit(r.o, slot, cpu === buf.cpu);
    yield* pendingDeliveries(st, buf);
  }
  if (opts.interleave) {
    // lib_ring_buffer_commit: the add, then (another step) the re-read of the count and check_deliver.
    const idx = buf.subbufIndex(r.o);
    if (cpu === buf.cpu || opts.commitCounters === 'local-remote') buf.addCommit(idx, slot, cpu === buf.cpu);
    else yield* nonAtomicLocalAdd(buf, idx, slot);
    // Between the add and the end of check_deliver a complete lap may be undelivered: the
    // delivery invariant waits for the checks in progress on it.
    const key = buf.cpu * opts.numSubbuf + idx;
    st.deliverChecks[key] = st.deliverChecks[key]! + 1;
    yield* schedPoint();
    yield* checkDeliverSteps(st, buf, idx, r.o);
    st.deliverChecks[key] = st.deliverChecks[key]! - 1;
  } else if (cpu === buf.cpu) {
    buf.commit(r.o, slot, true);
  } else if (opts.commitCounters === 'local-remote') {
    buf.commit(r.o, slot, false);
  } else {
    const idx = buf.subbufIndex(r.o);
    yield* nonAtomicLocalAdd(buf, idx, slot);
    buf.checkDeliver(idx, r.o);
  }
  yield* drain(st, buf, before);
}

/**
 * The end of a session (`lttng stop`, then the flush): for each CPU buffer, stop recording
 * (later reserves get -EAGAIN, record_disabled), switch(FLUSH) it so a non-empty sub-buffer is
 * delivered, and finalize it (the reader reports -ENODATA once it has taken everything).
 */
export function* flush(st: RingBufferSession): KPath<void> {
  let switched = 0;
  for (const buf of st.bufs()) {
    yield* preemptDisable();
    const cpu = (yield* current()).cpu;
    const before = snap(buf);
    // The session stops first. Before the switch, because the switch's deliveries may take
    // steps (`interleave`), where a writer could otherwise reserve into the sub-buffer the
    // switch just opened, which no later switch closes.
    buf.disabled = true;
    if (st.opts.flushSwitch === 'ipi' && cpu !== buf.cpu) {
      // lib_ring_buffer_switch_remote: the owner switches its own buffer in an IPI handler
      // (a local commit add, never racing its own writers), and this CPU waits for it.
      yield* preemptEnable();
      // The handler runs on the owner, in its interrupt frame: outside this path's wrapper.
      yield* smpCallFunctionSingle(buf.cpu, () => st.within(switchOnOwner(st, buf, () => switched++)));
      yield* preemptDisable();
    } else {
      // From another CPU the padding add is a REMOTE add (with local-only counters a plain
      // add: no writer is left at the end of a run). SWITCH_FLUSH: an empty sub-buffer is
      // switched too (a header-only packet ends the stream).
      const ts = yield* timestamp(st, buf);
      if (buf.switchSubbuf(ts, cpu === buf.cpu || st.opts.commitCounters === 'local-only', true)) switched++;
      yield* pendingDeliveries(st, buf);
    }
    buf.finalized = true;
    yield* drain(st, buf, before);
    yield* preemptEnable();
  }
  const me = yield* current();
  yield* emit({ type: 'ring-buffer/flushed', pid: me.pid, switched });
}

/** The FLUSH switch of `buf`, run on its owner CPU (in the IPI handler of `flushSwitch: 'ipi'`). */
function* switchOnOwner(st: RingBufferSession, buf: RingBuffer, onSwitched: () => void): KPath<void> {
  const ts = yield* timestamp(st, buf);
  if (buf.switchSubbuf(ts, true, true)) onSwitched();
  yield* pendingDeliveries(st, buf);
}

/**
 * `lttng snapshot record`: for each CPU buffer, switch(ACTIVE) so what it holds is delivered,
 * sample the consumed and produced positions, and copy each delivered packet in between
 * without moving the consumer (lib_ring_buffer_snapshot, get_subbuf at each position). A
 * packet the writer overwrote meanwhile is skipped (a gap in packet_seq_num). Returns the
 * number of packets copied.
 */
export function* snapshotRecord(st: RingBufferSession): KPath<number> {
  const out: Uint8Array[][] = st.bufs().map(() => []);
  let packets = 0;
  for (const buf of st.bufs()) {
    yield* preemptDisable();
    const cpu = (yield* current()).cpu;
    const before = snap(buf);
    const ts = yield* timestamp(st, buf);
    buf.switchSubbuf(ts, cpu === buf.cpu || st.opts.commitCounters === 'local-only', false);
    yield* pendingDeliveries(st, buf);
    yield* drain(st, buf, before);
    yield* preemptEnable();
    const { consumed, produced } = buf.snapshotPositions();
    for (let pos = consumed; pos < produced; pos += buf.subbufSize) {
      // One packet per step: the writers go on meanwhile.
      yield* schedPoint();
      const p = buf.readSubbufAt(pos);
      if (typeof p === 'number') continue;
      out[buf.cpu]!.push(p.bytes);
      packets++;
    }
  }
  st.snapshots.push(out);
  const me = yield* current();
  yield* emit({ type: 'ring-buffer/snapshot-recorded', pid: me.pid, packets });
  return packets;
}
