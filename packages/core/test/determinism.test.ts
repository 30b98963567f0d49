import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  createKernel,
  decodeSchedule,
  encodeSchedule,
  encodeScheduleRuns,
  parseSchedule,
  replay,
  replaySchedule,
  TracelabError,
} from '@tracelab/core';
import { expectClean, shell } from './helpers.js';

function runShell(seed: number, strategy?: ReturnType<typeof replaySchedule>) {
  const k = createKernel({ cpus: 3, seed, ...(strategy ? { strategy } : {}) });
  k.spawn(shell);
  k.spawn(shell);
  expectClean(k, k.run());
  return k;
}

const ndjson = (k: { log: readonly unknown[] }) => k.log.map((e) => canonicalJson(e) + '\n').join('');

describe('determinism', () => {
  it('gives the same log, hash and schedule for the same seed, and another for another seed', () => {
    const a = runShell(42);
    const b = runShell(42);
    expect(b.logHash()).toBe(a.logHash());
    expect(b.schedule).toBe(a.schedule);
    expect(ndjson(b)).toBe(ndjson(a));
    const c = runShell(43);
    expect(c.logHash()).not.toBe(a.logHash());
  });

  it('re-runs a schedule string exactly: the choices alone make the run', () => {
    const a = runShell(7);
    const again = runShell(7, replaySchedule(a.schedule));
    expect(again.logHash()).toBe(a.logHash());
    expect(again.schedule).toBe(a.schedule);
    // Another seed changes the header only: the seed draws nothing when the schedule decides.
    const other = runShell(999, replaySchedule(a.schedule));
    expect(ndjson({ log: other.log.slice(1) })).toBe(ndjson({ log: a.log.slice(1) }));
  });

  it('says where a schedule diverges from the run', () => {
    const a = runShell(7);
    const k = createKernel({ cpus: 1, seed: 1, strategy: replaySchedule(encodeSchedule([35, ...decodeSchedule(a.schedule)], { steps: a.steps })) });
    k.spawn(shell);
    k.spawn(shell);
    expect(() => k.run()).toThrow(expect.objectContaining({ code: 'SCHEDULE_DIVERGED' }));
  });

  it('logHash is the SHA-256 of the canonical NDJSON log', async () => {
    const { createHash } = await import('node:crypto');
    const a = runShell(5);
    expect(a.logHash()).toBe(createHash('sha256').update(ndjson(a)).digest('hex'));
  });
});

describe('replay', () => {
  it('rebuilds the same state and hash from the NDJSON log', () => {
    const a = runShell(11);
    const r = replay(ndjson(a));
    expect(r.logHash()).toBe(a.logHash());
    expect(r.state).toEqual(a.state);
    expect(r.report).toEqual({ events: a.log.length, truncated: null });
    expect(() => r.run()).toThrow(expect.objectContaining({ code: 'REPLAY_READ_ONLY' }));
  });

  it('stateAt(seq) is the state after that event, across snapshot boundaries', () => {
    const a = createKernel({ cpus: 2, seed: 3 });
    for (let i = 0; i < 16; i++) a.spawn(shell);
    expectClean(a, a.run());
    expect(a.log.length).toBeGreaterThan(2100);
    for (const seq of [0, 5, 1022, 1023, 1024, 1500, 2047, 2048, a.log.length - 1]) {
      const prefix = replay(a.log.slice(0, seq + 1));
      expect(a.stateAt(seq)).toEqual(prefix.state);
    }
    expect(a.stateAt(a.log.length - 1)).toBe(a.state);
    expect(() => a.stateAt(a.log.length)).toThrow(expect.objectContaining({ code: 'SEQ_OUT_OF_RANGE' }));
  });
});

describe('schedule strings', () => {
  const choices = [0, 0, 0, 0, 1, 2, 2, 35, 36, 1000, 1000, 1000, 0];

  it('round-trip, compress runs and carry the choice count, the step count and a checksum', () => {
    const s = encodeSchedule(choices, { steps: 20 });
    expect(s).toMatch(/^S2:13\.20:0\{4\}122z\(10\)\(rs\)\{3\}0:[0-9a-z]{7}$/);
    expect(decodeSchedule(s)).toEqual(choices);
    expect(parseSchedule(s)).toMatchObject({ version: 2, choices: 13, steps: 20 });
    expect(() => decodeSchedule('bogus')).toThrow(expect.objectContaining({ code: 'SCHEDULE_INVALID' }));
  });

  it('refuses every string with one character cut or changed, naming what is wrong', () => {
    const s = encodeSchedule(choices, { steps: 20 });
    for (let i = 0; i < s.length; i++) {
      const cut = s.slice(0, i) + s.slice(i + 1);
      expect(() => parseSchedule(cut), `cut at ${i}: ${cut}`).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SCHEDULE_(INVALID|VERSION)$/) }));
      for (const ch of ['0', '1', 'z', '{']) {
        if (s[i] === ch) continue;
        const changed = s.slice(0, i) + ch + s.slice(i + 1);
        expect(() => parseSchedule(changed), `changed at ${i}: ${changed}`).toThrow(TracelabError);
      }
    }
  });

  it('binds the checksum to a context, so a string made for one target fails on another', () => {
    const s = encodeSchedule([1, 0, 1], { steps: 9, context: 'no-recopy@1' });
    expect(decodeSchedule(s, { context: 'no-recopy@1' })).toEqual([1, 0, 1]);
    expect(() => decodeSchedule(s, { context: 'no-recopy@2' })).toThrow(/checksum/);
    expect(() => decodeSchedule(s)).toThrow(/checksum/);
  });

  it('checks run-length counts against the header before expanding anything', () => {
    const t0 = process.memoryUsage().heapUsed;
    const e = (() => {
      try {
        parseSchedule('S2:4.11:0{10000000000}:0000000');
      } catch (err) {
        return err as TracelabError;
      }
      return null;
    })();
    expect(e).toMatchObject({ code: 'SCHEDULE_INVALID', detail: { position: 9 } });
    expect(e!.message).toMatch(/repeat count 10000000000 takes .*4 choices at character 9/);
    expect(process.memoryUsage().heapUsed - t0).toBeLessThan(50_000_000);
    expect(() => parseSchedule('S2:99999999999999999999.1::0000000')).toThrow(/choice count .* at character 3/);
    expect(() => parseSchedule('S2:1.1:(zzzzzzzzzz):0000000')).toThrow(/choice value .* at character 7/);
  });

  it('replays a long run without expanding it', () => {
    const s = encodeScheduleRuns([[0, 1e12]], { steps: 1e12 });
    expect(parseSchedule(s)).toMatchObject({ choices: 1e12, runs: [[0, 1e12]] });
    expect(() => decodeSchedule(s)).toThrow(/too long to expand/);
    const k = createKernel({ cpus: 1, seed: 1, strategy: replaySchedule(s) });
    k.spawn(shell);
    k.spawn(shell);
    expect(k.run().done).toBe(true);
  });

  it('names an S1 string (no checksum) as the old format instead of guessing', () => {
    expect(() => parseSchedule('S1:0{4}1')).toThrow(
      expect.objectContaining({ code: 'SCHEDULE_VERSION', message: expect.stringMatching(/S1.*no checksum.*re-run/) }),
    );
    expect(() => replaySchedule('S1:0{10000000000}')).toThrow(expect.objectContaining({ code: 'SCHEDULE_VERSION' }));
  });

  it("a kernel's schedule carries its choices and steps", () => {
    const a = runShell(7);
    const info = parseSchedule(a.schedule);
    expect(info.steps).toBe(a.steps);
    expect(info.choices).toBeGreaterThan(0);
  });
});
