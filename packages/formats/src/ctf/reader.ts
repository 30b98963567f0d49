/**
 * The CTF 1.8 reader: a trace directory (tracelab's, LTTng 2.13's, babeltrace2's CTF
 * writer's) to events, merged across streams in time order.
 *
 * - Metadata: plain text (`/* CTF 1.8 *\/`) or packetized (LTTng's 0x75D11D57 metadata
 *   packets wrapping the text), parsed by ./tsdl.ts.
 * - Streams: every non-hidden file next to `metadata` (subdirectories such as LTTng's
 *   `index/` are skipped), packets back to back; `content_size`/`packet_size` are in bits and
 *   the bytes between them are padding.
 * - Clocks: an integer mapped to a clock (or, with one clock, named `timestamp` or
 *   `timestamp_begin`) updates it; an N-bit value below 64 bits replaces the low N bits and
 *   carries one wrap when it is smaller than them (CTF 1.8 section 8), which is how LTTng's
 *   compact headers (27-bit) and large headers (32-bit) are reconstructed against the last
 *   full (64-bit) timestamp.
 * - Lost events: `events_discarded` is cumulative per stream; each increase is lost events.
 * - Packet order and continuity, as babeltrace2 2.0.4 checks them: a gap in `packet_seq_num`
 *   is a warning (`CTF_PACKETS_MISSING`, with the count: packets dropped, or overwritten in
 *   overwrite mode; their events are lost and counted nowhere); a sequence number that does
 *   not increase, or a packet whose `timestamp_begin` is before the previous packet's
 *   `timestamp_end`, is damage (`CTF_PACKET_ORDER`: swapped packets, a stream appended to
 *   itself); `events_discarded` going down is a warning (`CTF_DISCARDED_BACKWARD`) and counts
 *   nothing. Nothing is re-sorted.
 * - Damage (wrong magic, a file cut inside a packet, impossible sizes, an unknown stream or
 *   event id, bad metadata) is a {@link CtfReadError} naming the file and byte offset; every
 *   event decoded before it is kept: `readCtfTrace(dir, { onError: 'stop' })` returns them
 *   with the error, the default throws the error with them in `error.events`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BadData, BitCursor, CtfEnumValue, OutOfData, compileRoot, displayName, type CompileEnv, type CtfStruct, type CtfValue, type DecodeScope, type Decoder, type IntSink } from './reader-decode.js';
import { CtfReadError, ctfError, type CtfErrorCode } from './reader-error.js';
import { parseTsdl, type CtfClockClass, type CtfMetadata, type TsdlInteger, type TsdlType } from './tsdl.js';

export const CTF_PACKET_MAGIC = 0xc1fc1fc1;
export const CTF_METADATA_PACKET_MAGIC = 0x75d11d57;

/** One decoded event. */
export interface CtfEvent {
  /** Index of the event's trace in `CtfReadResult.traces`. */
  readonly trace: number;
  /** The stream file, relative to the directory given to the reader (`ust/uid/0/64-bit/ch0_1`). */
  readonly stream: string;
  /** Byte offset of the event (its header) in the stream file. */
  readonly offset: number;
  /** Stream class id. */
  readonly streamId: number;
  /** The packet context's `cpu_id`, when the stream has one. */
  readonly cpu: number | undefined;
  /** The event class name (`tl:sched_switch`). */
  readonly name: string;
  /** The event class id. */
  readonly id: number;
  /** The event class's `loglevel`, when declared. */
  readonly loglevel: number | undefined;
  /** Clock value (cycles) at the event, when the stream has a clock. */
  readonly cycles: number | bigint | undefined;
  /** Nanoseconds since the Unix epoch (clock offset applied), when the stream has a clock. */
  readonly timestamp: bigint | undefined;
  /** The clock of `cycles`. */
  readonly clock: CtfClockClass | undefined;
  /** The event header as decoded (`id`, `v: { compact: { timestamp } }`...). */
  readonly header: CtfStruct;
  /** The packet's context (shared by the events of a packet). */
  readonly packetContext: CtfStruct;
  /** The stream's `event.context` (LTTng's added contexts: vpid, vtid, procname...). */
  readonly streamContext: CtfStruct | undefined;
  /** The event class's own `context`. */
  readonly context: CtfStruct | undefined;
  /** The payload. */
  readonly fields: CtfStruct;
}

