import { describe, expect, it } from 'vitest';
import {
  callRcu,
  createKernel,
  current,
  definePlugin,
  emit,
  intMapGet,
  msleep,
  randomStrategy,
  printk,
  rcuIdleEnter,
  rcuIdleExit,
  rcuIsWatching,
  rcuReadLock,
  rcuReadUnlock,
  synchronizeRcu,
  type HookArgs,
  type HookName,
  type Kernel,
  type KernelState,
  type KPath,
  type Program,
  type Strategy,
  type TapOptions,
} from '@tracelab/core';
import { points } from './helpers.js';

/**
 * RCU-sched's quiescent-state rule (issue 13 §1): a CPU passes a quiescent state at a context
 * switch, or when idle or in user mode outside any read-side critical section. Each test puts an
 * rcu_read_lock_sched() reader in one place a probe can run, while an updater on another task
 * unpublishes the object the readers read and frees it after synchronizeRcu() or from a callRcu()
 * callback. A reader that finds its object freed is a use-after-free: the grace period ended
 * under it.
 */

interface Obj {
  freed: boolean;
}

/** The published pointer, the updater's frees and the readers' findings. Test-local, host-side. */
interface Shared {
  ptr: Obj;
  reads: number;
  useAfterFree: string[];
}

/** A reader in a hook: read the pointer under rcu_read_lock_sched, run on a while, check it. */
function* reader(sh: Shared, where: string, hold: number): KPath<void> {
  yield* rcuReadLock();
  const obj = sh.ptr;
  yield* points(hold);
  sh.reads++;
  if (obj.freed) sh.useAfterFree.push(where);
  yield* rcuReadUnlock();
}

/** Taps `hook` with a reader; `when` narrows where it reads (idle CPU, user-bound CPU...). */
function readerPlugin<H extends HookName>(
  sh: Shared,
  hook: H,
  when: (args: HookArgs[H], state: KernelState) => boolean = () => true,
  tapOptions: TapOptions = {},
) {
  return definePlugin({
    name: 'qs-reader',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.tap(
        hook,
        function* (args: HookArgs[H]) {
          if (when(args, ctx.state())) yield* reader(sh, `${hook} ${JSON.stringify(args)}`, 3);
        } as never,
        tapOptions,
      );
    },
  });
}

/** The updater: publish a new object, wait a grace period (or queue the free), free the old one. */
function* updater(sh: Shared, rounds: number, useCallback: boolean): KPath<void> {
  for (let i = 0; i < rounds; i++) {
    yield* points(1);
    const old = sh.ptr;
    sh.ptr = { freed: false };
    if (useCallback) {
      // eslint-disable-next-line require-yield -- the callback only frees
      yield* callRcu(function* () {
        old.freed = true;
      }, 'free-old');
    } else {
      yield* synchronizeRcu();
      old.freed = true;
    }
  }
}

const child: Program = function* (u) {
  yield u.syscall('getpid');
  yield u.touch(0x40000);
  yield u.compute(3);
  yield u.syscall('open', { path: '/etc/passwd', flags: 0 });
  yield u.exit(0);
};

/** User tasks that compute in user mode, fork, fault pages in, make syscalls and exit. */
const shellish: Program = function* (u) {
  for (let i = 0; i < 2; i++) {
    yield u.compute(4);
    yield u.fork(child);
    yield u.touch(0x80000 + i * 4096);
    yield u.syscall('getppid');
  }
  yield u.wait();
  yield u.wait();
  yield u.exit(0);
};

const STRATEGIES: Array<[string, (seed: number) => Strategy]> = [
  ['random', () => randomStrategy()],
  ['random preempt 0.5', () => randomStrategy({ preemptProbability: 0.5 })],
];

interface Case {
  readonly seeds: number;
  readonly cpus: number;
  readonly setup: (k: Kernel, sh: Shared) => void;
  readonly plugin: (sh: Shared) => ReturnType<typeof definePlugin>;
}

