import {
  msleep,
  replaySchedule,
  type Kernel,
  type KernelEvent,
  type KPath,
  type PluginStack,
  type Program,
  type RunResult,
  type Strategy,
} from '@tracelab/core';
import { TIF_KERNEL_TRACE, ktrace, type KtraceApi, type KtraceOptions } from '@tracelab/ktrace';
import { eventsOf, kernelWith, seeds } from '@tracelab/testing';

/** A long-lived task that wakes up now and then (a daemon ahead of the shell on the task list). */
export const daemon: Program = function* daemon(u) {
  for (let j = 0; j < 6; j++) {
    yield u.sleep(5);
    yield u.syscall('getpid');
  }
};

/** A shell that forks `n` short children, each making syscalls on both sides of a little work. */
export function forker(n: number): Program {
  return function* sh(u) {
    for (let i = 0; i < n; i++) {
      yield u.fork(function* child(u2) {
        yield u2.syscall('getpid');
        yield u2.compute(2);
        yield u2.syscall('getppid');
        yield u2.syscall('write', { fd: 1, buf: 0x1000, count: 8 });
        yield u2.exit(0);
      });
    }
    for (let i = 0; i < n; i++) yield u.wait();
  };
}

/** A tracer kernel thread: sleeps `after` ticks, sets the flag, and keeps it set. */
export function* tracer(api: KtraceApi, after: number): KPath<number> {
  yield* msleep(after);
  return yield* api.setKernelTraceFlagAllTasks();
}

export interface RaceSetup {
  readonly seed: number;
  readonly options?: KtraceOptions;
  readonly strategy?: Strategy;
  readonly extra?: PluginStack;
  /** Runs on the new kernel before anything is spawned (to connect probes, say). */
  readonly before?: (k: Kernel) => void;
}

/**
 * The race of the thread: daemons, then a shell forking children while a tracer kthread
 * sets the flag on every thread. The daemons sit ahead of the shell on the task list, so the
 * walk reaches the shell a few threads in, while it forks.
 */
export function raceKernel({ seed, options = {}, strategy, extra = [], before }: RaceSetup): Kernel {
  const k = kernelWith({ plugins: [...extra, ktrace(options)], cpus: 2, seed, strategy });
  before?.(k);
  for (let d = 0; d < 4; d++) k.spawn(daemon, { comm: 'daemon' });
  k.spawn(forker(6), { comm: 'sh' });
  k.spawnKthread(tracer(k.api.ktrace, 3), { comm: 'tracer' });
  return k;
}

export interface Exploration {
  readonly seeds: number;
  readonly failing: ReadonlyArray<{ seed: number; result: RunResult; kernel: Kernel }>;
  readonly ms: number;
}

/** Runs the race over seeds 1..n (stopping after `stopAfter` failures) and collects the failing runs. */
export function explore(n: number, options: KtraceOptions, stopAfter = Infinity): Exploration {
  const t0 = process.hrtime.bigint();
  const failing: Array<{ seed: number; result: RunResult; kernel: Kernel }> = [];
  let tried = 0;
  for (const seed of seeds(n)) {
    tried++;
    const kernel = raceKernel({ seed, options });
    const result = kernel.run();
    if (result.violations.length > 0) failing.push({ seed, result, kernel });
    else if (!result.done) throw new Error(`seed ${seed}: the run did not finish`);
    if (failing.length >= stopAfter) break;
  }
  return { seeds: tried, failing, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

export function replayRace(seed: number, options: KtraceOptions, schedule: string): Kernel {
  return raceKernel({ seed, options, strategy: replaySchedule(schedule) });
}

/** Whether the log ever gives `pid` the flag: at its fork/dup copy or by a task/flags set. */
export function everFlagged(k: { log: readonly KernelEvent[] }, pid: number): boolean {
  return k.log.some(
    (e) =>
      (e.type === 'fork/dup' && e.child === pid && e.flags.includes(TIF_KERNEL_TRACE)) ||
      (e.type === 'task/flags' && e.pid === pid && e.set.includes(TIF_KERNEL_TRACE)),
  );
}

/** The children whose fork overlapped the set walk: dup before the walk ended, link after it began. */
export function forksDuringWalk(k: { log: readonly KernelEvent[] }): Array<{ child: number; dup: number; link: number }> {
  const start = eventsOf(k, 'ktrace/walk-start').find((e) => e.op === 'set');
  const end = eventsOf(k, 'ktrace/walk-end').find((e) => e.op === 'set');
  if (start === undefined || end === undefined) return [];
  const links = new Map(eventsOf(k, 'fork/link').map((e) => [e.child, e.seq]));
  return eventsOf(k, 'fork/dup')
    .map((e) => ({ child: e.child, dup: e.seq, link: links.get(e.child) ?? Infinity }))
    .filter((f) => f.dup < end.seq && f.link > start.seq);
}
