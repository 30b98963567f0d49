/**
 * @tracelab/ktrace benchmarks (issue 4):
 * 1. setKernelTraceFlagAllTasks / clearKernelTraceFlagAllTasks on 1,000 to 100,000 threads:
 *    the time per thread must stay flat (the walk is linear), beside a bare walk that emits one
 *    `task/flags` and takes one scheduling point per thread with no lock, refcount or plugin.
 * 2. The syscall entry/exit check with the flag clear: a syscall with ktrace loaded against the
 *    same syscall with no ktrace at all (target: within 1.2x), and the slow path with the flag set.
 */
import { createKernel, emit, getState, intMapGet, intMapNextKey, schedPoint, type Kernel, type KPath, type Program } from '@tracelab/core';
import { TIF_KERNEL_TRACE, ktrace } from '@tracelab/ktrace';
import { median, row, timeOnce, type Benchmark, type Row } from './harness.js';
import { populateTaskList } from './kernels.js';

const WALK_SIZES = [1_000, 10_000, 100_000] as const;
/** Timed set/clear rounds per size, after one untimed round; the median per-thread time is reported. */
const ROUNDS = 3;

/**
 * A kernel with `n` threads on the task list, made through the core's fork events: a kernel
 * thread emits `fork/dup` then `fork/link` for each (a chain, each the parent of the next, so no
 * children array grows). The threads stay `new` (never woken), so the walk is all that runs.
 */
function kernelWithThreads(n: number, withKtrace: boolean): Kernel {
  const kernel = createKernel({ cpus: 1, seed: 1, plugins: withKtrace ? [ktrace()] : [] });
  populateTaskList(kernel, n);
  kernel.run(); // the setup thread exits
  return kernel;
}

/** The peer: the same walk with nothing around it (no mutex, no tasklist lock, no refcount, no plugin). */
function* bareWalk(set: boolean): KPath<number> {
  const list = (yield* getState()).tasks;
  let visited = 0;
  for (let pid = intMapNextKey(list, -1); pid !== -1; pid = intMapNextKey(list, pid)) {
    if (!intMapGet(list, pid)!.listed) continue;
    if (visited > 0) yield* schedPoint();
    visited++;
    const now = intMapGet((yield* getState()).tasks, pid); // an earlier call's thread may be gone by now
    if (now !== undefined && (now.flags[TIF_KERNEL_TRACE] === true) !== set) {
      yield* emit({ type: 'task/flags', pid, set: set ? [TIF_KERNEL_TRACE] : [], clear: set ? [] : [TIF_KERNEL_TRACE] });
    }
  }
  return visited;
}

function lastWalkVisited(kernel: Kernel): number {
  for (let i = kernel.log.length - 1; i >= 0; i--) {
    const e = kernel.log[i]!;
    if (e.type === 'ktrace/walk-end') return e.visited;
  }
  throw new Error('ktrace bench: no walk-end in the log');
}

interface WalkFigures {
  readonly set: number;
  readonly clear: number;
  readonly bareSet: number;
  readonly bareClear: number;
}

function walkFigures(n: number): WalkFigures {
  const setup = timeOnce(() => kernelWithThreads(n, true));
  const kernel = setup.value;
  const bare = kernelWithThreads(n, false);
  process.stderr.write(`  ${n} threads: built in ${(setup.ns / 1e6).toFixed(0)} ms\n`);
  const api = kernel.api.ktrace;
  const set: number[] = [];
  const clear: number[] = [];
  const bareSet: number[] = [];
  const bareClear: number[] = [];
  // One untimed round first: the 1,000-thread figures are otherwise mostly JIT warm-up.
  for (let r = -1; r < ROUNDS; r++) {
    const s = timeOnce(() => kernel.call(api.setKernelTraceFlagAllTasks(), { comm: 'tracer' }));
    set.push(s.ns / lastWalkVisited(kernel));
    if (!api.isTraced(n)) throw new Error(`ktrace bench: pid ${n} not traced after the set`);
    const c = timeOnce(() => kernel.call(api.clearKernelTraceFlagAllTasks(), { comm: 'tracer' }));
    clear.push(c.ns / lastWalkVisited(kernel));
    if (api.isTraced(n) || api.refcount() !== 0) throw new Error('ktrace bench: the clear left the flag set');
    const bs = timeOnce(() => bare.call(bareWalk(true), { comm: 'bare' }));
    bareSet.push(bs.ns / bs.value);
    const bc = timeOnce(() => bare.call(bareWalk(false), { comm: 'bare' }));
    bareClear.push(bc.ns / bc.value);
    if (r < 0) [set, clear, bareSet, bareClear].forEach((xs) => xs.pop());
  }
  kernel.run();
  if (kernel.violations.length > 0) throw new Error(`ktrace bench: ${kernel.violations[0]!.name}: ${kernel.violations[0]!.message}`);
  return { set: median(set), clear: median(clear), bareSet: median(bareSet), bareClear: median(bareClear) };
}

