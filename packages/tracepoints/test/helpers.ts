// Shared with every plugin's tests (@tracelab/testing): events of a type, no violation and no oops.
export { eventsOf, expectClean, failAllocs } from '@tracelab/testing';
import { createKernel, type Kernel, type Strategy } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints, type TracepointProbe, type TracepointsOptions } from '@tracelab/tracepoints';

export interface KernelExtras {
  seed?: number;
  cpus?: number;
  faultInjection?: boolean;
  strategy?: Strategy;
  /** Put rcu-tasks in the stack (needed for faultable tracepoints). Default true. */
  rcuTasks?: boolean;
}

/** A kernel with the tracepoints plugin (and rcu-tasks unless asked otherwise). */
export function kernelWith(options: TracepointsOptions = {}, extra: KernelExtras = {}): Kernel {
  return createKernel({
    cpus: extra.cpus ?? 2,
    seed: extra.seed ?? 1,
    plugins: [extra.rcuTasks === false ? false : rcuTasks(), tracepoints(options)],
    ...(extra.faultInjection !== undefined ? { faultInjection: extra.faultInjection } : {}),
    ...(extra.strategy !== undefined ? { strategy: extra.strategy } : {}),
  });
}

/** A probe that records [tag, data, ...args] in `calls`, named `tag`. */
export function recorder(calls: unknown[][], tag: string): TracepointProbe {
  const probe: TracepointProbe = (data, ...args) => {
    calls.push([tag, data, ...args]);
  };
  Object.defineProperty(probe, 'name', { value: tag });
  return probe;
}
