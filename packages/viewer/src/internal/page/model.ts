import { CORE_EVENT_TYPES, trackComm, type KernelEvent } from '@tracelab/core';

/** A task on a CPU from one switch to the next. `preempted`: it left the CPU by preemption. */
export interface Span {
  readonly pid: number;
  readonly comm: string;
  readonly t0: number;
  readonly s0: number;
  t1: number;
  s1: number;
  preempted: boolean;
}

/** Something drawn on a lane at one event: a preemption, an oops, a violation, a schedule choice. */
export interface LaneMark {
  readonly cpu: number;
  readonly seq: number;
  readonly time: number;
  readonly kind: 'preempt' | 'oops' | 'violation' | 'choice' | 'irq';
  readonly label: string;
}

/**
 * Sources of lane marks, one function per kind, each given every event in order. Interrupts
 * plug in here: when the core logs hard and soft interrupts, a source that turns their entry
 * events into `kind: 'irq'` marks (and the lane draws them over the task's span) is all it
 * takes. The list is fixed at load time; nothing adds to it while the page runs.
 */
export const LANE_MARK_SOURCES: ReadonlyArray<(e: KernelEvent) => LaneMark | null> = [
  (e) =>
    e.type === 'sched/switch' && (e as KernelEvent<'sched/switch'>).preempted
      ? { cpu: e.cpu, seq: e.seq, time: e.time, kind: 'preempt', label: `pid ${(e as KernelEvent<'sched/switch'>).prev} preempted` }
      : null,
  (e) =>
    e.type === 'kernel/oops' ? { cpu: e.cpu, seq: e.seq, time: e.time, kind: 'oops', label: `oops: ${(e as KernelEvent<'kernel/oops'>).message}` } : null,
  // An interrupt (timer tick, NMI, IPI) taken on the CPU over whatever ran there.
  (e) => (e.type === 'irq/entry' ? { cpu: e.cpu, seq: e.seq, time: e.time, kind: 'irq', label: `${(e as KernelEvent<'irq/entry'>).name} interrupt` } : null),
];

const CORE_TYPES: ReadonlySet<string> = new Set(CORE_EVENT_TYPES as readonly string[]);

/** The owner of an event type: `core`, or the plugin whose namespace it is in. */
export function ownerOf(type: string): string {
  if (CORE_TYPES.has(type)) return 'core';
  const slash = type.indexOf('/');
  return slash < 0 ? type : type.slice(0, slash);
}

/** Payload fields that name a task. */
const PID_FIELDS = ['pid', 'prev', 'next', 'parent', 'child', 'killed', 'by'] as const;

/**
 * Everything the page derives from the events once, at load: the spans per CPU, which task
 * each event ran in, the commands of tasks, counts by type, owner and task. Built by
 * `buildModel` and never written afterwards.
 */
export interface Model {
  readonly events: readonly KernelEvent[];
  readonly cpus: number;
  readonly spans: readonly Span[][];
  /** The task running on the event's CPU when it was logged (-1 for host/timer events). */
  readonly actor: Int32Array;
  readonly comm: ReadonlyMap<number, string>;
  readonly types: ReadonlyMap<string, number>;
  readonly owners: ReadonlyMap<string, number>;
  readonly tasks: ReadonlyMap<number, number>;
  readonly marks: readonly LaneMark[];
  readonly tMax: number;
}

export function buildModel(events: readonly KernelEvent[]): Model {
  const header = events[0] as KernelEvent<'kernel/created'> | undefined;
  const cpus = header !== undefined && header.type === 'kernel/created' ? Number(header.cpus) : 1 + events.reduce((m, e) => Math.max(m, e.cpu), 0);
  const spans: Span[][] = Array.from({ length: cpus }, () => []);
  const curr: number[] = new Array<number>(cpus).fill(0);
  const open: Array<Span | null> = new Array<Span | null>(cpus).fill(null);
  const actor = new Int32Array(events.length);
  const comm = new Map<number, string>([[0, 'swapper']]);
  const types = new Map<string, number>();
  const owners = new Map<string, number>();
  const tasks = new Map<number, number>();
  const marks: LaneMark[] = [];
  let tMax = 0;
  for (const e of events) {
    const cpu = e.cpu;
    actor[e.seq] = cpu >= 0 && cpu < cpus ? curr[cpu]! : -1;
    types.set(e.type, (types.get(e.type) ?? 0) + 1);
    const owner = ownerOf(e.type);
    owners.set(owner, (owners.get(owner) ?? 0) + 1);
    if (e.time > tMax) tMax = e.time;
    const p = e as unknown as Record<string, unknown>;
    for (const f of PID_FIELDS) {
      const v = p[f];
      if (typeof v === 'number' && v > 0) tasks.set(v, (tasks.get(v) ?? 0) + 1);
    }
    trackComm(comm, e);
    if (e.type === 'sched/switch' && cpu >= 0 && cpu < cpus) {
      const sw = e as KernelEvent<'sched/switch'>;
      const prev = open[cpu];
      if (prev !== null && prev !== undefined) {
        prev.t1 = e.time;
        prev.s1 = e.seq;
        prev.preempted = sw.preempted;
      }
      curr[cpu] = sw.next;
      if (sw.next !== 0) {
        const span: Span = { pid: sw.next, comm: comm.get(sw.next) ?? '?', t0: e.time, s0: e.seq, t1: e.time, s1: e.seq, preempted: false };
        spans[cpu]!.push(span);
        open[cpu] = span;
      } else {
        open[cpu] = null;
      }
    }
    for (const source of LANE_MARK_SOURCES) {
      const m = source(e);
      if (m !== null) marks.push(m);
    }
  }
  // Tasks still on a CPU at the end of the log run to its last event.
  const last = events[events.length - 1];
  for (const s of open) {
    if (s !== null && last !== undefined) {
      s.t1 = last.time;
      s.s1 = last.seq;
    }
  }
  return { events, cpus, spans, actor, comm, types, owners, tasks, marks, tMax };
}

/** Whether an event concerns a task: it ran in it, or a payload field names it. */
export function involves(model: Model, e: KernelEvent, pid: number): boolean {
  if (model.actor[e.seq] === pid) return true;
  const p = e as unknown as Record<string, unknown>;
  for (const f of PID_FIELDS) if (p[f] === pid) return true;
  return false;
}

function valueText(v: unknown): string {
  if (typeof v === 'string') return /^[\w./:#-]+$/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueText).join(',')}]`;
  if (typeof v === 'object' && v !== null)
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}=${valueText(x)}`)
      .join(' ')}}`;
  return String(v);
}

const HEADER: ReadonlySet<string> = new Set(['type', 'seq', 'time', 'cpu']);

/** `k=v k=v` of an event's payload. */
export function payloadText(e: KernelEvent): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e)) if (!HEADER.has(k)) parts.push(`${k}=${valueText(v)}`);
  return parts.join(' ');
}

/** `comm[pid]`, or `-` for none. */
export function taskLabel(model: Model, pid: number): string {
  if (pid < 0) return '-';
  if (pid === 0) return 'idle';
  return `${model.comm.get(pid) ?? '?'}[${pid}]`;
}
