/**
 * The CTF reader's error: a `TracelabError` with a stable CTF code, the file and byte offset
 * of the damage, and every event decoded before it.
 */
import { TracelabError } from '@tracelab/core';

/**
 * Stable codes of the CTF reader (tools and tests match on them, never on messages):
 * - `CTF_NOT_FOUND`: no `metadata` file in the directory or below it;
 * - `CTF_METADATA`: the metadata cannot be read or parsed (the message names the line);
 * - `CTF_BAD_MAGIC`: a packet does not start with 0xC1FC1FC1 (also how a wrong byte order shows);
 * - `CTF_TRUNCATED`: the file ends inside a packet (mid-event or in its padding);
 * - `CTF_BAD_PACKET`: impossible sizes (content_size > packet_size, 0, not whole bytes) or an
 *   event running past its packet's content;
 * - `CTF_UNKNOWN_STREAM`, `CTF_UNKNOWN_EVENT`: an id the metadata does not declare;
 * - `CTF_PACKET_ORDER`: a packet out of order in its stream: `packet_seq_num` not above the
 *   previous packet's (swapped packets, a stream appended to itself), or its time before the
 *   previous packet's end (babeltrace2 2.0.4 fails on both).
 *
 * They join the core's `TracelabErrorCode` through `TracelabErrorCodes` (declaration merging).
 */
export type CtfErrorCode =
  'CTF_NOT_FOUND' | 'CTF_METADATA' | 'CTF_BAD_MAGIC' | 'CTF_TRUNCATED' | 'CTF_BAD_PACKET' | 'CTF_UNKNOWN_STREAM' | 'CTF_UNKNOWN_EVENT' | 'CTF_PACKET_ORDER';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    CTF_NOT_FOUND: true;
    CTF_METADATA: true;
    CTF_BAD_MAGIC: true;
    CTF_TRUNCATED: true;
    CTF_BAD_PACKET: true;
    CTF_UNKNOWN_STREAM: true;
    CTF_UNKNOWN_EVENT: true;
    CTF_PACKET_ORDER: true;
  }
}

/** What a damaged trace still gave: set on the error before it leaves the reader. */
export interface CtfPartial<E> {
  /** Every event decoded before the damage (all of the undamaged streams, merged). */
  events: readonly E[];
}

export class CtfReadError<E = unknown> extends TracelabError implements CtfPartial<E> {
  /** The CTF code (also `code`, and `detail.ctfCode`). */
  readonly ctfCode: CtfErrorCode;
  /** The file where the damage is, when it is in a file. */
  readonly file: string | undefined;
  /** Byte offset of the damage in `file`. */
  readonly offset: number | undefined;
  events: readonly E[] = [];

  constructor(code: CtfErrorCode, message: string, where: { file?: string; offset?: number; line?: number } = {}) {
    super(code, message, { ...where, ctfCode: code });
    this.ctfCode = code;
    this.file = where.file;
    this.offset = where.offset;
  }
}

/** A CTF error without a file position (metadata, discovery). */
export function ctfError(code: CtfErrorCode, message: string, where: { file?: string; offset?: number; line?: number; source?: string } = {}): CtfReadError {
  const { source, ...rest } = where;
  return new CtfReadError(code, message, source !== undefined && rest.file === undefined ? { ...rest, file: source } : rest);
}
