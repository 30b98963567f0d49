/**
 * The worker thread of a parallel exploration. It imports the scenario from its module (the
 * built `dist/` of the package that exports it: worker threads cannot load TypeScript), runs
 * the chunks of schedule numbers the main thread hands it, and posts each chunk's result,
 * bumping a shared counter so a main thread blocked in `Atomics.wait` wakes up.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { Scenario, ScenarioSource } from './scenario.js';
import type { ChunkJob } from './internal/chunk.js';

interface WorkerInit {
  readonly port: MessagePort;
  readonly signal: Int32Array;
  readonly source: ScenarioSource;
  readonly job: ChunkJob;
}

const init = workerData as WorkerInit;
const post = (msg: unknown): void => {
  init.port.postMessage(msg);
  Atomics.add(init.signal, 0, 1);
  Atomics.notify(init.signal, 0);
};

try {
  // Imported here, not statically, so that a failure to load reaches the main thread as a message.
  const { runChunk } = await import('./internal/chunk.js');
  const mod = (await import(init.source.module)) as Record<string, unknown>;
  const scenario = mod[init.source.exportName] as Scenario | undefined;
  if (scenario === undefined || typeof scenario.setup !== 'function')
    throw new Error(`${init.source.module} exports no scenario named ${init.source.exportName}`);
  init.port.on('message', (msg: { type: 'chunk'; start: number; end: number } | { type: 'stop' }) => {
    if (msg.type === 'stop') {
      init.port.close();
      return;
    }
    try {
      post({ type: 'result', result: runChunk(scenario, init.job, msg.start, msg.end) });
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'error', message: `cannot load the scenario: ${err instanceof Error ? err.message : String(err)}` });
}
