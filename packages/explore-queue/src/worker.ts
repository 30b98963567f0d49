import { hostname } from 'node:os';
import { TracelabError } from '@tracelab/core';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { ChunkPool } from './internal/pool.js';
import { abandon, connectionOptions, DEFAULT_QUEUE_NAME, keysOf, parseRedisUrl, RESULTS_TTL_S, unreachable, within } from './internal/redis.js';
import type { ChunkJobData, StoredResult } from './internal/job.js';

export interface WorkerOptions {
  /** `redis://HOST:PORT` */
  readonly url: string;
  /** Chunks run at once, each in its own thread. Default 1. */
  readonly concurrency?: number;
  /** The BullMQ queue (default `tracelab-explore`); coordinator and workers must agree. */
  readonly queueName?: string;
  /**
   * How long a job's lock lasts without renewal (BullMQ `lockDuration`, default 30,000 ms): a
   * worker killed mid-chunk has its chunk run again by another worker within about this plus
   * `stalledIntervalMs`. The lock is renewed at half of it while the chunk runs.
   */
  readonly lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (BullMQ `stalledInterval`, default 30,000 ms). */
  readonly stalledIntervalMs?: number;
  /** Redis silent this long: the worker stops with `QUEUE_UNREACHABLE`. Default 30,000 ms. */
  readonly redisTimeoutMs?: number;
  /** Called after each chunk this worker stored (for logs). */
  readonly onChunk?: (e: { readonly exploration: string; readonly chunk: number; readonly schedules: number; readonly failed: boolean }) => void;
}

export interface WorkerHandle {
  /** `host:pid`, stored with every result this worker writes. */
  readonly id: string;
  /** Resolves when `close()` finished; rejects with `QUEUE_UNREACHABLE` when Redis went away. */
  readonly closed: Promise<void>;
  /** Finishes the chunks in progress, then stops taking jobs. */
  close(): Promise<void>;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < 1) throw new TracelabError('INVALID_OPTION', `worker: ${name} must be a positive integer, got ${v}`);
  return n;
}

/**
 * Starts a worker: takes chunk jobs of any exploration from the queue, runs each in a thread,
 * and stores the result in the exploration's results hash (HSETNX: the first result of a chunk
 * is kept; a chunk run twice, after its worker died, gives the same data anyway) before the
 * job completes. A chunk past the exploration's known first failure (its `cutoff`) is skipped.
 * Resolves once connected; `QUEUE_UNREACHABLE` if Redis does not answer within the timeout.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const target = parseRedisUrl(options.url);
  const concurrency = positive('concurrency', options.concurrency, 1);
  const timeoutMs = positive('redisTimeoutMs', options.redisTimeoutMs, 30_000);
  const lockDuration = positive('lockDurationMs', options.lockDurationMs, 30_000);
  const stalledInterval = positive('stalledIntervalMs', options.stalledIntervalMs, 30_000);
  const id = `${hostname()}:${process.pid}`;
  const pool = new ChunkPool(concurrency);
  // Written by the error handlers, read for messages.
  let lastError: unknown;

  const processor = async (job: Job<ChunkJobData>): Promise<string> => {
    const d = job.data;
    const keys = keysOf(d.exploration);
    const client = await worker.client;
    const cutoff = await client.get(keys.cutoff);
    if (cutoff !== null && d.chunk > Number(cutoff)) return 'skipped: past the first failure';
    const out = await pool.run({ ref: d.ref, plan: d.plan, chunk: d.chunk, version: d.version });
    if ('error' in out) {
      // Deterministic (the same scenario fails to load everywhere): fail the job now, no retry.
      await client.runCommand('hsetnx', [keys.errors, String(d.chunk), `${id}: ${out.error}`]);
      throw new UnrecoverableError(out.error);
    }
    const stored: StoredResult = { result: out.result, worker: id };
    await client.runCommand('hsetnx', [keys.results, String(d.chunk), JSON.stringify(stored)]);
    await client.runCommand('expire', [keys.results, RESULTS_TTL_S]);
    options.onChunk?.({ exploration: d.exploration, chunk: d.chunk, schedules: out.result.schedules, failed: out.result.fail !== null });
    return 'stored';
  };

  const worker = new Worker<ChunkJobData, string>(options.queueName ?? DEFAULT_QUEUE_NAME, processor, {
    connection: connectionOptions(target, timeoutMs),
    concurrency,
    lockDuration,
    stalledInterval,
    // A worker killed with -9 loses its lock; another worker puts the chunk back in the queue.
    // A chunk whose workers keep dying is failed after this many, and the coordinator re-adds it.
    maxStalledCount: 5,
    autorun: false,
  });
  worker.on('error', (err) => {
    lastError = err;
  });

  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const closed = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  closed.catch(() => undefined);
  let closing = false;
  // Set once the worker runs; read by stop().
  const timers: { watchdog?: NodeJS.Timeout } = {};
  const stop = async (err?: TracelabError): Promise<void> => {
    if (closing) return closed;
    closing = true;
    clearInterval(timers.watchdog);
    if (err !== undefined) {
      // Redis is gone: BullMQ's close would wait for it. Drop the connections and the threads.
      await abandon({ close: () => worker.close(true), disconnect: () => worker.disconnect() });
      await pool.close();
      settle.reject(err);
    } else {
      await worker.close().catch(() => undefined);
      await pool.close();
      settle.resolve();
    }
    return closed.catch(() => undefined);
  };

  try {
    await within(target, timeoutMs, 'starting a worker', worker.waitUntilReady(), () => lastError);
  } catch (err) {
    await stop(err as TracelabError);
    throw err;
  }
  void worker.run().catch((err) => {
    lastError = err;
  });
  // Host-side wall clock, outside the simulation on purpose: a watchdog over the network connection.
  // BullMQ reconnects forever; this turns a Redis that stays away into an error.
  let silentSince: number | null = null;
  let pinging = false;
  timers.watchdog = setInterval(
    () => {
      if (pinging || closing) return;
      pinging = true;
      void within(
        target,
        Math.min(timeoutMs, 2000),
        'pinging',
        worker.client.then((c) => c.runCommand('ping', [])),
        () => lastError,
      )
        .then(() => {
          silentSince = null;
        })
        .catch((err) => {
          silentSince ??= Date.now() - Math.min(timeoutMs, 2000);
          if (Date.now() - silentSince >= timeoutMs) void stop(unreachable(target, 'running chunks', `did not answer for ${timeoutMs} ms`, lastError ?? err));
        })
        .finally(() => {
          pinging = false;
        });
    },
    Math.min(1000, timeoutMs),
  );
  return { id, closed, close: () => stop() };
}
