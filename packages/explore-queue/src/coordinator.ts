import { TracelabError } from '@tracelab/core';
import { foldChunks, planChunks, type ChunkPlan, type ChunkResult, type ExploreOptions, type ExploreResult, type Scenario } from '@tracelab/explore';
import { Queue } from 'bullmq';
import { jobIdOf, type ChunkJobData, type StoredResult } from './internal/job.js';
import { abandon, connectionOptions, DEFAULT_QUEUE_NAME, keysOf, parseRedisUrl, RESULTS_TTL_S, within } from './internal/redis.js';
import { codeVersion, explorationId, type ScenarioRef } from './scenario-ref.js';

/** Schedules per chunk on the queue: see docs/benchmarks.md (the queue's cost per chunk). */
export const QUEUE_CHUNK_SIZE = 256;

export interface QueueProgress {
  /** Schedules whose chunks are in (up to the first failure, once known). */
  readonly schedules: number;
  /** Schedules the search needs at most: the budget, or up to the end of the first failing chunk. */
  readonly total: number;
  readonly chunks: number;
  readonly chunksTotal: number;
  /** Schedules per second since this coordinator started, over every worker. */
  readonly rate: number;
  /** Seconds left at that rate, or null before the first chunk came in. */
  readonly etaSeconds: number | null;
  /** Distinct workers whose results came in. */
  readonly workers: number;
  /** Chunks found in Redis from an earlier run of the same exploration. */
  readonly resumed: number;
}

export interface QueueExploreOptions extends Pick<ExploreOptions, 'variant' | 'budget' | 'seed' | 'selfCheckEvery' | 'shrink' | 'shrinkRuns' | 'scale'> {
  readonly strategy?: 'portfolio' | 'random' | 'pct';
  /** `redis://HOST:PORT` */
  readonly url: string;
  readonly queueName?: string;
  /** Schedules per job. Default `QUEUE_CHUNK_SIZE`. The answer does not depend on it. */
  readonly chunkSize?: number;
  /** Jobs in the queue at once, lowest chunk numbers first. Default 256. */
  readonly window?: number;
  /** Redis silent this long: `QUEUE_UNREACHABLE`. Default 30,000 ms. */
  readonly redisTimeoutMs?: number;
  /** How often the results are polled. Default 25 ms. */
  readonly pollMs?: number;
  readonly progress?: (p: QueueProgress) => void;
  /** Called once connected, with the exploration id and the chunks already in Redis. */
  readonly onStart?: (s: { readonly exploration: string; readonly resumed: number; readonly chunks: number; readonly chunkSize: number }) => void;
}

export interface QueueExploreResult extends ExploreResult {
  /** The exploration id: the Redis keys and job ids of this exploration carry it. */
  readonly exploration: string;
  readonly codeVersion: string;
  /** Chunks this run found already in Redis (a restarted coordinator resumes from them). */
  readonly resumed: number;
  readonly chunkSize: number;
}

function parseStored(exploration: string, chunk: number, text: string): StoredResult {
  try {
    return JSON.parse(text) as StoredResult;
  } catch {
    throw new TracelabError('QUEUE_CHUNK_FAILED', `queue: the result of chunk ${chunk} of exploration ${exploration} in Redis is not JSON`);
  }
}

/** `v`, or `dflt` when it is undefined; `INVALID_OPTION` naming the option unless a positive safe integer. */
function positiveOption(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < 1) throw new TracelabError('INVALID_OPTION', `exploreOnQueue: ${name} must be a positive integer, got ${v}`);
  return n;
}

type RedisClient = Awaited<Queue<ChunkJobData>['client']>;

/** What a coordinator works with, fixed once connected. */
interface CoordinatorSetup {
  readonly queue: Queue<ChunkJobData>;
  readonly client: RedisClient;
  /** Bounds one Redis call by the time limit, naming what it was doing. */
  readonly redis: <T>(what: string, p: Promise<T>) => Promise<T>;
  readonly plan: ChunkPlan;
  readonly ref: ScenarioRef;
  readonly version: string;
  readonly exploration: string;
  readonly keys: ReturnType<typeof keysOf>;
  readonly window: number;
  readonly pollMs: number;
  readonly progress: ((p: QueueProgress) => void) | undefined;
}

/**
 * The coordinator's view of one exploration on the queue. Its fields are written only by its
 * own methods, which `exploreOnQueue` runs one at a time (each awaited before the next), so no
 * two of them interleave.
 */
class Coordinator {
  /** Results in Redis by chunk: those found at the start, then those polled. */
  readonly results = new Map<number, StoredResult>();
  /** Chunks whose job this coordinator queued and whose result has not come in. */
  private readonly queued = new Set<number>();
  /** Chunks whose job vanished without a result: queued again first. */
  private readonly lost = new Set<number>();
  /** Distinct workers whose results came in. */
  readonly workers = new Set<string>();
  /** The lowest chunk known to fail; Infinity while none is. */
  private lowestFail = Infinity;
  /** The next chunk `fill` has not considered yet. */
  private next = 0;
  /** The first chunk without a result; the search is settled when it passes the lowest failure or the end. */
  private frontier = 0;
  /** Chunks found in Redis from an earlier run. */
  private resumed = 0;
  /** Schedules of the results this run polled (not the resumed ones): the rate's numerator. */
  private schedulesHere = 0;
  // Host-side wall clock, outside the simulation on purpose: it measures the campaign's rate and ETA for
  // the progress line and the poll loop's sweep interval; no schedule or result depends on it.
  private started = 0;
  private lastSweep = 0;

