/**
 * @tracelab/torture: rcutorture for tracers. Swarm workloads, tracer-side churn from kernel
 * threads and Reader Pipe accounting on every tracelab mechanism, every invariant and liveness
 * monitor on, and the known-broken options it must catch. See the package README and
 * docs/torture.md.
 */
export const TORTURE_VERSION = '0.1.0';

export { torture } from './torture.js';
export type { MechanismSummary, TortureOptions, TortureResult, TortureViolation } from './torture.js';
export { formatMechanism, formatTortureSummary } from './format.js';
export { MECHANISM_NAMES, MECHANISMS, UNSAFE_OPTIONS } from './internal/mechanisms.js';
export type { Mechanism, MechanismName, UnsafeOption } from './internal/mechanisms.js';
export {
  decodeTortureReplay,
  encodeTortureReplay,
  replayTorture,
  runSeed,
  shrinkSeed,
  tortureScenario,
  unsafeOption,
  TORTURE_INVARIANT,
} from './internal/run.js';
export type { SeedResult, Shrunk } from './internal/run.js';
export { PIPE_LEN, Rig, gpCounts } from './internal/rig.js';
export type { Flavour, TortureObject } from './internal/rig.js';
export { drawWorkload, programOf, OP_KINDS } from './internal/workload.js';
export type { OpKind, PlannedOp, Workload } from './internal/workload.js';
export { READER_HOOKS, tortureReaders } from './internal/plugin.js';
