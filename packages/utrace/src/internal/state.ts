import { SIGKILL, intMapGet, type KernelState, type KPath } from '@tracelab/core';
import { UTRACE_EVENT_NAMES } from '../constants.js';
import type { UtraceEngine, UtraceEngineOps, UtraceEngineState, UtraceRegs, UtraceTaskState } from '../events.js';
import type { UtraceFaults } from './faults.js';
import { utraceSlice } from './reducers.js';

/**
 * The closures behind each engine id: its ops vector and data. Kept outside the immer state
 * (functions are not state); the lifecycle of each entry is in events (`utrace/engine-attached`,
 * `-detached`, `-put`, `-freed`, `-reaped`, `utrace/reset`). Every reader re-checks the state,
 * which is the authority.
 */
export type EngineRegistry = Map<number, { readonly handle: UtraceEngine; released: boolean }>;

/**
 * The plugin's own state for one kernel: what the kernel paths of src/utrace*.ts share besides
 * the `state.plugins.utrace` slice (which only reducers write). Made once per kernel by
 * `register(ctx)` and passed to every path as its first argument.
 */
export interface Utrace {
  /**
   * The engines' ops and data by id. Written only by the plugin's kernel paths, in the same step
   * as the event that records the change: an entry is added by utrace_attach_task with
   * `utrace/engine-attached`, and `released` is set by the path that emits `utrace/engine-freed`
   * (utrace_engine_put, or __utrace_engine_release with releaseAt 'last-kref'). Cleared whole by
   * the kernel's reset (ctx.onReset), when the engines of the previous run are gone with its state.
   */
  readonly registry: EngineRegistry;
  /** Test-only fault injection (internal/faults.ts). Fixed when the plugin is made; read only. */
  readonly faults: UtraceFaults;
  /** The `releaseAt` option: when ops.release runs. Fixed when the plugin is made; read only. */
  readonly releaseAt: 'tracer-put' | 'last-kref';
}

/**
 * The spinlock that stands for utrace->lock of one task. Lock order: utrace lock → tasklist
 * read lock (utrace_set_events adding death events, to order against exit_notify); nothing is
 * taken under the tasklist lock after it, and no engine callback runs under it.
 */
export function utraceLock(pid: number): string {
  return `utrace_lock:${pid}`;
}

/** Where a task in utrace_stop sleeps (the core's stopped channel). */
export const stopChannel = (pid: number): string => `stopped:${pid}`;
/** Where waitForStop sleeps until `pid` stops (or dies). */
export const notifyChannel = (pid: number): string => `utrace-notify:${pid}`;

/** struct utrace of `pid`, as the slice has it. */
export function taskU(s: KernelState, pid: number): UtraceTaskState | undefined {
  return utraceSlice(s).tasks[pid];
}

/** An engine's state by id. */
export function engineS(s: KernelState, id: number): UtraceEngineState | undefined {
  return utraceSlice(s).engines[id];
}

/**
 * A job-control stop a tracer converted to TASK_TRACED (utrace_do_stop): the task sleeps in the
 * core's job-control stop, not in utrace_stop (`stopped` is utrace_stop's own), and the core
 * marks it traced, so SIGCONT leaves it stopped.
 */
export function jobctlTraced(s: KernelState, pid: number): boolean {
  const t = intMapGet(s.tasks, pid);
  return t !== undefined && t.state === 'stopped' && t.traced === true && taskU(s, pid)?.stopped !== true;
}

export function sigkillPending(s: KernelState, pid: number): boolean {
  return intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true;
}

/** A callback name of UtraceEngineOps (the kernel's report_* member). */
export type CallbackName = Exclude<keyof UtraceEngineOps, 'name' | 'release'>;

/** Starts one engine's event callback (a generator function's generator is created, nothing of it runs yet; a plain function runs). */
export type CallbackCall = (handle: UtraceEngine, action: number) => KPath<number | void> | number | void;

/** The label of an event bit in `utrace/report` (QUIESCE(0) for utrace_resume's pass). */
export function eventName(event: number): string {
  if (event === 0) return 'QUIESCE(0)';
  const b = 31 - Math.clz32(event);
  return UTRACE_EVENT_NAMES[b] ?? String(event);
}

/** pt_regs as a callback sees them (frozen: an engine reads them, never writes them). */
export function regsOf(pid: number, name: string | null, args: Readonly<Record<string, number>>, ret: number | null): UtraceRegs {
  return Object.freeze({ pid, syscall: name, args, ret });
}
