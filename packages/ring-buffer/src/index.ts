/**
 * @tracelab/ring-buffer: faultable tracepoints writing into per-CPU LTTng-style ring buffers
 * (sub-buffers laid out as CTF packets, reserve/commit with LOCAL/REMOTE commit counters,
 * delivery, discard and overwrite modes, exact lost-record counts) as a tracelab plugin.
 * See the package README for the options, API, events and invariants, and
 * docs/ring-buffer.md for the design.
 */
import { TracelabError, definePlugin, type Kernel, type TracelabPlugin } from '@tracelab/core';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeCtfTrace } from '@tracelab/formats';
import type { RingBufferApi, RingBufferOptions, RingBufferState, RingBufferSummary, ResolvedRingBufferOptions } from './events.js';
import '@tracelab/tracepoints';
import { registerRingBuffer } from './internal/plugin.js';
import { faultsOf } from './internal/faults.js';

export { RingBuffer, ENODATA, RESERVE_RETRY } from './buffer.js';
export type { RingBufferConfig, RingBufferMode, Delivery, ConsumedPacket, ReserveSlowPlan } from './buffer.js';
export { RING_BUFFER_MAX_NESTING, TIF_SYSCALL_TRACEPOINT, TRACEPOINTS_MUTEX } from './events.js';
export type {
  CommitCounters,
  CopyStrategy,
  EventReservation,
  LostReason,
  OffsetUpdate,
  RingBufferApi,
  RingBufferCpuState,
  RingBufferOptions,
  RingBufferState,
  RingBufferSummary,
  ResolvedRingBufferOptions,
  TracepointDefinition,
  TracepointField,
  TracepointFields,
  TracepointProbe,
  TracepointValue,
} from './events.js';
export {
  DEFAULT_PRIO,
  FUNC_ENTRY,
  INIT_PID_NS_INUM,
  LTTNG_STATEDUMP_END,
  LTTNG_STATEDUMP_PROCESS_STATE,
  LTTNG_STATEDUMP_START,
  SCHED_MIGRATE_TASK,
  SCHED_PROCESS_EXEC,
  SCHED_PROCESS_EXIT,
  SCHED_PROCESS_FORK,
  SCHED_PROCESS_FREE,
  SCHED_PROCESS_WAIT,
  SCHED_SWITCH,
  SCHED_WAKEUP,
  SCHED_WAKEUP_NEW,
  SCHED_WAKING,
  STATEDUMP_STATUS,
  SYSCALLS,
  SYSCALL_ARGS,
  SYSCALL_ENTRY_UNKNOWN,
  SYSCALL_EXIT_UNKNOWN,
  TASK_STATE,
  coreTracepoints,
  needsSyscallFlag,
  syscallEntryTracepoint,
  syscallExitTracepoint,
  syscallOfEvent,
} from './tracepoints.js';
export type { SyscallArg, SyscallSpec } from './tracepoints.js';
export { CLOCK_FREQ, LTTNG_KERNEL_ENV, TICK_NS } from './internal/metadata.js';

export const RINGBUFFER_VERSION = '0.1.0';

/** The invariants' names, as violations report them. */
export const RING_BUFFER_INVARIANTS = {
  delivery: 'ring-buffer/delivery',
  commit: 'ring-buffer/commit',
  offsets: 'ring-buffer/offsets',
  packets: 'ring-buffer/packets',
  overlap: 'ring-buffer/overlap',
  syscallRefcount: 'ring-buffer/syscall-refcount',
} as const;

const KNOWN: ReadonlyArray<keyof RingBufferOptions> = [
  'subbufSize',
  'numSubbuf',
  'mode',
  'commitCounters',
  'copyStrategy',
  'enableAll',
  'checks',
  'uuid',
  'statedump',
  'events',
  'interleave',
  'deliverCas',
  'reserveReread',
  'switchTimer',
  'readTimer',
  'snapshot',
  'interrupts',
  'offsetUpdate',
  'flushSwitch',
];

