import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { CtfChromeConverter, CtfReadError, openCtfTrace, type CtfEventStream } from '@tracelab/formats';
import type { CommandSpec } from './internal/commands.js';

/** The usage lines of `tracelab convert` (part of the CLI's usage text). */
export const CONVERT_USAGE = `  tracelab convert <ctf-dir> [--to chrome|text] [--out FILE]
      reads a CTF 1.8 trace (tracelab's, LTTng's, babeltrace2's) and writes it as
      Chrome/Perfetto JSON (default; to <ctf-dir>.json) or as text, one line per event like
      babeltrace2's (default: stdout); --out - is stdout; ends with "events: N, lost: M"`;

interface ConvertArgs {
  readonly dir: string;
  readonly to: 'chrome' | 'text';
  /** A path, or undefined for stdout. */
  readonly out: string | undefined;
}

function usage(message: string): never {
  throw new TracelabError('INVALID_OPTION', `${message}\nusage:\n${CONVERT_USAGE}`);
}

function parseConvert(argv: readonly string[], cwd: string): ConvertArgs {
  let dir: string | undefined;
  let to: 'chrome' | 'text' = 'chrome';
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--to') {
      const v = argv[++i];
      if (v !== 'chrome' && v !== 'text') usage(`--to must be chrome or text, got ${JSON.stringify(v ?? '')}`);
      to = v;
    } else if (a === '--out') {
      const v = argv[++i];
      if (v === undefined || v === '') usage('--out needs a file name (or - for stdout)');
      out = v;
    } else if (a.startsWith('-') && a !== '-') usage(`unknown option ${a}`);
    else if (dir === undefined) dir = a;
    else usage(`unexpected argument ${a}: convert takes one trace directory`);
  }
  if (dir === undefined) usage('convert needs the CTF trace directory');
  const abs = resolve(cwd, dir);
  // Chrome JSON goes next to the trace by default (a JSON document on a terminal is of no
  // use); text goes to stdout, as babeltrace2 prints it.
  const target = out === null ? (to === 'chrome' ? `${abs.replace(/\/+$/, '')}.json` : undefined) : out === '-' ? undefined : resolve(cwd, out);
  return { dir: abs, to, out: target };
}

/** Output bytes gathered up to this size, then written: memory stays bounded. */
const CHUNK_BYTES = 1 << 20;

/**
 * Where the output goes, a chunk at a time: the text is encoded into one reused buffer as it
 * comes (encoding each piece at once costs a fraction of joining pieces and encoding the
 * join), and the buffer is written to the file when full, or handed to `io.out` as text for
 * standard output (one call per chunk; synchronous for files and pipes on Linux).
 * Guarded by: single-threaded use by one conversion.
 */
class Output {
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;
  private readonly fd: number | undefined;
  /** Pieces not yet encoded: encoded by the 128 (one join, one encode), not one at a time. */
  private pending: string[] = [];

  constructor(
    file: string | undefined,
    private readonly io: { out(text: string): void },
  ) {
    this.fd = file === undefined ? undefined : openSync(file, 'w');
  }

  /** Appends text (no newline added). */
  push(text: string): void {
    this.pending.push(text);
    if (this.pending.length >= 128) this.encode();
  }

