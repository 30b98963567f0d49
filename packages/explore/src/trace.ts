import { trackComm, type KernelEvent } from '@tracelab/core';

/** Event types left out of the readable trace: setup noise, and preempt-count bookkeeping. */
const QUIET: ReadonlySet<string> = new Set(['kernel/created', 'kernel/function-defined', 'kernel/plugin-registered', 'cpu/preempt-count']);
const HEADER: ReadonlySet<string> = new Set(['type', 'seq', 'time', 'cpu']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[\w./:#-]*$/.test(v) && v.length > 0 ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(value).join(',')}]`;
  if (typeof v === 'object' && v !== null)
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}=${value(x)}`)
      .join(' ')}}`;
  return String(v);
}

/** `type k=v k=v` for one event (header fields left out). */
export function describeEvent(e: KernelEvent): string {
  const parts: string[] = [e.type];
  for (const [k, v] of Object.entries(e)) if (!HEADER.has(k)) parts.push(`${k}=${value(v)}`);
  return parts.join(' ');
}

export interface TraceOptions {
  /** Column width per CPU. Default 58. */
  readonly width?: number;
}

/**
 * A counterexample as a step-by-step trace with one column per CPU: each event in the column
 * of the CPU that logged it, prefixed by the task running there (`[pid comm]`), host and timer
 * events (cpu -1) in a first column. Context switches that preempt are marked.
 */
export function formatTrace(log: readonly KernelEvent[], cpus: number, options: TraceOptions = {}): string {
  const width = options.width ?? 58;
  const comm = new Map<number, string>([[0, 'idle']]);
  const curr = new Array<number>(cpus).fill(0);
  const cut = (s: string): string => (s.length > width ? `${s.slice(0, width - 1)}…` : s.padEnd(width));
  const lines: string[] = [];
  lines.push(`${'seq'.padStart(5)} ${'t'.padStart(4)}  ${'host'.padEnd(10)}${Array.from({ length: cpus }, (_, c) => `| ${cut(`cpu${c}`)}`).join('')}`);
  for (const e of log) {
    trackComm(comm, e);
    if (QUIET.has(e.type)) continue;
    let text = describeEvent(e);
    if (e.cpu >= 0 && e.cpu < cpus) {
      const pid = curr[e.cpu]!;
      text = `[${pid} ${comm.get(pid) ?? '?'}] ${text}`;
      if (e.type === 'sched/switch') {
        curr[e.cpu] = e.next;
        if (e.preempted) text = `${text}  <- PREEMPTED`;
      }
    }
    const cols = Array.from({ length: cpus }, (_, c) => `| ${c === e.cpu ? cut(text) : ' '.repeat(width)}`);
    const host = e.cpu < 0 ? text : '';
    lines.push(`${String(e.seq).padStart(5)} ${String(e.time).padStart(4)}  ${host.padEnd(10)}${cols.join('')}`.trimEnd());
  }
  return lines.join('\n');
}
