import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '@tracelab/cli';
import { exploreOnQueue, scenarioRef } from '@tracelab/explore-queue';
import { scenario } from '@tracelab/scenarios';
import {
  freePort,
  redisCall,
  REDIS_SERVER,
  ROOT,
  startRedis,
  tracelab,
  until,
  type RedisServer,
  type Tracelab,
} from '../../explore-queue/test/support/redis.js';

// Worker processes run the built CLI: build it first, so they run the code under test
// (tsc -b is incremental: fast when up to date).
beforeAll(() => {
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-b', 'packages/cli/tsconfig.lib.json'], { cwd: ROOT, stdio: 'inherit' });
}, 180_000);

function io(tty = false) {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-queue-'));
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  return {
    cwd,
    out,
    err,
    progress,
    io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), ...(tty ? { progress: (t: string) => void progress.push(t) } : {}) },
  };
}

/** The answer of a search, without what names the deployment (worker count, ids, output paths). */
function answer(json: string): Record<string, unknown> {
  const {
    workers: _w,
    exploration: _e,
    codeVersion: _c,
    resumed: _r,
    chunkSize: _s,
    shards: _n,
    failure,
    ...rest
  } = JSON.parse(json) as Record<string, unknown> & { failure: Record<string, unknown> | null };
  if (failure === null) return { ...rest, failure };
  const { out: _o, ctf, ...f } = failure as { out: string; ctf: { dir: string } | null };
  return { ...rest, failure: { ...f, ctf: ctf === null ? null : { ...ctf, dir: undefined } } };
}

async function run(args: string[], tty = false): Promise<{ code: number; json: string; err: string; progress: string[] }> {
  const t = io(tty);
  const code = await main(args, t.io);
  return { code, json: t.out.join('\n'), err: t.err.join('\n'), progress: t.progress };
}

// Found at schedule 21 (chunk 2 with chunks of 8): workers race past it.
const UNSAFE = ['explore', 'fork-flag-race', '--variant', 'rcu-walk', '--seed', '5', '--budget', '300', '--json'];
const FIXED = ['explore', 'marker-array-free', '--variant', 'fixed', '--budget', '160', '--json'];
const CHUNK8 = ['--chunk-size', '8'];

const SKIP = REDIS_SERVER === null;
if (SKIP) console.warn('queue tests SKIPPED: redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)');

