export { main } from './cli.js';
export type { CliIo } from './cli.js';
export { cmdLitmus, LITMUS_USAGE } from './litmus.js';
export type { LitmusJson } from './litmus.js';
export { buildWorkload } from './workloads.js';
export type { BuildOptions } from './workloads.js';
export { defaultScenario, scenarios } from './scenarios.js';
export type { Session } from './scenarios.js';
/** @deprecated Renamed `Session` (a session runs a workload under a stack; a `Scenario` is a race with variants, from `@tracelab/scenarios`). */
export type { Session as CliScenario } from './scenarios.js';
export { defineConfig, loadConfig, CONFIG_FILES } from './config.js';
export type { TracelabConfig, ResolvedConfig, TimelineStep } from './config.js';
export { composeScenario, DEFAULT_COMPOSITION } from './scenarios.js';
export type { Composition } from './scenarios.js';
