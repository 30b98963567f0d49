import type { KernelEvent } from '@tracelab/core';
import { CORE_EVENT_TYPES } from '@tracelab/core';

/**
 * The Chrome trace-event JSON format (the "JSON Object Format" of the Trace Event Format),
 * which Perfetto's UI and chrome://tracing both load. Timestamps are microseconds; tracelab
 * maps one simulated tick to one microsecond.
 */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'B' | 'E' | 'i' | 'b' | 'e' | 'M' | 'C';
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  readonly cat?: string;
  readonly s?: 'g' | 'p' | 't';
  readonly id?: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

export interface ChromeTrace {
  readonly traceEvents: readonly ChromeTraceEvent[];
  readonly displayTimeUnit: 'ms' | 'ns';
  readonly otherData: Readonly<Record<string, string>>;
}

/**
 * An async span drawn from a begin event to an end event with the same key: the core's
 * RCU-sched grace periods by default; plugins add theirs (an RCU-tasks grace period, a
 * probe call) through `toChromeTrace(log, { spans })`.
 */
export interface SpanRule {
  readonly begin: string;
  readonly end: string;
  /** The key pairing a begin with its end (a grace-period number, a call id). */
  key(event: KernelEvent): string | number;
  name(event: KernelEvent): string;
  readonly category: string;
}