describe('tracelab explore --shard and merge (no queue)', () => {
  it('three shards merged give the single-process answer, unsafe and fixed; a missing shard or another exploration is refused', async () => {
    for (const args of [UNSAFE, FIXED]) {
      const one = await run(args);
      const dir = mkdtempSync(join(tmpdir(), 'tracelab-shards-'));
      const files: string[] = [];
      for (let i = 0; i < 3; i++) {
        const file = join(dir, `s${i}.json`);
        files.push(file);
        const s = await run([...args, ...CHUNK8, '--shard', `${i}/3`, '--result', file]);
        expect(s.code).toBe(0);
        expect(JSON.parse(s.json).shard).toEqual({ index: i, count: 3 });
      }
      const merged = await run(['merge', ...files.reverse(), '--json']);
      expect(merged.code).toBe(one.code);
      expect(answer(merged.json)).toEqual(answer(one.json));
      expect(JSON.parse(merged.json).shards).toBe(3);
    }
    // Shard 2 holds chunk 2, where the unsafe variant's first failure is: without it the merge cannot know.
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-shards-'));
    for (const i of [0, 1]) await run([...UNSAFE, ...CHUNK8, '--shard', `${i}/3`, '--result', join(dir, `s${i}.json`)]);
    const missing = await run(['merge', join(dir, 's0.json'), join(dir, 's1.json')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/chunk 2 \(schedules 16\.\.23\) has no result/);
    await run([
      'explore',
      'fork-flag-race',
      '--variant',
      'rcu-walk',
      '--seed',
      '6',
      '--budget',
      '300',
      ...CHUNK8,
      '--shard',
      '2/3',
      '--result',
      join(dir, 'other.json'),
    ]);
    const mixed = await run(['merge', join(dir, 's0.json'), join(dir, 's1.json'), join(dir, 'other.json')]);
    expect(mixed.code).toBe(2);
    expect(mixed.err).toMatch(/other\.json is of exploration \w+ \(fork-flag-race\/rcu-walk, seed 6, budget 300\)/);
    const twice = await run(['merge', join(dir, 's0.json'), join(dir, 's0.json')]);
    expect(twice.err).toMatch(/shard 0\/3 given twice/);
  }, 120_000);
});

describe.skipIf(SKIP)(SKIP ? 'tracelab explore --queue (SKIPPED: no redis-server)' : 'tracelab explore --queue, tracelab worker', () => {
  let redis: RedisServer;
  const started: Tracelab[] = [];
  const worker = async (url: string, ...extra: string[]): Promise<Tracelab> => {
    const w = tracelab(['worker', '--queue', url, ...extra], ROOT);
    started.push(w);
    await w.waitFor(/taking chunks from/);
    return w;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  // Each test stops its processes: a worker left running would take the next test's chunks.
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.kill('SIGKILL')));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('gives the single-process answer with 1, 2 and 3 worker processes, unsafe and fixed variants at once on one Redis; progress on a terminal and as lines', async () => {
    const oneUnsafe = await run(UNSAFE);
    const oneFixed = await run(FIXED);
    expect(oneUnsafe.code).toBe(1);
    expect(oneFixed.code).toBe(0);
    const workers: Tracelab[] = [];
    for (let n = 1; n <= 3; n++) {
      workers.push(await worker(redis.url));
      // Each round starts from an empty Redis: the same command would otherwise resume the last round's results.
      expect(await redisCall(redis.port, 'FLUSHALL')).toBe('OK');
      // Two explorations share the queue and the workers at once.
      const [unsafe, fixed] = await Promise.all([
        run([...UNSAFE, ...CHUNK8, '--queue', redis.url], true),
        run([...FIXED, ...CHUNK8, '--queue', redis.url, '--progress-every', '0.01']),
      ]);
      expect(unsafe.code).toBe(1);
      expect(fixed.code).toBe(0);
      expect(answer(unsafe.json), `unsafe, ${n} worker(s)`).toEqual(answer(oneUnsafe.json));
      expect(answer(fixed.json), `fixed, ${n} worker(s)`).toEqual(answer(oneFixed.json));
      expect(JSON.parse(fixed.json).resumed).toBe(0);
      expect(JSON.parse(unsafe.json).exploration).not.toBe(JSON.parse(fixed.json).exploration);
      // The results came from the running workers. (How many of them took a chunk depends on
      // how the OS schedules them: on a loaded machine one worker may take every chunk.)
      expect(JSON.parse(fixed.json).workers, `fixed, ${n} worker(s)`).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(fixed.json).workers, `fixed, ${n} worker(s)`).toBeLessThanOrEqual(n);
      if (n === 3) {
        // --json on a terminal draws no bar (the CLI keeps a JSON run's terminal quiet); off a
        // terminal the periodic line goes to stderr.
        expect(unsafe.progress).toEqual([]);
        // Without --json, on a terminal, the coordinator draws its bar with rate and ETA.
        expect(await redisCall(redis.port, 'FLUSHALL')).toBe('OK');
        const drawn = await run([...UNSAFE.filter((a) => a !== '--json'), ...CHUNK8, '--queue', redis.url], true);
        expect(drawn.code).toBe(1);
        expect(drawn.progress.some((p) => /\[#* *\] \d+\/\d+ schedules, \d+\/s over \d worker\(s\), ETA/.test(p))).toBe(true);
        expect(fixed.err).toMatch(/explore: \d+\/160 schedules, \d+\/s over \d worker\(s\), ETA \S+/);
      }
    }
  }, 120_000);

  it('a worker killed with -9 mid-chunk: its chunk runs again on another worker, each chunk stored once', async () => {
    expect(await redisCall(redis.port, 'FLUSHALL')).toBe('OK');
    const args = ['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '300', '--json'];
    const one = await run(args);
    const lock = ['--lock-duration', '1000', '--stalled-interval', '500'];
    const a = await worker(redis.url, ...lock);
    const t = io();
    const coordinator = main([...args, '--chunk-size', '75', '--queue', redis.url], t.io);
    // The job is active (locked by a) once a took it: kill a then, mid-chunk.
    await until('a job taken by worker a', async () => ((await redisCall(redis.port, 'LLEN', 'bull:tracelab-explore:active')) as number) > 0);
    expect(await a.kill('SIGKILL')).toBe('SIGKILL');
    const b = await worker(redis.url, ...lock);
    expect(await coordinator).toBe(0);
    expect(answer(t.out.join('\n'))).toEqual(answer(one.json));
    const id = JSON.parse(t.out.join('\n')).exploration as string;
    const stored = (await redisCall(redis.port, 'HGETALL', `tracelab:explore:${id}:results`)) as string[];
    const byChunk = new Map<string, string>();
    for (let i = 0; i < stored.length; i += 2) byChunk.set(stored[i]!, (JSON.parse(stored[i + 1]!) as { worker: string }).worker);
    expect([...byChunk.keys()].sort()).toEqual(['0', '1', '2', '3']);
    // a died before storing anything: b ran every chunk, the one a held included.
    expect(new Set(byChunk.values())).toEqual(new Set([expect.stringMatching(new RegExp(`:${b.process.pid}$`))]));
  }, 120_000);

  it('a coordinator killed and started again with the same command resumes from the results in Redis', async () => {
    expect(await redisCall(redis.port, 'FLUSHALL')).toBe('OK');
    const args = ['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '320', '--json'];
    const one = await run(args);
    await worker(redis.url);
    const cmd = [...args, '--chunk-size', '16', '--queue', redis.url];
    const first = tracelab(cmd, ROOT);
    started.push(first);
    const id = (await first.waitFor(/exploration (\w+) on/))[1]!;
    await until('3 chunks stored', async () => ((await redisCall(redis.port, 'HLEN', `tracelab:explore:${id}:results`)) as number) >= 3);
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    const again = tracelab(cmd, ROOT);
    started.push(again);
    expect(await again.exited).toBe(0);
    expect(again.stderr()).toMatch(new RegExp(`exploration ${id} on`));
    const r = JSON.parse(again.stdout());
    expect(r.exploration).toBe(id);
    expect(r.resumed).toBeGreaterThanOrEqual(3);
    expect(answer(again.stdout())).toEqual(answer(one.json));
  }, 120_000);

  it('Redis stopped mid-run: the coordinator and the worker stop with QUEUE_UNREACHABLE naming the URL', async () => {
    const r2 = await startRedis();
    try {
      const w = tracelab(['worker', '--queue', r2.url, '--redis-timeout', '1500'], ROOT);
      started.push(w);
      await w.waitFor(/taking chunks from/);
      const s = scenario('marker-array-free');
      const search = exploreOnQueue(s, scenarioRef(s), { url: r2.url, variant: 'fixed', budget: 100_000, chunkSize: 16, redisTimeoutMs: 1500 });
      search.catch(() => undefined);
      let id = '';
      await until('a chunk stored', async () => {
        const keys = (await redisCall(r2.port, 'KEYS', 'tracelab:explore:*:results')) as string[];
        id = keys[0] ?? '';
        return keys.length > 0;
      });
      expect(id).not.toBe('');
      await r2.stop();
      await expect(search).rejects.toMatchObject({
        code: 'QUEUE_UNREACHABLE',
        message: expect.stringContaining(`Redis at ${r2.url} did not answer within 1500 ms`),
      });
      expect(await w.exited).toBe(2);
      expect(w.stderr()).toMatch(new RegExp(`tracelab: queue: Redis at ${r2.url} did not answer for 1500 ms while running chunks`));
    } finally {
      await r2.stop();
    }
  }, 60_000);

  it('a bad URL: INVALID_OPTION for one that is not redis://, QUEUE_UNREACHABLE within the timeout for a port nobody listens on', async () => {
    const notRedis = await run(['explore', 'fork-flag-race', '--variant', 'fixed', '--queue', 'http://127.0.0.1:6379']);
    expect(notRedis.code).toBe(2);
    expect(notRedis.err).toMatch(/"http:\/\/127\.0\.0\.1:6379" is not a redis:\/\/ URL/);
    const empty = await run(['worker', '--queue', 'redis://127.0.0.1:']);
    expect(empty.err).toMatch(/has an empty port/);
    const port = await freePort();
    const closed = await run(['explore', 'fork-flag-race', '--variant', 'fixed', '--queue', `redis://127.0.0.1:${port}`, '--redis-timeout', '1000']);
    expect(closed.code).toBe(2);
    expect(closed.err).toMatch(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} did not answer within 1000 ms while connecting \\(connect ECONNREFUSED`));
    const w = tracelab(['worker', '--queue', `redis://127.0.0.1:${port}`, '--redis-timeout', '1000'], ROOT);
    started.push(w);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toMatch(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} did not answer within 1000 ms while starting a worker`));
  }, 60_000);
});
