import { canonicalJson, createKernel, type Kernel, type PluginStack, type Program, type UserOps } from '@tracelab/core';
import { ftrace, functionTracer } from '@tracelab/ftrace';
import { ktrace, traceWhileRunning } from '@tracelab/ktrace';
import { markers, schedProbes } from '@tracelab/markers';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { ringBuffer } from '@tracelab/ring-buffer';
import { traceFirstComm, utrace } from '@tracelab/utrace';

/** The whole stack, as the CLI's default scenario composes it. */
export function fullStack(): PluginStack {
  return [markers(), ktrace(), rcuTasks(), ftrace(), tracepoints(), ringBuffer(), utrace()];
}

/** A build: `jobs` compiler drivers, each opening, stat-ing, reading and touching `files` sources. */
export function build(jobs: number, files: number): Program {
  function* cc(u: UserOps, job: number) {
    for (let f = 0; f < files; f++) {
      const fd: number = yield u.syscall('open', { path: `/src/u${job}/f${f}.c`, flags: 0 });
      yield u.syscall('stat', { path: `/usr/include/h${f % 3}.h` });
      yield u.syscall('read', { fd, buf: 0x20000 + (f % 8) * 0x1000, count: 4096 });
      yield u.touch(0x20000 + (f % 8) * 0x1000);
      yield u.compute(3);
      yield u.syscall('close', { fd });
    }
    yield u.exit(0);
  }
  return function* make(u: UserOps) {
    for (let j = 0; j < jobs; j++) {
      yield u.fork(function* cc1(u2: UserOps) {
        yield u2.exec('/usr/bin/cc1', (u3) => cc(u3, j));
      });
    }
    for (let j = 0; j < jobs; j++) yield u.wait();
    yield u.exit(0);
  };
}

/**
 * A traced run with every plugin busy: probes on the scheduler marker, the trace flag set
 * while the shells fork, a DYNAMIC ftrace ops registered and freed, the ring buffer recording,
 * a utrace engine on the first compiler. Runs until done or `minEvents` events.
 */
export function tracedRun(options: { shells: number; jobs: number; files: number; seed?: number; cpus?: number; minEvents?: number }): Kernel {
  const kernel = createKernel({ cpus: options.cpus ?? 2, seed: options.seed ?? 1, plugins: fullStack() });
  const sched = schedProbes();
  kernel.call(sched.register(kernel.api.markers), { comm: 'insmod-probes' });
  for (let s = 0; s < options.shells; s++) kernel.spawn(build(options.jobs, options.files), { comm: 'make' });
  kernel.spawnKthread(traceWhileRunning(kernel.api.ktrace, { after: 20 }), { comm: 'lttng-sessiond' });
  kernel.spawnKthread(functionTracer(kernel.api.ftrace, { after: 5, duration: 40 }), { comm: 'ftrace' });
  kernel.spawnKthread(traceFirstComm(kernel.api.utrace, 'cc1'), { comm: 'strace' });
  const min = options.minEvents ?? Number.POSITIVE_INFINITY;
  kernel.run({ maxSteps: 5_000_000, until: () => kernel.log.length >= min });
  return kernel;
}

/** The log as `tracelab run` writes it: canonical NDJSON, one event per line. */
export function ndjson(kernel: Kernel): string {
  let out = '';
  for (const e of kernel.log) out += canonicalJson(e) + '\n';
  return out;
}
