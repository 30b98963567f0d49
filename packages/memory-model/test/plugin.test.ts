import { describe, expect, it } from 'vitest';
import { createKernel, encodeSchedule, replaySchedule, type Kernel, type KPath } from '@tracelab/core';
import { memoryModel, type MemoryModelApi, type MemValue } from '@tracelab/memory-model';

/** Store buffering as two kernel threads; returns what each load read. */
function sb(kernel: Kernel, fence: boolean): { r0: MemValue | null; r1: MemValue | null } {
  const api: MemoryModelApi = kernel.api['memory-model'];
  const out: { r0: MemValue | null; r1: MemValue | null } = { r0: null, r1: null };
  const side = (mine: string, other: string, key: 'r0' | 'r1') =>
    function* (): KPath<void> {
      yield* api.writeOnce(mine, 1);
      if (fence) yield* api.smpMb();
      out[key] = yield* api.readOnce(other);
    };
  kernel.spawnKthread(side('x', 'y', 'r0')(), { comm: 'P0' });
  kernel.spawnKthread(side('y', 'x', 'r1')(), { comm: 'P1' });
  expect(kernel.run().done).toBe(true);
  return out;
}

describe('memoryModel()', () => {
  it('weak: store buffering shows up without barriers, never with smp_mb() on both sides', () => {
    let weak = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = sb(createKernel({ cpus: 2, seed, plugins: [memoryModel()] }), false);
      if (r.r0 === 0 && r.r1 === 0) weak++;
      const f = sb(createKernel({ cpus: 2, seed, plugins: [memoryModel()] }), true);
      expect(f.r0 === 0 && f.r1 === 0).toBe(false);
    }
    expect(weak).toBeGreaterThan(0);
  });

  it('sc: every load returns the newest store and asks the strategy nothing', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const k = createKernel({ cpus: 2, seed, plugins: [memoryModel({ model: 'sc' })] });
      const r = sb(k, false);
      expect(r.r0 === 0 && r.r1 === 0).toBe(false);
      for (const e of k.log) if (e.type === 'memory-model/load') expect(e.index).toBe(e.newest);
    }
  });

  it('a stale load is a strategy choice: its event says so, and the schedule string replays it', () => {
    let found: Kernel | null = null;
    for (let seed = 1; seed <= 60 && found === null; seed++) {
      const k = createKernel({ cpus: 2, seed, plugins: [memoryModel()] });
      const r = sb(k, false);
      if (r.r0 === 0 && r.r1 === 0 && k.log.some((e) => e.type === 'memory-model/load' && e.index < e.newest)) found = k;
    }
    expect(found).not.toBeNull();
    const again = createKernel({ cpus: 2, seed: 999, strategy: replaySchedule(found!.schedule), plugins: [memoryModel()] });
    expect(sb(again, false)).toEqual({ r0: 0, r1: 0 });
    expect(again.logHash()).not.toBe('');
    const loads = (k: Kernel) => k.log.filter((e) => e.type === 'memory-model/load').map((e) => [e.loc, e.index, e.newest]);
    expect(loads(again)).toEqual(loads(found!));
  });

  it('the default schedule (every choice 0) is sequentially consistent', () => {
    const k = createKernel({ cpus: 2, seed: 1, strategy: replaySchedule(encodeSchedule([])), plugins: [memoryModel()] });
    const r = sb(k, false);
    expect(r.r0 === 0 && r.r1 === 0).toBe(false);
  });

  it('RMWs are atomic: concurrent atomic_add_return()s never lose an update', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const k = createKernel({ cpus: 3, seed, plugins: [memoryModel()] });
      const api = k.api['memory-model'];
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        k.spawnKthread(
          (function* () {
            seen.push(yield* api.atomicAddReturn('count', 1, i === 0 ? 'mb' : 'relaxed'));
            yield* api.atomicAdd('count', 10);
          })(),
        );
      }
      expect(k.run().done).toBe(true);
      expect(api.peek('count')).toBe(33);
      expect(new Set(seen.map((v) => v % 10)).size).toBe(3);
    }
  });

  it('cmpxchg() stores only when it finds the expected value', () => {
    const k = createKernel({ cpus: 1, seed: 1, plugins: [memoryModel()] });
    const api = k.api['memory-model'];
    api.init('v', 5);
    const got = k.call(
      (function* () {
        const a = yield* api.cmpxchg('v', 4, 9);
        const b = yield* api.cmpxchg('v', 5, 7, 'acquire');
        const c = yield* api.xchg('v', 'p', 'release');
        return [a, b, c];
      })(),
    );
    expect(got).toEqual([5, 5, 7]);
    expect(api.peek('v')).toBe('p');
  });

  it('warnOn fails the memory-model/warn-on invariant with its message', () => {
    const k = createKernel({ cpus: 1, seed: 1, plugins: [memoryModel()] });
    const api = k.api['memory-model'];
    k.spawnKthread(
      (function* () {
        yield* api.warnOn(false, 'not this');
        yield* api.warnOn(true, 'saw the flag before the data');
      })(),
    );
    const r = k.run();
    expect(r.violations[0]).toMatchObject({ name: 'memory-model/warn-on', message: 'saw the flag before the data' });
  });

  it('an unknown model is refused', () => {
    expect(() => memoryModel({ model: 'tso' as never })).toThrow(/model must be/);
  });
});
