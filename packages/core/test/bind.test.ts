import { describe, expect, it } from 'vitest';
import {
  TracelabError,
  createKernel,
  definePlugin,
  emit,
  intMapGet,
  kthreadRun,
  msleep,
  rcuIdleEnter,
  rcuIdleExit,
  schedPoint,
  type Kernel,
  type KPath,
  type Program,
} from '@tracelab/core';

declare module '@tracelab/core' {
  interface EventMap {
    'idler/in': { on: number };
    'idler/out': { on: number };
  }
}

/**
 * Per-CPU tasks (kthread_bind / kthread_create_on_cpu, `{ cpu }`), and the idle task that
 * schedules only from the top of its loop (docs/core.md "Context switches").
 */

const busy: Program = function* busy(u) {
  for (let i = 0; i < 6; i++) {
    yield u.compute(1);
    yield u.syscall('getpid');
  }
};

const napper: Program = function* napper(u) {
  for (let i = 0; i < 6; i++) {
    yield u.syscall('getpid');
    yield u.sleep(1 + (i % 3));
  }
};

function* worker(rounds: number): KPath<void> {
  for (let i = 0; i < rounds; i++) {
    yield* schedPoint();
    yield* msleep(1);
  }
}

/** The CPU each of `pid`'s steps ran on, from the events it emitted and the switches to it. */
function cpusOf(k: Kernel, pid: number): Set<number> {
  const out = new Set<number>();
  for (const e of k.log) {
    if (e.type === 'sched/switch' && e.next === pid) out.add(e.cpu);
    if (e.type === 'syscall/enter' && e.pid === pid) out.add(e.cpu);
  }
  return out;
}

describe('tasks bound to one CPU', () => {
  it('a kernel thread spawned with { cpu } runs only there, over 40 seeds, while unbound tasks use both CPUs', () => {
    let unboundOnBoth = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const k = createKernel({ cpus: 2, seed });
      const kw = k.spawnKthread(worker(6), { comm: 'kworker/1:0', cpu: 1 });
      const users = [k.spawn(busy), k.spawn(busy), k.spawn(busy)];
      // The state says so too, across the task's later updates (what strategies read).
      k.run({ maxSteps: 30 });
      expect(intMapGet(k.state.tasks, kw)?.boundCpu).toBe(1);
      expect(intMapGet(k.state.tasks, users[0]!)?.boundCpu).toBeUndefined();
      const r = k.run({ maxSteps: 20_000 });
      expect(r.done).toBe(true);
      expect(k.log.find((e) => e.type === 'task/spawned' && e.pid === kw)).toMatchObject({ boundCpu: 1, kthread: true });
      const ran = cpusOf(k, kw);
      expect(ran.size).toBeGreaterThan(0);
      expect([...ran]).toEqual([1]);
      if (users.some((p) => cpusOf(k, p).size === 2)) unboundOnBoth++;
    }
    // The binding is what keeps the worker on CPU 1: unbound tasks do migrate.
    expect(unboundOnBoth).toBeGreaterThan(10);
  });

  it('kthreadRun(path, comm, { cpu }) from kernel code: one worker per CPU, each on its own', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const k = createKernel({ cpus: 3, seed });
      const pids: number[] = [];
      k.call(function* spawner() {
        for (let c = 0; c < 3; c++) pids.push(yield* kthreadRun(worker(3), `kworker/${c}:1`, { cpu: c }));
      });
      k.run({ maxSteps: 20_000 });
      pids.forEach((pid, c) => expect([...cpusOf(k, pid)]).toEqual([c]));
    }
  });

  it('a CPU with only other CPUs\u2019 bound tasks runnable stays idle rather than run them', () => {
    // Two workers bound to CPU 0 and a CPU 1 with nothing else to do: CPU 1 never switches to them.
    const k = createKernel({ cpus: 2, seed: 3 });
    const a = k.spawnKthread(worker(4), { comm: 'a', cpu: 0 });
    const b = k.spawnKthread(worker(4), { comm: 'b', cpu: 0 });
    k.run({ maxSteps: 20_000 });
    expect(k.log.filter((e) => e.type === 'sched/switch' && e.cpu === 1 && e.next !== 0)).toEqual([]);
    expect([...cpusOf(k, a), ...cpusOf(k, b)].every((c) => c === 0)).toBe(true);
  });

  it('a user program spawned with { cpu } stays there too', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const k = createKernel({ cpus: 2, seed });
      const p = k.spawn(busy, { cpu: 0 });
      k.spawn(busy);
      k.run({ maxSteps: 20_000 });
      expect([...cpusOf(k, p)]).toEqual([0]);
    }
  });

  it('a CPU out of range, or not an integer, is INVALID_OPTION naming the API and the range; nothing is spawned', () => {
    const k = createKernel({ cpus: 2, seed: 1 });
    const before = k.log.length;
    for (const cpu of [2, -1, 0.5, '1' as unknown as number]) {
      expect(() => k.spawnKthread(worker(1), { cpu })).toThrow(TracelabError);
      expect(() => k.spawnKthread(worker(1), { cpu })).toThrow(/spawnKthread: cpu must be an integer from 0 to 1/);
      expect(() => k.spawn(busy, { cpu })).toThrow(/spawn: cpu must be an integer from 0 to 1/);
    }
    expect(k.log.length).toBe(before);
    expect(() =>
      k.call(function* bad() {
        yield* kthreadRun(worker(1), 'w', { cpu: 5 });
      }),
    ).toThrow(/kthreadRun: cpu must be an integer from 0 to 1/);
  });
});

describe('the idle task schedules only from the top of its loop', () => {
  it('an idle hook spanning scheduling points inside rcuIdleEnter/Exit is never switched out midway, over 40 seeds', () => {
    let waited = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const idler = definePlugin({
        name: 'idler',
        version: '0.1.0',
        core: '^0.1.0',
        register(ctx) {
          ctx.declareEvents(['idler/in', 'idler/out']);
          ctx.tap('idle', function* idleRoutine({ cpu }) {
            yield* rcuIdleEnter();
            yield* emit({ type: 'idler/in', on: cpu });
            yield* schedPoint();
            yield* schedPoint();
            yield* emit({ type: 'idler/out', on: cpu });
            yield* rcuIdleExit();
          });
          return {};
        },
      });
      const k = createKernel({ cpus: 2, seed, plugins: [idler] });
      // Tasks that sleep and wake, so a task becomes runnable while a CPU is inside its idle routine.
      for (let i = 0; i < 3; i++) k.spawn(napper);
      k.run({ maxSteps: 5_000 });
      const inside = [false, false];
      for (const e of k.log) {
        if (e.type === 'idler/in') inside[e.cpu] = true;
        if (e.type === 'idler/out') inside[e.cpu] = false;
        if (e.type === 'sched/switch' && e.prev === 0) {
          expect(inside[e.cpu]).toBe(false);
          waited++;
        }
      }
    }
    expect(waited).toBeGreaterThan(40);
  });
});
