/**
 * A read CTF trace (LTTng's, babeltrace2's, tracelab's) as Chrome/Perfetto trace-event JSON,
 * which Perfetto's UI opens (it cannot open CTF). Conventions of ../chrome.ts: process
 * {@link CPUS_PID} "CPUs" holds one track per CPU (tid = the packet context's `cpu_id`),
 * trace events are thread-scoped instant events (`i`) named by the event name with their
 * fields as args, and scheduler switches become complete events (`X`) for the stretches a task
 * runs, named `comm [tid]`, idle left blank.
 */
import { CPUS_PID, type ChromeTrace, type ChromeTraceEvent } from '../chrome.js';
import { CtfEnumValue, CtfVariantValue, type CtfStruct, type CtfValue } from './reader-decode.js';
import type { CtfEvent, CtfReadResult } from './reader.js';

/** The process holding one track per stream file for streams without a `cpu_id`. */
export const CTF_STREAMS_PID = 2;

export interface CtfChromeOptions {
  /**
   * Draw running spans from scheduler switches: events whose name ends in `sched_switch`
   * with `next_tid` (integer) and `next_comm` (string) fields, as LTTng's kernel tracer and
   * tracelab write them. Default true.
   */
  readonly schedSpans?: boolean;
  /** Free-form strings stored in `otherData`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A value as JSON: bigints as decimal strings, enums as their label, variants as their value. */
export function ctfJsonValue(v: CtfValue): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string') return v;
  if (v instanceof CtfEnumValue) return v.label ?? (typeof v.value === 'bigint' ? v.value.toString() : v.value);
  if (v instanceof CtfVariantValue) return ctfJsonValue(v.value);
  if (Array.isArray(v)) return v.map((x) => ctfJsonValue(x as CtfValue));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as CtfStruct)) out[k] = ctfJsonValue(x);
  return out;
}

function args(e: CtfEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of [e.streamContext, e.context, e.fields]) {
    if (s === undefined) continue;
    for (const [k, x] of Object.entries(s)) out[k] = ctfJsonValue(x);
  }
  return out;
}

interface Running {
  readonly tid: number;
  readonly comm: string;
  readonly since: number;
}

/**
 * The conversion one event at a time, for a stream of events in time order (`openCtfTrace`):
 * `add` returns the Chrome events an event makes (its instant, and the running span it ends);
 * `finish` returns the rest (spans still running, lost-event markers, track names) and the
 * `otherData`. Holds the running task per CPU and the track numbers, nothing per event.
 * Guarded by: single-threaded use by one conversion.
 */
export class CtfChromeConverter {
  private readonly schedSpans: boolean;
  private first: bigint | undefined;
  private last = 0;
  private count = 0;
  private readonly cpus = new Set<number>();
  private readonly streamTid = new Map<string, number>();
  private readonly running = new Map<number, Running>();

  constructor(private readonly options: CtfChromeOptions = {}) {
    this.schedSpans = options.schedSpans ?? true;
  }

  /** The time origin: the first event's timestamp (0 until an event with one came). */
  get originNs(): bigint {
    return this.first ?? 0n;
  }

  private us(ns: bigint | undefined): number {
    return ns === undefined ? 0 : Math.max(0, Number(ns - (this.first ?? 0n)) / 1000);
  }

  private track(e: { cpu: number | undefined; stream: string }): { pid: number; tid: number } {
    if (e.cpu !== undefined) {
      this.cpus.add(e.cpu);
      return { pid: CPUS_PID, tid: e.cpu };
    }
    let tid = this.streamTid.get(e.stream);
    if (tid === undefined) {
      tid = this.streamTid.size;
      this.streamTid.set(e.stream, tid);
    }
    return { pid: CTF_STREAMS_PID, tid };
  }

  add(e: CtfEvent): ChromeTraceEvent[] {
    this.count++;
    const stamp = e.timestamp;
    if (this.first === undefined && stamp !== undefined) this.first = stamp;
    const ts = this.us(stamp);
    this.last = Math.max(this.last, ts);
    const where = this.track(e);
    const a = args(e);
    const out: ChromeTraceEvent[] = [];
    if (this.schedSpans && e.cpu !== undefined && e.name.endsWith('sched_switch')) {
      const next = a['next_tid'];
      const comm = a['next_comm'];
      if (typeof next === 'number' && typeof comm === 'string') {
        const r = this.running.get(e.cpu);
        if (r !== undefined && r.tid !== 0)
          out.push({
            name: `${r.comm} [${r.tid}]`,
            cat: 'sched',
            ph: 'X',
            ts: r.since,
            dur: Math.max(0, ts - r.since),
            pid: CPUS_PID,
            tid: e.cpu,
            args: { tid: r.tid },
          });
        this.running.set(e.cpu, { tid: next, comm, since: ts });
      }
    }
    const colon = e.name.indexOf(':');
    out.push({ name: e.name, cat: colon > 0 ? e.name.slice(0, colon) : 'ctf', ph: 'i', s: 't', ts, ...where, args: a });
    return out;
  }

