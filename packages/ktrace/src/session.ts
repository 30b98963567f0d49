import { msleep, trackComm, type KernelEvent, type KPath } from '@tracelab/core';
import type { KtraceApi, KtraceOp, KtraceWalk } from './events.js';

export interface TraceWhileRunningOptions {
  /** Ticks the tracer sleeps before it sets the flag. Default 0. */
  readonly after?: number;
  /** Ticks the flag stays set before the tracer clears it; `null` leaves it set. Default null. */
  readonly duration?: number | null;
}

/**
 * A tracer session as a kernel thread runs it: sleep `after` ticks, set the flag on every
 * thread, sleep `duration` ticks, clear it. Run it beside a workload:
 * `kernel.spawnKthread(traceWhileRunning(kernel.api.ktrace, { after: 5 }), { comm: 'lttng' })`.
 * Returns the set's result (0), or the clear's when it clears.
 */
export function* traceWhileRunning(api: KtraceApi, options: TraceWhileRunningOptions = {}): KPath<number> {
  if ((options.after ?? 0) > 0) yield* msleep(options.after!);
  let ret = yield* api.setKernelTraceFlagAllTasks();
  const duration = options.duration ?? null;
  if (duration !== null) {
    yield* msleep(duration);
    ret = yield* api.clearKernelTraceFlagAllTasks();
  }
  return ret;
}

export interface KtraceSummary {
  /** Every walk, in log order: what it did, how, when, how many threads it visited and flipped. */
  readonly walks: ReadonlyArray<{
    readonly op: KtraceOp;
    readonly via: KtraceWalk;
    readonly pid: number;
    readonly start: number;
    readonly end: number | null;
    readonly visited: number;
    readonly changed: number;
  }>;
  /** All syscalls entered, traced or not. */
  readonly syscalls: number;
  /** Syscall entries and exits reported by the slow path of flagged threads. */
  readonly traced: { readonly entries: number; readonly exits: number };
  /** Per task with at least one traced syscall, in pid order; `comm` is the task's last name. */
  readonly byTask: ReadonlyArray<{ readonly pid: number; readonly comm: string; readonly syscalls: number; readonly entries: number; readonly exits: number }>;
}

/**
 * Counts what ktrace did from a run's log (live or replayed, so both summarize the same):
 * the walks, and the traced syscalls per task beside each task's syscalls in total.
 */
export function summarizeKtrace(log: readonly KernelEvent[]): KtraceSummary {
  const comm = new Map<number, string>();
  const perTask = new Map<number, { syscalls: number; entries: number; exits: number }>();
  const walks: Array<{ op: KtraceOp; via: KtraceWalk; pid: number; start: number; end: number | null; visited: number; changed: number }> = [];
  const open = new Map<number, number>();
  let syscalls = 0;
  let entries = 0;
  let exits = 0;
  const counts = (pid: number) => {
    let c = perTask.get(pid);
    if (c === undefined) perTask.set(pid, (c = { syscalls: 0, entries: 0, exits: 0 }));
    return c;
  };
  for (const e of log) {
    switch (e.type) {
      case 'task/spawned':
      case 'fork/dup':
      case 'task/exec':
        trackComm(comm, e);
        break;
      case 'syscall/enter':
        syscalls++;
        counts(e.pid).syscalls++;
        break;
      case 'ktrace/syscall-entry':
        entries++;
        counts(e.pid).entries++;
        break;
      case 'ktrace/syscall-exit':
        exits++;
        counts(e.pid).exits++;
        break;
      case 'ktrace/walk-start':
        open.set(e.pid, walks.length);
        walks.push({ op: e.op, via: e.via, pid: e.pid, start: e.time, end: null, visited: 0, changed: 0 });
        break;
      case 'ktrace/walk-end': {
        const i = open.get(e.pid);
        if (i !== undefined) {
          walks[i] = { ...walks[i]!, end: e.time, visited: e.visited, changed: e.changed };
          open.delete(e.pid);
        }
        break;
      }
      default:
        break;
    }
  }
  const byTask = [...perTask.entries()]
    .filter(([, c]) => c.entries > 0 || c.exits > 0)
    .sort(([a], [b]) => a - b)
    .map(([pid, c]) => ({ pid, comm: comm.get(pid) ?? '?', ...c }));
  return { walks, syscalls, traced: { entries, exits }, byTask };
}

/** The summary as terminal lines (for `tracelab run`'s summary). */
export function formatKtraceSummary(s: KtraceSummary): string[] {
  const lines = [`  ktrace: ${s.traced.entries} of ${s.syscalls} syscalls traced (${s.traced.exits} exits)`];
  for (const w of s.walks) {
    lines.push(`    ${w.op} walk (${w.via}) by pid ${w.pid}: ticks ${w.start}..${w.end ?? '?'}, ${w.visited} threads visited, ${w.changed} flipped`);
  }
  if (s.byTask.length > 0) lines.push('    traced syscalls per task (entries / all syscalls):');
  for (const t of s.byTask) lines.push(`    ${String(t.pid).padStart(6)}  ${t.comm.padEnd(16)} ${t.entries} / ${t.syscalls}`);
  return lines;
}
