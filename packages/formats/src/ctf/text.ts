/**
 * Events as text, one line each, in babeltrace2's default ("pretty") layout with
 * `--clock-seconds --no-delta`:
 *
 *   [1795265463.020333761] vm tl:numbers: { cpu_id = 0 }, { vpid = 20293 }, { s8 = 0, dbl = -3.25 }
 *
 * that is `[seconds.nanoseconds] hostname name: { packet context }, { stream event context },
 * { event context }, { payload }`, where the packet context leaves out the fields babeltrace2
 * gives a meaning to (sizes, begin/end timestamps, sequence number, discarded events) and is
 * left out when nothing remains. Values print as babeltrace2 prints them: hexadecimal integers
 * as `0xDEAD`, enums as `( "LABEL" : container = 1 )`, arrays as `[ [0] = 1, [1] = 2 ]`,
 * floats with C's `%g`, strings quoted and escaped. The tests compare these lines with
 * babeltrace2's, byte for byte.
 */
import { CtfEnumValue, CtfVariantValue, displayName, type CtfStruct, type CtfValue } from './reader-decode.js';
import type { CtfEvent, CtfReadResult, CtfTraceInfo } from './reader.js';
import type { TsdlType } from './tsdl.js';

/** Packet-context fields babeltrace2 consumes and does not print. */
const HIDDEN_PACKET_FIELDS = new Set(['timestamp_begin', 'timestamp_end', 'content_size', 'packet_size', 'packet_seq_num', 'events_discarded']);

