import { msleep, type KernelEvent, type KPath } from '@tracelab/core';
import type { FreeTrampolineAfter, FtraceApi, FtraceFunc, FtraceOps } from './events.js';

/** The syscall functions the default `tracelab run` stack traces. */
export const DEFAULT_TRACED_FUNCTIONS: readonly string[] = Object.freeze(['sys_getpid', 'sys_read', 'sys_write', 'sys_open']);

export interface FunctionTracerOptions {
  /** Functions to trace. Default DEFAULT_TRACED_FUNCTIONS. */
  readonly functions?: readonly string[];
  /** Ticks to sleep before registering. Default 0. */
  readonly after?: number;
  /** Ticks the ops stays registered before it is unregistered. Default 40. */
  readonly duration?: number;
  /** The ops' label in the log. Default 'function'. */
  readonly label?: string;
  /**
   * The ops' callback. Default: none of its own (what it saw is in the log). To write every
   * function entry into the trace: `kernel.api['ring-buffer'].functionEntry` (`func_entry` events).
   */
  readonly func?: FtraceFunc;
}

/** The function tracer's callback. What it saw is in the log (`ftrace/tramp-enter`, `ftrace/list-call`). */
function functionTrace(): void {
  // the record is the log's
}

/**
 * A function tracer session as a kernel thread runs it (perf or a trace instance): make a
 * DYNAMIC ops on `functions`, sleep `after`, register it, keep it `duration` ticks, unregister
 * it (which frees its trampoline after the grace period). Run it beside a workload:
 * `kernel.spawnKthread(functionTracer(kernel.api.ftrace, { after: 5 }), { comm: 'ftrace' })`.
 * Returns the unregister's result (0), or the register's if that failed.
 */
export function* functionTracer(api: FtraceApi, options: FunctionTracerOptions = {}): KPath<number> {
  const ops: FtraceOps = {
    func: options.func ?? functionTrace,
    filter: [...(options.functions ?? DEFAULT_TRACED_FUNCTIONS)],
    flags: ['DYNAMIC'],
    label: options.label ?? 'function',
  };
  if ((options.after ?? 0) > 0) yield* msleep(options.after!);
  const ret = yield* api.registerFtraceFunction(ops);
  if (ret !== 0) return ret;
  yield* msleep(options.duration ?? 40);
  return yield* api.unregisterFtraceFunction(ops);
}

export interface FtraceOpsSummary {
  readonly ops: number;
  readonly label: string;
  readonly trampoline: number | null;
  /** Ticks: registered, unregister entered, sites unpatched, trampoline retired and freed, unregister returned. */
  readonly registeredAt: number;
  readonly unregisterAt: number | null;
  readonly unpatchedAt: number | null;
  readonly retiredAt: number | null;
  readonly freedAt: number | null;
  readonly shutdownAt: number | null;
  readonly wait: FreeTrampolineAfter | null;
  /** unregister entered → trampoline freed, in ticks. */
  readonly unregisterToFree: number | null;
  /** trampoline retired (sites unpatched) → freed: the grace-period wait, in ticks. */
  readonly gracePeriod: number | null;
  /** Callback calls per function: through the trampoline, through the list caller. */
  readonly calls: ReadonlyArray<{ readonly ip: string; readonly trampoline: number; readonly list: number }>;
}

export interface FtraceSummary {
  readonly ops: readonly FtraceOpsSummary[];
  readonly trampolines: { readonly allocated: number; readonly freed: number };
  /** Use-after-free and freed-while-in-use reports (0 with the default options). */
  readonly useAfterFree: number;
}

interface Acc {
  ops: number;
  label: string;
  trampoline: number | null;
  registeredAt: number;
  unregisterAt: number | null;
  unpatchedAt: number | null;
  retiredAt: number | null;
  freedAt: number | null;
  shutdownAt: number | null;
  wait: FreeTrampolineAfter | null;
  calls: Map<string, { trampoline: number; list: number }>;
}

/**
 * What ftrace did, from a run's log (live or replayed): each registration of an ops, its
 * unregister→free latency and grace-period wait in ticks, and its callback calls per function.
 */
