/**
 * @tracelab/explore-queue: schedule exploration past one machine. The chunks of schedule
 * numbers of `@tracelab/explore` become BullMQ jobs on a Redis that any number of workers
 * take; the coordinator folds their results into the answer one process gives. Shard files do
 * the same for batch engines without a queue. See the package README and docs/explore.md.
 */
import './errors.js';

export type { QueueErrorCode } from './errors.js';
export { exploreOnQueue, QUEUE_CHUNK_SIZE } from './coordinator.js';
export type { QueueExploreOptions, QueueExploreResult, QueueProgress } from './coordinator.js';
export { startWorker } from './worker.js';
export type { WorkerHandle, WorkerOptions } from './worker.js';
export { runShard, mergeShards, checkShards, parseShard, SHARD_FORMAT } from './shard.js';
export type { ShardFile, ShardOptions } from './shard.js';
export { scenarioRef, moduleRef, loadScenario, codeVersion, explorationId, EXPLORE_QUEUE_VERSION } from './scenario-ref.js';
export type { ScenarioRef } from './scenario-ref.js';
export { parseRedisUrl, DEFAULT_QUEUE_NAME } from './internal/redis.js';
export type { RedisTarget } from './internal/redis.js';
