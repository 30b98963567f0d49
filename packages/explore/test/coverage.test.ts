import { describe, expect, it } from 'vitest';
import { createKernel, mutexLock, mutexUnlock, schedPoint, type Kernel, type KernelEvent, type KPath } from '@tracelab/core';
import { eventObjects, explore, foldChunks, planChunks, raceCoverage, racesOf, runPlannedChunk } from '@tracelab/explore';
import { lostUpdate } from './fixtures.js';

/** Issue 20, "Coverage": step footprints from the events, and the races an exploration met. */

function objectsOf(e: Partial<KernelEvent> & { type: string }): string[] {
  const out: string[] = [];
  eventObjects({ seq: 0, time: 0, cpu: 0, ...e } as unknown as KernelEvent, out);
  return out;
}

/** `n` kernel threads, each taking `lockOf(i)` twice with work between; 2 CPUs. */
function lockers(seed: number, lockOf: (i: number) => string): Kernel {
  const k = createKernel({ cpus: 2, seed });
  for (let i = 0; i < 2; i++) {
    k.spawnKthread(
      (function* locker(): KPath<void> {
        for (let round = 0; round < 2; round++) {
          yield* mutexLock(lockOf(i));
          yield* schedPoint();
          yield* mutexUnlock(lockOf(i));
          yield* schedPoint();
        }
      })(),
      { comm: `l${i}` },
    );
  }
  k.run({ maxSteps: 2_000 });
  return k;
}

describe('footprints of the core primitives', () => {
  it('a lock event writes that lock; the syscall bookkeeping and a timer on its own CPU write nothing shared; the preempt count is RCU-sched state', () => {
    expect(objectsOf({ type: 'lock/acquired', lock: 'a', kind: 'mutex', pid: 3 } as never)).toEqual(['lock:a']);
    expect(objectsOf({ type: 'syscall/enter', pid: 3, name: 'getpid', args: {} } as never)).toEqual([]);
    expect(objectsOf({ type: 'irq/entry', name: 'timer', pid: 3 } as never)).toEqual([]);
    expect(objectsOf({ type: 'irq/entry', name: 'ipi', pid: 3 } as never)).toEqual(['ipi']);
    expect(objectsOf({ type: 'cpu/preempt-count', count: 1 } as never)).toEqual(['rcu']);
    expect(objectsOf({ type: 'sched/switch', prev: 3, next: 4, prevState: 'runnable', preempted: true } as never)).toEqual(['rq', 'task:3', 'task:4']);
    // A plugin's event writes its slice, and the tasks it names.
    expect(objectsOf({ type: 'ftrace/tramp-enter', tramp: 1, ops: 1, ip: 'sys_getpid', pid: 7, traced: true } as never)).toEqual(['ftrace', 'task:7']);
  });

  it('two tasks on different locks never race on a lock; two on one lock do, in both orders over a few seeds', () => {
    // The lockers' own locks (their exits take tasklist_lock, a real race between them).
    const lockRaces = (k: Kernel) => racesOf(k.log).filter((r) => r.startsWith('lock:own') || r.startsWith('lock:shared'));
    for (let seed = 1; seed <= 10; seed++) expect(lockRaces(lockers(seed, (i) => `own${i}`))).toEqual([]);
    const shared = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) for (const r of lockRaces(lockers(seed, () => 'shared'))) shared.add(r);
    expect(shared.size).toBeGreaterThan(0);
    expect([...shared].every((r) => r.startsWith('lock:shared\u0000'))).toBe(true);
    const c = raceCoverage(shared);
    expect(c.bothOrders).toBeGreaterThan(0);
  });

  it("a task's own steps are never a race, though it moves between CPUs", () => {
    for (let seed = 1; seed <= 10; seed++) {
      for (const r of racesOf(lockers(seed, () => 'shared').log)) {
        const [, a, b] = r.split('\u0000') as [string, string, string];
        expect(a.split(' ').slice(0, 2).join(' ')).not.toBe(b.split(' ').slice(0, 2).join(' '));
      }
    }
  });
});

describe('raceCoverage', () => {
  it('counts a race and its reversal once, as met in both orders; a race met one way is listed', () => {
    const k = (o: string, a: string, b: string) => `${o}\u0000${a}\u0000${b}`;
    const c = raceCoverage([
      k('lock:a', 'pid 1 x', 'pid 2 y'),
      k('lock:a', 'pid 2 y', 'pid 1 x'),
      k('rq', 'pid 1 x', 'pid 3 z'),
      k('lock:a', 'pid 1 x', 'pid 2 y'),
    ]);
    expect(c).toEqual({ races: 2, bothOrders: 1, oneOrder: ['rq: pid 1 x -> pid 3 z'] });
  });
});

describe('explore with coverage', () => {
  it('reports the races met, the same when its chunks are run apart and folded (as workers and the queue do), and nothing without the option', () => {
    const one = explore(lostUpdate, { variant: 'fixed', budget: 200, coverage: true });
    expect(one.races).not.toBeNull();
    expect(one.races!.races).toBeGreaterThan(0);
    expect(one.races!.bothOrders).toBeGreaterThan(0);
    expect(one.races!.bothOrders).toBeLessThanOrEqual(one.races!.races);
    const dfs = explore(lostUpdate, { variant: 'fixed', strategy: 'dfs', bound: 1, coverage: true });
    expect(dfs.complete).toBe(true);
    expect(dfs.races!.races).toBeGreaterThan(0);
    expect(explore(lostUpdate, { variant: 'fixed', budget: 50 }).races).toBeNull();
    // The chunks of the same plan run one by one, in reverse, then folded.
    const plan = planChunks(lostUpdate, { variant: 'fixed', budget: 200, coverage: true });
    const results = [];
    for (let c = plan.chunks - 1; c >= 0; c--) results.push(runPlannedChunk(lostUpdate, plan, c));
    expect(foldChunks(lostUpdate, plan, results).races).toEqual(one.races);
  });
});