export interface ChromeTraceOptions {
  /** Extra async spans; the RCU-sched grace-period rule is always included. */
  readonly spans?: readonly SpanRule[];
  /** Which events become instant markers on their CPU's track. Default: every non-core event, printk and oops. */
  readonly instant?: (event: KernelEvent) => boolean;
  /** Free-form metadata stored in `otherData` (scenario, seed, log hash...). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Process ids in the trace: one process holds a track per CPU, another a track per task. */
export const CPUS_PID = 1;
export const TASKS_PID = 2;

const CORE_TYPES: ReadonlySet<string> = new Set(CORE_EVENT_TYPES);

export const RCU_SCHED_GP: SpanRule = {
  begin: 'rcu/gp-start',
  end: 'rcu/gp-end',
  key: (e) => (e as KernelEvent<'rcu/gp-start'>).gp,
  name: (e) => `RCU-sched GP #${(e as KernelEvent<'rcu/gp-start'>).gp}`,
  category: 'rcu',
};

function defaultInstant(e: KernelEvent): boolean {
  return !CORE_TYPES.has(e.type) || e.type === 'kernel/printk' || e.type === 'kernel/oops';
}

/** The payload of an event, without its header, as instant-event args. */
function payload(e: KernelEvent): Record<string, unknown> {
  const { type: _type, seq, time: _time, cpu: _cpu, ...rest } = e as KernelEvent & Record<string, unknown>;
  return { seq, ...rest };
}

/**
 * Converts a tracelab log into a Chrome/Perfetto trace: one track per CPU showing which task
 * runs when (complete events), one track per task with its syscalls, instant events for
 * trace events, and async spans for grace periods.
 */
export function toChromeTrace(log: readonly KernelEvent[], options: ChromeTraceOptions = {}): ChromeTrace {
  const out: ChromeTraceEvent[] = [];
  const instant = options.instant ?? defaultInstant;
  const rules = [RCU_SCHED_GP, ...(options.spans ?? [])];
  const comm = new Map<number, string>();
  const running = new Map<number, { pid: number; since: number }>();
  const syscalls = new Map<number, { name: string; since: number; args: Record<string, number> }>();
  const openSpans = new Map<string, { rule: SpanRule; since: number; name: string; id: string }>();
  let cpus = 0;
  let end = 0;
  const label = (pid: number) => (pid === 0 ? 'idle' : `${comm.get(pid) ?? 'task'} [${pid}]`);

  const closeRun = (cpu: number, at: number) => {
    const r = running.get(cpu);
    if (r === undefined) return;
    running.delete(cpu);
    if (r.pid !== 0) out.push({ name: label(r.pid), cat: 'sched', ph: 'X', ts: r.since, dur: Math.max(0, at - r.since), pid: CPUS_PID, tid: cpu, args: { pid: r.pid } });
  };

  for (const e of log) {
    end = Math.max(end, e.time);
    switch (e.type) {
      case 'kernel/created':
        cpus = e.cpus;
        break;
      case 'task/spawned':
        comm.set(e.pid, e.comm);
        break;
      case 'fork/dup':
        comm.set(e.child, e.comm);
        break;
      case 'task/exec':
        comm.set(e.pid, e.comm);
        break;
      case 'sched/switch':
        closeRun(e.cpu, e.time);
        running.set(e.cpu, { pid: e.next, since: e.time });
        break;
      case 'syscall/enter':
        syscalls.set(e.pid, { name: e.name, since: e.time, args: e.args });
        break;
      case 'syscall/exit': {
        const s = syscalls.get(e.pid);
        syscalls.delete(e.pid);
        const since = s?.since ?? e.time;
        out.push({ name: `sys_${e.name}`, cat: 'syscall', ph: 'X', ts: since, dur: Math.max(0, e.time - since), pid: TASKS_PID, tid: e.pid, args: { ...(s?.args ?? {}), ret: e.ret } });
        break;
      }
      default:
        break;
    }
    for (const rule of rules) {
      if (e.type === rule.begin) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const id = `0x${(openSpans.size + out.length + 1).toString(16)}`;
        openSpans.set(k, { rule, since: e.time, name: rule.name(e), id });
        out.push({ name: rule.name(e), cat: rule.category, ph: 'b', id, ts: e.time, pid: CPUS_PID, tid: Math.max(0, e.cpu), args: payload(e) });
      } else if (e.type === rule.end) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const open = openSpans.get(k);
        if (open === undefined) continue;
        openSpans.delete(k);
        out.push({ name: open.name, cat: rule.category, ph: 'e', id: open.id, ts: e.time, pid: CPUS_PID, tid: Math.max(0, e.cpu), args: payload(e) });
      }
    }
    if (instant(e)) {
      out.push({ name: e.type, cat: e.type.split('/')[0]!, ph: 'i', s: 't', ts: e.time, pid: e.cpu >= 0 ? CPUS_PID : TASKS_PID, tid: Math.max(0, e.cpu), args: payload(e) });
    }
  }
  // What is still running, in a syscall or in a grace period at the end is drawn up to there.
  const last = end + 1;
  for (const cpu of [...running.keys()]) closeRun(cpu, last);
  for (const [pid, s] of syscalls) out.push({ name: `sys_${s.name}`, cat: 'syscall', ph: 'X', ts: s.since, dur: last - s.since, pid: TASKS_PID, tid: pid, args: { ...s.args, unfinished: true } });
  for (const open of openSpans.values()) out.push({ name: open.name, cat: open.rule.category, ph: 'e', id: open.id, ts: last, pid: CPUS_PID, tid: 0, args: { unfinished: true } });

  const meta: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: CPUS_PID, args: { name: 'CPUs' } },
    { name: 'process_sort_index', ph: 'M', pid: CPUS_PID, args: { sort_index: 0 } },
    { name: 'process_name', ph: 'M', pid: TASKS_PID, args: { name: 'Tasks (syscalls)' } },
    { name: 'process_sort_index', ph: 'M', pid: TASKS_PID, args: { sort_index: 1 } },
  ];
  for (let c = 0; c < cpus; c++) {
    meta.push({ name: 'thread_name', ph: 'M', pid: CPUS_PID, tid: c, args: { name: `CPU ${c}` } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: CPUS_PID, tid: c, args: { sort_index: c } });
  }
  for (const [pid, name] of comm) meta.push({ name: 'thread_name', ph: 'M', pid: TASKS_PID, tid: pid, args: { name: `${name} [${pid}]` } });
  // Sorted by timestamp (stable), as trace viewers read fastest.
  out.sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  return { traceEvents: [...meta, ...out], displayTimeUnit: 'ms', otherData: { generator: 'tracelab', timeUnit: '1 tick = 1 us', ...(options.metadata ?? {}) } };
}

const PHASES = new Set(['B', 'E', 'X', 'i', 'I', 'C', 'b', 'n', 'e', 'S', 'T', 'p', 'F', 's', 't', 'f', 'P', 'N', 'O', 'D', 'M', 'V', 'v', 'R', 'c']);
const METADATA_NAMES = new Set(['process_name', 'process_labels', 'process_sort_index', 'thread_name', 'thread_sort_index']);

