import { msleep, type Kernel, type KPath, type PluginStack, type Program, type RunResult, type Strategy } from '@tracelab/core';
import { expectClean, kernelWith, overSeeds } from '@tracelab/testing';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftrace, type FtraceApi, type FtraceFunc, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';

/** The stack ftrace's tests run on: `extra` plugins, rcu-tasks, ftrace with `options`. Pass it to `kernelWith` (@tracelab/testing). */
export function ftraceStack(options: FtraceOptions = {}, extra: PluginStack = []): PluginStack {
  return [...extra, rcuTasks(), ftrace(options)];
}

/** A callback that does nothing (what it is called for is in the log). */
export function noop(): void {
  // nothing to record
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
  const k = kernelWith({ plugins: ftraceStack(options), seed, strategy });
  for (let i = 0; i < 4; i++) k.spawn(worker(30), { comm: `w${i}` });
  const ops: FtraceOps = { func: noop, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'race' };
  k.spawnKthread(session(k.api.ftrace, ops, 3, 12), { comm: 'tracer' });
  return k;
}

/** A run of `failingRuns` that ended in a violation. */
export interface FailingRun {
  readonly seed: number;
  readonly kernel: Kernel;
  readonly result: RunResult;
}

/**
 * Runs `make(seed)` over seeds 1..n (`overSeeds`, at most 200,000 steps each) and returns the
 * runs that ended in a violation, for tests that count them or check each one (`findUnsafe`
 * stops at the first). Every other run must be clean (`expectClean`: finished, no oops).
 */
export function failingRuns(n: number, make: (seed: number) => Kernel): FailingRun[] {
  const failing: FailingRun[] = [];
  overSeeds(
    n,
    make,
    (kernel, result, seed) => {
      if (result.violations.length > 0) failing.push({ seed, kernel, result });
      else expectClean(kernel, result);
    },
    { maxSteps: 200_000 },
  );
  return failing;
}
