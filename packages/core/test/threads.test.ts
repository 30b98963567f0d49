import { describe, expect, it } from 'vitest';
import { createKernel, doEachThread, getState, intMapValues, readLock, readUnlock, setThreadFlag, type KPath } from '@tracelab/core';
import { shell } from './helpers.js';

const FLAG = 'TIF_DEMO';

function* flagAll(on: boolean, schedPoints = true): KPath<{ visited: number; changed: number }> {
  yield* readLock();
  const walk = yield* doEachThread((yield* getState()).tasks, (t) => setThreadFlag(t.pid, FLAG, on), { schedPoints });
  yield* readUnlock();
  return walk;
}

describe('doEachThread and setThreadFlag', () => {
  it('visit every listed thread once, in pid order, and count the flags that changed', () => {
    const k = createKernel({ cpus: 2, seed: 5 });
    k.spawn(shell);
    k.spawn(shell);
    k.run({ maxSteps: 40 });
    const listed = [...intMapValues(k.state.tasks)].filter((t) => t.listed).map((t) => t.pid);
    const first = k.call(flagAll(true));
    // The walker itself is a listed kernel thread too.
    expect(first.visited).toBeGreaterThanOrEqual(listed.length);
    expect(first.changed).toBe(first.visited);
    const flagged = k.log.filter((e) => e.type === 'task/flags' && e.set.includes(FLAG)).map((e) => (e.type === 'task/flags' ? e.pid : -1));
    expect(flagged).toEqual([...flagged].sort((a, b) => a - b));
    expect(new Set(flagged).size).toBe(flagged.length);
    // Every thread listed before the walk and still listed after it was flagged.
    const still = new Set([...intMapValues(k.state.tasks)].filter((t) => t.listed).map((t) => t.pid));
    for (const pid of listed) if (still.has(pid)) expect(flagged).toContain(pid);
  });

  it('setThreadFlag logs nothing for a flag already as asked, and a second walk changes nothing', () => {
    const k = createKernel({ cpus: 1, seed: 2 });
    k.spawn(shell);
    k.run({ maxSteps: 10 });
    k.call(flagAll(true, false));
    const before = k.log.filter((e) => e.type === 'task/flags').length;
    const again = k.call(flagAll(true, false));
    // Each call runs in a new kernel thread: that walker is the only thread not flagged yet.
    expect(again.changed).toBe(1);
    expect(again.visited).toBeGreaterThan(1);
    expect(k.log.filter((e) => e.type === 'task/flags').length - before).toBe(1);
    const cleared = k.call(flagAll(false, false));
    expect(cleared.changed).toBeGreaterThan(0);
    expect([...intMapValues(k.state.tasks)].every((t) => t.flags[FLAG] !== true)).toBe(true);
  });

  it('takes a scheduling point between two threads only when asked: without, the walk is one atomic step', () => {
    const interleaved = (schedPoints: boolean) => {
      const k = createKernel({ cpus: 2, seed: 1 });
      k.spawn(shell);
      k.spawn(shell);
      k.run({ maxSteps: 10 });
      const at = k.log.length;
      k.call(flagAll(true, schedPoints));
      const walk = k.log.slice(at).filter((e) => e.type === 'task/flags');
      const walker = walk[0]!.cpu;
      // Events of the other CPU logged between the walk's first and last flag.
      return k.log.slice(walk[0]!.seq, walk.at(-1)!.seq).filter((e) => e.cpu >= 0 && e.cpu !== walker).length;
    };
    expect(interleaved(false)).toBe(0);
    expect(interleaved(true)).toBeGreaterThan(0);
  });
});