/** One trace found under the directory (a directory holding a `metadata` file). */
export interface CtfTraceInfo {
  /** Relative to the directory given to the reader ('' when it is the trace itself). */
  readonly path: string;
  readonly metadata: CtfMetadata;
  /** The metadata text (unwrapped from its packets when packetized). */
  readonly metadataText: string;
  readonly packetizedMetadata: boolean;
  /** `env.hostname`, when present. */
  readonly hostname: string | undefined;
}

/** Per stream file: what was read. */
export interface CtfStreamInfo {
  readonly path: string;
  readonly trace: number;
  readonly streamId: number | undefined;
  readonly cpu: number | undefined;
  readonly packets: number;
  readonly events: number;
  readonly lost: number;
}

/** Lost events reported by one packet: its `events_discarded` minus the previous packet's. */
export interface CtfDiscarded {
  readonly stream: string;
  readonly count: number;
  /** The previous packet's end time and this packet's (ns since the epoch), when known. */
  readonly from: bigint | undefined;
  readonly to: bigint | undefined;
}

/** Something a trace says about itself that loses or doubts data, short of damage. */
export interface CtfWarning {
  /** `CTF_PACKETS_MISSING` (a `packet_seq_num` gap) or `CTF_DISCARDED_BACKWARD`. */
  readonly code: 'CTF_PACKETS_MISSING' | 'CTF_DISCARDED_BACKWARD';
  readonly message: string;
  readonly file: string;
  /** Byte offset of the packet that shows it. */
  readonly offset: number;
  /** Missing packets (`CTF_PACKETS_MISSING`), else 0. */
  readonly count: number;
}

export interface CtfReadResult {
  readonly traces: readonly CtfTraceInfo[];
  readonly streams: readonly CtfStreamInfo[];
  /** Every event, in time order across streams (ties: stream file order). */
  readonly events: readonly CtfEvent[];
  /** Total lost events (sum of `discarded`). */
  readonly lost: number;
  readonly discarded: readonly CtfDiscarded[];
  /** Packets missing from `packet_seq_num` gaps, over every stream. */
  readonly missingPackets: number;
  /** Packet-sequence gaps and `events_discarded` going backward, in stream order. */
  readonly warnings: readonly CtfWarning[];
  /** The first damage found (`onError: 'stop'` only); `errors` has one per damaged stream. */
  readonly error?: CtfReadError<CtfEvent>;
  readonly errors: readonly CtfReadError<CtfEvent>[];
}

export interface CtfReadOptions {
  /**
   * `'throw'` (default): a damaged trace throws its {@link CtfReadError}, whose `events` holds
   * every event decoded before the damage. `'stop'`: return them with `error` set instead.
   */
  readonly onError?: 'throw' | 'stop';
}

const EMPTY: CtfStruct = Object.freeze({});

// ---- clocks -------------------------------------------------------------------------------------

const NS_PER_S = 1_000_000_000n;

/** Nanoseconds since the epoch of a clock value (babeltrace2's "ns from origin"). */
export function clockToNs(clock: CtfClockClass, cycles: number | bigint): bigint {
  const c = BigInt(cycles) + clock.offset;
  if (clock.freq === NS_PER_S) return clock.offsetS * NS_PER_S + c;
  return clock.offsetS * NS_PER_S + (c * NS_PER_S) / clock.freq;
}

class Event implements CtfEvent {
  constructor(
    readonly trace: number,
    readonly stream: string,
    readonly offset: number,
    readonly streamId: number,
    readonly cpu: number | undefined,
    readonly name: string,
    readonly id: number,
    readonly loglevel: number | undefined,
    readonly cycles: number | bigint | undefined,
    readonly clock: CtfClockClass | undefined,
    readonly header: CtfStruct,
    readonly packetContext: CtfStruct,
    readonly streamContext: CtfStruct | undefined,
    readonly context: CtfStruct | undefined,
    readonly fields: CtfStruct,
  ) {}
  get timestamp(): bigint | undefined {
    return this.clock === undefined || this.cycles === undefined ? undefined : clockToNs(this.clock, this.cycles);
  }
}

/**
 * The state a stream's decode loop shares with the sinks compiled into its decoders.
 * Guarded by: single-threaded use, one stream file at a time per trace.
 */
