import { current, fn, rcuIdleEnter, rcuIdleExit, type KPath } from '@tracelab/core';

/**
 * The idle loop's traced function, after kernel/sched/idle.c (with `traceIdle`): each pass of a
 * CPU's idle loop calls an instrumented `default_idle`, a kprobe-like site in the idle task.
 */

/**
 * The `idle` tap: one pass of the idle loop. It calls default_idle with RCU not watching
 * (rcu_idle_enter before the arch idle routine), so its mcount site runs in an extended
 * quiescent state: ftrace_sync's synchronize_rcu does not wait for it, and neither does
 * RCU-tasks (the idle task is on no task list).
 */
export function* defaultIdleHook(): KPath<void> {
  yield* rcuIdleEnter();
  yield* fn('default_idle', defaultIdle());
  yield* rcuIdleExit();
}

/** The body of the idle loop's instrumented function: the CPU just idles. */
export function* defaultIdle(): KPath<void> {
  yield* current();
}
