/**
 * The worker thread of a parallel exploration. It imports the scenario from its module (the
 * built `dist/` of the package that exports it: worker threads cannot load TypeScript), runs
 * the chunks of schedule numbers the main thread hands it (seeded strategies) or the speculative
 * runs of a bounded DPOR search (`spec` in its data; internal/speculate.ts), and posts each
 * result, bumping a shared counter so a main thread blocked in `Atomics.wait` wakes up.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { Scenario, ScenarioSource } from './scenario.js';
import type { ChunkJob } from './internal/chunk.js';
import type { SpecRequest } from './internal/speculate.js';

interface WorkerInit {
  readonly port: MessagePort;
  readonly signal: Int32Array;
  readonly source: ScenarioSource;
  readonly job?: ChunkJob;
  readonly spec?: { readonly variant: string; readonly scale: number; readonly symmetric: boolean };
}

const init = workerData as WorkerInit;
const post = (msg: unknown, transfer: ArrayBuffer[] = []): void => {
  init.port.postMessage(msg, transfer);
  Atomics.add(init.signal, 0, 1);
  Atomics.notify(init.signal, 0);
};

try {
  // Imported here, not statically, so that a failure to load reaches the main thread as a message.
  const { runChunk } = await import('./internal/chunk.js');
  const { SpecEncoder, runSpeculated } = await import('./internal/speculate.js');
  const { KernelPool } = await import('./internal/run.js');
  const mod = (await import(init.source.module)) as Record<string, unknown>;
  const scenario = mod[init.source.exportName] as Scenario | undefined;
  if (scenario === undefined || typeof scenario.setup !== 'function')
    throw new Error(`${init.source.module} exports no scenario named ${init.source.exportName}`);
  const spec = init.spec;
  // One kernel for this thread's speculative runs, reset between them (guarded by: this thread).
  const pool = spec === undefined ? null : new KernelPool();
  const encoder = spec === undefined ? null : new SpecEncoder();
  init.port.on('message', (msg: { type: 'chunk'; start: number; end: number } | { type: 'spec-run'; req: SpecRequest } | { type: 'stop' }) => {
    if (msg.type === 'stop') {
      init.port.close();
      return;
    }
    try {
      if (msg.type === 'spec-run') {
        const wire = encoder!.encode(runSpeculated(scenario, spec!.variant, spec!.scale, spec!.symmetric, msg.req, pool!));
        post({ type: 'spec-result', wire }, [wire.data.buffer as ArrayBuffer]);
      } else post({ type: 'result', result: runChunk(scenario, init.job!, msg.start, msg.end) });
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'error', message: `cannot load the scenario: ${err instanceof Error ? err.message : String(err)}` });
}
