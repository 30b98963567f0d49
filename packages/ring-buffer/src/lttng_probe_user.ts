/**
 * How a faultable tracepoint's probe gets user strings into a record, after lttng-modules'
 * src/probes/lttng-probe-user.c (lttng_strlen_user_inatomic, the copy from user) and the
 * designs argued for it: the seed's in-place copy into the reserved slot (`in-place`), a
 * temporary buffer filled while preemptible (`temporary-buffer`), fault in then copy with
 * faults off and restart (`fault-in-restart`, Lai Jiangshan), and upstream's
 * trace_user_fault_read into a per-CPU buffer (`user-fault-read`). Each path reserves and
 * commits through ring_buffer_frontend.ts.
 */
import { copyFromUser, current, emit, preemptDisable, preemptEnable, printk, type KPath } from '@tracelab/core';
import { ctfEventSize, writeCtfEvent, type CtfFieldValue } from '@tracelab/formats';
import type { TracepointFields } from './events.js';
import { forgetRange } from './internal/invariants.js';
import type { Held, RingBufferSession, Tracepoint } from './internal/session.js';
import { commitHere, getCpu, putCpu, reserveHere } from './ring_buffer_frontend.js';

/** Longest user string a probe copies (as the core's own path reads). */
const USER_STRING_MAX = 256;
/** trace_user_fault_read's retry bound. */
const USER_FAULT_READ_TRIES = 100;

/** Copies each user field's string (its value is the user address; 0 is "") into `out`; false when a copy faulted. */
function* userStrings(tp: Tracepoint, values: TracepointFields, out: CtfFieldValue[]): KPath<boolean> {
  const fields = tp.def.fields;
  for (let i = 0; i < fields.length; i++) {
    if (fields[i]!.user !== true) continue;
    const addr = Number(values[fields[i]!.name] ?? 0);
    const r = addr === 0 ? { notCopied: 0, data: '' } : yield* copyFromUser(addr, USER_STRING_MAX);
    if (r.notCopied > 0) return false;
    out[i] = r.data;
  }
  return true;
}

/** The copied string at the length reserved at strlen time (cut, or padded with spaces: a NUL would end the CTF string early). */
function fitString(s: string, len: number): string {
  return s.length >= len ? s.slice(0, len) : s + ' '.repeat(len - s.length);
}

/** Each user field of `copied` cut or padded to its length in `sized`. */
function fitUserStrings(tp: Tracepoint, copied: CtfFieldValue[], sized: readonly CtfFieldValue[]): void {
  for (let i = 0; i < copied.length; i++) if (tp.def.fields[i]!.user === true) copied[i] = fitString(String(copied[i]), String(sized[i]).length);
}

/** The seed's proposal: reserve with preemption off, copy preemptible (may fault and migrate), commit on the current CPU. */
export function* inPlace(st: RingBufferSession, tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
  // "user strlen": sizes the record; may fault (and sleep, and migrate).
  if (!(yield* userStrings(tp, values, vals))) return;
  const sized = vals.slice();
  const slot = ctfEventSize(tp.ec, vals);
  yield* preemptDisable();
  const reserveCpu = (yield* current()).cpu;
  let r: Held | null = null;
  if (yield* getCpu(st, tp, reserveCpu, pid)) {
    r = yield* reserveHere(st, tp, slot, pid, reserveCpu);
    // The copy runs preemptible: this CPU's nesting level is given back until the commit.
    putCpu(st, reserveCpu);
  }
  yield* preemptEnable();
  if (r === null) return;
  // Exclusive access to the slot from any CPU until the commit: copy from user, preemptible.
  const copied = vals.slice();
  yield* userStrings(tp, values, copied);
  // Keep the reserved size: a string that changed since the strlen is cut (or padded).
  fitUserStrings(tp, copied, sized);
  writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, copied);
  yield* preemptDisable();
  const commitCpu = (yield* current()).cpu;
  // The commit always goes ahead (the slot is reserved): it takes a level without the limit.
  st.nesting[commitCpu] = st.nesting[commitCpu]! + 1;
  yield* commitHere(st, r, slot, commitCpu);
  putCpu(st, commitCpu);
  yield* preemptEnable();
}

/** Under preempt_disable on `cpu`: get_cpu, reserve, write `vals`, commit, put_cpu. */
function* reserveWriteCommit(st: RingBufferSession, tp: Tracepoint, vals: CtfFieldValue[], pid: number, cpu: number): KPath<void> {
  const slot = ctfEventSize(tp.ec, vals);
  if (!(yield* getCpu(st, tp, cpu, pid))) return;
  const r = yield* reserveHere(st, tp, slot, pid, cpu);
  if (r !== null) {
    writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, vals);
    yield* commitHere(st, r, slot, cpu);
  }
  putCpu(st, cpu);
}