interface Live {
  /** Clock value: a number while exact, a bigint beyond 2^53. */
  clock: number | bigint | undefined;
  eventId: number;
}

function updateClock(live: Live, v: number | bigint, size: number): void {
  const cur = live.clock;
  if (size >= 64 || cur === undefined) {
    live.clock = v;
    return;
  }
  if (typeof cur === 'number' && typeof v === 'number' && size <= 32) {
    const mod = 2 ** size;
    const low = cur % mod;
    let next = cur - low + v;
    if (v < low) next += mod;
    if (next <= Number.MAX_SAFE_INTEGER) {
      live.clock = next;
      return;
    }
  }
  const c = BigInt(cur);
  const bits = BigInt(size);
  const mask = (1n << bits) - 1n;
  const low = c & mask;
  let next = (c & ~mask) | BigInt(v);
  if (BigInt(v) < low) next += 1n << bits;
  live.clock = next <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(next) : next;
}

// ---- metadata -----------------------------------------------------------------------------------

/**
 * The TSDL text of a `metadata` file, unwrapping LTTng's metadata packets (header: magic
 * 0x75D11D57, uuid[16], checksum, content_size and packet_size in bits (u32), compression,
 * encryption and checksum schemes, major, minor: 37 bytes).
 */
export function metadataText(bytes: Uint8Array, file = 'metadata'): { text: string; packetized: boolean } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = bytes.length >= 4 ? dv.getUint32(0, true) : 0;
  const magicBe = bytes.length >= 4 ? dv.getUint32(0, false) : 0;
  if (magicLe !== CTF_METADATA_PACKET_MAGIC && magicBe !== CTF_METADATA_PACKET_MAGIC) {
    const text = new TextDecoder('utf-8').decode(bytes);
    if (!text.startsWith('/* CTF 1.')) {
      throw ctfError('CTF_METADATA', `${file}: not CTF metadata: a plain-text metadata file must begin with "/* CTF 1.8" and a packetized one with the magic 0x75d11d57 (found ${JSON.stringify(text.slice(0, 12))})`, { file, offset: 0 });
    }
    return { text, packetized: false };
  }
  const le = magicLe === CTF_METADATA_PACKET_MAGIC;
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 37) throw ctfError('CTF_METADATA', `${file}: truncated metadata packet header at byte ${off} (${bytes.length - off} bytes left, 37 needed)`, { file, offset: off });
    const magic = dv.getUint32(off, le);
    if (magic !== CTF_METADATA_PACKET_MAGIC) throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off}: magic 0x${magic.toString(16)} is not 0x75d11d57`, { file, offset: off });
    const contentBits = dv.getUint32(off + 24, le);
    const packetBits = dv.getUint32(off + 28, le);
    const compression = bytes[off + 32]!;
    const encryption = bytes[off + 33]!;
    if (compression !== 0 || encryption !== 0) throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off} is compressed or encrypted (scheme ${compression}/${encryption}): not supported`, { file, offset: off });
    if (contentBits % 8 !== 0 || packetBits % 8 !== 0 || contentBits > packetBits || contentBits < 37 * 8) {
      throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off} has impossible sizes (content ${contentBits} bits, packet ${packetBits} bits)`, { file, offset: off });
    }
    if (off + packetBits / 8 > bytes.length) throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off} declares ${packetBits / 8} bytes but the file has ${bytes.length - off} left (truncated)`, { file, offset: off });
    parts.push(bytes.subarray(off + 37, off + contentBits / 8));
    off += packetBits / 8;
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let k = 0;
  for (const p of parts) {
    all.set(p, k);
    k += p.length;
  }
  return { text: new TextDecoder('utf-8').decode(all), packetized: true };
}

/** Reads and parses a trace directory's `metadata` file. */
export function readCtfMetadata(traceDir: string): { metadata: CtfMetadata; text: string; packetized: boolean } {
  const file = join(traceDir, 'metadata');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw ctfError('CTF_NOT_FOUND', `${file}: cannot read the metadata (${(err as Error).message})`, { file });
  }
  const { text, packetized } = metadataText(bytes, file);
  return { metadata: parseTsdl(text, file), text, packetized };
}

// ---- discovery ----------------------------------------------------------------------------------

