import type { KPath } from '@tracelab/core';
import { CORE_MARKERS } from './internal/core-sites.js';
import type { MarkerProbe, MarkersApi } from './types.js';

/**
 * Ready-made probes: the thread's example of one site carrying several probes at once (a
 * statistics probe beside a tracing probe), and the pair the default `tracelab run` stack puts
 * on the scheduler marker. Probes are plain synchronous functions: they work through the
 * simulated `mark` and through `site.call` alike.
 */

const CONVERSION = /%([-+ #0]*\d*(?:\.\d+)?)(hh|h|ll|l|z|j|t)?([diouxXcspu%])/g;

/** Renders a marker's format with its arguments, printf-style (`%d`, `%ld`, `%s`, `%p`, `%x`...). */
export function formatMarker(format: string, args: readonly unknown[]): string {
  let i = 0;
  return format.replace(CONVERSION, (_m, _flags: string, _len: string | undefined, conv: string) => {
    if (conv === '%') return '%';
    const v = args[i++];
    if (conv === 'x' || conv === 'X' || conv === 'p') {
      const hex = typeof v === 'number' ? v.toString(16) : String(v);
      return conv === 'p' ? `0x${hex}` : conv === 'X' ? hex.toUpperCase() : hex;
    }
    return String(v);
  });
}

interface StatsState {
  calls: number;
  readonly byKey: Map<string, number>;
  readonly key: ((args: readonly unknown[]) => string) | null;
}

/** A statistics probe: counts calls, and calls by a key computed from the arguments. */
export interface StatsProbe {
  readonly probe: MarkerProbe;
  /** Pass as `probePrivate`: the counters live in it. */
  readonly private: object;
  readonly calls: number;
  readonly byKey: ReadonlyMap<string, number>;
}

function statsProbeFn(probePrivate: unknown, _callPrivate: unknown, _format: string, args: readonly unknown[]): void {
  const st = probePrivate as StatsState;
  st.calls++;
  if (st.key !== null) {
    const k = st.key(args);
    st.byKey.set(k, (st.byKey.get(k) ?? 0) + 1);
  }
}

export function statsProbe(key?: (args: readonly unknown[]) => string): StatsProbe {
  const st: StatsState = { calls: 0, byKey: new Map(), key: key ?? null };
  return {
    probe: statsProbeFn,
    private: st,
    get calls() {
      return st.calls;
    },
    byKey: st.byKey,
  };
}

export interface TraceRecord {
  /** Sequence number over all records written, lost ones included. */
  readonly seq: number;
  readonly text: string;
}

interface TraceState {
  readonly capacity: number;
  readonly records: TraceRecord[];
  written: number;
}

/**
 * A tracing probe: a flight recorder of formatted records in overwrite mode, keeping the last
 * `capacity` (the kind a trigger probe would stop).
 */
export interface TraceProbe {
  readonly probe: MarkerProbe;
  readonly private: object;
  /** Records written, including those overwritten since. */
  readonly written: number;
  /** Records overwritten (lost to the overwrite mode). */
  readonly overwritten: number;
  /** The records kept, oldest first. */
  records(): readonly TraceRecord[];
}

function traceProbeFn(probePrivate: unknown, _callPrivate: unknown, format: string, args: readonly unknown[]): void {
  const st = probePrivate as TraceState;
  const rec: TraceRecord = { seq: st.written, text: formatMarker(format, args) };
  if (st.records.length < st.capacity) st.records.push(rec);
  else st.records[st.written % st.capacity] = rec;
  st.written++;
}

export function traceProbe(capacity = 4096): TraceProbe {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`traceProbe: capacity must be a positive integer, got ${capacity}`);
  const st: TraceState = { capacity, records: [], written: 0 };
  return {
    probe: traceProbeFn,
    private: st,
    get written() {
      return st.written;
    },
    get overwritten() {
      return Math.max(0, st.written - st.capacity);
    },
    records: () =>
      st.written <= st.capacity ? [...st.records] : [...st.records.slice(st.written % st.capacity), ...st.records.slice(0, st.written % st.capacity)],
  };
}

export interface SchedProbesSummary {
  readonly marker: string;
  readonly stats: { readonly calls: number; readonly voluntary: number; readonly preempted: number };
  readonly trace: { readonly written: number; readonly kept: number; readonly overwritten: number; readonly last: readonly string[] };
}

/** The default stack's pair: a statistics probe and a tracing probe on `kernel_sched_schedule`. */
export interface SchedProbes {
  readonly stats: StatsProbe;
  readonly trace: TraceProbe;
  /** Connects both probes (a kernel path: `kernel.call(p.register(kernel.api.markers))`). Returns 0 or the first error. */
  register(api: MarkersApi): KPath<number>;
  summary(): SchedProbesSummary;
  /** The summary as terminal lines, indented like `tracelab run`'s. */
  formatSummary(): string;
}

export function schedProbes(options: { readonly traceCapacity?: number } = {}): SchedProbes {
  const { name, format } = CORE_MARKERS.schedSchedule;
  const stats = statsProbe((args) => (args[3] === 1 ? 'preempted' : 'voluntary'));
  const trace = traceProbe(options.traceCapacity ?? 4096);
  const summary = (): SchedProbesSummary => {
    const recs = trace.records();
    return {
      marker: name,
      stats: { calls: stats.calls, voluntary: stats.byKey.get('voluntary') ?? 0, preempted: stats.byKey.get('preempted') ?? 0 },
      trace: { written: trace.written, kept: recs.length, overwritten: trace.overwritten, last: recs.slice(-3).map((r) => r.text) },
    };
  };
  return {
    stats,
    trace,
    *register(api) {
      const r = yield* api.probeRegister(name, format, stats.probe, stats.private);
      if (r !== 0) return r;
      return yield* api.probeRegister(name, format, trace.probe, trace.private);
    },
    summary,
    formatSummary() {
      const s = summary();
      return [
        `  markers: ${s.marker} with 2 probes`,
        `    statistics probe: ${s.stats.calls} calls (${s.stats.voluntary} voluntary, ${s.stats.preempted} preempted switches)`,
        `    tracing probe: ${s.trace.written} records, ${s.trace.kept} kept, ${s.trace.overwritten} overwritten; last: ${s.trace.last.at(-1) ?? '-'}`,
      ].join('\n');
    },
  };
}
