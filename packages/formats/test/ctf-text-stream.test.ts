import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctfTextLines, openCtfTrace, readCtfTrace, type CtfEventStream } from '@tracelab/formats';

const FIXTURES = join(__dirname, 'fixtures');
const TRACES = [
  'handmade/features-plain',
  'handmade/features-be',
  'handmade/kernel-compact',
  'lttng-ust/percpu',
  'lttng-ust/discard',
  'lttng-ust/bt2-ctf',
  'tracelab/run-seed5',
];
const hasBt2 = spawnSync('babeltrace2', ['--version']).status === 0;

/** `writeText`'s chunks, copied (the reader reuses its buffer). */
function chunksOf(s: CtfEventStream, chunkBytes?: number): Buffer[] {
  const chunks: Buffer[] = [];
  s.writeText((c) => chunks.push(Buffer.from(c)), chunkBytes);
  return chunks;
}

/** What iterating and formatting gives: `ctfTextLines`, one newline after each line. */
function expected(dir: string): string {
  return ctfTextLines(readCtfTrace(dir, { onError: 'stop' }))
    .map((l) => `${l}\n`)
    .join('');
}

function tmpCopy(fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctf-text-'));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

describe('CtfEventStream.writeText: the text path', () => {
  it.each(TRACES)('%s: the same bytes as ctfTextLines, in chunks that end on line boundaries', (t) => {
    const dir = join(FIXTURES, t);
    const s = openCtfTrace(dir, { windowBytes: 4096 });
    const chunks = chunksOf(s, 300);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toBe(expected(dir));
    const whole = readCtfTrace(dir);
    expect(s.count).toBe(whole.events.length);
    expect(s.lost).toBe(whole.lost);
    expect(s.streams).toEqual(whole.streams);
    for (const c of chunks) {
      expect(c[c.length - 1]).toBe(10);
      // Over the chunk size only when one line is longer than it.
      if (c.length > 300) expect(c.indexOf(10)).toBe(c.length - 1);
    }
  });

  it.skipIf(!hasBt2)('handmade/features-plain (every event written from the bytes): what babeltrace2 prints, byte for byte', () => {
    const dir = join(FIXTURES, 'handmade/features-plain');
    const bt = spawnSync('babeltrace2', ['--clock-seconds', '--no-delta', dir]);
    expect(bt.status).toBe(0);
    const ours = Buffer.concat(chunksOf(openCtfTrace(dir)));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.equals(bt.stdout)).toBe(true);
  });

  it('a file cut inside an event: the lines before it, the same damage as the object reader', () => {
    for (const fixture of ['handmade/features-plain', 'handmade/kernel-compact']) {
      const dir = tmpCopy(fixture);
      const file = join(dir, fixture.endsWith('plain') ? 'chan_1' : 'chan_0');
      truncateSync(file, statSync(file).size - 700);
      const s = openCtfTrace(dir, { onError: 'stop' });
      expect(Buffer.concat(chunksOf(s)).toString('utf8')).toBe(expected(dir));
      const r = readCtfTrace(dir, { onError: 'stop' });
      expect(s.count).toBe(r.events.length);
      expect(s.errors.map((e) => e.message)).toEqual(r.errors.map((e) => e.message));
      expect(s.errors[0]!.ctfCode).toBe('CTF_TRUNCATED');
      // 'throw' mode: every line is written, then the damage is thrown.
      const lines: Buffer[] = [];
      expect(() => openCtfTrace(dir).writeText((c) => lines.push(Buffer.from(c)))).toThrow(/CTF_TRUNCATED|declares/);
      expect(Buffer.concat(lines).toString('utf8')).toBe(expected(dir));
    }
  });

  it('a value that cannot be decoded (a string running past content_size) is damage, its line not written', () => {
    const dir = tmpCopy('handmade/features-plain');
    const file = join(dir, 'chan_0');
    const bytes = readFileSync(file);
    // The first event's procname: overwrite its NUL and everything after it in the packet.
    const at = bytes.indexOf('worker\0', 0, 'latin1');
    bytes.fill(0x41, at, 1024);
    writeFileSync(file, bytes);
    const s = openCtfTrace(dir, { onError: 'stop' });
    const text = Buffer.concat(chunksOf(s)).toString('utf8');
    expect(text).toBe(expected(dir));
    expect(s.errors[0]!.ctfCode).toBe('CTF_BAD_PACKET');
    expect(text).not.toContain('cpu_id = 0 }');
  });

  it('is the stream read once: after iterating, and before it', () => {
    const dir = join(FIXTURES, 'handmade/features-plain');
    const a = openCtfTrace(dir);
    for (const _ of a) break;
    expect(() => a.writeText(() => undefined)).toThrow(/iterated once/);
    const b = openCtfTrace(dir);
    b.writeText(() => undefined);
    expect(() => [...b]).toThrow(/iterated once/);
  });

  it('rejects a chunk size that is not a positive integer, with a coded error', () => {
    const s = openCtfTrace(join(FIXTURES, 'handmade/features-plain'));
    expect(() => s.writeText(() => undefined, 0)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }) as Error);
  });
});
