import { option, pluginOptions } from '@tracelab/core';

export interface RcuTasksOptions {
  /**
   * Ticks per simulated second (the kernel's HZ). The holdout rescans back off from `hz/10`
   * to `hz` ticks, as rcu_tasks_wait_gp's `fract` goes from 10 to 1, and the GP kthread sleeps
   * `hz/10` ticks after invoking a batch so that more callbacks collect. Default 10.
   */
  readonly hz?: number;
  /**
   * Ticks a grace period may wait on holdouts before an `rcu-tasks/stall` warning, and between
   * warnings (rcu_task_stall_timeout). Default 6000: the kernel's 10 minutes at the default
   * `hz`. 0 turns stall warnings off.
   */
  readonly stallTimeout?: number;
  /**
   * UNSAFE. Count preemption as a quiescent state: drop a holdout whose involuntary-switch
   * count changed. This is the rule the thread rejects ("there's no way to know ... if a task
   * has jumped to this trampoline and has been preempted"): a task preempted inside kernel code
   * is still there. Default false.
   */
  readonly quiescentOnPreempt?: boolean;
  /**
   * UNSAFE. For tasks-trace, apply RCU-sched's rule to sleepable readers: drop a holdout once
   * it has context-switched (or is not on a CPU), instead of waiting for its nesting to go back
   * to 0. A reader asleep in a page fault then looks quiescent. Default false.
   */
  readonly traceQuiescentOnSwitch?: boolean;
  /**
   * How a grace period covers tasks on their way out (docs/rcu-tasks.md 3.4).
   * - `'scan-unlisted'` (the default, the model's substitute): the holdout scan walks every task
   *   still in the state, released (unlisted) exiting ones included, so an exiting task is a
   *   holdout until its final switch.
   * - `'exit-srcu'` (upstream): the scan walks listed tasks only (`for_each_process_thread`); the
   *   exit path, from the `exit` hook to the end of the `death` hook, is a read side of an
   *   exit-SRCU domain (`exit_tasks_rcu_start` / `exit_tasks_rcu_finish`), and the GP, after the
   *   scan, waits until every task inside it at that point has left it
   *   (`synchronize_srcu(&tasks_rcu_exit_srcu)`). The GP's final RCU-sched wait covers what the
   *   task runs with preemption off after that.
   * - `'listed-only'` (UNSAFE): the scan walks listed tasks only and nothing covers the exit
   *   path, so a task released before the scan, still running kernel code, is not waited for.
   */
  readonly exitTasks?: RcuTasksExitMode;
  /**
   * UNSAFE, a test-only fault. Skip the GP's second RCU-sched wait (the one before the
   * callbacks). Under `exitTasks: 'exit-srcu'` a task that left its exit-SRCU section and runs
   * with preemption off before its final switch is then not waited for. Default false.
   */
  readonly skipSecondSync?: boolean;
  /** Register the invariants and the liveness monitor. Default true. */
  readonly checks?: boolean;
  /**
   * Steps a grace period (or a queued callback with no GP yet) may stay pending, while every
   * runnable task gets to run, before the liveness monitor `rcu-tasks/gp-ends` fires.
   * Default 10,000.
   */
  readonly livenessBound?: number;
}

/** The `exitTasks` option's values (see there). */
export type RcuTasksExitMode = 'scan-unlisted' | 'exit-srcu' | 'listed-only';
export const EXIT_MODES: readonly RcuTasksExitMode[] = ['scan-unlisted', 'exit-srcu', 'listed-only'];

export type ResolvedRcuTasksOptions = Required<RcuTasksOptions>;

/**
 * `rcuTasks(options)` resolved. An unknown key (a typo) and a value of the wrong kind throw
 * `INVALID_OPTION` naming the key and what it accepts.
 */
export const resolveOptions: (options: unknown) => ResolvedRcuTasksOptions = pluginOptions('rcu-tasks', {
  hz: option.integer(10, 1, 100_000),
  stallTimeout: option.defaultFrom(option.integer(6000, 0), (o: { hz: number }) => 600 * o.hz),
  quiescentOnPreempt: option.boolean(false),
  traceQuiescentOnSwitch: option.boolean(false),
  exitTasks: option.oneOf<RcuTasksExitMode>('scan-unlisted', EXIT_MODES),
  skipSecondSync: option.boolean(false),
  checks: option.boolean(true),
  livenessBound: option.integer(10_000, 1),
});

/**
 * The options as `kernel/plugin-registered` logs them: the keys added after logs were recorded
 * (`exitTasks`, `skipSecondSync`) only when they differ from their defaults, so a log of the
 * default configuration is what it was before they existed. Resolving the logged object gives
 * the same options back.
 */
export function loggedOptions(o: ResolvedRcuTasksOptions): Partial<ResolvedRcuTasksOptions> {
  const { exitTasks, skipSecondSync, ...rest } = o;
  return { ...rest, ...(exitTasks !== 'scan-unlisted' ? { exitTasks } : {}), ...(skipSecondSync ? { skipSecondSync } : {}) };
}
