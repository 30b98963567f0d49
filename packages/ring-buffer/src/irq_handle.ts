/**
 * Interrupt context's tracepoints (with `interrupts`), after kernel/irq/handle.c
 * (handle_irq_event: irq_handler_entry / irq_handler_exit around the handler), the tick's
 * hrtimer expiring inside it (kernel/time/hrtimer.c, __run_hrtimer:
 * timer_hrtimer_expire_entry), and perf's NMI overflow handler taking a sample. Each record
 * goes into this CPU's buffer, nested inside whatever reserve the interrupted context has open.
 */
import { current, inIrqCount, type KPath } from '@tracelab/core';
import { IRQ_HANDLED, IRQ_HANDLER_ENTRY, IRQ_HANDLER_EXIT, NMI_SAMPLE, TIMER_HRTIMER_EXPIRE_ENTRY, TIMER_IRQ } from './tracepoints.js';
import { trace } from './tracepoint.js';
import { TICK_NS } from './internal/metadata.js';
import type { RingBufferSession } from './internal/session.js';

/** The tick's hrtimer (a per-CPU tick_sched's sched_timer) and its function, tick_sched_timer: addresses for timer_hrtimer_expire_entry. */
const TICK_HRTIMER = 0xffff88807fc1e100n;
const TICK_SCHED_TIMER = 0xffffffff81150e40n;

/** The timer tick's hard interrupt: irq_handler_entry, the tick's hrtimer expiring, irq_handler_exit. */
export function* timerInterrupt(st: RingBufferSession, name: string): KPath<void> {
  yield* trace(st, IRQ_HANDLER_ENTRY.name, { irq: TIMER_IRQ, name });
  const now = (yield* current()).now * TICK_NS;
  yield* trace(st, TIMER_HRTIMER_EXPIRE_ENTRY.name, { hrtimer: TICK_HRTIMER, now, function: TICK_SCHED_TIMER });
  yield* trace(st, IRQ_HANDLER_EXIT.name, { irq: TIMER_IRQ, ret: IRQ_HANDLED });
}

/** The sampling NMI: one sample of who it interrupted, at any point of a reserve, inside a hard interrupt's too. */
export function* nmiSample(st: RingBufferSession): KPath<void> {
  const me = yield* current();
  yield* trace(st, NMI_SAMPLE.name, { tid: me.pid, in_irq: inIrqCount(me.preemptCount) ? 1 : 0 });
}