  constructor(private readonly s: CoordinatorSetup) {}

  /** Reads what Redis holds from an earlier run of this exploration; returns how many chunks. */
  async resume(): Promise<number> {
    const { client, redis, keys, exploration } = this.s;
    // A fresh start retries chunks that failed on a worker before.
    await redis('reading earlier results', client.del(keys.errors));
    const earlier = await redis('reading earlier results', client.hgetall(keys.results));
    for (const [field, text] of Object.entries(earlier)) {
      const c = Number(field);
      const stored = parseStored(exploration, c, text);
      this.results.set(c, stored);
      if (stored.result.fail !== null) this.lowestFail = Math.min(this.lowestFail, c);
    }
    this.resumed = this.results.size;
    return this.resumed;
  }

  /** Records the plan, the scenario and the code version, for workers and for `merge`. */
  async writeExploration(): Promise<void> {
    const { client, redis, keys, plan, ref, version } = this.s;
    await redis('writing the exploration', client.hset(keys.meta, { plan: JSON.stringify(plan), ref: JSON.stringify(ref), version }));
    await redis('writing the exploration', client.runCommand('expire', [keys.meta, RESULTS_TTL_S]));
  }

  /** Queues chunks and polls their results until the search is settled. */
  async run(): Promise<void> {
    // Host-side wall clock, outside the simulation on purpose: only the progress report's rate.
    this.started = Date.now();
    for (const r of this.results.values()) this.workers.add(r.worker);
    this.advance();
    if (this.lowestFail !== Infinity) await this.dropLater();
    // Host-side wall clock and timer, outside the simulation on purpose: the coordinator polls
    // Redis for results every pollMs and sweeps worker errors once a second; no schedule reads them.
    this.lastSweep = Date.now();
    this.report();
    while (!this.settled()) {
      await this.fill();
      await new Promise((r) => setTimeout(r, this.s.pollMs));
      if (await this.poll()) await this.dropLater();
      this.advance();
      if (Date.now() - this.lastSweep >= 1000) {
        this.lastSweep = Date.now();
        await this.sweep();
        this.report();
      }
    }
    this.report();
  }

  private advance(): void {
    while (this.frontier < this.s.plan.chunks && this.results.has(this.frontier) && this.frontier <= this.lowestFail) this.frontier++;
  }

  private settled(): boolean {
    return this.frontier > this.lowestFail || this.frontier >= this.s.plan.chunks;
  }

  private report(): void {
    const { progress, plan } = this.s;
    if (progress === undefined) return;
    const last = Math.min(plan.chunks, this.lowestFail + 1);
    let schedules = 0;
    let chunks = 0;
    for (const [c, r] of this.results) {
      if (c >= last) continue;
      schedules += r.result.schedules;
      chunks++;
    }
    const total = Math.min(plan.budget, last * plan.chunkSize);
    // Host-side wall clock (see run()): the progress line's schedules per second, nothing else.
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.schedulesHere / elapsed : 0;
    progress({
      schedules,
      total,
      chunks,
      chunksTotal: last,
      rate,
      etaSeconds: rate > 0 ? (total - schedules) / rate : null,
      workers: this.workers.size,
      resumed: this.resumed,
    });
  }

  /** Queues lost chunks again, then the next chunks up to the window (none past the lowest failure). */
  private async fill(): Promise<void> {
    const { exploration, ref, plan, version, window, queue, redis } = this.s;
    const jobs: { name: string; data: ChunkJobData; opts: { jobId: string; removeOnComplete: boolean; removeOnFail: boolean } }[] = [];
    const add = (chunk: number): void => {
      jobs.push({
        name: 'chunk',
        data: { exploration, ref, plan, chunk, version },
        opts: { jobId: jobIdOf(exploration, chunk), removeOnComplete: true, removeOnFail: true },
      });
    };
    for (const c of this.lost) if (c <= this.lowestFail && !this.results.has(c)) add(c);
    this.lost.clear();
    while (this.queued.size + jobs.length < window && this.next < plan.chunks && this.next <= this.lowestFail) {
      if (!this.results.has(this.next) && !this.queued.has(this.next)) add(this.next);
      this.next++;
    }
    if (jobs.length === 0) return;
    // A job id already in the queue (queued by an earlier coordinator) is not added twice.
    await redis('queueing chunks', queue.addBulk(jobs));
    for (const j of jobs) this.queued.add(j.data.chunk);
  }

