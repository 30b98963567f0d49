import type { ChunkPlan, ChunkResult } from '@tracelab/explore';
import type { ScenarioRef } from '../scenario-ref.js';

/** A BullMQ job's data: one chunk of one exploration. Plain JSON. */
export interface ChunkJobData {
  readonly exploration: string;
  readonly ref: ScenarioRef;
  readonly plan: ChunkPlan;
  readonly chunk: number;
  /** The coordinator's code version; a worker that computes another refuses the chunk. */
  readonly version: string;
}

/** What a worker stores under the chunk's number in the exploration's results hash. */
export interface StoredResult {
  readonly result: ChunkResult;
  /** `host:pid` of the worker that ran it. */
  readonly worker: string;
}

/** The job id of a chunk: BullMQ adds a job id once, so a chunk is queued at most once at a time. */
export function jobIdOf(exploration: string, chunk: number): string {
  return `${exploration}-${chunk}`;
}
