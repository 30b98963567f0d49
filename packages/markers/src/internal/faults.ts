import type { MarkersOptions } from '../types.js';

/**
 * Test-only fault injection (issue 22, "Invariants that no test shows firing"): breakages no
 * design argued for, so a test can watch an invariant fire. Tests import this module from
 * src/internal; the key is a symbol, so option validation and serialized options never see it.
 */
export const MARKERS_FAULTS: unique symbol = Symbol('tracelab.markers.faults');

export interface MarkersFaults {
  /** Registration and unregistration skip rcu_barrier_sched while rcu_pending is set: the entry's one rcu_head is reused with a free still in flight. */
  readonly skipRcuBarrier?: boolean;
}

export function withFaults(options: MarkersOptions, faults: MarkersFaults): MarkersOptions {
  return { ...options, [MARKERS_FAULTS]: faults } as MarkersOptions;
}

export function faultsOf(options: unknown): MarkersFaults {
  if (typeof options !== 'object' || options === null) return {};
  return ((options as Record<symbol, unknown>)[MARKERS_FAULTS] as MarkersFaults | undefined) ?? {};
}
