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
import type { RingBufferApi, RingBufferOptions, RingBufferState, RingBufferSummary } from './events.js';
import '@tracelab/tracepoints';
import { registerRingBuffer } from './internal/plugin.js';
import { faultsOf } from './internal/faults.js';
import { recordedOptions, resolveOptions } from './internal/options.js';

export { RingBuffer, ENODATA, RESERVE_RETRY } from './buffer.js';
export type { RingBufferConfig, RingBufferMode, Delivery, ConsumedPacket, ReserveSlowPlan } from './buffer.js';
export { RING_BUFFER_MAX_NESTING, TIF_SYSCALL_TRACEPOINT, TRACEPOINTS_MUTEX } from './events.js';
export type {
  CommitCounters,
  CopyStrategy,
  EventReservation,
  LostReason,
  OffsetUpdate,
  SyscallWalk,
  TraceClock,
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
  syscallFlag: 'ring-buffer/syscall-flag',
} as const;

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
      `  cpu ${c.cpu}: ${c.delivered} delivered in ${c.packets} packets, ${c.lost} lost (full ${c.lostFull}, wrap ${c.lostWrap}, big ${c.lostBig}${c.lostNesting > 0 ? `, nesting ${c.lostNesting}` : ''}${c.lostClock !== undefined ? `, clock ${c.lostClock}` : ''}, overwritten ${c.overwritten})`,
    );
  }
  return lines;
}