// ---- the syscall check -----------------------------------------------------------------------

const SYSCALLS = 20_000;
const SYSCALL_SAMPLES = 5;

/** Sleeps first, so that a set walk (started with it) is done before the first measured syscall. */
const caller: Program = function* caller(u) {
  yield u.sleep(50);
  for (let i = 0; i < SYSCALLS; i++) yield u.syscall('getpid');
};

type SyscallStack = 'none' | 'clear' | 'set';

/** Nanoseconds per syscall of a task making SYSCALLS getpid calls, with the given stack. */
function syscallNs(stack: SyscallStack): number {
  const kernel = createKernel({ cpus: 1, seed: 1, plugins: stack === 'none' ? [] : [ktrace()] });
  // The caller is started first: a task the host starts after the walk is outside copy_process
  // and never gets the flag (docs/ktrace.md, "Host-started tasks").
  const pid = kernel.spawn(caller, { comm: 'caller' });
  if (stack === 'set') kernel.call(kernel.api.ktrace.setKernelTraceFlagAllTasks());
  if ((stack === 'set') !== (kernel.state.plugins.ktrace !== undefined && kernel.api.ktrace.isTraced(pid)))
    throw new Error(`ktrace bench: caller flag wrong for ${stack}`);
  const { ns, value } = timeOnce(() => kernel.run());
  if (!value.done || value.violations.length > 0) throw new Error(`ktrace bench: syscall run (${stack}) did not finish cleanly`);
  const traced = kernel.log.filter((e) => e.type === 'ktrace/syscall-entry').length;
  if (stack === 'set' ? traced < SYSCALLS : traced !== 0) throw new Error(`ktrace bench: ${traced} traced syscalls with the flag ${stack}`);
  return ns / SYSCALLS;
}

function syscallFigures(): { none: number; clear: number; set: number } {
  const samples: Record<SyscallStack, number[]> = { none: [], clear: [], set: [] };
  for (let s = 0; s < SYSCALL_SAMPLES + 1; s++) {
    for (const stack of ['none', 'clear', 'set'] as const) {
      const ns = syscallNs(stack);
      if (s > 0) samples[stack].push(ns); // the first round warms the JIT up
    }
  }
  return { none: median(samples.none), clear: median(samples.clear), set: median(samples.set) };
}

export const ktraceBench: Benchmark = {
  name: 'ktrace',
  run(): Row[] {
    const rows: Row[] = [];
    const perThread = new Map<number, WalkFigures>();
    for (const n of WALK_SIZES) {
      const f = walkFigures(n);
      perThread.set(n, f);
      const peer = 'bare walk: task/flags + sched point per thread, no locks';
      rows.push(row(`ktrace setKernelTraceFlagAllTasks, ${n.toLocaleString('en-US')} threads`, 'ns/thread', f.set, f.bareSet, peer));
      rows.push(row(`ktrace clearKernelTraceFlagAllTasks, ${n.toLocaleString('en-US')} threads`, 'ns/thread', f.clear, f.bareClear, peer));
    }
    const small = perThread.get(WALK_SIZES[0])!;
    const large = perThread.get(WALK_SIZES[WALK_SIZES.length - 1]!)!;
    const ratio = (large.set + large.clear) / (small.set + small.clear);
    rows.push({
      name: `ktrace walk flatness, per thread at ${WALK_SIZES[WALK_SIZES.length - 1]!.toLocaleString('en-US')} / ${WALK_SIZES[0].toLocaleString('en-US')} threads`,
      unit: 'ratio',
      ours: ratio,
      peer: 2,
      peerName: 'target',
      speedup: 2 / ratio,
    });

    const sys = syscallFigures();
    rows.push(row('ktrace syscall, flag clear (ktrace loaded)', 'ns/syscall', sys.clear, sys.none, 'syscall with no ktrace plugin'));
    rows.push({
      name: 'ktrace syscall overhead, flag clear / no ktrace',
      unit: 'ratio',
      ours: sys.clear / sys.none,
      peer: 1.2,
      peerName: 'target',
      speedup: 1.2 / (sys.clear / sys.none),
    });
    rows.push(row('ktrace syscall, flag set (slow path, 2 events)', 'ns/syscall', sys.set, sys.none, 'syscall with no ktrace plugin'));
    return rows;
  },
};