/** Runs a case over seeds, strategies and both update styles; returns reads and use-after-frees. */
function runCase(c: Case): { reads: number; uaf: string[]; runs: number } {
  let reads = 0;
  const uaf: string[] = [];
  let runs = 0;
  for (const [, strategy] of STRATEGIES) {
    for (let seed = 1; seed <= c.seeds; seed++) {
      for (const useCallback of [false, true]) {
        const sh: Shared = { ptr: { freed: false }, reads: 0, useAfterFree: [] };
        const k = createKernel({ cpus: c.cpus, seed, strategy: strategy(seed), plugins: [c.plugin(sh)] });
        c.setup(k, sh);
        k.spawnKthread(updater(sh, 6, useCallback), { comm: 'updater' });
        const res = k.run({ maxSteps: 50_000 });
        expect(res.violations).toEqual([]);
        reads += sh.reads;
        uaf.push(...sh.useAfterFree.map((w) => `seed ${seed}${useCallback ? ' callRcu' : ''}: ${w}`));
        runs++;
      }
    }
  }
  return { reads, uaf, runs };
}

function isUserTask(state: KernelState, pid: number): boolean {
  const t = intMapGet(state.tasks, pid);
  return t !== undefined && !t.kthread && t.mode === 'user';
}

const userWork = (k: Kernel): void => {
  k.spawn(shellish, { comm: 'sh' });
  k.spawn(shellish, { comm: 'sh' });
};

