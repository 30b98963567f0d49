import type { KernelEvent } from '@tracelab/core';

/**
 * Step footprints and race coverage (issue 20, "Coverage").
 *
 * A step's footprint is the shared objects its events write, named as strings: `lock:<name>`,
 * `task:<pid>`, `rq` (the runqueue), `tasklist`, `rcu` (RCU-sched state, which reads every CPU's
 * preempt count), `mm:<tgid>`, `ipi`, and a plugin's namespace (`ftrace`, `ring-buffer`, ...:
 * a plugin slice as one object). Events that touch only the stepping task or CPU (its syscall
 * bookkeeping, its own memory, a printk, a timer or NMI arriving on its own CPU) write nothing
 * shared. Two steps of different CPUs conflict when their footprints meet.
 *
 * What this sees and what it does not: writes, as the events record them. A step that only reads
 * (a `getState()` that decides without emitting) has no footprint here, and the global clock
 * (every step advances it) is left out. That is why these footprints measure coverage and do not
 * prune; the DPOR strategy prunes with the core's recorded footprints instead (read and write
 * sets, the clock: core footprint.ts, docs/explore.md §4a).
 */

/** Events that touch only the stepping task's own state (as dfs.ts's reduction has them). */
const LOCAL: ReadonlySet<string> = new Set(['syscall/enter', 'syscall/exit', 'kernel/printk', 'mm/store', 'fault/page', 'fault/resolved']);
/** Payload fields that name a task. */
const TASK_FIELDS = ['pid', 'prev', 'next', 'child', 'parent', 'target'] as const;

/** Appends the shared objects `e` writes to `out`. */
export function eventObjects(e: KernelEvent, out: string[]): void {
  const type = e.type;
  if (LOCAL.has(type)) return;
  const slash = type.indexOf('/');
  const ns = slash < 0 ? type : type.slice(0, slash);
  const p = e as unknown as Readonly<Record<string, unknown>>;
  switch (ns) {
    case 'kernel':
      return;
    case 'cpu':
      // The CPU's own preempt count; RCU-sched reads it to decide a grace period.
      out.push('rcu');
      return;
    case 'irq':
      // An interrupt on the stepping CPU is its own business; an IPI was queued by another CPU.
      if (p['name'] === 'ipi') out.push('ipi');
      return;
    case 'lock':
      out.push(`lock:${String(p['lock'])}`);
      return;
    case 'rcu':
      out.push('rcu');
      return;
    case 'mm':
      out.push(`mm:${String(p['tgid'])}`);
      return;
    case 'sched':
      out.push('rq');
      break;
    case 'fork':
      out.push('tasklist');
      break;
    case 'task':
      if (type === 'task/spawned' || type === 'task/linked' || type === 'task/exit' || type === 'task/released' || type === 'task/reparented')
        out.push('tasklist');
      if (type === 'task/sleep' || type === 'task/spawned') out.push('rq');
      break;
    case 'signal':
    case 'syscall':
    case 'fs':
    case 'fault':
      break;
    default:
      // A plugin's event: its slice, as one object.
      out.push(ns);
  }
  for (const f of TASK_FIELDS) {
    const v = p[f];
    if (typeof v === 'number' && v > 0) out.push(`task:${v}`);
  }
}

/** One step of a run: the CPU that stepped, the task it ran, and the first shared event. */
interface Step {
  readonly cpu: number;
  /** The task it ran (`pid N`, `swapper/N`): two steps of one task are ordered by the task. */
  readonly task: string;
  readonly label: string;
  readonly objects: readonly string[];
}

/** The task a step ran: the first event naming one (`prev` for a switch out), else the CPU's. */
function taskOf(events: readonly KernelEvent[]): string {
  for (const e of events) {
    const p = e as unknown as Readonly<Record<string, unknown>>;
    const pid = e.type === 'sched/switch' ? p['prev'] : p['pid'];
    if (typeof pid === 'number') return pid === 0 ? `swapper/${e.cpu}` : `pid ${pid}`;
  }
  return `cpu ${events[0]?.cpu ?? -1}`;
}

/** Splits a log into its steps (the events of one tick with the CPU that made them). */
function stepsOf(log: readonly KernelEvent[], from: number): Step[] {
  const steps: Step[] = [];
  let i = from;
  while (i < log.length) {
    const time = log[i]!.time;
    let j = i;
    let cpu = -1;
    while (j < log.length && log[j]!.time === time) {
      if (cpu < 0 && log[j]!.cpu >= 0) cpu = log[j]!.cpu;
      j++;
    }
    if (cpu >= 0) {
      const events = log.slice(i, j);
      const objects: string[] = [];
      let first = '';
      for (const e of events) {
        const before = objects.length;
        eventObjects(e, objects);
        if (first === '' && objects.length > before) first = e.type;
      }
      const task = taskOf(events);
      if (objects.length > 0) steps.push({ cpu, task, label: `${task} ${first}`, objects: [...new Set(objects)] });
    }
    i = j;
  }
  return steps;
}

/** Separates the parts of a race key (not in any label or object name). */
const SEP = '\u0000';

/**
 * The races of one run: for each shared object, each pair of consecutive writes to it from
 * different CPUs and different tasks, as `object SEP earlier-step SEP later-step`. Steps are named by task and
 * event type, not by position, so the same race in another schedule has the same key, and
 * its reversal the key with the two steps swapped. `from`: the log index the run's own
 * events start at (the setup before it is host-side).
 */
export function racesOf(log: readonly KernelEvent[], from = 0): string[] {
  const last = new Map<string, Step>();
  const out = new Set<string>();
  for (const s of stepsOf(log, from)) {
    for (const o of s.objects) {
      const prev = last.get(o);
      // A task's own steps are in program order (on one CPU or, migrated, on two): no race.
      if (prev !== undefined && prev.cpu !== s.cpu && prev.task !== s.task) out.add(`${o}${SEP}${prev.label}${SEP}${s.label}`);
      last.set(o, s);
    }
  }
  return [...out];
}

/** What an exploration's schedules covered of the races they met. */
export interface RaceCoverage {
  /** Distinct races met (a race and its reversal count once). */
  readonly races: number;
  /** Of those, the ones met in both orders. */
  readonly bothOrders: number;
  /** Up to 10 races met in one order only: `object: first step -> second step`. */
  readonly oneOrder: readonly string[];
}

/** Folds the race keys of many runs into coverage figures. */
export function raceCoverage(keys: Iterable<string>): RaceCoverage {
  const seen = new Set(keys);
  let races = 0;
  let bothOrders = 0;
  const oneOrder: string[] = [];
  for (const k of seen) {
    const [o, a, b] = k.split(SEP) as [string, string, string];
    const reverse = `${o}${SEP}${b}${SEP}${a}`;
    if (seen.has(reverse)) {
      // Count the pair once, from its lexically smaller key.
      if (k < reverse) {
        races++;
        bothOrders++;
      }
    } else {
      races++;
      if (oneOrder.length < 10) oneOrder.push(`${o}: ${a} -> ${b}`);
    }
  }
  return { races, bothOrders, oneOrder };
}
