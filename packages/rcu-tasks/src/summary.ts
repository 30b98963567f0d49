import type { KernelEvent } from '@tracelab/core';
import type { RcuTasksFlavour, RcuTasksGpRecord } from './events.js';

export interface RcuTasksFlavourSummary {
  /** Grace periods begun and ended. */
  readonly started: number;
  readonly completed: number;
  /** Callbacks queued, invoked, failed. */
  readonly queued: number;
  readonly invoked: number;
  readonly failed: number;
  /** Latency (gp-end tick minus list-grab tick) over the completed GPs, or null when none completed. */
  readonly latency: null | { readonly min: number; readonly mean: number; readonly max: number };
  /** Callbacks per completed GP: the batching. */
  readonly callbacksPerGp: number | null;
  readonly stalls: number;
}

export interface RcuTasksSummary {
  /** Every grace period, in start order (both flavours). */
  readonly gps: readonly RcuTasksGpRecord[];
  readonly tasks: RcuTasksFlavourSummary;
  readonly trace: RcuTasksFlavourSummary;
  /** tasks-trace reader sections opened (outermost locks), and the deepest nesting seen. */
  readonly traceSections: number;
  readonly traceMaxNesting: number;
}

/**
 * What RCU-tasks did in a run, from its log (live or replayed, so both summarize the same):
 * each grace period with its start, end and latency in ticks, callbacks, holdouts, rescans and
 * stalls; totals per flavour.
 */
export function summarizeRcuTasks(log: readonly KernelEvent[]): RcuTasksSummary {
  const gps: Array<{ -readonly [K in keyof RcuTasksGpRecord]: RcuTasksGpRecord[K] }> = [];
  const open = new Map<string, number>();
  const counts = { tasks: { queued: 0, invoked: 0, failed: 0, stalls: 0 }, trace: { queued: 0, invoked: 0, failed: 0, stalls: 0 } };
  let traceSections = 0;
  let traceMaxNesting = 0;
  const at = (flavour: RcuTasksFlavour, gp: number) => {
    const i = open.get(`${flavour}:${gp}`);
    return i === undefined ? undefined : gps[i];
  };
  for (const e of log) {
    switch (e.type) {
      case 'rcu-tasks/callback-queued':
        counts[e.flavour].queued++;
        break;
      case 'rcu-tasks/gp-start':
        open.set(`${e.flavour}:${e.gp}`, gps.length);
        gps.push({
          flavour: e.flavour,
          gp: e.gp,
          start: e.time,
          end: null,
          latency: null,
          callbacks: e.last - e.first + 1,
          holdouts: 0,
          rescans: 0,
          stalls: 0,
        });
        break;
      case 'rcu-tasks/holdouts': {
        const g = at(e.flavour, e.gp);
        if (g !== undefined) g.holdouts = e.pids.length;
        break;
      }
      case 'rcu-tasks/rescan': {
        const g = at(e.flavour, e.gp);
        if (g !== undefined) g.rescans++;
        break;
      }
      case 'rcu-tasks/stall': {
        counts[e.flavour].stalls++;
        const g = at(e.flavour, e.gp);
        if (g !== undefined) g.stalls++;
        break;
      }
      case 'rcu-tasks/gp-end': {
        const g = at(e.flavour, e.gp);
        if (g !== undefined) {
          g.end = e.time;
          g.latency = e.time - g.start;
        }
        break;
      }
      case 'rcu-tasks/callback-invoked':
        counts[e.flavour].invoked++;
        break;
      case 'rcu-tasks/callback-failed':
        counts[e.flavour].failed++;
        break;
      case 'rcu-tasks/trace-lock':
        if (e.nesting === 1) traceSections++;
        traceMaxNesting = Math.max(traceMaxNesting, e.nesting);
        break;
      default:
        break;
    }
  }
  const flavour = (f: RcuTasksFlavour): RcuTasksFlavourSummary => {
    const mine = gps.filter((g) => g.flavour === f);
    const done = mine.filter((g) => g.latency !== null);
    const lat = done.map((g) => g.latency!);
    return {
      started: mine.length,
      completed: done.length,
      ...counts[f],
      latency: lat.length === 0 ? null : { min: Math.min(...lat), mean: lat.reduce((a, b) => a + b, 0) / lat.length, max: Math.max(...lat) },
      callbacksPerGp: done.length === 0 ? null : done.reduce((a, g) => a + g.callbacks, 0) / done.length,
    };
  };
  return { gps, tasks: flavour('tasks'), trace: flavour('trace'), traceSections, traceMaxNesting };
}

/** The summary as terminal lines (for `tracelab run`'s summary). Prints nothing for an unused flavour. */
export function formatRcuTasksSummary(s: RcuTasksSummary, options: { readonly maxGps?: number } = {}): string[] {
  const lines: string[] = [];
  const maxGps = options.maxGps ?? 10;
  for (const f of ['tasks', 'trace'] as const) {
    const c = s[f];
    if (c.started === 0 && c.queued === 0) continue;
    const name = f === 'tasks' ? 'rcu-tasks' : 'rcu-tasks-trace';
    const lat = c.latency === null ? 'no GP completed' : `latency min ${c.latency.min} / mean ${c.latency.mean.toFixed(1)} / max ${c.latency.max} ticks`;
    lines.push(
      `  ${name}: ${c.completed} of ${c.started} grace periods completed, ${lat}; ${c.invoked} of ${c.queued} callbacks invoked` +
        `${c.callbacksPerGp !== null ? ` (${c.callbacksPerGp.toFixed(1)} per GP)` : ''}${c.failed > 0 ? `, ${c.failed} failed` : ''}${c.stalls > 0 ? `, ${c.stalls} stall warning(s)` : ''}`,
    );
    const mine = s.gps.filter((g) => g.flavour === f);
    for (const g of mine.slice(0, maxGps)) {
      lines.push(
        `    GP ${g.gp}: ticks ${g.start}..${g.end ?? '?'} (${g.latency ?? '?'} ticks), ${g.callbacks} callback(s), ${g.holdouts} holdout(s), ${g.rescans} rescan(s)${g.stalls > 0 ? `, ${g.stalls} stall(s)` : ''}`,
      );
    }
    if (mine.length > maxGps) lines.push(`    ... ${mine.length - maxGps} more`);
  }
  if (s.traceSections > 0) lines.push(`  tasks-trace readers: ${s.traceSections} section(s), deepest nesting ${s.traceMaxNesting}`);
  return lines;
}
