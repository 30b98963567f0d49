/**
 * @tracelab/rcu-tasks benchmarks (issue 5):
 * 1. Wall time of one RCU-tasks grace period (`synchronizeRcuTasks` from a kernel thread) as the
 *    task list grows from 100 to 100,000 tasks: it must grow linearly or better (the scan walks
 *    every task once; rescans touch only the holdouts). Beside it, in the same run: the core's
 *    RCU-sched grace period (`synchronizeRcu`) on the same kernel, and a bare walk of the list.
 * 2. A callback flood: kernel threads queue callbacks as fast as they can while grace periods run.
 *    Wall time per callback and grace periods per 1,000 callbacks (the batching), beside the
 *    core's `callRcu` (RCU-sched) under the same flood.
 */
import { callRcu, createKernel, intMapGet, intMapNextKey, msleep, schedPoint, synchronizeRcu, type Kernel, type KPath, type RcuCallback } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { median, row, timeOnce, type Benchmark, type Row } from './harness.js';
import { populateTaskList } from './kernels.js';

const SIZES = [100, 1_000, 10_000, 100_000] as const;
/** Timed grace periods per size, after one untimed; the median is reported. */
const ROUNDS = 5;

/**
 * A kernel with `n` tasks on the task list, through the core's fork events (a chain: each the
 * parent of the next). They stay `new`, never woken: the GP scan visits each, none is a holdout.
 */
function kernelWithTasks(n: number): Kernel {
  const kernel = createKernel({ cpus: 2, seed: 1, plugins: [rcuTasks()] });
  populateTaskList(kernel, n);
  kernel.run({ until: (s) => s.cpus.every((c) => c.curr === 0) && s.runqueue.length === 0 });
  return kernel;
}

/** Median wall time of `rounds` calls of `path()` in a kernel thread, after one untimed call. */
function timeCalls(kernel: Kernel, path: () => KPath<void>, rounds: number): number {
  kernel.call(path(), { comm: 'bench-warm' });
  const ns: number[] = [];
  for (let i = 0; i < rounds; i++) ns.push(timeOnce(() => kernel.call(path(), { comm: 'bench-gp' })).ns);
  if (kernel.violations.length > 0) throw new Error(`rcu-tasks bench: ${kernel.violations[0]!.message}`);
  return median(ns);
}

/** The peer for the scan itself: a host-side walk of the same task list, reading each task. */
function bareWalk(kernel: Kernel): number {
  const list = kernel.state.tasks;
  const ns: number[] = [];
  let onRq = 0;
  for (let r = 0; r < ROUNDS; r++) {
    ns.push(
      timeOnce(() => {
        for (let pid = intMapNextKey(list, -1); pid !== -1; pid = intMapNextKey(list, pid)) {
          const t = intMapGet(list, pid)!;
          if (t.state === 'running' || t.state === 'runnable') onRq++;
        }
      }).ns,
    );
  }
  if (onRq < 0) throw new Error('unreachable');
  return median(ns);
}

const gpScaling = (): Row[] => {
  const rows: Row[] = [];
  const perTask = new Map<number, number>();
  // Untimed: warms the JIT on the GP path, so the smallest size is not charged for it.
  const warm = kernelWithTasks(1_000);
  timeCalls(warm, () => warm.api['rcu-tasks'].synchronizeRcuTasks(), ROUNDS);
  for (const n of SIZES) {
    const kernel = kernelWithTasks(n);
    const api = kernel.api['rcu-tasks'];
    const ours = timeCalls(kernel, () => api.synchronizeRcuTasks(), ROUNDS);
    const sched = timeCalls(kernel, () => synchronizeRcu(), ROUNDS);
    const walk = bareWalk(kernel);
    const last = kernel.state.plugins['rcu-tasks']!.tasks.lastGp!;
    process.stderr.write(
      `  ${n} tasks: GP ${(ours / 1e6).toFixed(2)} ms (${last.holdouts} holdouts), RCU-sched GP ${(sched / 1e6).toFixed(2)} ms, bare walk ${(walk / 1e6).toFixed(2)} ms\n`,
    );
    perTask.set(n, ours / n);
    rows.push(row(`rcu-tasks GP, ${n.toLocaleString('en-US')} tasks`, 'us/GP', ours / 1e3, sched / 1e3, 'core synchronizeRcu (RCU-sched GP), same kernel'));
    rows.push(row(`rcu-tasks GP per task, ${n.toLocaleString('en-US')} tasks`, 'ns/task', ours / n, walk / n, 'bare host walk of the task list'));
  }
  // Two references: at 1,000 tasks the whole task list sits in the CPU caches, which the bare
  // walk shows too (its time per task jumps between 1,000 and 10,000 tasks).
  const large = SIZES[SIZES.length - 1]!;
  for (const small of [1_000, 10_000]) {
    const ratio = perTask.get(large)! / perTask.get(small)!;
    rows.push({
      name: `rcu-tasks GP flatness, per task at ${large.toLocaleString('en-US')} / ${small.toLocaleString('en-US')} tasks`,
      unit: 'ratio',
      ours: ratio,
      peer: 2,
      peerName: 'target (linear or better)',
      speedup: 2 / ratio,
    });
  }
  return rows;
};

