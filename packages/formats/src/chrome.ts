import type { KernelEvent } from '@tracelab/core';
import { CORE_EVENT_TYPES } from '@tracelab/core';

/**
 * The Chrome trace-event JSON format (the "JSON Object Format" of the Trace Event Format),
 * which Perfetto's UI and chrome://tracing both load. Timestamps are microseconds; tracelab
 * maps one simulated tick to one microsecond.
 */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'B' | 'E' | 'i' | 'b' | 'e' | 'M' | 'C' | 's' | 'f';
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  readonly cat?: string;
  readonly s?: 'g' | 'p' | 't';
  readonly id?: string;
  /** Flow events: 'e' binds the end to the enclosing slice. */
  readonly bp?: 'e';
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

/**
 * The thread id of CPU `cpu`'s track: `cpu + 1`, never 0 (older Perfetto merged tid 0 with
 * tid 1). Events with no CPU (the host's, a timer's) go to `HOST_TID`.
 */
export function cpuTid(cpu: number): number {
  return cpu < 0 ? HOST_TID : cpu + 1;
}
export const HOST_TID = 999;

/**
 * Events the default instants leave out because another track already shows them: ktrace's
 * traced syscall entry/exit (the syscall's slice on its task's track, marked `traced`) and the
 * tasks-trace read-side lock/unlock (a `tasks-trace reader` slice on the task's track).
 */
export const SHOWN_AS_SLICES: ReadonlySet<string> = new Set(['ktrace/syscall-entry', 'ktrace/syscall-exit', 'rcu-tasks/trace-lock', 'rcu-tasks/trace-unlock']);

const CORE_TYPES: ReadonlySet<string> = new Set(CORE_EVENT_TYPES);

export const RCU_SCHED_GP: SpanRule = {
  begin: 'rcu/gp-start',
  end: 'rcu/gp-end',
  key: (e) => (e as KernelEvent<'rcu/gp-start'>).gp,
  name: (e) => `RCU-sched GP #${(e as KernelEvent<'rcu/gp-start'>).gp}`,
  category: 'rcu',
};

