import { describe, expect, it } from 'vitest';
import { canonicalJson, createKernel, decodeSchedule, encodeSchedule, replay, replaySchedule, TracelabError } from '@tracelab/core';
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
    const k = createKernel({ cpus: 1, seed: 1, strategy: replaySchedule(a.schedule.replace('S1:', 'S1:z')) });
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
  it('round-trip, compress runs and reject garbage with a position', () => {
    const choices = [0, 0, 0, 0, 1, 2, 2, 35, 36, 1000, 1000, 1000, 0];
    const s = encodeSchedule(choices);
    expect(s).toBe('S1:0{4}122z(10)(rs){3}0');
    expect(decodeSchedule(s)).toEqual(choices);
    expect(() => decodeSchedule('S1:0{x}')).toThrow(TracelabError);
    expect(() => decodeSchedule('bogus')).toThrow(expect.objectContaining({ code: 'SCHEDULE_INVALID' }));
  });
});
