import { describe, expect, it } from 'vitest';
import { createKernel, mutexLock, mutexUnlock, msleep, SIGCONT, SIGSTOP, type Program } from '@tracelab/core';
import { SEEDS, points } from './helpers.js';

/**
 * Issue 13 §3: a kernel whose tasks are all stopped, waiting for a tracer or a SIGCONT the host
 * controls, is idle, not deadlocked. `run` says what each task waits on and the host can go on;
 * `kernel/stuck` stays for real deadlocks.
 */
describe('a kernel waiting for its host', () => {
  /** Stops itself (as a ptrace'd or job-controlled task would be stopped), then finishes. */
  const selfStopper: Program = function* stopper(u) {
    const me = (yield u.syscall('getpid')) as number;
    yield u.kill(me, SIGSTOP);
    yield u.compute(2);
    yield u.exit(0);
  };

  it('returns done: false with what each task waits on, no violation, and runs on once resumed', () => {
    for (const seed of SEEDS(10)) {
      const k = createKernel({ cpus: 2, seed });
      const a = k.spawn(selfStopper, { comm: 'a' });
      const b = k.spawn(selfStopper, { comm: 'b' });
      // A sleeper behind them: it may be woken once the stopped tasks go on.
      k.spawnKthread(
        (function* () {
          yield* msleep(3);
        })(),
        { comm: 'napper' },
      );
      const r = k.run();
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(false);
      expect(r.waiting.map((w) => [w.pid, w.state, w.on])).toEqual([
        [a, 'stopped', `stopped:${a}`],
        [b, 'stopped', `stopped:${b}`],
      ]);
      // A later call works (it threw the sticky kernel/stuck before): the host resumes them.
      const resumer = k.spawn(function* resume(u) {
        yield u.kill(a, SIGCONT);
        yield u.kill(b, SIGCONT);
        yield u.exit(0);
      });
      expect(
        k.call(
          (function* () {
            yield* points(1);
            return 7;
          })(),
        ),
      ).toBe(7);
      const r2 = k.run();
      expect(r2.violations).toEqual([]);
      expect(r2.waiting).toEqual([]);
      expect(r2.done).toBe(true);
      expect(k.log.some((e) => e.type === 'task/exit' && e.pid === resumer)).toBe(true);
    }
  });

  it('still reports a lock-order deadlock as kernel/stuck, even with a stopped task beside it', () => {
    let found = 0;
    for (const seed of SEEDS(60)) {
      const k = createKernel({ cpus: 2, seed });
      const ab = (x: string, y: string) =>
        (function* () {
          yield* mutexLock(x);
          yield* points(2);
          yield* mutexLock(y);
          yield* mutexUnlock(y);
          yield* mutexUnlock(x);
        })();
      const p1 = k.spawnKthread(ab('A', 'B'), { comm: 'ab' });
      const p2 = k.spawnKthread(ab('B', 'A'), { comm: 'ba' });
      k.spawn(selfStopper, { comm: 'stopped' });
      const r = k.run();
      if (r.violations.length === 0) {
        // No deadlock this time: only the stopped task is left, waiting for its host.
        expect(r.waiting.map((w) => w.state)).toEqual(['stopped']);
        continue;
      }
      found++;
      expect(r.violations[0]!.name).toBe('kernel/stuck');
      expect(r.violations[0]!.message).toMatch(
        new RegExp(`lock-order deadlock: pid (${p1}|${p2}) .* waits for (A|B), held by pid (${p1}|${p2}) .* waits for (A|B), held by pid`),
      );
      expect(r.waiting).toEqual([]);
    }
    expect(found).toBeGreaterThan(3);
  });

  it('still reports every task asleep on what nothing can wake as kernel/stuck', () => {
    const k = createKernel({ cpus: 2 });
    k.spawnKthread(
      (function* () {
        yield* mutexLock('M');
      })(),
      { comm: 'holder' },
    );
    k.spawnKthread(
      (function* () {
        yield* points(3);
        yield* mutexLock('M');
      })(),
      { comm: 'waiter' },
    );
    const r = k.run();
    expect(r.violations.map((v) => v.name)).toEqual(['kernel/stuck']);
    expect(r.violations[0]!.message).toMatch(/no task can run and no timer is pending: .*waiter.* sleeping on mutex:M/);
  });
});
