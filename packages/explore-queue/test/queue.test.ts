import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explore, planChunks } from '@tracelab/explore';
import { fileURLToPath } from 'node:url';
import {
  codeVersion,
  explorationId,
  exploreOnQueue,
  loadScenario,
  mergeShards,
  moduleRef,
  parseRedisUrl,
  parseShard,
  runShard,
  scenarioRef,
  startWorker,
  type WorkerHandle,
} from '@tracelab/explore-queue';
import { scenario } from '@tracelab/scenarios';
import { redisCall, REDIS_SERVER, ROOT, startRedis, type RedisServer } from './support/redis.js';

describe('URLs, shards and exploration ids', () => {
  it('parses redis:// URLs and refuses anything else with INVALID_OPTION', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6380')).toMatchObject({ host: '10.0.0.5', port: 6380, db: 0 });
    expect(parseRedisUrl('redis://redis')).toMatchObject({ host: 'redis', port: 6379 });
    const p = parseRedisUrl('redis://worker:s3cret@[::1]:7000/2');
    expect(p).toMatchObject({ host: '::1', port: 7000, db: 2, username: 'worker', password: 's3cret' });
    expect(p.url).not.toContain('s3cret');
    for (const bad of ['http://h:1', 'redis://', 'h:6379', 'redis://h:', 'redis://h:1/x'])
      expect(() => parseRedisUrl(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('parses I/N shards', () => {
    expect(parseShard('0/1')).toEqual({ index: 0, count: 1 });
    expect(parseShard('3/4')).toEqual({ index: 3, count: 4 });
    for (const bad of ['4/4', '1/0', '-1/2', '1', 'a/b']) expect(() => parseShard(bad), bad).toThrow(/--shard must be I\/N/);
  });

  it('gives one exploration id per (scenario, variant, strategy, seed, budget, chunk size, code version), and another when any of them changes', () => {
    const s = scenario('fork-flag-race');
    const base = { variant: 'fixed', strategy: 'portfolio', seed: 1, budget: 100, chunkSize: 16 } as const;
    const v = codeVersion(s, scenarioRef(s), 'fixed', 1);
    expect(codeVersion(s, scenarioRef(s), 'fixed', 1)).toBe(v);
    const id = explorationId(planChunks(s, base), v);
    expect(explorationId(planChunks(s, base), v)).toBe(id);
    const others = [
      explorationId(planChunks(scenario('marker-array-free'), base), v),
      explorationId(planChunks(s, { ...base, variant: 'no-recopy' }), v),
      explorationId(planChunks(s, { ...base, strategy: 'pct' }), v),
      explorationId(planChunks(s, { ...base, seed: 2 }), v),
      explorationId(planChunks(s, { ...base, budget: 101 }), v),
      explorationId(planChunks(s, { ...base, chunkSize: 8 }), v),
      explorationId(planChunks(s, base), codeVersion(s, { ...scenarioRef(s), exportName: 'other' }, 'fixed', 1)),
    ];
    expect(new Set([id, ...others]).size).toBe(others.length + 1);
    // The code version follows what the variant's default run does.
    expect(codeVersion(s, scenarioRef(s), 'no-recopy', 1)).not.toBe(v);
  });

  it('shards in any number merge to the single-process result', () => {
    const s = scenario('fork-flag-race');
    for (const o of [
      { variant: 'rcu-walk', seed: 5, budget: 300 },
      { variant: 'fixed', seed: 1, budget: 120 },
    ]) {
      const one = explore(s, o);
      for (const count of [1, 2, 5]) {
        const files = Array.from({ length: count }, (_, index) => runShard(s, scenarioRef(s), { index, count }, { ...o, chunkSize: 8 }));
        const { exploration: _e, shards, workers: _w, ...merged } = mergeShards(s, JSON.parse(JSON.stringify(files)));
        expect(shards).toBe(count);
        expect({ ...merged, workers: 1 }).toEqual(one);
      }
    }
  });
});

const SKIP = REDIS_SERVER === null;
if (SKIP) console.warn('explore-queue queue tests SKIPPED: redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)');

describe.skipIf(SKIP)(SKIP ? 'a worker and a coordinator in one process (SKIPPED: no redis-server)' : 'a worker and a coordinator in one process', () => {
  let redis: RedisServer;
  let worker: WorkerHandle | undefined;
  beforeAll(async () => {
    // Chunk threads run the built package.
    execFileSync(
      process.execPath,
      [`${ROOT}node_modules/typescript/bin/tsc`, '-b', 'packages/explore-queue/tsconfig.lib.json', 'packages/scenarios/tsconfig.lib.json'],
      { cwd: ROOT, stdio: 'inherit' },
    );
    redis = await startRedis();
  }, 180_000);
  afterAll(async () => {
    await worker?.close();
    await redis?.stop();
  });

  it('stops at the first failing chunk: records the cutoff, takes later chunks back, and the answer is the single-process one', async () => {
    worker = await startWorker({ url: redis.url, concurrency: 2 });
    const s = scenario('fork-flag-race');
    const o = { variant: 'rcu-walk', seed: 5, budget: 4000 } as const;
    const one = explore(s, o);
    expect(one.schedules).toBe(33);
    const chunks: number[] = [];
    const r = await exploreOnQueue(s, scenarioRef(s), { ...o, url: redis.url, chunkSize: 4, onStart: (x) => chunks.push(x.chunks) });
    expect(chunks).toEqual([1000]);
    const { exploration, codeVersion: _c, resumed, chunkSize, workers, ...answer } = r;
    expect({ ...answer, workers: 1 }).toEqual(one);
    expect(resumed).toBe(0);
    expect(chunkSize).toBe(4);
    expect(workers).toBe(1);
    // Schedule 33 is in chunk 8 (chunks of 4 from 0): the cutoff, and none of the 1000 chunks past it are left queued.
    expect(await redisCall(redis.port, 'GET', `tracelab:explore:${exploration}:cutoff`)).toBe('8');
    const waiting = (await redisCall(redis.port, 'LRANGE', 'bull:tracelab-explore:wait', 0, -1)) as string[];
    expect(waiting.filter((id) => id.startsWith(exploration))).toEqual([]);
    const stored = (await redisCall(redis.port, 'HKEYS', `tracelab:explore:${exploration}:results`)) as string[];
    expect(stored.length).toBeLessThan(300);
    // The same search again reads everything from Redis.
    const again = await exploreOnQueue(s, scenarioRef(s), { ...o, url: redis.url, chunkSize: 4 });
    expect(again.resumed).toBe(stored.length);
    expect(again.failure?.replay).toBe(one.failure?.replay);
  }, 60_000);

  it("a chunk whose scenario cannot be loaded fails the search with QUEUE_CHUNK_FAILED carrying the worker's reason", async () => {
    const s = scenario('fork-flag-race');
    const ref = { ...scenarioRef(s), exportName: 'noSuchScenario' };
    await expect(exploreOnQueue(s, ref, { url: redis.url, variant: 'fixed', budget: 32, chunkSize: 16 })).rejects.toMatchObject({
      code: 'QUEUE_CHUNK_FAILED',
      message: expect.stringMatching(/chunk \d+ of exploration \w+ failed on worker .*: @tracelab\/scenarios exports no scenario named noSuchScenario/),
    });
  }, 60_000);

  it('loads a scenario by module path (file.js#export) on the workers: the same answer as one process', async () => {
    const ref = moduleRef('fixtures/my-race.mjs#myRace', dirname(fileURLToPath(import.meta.url)));
    expect(ref.module).toMatch(/^file:\/\/.*\/fixtures\/my-race\.mjs$/);
    const s = await loadScenario(ref);
    expect(s.name).toBe('my-race');
    const one = explore(s, { variant: 'rcu-walk', seed: 5, budget: 300 });
    const r = await exploreOnQueue(s, { ...ref, name: s.name }, { url: redis.url, variant: 'rcu-walk', seed: 5, budget: 300, chunkSize: 8 });
    expect({ schedules: r.schedules, steps: r.steps, replay: r.failure?.replay, hash: r.failure?.logHash }).toEqual({
      schedules: one.schedules,
      steps: one.steps,
      replay: one.failure?.replay,
      hash: one.failure?.logHash,
    });
    await expect(loadScenario({ ...ref, exportName: 'nothing' })).rejects.toThrow(/my-race\.mjs exports no scenario named nothing/);
  }, 60_000);
});
