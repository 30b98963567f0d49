import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { ctfMetadata, validateTraceClass } from './metadata.js';
import { CTF_MAGIC, CTF_PACKET_LAYOUT, ctfEventHeaderSize, type CtfEventClass, type CtfFieldType, type CtfFieldValue, type CtfTraceClass } from './types.js';

/**
 * The CTF 1.8 writer: event records and packets in the byte layout `ctfMetadata` declares
 * (little-endian, byte-packed, LTTng's packet header and context, event header
 * `{ id; u64 timestamp }`), and a trace directory (`metadata` + one stream file per CPU).
 *
 * `@tracelab/ring-buffer` writes records straight into its sub-buffers with
 * `ctfEventSize`/`writeCtfEvent`; `CtfPacketBuilder` builds whole packets for anything that
 * is not a ring buffer (and for tests).
 */

const encoder = new TextEncoder();

/** The RFC 4122 bytes of a text uuid, in text order (how CTF stores `uuid[16]`). */
export function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TracelabError('INVALID_OPTION', `uuid "${uuid}" is not a text uuid`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Bytes a field of this type takes for `value` (strings: UTF-8 bytes + the NUL). */
export function ctfFieldSize(type: CtfFieldType, value: CtfFieldValue): number {
  switch (type.kind) {
    case 'integer':
      return type.size / 8;
    case 'enum':
      return type.container.size / 8;
    case 'array':
      return type.length;
    case 'string':
      return (typeof value === 'string' ? utf8Length(value) : value instanceof Uint8Array ? value.length : String(value).length) + 1;
  }
}

/** Payload bytes of an event of class `ec` with these field values (no header). */
export function ctfPayloadSize(ec: CtfEventClass, values: readonly CtfFieldValue[]): number {
  let n = 0;
  const fields = ec.fields;
  for (let i = 0; i < fields.length; i++) n += ctfFieldSize(fields[i]!.type, values[i] ?? 0);
  return n;
}

/** Header + payload bytes of one event record. */
export function ctfEventSize(ec: CtfEventClass, values: readonly CtfFieldValue[], eventIdSize: 16 | 32 = 32): number {
  return ctfEventHeaderSize(eventIdSize) + ctfPayloadSize(ec, values);
}

function writeInt(dv: DataView, at: number, size: number, signed: boolean, v: CtfFieldValue): void {
  if (size === 64) {
    const big = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    if (signed) dv.setBigInt64(at, BigInt.asIntN(64, big), true);
    else dv.setBigUint64(at, BigInt.asUintN(64, big), true);
    return;
  }
  const n = typeof v === 'bigint' ? Number(v) : Math.trunc(Number(v));
  if (size === 8) {
    if (signed) dv.setInt8(at, n);
    else dv.setUint8(at, n & 0xff);
  } else if (size === 16) {
    if (signed) dv.setInt16(at, n, true);
    else dv.setUint16(at, n & 0xffff, true);
  } else if (signed) dv.setInt32(at, n, true);
  else dv.setUint32(at, n >>> 0, true);
}

/** Writes one field at `at`; returns the position after it. */
export function writeCtfField(dv: DataView, u8: Uint8Array, at: number, type: CtfFieldType, value: CtfFieldValue): number {
  switch (type.kind) {
    case 'integer':
      writeInt(dv, at, type.size, type.signed, value);
      return at + type.size / 8;
    case 'enum':
      writeInt(dv, at, type.container.size, type.container.signed, value);
      return at + type.container.size / 8;
    case 'array': {
      const bytes = typeof value === 'string' ? encoder.encode(value) : value instanceof Uint8Array ? value : new Uint8Array(0);
      const n = Math.min(bytes.length, type.length);
      for (let i = 0; i < n; i++) u8[at + i] = bytes[i]!;
      u8.fill(0, at + n, at + type.length);
      return at + type.length;
    }
    case 'string': {
      const s = typeof value === 'string' ? value : value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);
      const r = encoder.encodeInto(s, u8.subarray(at));
      u8[at + r.written] = 0;
      return at + r.written + 1;
    }
  }
}

/** Writes an event record (header + payload) at `at`; returns the position after it. */
export function writeCtfEvent(
  dv: DataView,
  u8: Uint8Array,
  at: number,
  ec: CtfEventClass,
  timestamp: number | bigint,
  values: readonly CtfFieldValue[],
  eventIdSize: 16 | 32 = 32,
): number {
  if (eventIdSize === 16) {
    dv.setUint16(at, ec.id, true);
    at += 2;
  } else {
    dv.setUint32(at, ec.id, true);
    at += 4;
  }
  writeU64(dv, at, timestamp);
  at += 8;
  const fields = ec.fields;
  for (let i = 0; i < fields.length; i++) at = writeCtfField(dv, u8, at, fields[i]!.type, values[i] ?? 0);
  return at;
}

function writeU64(dv: DataView, at: number, v: number | bigint): void {
  if (typeof v === 'bigint') {
    dv.setBigUint64(at, v, true);
    return;
  }
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / 4294967296) >>> 0, true);
}

export interface CtfPacketHeaderInit {
  readonly uuid: Uint8Array;
  readonly streamId: number;
  readonly cpu: number;
  readonly timestampBegin: number | bigint;
  readonly timestampEnd: number | bigint;
  /** Bytes of header + context + records (content_size / 8). */
  readonly contentBytes: number;
  /** Bytes of the whole packet, padding included (packet_size / 8). */
  readonly packetBytes: number;
  readonly packetSeqNum: number;
  /** Cumulative per stream. */
  readonly eventsDiscarded: number;
}

