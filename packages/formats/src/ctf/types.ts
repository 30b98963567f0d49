/**
 * The description of a CTF 1.8 trace class, as tracelab *writes* it: the input of
 * `ctfMetadata(traceClass)` (the TSDL text) and of the CTF writer (the byte layout).
 *
 * Layout rules the writer follows (babeltrace2 2.0.x accepts them, LTTng-UST writes the same):
 * - little-endian, every type `align = 8` (bits): every field is byte-packed, no padding
 *   anywhere inside a packet except at its end (between content_size and packet_size);
 * - `size`, `content_size` and `packet_size` are in **bits**;
 * - one stream class (id `streamId`, default 0); one stream file per CPU, whose
 *   `stream_instance_id` and `cpu_id` are the CPU number;
 * - the packet header is LTTng's: magic, uuid[16], stream_id, stream_instance_id;
 * - the packet context is LTTng's: timestamp_begin, timestamp_end, content_size, packet_size,
 *   packet_seq_num, events_discarded, cpu_id;
 * - the event header is `{ id, timestamp }` with a full 64-bit timestamp mapped to the clock
 *   (no compact/extended escapes, so every event header has the same size).
 *
 * This file holds types and layout constants only: the reader may import it freely.
 */

/** An unsigned or signed integer, byte-packed (`align = 8`), little-endian. */
export interface CtfIntegerType {
  readonly kind: 'integer';
  readonly size: 8 | 16 | 32 | 64;
  readonly signed: boolean;
  /** Display base in babeltrace2's text output (`base = 16;` in TSDL). Default 10. */
  readonly base?: 10 | 16;
}

/** A null-terminated UTF-8 string (`string` in TSDL). */
export interface CtfStringType {
  readonly kind: 'string';
}

/**
 * A fixed-length array of bytes. `element: 'char'` declares `encoding = UTF8` (babeltrace2
 * prints it as a string, stopping at the first NUL); `'byte'` prints as an array of integers.
 */
export interface CtfArrayType {
  readonly kind: 'array';
  readonly element: 'byte' | 'char';
  readonly length: number;
}

/** One enum mapping: `label = start ... end` (inclusive; `start === end` for one value). */
export interface CtfEnumMapping {
  readonly label: string;
  readonly start: number;
  readonly end: number;
}

/** An enumeration over an integer container. */
export interface CtfEnumType {
  readonly kind: 'enum';
  readonly container: CtfIntegerType;
  readonly mappings: readonly CtfEnumMapping[];
}

export type CtfFieldType = CtfIntegerType | CtfStringType | CtfArrayType | CtfEnumType;

/** A named field of a struct (an event payload). Names are valid TSDL identifiers. */
export interface CtfField {
  readonly name: string;
  readonly type: CtfFieldType;
}

/** An event class: a tracepoint. Ids are unique within the stream class. */
export interface CtfEventClass {
  readonly id: number;
  /** e.g. `sched_switch` or `syscall_entry_open`. Any string (quoted in TSDL). */
  readonly name: string;
  readonly fields: readonly CtfField[];
  /** TSDL `loglevel` (LTTng's numbering, 13 = TRACE_DEBUG_LINE). Omitted when absent. */
  readonly loglevel?: number;
}

/**
 * The clock every timestamp is mapped to. Displayed time =
 * offsetSeconds + offset / freq + value / freq.
 */
export interface CtfClock {
  /** TSDL identifier, e.g. `monotonic`. */
  readonly name: string;
  /** Hz (ticks per second of the clock's value). */
  readonly freq: number;
  /** Seconds since the Unix epoch of value 0. */
  readonly offsetSeconds: number;
  /** Extra ticks added to the offset. */
  readonly offset: number;
  readonly description?: string;
  /** Clock-class uuid (optional in CTF 1.8). */
  readonly uuid?: string;
  readonly absolute?: boolean;
}

/** The whole trace class: metadata and layout of every stream file. */
export interface CtfTraceClass {
  /** RFC 4122 text form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case hex). */
  readonly uuid: string;
  readonly clock: CtfClock;
  /** The single stream class id (packet header `stream_id`). Default 0. */
  readonly streamId?: number;
  /** Size in bits of the event header's `id` field. Default 32. */
  readonly eventIdSize?: 16 | 32;
  readonly eventClasses: readonly CtfEventClass[];
  /** The `env` block: hostname, domain, tracer name... (strings or integers). */
  readonly env?: Readonly<Record<string, string | number>>;
}

/** A value of a field, by type: integers as number (or bigint for 64-bit), strings, bytes. */
export type CtfFieldValue = number | bigint | string | Uint8Array;

/** One event to write: its class id, its timestamp (clock value) and field values in order. */
export interface CtfEventRecord {
  readonly id: number;
  readonly timestamp: number | bigint;
  readonly fields: readonly CtfFieldValue[];
}

/** The packet context of one packet, as written (sizes in bits, as on disk). */
export interface CtfPacketContext {
  readonly timestampBegin: bigint;
  readonly timestampEnd: bigint;
  readonly contentSizeBits: bigint;
  readonly packetSizeBits: bigint;
  readonly packetSeqNum: bigint;
  /** Cumulative per stream. */
  readonly eventsDiscarded: bigint;
  readonly cpuId: number;
}

/** CTF packet magic (on disk little-endian: `c1 1f fc c1`). */
export const CTF_MAGIC = 0xc1fc1fc1;

/**
 * Byte offsets of the fixed packet header + packet context (LTTng's layout, byte-packed).
 * Every packet tracelab writes starts with these 88 bytes.
 */
export const CTF_PACKET_LAYOUT = {
  magic: 0, // u32
  uuid: 4, // u8[16]
  streamId: 20, // u32
  streamInstanceId: 24, // u64
  timestampBegin: 32, // u64 (clock)
  timestampEnd: 40, // u64 (clock)
  contentSize: 48, // u64, bits
  packetSize: 56, // u64, bits
  packetSeqNum: 64, // u64
  eventsDiscarded: 72, // u64, cumulative
  cpuId: 80, // u32
  /** Total header + context size: the first event starts here. */
  size: 84,
} as const;

/** Size in bytes of the event header `{ id, timestamp(u64) }` for an id size. */
export function ctfEventHeaderSize(eventIdSize: 16 | 32 = 32): number {
  return eventIdSize / 8 + 8;
}
