/**
 * @tracelab/explore: schedule exploration for tracelab scenarios. Seeded random walks, PCT, a
 * preemption-bounded DFS (every alternative within the bound) and DPOR (source sets over the
 * core's step footprints, bounded or exhaustive); shrinking to a fixed point; replay strings;
 * liveness; worker threads. See the package README and docs/explore.md.
 */
export const EXPLORE_VERSION = '0.1.0';

export { defineScenario, variantOf, defaultScale, scenarioKernelOptions, unsafeOptionVariants } from './scenario.js';
export type { Scenario, ScenarioScale, ScenarioSource, ScenarioVariant, SetupContext, UnsafeOptionVariant, UnsafeOptionVariants } from './scenario.js';
export { explore, defaultVariant, decisionSteps, planChunks, runPlannedChunk, foldChunks } from './explore.js';
export type { ChunkPlan, ExploreOptions, ExploreResult, Failure, TreeUnderWay } from './explore.js';
export type { ChunkResult } from './internal/chunk.js';
export { replay, encodeReplay, decodeReplay, replayString, replayContext, maxScale } from './replay.js';
export type { DecodedReplay, ReplayResult, ReplayTarget } from './replay.js';
export { gracePeriodEnds, watchGracePeriods, GRACE_PERIOD_MONITOR } from './liveness.js';
export { formatTrace, describeEvent } from './trace.js';
export type { TraceOptions } from './trace.js';
export {
  runSchedule,
  KernelPool,
  isPreemption,
  isStaleRead,
  deviationCost,
  isFailure,
  starvedAtAlarm,
  lenientReplay,
  EXPLORE_KERNEL_SEED,
  FAIRNESS_WINDOW,
} from './internal/run.js';
export type { Choice, ChoicePoint, Picker, RunOutcome, StarvedCpu } from './internal/run.js';
export { randomWalk, pct, indexedPicker, scheduleSeed, STRATEGIES } from './internal/strategies.js';
export type { IndexedStrategy, StrategyName } from './internal/strategies.js';
export { BoundedDfs, DFS_REDUCTIONS, visibleSegments } from './internal/dfs.js';
export { eventObjects, raceCoverage, racesOf, type RaceCoverage } from './internal/footprint.js';
export type { DfsReduction, DfsStats } from './internal/dfs.js';
export { Dpor } from './internal/dpor.js';
export { finalStateDigest } from './internal/equivalence.js';
export { auditReduction } from './audit.js';
export type { AuditDifference, AuditOptions, AuditSearch, ReductionAudit } from './audit.js';
export type { DporStats } from './internal/dpor.js';
export type { SpecStats } from './internal/speculate.js';
export { shrink, candidateOf } from './internal/shrink.js';
export type { Candidate, ShrinkResult } from './internal/shrink.js';
