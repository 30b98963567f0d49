/**
 * @tracelab/scenarios: the races of the source threads as tracelab scenarios, each with its
 * fixed variant and the unsafe ones the thread argued about. See the package README and
 * docs/scenarios.md.
 */
export const SCENARIOS_VERSION = '0.1.0';

export { catalog, scenario } from './catalog.js';
// The one scenario type `tracelab run`, `explore` and `replay` take, for scenarios of your own.
export { defineScenario, variantOf, defaultScale } from '@tracelab/explore';
export type { Scenario, ScenarioScale, ScenarioSource, ScenarioVariant, SetupContext } from '@tracelab/explore';
export { forkFlagRace } from './fork-flag-race.js';
export { markerArrayFree } from './marker-array-free.js';
export { detachDuringCallback } from './detach-during-callback.js';
export { trampolineFree } from './trampoline-free.js';
export { commitAfterMigration } from './commit-after-migration.js';
export { utraceExitFlags } from './utrace-exit-flags.js';
export { markerPublish } from './marker-publish.js';
export { subbufCommitOrder } from './subbuf-commit-order.js';
export { ftraceRecursion } from './ftrace-recursion.js';
export { irqNestedCommit } from './irq-nested-commit.js';
export { optprobeFree } from './optprobe-free.js';
export { fgraphReturn } from './fgraph-return.js';
export { ftraceDirect } from './ftrace-direct.js';
export { srcuReaderDrain } from './srcu-reader-drain.js';
export { livepatchBpf } from './livepatch-bpf.js';
