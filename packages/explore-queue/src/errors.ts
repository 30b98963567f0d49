/**
 * The codes explore-queue adds to the core's `TracelabErrorCode` (declaration merging):
 *
 * - `QUEUE_UNREACHABLE`: Redis could not be reached, or stopped answering, for longer than the
 *   timeout (the message names the URL and what was being done);
 * - `QUEUE_CHUNK_FAILED`: a worker could not run a chunk (the scenario would not load, or the
 *   worker runs other code than the coordinator); the message has the worker's reason;
 * - `SHARD_MISMATCH`: `mergeShards` was given files of different explorations, a shard twice,
 *   or a file that is not a shard file.
 *
 * A malformed `redis://` URL is `INVALID_OPTION`.
 */
export type QueueErrorCode = 'QUEUE_UNREACHABLE' | 'QUEUE_CHUNK_FAILED' | 'SHARD_MISMATCH';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    QUEUE_UNREACHABLE: true;
    QUEUE_CHUNK_FAILED: true;
    SHARD_MISMATCH: true;
  }
}
