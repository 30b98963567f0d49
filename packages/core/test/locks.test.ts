import { describe, expect, it } from 'vitest';
import { createKernel, mutexLock, mutexUnlock, readLock, readUnlock, writeLock, writeUnlock, type KernelEvent } from '@tracelab/core';
import { SEEDS, points, printks, say, expectClean } from './helpers.js';

describe('mutexes', () => {
  it('have one holder at a time, and hand over to waiters in arrival order', () => {
    let contended = 0;
    for (const seed of SEEDS(40)) {
      const k = createKernel({ cpus: 3, seed });
      for (let i = 0; i < 4; i++) {
        k.spawnKthread(
          (function* () {
            for (let round = 0; round < 2; round++) {
              yield* mutexLock('m');
              yield* say(`in ${i}`);
              yield* points(3);
              yield* say(`out ${i}`);
              yield* mutexUnlock('m');
            }
          })(),
          { comm: `worker${i}` },
        );
      }
      const res = k.run();
      expectClean(k, res);
      expect(res.done).toBe(true);
      // Critical sections never overlap: in/out strictly alternate, with the same worker.
      const texts = printks(k).map((p) => p.text);
      expect(texts).toHaveLength(16);
      for (let j = 0; j < texts.length; j += 2) {
        expect(texts[j]!.startsWith('in ')).toBe(true);
        expect(texts[j + 1]).toBe(`out ${texts[j]!.slice(3)}`);
      }
      // FIFO hand-over: each waiter gets the mutex in the order it queued.
      const waits = k.log.filter((e): e is KernelEvent<'lock/wait'> => e.type === 'lock/wait' && e.lock === 'm').map((e) => e.pid);
      const handoffs = k.log.filter((e): e is KernelEvent<'lock/acquired'> => e.type === 'lock/acquired' && e.lock === 'm' && e.handoff).map((e) => e.pid);
      expect(handoffs).toEqual(waits);
      contended += waits.length;
    }
    expect(contended).toBeGreaterThan(20);
  });

  it('reports a lock-order deadlock (ABBA) as a stuck run naming the waiters', () => {
    let found: string | undefined;
    for (const seed of SEEDS(60)) {
      const k = createKernel({ cpus: 2, seed });
      const ab = (a: string, b: string) =>
        (function* () {
          yield* mutexLock(a);
          yield* points(2);
          yield* mutexLock(b);
          yield* mutexUnlock(b);
          yield* mutexUnlock(a);
        })();
      k.spawnKthread(ab('A', 'B'));
      k.spawnKthread(ab('B', 'A'));
      const res = k.run();
      if (res.violations.length > 0) {
        expect(res.violations[0]!.name).toBe('kernel/stuck');
        found = res.violations[0]!.message;
        break;
      }
      expect(res.done).toBe(true);
    }
    expect(found).toMatch(/mutex:A/);
    expect(found).toMatch(/mutex:B/);
  });
});

describe('the tasklist rwlock', () => {
  it('lets readers share and a writer exclude everyone', () => {
    let sharedReaders = 0;
    for (const seed of SEEDS(40)) {
      const k = createKernel({ cpus: 3, seed });
      for (let i = 0; i < 3; i++) {
        k.spawnKthread(
          (function* () {
            yield* readLock();
            yield* say('r+');
            yield* points(3);
            yield* say('r-');
            yield* readUnlock();
          })(),
        );
      }
      k.spawnKthread(
        (function* () {
          yield* points(1);
          yield* writeLock();
          yield* say('w+');
          yield* points(3);
          yield* say('w-');
          yield* writeUnlock();
        })(),
      );
      const res = k.run();
      expectClean(k, res);
      let readers = 0;
      let writer = false;
      for (const p of printks(k)) {
        if (p.text === 'r+') {
          expect(writer).toBe(false);
          readers++;
          if (readers > 1) sharedReaders++;
        } else if (p.text === 'r-') readers--;
        else if (p.text === 'w+') {
          expect(readers).toBe(0);
          expect(writer).toBe(false);
          writer = true;
        } else if (p.text === 'w-') writer = false;
      }
    }
    expect(sharedReaders).toBeGreaterThan(0);
  });
});
