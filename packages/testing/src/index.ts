/**
 * @tracelab/testing: the helpers a tracelab plugin's tests share. A kernel with a stack
 * (`kernelWith`), the events of one type (`eventsOf`), a clean run (`expectClean`), seeds and
 * checks over them (`seeds`, `overSeeds`), the first seed an unsafe variant fails on
 * (`findUnsafe`), and replay identity (`expectReplayIdentity`). The assertions use vitest's
 * `expect`, so the package is for vitest test files. See the package README.
 */
export { kernelWith, type KernelSetup } from './kernel.js';
export { eventsOf, type EventSource } from './events.js';
export { expectClean, expectReplayIdentity, type CleanResult, type ExpectCleanOptions, type ReplayIdentityOptions, type ReplaySetup } from './expect.js';
export { seeds, overSeeds, findUnsafe, type Made, type Ran, type SeedCheck, type SeedRunOptions, type SeedSet, type UnsafeRun } from './seeds.js';
export { failAllocs, forgeEvent } from './faults.js';
