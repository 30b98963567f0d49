import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, createKernel, replay, TracelabError } from '@tracelab/core';
import { expectClean, shell } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tracelab-logfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the log streamed to a file (logFile)', () => {
  it('writes the same canonical NDJSON the in-memory log hashes, and keeps only the unwritten events in memory', () => {
    const file = join(dir, 'run.ndjson');
    const streamed = createKernel({ cpus: 2, seed: 4, logFile: file });
    const kept = createKernel({ cpus: 2, seed: 4 });
    let most = 0;
    streamed.events$.subscribe(() => (most = Math.max(most, streamed.log.length)));
    for (const k of [streamed, kept]) {
      k.spawn(shell);
      k.spawn(shell);
      expectClean(k, k.run());
    }
    const lines = readFileSync(file, 'utf8');
    expect(lines).toBe(kept.log.map((e) => canonicalJson(e) + '\n').join(''));
    expect(streamed.logHash()).toBe(kept.logHash());
    // Between host calls every event is on disk and none in memory; during a step, at most that step's.
    expect(streamed.log).toEqual([]);
    expect(most).toBeLessThan(kept.log.length / 10);
    // The state is the same, and stateAt reads early events back from the file.
    expect(JSON.stringify(streamed.state)).toBe(JSON.stringify(kept.state));
    for (const seq of [-1, 0, 7, 100, Math.floor(kept.log.length / 2), kept.log.length - 2]) {
      expect(JSON.stringify(streamed.stateAt(seq))).toBe(JSON.stringify(kept.stateAt(seq)));
    }
    // The file is a log like any other: replay folds it to the same run.
    expect(replay(lines).logHash()).toBe(kept.logHash());
  });

  it('is refused by reset, and a logFile that is not a path is refused at creation', () => {
    const k = createKernel({ logFile: join(dir, 'other.ndjson') });
    expect(() => k.reset()).toThrowError(TracelabError);
    try {
      k.reset();
    } catch (err) {
      expect((err as TracelabError).code).toBe('RESET_UNSUPPORTED');
    }
    expect(() => createKernel({ logFile: '' })).toThrowError(/logFile must be a file path/);
  });
});

describe('logToNdjson', () => {
  it('is the text whose SHA-256 is logHash(), and replay reads it back to the same hash', async () => {
    const { createHash } = await import('node:crypto');
    const { logToNdjson } = await import('@tracelab/core');
    const k = createKernel({ cpus: 2, seed: 9 });
    k.spawn(shell);
    k.run({ maxSteps: 5_000 });
    const text = logToNdjson(k.log);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(k.log.length + 1);
    expect(text.split('\n')[0]).toBe(canonicalJson(k.log[0]));
    expect(createHash('sha256').update(text).digest('hex')).toBe(k.logHash());
    expect(replay(text).logHash()).toBe(k.logHash());
    expect(logToNdjson([])).toBe('');
  });
});