/** `[seconds.nanoseconds]` of a timestamp in ns since the epoch. */
export function formatSeconds(ns: bigint): string {
  // The common case, a time after 1 s past the epoch: split the decimal digits (no division).
  if (ns >= 1_000_000_000n) {
    const d = ns.toString();
    return `${d.slice(0, -9)}.${d.slice(-9)}`;
  }
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/**
 * C's `printf("%g", x)`: 6 significant digits, exact round-half-to-even on the double's
 * exact decimal value (as glibc does), trailing zeros removed, exponent form below 1e-4 and
 * from 1e6.
 */
export function formatG(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = 6;
  const sign = x < 0 ? '-' : '';
  // Exact decimal expansion: |x| = mant * 2^e2 = digits * 10^k.
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (bexp === 0) e2 = -1074;
  else {
    mant |= 1n << 52n;
    e2 = bexp - 1075;
  }
  let digits: string;
  let k: number;
  if (e2 >= 0) {
    digits = (mant << BigInt(e2)).toString();
    k = 0;
  } else {
    digits = (mant * 5n ** BigInt(-e2)).toString();
    k = e2;
  }
  let sciE = digits.length - 1 + k;
  let head = digits.slice(0, P);
  if (digits.length > P) {
    const rest = digits.slice(P);
    const first = rest.charCodeAt(0) - 48;
    const beyond = /[1-9]/.test(rest.slice(1));
    const odd = (head.charCodeAt(head.length - 1) - 48) % 2 === 1;
    if (first > 5 || (first === 5 && (beyond || odd))) {
      head = (BigInt(head) + 1n).toString();
      if (head.length > P) {
        head = head.slice(0, P);
        sciE++;
      }
    }
  }
  head = head.padEnd(P, '0');
  if (sciE < -4 || sciE >= P) {
    const frac = head.slice(1).replace(/0+$/, '');
    const ae = Math.abs(sciE);
    return `${sign}${head[0]}${frac.length > 0 ? '.' + frac : ''}e${sciE < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  let int: string;
  let frac: string;
  if (sciE >= 0) {
    int = head.slice(0, sciE + 1);
    frac = head.slice(sciE + 1);
  } else {
    int = '0';
    frac = '0'.repeat(-sciE - 1) + head;
  }
  frac = frac.replace(/0+$/, '');
  return `${sign}${int}${frac.length > 0 ? '.' + frac : ''}`;
}

const ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\t': '\\t',
  '\r': '\\r',
  '\v': '\\v',
  '\f': '\\f',
  '\x07': '\\a',
  '\b': '\\b',
  '\\': '\\\\',
  '"': '\\"',
};

/** Whether `quote` escapes any character of `s` (controls, DEL, quote, backslash). */
function needsEscape(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}

/** A string as babeltrace2 quotes it. */
export function quote(s: string): string {
  if (!needsEscape(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const e = ESCAPES[ch];
    if (e !== undefined) out += e;
    else if (ch.charCodeAt(0) < 0x20 || ch === '\x7f') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** An integer in a display base; other bases than 10 print a negative value's two's complement of `size` bits. */
export function formatInt(v: number | bigint, base: number, size: number): string {
  if (base === 10) return String(v);
  // A non-negative number prints its own digits (a negative one needs the size's two's complement).
  if (typeof v === 'number' && v >= 0) {
    if (base === 16) return '0x' + v.toString(16).toUpperCase();
    if (base === 8) return '0' + v.toString(8);
    return '0b' + v.toString(2);
  }
  // Other bases print the two's-complement bits of the declared size.
  let u = BigInt(v);
  if (u < 0n) u = BigInt.asUintN(size, u);
  if (base === 16) return '0x' + u.toString(16).toUpperCase();
  if (base === 8) return '0' + u.toString(8);
  return '0b' + u.toString(2);
}

/** Formats a value; `type` (when known) gives integer bases and float-vs-integer. */
export function formatValue(v: CtfValue, type?: TsdlType): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'bigint') {
    if (type?.kind === 'float') return formatG(Number(v));
    if (type?.kind === 'integer') return formatInt(v, type.base, type.size);
    return typeof v === 'number' && !Number.isInteger(v) ? formatG(v) : String(v);
  }
  if (v instanceof CtfEnumValue) {
    const labels = v.labels.length === 0 ? '<unknown>' : v.labels.length === 1 ? quote(v.labels[0]!) : `{ ${v.labels.map(quote).join(', ')} }`;
    const ct = type?.kind === 'enum' ? type.container : undefined;
    return `( ${labels} : container = ${ct !== undefined ? formatInt(v.value, ct.base, ct.size) : String(v.value)} )`;
  }
  if (v instanceof CtfVariantValue) {
    // babeltrace2 prints the selected option's value alone, in braces.
    const opt = type?.kind === 'variant' ? type.options.find((o) => o.name === v.option || o.name === '_' + v.option)?.type : undefined;
    return `{ ${formatValue(v.value, opt)} }`;
  }
  if (Array.isArray(v)) {
    const el = type?.kind === 'array' || type?.kind === 'sequence' ? type.element : undefined;
    if (v.length === 0) return '[ ]';
    return `[ ${v.map((x, i) => `[${i}] = ${formatValue(x as CtfValue, el)}`).join(', ')} ]`;
  }
  return formatStruct(v as CtfStruct, type);
}

function fieldType(type: TsdlType | undefined, display: string): TsdlType | undefined {
  if (type === undefined) return undefined;
  const list = type.kind === 'struct' ? type.fields : type.kind === 'variant' ? type.options : undefined;
  return list?.find((f) => f.name === display || f.name === '_' + display)?.type;
}

/** `{ a = 1, b = 2 }`, skipping `hidden` top-level names. */
export function formatStruct(s: CtfStruct, type?: TsdlType, hidden?: ReadonlySet<string>): string {
  const parts: string[] = [];
  for (const k of Object.keys(s)) {
    if (hidden?.has(k) === true) continue;
    parts.push(`${k} = ${formatValue(s[k]!, fieldType(type, k))}`);
  }
  return parts.length === 0 ? '{ }' : `{ ${parts.join(', ')} }`;
}

/** The TSDL types of an event's scopes, for integer bases and floats (see {@link formatCtfEvent}). */
export interface CtfEventTypes {
  readonly packetContext?: TsdlType;
  readonly streamContext?: TsdlType;
  readonly context?: TsdlType;
  readonly fields?: TsdlType;
}

/**
 * One event as babeltrace2 prints it with `--clock-seconds --no-delta` (without the types,
 * hexadecimal fields print in decimal; {@link ctfTextLines} passes them).
 */
export function formatCtfEvent(e: CtfEvent, hostname?: string, types: CtfEventTypes = {}): string {
  let line = '';
  const ts = e.timestamp;
  if (ts !== undefined) line += `[${formatSeconds(ts)}] `;
  if (hostname !== undefined) line += `${hostname} `;
  line += `${e.name}: `;
  const sections: string[] = [];
  const pc = Object.keys(e.packetContext).filter((k) => !HIDDEN_PACKET_FIELDS.has(k));
  if (pc.length > 0) sections.push(formatStruct(e.packetContext, types.packetContext, HIDDEN_PACKET_FIELDS));
  if (e.streamContext !== undefined) sections.push(formatStruct(e.streamContext, types.streamContext));
  if (e.context !== undefined) sections.push(formatStruct(e.context, types.context));
  sections.push(formatStruct(e.fields, types.fields));
  return line + sections.join(', ');
}

type Formatter = (v: CtfValue) => string;

/**
 * A value formatter chosen once for a declared type: what `formatValue(v, type)` prints, with
 * the type's case picked ahead of time for integers, floats and strings (the rest go through
 * `formatValue`).
 */
function valueFormatter(type: TsdlType): Formatter {
  switch (type.kind) {
    case 'integer': {
      const { base, size } = type;
      if (base === 10) return (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : formatValue(v, type));
      return (v) => (typeof v === 'number' || typeof v === 'bigint' ? formatInt(v, base, size) : formatValue(v, type));
    }
    case 'float':
      return (v) => (typeof v === 'number' || typeof v === 'bigint' ? formatG(Number(v)) : formatValue(v, type));
    case 'struct': {
      const inner = structFormatter(type);
      return (v) =>
        typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof CtfEnumValue) && !(v instanceof CtfVariantValue)
          ? inner(v as CtfStruct)
          : formatValue(v, type);
    }
    default:
      return (v) => formatValue(v, type);
  }
}

/**
 * `formatStruct(s, type, hidden)` compiled for one struct type: its fields' formatters in
 * declared order. A decoded struct holds exactly its declared fields under their display names,
 * so the declared order is the object's; a struct missing a field, or a type whose display
 * names collide, takes `formatStruct`. (For structs built by hand with other keys, use
 * `formatCtfEvent`, which prints whatever keys an object has.)
 */
function structFormatter(type: TsdlType | undefined, hidden?: ReadonlySet<string>): (s: CtfStruct) => string {
  if (type?.kind !== 'struct') return (s) => formatStruct(s, type, hidden);
  const keys = type.fields.map((f) => displayName(f.name));
  if (new Set(keys).size !== keys.length) return (s) => formatStruct(s, type, hidden);
  const shown = type.fields.flatMap((f, i) =>
    hidden?.has(keys[i]!) === true ? [] : [{ key: keys[i]!, prefix: `${keys[i]!} = `, fmt: valueFormatter(f.type) }],
  );
  return (s) => {
    let out = '';
    let n = 0;
    for (let i = 0; i < shown.length; i++) {
      const f = shown[i]!;
      const v = s[f.key];
      if (v === undefined) return formatStruct(s, type, hidden);
      out += (n++ === 0 ? '{ ' : ', ') + f.prefix + f.fmt(v);
    }
    return n === 0 ? '{ }' : out + ' }';
  };
}

/**
 * A formatter of the `{ packet context }, ` part of the lines of a packet (`type`: the stream
 * class's declared packet context), which gives '' when babeltrace2 shows none of its fields.
 * For the text path, which formats it once per packet.
 */
export function packetContextFormatter(type: TsdlType | undefined): (pctx: CtfStruct) => string {
  const pc = structFormatter(type, HIDDEN_PACKET_FIELDS);
  const known = type?.kind === 'struct' ? type.fields.some((f) => !HIDDEN_PACKET_FIELDS.has(displayName(f.name))) : undefined;
  return (pctx) => ((known ?? Object.keys(pctx).some((k) => !HIDDEN_PACKET_FIELDS.has(k))) ? pc(pctx) + ', ' : '');
}

/** One event class's line, compiled: what {@link formatCtfEvent} prints with the class's types. */
function eventFormatter(hostname: string | undefined, types: CtfEventTypes): (e: CtfEvent) => string {
  const host = hostname !== undefined ? `${hostname} ` : '';
  const pcType = types.packetContext;
  // With a declared packet context, whether any of its fields prints is known ahead of time.
  const pcShown = pcType?.kind === 'struct' ? pcType.fields.some((f) => !HIDDEN_PACKET_FIELDS.has(displayName(f.name))) : undefined;
  const pc = structFormatter(pcType, HIDDEN_PACKET_FIELDS);
  const sc = structFormatter(types.streamContext);
  const ctx = structFormatter(types.context);
  const fields = structFormatter(types.fields);
  return (e) => {
    const ts = e.timestamp;
    let line = ts !== undefined ? `[${formatSeconds(ts)}] ${host}${e.name}: ` : `${host}${e.name}: `;
    const showPc = pcShown ?? Object.keys(e.packetContext).some((k) => !HIDDEN_PACKET_FIELDS.has(k));
    if (showPc) line += pc(e.packetContext) + ', ';
    if (e.streamContext !== undefined) line += sc(e.streamContext) + ', ';
    if (e.context !== undefined) line += ctx(e.context) + ', ';
    return line + fields(e.fields);
  };
}

/**
 * A formatter of events as babeltrace2's lines (see {@link formatCtfEvent}) for a stream of
 * events of these traces (`openCtfTrace(dir).traces`, `readCtfTrace(dir).traces`): each event
 * class's line is compiled from its trace's metadata the first time one of its events comes.
 * Holds one compiled formatter per event class; nothing per event.
 */
export function ctfTextFormatter(traces: readonly CtfTraceInfo[]): (e: CtfEvent) => string {
  // Per trace, per stream class, per event id: written only by the formatter's own calls.
  const byTrace: Array<Map<number, Map<number, (e: CtfEvent) => string>>> = traces.map(() => new Map());
  return (e) => {
    const byStream = byTrace[e.trace]!;
    let byId = byStream.get(e.streamId);
    if (byId === undefined) byStream.set(e.streamId, (byId = new Map()));
    let f = byId.get(e.id);
    if (f === undefined) {
      const trace = traces[e.trace]!;
      const meta = trace.metadata;
      const sc = meta.streams.get(e.streamId);
      const ec = meta.events.find((x) => x.streamId === e.streamId && x.id === e.id);
      f = eventFormatter(trace.hostname, {
        ...(sc?.packetContext !== undefined ? { packetContext: sc.packetContext } : {}),
        ...(sc?.eventContext !== undefined ? { streamContext: sc.eventContext } : {}),
        ...(ec?.context !== undefined ? { context: ec.context } : {}),
        ...(ec?.fields !== undefined ? { fields: ec.fields } : {}),
      });
      byId.set(e.id, f);
    }
    return f(e);
  };
}

/**
 * Every event of a read trace as babeltrace2's lines (see {@link formatCtfEvent}), with each
 * event's types looked up in its trace's metadata.
 */
export function ctfTextLines(result: CtfReadResult): string[] {
  return result.events.map(ctfTextFormatter(result.traces));
}
