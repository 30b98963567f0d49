import { definePlugin, msleep, schedPoint, type Kernel, type KPath, type PluginStack, type RcuCallback, type Strategy } from '@tracelab/core';
import { rcuTasks, type RcuTasksOptions } from '@tracelab/rcu-tasks';
import { kernelWith } from '@tracelab/testing';

export interface Setup {
  readonly seed?: number;
  readonly cpus?: number;
  readonly options?: RcuTasksOptions;
  readonly strategy?: Strategy;
  readonly extra?: PluginStack;
}

/** A kernel with rcu-tasks and the `busy` test syscall. */
export function rcuTasksKernel({ seed = 1, cpus = 2, options = {}, strategy, extra = [] }: Setup = {}): Kernel {
  return kernelWith({ plugins: [...extra, busySyscall(), rcuTasks(options)], cpus, seed, strategy });
}

/**
 * A test syscall, `busy`, that stays `n` scheduling points in kernel mode without a voluntary
 * switch (a task "on a trampoline": preemptible, never sleeping).
 */
export function busySyscall() {
  return definePlugin({
    name: 'testsys',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.defineSyscall('busy', function* busy(args) {
        for (let i = 0; i < (args['n'] ?? 1); i++) yield* schedPoint();
        return 0;
      });
      return {};
    },
  });
}

/** A kernel-mode section of `n` scheduling points with no voluntary switch, then a sleep. */
export function* kernelSection(n: number, sleepAfter = 1): KPath<void> {
  for (let i = 0; i < n; i++) yield* schedPoint();
  if (sleepAfter > 0) yield* msleep(sleepAfter);
}

/**
 * `n` user tasks computing `ticks` ticks in user mode: they keep the runqueue busy, so tasks in
 * the kernel get preempted (which lets RCU-sched grace periods end around them).
 */
export function userLoad(k: Kernel, n: number, ticks: number): void {
  for (let i = 0; i < n; i++) {
    k.spawn(
      function* load(u) {
        yield u.compute(ticks);
      },
      { comm: 'load' },
    );
  }
}

/** An RCU callback that does `fn` (plain host work) and nothing else in the kernel. */
export function cb(fn: () => void = () => undefined): RcuCallback {
  return function* callback() {
    fn();
    yield* []; // a callback is a kernel path even when it issues no command
  };
}
