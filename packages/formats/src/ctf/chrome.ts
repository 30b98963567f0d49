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
 * Converts a read CTF trace to a Chrome trace. Times are microseconds from the first event
 * (`otherData.originNs` is that event's time in ns since the epoch); lost events are instant
 * events named `lost N events` at the end of the packet that reported them.
 */
export function ctfToChromeTrace(result: CtfReadResult, options: CtfChromeOptions = {}): ChromeTrace {
  const schedSpans = options.schedSpans ?? true;
  const out: ChromeTraceEvent[] = [];
  const first = result.events.find((e) => e.timestamp !== undefined)?.timestamp ?? 0n;
  const us = (ns: bigint | undefined): number => (ns === undefined ? 0 : Math.max(0, Number(ns - first) / 1000));
  const cpus = new Set<number>();
  const streamTid = new Map<string, number>();
  const track = (e: { cpu: number | undefined; stream: string }): { pid: number; tid: number } => {
    if (e.cpu !== undefined) {
      cpus.add(e.cpu);
      return { pid: CPUS_PID, tid: e.cpu };
    }
    let tid = streamTid.get(e.stream);
    if (tid === undefined) {
      tid = streamTid.size;
      streamTid.set(e.stream, tid);
    }
    return { pid: CTF_STREAMS_PID, tid };
  };
  const running = new Map<number, Running>();
  let last = 0;
  for (const e of result.events) {
    const ts = us(e.timestamp);
    last = Math.max(last, ts);
    const where = track(e);
    const a = args(e);
    if (schedSpans && e.cpu !== undefined && e.name.endsWith('sched_switch')) {
      const next = a['next_tid'];
      const comm = a['next_comm'];
      if (typeof next === 'number' && typeof comm === 'string') {
        const r = running.get(e.cpu);
        if (r !== undefined && r.tid !== 0) out.push({ name: `${r.comm} [${r.tid}]`, cat: 'sched', ph: 'X', ts: r.since, dur: Math.max(0, ts - r.since), pid: CPUS_PID, tid: e.cpu, args: { tid: r.tid } });
        running.set(e.cpu, { tid: next, comm, since: ts });
      }
    }
    const colon = e.name.indexOf(':');
    out.push({ name: e.name, cat: colon > 0 ? e.name.slice(0, colon) : 'ctf', ph: 'i', s: 't', ts, ...where, args: a });
  }
  for (const [cpu, r] of running) {
    if (r.tid !== 0) out.push({ name: `${r.comm} [${r.tid}]`, cat: 'sched', ph: 'X', ts: r.since, dur: Math.max(0, last - r.since), pid: CPUS_PID, tid: cpu, args: { tid: r.tid, unfinished: true } });
  }
  const cpuOfStream = new Map(result.streams.map((s) => [s.path, s.cpu]));
  for (const d of result.discarded) {
    const where = track({ cpu: cpuOfStream.get(d.stream), stream: d.stream });
    out.push({ name: `lost ${d.count} events`, cat: 'lost', ph: 'i', s: 't', ts: us(d.to), ...where, args: { count: d.count, stream: d.stream } });
  }
  const meta: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: CPUS_PID, args: { name: 'CPUs' } },
    { name: 'process_sort_index', ph: 'M', pid: CPUS_PID, args: { sort_index: 0 } },
  ];
  for (const c of [...cpus].sort((x, y) => x - y)) {
    meta.push({ name: 'thread_name', ph: 'M', pid: CPUS_PID, tid: c, args: { name: `CPU ${c}` } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: CPUS_PID, tid: c, args: { sort_index: c } });
  }
  if (streamTid.size > 0) {
    meta.push({ name: 'process_name', ph: 'M', pid: CTF_STREAMS_PID, args: { name: 'Streams' } });
    meta.push({ name: 'process_sort_index', ph: 'M', pid: CTF_STREAMS_PID, args: { sort_index: 1 } });
    for (const [stream, tid] of streamTid) meta.push({ name: 'thread_name', ph: 'M', pid: CTF_STREAMS_PID, tid, args: { name: stream } });
  }
  out.sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
  const hosts = [...new Set(result.traces.flatMap((t) => (t.hostname !== undefined ? [t.hostname] : [])))];
  return {
    traceEvents: [...meta, ...out],
    displayTimeUnit: 'ns',
    otherData: {
      generator: 'tracelab convert',
      source: 'CTF 1.8',
      originNs: first.toString(),
      timeUnit: 'microseconds from originNs',
      events: String(result.events.length),
      lost: String(result.lost),
      ...(hosts.length > 0 ? { hostname: hosts.join(', ') } : {}),
      ...(options.metadata ?? {}),
    },
  };
}