/** Writes the 84-byte packet header + context at `at` (sizes converted to bits). */
export function writeCtfPacketHeader(dv: DataView, u8: Uint8Array, at: number, h: CtfPacketHeaderInit): void {
  const L = CTF_PACKET_LAYOUT;
  dv.setUint32(at + L.magic, CTF_MAGIC, true);
  u8.set(h.uuid, at + L.uuid);
  dv.setUint32(at + L.streamId, h.streamId, true);
  writeU64(dv, at + L.streamInstanceId, h.cpu);
  writeU64(dv, at + L.timestampBegin, h.timestampBegin);
  writeU64(dv, at + L.timestampEnd, h.timestampEnd);
  writeU64(dv, at + L.contentSize, h.contentBytes * 8);
  writeU64(dv, at + L.packetSize, h.packetBytes * 8);
  writeU64(dv, at + L.packetSeqNum, h.packetSeqNum);
  writeU64(dv, at + L.eventsDiscarded, h.eventsDiscarded);
  dv.setUint32(at + L.cpuId, h.cpu, true);
}

/**
 * Builds the packets of one stream (one CPU) from event records, without a ring buffer:
 * `add` appends an event (timestamps must not go backwards), a packet is closed when the
 * next event would not fit in `packetBytes`, `finish` returns the stream file's bytes.
 * Throws `INVALID_OPTION` for an unknown event id, a timestamp going backwards, or an event
 * bigger than a packet.
 */
export class CtfPacketBuilder {
  private readonly byId = new Map<number, CtfEventClass>();
  private readonly uuid: Uint8Array;
  private readonly idSize: 16 | 32;
  private readonly packets: Uint8Array[] = [];
  private cur: Uint8Array;
  private dv: DataView;
  private at: number = CTF_PACKET_LAYOUT.size;
  private tsBegin: number | bigint | null = null;
  private tsLast: number | bigint = 0;
  private seq = 0;
  private discarded = 0;

  constructor(
    private readonly traceClass: CtfTraceClass,
    private readonly cpu: number,
    private readonly packetBytes = 4096,
  ) {
    validateTraceClass(traceClass);
    for (const ec of traceClass.eventClasses) this.byId.set(ec.id, ec);
    this.uuid = uuidBytes(traceClass.uuid);
    this.idSize = traceClass.eventIdSize ?? 32;
    this.cur = new Uint8Array(packetBytes);
    this.dv = new DataView(this.cur.buffer);
  }

  /** Counts `n` events as discarded (reported in the next packet's events_discarded). */
  discard(n: number): void {
    this.discarded += n;
  }

  add(id: number, timestamp: number | bigint, values: readonly CtfFieldValue[]): void {
    const ec = this.byId.get(id);
    if (ec === undefined) throw new TracelabError('INVALID_OPTION', `CtfPacketBuilder: no event class with id ${id}`);
    if (timestamp < this.tsLast)
      throw new TracelabError('INVALID_OPTION', `CtfPacketBuilder: timestamp ${timestamp} goes backwards (last ${this.tsLast}); babeltrace2 refuses that`);
    const size = ctfEventSize(ec, values, this.idSize);
    if (CTF_PACKET_LAYOUT.size + size > this.packetBytes)
      throw new TracelabError('INVALID_OPTION', `CtfPacketBuilder: event ${ec.name} of ${size} bytes does not fit a ${this.packetBytes}-byte packet`);
    if (this.at + size > this.packetBytes) this.close();
    this.tsBegin ??= timestamp;
    this.at = writeCtfEvent(this.dv, this.cur, this.at, ec, timestamp, values, this.idSize);
    this.tsLast = timestamp;
  }

  private close(): void {
    if (this.tsBegin === null) return;
    writeCtfPacketHeader(this.dv, this.cur, 0, {
      uuid: this.uuid,
      streamId: this.traceClass.streamId ?? 0,
      cpu: this.cpu,
      timestampBegin: this.tsBegin,
      timestampEnd: this.tsLast,
      contentBytes: this.at,
      packetBytes: this.packetBytes,
      packetSeqNum: this.seq++,
      eventsDiscarded: this.discarded,
    });
    this.packets.push(this.cur);
    this.cur = new Uint8Array(this.packetBytes);
    this.dv = new DataView(this.cur.buffer);
    this.at = CTF_PACKET_LAYOUT.size;
    this.tsBegin = null;
  }

  /** Closes the last packet and returns the stream's bytes (empty if no event was added). */
  finish(): Uint8Array {
    this.close();
    return concatBytes(this.packets);
  }
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The stream file name of a CPU, as LTTng names them (`channel0_<cpu>`). */
export function ctfStreamFileName(cpu: number): string {
  return `channel0_${cpu}`;
}

/**
 * Writes a CTF trace directory: `metadata` (TSDL) and one stream file per CPU
 * (`channel0_<cpu>`: the packets concatenated). `streams[cpu]` is the list of packets (or one
 * byte array) of that CPU; an empty list gives an empty file, which babeltrace2 accepts.
 * Creates `dir`; removes stale `channel0_*` files and `metadata` in it first, since
 * babeltrace2 parses every non-hidden file of the directory. Returns the file names written.
 */
export function writeCtfTrace(dir: string, traceClass: CtfTraceClass, streams: ReadonlyArray<readonly Uint8Array[] | Uint8Array>): string[] {
  const metadata = ctfMetadata(traceClass);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f === 'metadata' || /^channel0_\d+$/.test(f)) rmSync(join(dir, f));
  writeFileSync(join(dir, 'metadata'), metadata);
  const names = ['metadata'];
  streams.forEach((s, cpu) => {
    const name = ctfStreamFileName(cpu);
    writeFileSync(join(dir, name), s instanceof Uint8Array ? s : concatBytes(s));
    names.push(name);
  });
  return names;
}
