import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ScenarioSource } from '../scenario.js';

/** One explore worker thread (worker.ts) and the port the host talks to it on. */
export interface WorkerLink {
  readonly worker: Worker;
  readonly port: MessagePort;
}

/**
 * Starts a worker thread on `file` that imports the scenario from `source` and bumps `signal`
 * each time it posts; `data` says what it runs (`job`: chunks of schedules, `spec`: speculative
 * DPOR runs). The thread does not keep the process alive.
 */
export function startWorker(
  file: string,
  signal: Int32Array,
  source: ScenarioSource,
  data: { readonly job: unknown } | { readonly spec: unknown },
): WorkerLink {
  const { port1, port2 } = new MessageChannel();
  // No inherited flags: a test runner's `--conditions` would send the worker to TypeScript sources.
  const worker = new Worker(file, { workerData: { port: port2, signal, source, ...data }, transferList: [port2], execArgv: [] });
  worker.unref();
  return { worker, port: port1 };
}

/** Tells a worker to stop, closes its port and terminates it (without waiting). */
export function stopWorker(w: WorkerLink): void {
  w.port.postMessage({ type: 'stop' });
  w.port.close();
  void w.worker.terminate();
}
