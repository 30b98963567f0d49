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
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TracelabError } from '@tracelab/core';
import {
  BadData,
  BitCursor,
  CtfEnumValue,
  OutOfData,
  compileRoot,
  displayName,
  type CompileEnv,
  type CtfStruct,
  type CtfValue,
  type DecodeScope,
  type Decoder,
  type IntSink,
} from './reader-decode.js';
import { CtfReadError, ctfError, type CtfErrorCode } from './reader-error.js';
import { TimeWriter, compilePut, compileSkip, type Put, type Skip } from '../internal/ctf-text-compile.js';
import { LineBuffer, utf8Bytes } from '../internal/line-buffer.js';
import { ctfTextFormatter, packetContextFormatter } from './text.js';
import { parseTsdl, type CtfClockClass, type CtfEventClassInfo, type CtfMetadata, type CtfStreamClass, type TsdlInteger, type TsdlType } from './tsdl.js';

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
      throw ctfError(
        'CTF_METADATA',
        `${file}: not CTF metadata: a plain-text metadata file must begin with "/* CTF 1.8" and a packetized one with the magic 0x75d11d57 (found ${JSON.stringify(text.slice(0, 12))})`,
        { file, offset: 0 },
      );
    }
    return { text, packetized: false };
  }
  const le = magicLe === CTF_METADATA_PACKET_MAGIC;
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (bytes.length - off < 37)
      throw ctfError('CTF_METADATA', `${file}: truncated metadata packet header at byte ${off} (${bytes.length - off} bytes left, 37 needed)`, {
        file,
        offset: off,
      });
    const magic = dv.getUint32(off, le);
    if (magic !== CTF_METADATA_PACKET_MAGIC)
      throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off}: magic 0x${magic.toString(16)} is not 0x75d11d57`, { file, offset: off });
    const contentBits = dv.getUint32(off + 24, le);
    const packetBits = dv.getUint32(off + 28, le);
    const compression = bytes[off + 32]!;
    const encryption = bytes[off + 33]!;
    if (compression !== 0 || encryption !== 0)
      throw ctfError(
        'CTF_METADATA',
        `${file}: metadata packet at byte ${off} is compressed or encrypted (scheme ${compression}/${encryption}): not supported`,
        { file, offset: off },
      );
    if (contentBits % 8 !== 0 || packetBits % 8 !== 0 || contentBits > packetBits || contentBits < 37 * 8) {
      throw ctfError('CTF_METADATA', `${file}: metadata packet at byte ${off} has impossible sizes (content ${contentBits} bits, packet ${packetBits} bits)`, {
        file,
        offset: off,
      });
    }
    if (off + packetBits / 8 > bytes.length)
      throw ctfError(
        'CTF_METADATA',
        `${file}: metadata packet at byte ${off} declares ${packetBits / 8} bytes but the file has ${bytes.length - off} left (truncated)`,
        { file, offset: off },
      );
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
  if (!st.isDirectory())
    throw ctfError('CTF_NOT_FOUND', `${dir} is not a directory (give the CTF trace's directory, the one holding "metadata")`, { file: dir });
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
  /** The metadata's event class (its types, for the text path). */
  readonly info: CtfEventClassInfo;
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
  /** The metadata's stream class (its types, for the text path). */
  readonly info: CtfStreamClass;
  /** How the event header was compiled (its sinks), for the text path's header reader. */
  readonly headerEnv: CompileEnv | undefined;
  /** The text path's compiled form: made by the first text read of the stream class, then only read. */
  text: StreamText | undefined;
}

interface CompiledTrace {
  readonly live: Live;
  readonly packetHeader: Decoder | undefined;
  readonly streams: Map<number, CompiledStream>;
  readonly byteOrder: 'le' | 'be';
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
  const env = (root: string, earlierRoots: CompileEnv['earlierRoots'], sink: CompileEnv['sink']): CompileEnv => ({
    traceByteOrder: meta.byteOrder,
    root,
    earlierRoots,
    sink,
    fail,
  });
  const noSink = (): undefined => undefined;
  const packetHeader = meta.packetHeader === undefined ? undefined : compileRoot(meta.packetHeader, env('trace.packet.header', [], noSink));
  const streams = new Map<number, CompiledStream>();
  for (const sc of meta.streams.values()) {
    const clock = streamClock(meta, [sc.packetContext, sc.eventHeader]);
    const mapsTo = (t: TsdlInteger, name: string, autoNames: readonly string[]): boolean =>
      clock !== undefined && (t.map !== undefined ? t.map === clock.name : autoNames.includes(name) && meta.clocks.size <= 1);
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
    const headerEnv = env('stream.event.header', roots.slice(), ehSink);
    const eventHeader = sc.eventHeader === undefined ? undefined : compileRoot(sc.eventHeader, headerEnv);
    roots.push({ name: 'stream.event.header', type: sc.eventHeader });
    const eventContext = sc.eventContext === undefined ? undefined : compileRoot(sc.eventContext, env('stream.event.context', roots.slice(), noSink));
    roots.push({ name: 'stream.event.context', type: sc.eventContext });
    const events = new Map<number, CompiledEventClass>();
    for (const ec of meta.events) {
      if (ec.streamId !== sc.id) continue;
      if (events.has(ec.id)) fail(`two event classes with id ${ec.id} in stream class ${sc.id}`);
      const context = ec.context === undefined ? undefined : compileRoot(ec.context, env('event.context', roots.slice(), noSink));
      const fields =
        ec.fields === undefined ? undefined : compileRoot(ec.fields, env('event.fields', [...roots, { name: 'event.context', type: ec.context }], noSink));
      events.set(ec.id, { name: ec.name, id: ec.id, loglevel: ec.loglevel, context, fields, info: ec });
    }
    streams.set(sc.id, {
      id: sc.id,
      packetContext,
      eventHeader,
      eventContext,
      clock,
      events,
      headerHasId,
      info: sc,
      headerEnv: sc.eventHeader === undefined ? undefined : headerEnv,
      text: undefined,
    });
  }
  for (const ec of meta.events) if (!meta.streams.has(ec.streamId)) fail(`event "${ec.name}" names stream class ${ec.streamId}, which is not declared`);
  return { live, packetHeader, streams, byteOrder: meta.byteOrder };
}