/** Directories holding a `metadata` file: `dir` itself, or those below it (sorted). */
export function findCtfTraces(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw ctfError('CTF_NOT_FOUND', `${dir} does not exist`, { file: dir });
  }
  if (!st.isDirectory()) throw ctfError('CTF_NOT_FOUND', `${dir} is not a directory (give the CTF trace's directory, the one holding "metadata")`, { file: dir });
  const found: string[] = [];
  const walk = (d: string, depth: number): void => {
    const entries = readdirSync(d, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
    if (entries.some((e) => e.name === 'metadata' && e.isFile())) {
      found.push(d);
      return;
    }
    if (depth > 8) return;
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))) if (e.isDirectory()) walk(join(d, e.name), depth + 1);
  };
  walk(dir, 0);
  if (found.length === 0) throw ctfError('CTF_NOT_FOUND', `no CTF trace under ${dir}: no "metadata" file in it or its subdirectories`, { file: dir });
  return found;
}

function streamFiles(traceDir: string): string[] {
  return readdirSync(traceDir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && e.name !== 'metadata')
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

// ---- compiled trace -----------------------------------------------------------------------------

interface CompiledEventClass {
  readonly name: string;
  readonly id: number;
  readonly loglevel: number | undefined;
  readonly context: Decoder | undefined;
  readonly fields: Decoder | undefined;
}

interface CompiledStream {
  readonly id: number;
  readonly packetContext: Decoder | undefined;
  readonly eventHeader: Decoder | undefined;
  readonly eventContext: Decoder | undefined;
  readonly clock: CtfClockClass | undefined;
  /** By id; a Map since LTTng ids are small but tracelab's may be sparse. */
  readonly events: Map<number, CompiledEventClass>;
  /** The event header has an `id` field (otherwise the stream must have one event class). */
  readonly headerHasId: boolean;
}

interface CompiledTrace {
  readonly live: Live;
  readonly packetHeader: Decoder | undefined;
  readonly streams: Map<number, CompiledStream>;
}

/** The clock a stream's timestamps map to: the first `map`ped one, or the only clock. */
function streamClock(meta: CtfMetadata, types: readonly (TsdlType | undefined)[]): CtfClockClass | undefined {
  const maps: string[] = [];
  let named = false;
  const visit = (t: TsdlType | undefined, name: string): void => {
    if (t === undefined) return;
    if (t.kind === 'integer') {
      if (t.map !== undefined) maps.push(t.map);
      else if (name === 'timestamp' || name === 'timestamp_begin') named = true;
    } else if (t.kind === 'struct') for (const f of t.fields) visit(f.type, f.name);
    else if (t.kind === 'variant') for (const f of t.options) visit(f.type, f.name);
  };
  for (const t of types) visit(t, '');
  if (maps.length > 0) {
    const c = meta.clocks.get(maps[0]!);
    if (c === undefined) throw ctfError('CTF_METADATA', `the metadata maps a field to clock "${maps[0]!}", which no clock block declares`);
    return c;
  }
  if (!named) return undefined;
  if (meta.clocks.size === 1) return [...meta.clocks.values()][0]!;
  // No clock block: babeltrace2 assumes a 1 GHz clock at the epoch.
  if (meta.clocks.size === 0) return { name: 'default', freq: NS_PER_S, offsetS: 0n, offset: 0n, absolute: false };
  return undefined;
}

function compileTrace(meta: CtfMetadata, source: string): CompiledTrace {
  const live: Live = { clock: undefined, eventId: -1 };
  const fail = (message: string): never => {
    throw ctfError('CTF_METADATA', `${source}: ${message}`, { file: source });
  };
  const idSink: IntSink = (v) => {
    live.eventId = Number(v);
  };
  const clockSink: IntSink = (v, size) => updateClock(live, v, size);
  const env = (root: string, earlierRoots: CompileEnv['earlierRoots'], sink: CompileEnv['sink']): CompileEnv => ({ traceByteOrder: meta.byteOrder, root, earlierRoots, sink, fail });
  const noSink = (): undefined => undefined;
  const packetHeader = meta.packetHeader === undefined ? undefined : compileRoot(meta.packetHeader, env('trace.packet.header', [], noSink));
  const streams = new Map<number, CompiledStream>();
  for (const sc of meta.streams.values()) {
    const clock = streamClock(meta, [sc.packetContext, sc.eventHeader]);
    const mapsTo = (t: TsdlInteger, name: string, autoNames: readonly string[]): boolean => clock !== undefined && (t.map !== undefined ? t.map === clock.name : autoNames.includes(name) && meta.clocks.size <= 1);
    const roots: { name: string; type: TsdlType | undefined }[] = [{ name: 'trace.packet.header', type: meta.packetHeader }];
    const pcSink: CompileEnv['sink'] = (path, t) => {
      const last = path[path.length - 1]!;
      // timestamp_end is the packet's end, not a clock update.
      return last !== 'timestamp_end' && mapsTo(t, last, ['timestamp_begin']) ? clockSink : undefined;
    };
    const packetContext = sc.packetContext === undefined ? undefined : compileRoot(sc.packetContext, env('stream.packet.context', roots.slice(), pcSink));
    roots.push({ name: 'stream.packet.context', type: sc.packetContext });
    let headerHasId = false;
    const ehSink: CompileEnv['sink'] = (path, t) => {
      const last = path[path.length - 1]!;
      if (path.includes('[]')) return undefined;
      if (last === 'id') {
        headerHasId = true;
        return idSink;
      }
      return mapsTo(t, last, ['timestamp']) ? clockSink : undefined;
    };
    const eventHeader = sc.eventHeader === undefined ? undefined : compileRoot(sc.eventHeader, env('stream.event.header', roots.slice(), ehSink));
    roots.push({ name: 'stream.event.header', type: sc.eventHeader });
    const eventContext = sc.eventContext === undefined ? undefined : compileRoot(sc.eventContext, env('stream.event.context', roots.slice(), noSink));
    roots.push({ name: 'stream.event.context', type: sc.eventContext });
    const events = new Map<number, CompiledEventClass>();
    for (const ec of meta.events) {
      if (ec.streamId !== sc.id) continue;
      if (events.has(ec.id)) fail(`two event classes with id ${ec.id} in stream class ${sc.id}`);
      const context = ec.context === undefined ? undefined : compileRoot(ec.context, env('event.context', roots.slice(), noSink));
      const fields = ec.fields === undefined ? undefined : compileRoot(ec.fields, env('event.fields', [...roots, { name: 'event.context', type: ec.context }], noSink));
      events.set(ec.id, { name: ec.name, id: ec.id, loglevel: ec.loglevel, context, fields });
    }
    streams.set(sc.id, { id: sc.id, packetContext, eventHeader, eventContext, clock, events, headerHasId });
  }
  for (const ec of meta.events) if (!meta.streams.has(ec.streamId)) fail(`event "${ec.name}" names stream class ${ec.streamId}, which is not declared`);
  return { live, packetHeader, streams };
}

// ---- stream decoding ----------------------------------------------------------------------------

function num(v: CtfValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof CtfEnumValue) return Number(v.value);
  return undefined;
}