describe('RCU-sched quiescent states: readers wherever a probe can run', () => {
  it('context-switch hook switching to the idle task: the idle CPU is not quiescent while the hook reads', () => {
    const r = runCase({
      seeds: 15,
      cpus: 3,
      setup: userWork,
      plugin: (sh) => readerPlugin(sh, 'contextSwitch', (a) => a.next === 0),
    });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('context-switch hook switching to a task in user mode: that CPU is not quiescent while the hook reads', () => {
    const r = runCase({
      seeds: 15,
      cpus: 3,
      setup: userWork,
      plugin: (sh) => readerPlugin(sh, 'contextSwitch', (a, state) => isUserTask(state, a.next)),
    });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('idle hook: an idle CPU running an idle-loop handler is not quiescent while it runs', () => {
    const r = runCase({ seeds: 15, cpus: 3, setup: userWork, plugin: (sh) => readerPlugin(sh, 'idle') });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('syscall entry and exit slow paths', () => {
    for (const hook of ['syscallEntry', 'syscallExit'] as const) {
      const r = runCase({
        seeds: 10,
        cpus: 3,
        setup: (k) => {
          userWork(k);
        },
        plugin: (sh) =>
          definePlugin({
            name: 'qs-reader',
            version: '1.0.0',
            core: '^0.1.0',
            register(ctx) {
              // Every user task takes the slow path: set the flag on each new task at fork.
              ctx.tap(
                'fork',
                function* (a) {
                  yield* emit({ type: 'task/flags', pid: a.child, set: ['TIF_QS_TEST'], clear: [] });
                },
                { stage: 'dup' },
              );
              ctx.tap(
                hook,
                function* (a) {
                  yield* reader(sh, `${hook} ${a.name} pid ${a.pid}`, 3);
                },
                { flag: 'TIF_QS_TEST' },
              );
            },
          }),
      });
      expect(r.reads).toBeGreaterThan(r.runs);
      expect(r.uaf).toEqual([]);
    }
  });

  it('fork, dup and link stages', () => {
    for (const stage of ['dup', 'link'] as const) {
      const r = runCase({ seeds: 10, cpus: 3, setup: userWork, plugin: (sh) => readerPlugin(sh, 'fork', () => true, { stage }) });
      expect(r.reads).toBeGreaterThan(r.runs);
      expect(r.uaf).toEqual([]);
    }
  });

  it('exit, including a task killed in user mode by its own fault', () => {
    const faulty: Program = function* (u) {
      yield u.compute(2);
      throw new Error('segfault');
    };
    const r = runCase({
      seeds: 15,
      cpus: 3,
      setup: (k) => {
        userWork(k);
        k.spawn(faulty, { comm: 'faulty' });
        k.spawn(faulty, { comm: 'faulty' });
      },
      plugin: (sh) => readerPlugin(sh, 'exit'),
    });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('page faults', () => {
    const r = runCase({ seeds: 10, cpus: 3, setup: userWork, plugin: (sh) => readerPlugin(sh, 'pageFault') });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('module load', () => {
    const r = runCase({
      seeds: 10,
      cpus: 3,
      setup: (k) => {
        userWork(k);
        k.spawnKthread(
          (function* () {
            for (let i = 0; i < 4; i++) {
              yield* k.paths.loadModule(`mod${i}`, {});
              yield* points(2);
            }
          })(),
          { comm: 'insmod' },
        );
      },
      plugin: (sh) => readerPlugin(sh, 'moduleLoad'),
    });
    expect(r.reads).toBeGreaterThan(r.runs);
    expect(r.uaf).toEqual([]);
  });

  it('a grace period still ends: idle CPUs and user-mode tasks outside readers are quiescent', () => {
    // One updater, user tasks that only compute: the grace periods end while CPUs sit idle or in
    // user mode, without anyone else context switching.
    for (let seed = 1; seed <= 20; seed++) {
      const k = createKernel({ cpus: 4, seed });
      const spin: Program = function* (u) {
        yield u.compute(400);
        yield u.exit(0);
      };
      k.spawn(spin);
      k.spawn(spin);
      let done = 0;
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 5; i++) {
            yield* synchronizeRcu();
            done++;
          }
        })(),
      );
      const res = k.run({ maxSteps: 20_000 });
      expect(res.violations).toEqual([]);
      expect(done).toBe(5);
    }
  });
});

describe('the idle loop with RCU not watching (rcuIdleEnter / rcuIdleExit)', () => {
  /** An idle handler that runs a while, inside an extended quiescent state or not. */
  function idler(eqs: boolean) {
    return definePlugin({
      name: 'idler',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('idle', function* ({ cpu }) {
          if (eqs) yield* rcuIdleEnter();
          yield* printk(`in ${cpu}`);
          yield* points(4);
          yield* printk(`out ${cpu}`);
          if (eqs) yield* rcuIdleExit();
        });
      },
    });
  }

  /** For each grace-period start: the CPUs then between the handler's `in` and `out`, and `pending`. */
  function gpStarts(eqs: boolean): Array<{ inside: number[]; pending: readonly number[] }> {
    const out: Array<{ inside: number[]; pending: readonly number[] }> = [];
    for (let seed = 1; seed <= 30; seed++) {
      const k = createKernel({ cpus: 3, seed, plugins: [idler(eqs)] });
      userWork(k);
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 6; i++) {
            yield* synchronizeRcu();
            yield* points(3);
          }
        })(),
      );
      const r = k.run({ maxSteps: 100_000 });
      expect(r.violations).toEqual([]);
      // A handler with preemption on may be switched away from: count a CPU only while its idle
      // task, inside the handler, is the one on it.
      const inside = new Set<number>();
      const curr = [0, 0, 0];
      for (const e of k.log) {
        if (e.type === 'sched/switch') curr[e.cpu] = e.next;
        if (e.type === 'kernel/printk') {
          const [what, cpu] = e.text.split(' ');
          if (what === 'in') inside.add(Number(cpu));
          if (what === 'out') inside.delete(Number(cpu));
        }
        if (e.type === 'rcu/gp-start') out.push({ inside: [...inside].filter((c) => curr[c] === 0), pending: e.pending });
      }
    }
    return out;
  }

  it('an idle CPU inside the region holds up no grace period; outside it, its running handler does', () => {
    const notWatching = gpStarts(true).filter((g) => g.inside.length > 0);
    expect(notWatching.length).toBeGreaterThan(5);
    for (const g of notWatching) for (const cpu of g.inside) expect(g.pending).not.toContain(cpu);
    const watching = gpStarts(false).filter((g) => g.inside.length > 0);
    expect(watching.length).toBeGreaterThan(5);
    for (const g of watching) for (const cpu of g.inside) expect(g.pending).toContain(cpu);
  });

  it("is the idle task's alone, and not nested: anywhere else it is a BUG", () => {
    const k = createKernel({ cpus: 1 });
    const pid = k.spawnKthread(
      (function* () {
        yield* rcuIdleEnter();
      })(),
      { comm: 'notidle' },
    );
    k.run();
    const oops = k.log.find((e) => e.type === 'kernel/oops');
    expect(oops).toMatchObject({ killed: pid, message: expect.stringMatching(/rcu_idle_enter in pid \d+ \(notidle\): only the idle task/) });

    const nested = createKernel({
      cpus: 1,
      plugins: [
        definePlugin({
          name: 'nester',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            ctx.tap('idle', function* () {
              yield* rcuIdleEnter();
              yield* rcuIdleEnter();
            });
          },
        }),
      ],
    });
    nested.spawnKthread(
      (function* () {
        yield* msleep(5);
      })(),
    );
    nested.run({ maxSteps: 20 });
    const o = nested.log.find((e) => e.type === 'kernel/oops');
    expect(o).toMatchObject({ plugin: 'nester', message: expect.stringMatching(/while RCU is already not watching/) });
    // The failed handler is left outside the region: the idle CPU is watched again.
    const g = nested.call(
      (function* () {
        yield* synchronizeRcu();
        return 'synced';
      })(),
    );
    expect(g).toBe('synced');
  });
});

