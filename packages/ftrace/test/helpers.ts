import {
  createKernel,
  msleep,
  type EventType,
  type Kernel,
  type KernelEvent,
  type KPath,
  type PluginStack,
  type Program,
  type RunResult,
  type Strategy,
} from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftrace, type FtraceApi, type FtraceFunc, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';

export interface Setup {
  readonly seed?: number;
  readonly cpus?: number;
  readonly options?: FtraceOptions;
  readonly strategy?: Strategy;
  readonly extra?: PluginStack;
}

/** A callback that does nothing (what it is called for is in the log). */
export function noop(): void {
  // nothing to record
}

/** A kernel with rcu-tasks and ftrace. */
export function kernelWith({ seed = 1, cpus = 2, options = {}, strategy, extra = [] }: Setup = {}): Kernel {
  return createKernel({ cpus, seed, ...(strategy ? { strategy } : {}), plugins: [...extra, rcuTasks(), ftrace(options)] });
}

/** A callback that counts its calls per function (in `calls`). */
export function counter(): { func: FtraceFunc; calls: Map<string, number>; total(): number } {
  const calls = new Map<string, number>();
  return {
    calls,
    func: function counted(ip) {
      calls.set(ip, (calls.get(ip) ?? 0) + 1);
    },
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
  };
}

/** A user task making `n` cheap syscalls (getpid, getppid) with a little user work between. */
export function worker(n: number): Program {
  return function* worker(u) {
    for (let i = 0; i < n; i++) {
      yield u.syscall(i % 2 === 0 ? 'getpid' : 'getppid');
      yield u.compute(1);
    }
  };
}

/** A tracer thread: sleep `after`, register `ops`, keep it `keep` ticks, unregister it. */
export function* session(api: FtraceApi, ops: FtraceOps, after: number, keep: number): KPath<number> {
  if (after > 0) yield* msleep(after);
  const r = yield* api.registerFtraceFunction(ops);
  if (r !== 0) return r;
  yield* msleep(keep);
  return yield* api.unregisterFtraceFunction(ops);
}

/**
 * The thread's scenario: more tasks than CPUs calling the traced function (so a task on the
 * trampoline is often preempted and left on the runqueue), and a tracer thread that registers
 * a DYNAMIC ops on sys_getpid and unregisters it while they run.
 */
export function raceKernel(seed: number, options: FtraceOptions = {}, strategy?: Strategy): Kernel {
  const k = kernelWith({ seed, options, ...(strategy ? { strategy } : {}) });
  for (let i = 0; i < 4; i++) k.spawn(worker(30), { comm: `w${i}` });
  const ops: FtraceOps = { func: noop, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'race' };
  k.spawnKthread(session(k.api.ftrace, ops, 3, 12), { comm: 'tracer' });
  return k;
}

export const SEEDS = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

export interface Exploration {
  readonly seeds: number;
  readonly failing: ReadonlyArray<{ seed: number; result: RunResult; kernel: Kernel }>;
}

/** Runs `make(seed)` over seeds 1..n and collects the runs that ended in a violation. */
export function explore(n: number, make: (seed: number) => Kernel): Exploration {
  const failing: Array<{ seed: number; result: RunResult; kernel: Kernel }> = [];
  for (const seed of SEEDS(n)) {
    const kernel = make(seed);
    const result = kernel.run({ maxSteps: 200_000 });
    if (result.violations.length > 0) failing.push({ seed, result, kernel });
    else if (!result.done) throw new Error(`seed ${seed}: the run did not finish`);
  }
  return { seeds: n, failing };
}

/** Events of one type, typed. */
export function eventsOf<T extends EventType>(k: { log: readonly KernelEvent[] }, type: T): Array<KernelEvent<T>> {
  return k.log.filter((e) => e.type === type) as unknown as Array<KernelEvent<T>>;
}

export function expectClean(k: Kernel, result?: { violations: readonly unknown[]; done: boolean }): void {
  const oops = k.log.find((e) => e.type === 'kernel/oops');
  if (oops !== undefined) throw new Error(`unexpected oops: ${JSON.stringify(oops)}`);
  if (k.violations.length > 0) throw new Error(`unexpected violation: ${JSON.stringify(k.violations[0])}`);
  if (result !== undefined && !result.done) throw new Error('the run did not finish');
}