/** The text path's form of a stream class (see `CtfEventStream.writeText`). */
interface StreamText {
  /** The event header read for its sinks only: set when every event of the stream is plain. */
  readonly skipHeader: Skip | undefined;
  /** The stream's event context writer, when the stream has a plain one. */
  readonly context: Put | undefined;
  readonly classes: Map<number, ClassText>;
  readonly time: TimeWriter | undefined;
  /** A packet's `{ packet context }, ` ('' when none of its fields prints). */
  readonly packetContext: (pctx: CtfStruct) => string;
}

/** One event class on the text path. */
interface ClassText {
  /** Written from the bytes (true), or decoded into objects and formatted (false). */
  readonly plain: boolean;
  /** `hostname name: `. */
  readonly head: Uint8Array;
  readonly context: Put | undefined;
  /** The payload writer (`{ }` when the class has none); unused when not plain. */
  readonly fields: Put;
}

/** A root scope's writer: null when the scope is absent, undefined when it cannot be written from the bytes. */
function rootPut(t: TsdlType | undefined, order: 'le' | 'be'): Put | null | undefined {
  if (t === undefined) return null;
  return t.kind === 'struct' ? compilePut(t, order) : undefined;
}

const EMPTY_FIELDS: Put = (_c, o) => o.ascii('{ }');

/**
 * Compiles a stream class for the text path: per event class, whether its line can be written
 * straight from the bytes (every scope plain: no variant or sequence, no colliding names) and
 * the writers that do it; the event header is skipped without objects when every class can.
 */
function compileStreamText(sc: CompiledStream, order: 'le' | 'be', host: string | undefined): StreamText {
  const sctx = rootPut(sc.info.eventContext, order);
  let allPlain = sctx !== undefined;
  const classes = new Map<number, ClassText>();
  for (const ec of sc.events.values()) {
    const ctx = rootPut(ec.info.context, order);
    const fields = rootPut(ec.info.fields, order);
    const plain = sctx !== undefined && ctx !== undefined && fields !== undefined;
    allPlain &&= plain;
    classes.set(ec.id, {
      plain,
      head: utf8Bytes(`${host !== undefined ? `${host} ` : ''}${ec.name}: `),
      context: ctx ?? undefined,
      fields: fields ?? EMPTY_FIELDS,
    });
  }
  const headerType = sc.info.eventHeader;
  const skipHeader = allPlain && headerType !== undefined && sc.headerEnv !== undefined ? compileSkip(headerType, sc.headerEnv) : undefined;
  return {
    skipHeader,
    context: sctx ?? undefined,
    classes,
    time: sc.clock === undefined ? undefined : new TimeWriter(sc.clock, clockToNs),
    packetContext: packetContextFormatter(sc.info.packetContext),
  };
}

// ---- stream decoding ----------------------------------------------------------------------------

function num(v: CtfValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof CtfEnumValue) return Number(v.value);
  return undefined;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Bytes of a stream file held at once by default (grown to hold one packet when larger). */
export const CTF_DEFAULT_WINDOW_BYTES = 256 * 1024;
/** A packet header and context must fit in this many bytes (LTTng's take under 100). */
const HEADER_WINDOW = 64 * 1024;

/**
 * A stream file read through a window of bytes: at most `buf.length` bytes (the window, or one
 * packet when a packet is larger) are in memory, whatever the file's size.
 * Guarded by: single-threaded use by the one {@link StreamReader} that owns it.
 */