export function summarizeFtrace(log: readonly KernelEvent[]): FtraceSummary {
  const sessions: Acc[] = [];
  const open = new Map<number, Acc>();
  let allocated = 0;
  let freed = 0;
  let useAfterFree = 0;
  const count = (a: Acc | undefined, ip: string, via: 'trampoline' | 'list') => {
    if (a === undefined) return;
    let c = a.calls.get(ip);
    if (c === undefined) a.calls.set(ip, (c = { trampoline: 0, list: 0 }));
    c[via]++;
  };
  let unregistering: Acc | undefined;
  /** Trampolines each task is on (pid, or swapper/<cpu>), as the reducers track them. */
  const on = new Map<string, number[]>();
  /** Direct trampolines (ftrace/direct-tramp), by id. */
  const direct = new Set<number>();
  for (const e of log) {
    switch (e.type) {
      case 'ftrace/ops-registered': {
        const a: Acc = {
          ops: e.ops,
          label: e.label,
          trampoline: null,
          registeredAt: e.time,
          unregisterAt: null,
          unpatchedAt: null,
          retiredAt: null,
          freedAt: null,
          shutdownAt: null,
          wait: null,
          calls: new Map(),
        };
        sessions.push(a);
        open.set(e.ops, a);
        break;
      }
      case 'ftrace/tramp-alloc':
        allocated++;
        if (open.get(e.ops) !== undefined) open.get(e.ops)!.trampoline = e.tramp;
        break;
      case 'ftrace/update-start':
        if (e.op === 'unregister') {
          unregistering = open.get(e.ops);
          if (unregistering !== undefined) unregistering.unregisterAt = e.time;
        }
        break;
      case 'ftrace/update-end':
        if (unregistering !== undefined && unregistering.ops === e.ops) unregistering.unpatchedAt = e.time;
        break;
      case 'ftrace/direct-tramp':
        // A direct trampoline is its owner's (BPF's), not an ops' trampoline: left out of the sessions.
        direct.add(e.tramp);
        break;
      case 'ftrace/tramp-retired': {
        if (e.wait === 'none' || direct.has(e.tramp)) break;
        const a = open.get(e.ops);
        if (a !== undefined) {
          a.retiredAt = e.time;
          a.wait = e.wait;
        }
        break;
      }
      case 'ftrace/tramp-freed': {
        if (direct.has(e.tramp)) break;
        freed++;
        // A free that catches a task on the trampoline is a use-after-free too.
        for (const stack of on.values()) if (stack.includes(e.tramp)) useAfterFree++;
        const a = open.get(e.ops);
        if (a !== undefined) a.freedAt = e.time;
        break;
      }
      case 'ftrace/ops-shutdown': {
        const a = open.get(e.ops);
        if (a !== undefined) a.shutdownAt = e.time;
        open.delete(e.ops);
        if (unregistering === a) unregistering = undefined;
        break;
      }
      case 'ftrace/tramp-enter': {
        count(open.get(e.ops), e.ip, 'trampoline');
        const key = e.pid === 0 ? `swapper/${e.cpu}` : String(e.pid);
        on.set(key, [...(on.get(key) ?? []), e.tramp]);
        break;
      }
      case 'ftrace/tramp-exit': {
        const key = e.pid === 0 ? `swapper/${e.cpu}` : String(e.pid);
        const stack = on.get(key) ?? [];
        const i = stack.lastIndexOf(e.tramp);
        if (i >= 0) on.set(key, [...stack.slice(0, i), ...stack.slice(i + 1)]);
        break;
      }
      case 'ftrace/list-call':
        for (const id of e.ops) count(open.get(id), e.ip, 'list');
        break;
      case 'ftrace/use-after-free': {
        // A task resuming on a trampoline freed under it was counted at the free.
        if (e.at === 'entry') useAfterFree++;
        const key = e.pid === 0 ? `swapper/${e.cpu}` : String(e.pid);
        const stack = on.get(key) ?? [];
        const i = stack.lastIndexOf(e.tramp);
        if (i >= 0) on.set(key, [...stack.slice(0, i), ...stack.slice(i + 1)]);
        break;
      }
      default:
        break;
    }
  }
  const ops = sessions.map((a): FtraceOpsSummary => ({
    ops: a.ops,
    label: a.label,
    trampoline: a.trampoline,
    registeredAt: a.registeredAt,
    unregisterAt: a.unregisterAt,
    unpatchedAt: a.unpatchedAt,
    retiredAt: a.retiredAt,
    freedAt: a.freedAt,
    shutdownAt: a.shutdownAt,
    wait: a.wait,
    unregisterToFree: a.freedAt !== null && a.unregisterAt !== null ? a.freedAt - a.unregisterAt : null,
    gracePeriod: a.freedAt !== null && a.retiredAt !== null ? a.freedAt - a.retiredAt : null,
    calls: [...a.calls.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([ip, c]) => ({ ip, ...c })),
  }));
  return { ops, trampolines: { allocated, freed }, useAfterFree };
}

/** The summary as terminal lines (for `tracelab run`'s summary). */
export function formatFtraceSummary(s: FtraceSummary): string[] {
  const lines = [
    `  ftrace: ${s.ops.length} ops registration(s), ${s.trampolines.allocated} trampoline(s) allocated, ${s.trampolines.freed} freed, ${s.useAfterFree} use-after-free`,
  ];
  for (const o of s.ops) {
    const total = o.calls.reduce((n, c) => n + c.trampoline + c.list, 0);
    lines.push(`    ops ${o.label}: registered at tick ${o.registeredAt}, trampoline ${o.trampoline === null ? 'none' : `#${o.trampoline}`}, ${total} calls`);
    if (o.unregisterAt !== null) {
      const free =
        o.freedAt === null
          ? o.trampoline === null
            ? 'no trampoline to free'
            : 'trampoline not freed yet'
          : `trampoline freed at ${o.freedAt} after ${o.wait} (grace-period wait ${o.gracePeriod} ticks; unregister→free ${o.unregisterToFree} ticks)`;
      lines.push(`      unregistered at ${o.unregisterAt}, sites unpatched at ${o.unpatchedAt ?? '?'}, ${free}`);
    }
    for (const c of o.calls) lines.push(`      ${c.ip.padEnd(24)} ${String(c.trampoline).padStart(6)} via trampoline  ${String(c.list).padStart(6)} via list`);
  }
  return lines;
}
