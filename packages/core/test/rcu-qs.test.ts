import { describe, expect, it } from 'vitest';
import {
  callRcu,
  createKernel,
  definePlugin,
  emit,
  intMapGet,
  randomStrategy,
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
function readerPlugin<H extends HookName>(sh: Shared, hook: H, when: (args: HookArgs[H], state: KernelState) => boolean = () => true, tapOptions: TapOptions = {}) {
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
              ctx.tap('fork', function* (a) {
                yield* emit({ type: 'task/flags', pid: a.child, set: ['TIF_QS_TEST'], clear: [] });
              }, { stage: 'dup' });
              ctx.tap(hook, function* (a) {
                yield* reader(sh, `${hook} ${a.name} pid ${a.pid}`, 3);
              }, { flag: 'TIF_QS_TEST' });
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