/** Copy user data into a temporary (kmalloc'd) buffer while preemptible, then reserve, write and commit with preemption off. */
export function* temporaryBuffer(st: RingBufferSession, tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
  if (!(yield* userStrings(tp, values, vals))) return;
  yield* preemptDisable();
  const cpu = (yield* current()).cpu;
  yield* reserveWriteCommit(st, tp, vals, pid, cpu);
  yield* preemptEnable();
}

/**
 * trace_user_fault_read (upstream, 2025): copy the user data into this CPU's buffer with
 * migration disabled and preemption enabled (the copy may fault and sleep), then check that no
 * context switch happened on this CPU meanwhile: another task may have copied into the same
 * per-CPU buffer. If one did, copy again; after 100 tries give up with a warning and drop the
 * event. Then reserve, write and commit with preemption off. tracelab has no
 * migrate_disable: a task that came back on another CPU is treated like a switch (retry).
 */
export function* userFaultRead(st: RingBufferSession, tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
  for (let tries = 0; ; tries++) {
    if (tries === USER_FAULT_READ_TRIES) {
      yield* printk(`ring-buffer: ${tp.def.name}: trace_user_fault_read gave up after ${USER_FAULT_READ_TRIES} tries`);
      return;
    }
    const cpu = (yield* current()).cpu;
    const switches = st.cpuSwitches[cpu]!;
    const copied = vals.slice();
    if (!(yield* userStrings(tp, values, copied))) return;
    yield* preemptDisable();
    const now = (yield* current()).cpu;
    const undisturbed = now === cpu && st.cpuSwitches[cpu] === switches;
    if (undisturbed) yield* reserveWriteCommit(st, tp, copied, pid, cpu);
    yield* preemptEnable();
    if (undisturbed) return;
    yield* emit({ type: 'ring-buffer/copy-restart', pid, tracepoint: tp.def.name });
  }
}

/** Lai Jiangshan's scheme: fault the pages in preemptible, then copy with preemption (and faults) off; restart if the copy faults. */
export function* faultInRestart(st: RingBufferSession, tp: Tracepoint, values: TracepointFields, vals: CtfFieldValue[], pid: number): KPath<void> {
  for (;;) {
    const sizing = vals.slice();
    if (!(yield* userStrings(tp, values, sizing))) return;
    yield* preemptDisable();
    const again = yield* copyWithFaultsOff(st, tp, values, vals, sizing, pid);
    yield* preemptEnable();
    if (!again) return;
  }
}

/**
 * faultInRestart's part with preemption off: get_cpu, reserve at the size the fault-in
 * measured, copy with page faults disabled (stops at a missing page), write and commit.
 * Returns true when the copy faulted: the slot was given back and the caller starts over.
 */
function* copyWithFaultsOff(
  st: RingBufferSession,
  tp: Tracepoint,
  values: TracepointFields,
  vals: CtfFieldValue[],
  sizing: CtfFieldValue[],
  pid: number,
): KPath<boolean> {
  const slot = ctfEventSize(tp.ec, sizing);
  const cpu = (yield* current()).cpu;
  if (!(yield* getCpu(st, tp, cpu, pid))) return false;
  const r = yield* reserveHere(st, tp, slot, pid, cpu);
  if (r === null) {
    putCpu(st, cpu);
    return false;
  }
  const copied = vals.slice();
  const ok = yield* userStrings(tp, values, copied); // pagefault_disable: stops at a missing page
  if (ok) {
    fitUserStrings(tp, copied, sizing);
    writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, copied);
    yield* commitHere(st, r, slot, cpu);
    putCpu(st, cpu);
    return false;
  }
  // The page went away between the fault-in and the copy: give the slot back (it is the
  // last one reserved on this CPU: preemption stayed off) and start over.
  const back = r.buf.tryDiscardReserve(r.o, slot);
  st.inFlight.delete(r.id);
  if (back !== 0) st.errors.push(`cpu ${cpu}: try_discard_reserve failed with ${back} with preemption off`);
  else if (st.opts.interrupts) forgetRange(st, r.buf, r.o, slot);
  putCpu(st, cpu);
  yield* emit({ type: 'ring-buffer/copy-restart', pid, tracepoint: tp.def.name });
  return true;
}
