/** @tracelab/explore: Schedule exploration for tracelab scenarios: seeded random walks, PCT, bounded-preemption DFS with partial-order reduction, shrinking, replay strings, liveness, worker threads. (under construction) */
export const EXPLORE_VERSION = '0.1.0';