  private encode(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    // At most 3 bytes per UTF-16 unit.
    if (this.pos + text.length * 3 > CHUNK_BYTES) {
      this.flush();
      if (text.length * 3 > CHUNK_BYTES) {
        this.emit(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }

  flush(): void {
    this.encode();
    if (this.pos === 0) return;
    const n = this.pos;
    this.pos = 0;
    this.emit(this.buf.subarray(0, n));
  }

  /** Writes bytes that end on a line boundary (the text path's chunks), after the text pushed before them. */
  writeBytes(bytes: Uint8Array): void {
    this.flush();
    this.emit(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  private emit(bytes: Buffer): void {
    if (this.fd !== undefined) {
      for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off);
      return;
    }
    // io.out ends what it prints with a newline: a chunk's own last newline is left to it.
    const text = bytes.toString('utf8');
    this.io.out(text.endsWith('\n') ? text.slice(0, -1) : text);
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/**
 * Text: one line per event, written by the reader straight into byte chunks that end on line
 * boundaries (`CtfEventStream.writeText`); to stdout, the last line's newline comes from `io.out`.
 */
function writeText(stream: CtfEventStream, out: Output): void {
  stream.writeText((chunk) => out.writeBytes(chunk), CHUNK_BYTES);
}

/**
 * Chrome JSON, written as the events come: the track names and the spans still running at the
 * end go last (viewers sort by time; the document is the same set of events as
 * `ctfToChromeTrace`'s, not in its order).
 */
function writeChrome(stream: CtfEventStream, dir: string, out: Output): void {
  const conv = new CtfChromeConverter({ metadata: { trace: dir } });
  let first = true;
  const put = (x: object): void => {
    out.push((first ? '' : ',') + JSON.stringify(x));
    first = false;
  };
  out.push('{"traceEvents":[');
  for (const e of stream) for (const x of conv.add(e)) put(x);
  const { events, meta, otherData } = conv.finish({ ...stream.reports(), streams: stream.streams, traces: stream.traces, lost: stream.lost });
  for (const x of events) put(x);
  for (const x of meta) put(x);
  out.push(`],"displayTimeUnit":"ns","otherData":${JSON.stringify(otherData)}}`);
}

/**
 * `tracelab convert`: a CTF trace to Chrome/Perfetto JSON or text, streamed: events are read
 * through a bounded window and written a chunk at a time, so a trace larger than memory
 * converts. Returns 0, or 1 when the trace is damaged or has warnings (packets missing,
 * events_discarded going backward), after writing every event read before the damage, the
 * warnings and the summary line; throws `INVALID_OPTION` (exit 2) on bad arguments or when
 * the directory holds no CTF trace.
 */
export function cmdConvert(argv: readonly string[], io: { out(text: string): void; err(text: string): void; readonly cwd: string }): number {
  const args = parseConvert(argv, io.cwd);
  let stream: CtfEventStream;
  try {
    stream = openCtfTrace(args.dir, { onError: 'stop' });
  } catch (err) {
    if (err instanceof CtfReadError && err.ctfCode === 'CTF_NOT_FOUND') usage(err.message);
    throw err;
  }
  const out = new Output(args.out, io);
  try {
    if (args.to === 'chrome') writeChrome(stream, args.dir, out);
    else writeText(stream, out);
  } finally {
    out.close();
  }
  const { errors, warnings } = stream.reports();
  // The summary goes where it does not spoil the output: stdout when the output is a file,
  // stderr when the output itself is on stdout.
  const missing = stream.missingPackets;
  const summary = `events: ${stream.count}, lost: ${stream.lost}${missing > 0 ? `, missing packets: ${missing}` : ''}`;
  if (args.out === undefined) io.err(summary);
  else {
    io.out(`wrote ${args.out}`);
    io.out(summary);
  }
  // Warnings (packets missing, events_discarded going backward) say the trace is incomplete
  // or doubtful: printed, and exit 1 as for damage, so a script does not take it as whole.
  for (const w of warnings) io.err(`warning: ${w.code}: ${w.message}`);
  if (errors.length > 0) {
    for (const e of errors) io.err(`tracelab: ${e.ctfCode}: ${e.message}`);
    return 1;
  }
  return warnings.length > 0 ? 1 : 0;
}

/** `tracelab convert`: `main` lists it, and `bin.js` runs it without loading the other commands. */
export const CONVERT_COMMAND: CommandSpec = {
  name: 'convert',
  summary: "a CTF trace (tracelab's, LTTng's) to Perfetto JSON or babeltrace2-like text",
  help: `usage:\n${CONVERT_USAGE}\nexit codes: 0 read to the end; 1 a damaged trace (what was read is still written); 2 bad usage`,
  run: (argv, io) => cmdConvert(argv, io),
};
