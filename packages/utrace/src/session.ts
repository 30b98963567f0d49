import { getState, intMapNextKey, intMapGet, msleep, type KernelEvent, type KPath } from '@tracelab/core';
import { UTRACE_RESUME_ACTION_NAMES } from './constants.js';
import { attachSyscallLogger, type SyscallLoggerData } from './engines.js';
import type { UtraceApi } from './events.js';

export interface TraceFirstCommOptions {
  /** Follow forks (strace -f). Default false. */
  readonly follow?: boolean;
  /** Give up after this many ticks of polling for the task. Default 1000. */
  readonly timeout?: number;
}

/**
 * A kernel thread's path for `tracelab run`: polls (once per tick) for the first live user task
 * whose comm is `comm`, attaches the syscall logger to it, and returns the engine's id, or a
 * negative errno (-ESRCH when no such task appeared in time). The engine stays attached; it is
 * dropped at the task's reap (the reference the caller got is left for the run's lifetime).
 */
export function* traceFirstComm(api: UtraceApi, comm: string, options: TraceFirstCommOptions = {}): KPath<number> {
  const timeout = options.timeout ?? 1000;
  for (let waited = 0; ; waited++) {
    const s = yield* getState();
    for (let pid = intMapNextKey(s.tasks, -1); pid !== -1; pid = intMapNextKey(s.tasks, pid)) {
      const t = intMapGet(s.tasks, pid)!;
      if (t.comm !== comm || t.kthread || t.exitState !== null || !t.listed) continue;
      const e = yield* attachSyscallLogger(api, pid, { follow: options.follow ?? false });
      return typeof e === 'number' ? e : e.id;
    }
    if (waited >= timeout) return -3;
    yield* msleep(1);
  }
}

export interface UtraceSummary {
  readonly engines: { readonly attached: number; readonly detached: number; readonly freed: number };
  readonly passes: number;
  readonly callbacks: number;
  readonly stops: number;
  /** control() calls by action name, with how many returned an error. */
  readonly controls: Readonly<Record<string, { readonly calls: number; readonly errors: number }>>;
  /** The syscall logger's lines, in log order. */
  readonly lines: readonly string[];
}

/** Counts what utrace did from a run's log (live or replayed: both summarize the same). */
export function summarizeUtrace(log: readonly KernelEvent[]): UtraceSummary {
  let attached = 0;
  let detached = 0;
  let freed = 0;
  let passes = 0;
  let callbacks = 0;
  let stops = 0;
  const controls: Record<string, { calls: number; errors: number }> = {};
  const lines: string[] = [];
  for (const e of log) {
    switch (e.type) {
      case 'utrace/engine-attached':
        attached++;
        break;
      case 'utrace/engine-detached':
        detached++;
        break;
      case 'utrace/engine-freed':
        freed++;
        break;
      case 'utrace/report':
        passes++;
        break;
      case 'utrace/callback':
        callbacks++;
        break;
      case 'utrace/stopped':
        stops++;
        break;
      case 'utrace/control': {
        const name = UTRACE_RESUME_ACTION_NAMES[e.action] ?? String(e.action);
        const c = (controls[name] ??= { calls: 0, errors: 0 });
        c.calls++;
        if (e.ret < 0) c.errors++;
        break;
      }
      case 'utrace/syscall-log':
        lines.push(`[pid ${e.pid}] ${e.text}`);
        break;
      default:
        break;
    }
  }
  return { engines: { attached, detached, freed }, passes, callbacks, stops, controls, lines };
}

/** The summary as terminal lines (for `tracelab run`'s summary); at most `maxLines` logger lines. */
export function formatUtraceSummary(s: UtraceSummary, maxLines = 20): string[] {
  const out = [
    `  utrace: ${s.engines.attached} engines attached (${s.engines.detached} detached, ${s.engines.freed} freed), ${s.passes} reporting passes, ${s.callbacks} callbacks, ${s.stops} stops`,
  ];
  for (const [name, c] of Object.entries(s.controls)) out.push(`    control(${name}): ${c.calls} calls, ${c.errors} errors`);
  if (s.lines.length > 0) out.push(`    syscall log (${s.lines.length} lines):`);
  for (const l of s.lines.slice(0, maxLines)) out.push(`    ${l}`);
  if (s.lines.length > maxLines) out.push(`    ... ${s.lines.length - maxLines} more`);
  return out;
}

export type { SyscallLoggerData };
