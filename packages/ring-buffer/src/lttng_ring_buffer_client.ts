/**
 * The channel's probe side, after lttng-modules' src/lttng-ring-buffer-client.h and the probe
 * template (include/lttng/tracepoint-event-impl.h): lttng_event_reserve (preemption off,
 * get_cpu, reserve on this CPU's buffer), the record written in the event class's field order,
 * lttng_event_commit (commit, put_cpu, preemption back on). A faultable tracepoint's user
 * strings go through one of the copy strategies of lttng_probe_user.ts.
 */
import { EPERM, TracelabError, current, preemptDisable, preemptEnable, schedPoint, type KPath } from '@tracelab/core';
import { ctfEventSize, writeCtfEvent, type CtfFieldValue } from '@tracelab/formats';
import type { EventReservation, TracepointFields } from './events.js';
import { commitHere, getCpu, putCpu, reserveOn } from './ring_buffer_frontend.js';
import { faultInRestart, inPlace, temporaryBuffer, userFaultRead } from './lttng_probe_user.js';
import { checkFields, lookup } from './tracepoint.js';
import type { Held, RingBufferSession, Tracepoint } from './internal/session.js';

/** The record's values in the event class's field order; a field the call site left out is 0 or "". */
export function kernelValues(tp: Tracepoint, values: TracepointFields): CtfFieldValue[] {
  return tp.def.fields.map((f) => (f.user === true ? '' : (values[f.name] ?? (f.type.kind === 'string' || f.type.kind === 'array' ? '' : 0))));
}

/**
 * lttng_event_reserve for the short path (a record without user data): preemption off,
 * get_cpu, reserve, write the record. The caller commits with `eventCommitHeld`. Returns the
 * reservation, or a negative errno with the CPU released.
 */
export function* eventReserveTp(
  st: RingBufferSession,
  tp: Tracepoint,
  vals: CtfFieldValue[],
  pid: number,
): KPath<{ r: Held; slot: number; cpu: number; level: number } | number> {
  yield* preemptDisable();
  const cpu = (yield* current()).cpu;
  const got = (yield* getCpu(st, tp, cpu, pid)) ? yield* reserveAndWrite(st, tp, vals, pid, cpu) : -EPERM;
  // Refused: the CPU is released here; reserved: it stays held until eventCommitHeld.
  if (typeof got === 'number') yield* preemptEnable();
  return got;
}

/** Under get_cpu: reserve and write the record; on a failed reserve, put_cpu and the errno. */
function* reserveAndWrite(
  st: RingBufferSession,
  tp: Tracepoint,
  vals: CtfFieldValue[],
  pid: number,
  cpu: number,
): KPath<{ r: Held; slot: number; cpu: number; level: number } | number> {
  const level = st.nesting[cpu]!;
  const slot = ctfEventSize(tp.ec, vals);
  const r = yield* reserveOn(st, tp, slot, pid, cpu);
  if (typeof r === 'number') {
    putCpu(st, cpu);
    return r;
  }
  writeCtfEvent(r.buf.dv, r.buf.u8, r.pos, tp.ec, r.ts, vals);
  return { r, slot, cpu, level };
}

/** lttng_event_commit: commit on the reserving CPU, put_cpu, preemption back on. */
export function* eventCommitHeld(st: RingBufferSession, r: Held, slot: number, cpu: number): KPath<void> {
  yield* commitHere(st, r, slot, cpu);
  putCpu(st, cpu);
  yield* preemptEnable();
}

/**
 * The API's lttng_event_reserve: the record of tracepoint `name` written on the current CPU's
 * buffer, held (preemption off) until `eventCommit`. Returns the reservation or a negative
 * errno (-EPERM: nesting limit; a reserve's errno). INVALID_OPTION for an unknown name, bad
 * fields, or a tracepoint with user fields.
 */
export function* eventReserve(st: RingBufferSession, name: string, fields: TracepointFields): KPath<EventReservation | number> {
  const tp = lookup(st, name);
  checkFields(tp, fields);
  if (tp.userFields)
    throw new TracelabError('INVALID_OPTION', `ring-buffer.eventReserve(${name}): the tracepoint has user fields; only trace() copies user memory`);
  const me = yield* current();
  const got = yield* eventReserveTp(st, tp, kernelValues(tp, fields), me.pid);
  if (typeof got === 'number') return got;
  const handle: EventReservation = { tracepoint: name, cpu: got.cpu, offset: got.r.o, size: got.slot, nesting: got.level };
  st.held.set(handle, { r: got.r, slot: got.slot });
  return handle;
}

/** The API's lttng_event_commit of a reservation from `eventReserve`, on the CPU that reserved it (INVALID_OPTION otherwise, or for a reservation not held). */
export function* eventCommit(st: RingBufferSession, reservation: EventReservation): KPath<void> {
  const h = st.held.get(reservation);
  if (h === undefined) throw new TracelabError('INVALID_OPTION', 'ring-buffer.eventCommit: not a reservation from eventReserve, or one committed already');
  const cpu = (yield* current()).cpu;
  if (cpu !== reservation.cpu)
    throw new TracelabError(
      'INVALID_OPTION',
      `ring-buffer.eventCommit: ${reservation.tracepoint} was reserved on cpu ${reservation.cpu} and is committed on cpu ${cpu} (the reserver must keep preemption off until its commit)`,
    );
  st.held.delete(reservation);
  yield* eventCommitHeld(st, h.r, h.slot, cpu);
}

/**
 * The channel probe (the probe template's __event_probe__): serialize a tracepoint's values
 * into the per-CPU buffer. `data` is the tracepoint. A record without user data takes the
 * short path; one with user strings the session's `copyStrategy`.
 */
export function* channelProbe(st: RingBufferSession, values: TracepointFields, data: unknown): KPath<void> {
  const tp = data as Tracepoint;
  const me = yield* current();
  const vals = kernelValues(tp, values);
  if (!tp.userFields) {
    // A normal tracepoint already runs with preemption off; a faultable one without user
    // data takes the same short path.
    const got = yield* eventReserveTp(st, tp, vals, me.pid);
    if (typeof got === 'number') return;
    // With interrupts, one may arrive while the record is written, before its commit: its
    // records then commit first, in the same sub-buffer.
    if (st.opts.interrupts) yield* schedPoint();
    yield* eventCommitHeld(st, got.r, got.slot, got.cpu);
    return;
  }
  switch (st.opts.copyStrategy) {
    case 'in-place':
      return yield* inPlace(st, tp, values, vals, me.pid);
    case 'temporary-buffer':
      return yield* temporaryBuffer(st, tp, values, vals, me.pid);
    case 'fault-in-restart':
      return yield* faultInRestart(st, tp, values, vals, me.pid);
    case 'user-fault-read':
      return yield* userFaultRead(st, tp, values, vals, me.pid);
  }
}