  /** Records the cutoff (workers skip later chunks) and takes the queued later chunks back. */
  private async dropLater(): Promise<void> {
    const { client, redis, keys, queue, exploration } = this.s;
    await redis('recording the first failure', client.set(keys.cutoff, this.lowestFail, { EX: RESULTS_TTL_S }));
    const later = [...this.queued].filter((c) => c > this.lowestFail);
    // A chunk a worker is running cannot be removed (it is locked); its result is ignored.
    await redis('taking back later chunks', Promise.all(later.map((c) => queue.remove(jobIdOf(exploration, c)).catch(() => 0))));
    for (const c of later) this.queued.delete(c);
  }

  /** Reads the queued chunks' results; true when one of them lowered the lowest failure. */
  private async poll(): Promise<boolean> {
    const { client, redis, keys, exploration } = this.s;
    const waiting = [...this.queued];
    const texts = waiting.length === 0 ? [] : await redis('reading results', client.hmget(keys.results, ...waiting.map(String)));
    let failedEarlier = false;
    for (let i = 0; i < waiting.length; i++) {
      const text = texts[i];
      if (text === null || text === undefined) continue;
      const c = waiting[i]!;
      const stored = parseStored(exploration, c, text);
      this.results.set(c, stored);
      this.queued.delete(c);
      this.workers.add(stored.worker);
      this.schedulesHere += stored.result.schedules;
      if (stored.result.fail !== null && c < this.lowestFail) {
        this.lowestFail = c;
        failedEarlier = true;
      }
    }
    return failedEarlier;
  }

  /** Fails on the first chunk a worker reported failing; marks jobs gone without a result as lost. */
  private async sweep(): Promise<void> {
    const { client, redis, keys, queue, exploration } = this.s;
    const errors = await redis('reading worker errors', client.hgetall(keys.errors));
    const first = Object.entries(errors).sort((a, b) => Number(a[0]) - Number(b[0]))[0];
    if (first !== undefined) {
      throw new TracelabError('QUEUE_CHUNK_FAILED', `queue: chunk ${first[0]} of exploration ${exploration} failed on worker ${first[1]}`, {
        exploration,
        chunk: Number(first[0]),
      });
    }
    // A job that is gone without a result (failed after stalling too often, or removed by
    // hand): queue it again.
    const open = [...this.queued];
    const states = await redis('checking jobs', Promise.all(open.map((c) => queue.getJobState(jobIdOf(exploration, c)))));
    for (let i = 0; i < open.length; i++) {
      const c = open[i]!;
      // The result may have landed between the poll and the state check: only then is the job gone for good.
      if (states[i] === 'unknown' && (await redis('reading results', client.hget(keys.results, String(c)))) === null) {
        this.queued.delete(c);
        this.lost.add(c);
      }
    }
  }
}

/**
 * Explores `scenario` on a BullMQ queue: this process is the coordinator. It plans the chunks,
 * derives the exploration id, reads what Redis already holds for it (a coordinator restarted
 * with the same options resumes there), queues the missing chunks lowest first (at most
 * `window` at a time), and polls the results hash the workers fill. Once the lowest failing
 * chunk is known and every chunk below it is in, it records the cutoff (workers skip later
 * chunks), takes the queued later chunks back, and folds the results with `foldChunks` (which
 * shrinks here): the same result `explore` gives in one process, for any number of workers.
 */
export async function exploreOnQueue(scenario: Scenario, ref: ScenarioRef, options: QueueExploreOptions): Promise<QueueExploreResult> {
  const target = parseRedisUrl(options.url);
  const timeoutMs = positiveOption('redisTimeoutMs', options.redisTimeoutMs, 30_000);
  const window = positiveOption('window', options.window, 256);
  const pollMs = positiveOption('pollMs', options.pollMs, 25);
  const { progress: _progress, onStart: _onStart, ...search } = options;
  const plan: ChunkPlan = planChunks(scenario, { ...search, chunkSize: options.chunkSize ?? QUEUE_CHUNK_SIZE });
  const version = codeVersion(scenario, ref, plan.variant, plan.scale);
  const exploration = explorationId(plan, version);
  const keys = keysOf(exploration);
  // Written by the error handler, read for messages.
  let lastError: unknown;
  const queue = new Queue<ChunkJobData>(options.queueName ?? DEFAULT_QUEUE_NAME, { connection: connectionOptions(target, timeoutMs) });
  queue.on('error', (err) => {
    lastError = err;
  });
  const redis = <T>(what: string, p: Promise<T>): Promise<T> => within(target, timeoutMs, what, p, () => lastError);

  let ok = false;
  try {
    const client = await redis('connecting', queue.client);
    await redis('connecting', queue.waitUntilReady());
    const coordinator = new Coordinator({ queue, client, redis, plan, ref, version, exploration, keys, window, pollMs, progress: options.progress });
    const resumed = await coordinator.resume();
    options.onStart?.({ exploration, resumed, chunks: plan.chunks, chunkSize: plan.chunkSize });
    await coordinator.writeExploration();
    await coordinator.run();
    const { results, workers } = coordinator;
    const folded = foldChunks(scenario, plan, [...results.values()].map((r) => r.result) as ChunkResult[], { ...options, workers: workers.size });
    ok = true;
    return { ...folded, exploration, codeVersion: version, resumed, chunkSize: plan.chunkSize };
  } finally {
    if (ok) await queue.close().catch(() => undefined);
    else await abandon(queue);
  }
}