interface StreamOutcome {
  readonly info: CtfStreamInfo;
  readonly events: Event[];
  readonly discarded: CtfDiscarded[];
  readonly warnings: CtfWarning[];
  readonly error: CtfReadError<CtfEvent> | undefined;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Decodes one stream file, packet by packet, until its end or the first damage. Returns the
 * events decoded so far in every case.
 */
function readStream(trace: CompiledTrace, traceIndex: number, bytes: Uint8Array, file: string, name: string): StreamOutcome {
  const events: Event[] = [];
  const discarded: CtfDiscarded[] = [];
  const warnings: CtfWarning[] = [];
  const c = new BitCursor(bytes);
  const live = trace.live;
  live.clock = undefined;
  const scope: DecodeScope = { stack: [], roots: {} };
  let packets = 0;
  let lost = 0;
  let prevDiscarded: number | undefined;
  let prevEnd: bigint | undefined;
  let prevSeq: number | undefined;
  let streamId: number | undefined;
  let cpu: number | undefined;
  const onlyStream = trace.streams.size === 1 ? [...trace.streams.values()][0]! : undefined;
  const damage = (code: CtfErrorCode, offset: number, message: string): StreamOutcome => {
    const error = new CtfReadError<CtfEvent>(code, `${file}: byte ${offset}: ${message}`, { file, offset });
    return { info: { path: name, trace: traceIndex, streamId, cpu, packets, events: events.length, lost }, events, discarded, warnings, error };
  };
  let off = 0;
  while (off < bytes.length) {
    c.base = off;
    c.pos = 0;
    c.limit = (bytes.length - off) * 8;
    scope.stack.length = 0;
    // 1. Packet header: magic, stream class.
    let header: CtfStruct = EMPTY;
    try {
      if (trace.packetHeader !== undefined) header = trace.packetHeader(c, scope) as CtfStruct;
    } catch (err) {
      if (err instanceof OutOfData) return damage('CTF_TRUNCATED', off, `the file ends inside a packet header (${bytes.length - off} bytes left)`);
      throw err;
    }
    const magic = num(header['magic']);
    if (magic !== undefined && magic !== CTF_PACKET_MAGIC) {
      const swapped = ((magic & 0xff) << 24) | ((magic & 0xff00) << 8) | ((magic >>> 8) & 0xff00) | (magic >>> 24);
      const hint = swapped >>> 0 === CTF_PACKET_MAGIC ? ' (byte-swapped: the metadata declares the wrong byte order)' : '';
      return damage('CTF_BAD_MAGIC', off, `packet ${packets}: magic ${hex(magic)} is not CTF's 0xc1fc1fc1${hint}`);
    }
    const sid = num(header['stream_id']);
    const sc = sid === undefined ? onlyStream : trace.streams.get(sid);
    if (sc === undefined) {
      return damage('CTF_UNKNOWN_STREAM', off, sid === undefined ? 'the packet header has no stream_id and the metadata declares several stream classes' : `packet ${packets}: stream_id ${sid} is not a stream class of the metadata (declared: ${[...trace.streams.keys()].join(', ')})`);
    }
    streamId = sc.id;
    scope.roots['trace.packet.header'] = header;
    // 2. Packet context: sizes, clock at the packet's start, discarded events, CPU.
    let pctx: CtfStruct = EMPTY;
    try {
      if (sc.packetContext !== undefined) pctx = sc.packetContext(c, scope) as CtfStruct;
    } catch (err) {
      if (err instanceof OutOfData) return damage('CTF_TRUNCATED', off, `the file ends inside a packet context (${bytes.length - off} bytes left)`);
      throw err;
    }
    scope.roots['stream.packet.context'] = pctx;
    const available = (bytes.length - off) * 8;
    const packetBits = num(pctx['packet_size']) ?? num(pctx['content_size']) ?? available;
    const contentBits = num(pctx['content_size']) ?? packetBits;
    if (packetBits <= 0 || packetBits % 8 !== 0) return damage('CTF_BAD_PACKET', off, `packet ${packets}: packet_size ${packetBits} bits is not a positive whole number of bytes`);
    if (contentBits > packetBits) return damage('CTF_BAD_PACKET', off, `packet ${packets}: content_size ${contentBits} bits is greater than packet_size ${packetBits} bits`);
    if (contentBits < c.pos) return damage('CTF_BAD_PACKET', off, `packet ${packets}: content_size ${contentBits} bits is smaller than the packet's header and context (${c.pos} bits)`);
    const truncated = packetBits > available;
    c.limit = Math.min(contentBits, available);
    cpu = num(pctx['cpu_id']);
    const clock = sc.clock;
    const toNs = (v: CtfValue | undefined): bigint | undefined => (clock !== undefined && (typeof v === 'number' || typeof v === 'bigint') ? clockToNs(clock, v) : undefined);
    const ended = toNs(pctx['timestamp_end']);
    const begun = toNs(pctx['timestamp_begin']);
    // Order and continuity: the packet's place in its stream, before any of its events.
    const seq = num(pctx['packet_seq_num']);
    if (seq !== undefined) {
      if (prevSeq !== undefined && seq <= prevSeq) {
        return damage('CTF_PACKET_ORDER', off, `packet ${packets}: packet_seq_num ${seq} after ${prevSeq}: packets out of order (swapped, or the stream appended to itself); the stream is read up to here`);
      }
      const gap = seq - (prevSeq === undefined ? 0 : prevSeq + 1);
      if (gap > 0 && prevSeq !== undefined) {
        warnings.push({
          code: 'CTF_PACKETS_MISSING',
          file,
          offset: off,
          count: gap,
          message: `${file}: byte ${off}: ${gap} packet${gap === 1 ? '' : 's'} missing: packet_seq_num ${seq} follows ${prevSeq} (dropped, or overwritten in overwrite mode); their events are lost, not counted in events_discarded`,
        });
      }
      prevSeq = seq;
    }
    if (begun !== undefined && prevEnd !== undefined && begun < prevEnd) {
      return damage('CTF_PACKET_ORDER', off, `packet ${packets}: timestamp_begin ${begun} ns is before the previous packet's end (${prevEnd} ns): time goes backward in the stream; the stream is read up to here`);
    }
    const disc = num(pctx['events_discarded']);
    if (disc !== undefined) {
      const d = disc - (prevDiscarded ?? 0);
      if (d > 0) {
        lost += d;
        discarded.push({ stream: name, count: d, from: prevEnd, to: ended });
      } else if (d < 0) {
        warnings.push({ code: 'CTF_DISCARDED_BACKWARD', file, offset: off, count: 0, message: `${file}: byte ${off}: events_discarded went from ${prevDiscarded} to ${disc}: the cumulative counter went backward (a damaged or spliced stream); nothing counted as lost for this packet` });
      }
      prevDiscarded = disc;
    }
    prevEnd = ended;
    packets++;
    // 3. Events, up to content_size.
    const headerDec = sc.eventHeader;
    const ctxDec = sc.eventContext;
    const only = sc.events.size === 1 && !sc.headerHasId ? [...sc.events.values()][0] : undefined;
    while (c.pos < contentBits) {
      const at = c.pos;
      scope.stack.length = 0;
      try {
        live.eventId = -1;
        const eh = headerDec === undefined ? EMPTY : (headerDec(c, scope) as CtfStruct);
        const ec = live.eventId >= 0 ? sc.events.get(live.eventId) : only;
        if (ec === undefined) {
          const what = live.eventId >= 0 ? `event id ${live.eventId} is not an event class of stream class ${sc.id}` : 'the event header has no id and the stream class has several event classes';
          return damage('CTF_UNKNOWN_EVENT', off + Math.floor(at / 8), `packet ${packets - 1}: ${what}`);
        }
        scope.roots['stream.event.header'] = eh;
        const sctx = ctxDec === undefined ? undefined : (ctxDec(c, scope) as CtfStruct);
        scope.roots['stream.event.context'] = sctx;
        const ectx = ec.context === undefined ? undefined : (ec.context(c, scope) as CtfStruct);
        scope.roots['event.context'] = ectx;
        const fields = ec.fields === undefined ? EMPTY : (ec.fields(c, scope) as CtfStruct);
        events.push(new Event(traceIndex, name, off + Math.floor(at / 8), sc.id, cpu, ec.name, ec.id, ec.loglevel, live.clock, clock, eh, pctx, sctx, ectx, fields));
      } catch (err) {
        const eventAt = off + Math.floor(at / 8);
        if (err instanceof OutOfData) {
          if (truncated && c.limit === available) {
            return damage('CTF_TRUNCATED', eventAt, `packet ${packets - 1} (at byte ${off}) declares ${packetBits / 8} bytes but the file ends ${bytes.length - off} bytes into it, in the middle of an event`);
          }
          return damage('CTF_BAD_PACKET', eventAt, `packet ${packets - 1} (at byte ${off}): an event runs past the packet's content_size (${contentBits} bits)`);
        }
        if (err instanceof BadData) return damage('CTF_BAD_PACKET', eventAt, `packet ${packets - 1} (at byte ${off}): ${err.message}`);
        throw err;
      }
    }
    if (truncated) return damage('CTF_TRUNCATED', off, `packet ${packets - 1} declares ${packetBits / 8} bytes but the file has only ${bytes.length - off} left (its events were read; the file is cut in its padding)`);
    off += packetBits / 8;
  }
  return { info: { path: name, trace: traceIndex, streamId, cpu, packets, events: events.length, lost }, events, discarded, warnings, error: undefined };
}

// ---- merging ------------------------------------------------------------------------------------

/** Merges per-stream event lists (each in time order) into one, ties in stream order. */
function merge(lists: Event[][], byCycles: boolean): Event[] {
  const live = lists.filter((l) => l.length > 0);
  if (live.length === 0) return [];
  if (live.length === 1) return live[0]!;
  const total = live.reduce((n, l) => n + l.length, 0);
  const out: Event[] = new Array<Event>(total);
  const idx = new Array<number>(live.length).fill(0);
  const key = (e: Event): number | bigint => (byCycles ? (e.cycles ?? -1) : (e.timestamp ?? -1n));
  const keys: (number | bigint)[] = live.map((l) => key(l[0]!));
  for (let n = 0; n < total; n++) {
    let best = -1;
    let bestKey: number | bigint = 0;
    for (let s = 0; s < live.length; s++) {
      if (idx[s]! >= live[s]!.length) continue;
      const k = keys[s]!;
      if (best < 0 || k < bestKey) {
        best = s;
        bestKey = k;
      }
    }
    const list = live[best]!;
    const i = idx[best]!;
    out[n] = list[i]!;
    idx[best] = i + 1;
    if (i + 1 < list.length) keys[best] = key(list[i + 1]!);
  }
  return out;
}

// ---- public entry points ------------------------------------------------------------------------

/**
 * Reads every CTF trace in `dir` (the trace directory, or a directory above it such as an
 * LTTng session's output) and returns its events in time order, lost-event counts and
 * per-stream statistics.
 *
 * Throws a {@link CtfReadError} (a `TracelabError` with a `CTF_*` code) when no trace is found
 * or the metadata is bad; on damage in a stream file it throws (default) or, with
 * `onError: 'stop'`, returns the events decoded before the damage with `error` set. In both
 * cases the other stream files are read to their end.
 */
export function readCtfTrace(dir: string, options: CtfReadOptions = {}): CtfReadResult {
  const onError = options.onError ?? 'throw';
  if (onError !== 'throw' && onError !== 'stop') throw ctfError('CTF_NOT_FOUND', `readCtfTrace: onError must be 'throw' or 'stop', got ${JSON.stringify(onError)}`);
  const traces: CtfTraceInfo[] = [];
  const streams: CtfStreamInfo[] = [];
  const lists: Event[][] = [];
  const discarded: CtfDiscarded[] = [];
  const warnings: CtfWarning[] = [];
  const errors: CtfReadError<CtfEvent>[] = [];
  const dirs = findCtfTraces(dir);
  for (const traceDir of dirs) {
    let read: ReturnType<typeof readCtfMetadata>;
    try {
      read = readCtfMetadata(traceDir);
    } catch (err) {
      if (err instanceof CtfReadError && onError === 'stop') {
        errors.push(err as CtfReadError<CtfEvent>);
        continue;
      }
      throw err;
    }
    const { metadata, text, packetized } = read;
    const source = join(traceDir, 'metadata');
    let compiled: CompiledTrace;
    try {
      compiled = compileTrace(metadata, source);
    } catch (err) {
      if (err instanceof CtfReadError && onError === 'stop') {
        errors.push(err as CtfReadError<CtfEvent>);
        continue;
      }
      throw err;
    }
    const host = metadata.env['hostname'];
    const traceIndex = traces.length;
    traces.push({ path: relative(dir, traceDir), metadata, metadataText: text, packetizedMetadata: packetized, hostname: typeof host === 'string' ? host : undefined });
    for (const f of streamFiles(traceDir)) {
      const path = join(traceDir, f);
      const bytes = readFileSync(path);
      const outcome = readStream(compiled, traceIndex, bytes, path, relative(dir, path));
      streams.push(outcome.info);
      lists.push(outcome.events);
      discarded.push(...outcome.discarded);
      warnings.push(...outcome.warnings);
      if (outcome.error !== undefined) errors.push(outcome.error);
    }
  }
  // One trace with one clock (the usual case): merge on the clock value, a number.
  const clocks = new Set(lists.flatMap((l) => (l.length > 0 ? [l[0]!.clock] : [])));
  const events = merge(lists, traces.length === 1 && clocks.size <= 1);
  for (const e of errors) e.events = events;
  const lost = discarded.reduce((n, d) => n + d.count, 0);
  const missingPackets = warnings.reduce((n, w) => n + w.count, 0);
  const result: CtfReadResult = { traces, streams, events, lost, discarded, missingPackets, warnings, errors, ...(errors.length > 0 ? { error: errors[0]! } : {}) };
  if (errors.length > 0 && onError === 'throw') throw errors[0]!;
  return result;
}

export { CtfReadError, displayName };
export type { CtfErrorCode };
