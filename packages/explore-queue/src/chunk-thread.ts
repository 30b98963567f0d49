/**
 * A worker thread of `startWorker`: runs chunks of schedule numbers, one at a time, so the
 * worker's main thread stays free to renew its BullMQ job locks while a chunk runs (a chunk is
 * synchronous CPU work; on the main thread it would starve the lock renewal, and BullMQ would
 * take the job for stalled). Scenarios are imported once per ref and checked against the
 * coordinator's code version once per (ref, variant, scale).
 */
import { parentPort } from 'node:worker_threads';
import { runPlannedChunk, type ChunkPlan, type Scenario } from '@tracelab/explore';
import { codeVersion, loadScenario, type ScenarioRef } from './scenario-ref.js';

export interface ThreadRequest {
  readonly id: number;
  readonly ref: ScenarioRef;
  readonly plan: ChunkPlan;
  readonly chunk: number;
  readonly version: string;
}

export type ThreadReply = { readonly id: number; readonly result: ReturnType<typeof runPlannedChunk> } | { readonly id: number; readonly error: string };

// Both written only by this thread's message handler (one message at a time).
const scenarios = new Map<string, Promise<Scenario>>();
const versions = new Map<string, string>();

async function run(req: ThreadRequest): Promise<ThreadReply> {
  try {
    const key = `${req.ref.module}#${req.ref.exportName}`;
    let loading = scenarios.get(key);
    if (loading === undefined) {
      loading = loadScenario(req.ref);
      scenarios.set(key, loading);
    }
    const s = await loading;
    const vkey = `${key}/${req.plan.variant}@${req.plan.scale}`;
    let version = versions.get(vkey);
    if (version === undefined) {
      version = codeVersion(s, req.ref, req.plan.variant, req.plan.scale);
      versions.set(vkey, version);
    }
    if (version !== req.version) {
      return {
        id: req.id,
        error: `this worker runs other code than the coordinator (code version ${version}, the exploration's is ${req.version}): rebuild or update the worker`,
      };
    }
    return { id: req.id, result: runPlannedChunk(s, req.plan, req.chunk) };
  } catch (err) {
    if (scenarios.has(`${req.ref.module}#${req.ref.exportName}`)) scenarios.delete(`${req.ref.module}#${req.ref.exportName}`);
    return { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
}

parentPort?.on('message', (req: ThreadRequest) => {
  void run(req).then((reply) => parentPort!.postMessage(reply));
});