function defaultInstant(e: KernelEvent): boolean {
  if (SHOWN_AS_SLICES.has(e.type)) return false;
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
  // Wakeups waiting for the woken task's next run: the flow arrow's id, by pid.
  const wakeFlows = new Map<number, number>();
  let nextFlow = 1;
  // Counters: runnable tasks by the CPU they last ran on (task_cpu), sub-buffers delivered and
  // not yet consumed per CPU buffer.
  const lastCpu = new Map<number, number>();
  const runnable = new Map<number, number>(); // pid -> the CPU it counts on
  const pending = new Map<number, number>(); // buffer CPU -> delivered, not consumed
  const readers = new Map<number, number>(); // pid -> tasks-trace read side entered at
  const traced = new Set<number>(); // pids whose current syscall ktrace traced
  let cpus = 0;
  let end = 0;
  const label = (pid: number) => (pid === 0 ? 'idle' : `${comm.get(pid) ?? 'task'} [${pid}]`);

  const closeRun = (cpu: number, at: number) => {
    const r = running.get(cpu);
    if (r === undefined) return;
    running.delete(cpu);
    if (r.pid !== 0)
      out.push({
        name: label(r.pid),
        cat: 'sched',
        ph: 'X',
        ts: r.since,
        dur: Math.max(0, at - r.since),
        pid: CPUS_PID,
        tid: cpuTid(cpu),
        args: { pid: r.pid },
      });
  };
  const runnableCounter = (at: number) => {
    const args: Record<string, number> = {};
    for (let c = 0; c < cpus; c++) args[`cpu ${c}`] = 0;
    for (const c of runnable.values()) args[`cpu ${c}`] = (args[`cpu ${c}`] ?? 0) + 1;
    out.push({ name: 'runnable tasks', cat: 'sched', ph: 'C', ts: at, pid: CPUS_PID, args });
  };
  const pendingCounter = (at: number) => {
    const args: Record<string, number> = {};
    for (let c = 0; c < cpus; c++) args[`cpu ${c}`] = pending.get(c) ?? 0;
    out.push({ name: 'ring-buffer sub-buffers full', cat: 'ring-buffer', ph: 'C', ts: at, pid: CPUS_PID, args });
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
      case 'sched/switch': {
        closeRun(e.cpu, e.time);
        running.set(e.cpu, { pid: e.next, since: e.time });
        if (e.next !== 0) {
          lastCpu.set(e.next, e.cpu);
          const flow = wakeFlows.get(e.next);
          if (flow !== undefined) {
            wakeFlows.delete(e.next);
            out.push({ name: 'wakeup', cat: 'sched', ph: 'f', bp: 'e', id: String(flow), ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu) });
          }
        }
        const before = runnable.size;
        runnable.delete(e.next);
        if (e.prev !== 0 && e.prevState === 'runnable') runnable.set(e.prev, e.cpu);
        if (runnable.size !== before || e.prevState === 'runnable') runnableCounter(e.time);
        break;
      }
      case 'sched/wakeup': {
        // The arrow starts in the waker's running slice (a timer's, on the host track) and ends
        // where the woken task next runs.
        const id = nextFlow++;
        wakeFlows.set(e.pid, id);
        out.push({ name: 'wakeup', cat: 'sched', ph: 's', id: String(id), ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: { pid: e.pid, by: e.by } });
        runnable.set(e.pid, lastCpu.get(e.pid) ?? Math.max(0, e.cpu));
        runnableCounter(e.time);
        break;
      }
      case 'syscall/enter':
        syscalls.set(e.pid, { name: e.name, since: e.time, args: e.args });
        break;
      case 'syscall/exit': {
        const s = syscalls.get(e.pid);
        syscalls.delete(e.pid);
        const since = s?.since ?? e.time;
        const viaKtrace = traced.delete(e.pid);
        out.push({
          name: `sys_${e.name}`,
          cat: 'syscall',
          ph: 'X',
          ts: since,
          dur: Math.max(0, e.time - since),
          pid: TASKS_PID,
          tid: e.pid,
          args: { ...(s?.args ?? {}), ret: e.ret, ...(viaKtrace ? { traced: true } : {}) },
        });
        break;
      }
      default: {
        // Plugin events drawn as slices or counters (matched by name: formats knows no plugin).
        const pe = e as { readonly type: string; readonly time: number; readonly pid?: number; readonly nesting?: number; readonly bufCpu?: number };
        const type: string = pe.type;
        if (type === 'ktrace/syscall-entry' && pe.pid !== undefined) traced.add(pe.pid);
        else if (type === 'rcu-tasks/trace-lock' && pe.pid !== undefined && pe.nesting === 1) readers.set(pe.pid, pe.time);
        else if (type === 'rcu-tasks/trace-unlock' && pe.pid !== undefined && pe.nesting === 0) {
          const since = readers.get(pe.pid);
          readers.delete(pe.pid);
          if (since !== undefined)
            out.push({ name: 'tasks-trace reader', cat: 'rcu-tasks', ph: 'X', ts: since, dur: Math.max(0, pe.time - since), pid: TASKS_PID, tid: pe.pid });
        } else if ((type === 'ring-buffer/subbuf-delivered' || type === 'ring-buffer/subbuf-consumed') && pe.bufCpu !== undefined) {
          pending.set(pe.bufCpu, Math.max(0, (pending.get(pe.bufCpu) ?? 0) + (type === 'ring-buffer/subbuf-delivered' ? 1 : -1)));
          pendingCounter(pe.time);
        }
        break;
      }
    }
    // An event that begins or ends a span is shown by the span, not again as an instant.
    let spanEvent = false;
    for (const rule of rules) {
      if (e.type === rule.begin) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const id = `0x${(openSpans.size + out.length + 1).toString(16)}`;
        openSpans.set(k, { rule, since: e.time, name: rule.name(e), id });
        out.push({ name: rule.name(e), cat: rule.category, ph: 'b', id, ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
        spanEvent = true;
      } else if (e.type === rule.end) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const open = openSpans.get(k);
        if (open === undefined) continue;
        openSpans.delete(k);
        out.push({ name: open.name, cat: rule.category, ph: 'e', id: open.id, ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
        spanEvent = true;
      }
    }
    if (!spanEvent && instant(e)) {
      out.push({ name: e.type, cat: e.type.split('/')[0]!, ph: 'i', s: 't', ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
    }
  }
  // What is still running, in a syscall or in a grace period at the end is drawn up to there.
  const last = end + 1;
  for (const cpu of [...running.keys()]) closeRun(cpu, last);
  for (const [pid, s] of syscalls)
    out.push({
      name: `sys_${s.name}`,
      cat: 'syscall',
      ph: 'X',
      ts: s.since,
      dur: last - s.since,
      pid: TASKS_PID,
      tid: pid,
      args: { ...s.args, unfinished: true },
    });
  for (const open of openSpans.values())
    out.push({ name: open.name, cat: open.rule.category, ph: 'e', id: open.id, ts: last, pid: CPUS_PID, tid: cpuTid(0), args: { unfinished: true } });

  // Metadata events carry the category Chrome gives them (some parsers reject an event without one).
  const M = '__metadata';
  const meta: ChromeTraceEvent[] = [
    { name: 'process_name', cat: M, ph: 'M', pid: CPUS_PID, args: { name: 'CPUs' } },
    { name: 'process_sort_index', cat: M, ph: 'M', pid: CPUS_PID, args: { sort_index: 0 } },
    { name: 'process_name', cat: M, ph: 'M', pid: TASKS_PID, args: { name: 'Tasks (syscalls)' } },
    { name: 'process_sort_index', cat: M, ph: 'M', pid: TASKS_PID, args: { sort_index: 1 } },
  ];
  for (let c = 0; c < cpus; c++) {
    meta.push({ name: 'thread_name', cat: M, ph: 'M', pid: CPUS_PID, tid: cpuTid(c), args: { name: `CPU ${c}` } });
    meta.push({ name: 'thread_sort_index', cat: M, ph: 'M', pid: CPUS_PID, tid: cpuTid(c), args: { sort_index: c } });
  }
  meta.push({ name: 'thread_name', cat: M, ph: 'M', pid: CPUS_PID, tid: HOST_TID, args: { name: 'no CPU (timers, host)' } });
  meta.push({ name: 'thread_sort_index', cat: M, ph: 'M', pid: CPUS_PID, tid: HOST_TID, args: { sort_index: cpus } });
  for (const [pid, name] of comm) meta.push({ name: 'thread_name', cat: M, ph: 'M', pid: TASKS_PID, tid: pid, args: { name: `${name} [${pid}]` } });
  // Sorted by timestamp (stable), as trace viewers read fastest.
  out.sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  return {
    traceEvents: [...meta, ...out],
    displayTimeUnit: 'ms',
    otherData: { generator: 'tracelab', timeUnit: '1 tick = 1 us', ...(options.metadata ?? {}) },
  };
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
    if (e['args'] !== undefined && (typeof e['args'] !== 'object' || e['args'] === null || Array.isArray(e['args'])))
      errors.push(`${at}: args must be an object`);
    if (ph === 'M') {
      if (!METADATA_NAMES.has(String(e['name']))) errors.push(`${at}: unknown metadata name ${String(e['name'])}`);
      if ((e['name'] === 'thread_name' || e['name'] === 'thread_sort_index') && !Number.isInteger(e['tid']))
        errors.push(`${at}: ${String(e['name'])} needs a tid`);
      return;
    }
    if (typeof e['ts'] !== 'number' || !Number.isFinite(e['ts']) || e['ts'] < 0) errors.push(`${at}: ts must be a non-negative number of microseconds`);
    if (ph !== 'i' && ph !== 'I' && ph !== 'C' && !Number.isInteger(e['tid'])) errors.push(`${at}: tid must be an integer`);
    if (ph === 'X' && !(typeof e['dur'] === 'number' && e['dur'] >= 0)) errors.push(`${at}: a complete event (X) needs dur >= 0`);
    if ((ph === 'i' || ph === 'I') && e['s'] !== undefined && !['g', 'p', 't'].includes(String(e['s'])))
      errors.push(`${at}: instant scope s must be g, p or t`);
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