  /**
   * What is left once every event was added: spans still running at the end, the lost-event
   * markers (at the end of the packet that reported them), the track names (`meta`, which
   * viewers want first) and `otherData`.
   */
  finish(read: Pick<CtfReadResult, 'discarded' | 'streams' | 'traces' | 'lost'>): {
    events: ChromeTraceEvent[];
    meta: ChromeTraceEvent[];
    otherData: Record<string, string>;
  } {
    const out: ChromeTraceEvent[] = [];
    for (const [cpu, r] of this.running) {
      if (r.tid !== 0)
        out.push({
          name: `${r.comm} [${r.tid}]`,
          cat: 'sched',
          ph: 'X',
          ts: r.since,
          dur: Math.max(0, this.last - r.since),
          pid: CPUS_PID,
          tid: cpu,
          args: { tid: r.tid, unfinished: true },
        });
    }
    const cpuOfStream = new Map(read.streams.map((s) => [s.path, s.cpu]));
    for (const d of read.discarded) {
      const where = this.track({ cpu: cpuOfStream.get(d.stream), stream: d.stream });
      out.push({ name: `lost ${d.count} events`, cat: 'lost', ph: 'i', s: 't', ts: this.us(d.to), ...where, args: { count: d.count, stream: d.stream } });
    }
    const meta: ChromeTraceEvent[] = [
      { name: 'process_name', ph: 'M', pid: CPUS_PID, args: { name: 'CPUs' } },
      { name: 'process_sort_index', ph: 'M', pid: CPUS_PID, args: { sort_index: 0 } },
    ];
    for (const c of [...this.cpus].sort((x, y) => x - y)) {
      meta.push({ name: 'thread_name', ph: 'M', pid: CPUS_PID, tid: c, args: { name: `CPU ${c}` } });
      meta.push({ name: 'thread_sort_index', ph: 'M', pid: CPUS_PID, tid: c, args: { sort_index: c } });
    }
    if (this.streamTid.size > 0) {
      meta.push({ name: 'process_name', ph: 'M', pid: CTF_STREAMS_PID, args: { name: 'Streams' } });
      meta.push({ name: 'process_sort_index', ph: 'M', pid: CTF_STREAMS_PID, args: { sort_index: 1 } });
      for (const [stream, tid] of this.streamTid) meta.push({ name: 'thread_name', ph: 'M', pid: CTF_STREAMS_PID, tid, args: { name: stream } });
    }
    const hosts = [...new Set(read.traces.flatMap((t) => (t.hostname !== undefined ? [t.hostname] : [])))];
    const otherData: Record<string, string> = {
      generator: 'tracelab convert',
      source: 'CTF 1.8',
      originNs: this.originNs.toString(),
      timeUnit: 'microseconds from originNs',
      events: String(this.count),
      lost: String(read.lost),
      ...(hosts.length > 0 ? { hostname: hosts.join(', ') } : {}),
      ...(this.options.metadata ?? {}),
    };
    return { events: out, meta, otherData };
  }
}

/**
 * Converts a read CTF trace to a Chrome trace. Times are microseconds from the first event
 * (`otherData.originNs` is that event's time in ns since the epoch); lost events are instant
 * events named `lost N events` at the end of the packet that reported them. Events are sorted
 * by time, after the track names. ({@link CtfChromeConverter} does the same one event at a
 * time, unsorted, for a trace that does not fit in memory.)
 */
export function ctfToChromeTrace(result: CtfReadResult, options: CtfChromeOptions = {}): ChromeTrace {
  const conv = new CtfChromeConverter(options);
  const out: ChromeTraceEvent[] = [];
  for (const e of result.events) for (const x of conv.add(e)) out.push(x);
  const { events, meta, otherData } = conv.finish(result);
  for (const x of events) out.push(x);
  out.sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
  return { traceEvents: [...meta, ...out], displayTimeUnit: 'ns', otherData };
}
