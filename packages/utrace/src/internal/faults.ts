import type { UtraceOptions } from '../index.js';

/**
 * Test-only fault injection (issue 22, "Invariants that no test shows firing"): breakages no
 * design argued for, so a test can watch an invariant fire. Tests import this module from
 * src/internal; the key is a symbol, so option validation and serialized options never see it.
 */
export const UTRACE_FAULTS: unique symbol = Symbol('tracelab.utrace.faults');

export interface UtraceFaults {
  /** utrace_control on a stopped target does not run utrace_reset: RESUME clears ENGINE_STOP and leaves the task in TASK_TRACED. */
  readonly controlSkipsReset?: boolean;
  /** utrace_set_events records the engine's new mask but leaves utrace_flags as they were. */
  readonly setEventsSkipsFlags?: boolean;
  /**
   * utrace_set_events adds death events without the tasklist read lock: it checks exit_state,
   * then (a scheduling point, where exit_notify and tracehook_report_death can run on the other
   * CPU) sets the flags.
   */
  readonly setEventsSkipsTasklistLock?: boolean;
}

export function withFaults(options: UtraceOptions, faults: UtraceFaults): UtraceOptions {
  return { ...options, [UTRACE_FAULTS]: faults } as UtraceOptions;
}

export function faultsOf(options: unknown): UtraceFaults {
  if (typeof options !== 'object' || options === null) return {};
  return ((options as Record<symbol, unknown>)[UTRACE_FAULTS] as UtraceFaults | undefined) ?? {};
}
