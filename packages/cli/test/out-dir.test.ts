import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '@tracelab/cli';

type Fs = { writeFileSync(path: string, data: string | Uint8Array): void };

function io(fs?: Fs) {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-out-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), ...(fs ? { fs } : {}) } };
}

/** A disk that fills up: writes under `prefix` get `bytes` bytes in, then ENOSPC (the file is left cut). */
function fullDisk(match: (path: string) => boolean, bytes: number): Fs {
  return {
    writeFileSync(path, data) {
      if (!match(path)) return writeFileSync(path, data);
      const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
      if (buf.length <= bytes) return writeFileSync(path, buf);
      writeFileSync(path, buf.subarray(0, bytes));
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
    },
  };
}

const hashOf = (dir: string) =>
  createHash('sha256')
    .update(readFileSync(join(dir, 'events.ndjson')))
    .digest('hex');
const keptDir = (err: string[]) => /files are in (\S+) instead/.exec(err.join('\n'))?.[1];

describe('tracelab run: --out failures lose nothing', () => {
  it('refuses an --out that is a file, or lies under a file, before running', () => {
    const t = io();
    writeFileSync(join(t.cwd, 'f'), 'x');
    expect(main(['run', '--out', 'f'], t.io)).toBe(2);
    expect(main(['run', '--out', 'f/sub'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/--out \S+\/f is a file, not a folder[\s\S]*--out \S+\/f\/sub cannot be made: \S+\/f is a file/);
    expect(t.out).toEqual([]); // nothing was simulated
    expect(readFileSync(join(t.cwd, 'f'), 'utf8')).toBe('x');
  });

  it.skipIf(process.getuid?.() === 0)('refuses an unwritable --out before running', () => {
    const t = io();
    mkdirSync(join(t.cwd, 'ro'));
    chmodSync(join(t.cwd, 'ro'), 0o555);
    expect(main(['run', '--out', 'ro/o'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/not writable/);
  });

  it('a full disk mid-log leaves no cut log at --out: the run is kept whole elsewhere and the message says where', () => {
    const t = io(fullDisk((p) => p.includes('/.o.tmp-'), 5000));
    expect(main(['run', '--seed', '4', '--max-steps', '3000', '--out', 'o'], t.io)).toBe(2);
    expect(existsSync(join(t.cwd, 'o'))).toBe(false);
    expect(readdirSync(t.cwd)).toEqual([]); // no temporary folder left beside it
    const kept = keptDir(t.err)!;
    expect(t.err.join('\n')).toMatch(/could not write \S+\/o \(ENOSPC/);
    const summary = JSON.parse(readFileSync(join(kept, 'summary.json'), 'utf8'));
    expect(hashOf(kept)).toBe(summary.logHash);
    expect(readFileSync(join(kept, 'events.ndjson'), 'utf8').endsWith('\n')).toBe(true);
    expect(t.out.join('\n')).toContain(`outputs in ${kept}:`);
  });

  it('a failed re-run leaves the previous run whole, not a folder mixing two runs', () => {
    const t = io();
    expect(main(['run', '--seed', '1', '--max-steps', '2000', '--out', 'o'], t.io)).toBe(0);
    const first = JSON.parse(readFileSync(join(t.cwd, 'o', 'summary.json'), 'utf8'));
    const failing = io(fullDisk((p) => p.includes('/.o.tmp-') && p.endsWith('summary.json'), 10));
    const again = { ...failing.io, cwd: t.cwd };
    expect(main(['run', '--seed', '2', '--max-steps', '2000', '--out', 'o'], again)).toBe(2);
    const now = JSON.parse(readFileSync(join(t.cwd, 'o', 'summary.json'), 'utf8'));
    expect(now.logHash).toBe(first.logHash);
    expect(hashOf(join(t.cwd, 'o'))).toBe(first.logHash);
    const kept = keptDir(failing.err)!;
    expect(JSON.parse(readFileSync(join(kept, 'summary.json'), 'utf8')).seed).toBe(2);
    // A re-run that succeeds replaces the folder whole.
    expect(main(['run', '--seed', '3', '--max-steps', '2000', '--out', 'o'], t.io)).toBe(0);
    const third = JSON.parse(readFileSync(join(t.cwd, 'o', 'summary.json'), 'utf8'));
    expect(third.seed).toBe(3);
    expect(hashOf(join(t.cwd, 'o'))).toBe(third.logHash);
    expect(readdirSync(t.cwd).sort()).toEqual(['o']);
  });

  it('when no folder can be written at all, it says so and prints the hash to re-make the run', () => {
    const t = io(fullDisk(() => true, 0));
    expect(main(['run', '--seed', '4', '--max-steps', '1000', '--out', 'o'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/could not write \S+\/o \(ENOSPC.*nor a fallback folder.*same arguments write it again \(log hash [0-9a-f]{64}\)/);
    expect(t.out.join('\n')).toMatch(/wrote nothing/);
    expect(existsSync(join(t.cwd, 'o'))).toBe(false);
  });
});

describe('tracelab explore: --out failures lose no counterexample', () => {
  it('refuses an --out that is a file before searching', () => {
    const t = io();
    writeFileSync(join(t.cwd, 'f'), 'x');
    expect(main(['explore', 'fork-flag-race', '--variant', 'no-recopy', '--budget', '50', '--out', 'f'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/is a file, not a folder/);
  });

  it('keeps the counterexample when the destination fails mid-write, and prints its replay string', () => {
    const t = io(fullDisk((p) => p.includes('/.x.tmp-'), 100));
    expect(main(['explore', 'fork-flag-race', '--variant', 'no-recopy', '--budget', '50', '--out', 'x'], t.io)).toBe(2);
    const text = t.out.join('\n');
    expect(text).toMatch(/VIOLATION ktrace\/flag/);
    const hash = /log hash {7}([0-9a-f]{64})/.exec(text)![1]!;
    expect(text).toMatch(/replay string {2}no-recopy/);
    const kept = /files are in (\S+) instead/.exec(t.err.join('\n'))![1]!;
    expect(hashOf(kept)).toBe(hash);
    expect(existsSync(join(t.cwd, 'x'))).toBe(false);
  });
});
