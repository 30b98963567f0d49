/**
 * SRCU readers that sleep and migrate while synchronize_srcu drains their per-CPU counters
 * (SEMANTICS.md §0, the SRCU row; kernel/rcu/srcutree.c). The scenario lives with its plugin in
 * `@tracelab/srcu` (its `sourceModule` points there, so worker threads import it from there);
 * the catalog lists it under `srcu-reader-drain`.
 */
export { scenario as srcuReaderDrain } from '@tracelab/srcu/scenario';