class FileWindow {
  buf: Uint8Array;
  /** File offset of `buf[0]`, and how many bytes of `buf` hold file data. */
  start = 0;
  len = 0;
  /** Reads done (for tests of the memory bound: how the file came in). */
  reads = 0;
  fd: number | undefined;
  constructor(
    readonly path: string,
    readonly size: number,
    window: number,
  ) {
    this.buf = new Uint8Array(Math.min(window, Math.max(size, 1)));
    this.fd = openSync(path, 'r');
  }
  /** Makes file bytes [off, off + n) resident (n clipped to the file's end). */
  load(off: number, n: number): void {
    const want = Math.min(n, this.size - off);
    if (off >= this.start && off + want <= this.start + this.len) return;
    if (want > this.buf.length) this.buf = new Uint8Array(want);
    const fill = Math.min(this.buf.length, this.size - off);
    let got = 0;
    while (got < fill) {
      const r = readSync(this.fd!, this.buf, got, fill - got, off + got);
      if (r === 0) break;
      got += r;
    }
    this.reads++;
    this.start = off;
    this.len = got;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Where the reader reports what it finds, tagged with the stream's place in discovery order. */
interface Collector {
  discarded(order: number, d: CtfDiscarded): void;
  warning(order: number, w: CtfWarning): void;
  error(order: number, e: CtfReadError<CtfEvent>): void;
}

/**
 * One stream file, decoded a packet at a time. Between packets it holds only its counters,
 * the clock and its file window.
 * Guarded by: single-threaded use by the merge of one {@link CtfEventStream}; the trace's
 * shared `live` state is loaded from and saved to this stream around each packet.
 */
class StreamReader {
  packets = 0;
  events = 0;
  lost = 0;
  done = false;
  private prevDiscarded: number | undefined;
  private prevEnd: bigint | undefined;
  private prevSeq: number | undefined;
  private streamId: number | undefined;
  private cpu: number | undefined;
  private clock: number | bigint | undefined;
  private off = 0;
  private readonly c: BitCursor;
  private readonly scope: DecodeScope = { stack: [], roots: {} };
  private readonly onlyStream: CompiledStream | undefined;
  // The text path's state (peekText/writePending), written only by them:
  /** The packet being read, its compiled stream class and its `{ packet context }, ` bytes. */
  private textPacket: PacketStart | undefined;
  private text: StreamText | undefined;
  private pcString = '';
  private pcText: Uint8Array = new Uint8Array(0);
  /** The event whose header was read: its class, bit offset, header, clock value. */
  private pendingClass: CompiledEventClass | undefined;
  private pendingAt = 0;
  private pendingHeader: CtfStruct = EMPTY;
  private pendingCycles: number | bigint | undefined;
  /** The merge key of the pending event. */
  key: number | bigint = 0;
  constructor(
    private readonly trace: CompiledTrace,
    readonly traceIndex: number,
    private readonly w: FileWindow,
    readonly file: string,
    readonly name: string,
    readonly order: number,
    private readonly out: Collector,
    /** The trace's `env.hostname`, which the text lines carry. */
    private readonly host: string | undefined,
  ) {
    this.c = new BitCursor(w.buf);
    this.onlyStream = trace.streams.size === 1 ? [...trace.streams.values()][0]! : undefined;
    if (w.size === 0) this.finish();
  }

  get info(): CtfStreamInfo {
    return { path: this.name, trace: this.traceIndex, streamId: this.streamId, cpu: this.cpu, packets: this.packets, events: this.events, lost: this.lost };
  }

  /** The window's read count (how many times the file was read). */
  get reads(): number {
    return this.w.reads;
  }

  private finish(): void {
    this.done = true;
    this.w.close();
  }

  private damage(code: CtfErrorCode, offset: number, message: string): void {
    this.out.error(this.order, new CtfReadError<CtfEvent>(code, `${this.file}: byte ${offset}: ${message}`, { file: this.file, offset }));
    this.finish();
  }

  /** Points the cursor at file offset `off` with `bytes` readable from there. */
  private at(off: number, bytes: number): void {
    const w = this.w;
    w.load(off, bytes);
    const c = this.c;
    if (c.bytes !== w.buf) c.reset(w.buf);
    c.base = off - w.start;
    c.pos = 0;
    c.limit = (Math.min(w.start + w.len, off + bytes) - off) * 8;
  }

  /** Closes the file early (the consumer stopped reading). */
  close(): void {
    if (!this.done) this.finish();
  }

  /**
   * Decodes the next packet and returns its events (those before the damage, on damage).
   * Sets `done` at the end of the file or at damage.
   */
  nextPacket(): Event[] {
    const events: Event[] = [];
    if (this.done) return events;
    const live = this.trace.live;
    live.clock = this.clock;
    try {
      const p = this.readPacketStart();
      if (p !== undefined && this.decodeEvents(p, events)) this.endPacket(p);
    } finally {
      this.clock = live.clock;
      this.events += events.length;
    }
    if (!this.done && this.off >= this.w.size) this.finish();
    return events;
  }

  /**
   * The text path's step: reads the next event's header (and, at a packet's end, the next
   * packets' starts), leaving the cursor on its body and its merge key in `key`
   * (`byCycles`: the clock value, else ns since the epoch). False at the stream's end or at
   * damage (reported). {@link writePending} writes the event.
   */
  peekText(byCycles: boolean): boolean {
    const live = this.trace.live;
    live.clock = this.clock;
    try {
      return this.peekEvent(byCycles);
    } finally {
      this.clock = live.clock;
    }
  }

  private peekEvent(byCycles: boolean): boolean {
    const { trace, c, scope } = this;
    const live = trace.live;
    for (;;) {
      // Damage, or the end of the file after the last packet's events.
      if (this.done) return false;
      const p = this.textPacket;
      if (p !== undefined && c.pos >= p.contentBits) {
        this.textPacket = undefined;
        this.endPacket(p);
        continue;
      }
      if (p === undefined) {
        const next = this.readPacketStart();
        if (next === undefined) return false;
        this.textPacket = next;
        this.text = next.sc.text ??= compileStreamText(next.sc, trace.byteOrder, this.host);
        const pc = this.text.packetContext(next.pctx);
        // Most packets of a stream print the same context (its CPU): their bytes are kept.
        if (pc !== this.pcString) {
          this.pcString = pc;
          this.pcText = utf8Bytes(pc);
        }
        continue;
      }
      const sc = p.sc;
      const at = c.pos;
      if (scope.stack.length !== 0) scope.stack.length = 0;
      try {
        live.eventId = -1;
        let eh: CtfStruct = EMPTY;
        const skip = this.text!.skipHeader;
        if (skip !== undefined) skip(c);
        else if (sc.eventHeader !== undefined) eh = sc.eventHeader(c, scope) as CtfStruct;
        const ec = live.eventId >= 0 ? sc.events.get(live.eventId) : onlyClass(sc);
        if (ec === undefined) return this.unknownEvent(p, at);
        const cycles = live.clock;
        this.pendingClass = ec;
        this.pendingAt = at;
        this.pendingHeader = eh;
        this.pendingCycles = cycles;
        this.key = byCycles ? (cycles ?? -1) : sc.clock !== undefined && cycles !== undefined ? clockToNs(sc.clock, cycles) : -1n;
        return true;
      } catch (err) {
        return this.eventFailed(err, p, at);
      }
    }
  }

  /**
   * Writes the event {@link peekText} found as babeltrace2's line (newline included) into `o`:
   * events of plain classes straight from the bytes by the stream's compiled writers, the
   * others decoded and formatted by `fmt`. On damage in its body the line is taken back, the
   * damage reported and false returned.
   */
  writePending(o: LineBuffer, fmt: (e: CtfEvent) => string): boolean {
    const p = this.textPacket!;
    const st = this.text!;
    const ec = this.pendingClass!;
    const at = this.pendingAt;
    const c = this.c;
    const lineStart = o.pos;
    try {
      const ct = st.classes.get(ec.id)!;
      if (ct.plain) {
        const cycles = this.pendingCycles;
        if (st.time !== undefined && cycles !== undefined) st.time.write(cycles, o);
        o.bytes(ct.head);
        o.bytes(this.pcText);
        const context = st.context;
        if (context !== undefined) {
          context(c, o);
          o.byte(44);
          o.byte(32);
        }
        if (ct.context !== undefined) {
          ct.context(c, o);
          o.byte(44);
          o.byte(32);
        }
        ct.fields(c, o);
      } else o.utf8(fmt(this.decodeOne(p, ec, this.pendingHeader, at)));
      o.byte(10);
      this.events++;
      return true;
    } catch (err) {
      o.pos = lineStart;
      return this.eventFailed(err, p, at);
    }
  }

  /**
   * Reads the packet at `this.off` up to its first event: header, context, sizes, and its place
   * in the stream (sequence number, time, discarded events). Undefined on damage (reported).
   * On success the cursor is on the first event with the packet's content readable.
   */
  private readPacketStart(): PacketStart | undefined {
    const { c, scope } = this;
    const off = this.off;
    const left = this.w.size - off;
    this.at(off, Math.min(HEADER_WINDOW, this.w.buf.length));
    scope.stack.length = 0;
    const sc = this.readPacketHeader(off, left);
    if (sc === undefined) return undefined;
    const pctx = this.readPacketContext(sc, off, left);
    if (pctx === undefined) return undefined;
    const index = this.packets;
    const available = left * 8;
    const packetBits = num(pctx['packet_size']) ?? num(pctx['content_size']) ?? available;
    const contentBits = num(pctx['content_size']) ?? packetBits;
    if (packetBits <= 0 || packetBits % 8 !== 0) {
      this.damage('CTF_BAD_PACKET', off, `packet ${index}: packet_size ${packetBits} bits is not a positive whole number of bytes`);
      return undefined;
    }
    if (contentBits > packetBits) {
      this.damage('CTF_BAD_PACKET', off, `packet ${index}: content_size ${contentBits} bits is greater than packet_size ${packetBits} bits`);
      return undefined;
    }
    if (contentBits < c.pos) {
      this.damage('CTF_BAD_PACKET', off, `packet ${index}: content_size ${contentBits} bits is smaller than the packet's header and context (${c.pos} bits)`);
      return undefined;
    }
    const truncated = packetBits > available;
    const readable = Math.min(contentBits, available);
    // The whole packet's content in the window (the header was read from it already).
    const pos = c.pos;
    this.at(off, Math.ceil(readable / 8));
    c.pos = pos;
    c.limit = readable;
    const cpu = num(pctx['cpu_id']);
    this.cpu = cpu;
    if (!this.checkPacketPlace(sc, pctx, off, index)) return undefined;
    this.packets = index + 1;
    return { sc, pctx, off, index, left, available, packetBits, contentBits, truncated, cpu };
  }

  /** The packet header: magic and stream class. Undefined on damage (reported). */
  private readPacketHeader(off: number, left: number): CompiledStream | undefined {
    const { trace, c, scope } = this;
    let header: CtfStruct = EMPTY;
    try {
      if (trace.packetHeader !== undefined) header = trace.packetHeader(c, scope) as CtfStruct;
    } catch (err) {
      if (err instanceof OutOfData) {
        this.damage('CTF_TRUNCATED', off, `the file ends inside a packet header (${left} bytes left)`);
        return undefined;
      }
      throw err;
    }
    const packets = this.packets;
    const magic = num(header['magic']);
    if (magic !== undefined && magic !== CTF_PACKET_MAGIC) {
      const swapped = ((magic & 0xff) << 24) | ((magic & 0xff00) << 8) | ((magic >>> 8) & 0xff00) | (magic >>> 24);
      const hint = swapped >>> 0 === CTF_PACKET_MAGIC ? ' (byte-swapped: the metadata declares the wrong byte order)' : '';
      this.damage('CTF_BAD_MAGIC', off, `packet ${packets}: magic ${hex(magic)} is not CTF's 0xc1fc1fc1${hint}`);
      return undefined;
    }
    const sid = num(header['stream_id']);
    const sc = sid === undefined ? this.onlyStream : trace.streams.get(sid);
    if (sc === undefined) {
      this.damage(
        'CTF_UNKNOWN_STREAM',
        off,
        sid === undefined
          ? 'the packet header has no stream_id and the metadata declares several stream classes'
          : `packet ${packets}: stream_id ${sid} is not a stream class of the metadata (declared: ${[...trace.streams.keys()].join(', ')})`,
      );
      return undefined;
    }
    this.streamId = sc.id;
    scope.roots['trace.packet.header'] = header;
    return sc;
  }

  /** The packet context: sizes, clock at the packet's start, discarded events, CPU. Undefined on damage. */
  private readPacketContext(sc: CompiledStream, off: number, left: number): CtfStruct | undefined {
    const { c, scope } = this;
    let pctx: CtfStruct = EMPTY;
    try {
      if (sc.packetContext !== undefined) pctx = sc.packetContext(c, scope) as CtfStruct;
    } catch (err) {
      if (err instanceof OutOfData) {
        this.damage('CTF_TRUNCATED', off, `the file ends inside a packet context (${left} bytes left)`);
        return undefined;
      }
      throw err;
    }
    scope.roots['stream.packet.context'] = pctx;
    return pctx;
  }

  /**
   * Order and continuity: the packet's place in its stream, before any of its events
   * (sequence gaps and discarded events reported; going backward is damage). False on damage.
   */
  private checkPacketPlace(sc: CompiledStream, pctx: CtfStruct, off: number, packets: number): boolean {
    const { file, name } = this;
    const clock = sc.clock;
    const toNs = (v: CtfValue | undefined): bigint | undefined =>
      clock !== undefined && (typeof v === 'number' || typeof v === 'bigint') ? clockToNs(clock, v) : undefined;
    const ended = toNs(pctx['timestamp_end']);
    const begun = toNs(pctx['timestamp_begin']);
    const seq = num(pctx['packet_seq_num']);
    const prevSeq = this.prevSeq;
    if (seq !== undefined) {
      if (prevSeq !== undefined && seq <= prevSeq) {
        this.damage(
          'CTF_PACKET_ORDER',
          off,
          `packet ${packets}: packet_seq_num ${seq} after ${prevSeq}: packets out of order (swapped, or the stream appended to itself); the stream is read up to here`,
        );
        return false;
      }
      // A stream's first packet is number 0: one that starts later lost its first packets
      // (a flight recorder's overwritten ones, most often; babeltrace2 says nothing there).
      const gap = seq - (prevSeq === undefined ? 0 : prevSeq + 1);
      if (gap > 0) {
        const where = prevSeq === undefined ? `the stream starts at packet_seq_num ${seq}` : `packet_seq_num ${seq} follows ${prevSeq}`;
        this.out.warning(this.order, {
          code: 'CTF_PACKETS_MISSING',
          file,
          offset: off,
          count: gap,
          message: `${file}: byte ${off}: ${gap} packet${gap === 1 ? '' : 's'} missing: ${where} (dropped, or overwritten in overwrite mode); their events are lost, not counted in events_discarded`,
        });
      }
      this.prevSeq = seq;
    }
    const prevEnd = this.prevEnd;
    if (begun !== undefined && prevEnd !== undefined && begun < prevEnd) {
      this.damage(
        'CTF_PACKET_ORDER',
        off,
        `packet ${packets}: timestamp_begin ${begun} ns is before the previous packet's end (${prevEnd} ns): time goes backward in the stream; the stream is read up to here`,
      );
      return false;
    }
    const disc = num(pctx['events_discarded']);
    if (disc !== undefined) {
      const prev = this.prevDiscarded;
      const d = disc - (prev ?? 0);
      if (d > 0) {
        this.lost += d;
        this.out.discarded(this.order, { stream: name, count: d, from: prevEnd, to: ended });
      } else if (d < 0) {
        this.out.warning(this.order, {
          code: 'CTF_DISCARDED_BACKWARD',
          file,
          offset: off,
          count: 0,
          message: `${file}: byte ${off}: events_discarded went from ${prev} to ${disc}: the cumulative counter went backward (a damaged or spliced stream); nothing counted as lost for this packet`,
        });
      }
      this.prevDiscarded = disc;
    }
    this.prevEnd = ended;
    return true;
  }

  /** The packet's events, up to content_size, as objects. False on damage (reported). */
  private decodeEvents(p: PacketStart, events: Event[]): boolean {
    const { trace, c, scope, name, traceIndex } = this;
    const live = trace.live;
    const { sc, pctx, cpu } = p;
    const clock = sc.clock;
    const headerDec = sc.eventHeader;
    const ctxDec = sc.eventContext;
    const only = onlyClass(sc);
    const base = p.off;
    while (c.pos < p.contentBits) {
      const at = c.pos;
      if (scope.stack.length !== 0) scope.stack.length = 0;
      try {
        live.eventId = -1;
        const eh = headerDec === undefined ? EMPTY : (headerDec(c, scope) as CtfStruct);
        const ec = live.eventId >= 0 ? sc.events.get(live.eventId) : only;
        if (ec === undefined) return this.unknownEvent(p, at);
        scope.roots['stream.event.header'] = eh;
        const sctx = ctxDec === undefined ? undefined : (ctxDec(c, scope) as CtfStruct);
        scope.roots['stream.event.context'] = sctx;
        const ectx = ec.context === undefined ? undefined : (ec.context(c, scope) as CtfStruct);
        scope.roots['event.context'] = ectx;
        const fields = ec.fields === undefined ? EMPTY : (ec.fields(c, scope) as CtfStruct);
        events.push(
          new Event(traceIndex, name, base + Math.floor(at / 8), sc.id, cpu, ec.name, ec.id, ec.loglevel, live.clock, clock, eh, pctx, sctx, ectx, fields),
        );
      } catch (err) {
        return this.eventFailed(err, p, at);
      }
    }
    return true;
  }

  /** One event's scopes after its header, decoded as objects (the text path's fallback). */
  private decodeOne(p: PacketStart, ec: CompiledEventClass, eh: CtfStruct, at: number): Event {
    const { c, scope } = this;
    const sc = p.sc;
    scope.roots['stream.event.header'] = eh;
    const sctx = sc.eventContext === undefined ? undefined : (sc.eventContext(c, scope) as CtfStruct);
    scope.roots['stream.event.context'] = sctx;
    const ectx = ec.context === undefined ? undefined : (ec.context(c, scope) as CtfStruct);
    scope.roots['event.context'] = ectx;
    const fields = ec.fields === undefined ? EMPTY : (ec.fields(c, scope) as CtfStruct);
    return new Event(
      this.traceIndex,
      this.name,
      p.off + Math.floor(at / 8),
      sc.id,
      p.cpu,
      ec.name,
      ec.id,
      ec.loglevel,
      this.pendingCycles,
      sc.clock,
      eh,
      p.pctx,
      sctx,
      ectx,
      fields,
    );
  }

  /** Reports an event id that names no event class; false. */
  private unknownEvent(p: PacketStart, at: number): false {
    const id = this.trace.live.eventId;
    const what =
      id >= 0 ? `event id ${id} is not an event class of stream class ${p.sc.id}` : 'the event header has no id and the stream class has several event classes';
    this.damage('CTF_UNKNOWN_EVENT', p.off + Math.floor(at / 8), `packet ${p.index}: ${what}`);
    return false;
  }

  /** Reports a decode failure inside the event at bit `at` as damage (false); other errors are rethrown. */
  private eventFailed(err: unknown, p: PacketStart, at: number): false {
    const eventAt = p.off + Math.floor(at / 8);
    if (err instanceof OutOfData) {
      if (p.truncated && this.c.limit === p.available) {
        this.damage(
          'CTF_TRUNCATED',
          eventAt,
          `packet ${p.index} (at byte ${p.off}) declares ${p.packetBits / 8} bytes but the file ends ${p.left} bytes into it, in the middle of an event`,
        );
      } else {
        this.damage('CTF_BAD_PACKET', eventAt, `packet ${p.index} (at byte ${p.off}): an event runs past the packet's content_size (${p.contentBits} bits)`);
      }
      return false;
    }
    if (err instanceof BadData) {
      this.damage('CTF_BAD_PACKET', eventAt, `packet ${p.index} (at byte ${p.off}): ${err.message}`);
      return false;
    }
    throw err;
  }

  /** After a packet's events: damage if the file is cut in its padding, else on to the next packet. */
  private endPacket(p: PacketStart): void {
    if (p.truncated) {
      this.damage(
        'CTF_TRUNCATED',
        p.off,
        `packet ${p.index} declares ${p.packetBits / 8} bytes but the file has only ${p.left} left (its events were read; the file is cut in its padding)`,
      );
      return;
    }
    this.off = p.off + p.packetBits / 8;
    if (this.off >= this.w.size) this.finish();
  }
}

/** The stream class's one event class, when its event header has no id. */
function onlyClass(sc: CompiledStream): CompiledEventClass | undefined {
  return sc.events.size === 1 && !sc.headerHasId ? sc.events.values().next().value : undefined;
}

/** What a packet's header and context said, for its events' loop. */
interface PacketStart {
  readonly sc: CompiledStream;
  readonly pctx: CtfStruct;
  /** File offset of the packet. */
  readonly off: number;
  /** The packet's number in its stream file (from 0). */
  readonly index: number;
  /** Bytes from the packet to the file's end. */
  readonly left: number;
  /** `left` in bits. */
  readonly available: number;
  readonly packetBits: number;
  readonly contentBits: number;
  /** The file ends before packet_size. */
  readonly truncated: boolean;
  readonly cpu: number | undefined;
}

// ---- the merge ----------------------------------------------------------------------------------

/** What the heap orders: a stream (`order`, its place in discovery order) and the sort key of its next event. */
interface Keyed {
  readonly order: number;
  key: number | bigint;
}

/**
 * A stream's place in the merge: its current packet's events and the head's sort key.
 * Guarded by: the one merge that owns it.
 */
interface Head extends Keyed {
  readonly reader: StreamReader;
  list: Event[];
  i: number;
}

/** Heap order: the smaller key first; equal keys in stream-file order. */
function before(a: Keyed, b: Keyed): boolean {
  if (a.key < b.key) return true;
  if (b.key < a.key) return false;
  return a.order < b.order;
}

function siftDown<H extends Keyed>(heap: H[], k: number): void {
  const n = heap.length;
  const h = heap[k]!;
  for (;;) {
    const l = 2 * k + 1;
    if (l >= n) break;
    const r = l + 1;
    const m = r < n && before(heap[r]!, heap[l]!) ? r : l;
    if (!before(heap[m]!, h)) break;
    heap[k] = heap[m]!;
    k = m;
  }
  heap[k] = h;
}

export interface CtfStreamOptions {
  /**
   * `'throw'` (default): iteration ends by throwing the first damage found (after every event
   * that could be read has been yielded; `error.events` is empty: a stream holds nothing).
   * `'stop'`: iteration ends normally; `errors` says what was damaged. A directory without a
   * trace throws from {@link openCtfTrace} in both modes; bad metadata throws there with
   * `'throw'`, and with `'stop'` is recorded in `errors` and its trace skipped.
   */
  readonly onError?: 'throw' | 'stop';
  /**
   * Bytes of each stream file held in memory at once (default 256 KiB, at least 4 KiB); the
   * window grows to one packet when a packet is larger.
   */
  readonly windowBytes?: number;
}

/**
 * A CTF trace read as a stream of events in time order, as babeltrace2's muxer delivers them:
 * each stream file is decoded one packet at a time through a window of its bytes, and the
 * streams are merged on a heap by clock value (one trace, one clock) or by ns since the epoch
 * (several traces), ties in stream-file order. Memory holds, per stream file, its window and
 * its current packet's events: bounded by the number of streams and the packet size, never by
 * the trace's size.
 *
 * Iterable once (sync or async). What the trace says about itself (lost events, warnings,
 * damage) accumulates in the fields below as the reading gets there; they are complete once
 * the iteration has ended. Guarded by: single-threaded use; one iteration at a time.
 */
export class CtfEventStream implements Iterable<CtfEvent>, AsyncIterable<CtfEvent> {
  readonly traces: readonly CtfTraceInfo[];
  /** Lost-event reports, in the order they were read (a packet at a time, across streams). */
  readonly discarded: CtfDiscarded[] = [];
  /** Warnings in the order they were read. */
  readonly warnings: CtfWarning[] = [];
  /** Damage, one per damaged stream (and bad metadata, with `onError: 'stop'`). */
  readonly errors: CtfReadError<CtfEvent>[] = [];
  /** Events yielded so far. */
  count = 0;
  /** Discovery order of each discarded/warning/error entry (for {@link readCtfTrace}'s stream-ordered lists). */
  readonly orderOf = new Map<object, number>();
  private readonly readers: StreamReader[];
  private started = false;
  private readonly byCycles: boolean;

  /** @internal Use {@link openCtfTrace}. */
  constructor(
    traces: readonly CtfTraceInfo[],
    readers: StreamReader[],
    byCycles: boolean,
    private readonly onError: 'throw' | 'stop',
  ) {
    this.traces = traces;
    this.readers = readers;
    this.byCycles = byCycles;
  }

  /** @internal */
  static collector(target: () => CtfEventStream): Collector {
    return {
      discarded: (order, d) => {
        target().discarded.push(d);
        target().orderOf.set(d, order);
      },
      warning: (order, w) => {
        target().warnings.push(w);
        target().orderOf.set(w, order);
      },
      error: (order, e) => {
        target().errors.push(e);
        target().orderOf.set(e, order);
      },
    };
  }

  /** Per stream file: what was read so far. */
  get streams(): CtfStreamInfo[] {
    return this.readers.map((r) => r.info);
  }
  /**
   * What was found, each list in stream order (the order {@link readCtfTrace} gives), where
   * the properties hold it in the order it was read (a packet at a time, across streams).
   */
  reports(): { errors: CtfReadError<CtfEvent>[]; discarded: CtfDiscarded[]; warnings: CtfWarning[] } {
    const byOrder = <T extends object>(list: readonly T[]): T[] =>
      list
        .map((x, i) => ({ x, i, o: this.orderOf.get(x) ?? 0 }))
        .sort((a, b) => a.o - b.o || a.i - b.i)
        .map((y) => y.x);
    return { errors: byOrder(this.errors), discarded: byOrder(this.discarded), warnings: byOrder(this.warnings) };
  }
  /** Total lost events reported so far. */
  get lost(): number {
    return this.discarded.reduce((n, d) => n + d.count, 0);
  }
  /** Packets missing from `packet_seq_num` gaps so far. */
  get missingPackets(): number {
    return this.warnings.reduce((n, w) => n + w.count, 0);
  }
  /** The first damage found, if any. */
  get error(): CtfReadError<CtfEvent> | undefined {
    return this.errors[0];
  }
  /** How many times the stream files were read (each read fills one window). */
  get fileReads(): number {
    return this.readers.reduce((n, r) => n + r.reads, 0);
  }

  /** @internal the merge; with `throwAtEnd`, the first damage is thrown after the last event in 'throw' mode. */
  *merged(throwAtEnd = false): Generator<CtfEvent, void, undefined> {
    if (this.started) throw ctfError('CTF_NOT_FOUND', 'a CtfEventStream can be iterated once (open the trace again)');
    this.started = true;
    const byCycles = this.byCycles;
    const keyOf = (e: Event): number | bigint => (byCycles ? (e.cycles ?? -1) : (e.timestamp ?? -1n));
    const heap: Head[] = [];
    try {
      for (const reader of this.readers) {
        const head: Head = { reader, order: reader.order, list: [], i: 0, key: 0 };
        if (this.fill(head)) {
          head.key = keyOf(head.list[0]!);
          heap.push(head);
        }
      }
      for (let k = (heap.length >> 1) - 1; k >= 0; k--) siftDown(heap, k);
      while (heap.length > 0) {
        const h = heap[0]!;
        const e = h.list[h.i++]!;
        this.count++;
        yield e;
        if (h.i < h.list.length || this.fill(h)) {
          h.key = keyOf(h.list[h.i]!);
        } else {
          const last = heap.pop()!;
          if (heap.length === 0) break;
          heap[0] = last;
        }
        siftDown(heap, 0);
      }
    } finally {
      for (const r of this.readers) r.close();
    }
    if (throwAtEnd && this.onError === 'throw' && this.errors.length > 0) throw this.errors[0]!;
  }

  /**
   * Writes every event as babeltrace2's text line (what `ctfTextFormatter(this.traces)` makes,
   * each followed by a newline, as UTF-8), in the merge's order, to `write` a chunk at a time:
   * the chunks end on line boundaries and hold about `chunkBytes` (default 1 MiB; a longer line
   * is a chunk by itself). A chunk is a view of a buffer reused after `write` returns: copy
   * what is kept. This is the iteration's text form, with no event objects for event classes
   * whose types need no other field's value to decode (no variants or sequences), and the same
   * lines as iterating and formatting; it consumes the stream as iterating does, updates
   * `count` and the reports, and throws the first damage at its end in `'throw'` mode.
   */
  writeText(write: (chunk: Uint8Array) => void, chunkBytes = 1 << 20): void {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1)
      throw new TracelabError('INVALID_OPTION', `CtfEventStream.writeText: chunkBytes must be a positive integer, got ${String(chunkBytes)}`);
    if (this.started) throw ctfError('CTF_NOT_FOUND', 'a CtfEventStream can be iterated once (open the trace again)');
    this.started = true;
    const fmt = ctfTextFormatter(this.traces);
    const out = new LineBuffer(chunkBytes + 4096);
    const byCycles = this.byCycles;
    // The heap holds the readers whose next event's header is read, keyed by it: the least
    // one's event is written straight into the output, with no line buffered per stream.
    const heap: StreamReader[] = [];
    try {
      for (const reader of this.readers) if (reader.peekText(byCycles)) heap.push(reader);
      for (let k = (heap.length >> 1) - 1; k >= 0; k--) siftDown(heap, k);
      while (heap.length > 0) {
        const r = heap[0]!;
        const lineStart = out.pos;
        if (r.writePending(out, fmt)) {
          this.count++;
          // Chunks end on line boundaries: what came before a line that overflows goes first.
          if (out.pos > chunkBytes && lineStart > 0) {
            write(out.buf.subarray(0, lineStart));
            out.buf.copyWithin(0, lineStart, out.pos);
            out.pos -= lineStart;
          }
        }
        if (!r.peekText(byCycles)) {
          const last = heap.pop()!;
          if (heap.length === 0) break;
          heap[0] = last;
        }
        siftDown(heap, 0);
      }
      if (out.pos > 0) write(out.buf.subarray(0, out.pos));
    } finally {
      for (const r of this.readers) r.close();
    }
    if (this.onError === 'throw' && this.errors.length > 0) throw this.errors[0]!;
  }

  /** Loads the head's stream's next packet that has events; false at the stream's end. */
  private fill(h: Head): boolean {
    const r = h.reader;
    while (!r.done) {
      const list = r.nextPacket();
      if (list.length > 0) {
        h.list = list;
        h.i = 0;
        return true;
      }
    }
    h.list = [];
    return false;
  }

  [Symbol.iterator](): Generator<CtfEvent, void, undefined> {
    // The merge itself, throwing at its end in 'throw' mode: no second generator per event.
    return this.merged(true);
  }

  /** The same events; gives the event loop a turn every 16,384 events. */
  async *[Symbol.asyncIterator](): AsyncGenerator<CtfEvent, void, undefined> {
    let n = 0;
    for (const e of this) {
      yield e;
      if (++n % 16_384 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

// ---- public entry points ------------------------------------------------------------------------

/**
 * Opens every CTF trace in `dir` (the trace directory, or a directory above it such as an
 * LTTng session's output) as a {@link CtfEventStream}: metadata read and compiled now, stream
 * files opened now and read a packet at a time as the events are consumed.
 *
 * Throws a {@link CtfReadError} when no trace is found or the metadata is bad (with
 * `onError: 'stop'`, bad metadata is recorded in `errors` and that trace skipped).
 */
export function openCtfTrace(dir: string, options: CtfStreamOptions = {}): CtfEventStream {
  const onError = options.onError ?? 'throw';
  if (onError !== 'throw' && onError !== 'stop')
    throw ctfError('CTF_NOT_FOUND', `openCtfTrace: onError must be 'throw' or 'stop', got ${JSON.stringify(onError)}`);
  const windowBytes = options.windowBytes ?? CTF_DEFAULT_WINDOW_BYTES;
  if (!Number.isInteger(windowBytes) || windowBytes < 4096)
    throw ctfError('CTF_NOT_FOUND', `openCtfTrace: windowBytes must be an integer of at least 4096, got ${String(windowBytes)}`);
  const traces: CtfTraceInfo[] = [];
  const readers: StreamReader[] = [];
  const early: { order: number; error: CtfReadError<CtfEvent> }[] = [];
  // Set once the readers exist; the collector is only called while the stream is read.
  const ref: { stream: CtfEventStream | undefined } = { stream: undefined };
  const collector = CtfEventStream.collector(() => ref.stream!);
  const clocks = new Set<CtfClockClass | undefined>();
  let order = 0;
  try {
    for (const traceDir of findCtfTraces(dir)) {
      const here = order++;
      let compiled: CompiledTrace;
      let read: ReturnType<typeof readCtfMetadata>;
      try {
        read = readCtfMetadata(traceDir);
        compiled = compileTrace(read.metadata, join(traceDir, 'metadata'));
      } catch (err) {
        if (err instanceof CtfReadError && onError === 'stop') {
          early.push({ order: here, error: err as CtfReadError<CtfEvent> });
          continue;
        }
        throw err;
      }
      const { metadata, text, packetized } = read;
      const host = metadata.env['hostname'];
      const traceIndex = traces.length;
      traces.push({
        path: relative(dir, traceDir),
        metadata,
        metadataText: text,
        packetizedMetadata: packetized,
        hostname: typeof host === 'string' ? host : undefined,
      });
      for (const sc of compiled.streams.values()) clocks.add(sc.clock);
      for (const f of streamFiles(traceDir)) {
        const path = join(traceDir, f);
        const w = new FileWindow(path, statSync(path).size, windowBytes);
        readers.push(new StreamReader(compiled, traceIndex, w, path, relative(dir, path), order++, collector, traces[traceIndex]!.hostname));
      }
    }
  } catch (err) {
    for (const r of readers) r.close();
    throw err;
  }
  // One trace with one clock (the usual case): merge on the clock value, a number.
  const stream = new CtfEventStream(traces, readers, traces.length === 1 && clocks.size <= 1, onError);
  ref.stream = stream;
  for (const { order: o, error } of early) collector.error(o, error);
  return stream;
}

/**
 * Reads every CTF trace in `dir` whole and returns its events in time order, lost-event
 * counts and per-stream statistics: {@link openCtfTrace}'s stream, collected. Lists are in
 * stream-file order (each stream's entries in file order).
 *
 * Throws a {@link CtfReadError} (a `TracelabError` with a `CTF_*` code) when no trace is found
 * or the metadata is bad; on damage in a stream file it throws (default) or, with
 * `onError: 'stop'`, returns the events decoded before the damage with `error` set. In both
 * cases the other stream files are read to their end.
 */
export function readCtfTrace(dir: string, options: CtfReadOptions = {}): CtfReadResult {
  const onError = options.onError ?? 'throw';
  if (onError !== 'throw' && onError !== 'stop')
    throw ctfError('CTF_NOT_FOUND', `readCtfTrace: onError must be 'throw' or 'stop', got ${JSON.stringify(onError)}`);
  // Metadata errors throw here in 'throw' mode; stream damage is collected, then thrown.
  const s = openCtfTrace(dir, { onError });
  const events: CtfEvent[] = [];
  for (const e of s.merged()) events.push(e);
  const { errors, discarded, warnings } = s.reports();
  for (const e of errors) e.events = events;
  const result: CtfReadResult = {
    traces: s.traces,
    streams: s.streams,
    events,
    lost: s.lost,
    discarded,
    missingPackets: s.missingPackets,
    warnings,
    errors,
    ...(errors.length > 0 ? { error: errors[0]! } : {}),
  };
  if (errors.length > 0 && onError === 'throw') throw errors[0]!;
  return result;
}

export { CtfReadError, displayName };
export type { CtfErrorCode };
