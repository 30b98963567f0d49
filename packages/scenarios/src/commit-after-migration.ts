import { msleep, type KPath, type Program } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { ringBuffer, type RingBufferApi, type RingBufferOptions } from '@tracelab/ring-buffer';

/**
 * Two 4 KiB sub-buffers per CPU: the whole run fits in each CPU's first one, delivered at the
 * flush. The session records the scheduler's switch, fork and exit and the syscall entries (no
 * wakeups, no syscall exits, no state dump): the race is the syscall-entry probe's.
 */
const BUFFER = {
  subbufSize: 4096,
  numSubbuf: 2,
  events: ['sched_switch', 'sched_process_fork', 'sched_process_exit', 'syscall_entry_*'],
  statedump: false,
} as const;

/**
 * `fixed` is the seed's proposal (in-place copy, dual counters). The two other copy strategies
 * the thread offers never commit from a CPU other than the one that reserved (the copy is done
 * before the reserve, or with preemption off), so they run with LOCAL counters only: they are
 * fixes of their own, not only faster variants of the fixed one.
 */
const OPTIONS: Readonly<Record<string, RingBufferOptions>> = {
  fixed: { ...BUFFER, commitCounters: 'local-remote', copyStrategy: 'in-place' },
  'local-only': { ...BUFFER, commitCounters: 'local-only', copyStrategy: 'in-place' },
  'temporary-buffer': { ...BUFFER, commitCounters: 'local-only', copyStrategy: 'temporary-buffer' },
  'fault-in-restart': { ...BUFFER, commitCounters: 'local-only', copyStrategy: 'fault-in-restart' },
};

/**
 * A user task opening `opens` files: each open's faultable syscall-entry probe sizes the path
 * (a user strlen, which faults the page in), reserves, copies it, commits.
 */
function opener(n: number, opens: number): Program {
  return function* w(u) {
    for (let i = 0; i < opens; i++) yield u.syscall('open', { path: `/srv/w${n}/f${i}`, flags: 0 });
  };
}

/**
 * Ticks the session records before the daemon stops it. The writers are done by then in the
 * default schedule (about 35 ticks); a schedule that holds one back past the flush has its later
 * records refused (-EAGAIN, not a loss). One long sleep, not a poll for the writers' exit: a
 * daemon waking every few ticks lets PCT starve the writers behind it.
 */
const SESSION = 60;

/** Open calls per writer. */
const OPENS = 1;

/** The session daemon (`lttng stop`): let the session record, then flush every CPU buffer. */
function* sessiond(api: RingBufferApi): KPath<void> {
  yield* msleep(SESSION);
  yield* api.flush();
}

/**
 * Committing after a migration (thread 004, "Faultable tracepoints (v2)", February 2021): two
 * writers' syscall-entry probes reserve a slot on their CPU's buffer with preemption off, copy
 * the user path with it on (a preemption there can move the task to the other CPU), and commit
 * from wherever they are; the session daemon stops the session, which switches (delivers) every
 * CPU's sub-buffer, and the delivery test reads the commit counters.
 */
export const commitAfterMigration = defineScenario({
  name: 'commit-after-migration',
  description: 'syscall probes reserve on one CPU, copy the user path preemptibly, and commit from wherever they run (ring-buffer)',
  source: 'shared/seeds/004_690fd12e3af7e5f1.txt: Faultable tracepoints (v2)',
  cpus: 2,
  maxSteps: 1000,
  scale: { name: 'writers', default: 2, min: 2 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'commitAfterMigration' },
  variants: [
    {
      name: 'fixed',
      description: 'reserve with preemption off, copy preemptible, commit LOCAL on the owner CPU and REMOTE (atomic) elsewhere; delivery reads the sum',
      safe: true,
    },
    {
      name: 'local-only',
      description: "commitCounters: 'local-only': a commit after migration is a CPU-local add made from another CPU, not atomic against the owner's",
      safe: false,
      expect: ['ring-buffer/delivery'],
    },
    {
      name: 'temporary-buffer',
      description: "copyStrategy: 'temporary-buffer' (local counters only): copy the user data first, then reserve, write and commit with preemption off",
      safe: true,
    },
    {
      name: 'fault-in-restart',
      description: "copyStrategy: 'fault-in-restart' (local counters only): fault the pages in, copy with preemption off, restart on a fault",
      safe: true,
    },
  ],
  plugins: (variant) => [rcuTasks(), tracepoints(), ringBuffer(OPTIONS[variant] ?? {})],
  // Memory pressure for fault-in-restart: a path page faulted in by the probe's sizing pass can
  // be evicted again before the copy, which is what sends its copy (preemption off, faults
  // disabled) down its restart path. The other variants copy preemptibly (a fault just sleeps)
  // and keep their schedules, so their recorded replay strings stay valid.
  reclaim: (variant) => variant === 'fault-in-restart',
  setup(kernel, { scale }) {
    for (let i = 0; i < scale; i++) kernel.spawn(opener(i, OPENS), { comm: `w${i}` });
    kernel.spawnKthread(sessiond(kernel.api['ring-buffer']), { comm: 'lttng-sessiond' });
    watchGracePeriods(kernel);
  },
});
