/**
 * The lttng-modules state dump, after src/lttng-statedump-impl.c (lttng_statedump_start,
 * lttng_enumerate_process_states): the tasks there are when a session starts, so a trace
 * begun after them still knows each task's name, parent and state.
 */
import { getState, intMapGet, intMapValues, rcuReadLock, rcuReadUnlock, type KPath } from '@tracelab/core';
import { LTTNG_STATEDUMP_END, LTTNG_STATEDUMP_PROCESS_STATE, LTTNG_STATEDUMP_START, STATEDUMP_STATUS } from './tracepoints.js';
import { trace } from './tracepoint.js';
import type { RingBufferSession } from './internal/session.js';

/**
 * One `lttng_statedump_process_state` per task on the task list, between
 * `lttng_statedump_start` and `lttng_statedump_end`. lttng_enumerate_process_states walks the
 * list under rcu_read_lock() (for_each_process / while_each_thread), not the tasklist lock: the
 * walk sees the list as it was when the reader began (the version read after the lock), and
 * forks and exits on other CPUs go on meanwhile. A task forked during the walk is not dumped;
 * its sched_process_fork is in the trace instead.
 */
export function* statedump(st: RingBufferSession): KPath<void> {
  yield* trace(st, LTTNG_STATEDUMP_START.name, {});
  yield* rcuReadLock();
  try {
    const s = yield* getState();
    for (const t of intMapValues(s.tasks)) {
      // A host-started task not yet through its fork tail exists since kernel.spawn: only
      // its fork hooks are deferred, and no sched_process_fork will introduce it later.
      const hostBorn = t.parent === 0 && t.exitState === null;
      if (!t.listed && !t.kthread && !hostBorn) continue;
      // lttng-statedump: EXIT_ZOMBIE is LTTNG_ZOMBIE, EXIT_DEAD (released, or left so by an oops) LTTNG_DEAD.
      const status =
        t.exitState === 'dead'
          ? STATEDUMP_STATUS.dead
          : t.exitState === 'zombie'
            ? STATEDUMP_STATUS.zombie
            : t.state === 'running'
              ? STATEDUMP_STATUS.run
              : t.state === 'runnable'
                ? STATEDUMP_STATUS.waitCpu
                : STATEDUMP_STATUS.wait;
      const ppid = t.parent === 0 ? 0 : (intMapGet(s.tasks, t.parent)?.tgid ?? t.parent);
      yield* trace(st, LTTNG_STATEDUMP_PROCESS_STATE.name, {
        tid: t.pid,
        pid: t.tgid,
        ppid,
        name: t.comm,
        type: t.kthread ? 1 : 0,
        mode: t.syscall !== null ? 1 : 0,
        submode: 0,
        status,
        cpu: Math.max(0, t.cpu),
        file_table_address: 0,
      });
    }
  } finally {
    yield* rcuReadUnlock();
  }
  yield* trace(st, LTTNG_STATEDUMP_END.name, {});
}
