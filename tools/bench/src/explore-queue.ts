/**
 * Exploration past one process, on BullMQ over a local redis-server: two `tracelab worker`
 * processes against one process on the same schedules, and what the queue costs per chunk
 * (which sets the default chunk size). Skipped, with a note, when redis-server is absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { explore } from '@tracelab/explore';
import { exploreOnQueue, QUEUE_CHUNK_SIZE, scenarioRef } from '@tracelab/explore-queue';
import { catalog } from '@tracelab/scenarios';
import { row, wallNow, type Benchmark, type Row } from './harness.js';

const BUDGET = 20_000;
const PER_CHUNK_SCHEDULES = 200;

function redisServer(): string | null {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v redis-server']);
  const p = r.stdout?.toString().trim();
  return p ? p : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('error', () => resolve(false));
    sock.once('data', (d) => {
      sock.end();
      resolve(d.toString().startsWith('+PONG'));
    });
    sock.write('PING\r\n');
  });
}

async function startRedis(bin: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !(await pong(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return { url: `redis://127.0.0.1:${port}`, proc };
}

function startWorker(url: string): Promise<ChildProcess> {
  const cli = dirname(createRequire(import.meta.url).resolve('@tracelab/cli/package.json'));
  const p = spawn(process.execPath, [join(cli, 'dist', 'bin.js'), 'worker', '--queue', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    p.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('taking chunks')) resolve(p);
    });
    p.once('exit', (code) => reject(new Error(`explore-queue bench: a worker exited (${code}): ${err}`)));
  });
}

/**
 * Two processes running the two halves of the same schedules at once, with no queue: the wall
 * time from go to the last one done. Against one process on all of them, this is the speed-up
 * two processes can reach on this machine at all (cores shared with the OS, caches, memory).
 */
async function twoIndependent(budget: number): Promise<number> {
  const script = join(dirname(new URL(import.meta.url).pathname), 'half-chunk.js');
  const kids = [0, 1].map((chunk) => spawn(process.execPath, [script, String(budget), String(chunk)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = kids.map((k) => {
    let out = '';
    const ready = new Promise<void>((resolve) => k.stdout!.on('data', (d) => ((out += d), out.startsWith('ready\n') && resolve())));
    const done = new Promise<void>((resolve, reject) =>
      k.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`explore-queue bench: a half-chunk process exited with ${code}`)))),
    );
    return { ready, done };
  });
  await Promise.all(lines.map((l) => l.ready));
  const t0 = wallNow();
  for (const k of kids) k.stdin!.write('go\n');
  await Promise.all(lines.map((l) => l.done));
  return Number(wallNow() - t0) / 1e6;
}

