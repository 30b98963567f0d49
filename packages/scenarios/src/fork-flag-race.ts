import { msleep, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { ktrace, type KtraceApi, type KtraceOptions } from '@tracelab/ktrace';

const OPTIONS: Readonly<Record<string, KtraceOptions>> = {
  fixed: {},
  'no-recopy': { forkRecopy: false },
  'rcu-walk': { walk: 'rcu' },
  'lttng-order': { forkRecopy: 'before-link' },
  'recopy-before-lock': { forkRecopy: 'before-lock' },
  'rcu-walk-live': { walk: 'rcu', rcuView: 'live' },
  'rcu-walk-live-lttng-order': { walk: 'rcu', rcuView: 'live', forkRecopy: 'before-link' },
};

/** The tracer's control path: wait a tick, then set the flag on every thread and keep it. */
function* tracer(api: KtraceApi): KPath<number> {
  yield* msleep(1);
  return yield* api.setKernelTraceFlagAllTasks();
}

/**
 * The kernel trace flag against fork (thread 000, Desnoyers/Weisbecker, March 2009): a tracer
 * kthread sets TIF_KERNEL_TRACE on every thread while a shell forks. The tracer is pid 1 and
 * the shell pid 2, so the walk (in list order) reaches the shell one scheduling point in,
 * while its forks are between dup_task_struct and the link under the tasklist write lock.
 */
export const forkFlagRace = defineScenario({
  name: 'fork-flag-race',
  description: 'a tracer sets the kernel trace flag on every thread while a shell forks (ktrace)',
  source: 'shared/seeds/000_9523d1038688baea.txt: LTTng Kernel Trace Thread Flag API',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 2000,
  scale: { name: 'children', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'forkFlagRace' },
  variants: [
    { name: 'fixed', description: 'walk under the tasklist read lock, flag re-copied at fork under the tasklist write lock', safe: true },
    {
      name: 'no-recopy',
      description: 'forkRecopy: false: the child keeps the flag dup_task_struct copied before the walk passed',
      safe: false,
      expect: ['ktrace/flag'],
    },
    {
      name: 'rcu-walk',
      description:
        "walk: 'rcu': the walk is an RCU-sched reader, which excludes no fork, and reads the list as it was when its section began (the stand-in for a weakly ordered machine)",
      safe: false,
      expect: ['ktrace/flag'],
    },
    {
      name: 'lttng-order',
      description:
        "forkRecopy: 'before-link': LTTng's order, the re-copy under the tasklist write lock before the list insertion; safe under the read-lock walk",
      safe: true,
    },
    {
      name: 'recopy-before-lock',
      description: "forkRecopy: 'before-lock': the re-copy before write_lock(tasklist_lock): the read-lock walk passes between it and the insertion",
      safe: false,
      expect: ['ktrace/flag'],
    },
    {
      name: 'rcu-walk-live',
      description:
        "walk: 'rcu', rcuView: 'live', upstream's order (insert, then re-copy): on a sequentially consistent machine no interleaving loses the child (SEMANTICS.md §6)",
      safe: true,
    },
    {
      name: 'rcu-walk-live-lttng-order',
      description:
        "walk: 'rcu', rcuView: 'live', forkRecopy: 'before-link': the race of SEMANTICS.md §1(c) as the thread describes it: the re-copy reads 0, the walker sets the parent and leaves the tail, then the child is inserted",
      safe: false,
      expect: ['ktrace/flag'],
    },
  ],
  plugins: (variant) => [ktrace(OPTIONS[variant] ?? {})],
  setup(kernel, { scale }) {
    kernel.spawnKthread(tracer(kernel.api.ktrace), { comm: 'tracer' });
    kernel.spawn(
      function* sh(u) {
        for (let i = 0; i < scale; i++) {
          yield u.fork(function* child(u2) {
            yield u2.syscall('getpid');
            yield u2.exit(0);
          });
        }
        for (let i = 0; i < scale; i++) yield u.wait();
      },
      { comm: 'sh' },
    );
    watchGracePeriods(kernel);
  },
});