describe('an idle handler inside and outside the idle EQS', () => {
  /** Function-tracing-like code in the idle loop: it holds an object across points, no rcuReadLock. */
  function idleHandlerPlugin(sh: Shared, rcuWatching: boolean) {
    return definePlugin({
      name: 'idle-eqs',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('idle', function* () {
          if (!rcuWatching) yield* rcuIdleEnter();
          const obj = sh.ptr;
          yield* points(3);
          sh.reads++;
          if (obj.freed) sh.useAfterFree.push('idle');
          if (!rcuWatching) yield* rcuIdleExit();
        });
      },
    });
  }

  function run(rcuWatching: boolean): { reads: number; uaf: number } {
    let reads = 0;
    let uaf = 0;
    for (let seed = 1; seed <= 20; seed++) {
      for (const useCallback of [false, true]) {
        const sh: Shared = { ptr: { freed: false }, reads: 0, useAfterFree: [] };
        const k = createKernel({ cpus: 3, seed, plugins: [idleHandlerPlugin(sh, rcuWatching)] });
        k.spawn(shellish);
        k.spawnKthread(updater(sh, 6, useCallback), { comm: 'updater' });
        const res = k.run({ maxSteps: 50_000 });
        expect(res.violations).toEqual([]);
        reads += sh.reads;
        uaf += sh.useAfterFree.length;
      }
    }
    return { reads, uaf };
  }

  it('inside rcuIdleEnter/rcuIdleExit a grace period does not wait for it: the hazard Tasks-Rude exists for is reachable', () => {
    const r = run(false);
    expect(r.reads).toBeGreaterThan(0);
    expect(r.uaf).toBeGreaterThan(0);
  });

  it('the same handler outside the region (the default, as trace_*_rcuidle) is waited for', () => {
    const r = run(true);
    expect(r.reads).toBeGreaterThan(0);
    expect(r.uaf).toBe(0);
  });
});

describe('rcuIsWatching (rcu_is_watching)', () => {
  it('is false in the idle loop between rcuIdleEnter and rcuIdleExit, true outside it, in a task, and in a tick that interrupts the unwatched region', () => {
    const seen: Array<{ where: string; watching: boolean; cpu: number }> = [];
    const probe = definePlugin({
      name: 'watcher',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('idle', function* () {
          seen.push({ where: 'idle-before', watching: yield* rcuIsWatching(), cpu: (yield* current()).cpu });
          yield* rcuIdleEnter();
          for (let i = 0; i < 4; i++) {
            seen.push({ where: 'idle-eqs', watching: yield* rcuIsWatching(), cpu: (yield* current()).cpu });
            yield* points(1);
          }
          yield* rcuIdleExit();
          seen.push({ where: 'idle-after', watching: yield* rcuIsWatching(), cpu: (yield* current()).cpu });
        });
        ctx.tap('irq', function* () {
          seen.push({ where: 'irq', watching: yield* rcuIsWatching(), cpu: (yield* current()).cpu });
        });
      },
    });
    const k = createKernel({ cpus: 2, seed: 2, interrupts: { timer: { period: 2 } }, plugins: [probe] });
    k.spawnKthread(
      (function* () {
        seen.push({ where: 'task', watching: yield* rcuIsWatching(), cpu: (yield* current()).cpu });
        yield* msleep(30);
      })(),
    );
    k.run({ maxSteps: 5_000 });
    const where = (w: string) => seen.filter((x) => x.where === w).map((x) => x.watching);
    expect(where('idle-eqs').length).toBeGreaterThan(4);
    expect(new Set(where('idle-eqs'))).toEqual(new Set([false]));
    for (const w of ['idle-before', 'idle-after', 'task', 'irq']) expect(new Set(where(w)), w).toEqual(new Set([true]));
    // Some tick arrived inside the unwatched region of its own CPU's idle loop.
    const inside = seen.some((x, i) => {
      if (x.where !== 'irq') return false;
      const mine = seen.slice(0, i).filter((y) => y.cpu === x.cpu && y.where.startsWith('idle'));
      return mine.at(-1)?.where === 'idle-eqs';
    });
    expect(inside).toBe(true);
  });
});