/** User + system CPU milliseconds a process has used (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function wall<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = wallNow();
  const value = await fn();
  return { value, ms: Number(wallNow() - t0) / 1e6 };
}

export const exploreQueueBench: Benchmark = {
  name: 'explore-queue',
  async run(): Promise<Row[]> {
    const bin = redisServer();
    if (bin === null) {
      process.stderr.write('  explore-queue: SKIPPED, redis-server is not installed (apt-get install redis-server)\n');
      return [];
    }
    const rows: Row[] = [];
    const s = catalog.get('fork-flag-race')!;
    const ref = scenarioRef(s);
    const base = { variant: 'fixed', selfCheckEvery: 0 } as const;
    const { url, proc } = await startRedis(bin);
    const workers: ChildProcess[] = [];
    try {
      // 1. Two worker processes against one process, the same schedules (wall clock: other processes).
      workers.push(await startWorker(url), await startWorker(url));
      // Warm both workers (thread start, module load, code version) on another exploration.
      await exploreOnQueue(s, ref, { ...base, url, budget: 512, chunkSize: 32 });
      explore(s, { ...base, budget: 200 });
      const cpu0 = ownCpuMs();
      const one = await wall(() => explore(s, { ...base, budget: BUDGET }));
      const oneCpu = ownCpuMs() - cpu0;
      const proc = existsSync('/proc/self/stat');
      const before = proc ? workers.map((w) => cpuMs(w.pid!)) : [];
      const coord0 = ownCpuMs();
      const two = await wall(() => exploreOnQueue(s, ref, { ...base, url, budget: BUDGET }));
      const coordCpu = ownCpuMs() - coord0;
      const workersCpu = proc ? workers.reduce((n, w, i) => n + cpuMs(w.pid!) - before[i]!, 0) : NaN;
      if (two.value.steps !== one.value.steps || two.value.schedules !== one.value.schedules)
        throw new Error('explore-queue bench: the queue and one process ran different schedules');
      process.stderr.write(
        `  2 workers: ${two.ms.toFixed(0)} ms, 1 process: ${one.ms.toFixed(0)} ms for ${BUDGET} schedules in chunks of ${two.value.chunkSize} (results from ${two.value.workers} workers)\n`,
      );
      rows.push(
        row(
          `explore-queue fork-flag-race/fixed, ${BUDGET} schedules, 2 worker processes (target speed-up 1.8)`,
          'ms',
          two.ms,
          one.ms,
          '1 process, same schedules',
        ),
      );
      const pair = await twoIndependent(BUDGET);
      process.stderr.write(
        `  2 independent processes, half the schedules each, no queue: ${pair.toFixed(0)} ms (this machine's ceiling for two processes: ${(one.ms / pair).toFixed(2)}x)\n`,
      );
      rows.push(
        row(
          `explore-queue fork-flag-race/fixed, ${BUDGET} schedules, 2 worker processes against 2 independent processes (no queue)`,
          'ms',
          two.ms,
          pair,
          '2 processes, half each, no queue',
        ),
      );
      // On a machine shared with other work the wall clock says little; the CPU the deployment
      // spent on the same schedules (workers plus coordinator) says what the queue costs.
      if (proc) {
        process.stderr.write(
          `  CPU: workers ${workersCpu.toFixed(0)} ms + coordinator ${coordCpu.toFixed(0)} ms against ${oneCpu.toFixed(0)} ms in one process\n`,
        );
        rows.push(
          row(
            `explore-queue fork-flag-race/fixed, ${BUDGET} schedules, CPU of 2 workers + coordinator`,
            'ms',
            workersCpu + coordCpu,
            oneCpu,
            '1 process CPU, same schedules',
          ),
        );
      }

      // 2. The queue's cost per chunk: the same schedules in chunks of 1 and in one chunk, one worker.
      workers.pop()!.kill('SIGTERM');
      const big = await wall(() => exploreOnQueue(s, ref, { ...base, url, budget: PER_CHUNK_SCHEDULES, chunkSize: PER_CHUNK_SCHEDULES }));
      const small = await wall(() => exploreOnQueue(s, ref, { ...base, url, budget: PER_CHUNK_SCHEDULES, chunkSize: 1 }));
      const perChunk = (small.ms - big.ms) / (PER_CHUNK_SCHEDULES - 1);
      const perSchedule = one.ms / BUDGET;
      process.stderr.write(
        `  queue cost per chunk: ${perChunk.toFixed(2)} ms (${PER_CHUNK_SCHEDULES} chunks of 1: ${small.ms.toFixed(0)} ms, 1 chunk of ${PER_CHUNK_SCHEDULES}: ${big.ms.toFixed(0)} ms); one schedule ${perSchedule.toFixed(2)} ms: chunks of ${QUEUE_CHUNK_SIZE} spend ${((100 * perChunk) / (perChunk + QUEUE_CHUNK_SIZE * perSchedule)).toFixed(1)}% on the queue\n`,
      );
      rows.push(
        row('explore-queue cost per chunk (chunks of 1 minus one chunk, per chunk)', 'ms', perChunk, perSchedule, 'one schedule of fork-flag-race/fixed'),
      );
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      proc.kill('SIGTERM');
    }
    return rows;
  },
};
