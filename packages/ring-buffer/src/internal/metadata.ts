import type { CtfTraceClass } from '@tracelab/formats';
import type { RingBufferSession } from './session.js';

/** CTF clock: 1 GHz; one simulated tick is 1 µs, so a record's timestamp is tick·1000 + a per-buffer sequence. */
export const CLOCK_FREQ = 1_000_000_000;
export const TICK_NS = 1000;

/**
 * The trace environment of an lttng-modules kernel session (what `lttng` writes into a kernel
 * trace's metadata): analyses read `domain` and the tracer version from it (lttnganalyses
 * needs `tracer_major/minor/patchlevel`; before 2.7.1 it shifts wakeup priorities by 100).
 * The trace follows lttng-modules 2.13's event layout; `tracelab_tracer` says who wrote it.
 */
export const LTTNG_KERNEL_ENV: Readonly<Record<string, string | number>> = {
  hostname: 'tracelab',
  domain: 'kernel',
  sysname: 'Linux',
  kernel_release: '6.1.0-tracelab',
  kernel_version: '#1 SMP PREEMPT tracelab simulated kernel',
  tracer_name: 'lttng-modules',
  tracer_major: 2,
  tracer_minor: 13,
  tracer_patchlevel: 0,
  trace_buffering_scheme: 'global',
  trace_name: 'tracelab',
  tracelab_tracer: '@tracelab/ring-buffer',
};

/** The CTF trace class of the session: its uuid, clock, environment and one event class per tracepoint, in id order. */
export function traceClass(st: RingBufferSession): CtfTraceClass {
  return {
    uuid: st.uuid(),
    clock: {
      name: 'monotonic',
      freq: CLOCK_FREQ,
      offsetSeconds: 0,
      offset: 0,
      description: 'tracelab tick clock: 1 tick = 1000 ns, plus a per-buffer sequence within a tick',
    },
    env: LTTNG_KERNEL_ENV,
    eventClasses: st.byId.map((tp) => tp.ec),
  };
}
