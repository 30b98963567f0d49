/**
 * A torture worker thread: runs the chunks of seeds the main thread hands it and posts each
 * chunk's per-seed results, bumping a shared counter so a main thread blocked in
 * `Atomics.wait` wakes up. It runs the built package (worker threads cannot load TypeScript).
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { MechanismName } from './internal/mechanisms.js';

interface WorkerInit {
  readonly port: MessagePort;
  readonly signal: Int32Array;
}

const init = workerData as WorkerInit;
const post = (msg: unknown): void => {
  init.port.postMessage(msg);
  Atomics.add(init.signal, 0, 1);
  Atomics.notify(init.signal, 0);
};

try {
  const { runSeed } = await import('./internal/run.js');
  type Msg = { type: 'job'; job: { mechanism: MechanismName; variant: string; start: number; end: number }; stopAtFailure: boolean } | { type: 'stop' };
  init.port.on('message', (msg: Msg) => {
    if (msg.type === 'stop') {
      init.port.close();
      return;
    }
    try {
      const results = [];
      for (let seed = msg.job.start; seed < msg.job.end; seed++) {
        const r = runSeed(msg.job.mechanism, seed, msg.job.variant);
        results.push(r);
        if (msg.stopAtFailure && r.failure !== null) break;
      }
      post({ type: 'result', results });
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'error', message: `cannot load torture: ${err instanceof Error ? err.message : String(err)}` });
}
