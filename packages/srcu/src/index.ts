/**
 * @tracelab/srcu: sleepable RCU (kernel/rcu/srcutree.c) as a tracelab plugin. Per-domain
 * srcu_structs whose readers count their lock and unlock in per-CPU counters of two slots, and
 * may sleep and migrate in between; grace periods that drain the slot new readers left, twice
 * around the index flip; call_srcu, synchronize_srcu, srcu_barrier. See the package README for
 * the API, events, invariants and variants, and docs/srcu.md for the design.
 */
import './events.js';

export { srcu, SRCU_VERSION } from './internal/plugin.js';
export { SRCU_INVARIANTS } from './internal/reducers.js';
export { UNSAFE_VARIANTS } from './events.js';
export type { ResolvedSrcuOptions, SrcuApi, SrcuOptions, SrcuUnsafe, SrcuWarnReason } from './events.js';
export type { SrcuDomainState, SrcuGpState, SrcuReaderState, SrcuState, SrcuViolation } from './state.js';
// The scenario is `@tracelab/srcu/scenario`, not exported here: it imports @tracelab/explore
// (Node-only), and the plugin must load anywhere a stack does (the viewer's browser page).
