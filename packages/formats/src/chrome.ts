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

/** An open syscall on a task's track. */
interface OpenSyscall {
  readonly name: string;
  readonly since: number;
  readonly args: Record<string, number>;
}

/** An async span begun and not yet ended. */
interface OpenSpan {
  readonly rule: SpanRule;
  readonly since: number;
  readonly name: string;
  readonly id: string;
}

/**
 * `toChromeTrace`'s state while it reads a log: the events made so far and what is still open
 * (runs, syscalls, spans, wakeup arrows, counters). Guarded by: one conversion, which alone
 * calls its methods, in log order.
 */
class ChromeBuilder {
  readonly out: ChromeTraceEvent[] = [];
  readonly comm = new Map<number, string>();
  cpus = 0;
  end = 0;
  private readonly running = new Map<number, { pid: number; since: number }>();
  private readonly syscalls = new Map<number, OpenSyscall>();
  private readonly openSpans = new Map<string, OpenSpan>();
  /** Wakeups waiting for the woken task's next run: the flow arrow's id, by pid. */
  private readonly wakeFlows = new Map<number, number>();
  private nextFlow = 1;
  // Counters: runnable tasks by the CPU they last ran on (task_cpu), sub-buffers delivered and
  // not yet consumed per CPU buffer.
  private readonly lastCpu = new Map<number, number>();
  /** pid -> the CPU it counts on. */
  private readonly runnable = new Map<number, number>();
  /** Buffer CPU -> delivered, not consumed. */
  private readonly pending = new Map<number, number>();
  /** pid -> tasks-trace read side entered at. */
  private readonly readers = new Map<number, number>();
  /** pids whose current syscall ktrace traced. */
  private readonly traced = new Set<number>();

  constructor(
    private readonly rules: readonly SpanRule[],
    private readonly instant: (e: KernelEvent) => boolean,
  ) {}

  private label(pid: number): string {
    return pid === 0 ? 'idle' : `${this.comm.get(pid) ?? 'task'} [${pid}]`;
  }

  /** Ends the run on `cpu` at `at` as a complete event (the idle task's runs are not drawn). */
  private closeRun(cpu: number, at: number): void {
    const r = this.running.get(cpu);
    if (r === undefined) return;
    this.running.delete(cpu);
    if (r.pid !== 0)
      this.out.push({
        name: this.label(r.pid),
        cat: 'sched',
        ph: 'X',
        ts: r.since,
        dur: Math.max(0, at - r.since),
        pid: CPUS_PID,
        tid: cpuTid(cpu),
        args: { pid: r.pid },
      });
  }

  private runnableCounter(at: number): void {
    const args: Record<string, number> = {};
    for (let c = 0; c < this.cpus; c++) args[`cpu ${c}`] = 0;
    for (const c of this.runnable.values()) args[`cpu ${c}`] = (args[`cpu ${c}`] ?? 0) + 1;
    this.out.push({ name: 'runnable tasks', cat: 'sched', ph: 'C', ts: at, pid: CPUS_PID, args });
  }

  private pendingCounter(at: number): void {
    const args: Record<string, number> = {};
    for (let c = 0; c < this.cpus; c++) args[`cpu ${c}`] = this.pending.get(c) ?? 0;
    this.out.push({ name: 'ring-buffer sub-buffers full', cat: 'ring-buffer', ph: 'C', ts: at, pid: CPUS_PID, args });
  }