function resolveOptions(options: unknown): ResolvedRingBufferOptions {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ring-buffer: ${what}`, { plugin: 'ring-buffer' });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    bad(`options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!(KNOWN as readonly string[]).includes(key)) bad(`unknown option ${JSON.stringify(key)} (known options: ${KNOWN.join(', ')})`);
  const pow2 = (key: 'subbufSize' | 'numSubbuf', fallback: number, min: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || (v & (v - 1)) !== 0 || v > 2 ** 30)
      bad(`${key} must be a power of two >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const oneOf = <T extends string>(key: keyof RingBufferOptions, values: readonly T[], fallback: T): T => {
    const v = o[key] ?? fallback;
    if (!(values as readonly unknown[]).includes(v)) bad(`${key} must be one of ${values.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const bool = (
    key: 'enableAll' | 'checks' | 'statedump' | 'interleave' | 'deliverCas' | 'reserveReread' | 'snapshot' | 'interrupts',
    fallback = true,
  ): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') bad(`${key} must be a boolean, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const uuid = o['uuid'] ?? null;
  if (uuid !== null && (typeof uuid !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)))
    bad(`uuid must be a lower-case text uuid, got ${JSON.stringify(uuid)}`);
  const events = o['events'] ?? ['*'];
  if (!Array.isArray(events) || !events.every((g) => typeof g === 'string' && /^[A-Za-z0-9_:*?]+$/.test(g)))
    bad(`events must be an array of tracepoint names or globs (sched_*, syscall_entry_*), got ${JSON.stringify(events)}`);
  const ticks = (key: 'switchTimer' | 'readTimer'): number => {
    const v = o[key] ?? 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) bad(`${key} must be a whole number of ticks >= 0 (0: off), got ${JSON.stringify(v)}`);
    return v as number;
  };
  const mode = oneOf('mode', ['discard', 'overwrite'] as const, 'discard');
  const snapshot = bool('snapshot', false);
  if (snapshot && mode !== 'overwrite') bad(`snapshot needs mode 'overwrite' (a snapshot session's buffers are flight recorders), got mode '${mode}'`);
  const readTimer = ticks('readTimer');
  if (snapshot && readTimer > 0) bad('snapshot takes no readTimer: no consumer drains a snapshot session');
  const interrupts = bool('interrupts', false);
  const offsetUpdate = oneOf('offsetUpdate', ['cmpxchg', 'plain-store'] as const, 'cmpxchg');
  const interleave = bool('interleave', false);
  if (interrupts && interleave)
    bad(
      'interrupts and interleave together are not modelled (an interrupt inside the interleaved slow-path or check_deliver steps is not supported): use one or the other',
    );
  if (offsetUpdate !== 'cmpxchg' && !interrupts)
    bad(
      `offsetUpdate '${offsetUpdate}' needs interrupts: true (without records from interrupt context nothing can move the offset between its read and its update)`,
    );
  return {
    interrupts,
    offsetUpdate,
    flushSwitch: oneOf('flushSwitch', ['remote', 'ipi'] as const, 'remote'),
    interleave,
    deliverCas: bool('deliverCas'),
    reserveReread: bool('reserveReread'),
    switchTimer: ticks('switchTimer'),
    readTimer,
    snapshot,
    events: events as string[],
    subbufSize: pow2('subbufSize', 4096, 128),
    numSubbuf: pow2('numSubbuf', 4, 2),
    mode,
    commitCounters: oneOf('commitCounters', ['local-remote', 'local-only'] as const, 'local-remote'),
    copyStrategy: oneOf('copyStrategy', ['in-place', 'temporary-buffer', 'fault-in-restart', 'user-fault-read'] as const, 'in-place'),
    enableAll: bool('enableAll'),
    checks: bool('checks'),
    uuid: uuid as string | null,
    statedump: bool('statedump') && bool('enableAll'),
  };
}

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
} as const;

/**
 * The options as the log records them. An option added after logs were recorded is left out
 * while it has its default, so the logs (and state digests) of runs that do not use it stay
 * as they were.
 */
function recordedOptions(opts: ResolvedRingBufferOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...opts };
  for (const [k, v] of Object.entries(LATER_DEFAULTS)) if (out[k] === v) delete out[k];
  return out;
}

