import type { Kernel, Program } from '@tracelab/core';
import { kernelWith } from '@tracelab/testing';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { ringBuffer, type RingBufferOptions } from '../src/index.js';

/** A shell-like workload: `tasks` tasks each opening `opens` distinct paths, forking a child that stats one. */
export function workload(tasks: number, opens: number): Program[] {
  return Array.from(
    { length: tasks },
    (_, t) =>
      function* worker(u) {
        for (let i = 0; i < opens; i++) {
          yield u.syscall('open', { path: `/srv/t${t}/file-${i}.txt`, flags: i });
          yield u.compute(1);
        }
        yield u.fork(function* child(u2) {
          yield u2.syscall('stat', { path: `/srv/t${t}/child` });
          yield u2.exit(t);
        });
        yield u.wait();
      } as Program,
  );
}

/** A kernel with the ring buffer's stack (rcu-tasks, then the ring buffer with `options`). */
export function makeKernel(seed: number, options: RingBufferOptions = {}, cpus = 2): Kernel {
  return kernelWith({ cpus, seed, plugins: [rcuTasks(), tracepoints(), ringBuffer(options)] });
}

export function runWorkload(seed: number, options: RingBufferOptions, tasks = 4, opens = 6, cpus = 2): Kernel {
  const k = makeKernel(seed, options, cpus);
  for (const p of workload(tasks, opens)) k.spawn(p);
  k.run();
  return k;
}

export function runWorkloadBounded(seed: number, options: RingBufferOptions, maxSteps: number, tasks = 4, opens = 6, cpus = 2) {
  const k = makeKernel(seed, options, cpus);
  for (const p of workload(tasks, opens)) k.spawn(p);
  const r = k.run({ maxSteps });
  return { k, r };
}
