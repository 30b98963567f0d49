import { TracelabError } from '@tracelab/core';

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
  /** Register the invariants and the liveness monitor. Default true. */
  readonly checks?: boolean;
  /**
   * Steps a grace period (or a queued callback with no GP yet) may stay pending, while every
   * runnable task gets to run, before the liveness monitor `rcu-tasks/gp-ends` fires.
   * Default 10,000.
   */
  readonly livenessBound?: number;
}

export type ResolvedRcuTasksOptions = Required<RcuTasksOptions>;

/** The option keys `rcuTasks()` knows; any other key is a typo and is refused. */
export const OPTION_KEYS: ReadonlyArray<keyof RcuTasksOptions> = [
  'hz',
  'stallTimeout',
  'quiescentOnPreempt',
  'traceQuiescentOnSwitch',
  'checks',
  'livenessBound',
];

export function resolveOptions(options: unknown): ResolvedRcuTasksOptions {
  const bad = (what: string, detail: Record<string, unknown> = {}): never => {
    throw new TracelabError('INVALID_OPTION', `rcu-tasks: ${what}`, { plugin: 'rcu-tasks', ...detail });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    bad(`options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      bad(`unknown option ${JSON.stringify(key)} (known options: ${OPTION_KEYS.join(', ')})`, { option: key, known: [...OPTION_KEYS] });
    }
  }
  const bool = (name: keyof RcuTasksOptions, fallback: boolean): boolean => {
    const v = o[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') bad(`option ${name} must be a boolean, got ${JSON.stringify(v)}`, { option: name });
    return v as boolean;
  };
  const int = (name: keyof RcuTasksOptions, fallback: number, min: number, max: number): number => {
    const v = o[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      bad(`option ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`, { option: name });
    }
    return v as number;
  };
  const hz = int('hz', 10, 1, 100_000);
  return {
    hz,
    stallTimeout: int('stallTimeout', 600 * hz, 0, Number.MAX_SAFE_INTEGER),
    quiescentOnPreempt: bool('quiescentOnPreempt', false),
    traceQuiescentOnSwitch: bool('traceQuiescentOnSwitch', false),
    checks: bool('checks', true),
    livenessBound: int('livenessBound', 10_000, 1, Number.MAX_SAFE_INTEGER),
  };
}
