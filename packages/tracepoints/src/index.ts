/**
 * @tracelab/tracepoints: kernel/tracepoint.c as a tracelab plugin. Tracepoints with a static
 * key, probes registered by priority under tracepoints_mutex, copy-on-write probe arrays
 * published with rcu_assign_pointer and freed after a grace period of the readers' flavour
 * (RCU-sched, or Tasks-Trace for faultable tracepoints), tp_stub_func on allocation failure,
 * the 1->0->1 and 2->1 transition waits, module tracepoints. See the package README for the
 * API, events, state, invariants and variants, and docs/tracepoints.md for the design.
 */
import './events.js';

export { tracepoints, TRACEPOINTS_INVARIANTS, TRACEPOINTS_VERSION } from './internal/plugin.js';
export { TRACEPOINTS_MUTEX, TRACEPOINT_DEFAULT_PRIO } from './tracepoint.js';
export { tpStubFunc } from './internal/registry.js';
export { UNSAFE_VARIANTS } from './events.js';
export type {
  EarlyFree,
  ModuleTracepointSpec,
  ProbeArrayState,
  ProbeRef,
  ResolvedTracepointsOptions,
  SnapshotState,
  TracepointFuncInfo,
  TracepointInfo,
  TracepointProbe,
  TracepointRegfunc,
  TracepointReport,
  TracepointSite,
  TracepointSpec,
  TracepointState,
  TracepointTransition,
  TracepointUnregfunc,
  TracepointsApi,
  TracepointsOptions,
  TracepointsState,
  TracepointsUnsafe,
  TransitionSync,
} from './events.js';
