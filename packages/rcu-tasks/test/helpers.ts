import {
  createKernel,
  definePlugin,
  msleep,
  schedPoint,
  type EventType,
  type Kernel,
  type KernelEvent,
  type KPath,
  type PluginStack,
  type RcuCallback,
  type Strategy,
} from '@tracelab/core';
import { rcuTasks, type RcuTasksOptions } from '@tracelab/rcu-tasks';

export interface Setup {
  readonly seed?: number;
  readonly cpus?: number;
  readonly options?: RcuTasksOptions;
  readonly strategy?: Strategy;
  readonly extra?: PluginStack;
}

/** A kernel with rcu-tasks and the `busy` test syscall. */
export function kernelWith({ seed = 1, cpus = 2, options = {}, strategy, extra = [] }: Setup = {}): Kernel {
  return createKernel({ cpus, seed, ...(strategy ? { strategy } : {}), plugins: [...extra, busySyscall(), rcuTasks(options)] });
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

export const SEEDS = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

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
