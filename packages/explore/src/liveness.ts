import type { Kernel, LivenessMonitor } from '@tracelab/core';

/**
 * A liveness monitor for RCU-sched grace periods. It is hot while a grace period is in
 * progress and no CPU it waits for could be switched by the scheduler: each pending CPU is in a
 * preempt-disabled region, or nothing else is runnable. While a pending CPU runs a preemptible
 * task and another task waits, the grace period is only waiting for the schedule to preempt
 * (which a fair scheduler does), so the monitor is cold. The core then reports it only after it
 * has stayed hot more than `bound` steps *and* every task on the runqueue has been on a CPU in
 * that time. Together: no alarm while some runnable task has not had its chance, or while the
 * schedule could end the grace period by preempting; an alarm when it outlasts both. The count
 * is per grace period: back-to-back grace periods are progress, not one long stall.
 */
export function gracePeriodEnds(bound = 200): LivenessMonitor {
  // The grace period the monitor last saw in progress (host-side memo, written only by hot()).
  let seen = -1;
  return {
    bound,
    hot(s) {
      const gp = s.rcu.gp;
      if (gp === null) return null;
      // A stall is counted per grace period, as the kernel's stall warning is: when one ends
      // and the next starts in the same step, that is progress, and the count starts again.
      if (gp.seq !== seen) {
        seen = gp.seq;
        return null;
      }
      if (s.runqueue.length > 0 && gp.pending.some((c) => s.cpus[c]!.preemptCount === 0)) return null;
      return `RCU-sched grace period ${gp.seq} (started at tick ${gp.start}) has not ended: cpu ${gp.pending.join(', ')} still to pass a quiescent state, and none of them can be preempted`;
    },
  };
}

/** The name explore registers the grace-period monitor under. */
export const GRACE_PERIOD_MONITOR = 'explore/grace-period-ends';

/** Registers `gracePeriodEnds(bound)` on a kernel (a scenario's setup calls it). */
export function watchGracePeriods(kernel: Kernel, bound = 200): void {
  kernel.liveness(GRACE_PERIOD_MONITOR, gracePeriodEnds(bound));
}
