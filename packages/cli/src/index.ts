export { main } from './cli.js';
export type { CliIo } from './cli.js';
export { cmdLitmus, LITMUS_USAGE } from './litmus.js';
export type { LitmusJson } from './litmus.js';
export { buildWorkload } from './workloads.js';
export type { BuildOptions } from './workloads.js';
export { defaultScenario, scenarios } from './scenarios.js';
export type { CliScenario } from './scenarios.js';
