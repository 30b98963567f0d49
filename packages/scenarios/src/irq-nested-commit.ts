import { schedPoint, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { ringBuffer, type RingBufferApi, type RingBufferOptions } from '@tracelab/ring-buffer';

/** The task's own tracepoint: one record per call, numbered. */
const TASK_RECORD = 'task_record';

/**
 * One 4 KiB sub-buffer holds the whole run. The session records the writer's tracepoint and
 * the timer interrupt's three (no scheduler events, no state dump): the race is between the
 * task's reserve and the interrupt's.
 */
const BUFFER = {
  subbufSize: 4096,
  numSubbuf: 2,
  interrupts: true,
  events: ['irq_handler_entry', 'irq_handler_exit', 'timer_hrtimer_expire_entry'],
  statedump: false,
} as const;

const OPTIONS: Readonly<Record<string, RingBufferOptions>> = {
  fixed: { ...BUFFER, offsetUpdate: 'cmpxchg' },
  'plain-store': { ...BUFFER, offsetUpdate: 'plain-store' },
};

/** Ticks between timer interrupts on the CPU (the first is due at once). */
const TICK_PERIOD = 30;

/**
 * A kernel thread tracing `records` events (lttng_event_reserve, the record written, a
 * scheduling point where an interrupt may arrive before the commit, lttng_event_commit), then
 * stopping the session (`lttng stop`: every sub-buffer switched and delivered).
 */
function* writer(api: RingBufferApi, records: number): KPath<void> {
  for (let seq = 0; seq < records; seq++) {
    const r = yield* api.eventReserve(TASK_RECORD, { seq });
    if (typeof r === 'number') continue;
    yield* schedPoint();
    yield* api.eventCommit(r);
  }
  yield* api.flush();
}

/**
 * Interrupts nested in a reserve (issue 18; LTTng's lockless ring buffer, lib_ring_buffer and
 * its CPU-local operations): a task's tracepoint reserves a record on its CPU's buffer with
 * preemption off, but a timer interrupt is not held off by that. Its handler's tracepoints
 * (irq_handler_entry, timer_hrtimer_expire_entry, irq_handler_exit) reserve and commit on the
 * same buffer, between the task's read of the write offset and its update, or between its
 * reserve and its commit. The offset update must be a compare-and-exchange (retried when an
 * interrupt moved the offset), and the sub-buffer's commit count must not care in which order
 * the nested records commit.
 */
export const irqNestedCommit = defineScenario({
  name: 'irq-nested-commit',
  description:
    "a task's tracepoint reserves and commits while the timer interrupt's tracepoints reserve and commit inside that window on the same CPU (ring-buffer)",
  source: 'issue 18: interrupts and NMIs in the simulated kernel, and the races they bring to tracers (LTTng lib ring buffer, RING_BUFFER_MAX_NESTING)',
  cpus: 1,
  maxSteps: 600,
  scale: { name: 'records', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'irqNestedCommit' },
  variants: [
    {
      name: 'fixed',
      description:
        "offsetUpdate: 'cmpxchg': the offset is read, then compare-and-exchanged; an interrupt's reserve in between makes the cmpxchg fail and the reserve start over",
      safe: true,
    },
    {
      name: 'plain-store',
      description: "offsetUpdate: 'plain-store': the offset is read, then stored; an interrupt's reserve in between is overwritten and two records share bytes",
      safe: false,
      expect: ['ring-buffer/overlap'],
    },
  ],
  plugins: (variant) => [rcuTasks(), tracepoints(), ringBuffer(OPTIONS[variant] ?? {})],
  interrupts: () => ({ timer: { period: TICK_PERIOD } }),
  setup(kernel, { scale }) {
    const api = kernel.api['ring-buffer'];
    api.defineTracepoint({ name: TASK_RECORD, fields: [{ name: 'seq', type: { kind: 'integer', size: 32, signed: true } }] });
    kernel.spawnKthread(writer(api, scale), { comm: 'writer' });
    watchGracePeriods(kernel);
  },
});