/**
 * The plugin factory: `createKernel({ plugins: [rcuTasks(), ringBuffer()] })`. With the
 * defaults every core tracepoint (sched_switch, sched_process_fork, sched_process_exit,
 * syscall_entry_*) is enabled into 4 × 4 KiB per-CPU buffers in discard mode. Throws
 * `INVALID_OPTION` for an unknown key or a bad value.
 */
export function ringBuffer(options: RingBufferOptions = {}): TracelabPlugin<RingBufferApi, RingBufferState> {
  const opts = resolveOptions(options);
  const faults = faultsOf(options);
  return definePlugin<RingBufferApi, RingBufferState>({
    name: 'ring-buffer',
    version: RINGBUFFER_VERSION,
    core: '^0.1.0',
    dependsOn: { 'rcu-tasks': '^0.1.0', tracepoints: '^0.1.0' },
    options: recordedOptions(opts),
    register: (ctx) => registerRingBuffer(ctx, opts, ctx.api('rcu-tasks'), ctx.api('tracepoints'), faults),
  });
}

function apiOf(kernel: Pick<Kernel, 'api'>): RingBufferApi {
  const api = Object.hasOwn(kernel.api, 'ring-buffer') ? kernel.api['ring-buffer'] : undefined;
  if (api === undefined)
    throw new TracelabError('INVALID_OPTION', 'ring-buffer: the kernel has no ring-buffer plugin in its stack (add ringBuffer() to plugins)');
  return api;
}

/**
 * The end of a run: `flush` (switch every CPU buffer) in a kernel thread, then runs the
 * kernel until the consumer has written every delivered packet out. Call after `kernel.run()`.
 * `maxSteps` bounds the steps it takes (all of them, the flush included); returns true when
 * the kernel ran to its end within them, false when the budget cut the session short.
 */
export function finishRingBuffer(kernel: Kernel, options: { readonly maxSteps?: number } = {}): boolean {
  const api = apiOf(kernel);
  const budget = options.maxSteps ?? Number.MAX_SAFE_INTEGER;
  const start = kernel.steps;
  try {
    kernel.call(api.flush(), { comm: 'lttng-flush', maxSteps: budget });
  } catch (err) {
    // The budget ran out inside the flush: the session is cut there, as the caller asked.
    if (err instanceof TracelabError && err.code === 'CALL_DID_NOT_RETURN' && kernel.steps - start >= budget) return false;
    throw err;
  }
  const left = budget - (kernel.steps - start);
  if (left <= 0) return false;
  return kernel.run({ maxSteps: left }).done;
}

/**
 * Writes the CTF trace the consumer produced in LTTng's session layout: `dir` is the session
 * directory and the kernel trace goes to `dir/kernel/` (`metadata`, `channel0_<cpu>`), where
 * LTTng's tools look for it (lttnganalyses reads the tracer version from a `kernel` directory).
 * Removes a trace left directly in `dir` by an earlier version. Returns the files written,
 * relative to `dir`.
 */
export function writeRingBufferCtf(kernel: Pick<Kernel, 'api'>, dir: string): string[] {
  const api = apiOf(kernel);
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (f === 'metadata' || /^channel0_\d+$/.test(f)) rmSync(join(dir, f));
  return writeCtfTrace(join(dir, 'kernel'), api.traceClass(), api.streams()).map((f) => `kernel/${f}`);
}

/** `{ delivered, lost, perCpu }`: events written out and lost (full + wrap + big + overwritten), per CPU. */
export function summarizeRingBuffer(kernel: Pick<Kernel, 'api'>): RingBufferSummary {
  return apiOf(kernel).summary();
}

/** The summary as terminal lines. */
export function formatRingBufferSummary(s: RingBufferSummary): string[] {
  const lines = [`ring buffer: ${s.delivered} events delivered, ${s.lost} lost`];
  for (const c of s.perCpu) {
    lines.push(
      `  cpu ${c.cpu}: ${c.delivered} delivered in ${c.packets} packets, ${c.lost} lost (full ${c.lostFull}, wrap ${c.lostWrap}, big ${c.lostBig}${c.lostNesting > 0 ? `, nesting ${c.lostNesting}` : ''}, overwritten ${c.overwritten})`,
    );
  }
  return lines;
}