const FLOODERS = 8;
const PER_FLOODER = 500;
/** A flooder sleeps (a voluntary switch) after every this many callbacks. */
const BURST = 10;

/** Kernel threads queueing callbacks in bursts; returns the wall time and the GPs it took. */
function flood(kind: 'rcu-tasks' | 'rcu-sched'): { ns: number; gps: number; invoked: number } {
  const kernel = createKernel({ cpus: 2, seed: 1, plugins: [rcuTasks()] });
  const api = kernel.api['rcu-tasks'];
  let invoked = 0;
  const callback: RcuCallback = function* freeIt() {
    invoked++;
    yield* [];
  };
  for (let f = 0; f < FLOODERS; f++) {
    kernel.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < PER_FLOODER; i++) {
          if (kind === 'rcu-tasks') yield* api.callRcuTasks(callback, 'flood');
          else yield* callRcu(callback, 'flood');
          if (i % BURST === BURST - 1) yield* msleep(1);
          else yield* schedPoint();
        }
      })(),
      { comm: `flood${f}` },
    );
  }
  const { value: result, ns } = timeOnce(() => kernel.run());
  if (!result.done || result.violations.length > 0)
    throw new Error(`rcu-tasks flood (${kind}) did not finish cleanly: ${result.violations[0]?.message ?? 'not done'}`);
  const gps = kind === 'rcu-tasks' ? api.completed() : kernel.state.rcu.completed;
  return { ns, gps, invoked };
}

const floodBench = (): Row[] => {
  const total = FLOODERS * PER_FLOODER;
  const runs = { 'rcu-tasks': [] as Array<ReturnType<typeof flood>>, 'rcu-sched': [] as Array<ReturnType<typeof flood>> };
  for (let r = 0; r < 3; r++) {
    runs['rcu-tasks'].push(flood('rcu-tasks'));
    runs['rcu-sched'].push(flood('rcu-sched'));
  }
  for (const list of Object.values(runs))
    for (const f of list) if (f.invoked !== total) throw new Error(`rcu-tasks flood: ${f.invoked} of ${total} callbacks ran`);
  const ours = runs['rcu-tasks'];
  const peer = runs['rcu-sched'];
  const nsPer = (l: typeof ours) => median(l.map((f) => f.ns / total));
  const gpsPer1000 = (l: typeof ours) => (l[0]!.gps / total) * 1000;
  process.stderr.write(
    `  flood of ${total} callbacks: rcu-tasks ${ours[0]!.gps} GPs (${(total / ours[0]!.gps).toFixed(1)} callbacks/GP), RCU-sched ${peer[0]!.gps} GPs (${(total / peer[0]!.gps).toFixed(1)} callbacks/GP)\n`,
  );
  return [
    row(
      `rcu-tasks flood, ${FLOODERS} threads x ${PER_FLOODER} callbacks (whole run)`,
      'ns/callback',
      nsPer(ours),
      nsPer(peer),
      'core callRcu (RCU-sched), same flood',
    ),
    row(`rcu-tasks flood, grace periods per 1,000 callbacks`, 'GPs', gpsPer1000(ours), gpsPer1000(peer), 'core callRcu (RCU-sched), same flood'),
  ];
};

export const rcuTasksBench: Benchmark = {
  name: 'rcu-tasks',
  run(): Row[] {
    return [...gpScaling(), ...floodBench()];
  },
};
