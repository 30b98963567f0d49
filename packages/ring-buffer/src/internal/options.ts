import { option, pluginOptions } from '@tracelab/core';
import type { RingBufferMode } from '../buffer.js';
import type { CommitCounters, CopyStrategy, FlushSwitch, OffsetUpdate, ResolvedRingBufferOptions, SyscallWalk, TraceClock } from '../events.js';

/** A power of two from `min` to 2^30 (a sub-buffer size, a sub-buffer count). */
function powerOfTwo(fallback: number, min: number) {
  return option.custom(fallback, `a power of two from ${min} to 2^30`, (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 2 ** 30 && (v & (v - 1)) === 0 ? v : undefined,
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EVENT_GLOB = /^[A-Za-z0-9_:*?]+$/;

/**
 * `ringBuffer(options)` resolved, keys in the order the log records them. An unknown key, a value
 * of the wrong kind and options that do not go together (a snapshot session in discard mode, say)
 * throw `INVALID_OPTION` naming the keys and what they accept.
 */
export const resolveOptions: (options: unknown) => ResolvedRingBufferOptions = pluginOptions(
  'ring-buffer',
  {
    interrupts: option.boolean(false),
    offsetUpdate: option.oneOf<OffsetUpdate>('cmpxchg', ['cmpxchg', 'plain-store']),
    flushSwitch: option.oneOf<FlushSwitch>('remote', ['remote', 'ipi']),
    traceClock: option.oneOf<TraceClock>('nmi-safe', ['nmi-safe', 'ktime-get']),
    readerSwap: option.boolean(false),
    readerSwapExchange: option.boolean(true),
    syscallWalk: option.oneOf<SyscallWalk>('every-thread', ['every-thread', 'skip-kthreads']),
    interleave: option.boolean(false),
    deliverCas: option.boolean(true),
    reserveReread: option.boolean(true),
    /** Ticks between timer-driven sub-buffer switches; 0 is off. */
    switchTimer: option.integer(0, 0),
    /** Ticks between the consumer's timer-driven reads; 0 is off. */
    readTimer: option.integer(0, 0),
    snapshot: option.boolean(false),
    events: option.arrayOf(['*'], 'tracepoint names or globs (sched_*, syscall_entry_*)', (g) => typeof g === 'string' && EVENT_GLOB.test(g)),
    subbufSize: powerOfTwo(4096, 128),
    numSubbuf: powerOfTwo(4, 2),
    mode: option.oneOf<RingBufferMode>('discard', ['discard', 'overwrite']),
    commitCounters: option.oneOf<CommitCounters>('local-remote', ['local-remote', 'local-only']),
    copyStrategy: option.oneOf<CopyStrategy>('in-place', ['in-place', 'temporary-buffer', 'fault-in-restart', 'user-fault-read']),
    enableAll: option.boolean(true),
    checks: option.boolean(true),
    uuid: option.custom<string | null>(null, 'a lower-case text uuid, or null', (v) => (v === null || (typeof v === 'string' && UUID.test(v)) ? v : undefined)),
    /** The statedump runs only with `enableAll` (its events are among those it enables). */
    statedump: option.map(option.boolean(true), (on, o: { enableAll: boolean }) => on && o.enableAll),
  },
  [
    {
      options: ['snapshot', 'mode'],
      check: (o) =>
        o.snapshot && o.mode !== 'overwrite'
          ? `snapshot needs mode 'overwrite' (a snapshot session's buffers are flight recorders), got mode '${o.mode}'`
          : undefined,
    },
    {
      options: ['readTimer', 'snapshot'],
      check: (o) => (o.snapshot && o.readTimer > 0 ? 'snapshot takes no readTimer: no consumer drains a snapshot session' : undefined),
    },
    {
      options: ['interleave', 'interrupts'],
      check: (o) =>
        o.interrupts && o.interleave
          ? 'interrupts and interleave together are not modelled (an interrupt inside the interleaved slow-path or check_deliver steps is not supported): use one or the other'
          : undefined,
    },
    {
      options: ['offsetUpdate', 'interrupts'],
      check: (o) =>
        o.offsetUpdate !== 'cmpxchg' && !o.interrupts
          ? `offsetUpdate '${o.offsetUpdate}' needs interrupts: true (without records from interrupt context nothing can move the offset between its read and its update)`
          : undefined,
    },
    {
      options: ['readerSwapExchange', 'readerSwap'],
      check: (o) =>
        !o.readerSwapExchange && !o.readerSwap
          ? 'readerSwapExchange: false needs readerSwap: true (without the swap the reader copies the packet, there is no exchange to skip)'
          : undefined,
    },
    {
      options: ['traceClock', 'interrupts'],
      check: (o) =>
        o.traceClock !== 'nmi-safe' && !o.interrupts
          ? `traceClock '${o.traceClock}' needs interrupts: true (its clock fails only in NMI context, and without interrupts no record is written from an NMI)`
          : undefined,
    },
  ],
);

/** Options added by issue 22 (and issue 18's interrupts), with their defaults: recorded in the log only when set (see recordedOptions). */
const LATER_DEFAULTS = {
  interleave: false,
  deliverCas: true,
  reserveReread: true,
  switchTimer: 0,
  readTimer: 0,
  snapshot: false,
  interrupts: false,
  offsetUpdate: 'cmpxchg',
  flushSwitch: 'remote',
  traceClock: 'nmi-safe',
  readerSwap: false,
  readerSwapExchange: true,
  syscallWalk: 'every-thread',
} as const;

/**
 * The options as the log records them. An option added after logs were recorded is left out
 * while it has its default, so the logs (and state digests) of runs that do not use it stay
 * as they were.
 */
export function recordedOptions(opts: ResolvedRingBufferOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...opts };
  for (const [k, v] of Object.entries(LATER_DEFAULTS)) if (out[k] === v) delete out[k];
  return out;
}