/**
 * Checks a trace against the rules of the Trace Event Format that viewers rely on; returns
 * the problems found (empty when valid), each naming the event index.
 */
export function validateChromeTrace(trace: unknown): string[] {
  const errors: string[] = [];
  if (typeof trace !== 'object' || trace === null) return ['the trace is not a JSON object'];
  const events = (trace as { traceEvents?: unknown }).traceEvents;
  if (!Array.isArray(events)) return ['traceEvents is not an array'];
  const unit = (trace as { displayTimeUnit?: unknown }).displayTimeUnit;
  if (unit !== undefined && unit !== 'ms' && unit !== 'ns') errors.push(`displayTimeUnit must be "ms" or "ns", got ${JSON.stringify(unit)}`);
  const stacks = new Map<string, string[]>();
  const asyncOpen = new Map<string, number>();
  events.forEach((raw, i) => {
    const at = `traceEvents[${i}]`;
    if (typeof raw !== 'object' || raw === null) {
      errors.push(`${at} is not an object`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const ph = e['ph'];
    if (typeof ph !== 'string' || !PHASES.has(ph)) {
      errors.push(`${at}: unknown phase ${JSON.stringify(ph)}`);
      return;
    }
    if (typeof e['name'] !== 'string') errors.push(`${at}: name must be a string`);
    if (!Number.isInteger(e['pid'])) errors.push(`${at}: pid must be an integer`);
    if (e['args'] !== undefined && (typeof e['args'] !== 'object' || e['args'] === null || Array.isArray(e['args']))) errors.push(`${at}: args must be an object`);
    if (ph === 'M') {
      if (!METADATA_NAMES.has(String(e['name']))) errors.push(`${at}: unknown metadata name ${String(e['name'])}`);
      if ((e['name'] === 'thread_name' || e['name'] === 'thread_sort_index') && !Number.isInteger(e['tid'])) errors.push(`${at}: ${String(e['name'])} needs a tid`);
      return;
    }
    if (typeof e['ts'] !== 'number' || !Number.isFinite(e['ts']) || e['ts'] < 0) errors.push(`${at}: ts must be a non-negative number of microseconds`);
    if (ph !== 'i' && ph !== 'I' && ph !== 'C' && !Number.isInteger(e['tid'])) errors.push(`${at}: tid must be an integer`);
    if (ph === 'X' && !(typeof e['dur'] === 'number' && e['dur'] >= 0)) errors.push(`${at}: a complete event (X) needs dur >= 0`);
    if ((ph === 'i' || ph === 'I') && e['s'] !== undefined && !['g', 'p', 't'].includes(String(e['s']))) errors.push(`${at}: instant scope s must be g, p or t`);
    if (ph === 'B' || ph === 'E') {
      const k = `${String(e['pid'])}:${String(e['tid'])}`;
      const st = stacks.get(k) ?? [];
      if (ph === 'B') st.push(String(e['name']));
      else if (st.pop() === undefined) errors.push(`${at}: E without a matching B on pid ${String(e['pid'])} tid ${String(e['tid'])}`);
      stacks.set(k, st);
    }
    if (ph === 'b' || ph === 'e' || ph === 'n') {
      if (typeof e['cat'] !== 'string') errors.push(`${at}: an async event needs a cat`);
      if (typeof e['id'] !== 'string' && typeof e['id'] !== 'number') errors.push(`${at}: an async event needs an id`);
      const k = `${String(e['cat'])}:${String(e['id'])}`;
      if (ph === 'b') asyncOpen.set(k, (asyncOpen.get(k) ?? 0) + 1);
      if (ph === 'e') {
        const n = asyncOpen.get(k) ?? 0;
        if (n === 0) errors.push(`${at}: async end without a begin (cat ${String(e['cat'])}, id ${String(e['id'])})`);
        else asyncOpen.set(k, n - 1);
      }
    }
  });
  for (const [k, st] of stacks) if (st.length > 0) errors.push(`unclosed B events on ${k}: ${st.join(', ')}`);
  for (const [k, n] of asyncOpen) if (n > 0) errors.push(`unclosed async span ${k}`);
  return errors;
}