  /** One event of the log: its slices, counters, arrows, span ends and instant. */
  add(e: KernelEvent): void {
    this.end = Math.max(this.end, e.time);
    switch (e.type) {
      case 'kernel/created':
        this.cpus = e.cpus;
        break;
      case 'task/spawned':
        this.comm.set(e.pid, e.comm);
        break;
      case 'fork/dup':
        this.comm.set(e.child, e.comm);
        break;
      case 'task/exec':
        this.comm.set(e.pid, e.comm);
        break;
      case 'sched/switch':
        this.onSwitch(e);
        break;
      case 'sched/wakeup':
        this.onWakeup(e);
        break;
      case 'syscall/enter':
        this.syscalls.set(e.pid, { name: e.name, since: e.time, args: e.args });
        break;
      case 'syscall/exit':
        this.onSyscallExit(e);
        break;
      default:
        this.onPluginEvent(e);
        break;
    }
    // An event that begins or ends a span is shown by the span, not again as an instant.
    const instant = this.instant;
    if (!this.spans(e) && instant(e)) {
      this.out.push({ name: e.type, cat: e.type.split('/')[0]!, ph: 'i', s: 't', ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
    }
  }

  private onSwitch(e: KernelEvent<'sched/switch'>): void {
    this.closeRun(e.cpu, e.time);
    this.running.set(e.cpu, { pid: e.next, since: e.time });
    if (e.next !== 0) {
      this.lastCpu.set(e.next, e.cpu);
      const flow = this.wakeFlows.get(e.next);
      if (flow !== undefined) {
        this.wakeFlows.delete(e.next);
        this.out.push({ name: 'wakeup', cat: 'sched', ph: 'f', bp: 'e', id: String(flow), ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu) });
      }
    }
    const runnable = this.runnable;
    const before = runnable.size;
    runnable.delete(e.next);
    if (e.prev !== 0 && e.prevState === 'runnable') runnable.set(e.prev, e.cpu);
    if (runnable.size !== before || e.prevState === 'runnable') this.runnableCounter(e.time);
  }

  private onWakeup(e: KernelEvent<'sched/wakeup'>): void {
    // The arrow starts in the waker's running slice (a timer's, on the host track) and ends
    // where the woken task next runs.
    const id = this.nextFlow++;
    this.wakeFlows.set(e.pid, id);
    this.out.push({ name: 'wakeup', cat: 'sched', ph: 's', id: String(id), ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: { pid: e.pid, by: e.by } });
    this.runnable.set(e.pid, this.lastCpu.get(e.pid) ?? Math.max(0, e.cpu));
    this.runnableCounter(e.time);
  }

  private onSyscallExit(e: KernelEvent<'syscall/exit'>): void {
    const s = this.syscalls.get(e.pid);
    this.syscalls.delete(e.pid);
    const since = s?.since ?? e.time;
    const viaKtrace = this.traced.delete(e.pid);
    this.out.push({
      name: `sys_${e.name}`,
      cat: 'syscall',
      ph: 'X',
      ts: since,
      dur: Math.max(0, e.time - since),
      pid: TASKS_PID,
      tid: e.pid,
      args: { ...(s?.args ?? {}), ret: e.ret, ...(viaKtrace ? { traced: true } : {}) },
    });
  }

  /** Plugin events drawn as slices or counters (matched by name: formats knows no plugin). */
  private onPluginEvent(e: KernelEvent): void {
    const pe = e as { readonly type: string; readonly time: number; readonly pid?: number; readonly nesting?: number; readonly bufCpu?: number };
    const type: string = pe.type;
    if (type === 'ktrace/syscall-entry' && pe.pid !== undefined) this.traced.add(pe.pid);
    else if (type === 'rcu-tasks/trace-lock' && pe.pid !== undefined && pe.nesting === 1) this.readers.set(pe.pid, pe.time);
    else if (type === 'rcu-tasks/trace-unlock' && pe.pid !== undefined && pe.nesting === 0) {
      const since = this.readers.get(pe.pid);
      this.readers.delete(pe.pid);
      if (since !== undefined)
        this.out.push({ name: 'tasks-trace reader', cat: 'rcu-tasks', ph: 'X', ts: since, dur: Math.max(0, pe.time - since), pid: TASKS_PID, tid: pe.pid });
    } else if ((type === 'ring-buffer/subbuf-delivered' || type === 'ring-buffer/subbuf-consumed') && pe.bufCpu !== undefined) {
      const pending = this.pending;
      pending.set(pe.bufCpu, Math.max(0, (pending.get(pe.bufCpu) ?? 0) + (type === 'ring-buffer/subbuf-delivered' ? 1 : -1)));
      this.pendingCounter(pe.time);
    }
  }

  /** Begins or ends the spans `e` is a bound of; true when it is one. */
  private spans(e: KernelEvent): boolean {
    let spanEvent = false;
    for (const rule of this.rules) {
      if (e.type === rule.begin) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const id = `0x${(this.openSpans.size + this.out.length + 1).toString(16)}`;
        this.openSpans.set(k, { rule, since: e.time, name: rule.name(e), id });
        this.out.push({ name: rule.name(e), cat: rule.category, ph: 'b', id, ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
        spanEvent = true;
      } else if (e.type === rule.end) {
        const k = `${rule.category}:${rule.begin}:${rule.key(e)}`;
        const open = this.openSpans.get(k);
        if (open === undefined) continue;
        this.openSpans.delete(k);
        this.out.push({ name: open.name, cat: rule.category, ph: 'e', id: open.id, ts: e.time, pid: CPUS_PID, tid: cpuTid(e.cpu), args: payload(e) });
        spanEvent = true;
      }
    }
    return spanEvent;
  }

  /** What is still running, in a syscall or in a grace period at the end is drawn up to there. */
  finish(): void {
    const last = this.end + 1;
    for (const cpu of [...this.running.keys()]) this.closeRun(cpu, last);
    for (const [pid, s] of this.syscalls)
      this.out.push({
        name: `sys_${s.name}`,
        cat: 'syscall',
        ph: 'X',
        ts: s.since,
        dur: last - s.since,
        pid: TASKS_PID,
        tid: pid,
        args: { ...s.args, unfinished: true },
      });
    for (const open of this.openSpans.values())
      this.out.push({ name: open.name, cat: open.rule.category, ph: 'e', id: open.id, ts: last, pid: CPUS_PID, tid: cpuTid(0), args: { unfinished: true } });
  }
}

/** The track names and sort order: the CPUs' process and threads, the tasks' process and one thread per task. */
function chromeMetadata(cpus: number, comm: ReadonlyMap<number, string>): ChromeTraceEvent[] {
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
  return meta;
}

/**
 * Converts a tracelab log into a Chrome/Perfetto trace: one track per CPU showing which task
 * runs when (complete events), one track per task with its syscalls, instant events for
 * trace events, and async spans for grace periods.
 */
export function toChromeTrace(log: readonly KernelEvent[], options: ChromeTraceOptions = {}): ChromeTrace {
  const b = new ChromeBuilder([RCU_SCHED_GP, ...(options.spans ?? [])], options.instant ?? defaultInstant);
  for (const e of log) b.add(e);
  b.finish();
  const meta = chromeMetadata(b.cpus, b.comm);
  // Sorted by timestamp (stable), as trace viewers read fastest.
  const out = b.out;
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
