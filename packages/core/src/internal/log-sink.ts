import type { KernelEvent } from '../events.js';
import { canonicalJson } from './canonical-json.js';

/**
 * node:fs and node:string_decoder, loaded when a sink is made, not imported: the core is also
 * bundled for the viewer's page (a browser, no file system), which never streams a log.
 */
function nodeModules(): { fs: typeof import('node:fs'); sd: typeof import('node:string_decoder') } {
  return { fs: process.getBuiltinModule('node:fs'), sd: process.getBuiltinModule('node:string_decoder') };
}

/** Events per entry of the offset index: `read` starts at most this many lines before what it needs. */
const CHUNK = 4096;
/** Buffered text written out past this many bytes (and at `drain`). */
const FLUSH_BYTES = 1 << 20;

/**
 * The log streamed to a file as canonical NDJSON (`KernelOptions.logFile`), the same lines
 * `logHash` hashes and `replay` reads: published events are written and leave memory, so a long
 * run keeps only its state, its snapshots and this buffer. `read` gives `stateAt` the events it
 * needs back from the file, through an index of byte offsets (one per CHUNK events).
 *
 * Host-side I/O outside the simulation: the run's events are the same with or without it. Written
 * only by the store's `flush` (write) and the kernel's host actions (drain), single-threaded.
 */
export class LogSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Bytes in the file plus `pending`; the next line starts here. */
  private bytes = 0;
  /** Events written (or pending) so far. */
  private count = 0;
  /** offsets[k]: the byte offset of event k * CHUNK. */
  private readonly offsets: number[] = [];

  private readonly fs: typeof import('node:fs');
  private readonly sd: typeof import('node:string_decoder');

  constructor(readonly file: string) {
    ({ fs: this.fs, sd: this.sd } = nodeModules());
    this.fs.closeSync(this.fs.openSync(file, 'w'));
  }

  /** Queues `e` as one line; returns the line (the store hashes it). */
  write(e: KernelEvent): string {
    const line = canonicalJson(e) + '\n';
    if (this.count % CHUNK === 0) this.offsets.push(this.bytes);
    this.count++;
    const n = Buffer.byteLength(line);
    this.bytes += n;
    this.pending.push(line);
    this.pendingBytes += n;
    if (this.pendingBytes >= FLUSH_BYTES) this.drain();
    return line;
  }

  drain(): void {
    if (this.pending.length === 0) return;
    const fd = this.fs.openSync(this.file, 'a');
    try {
      this.fs.writeSync(fd, this.pending.join(''));
    } finally {
      this.fs.closeSync(fd);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Events `from` .. `to - 1`, parsed back from the file. */
  *read(from: number, to: number): Generator<KernelEvent, void, undefined> {
    if (from >= to) return;
    this.drain();
    const k = Math.floor(from / CHUNK);
    let seq = k * CHUNK;
    let pos = this.offsets[k]!;
    const fd = this.fs.openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      const text = new this.sd.StringDecoder('utf8');
      let rest = '';
      for (;;) {
        const n = this.fs.readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) return;
        pos += n;
        const lines = (rest + text.write(buf.subarray(0, n))).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (seq >= to) return;
          if (seq >= from) yield JSON.parse(line) as KernelEvent;
          seq++;
        }
      }
    } finally {
      this.fs.closeSync(fd);
    }
  }
}
