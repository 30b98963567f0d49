import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { variantOf } from '@tracelab/explore';
import { checkShards, exploreOnQueue, loadScenario, mergeShards, parseShard, runShard, startWorker, type QueueProgress } from '@tracelab/explore-queue';
import { resolveScenario } from './internal/scenario-arg.js';
import { catalog } from '@tracelab/scenarios';
import type { CliIo } from './cli.js';
import { DISTRIBUTED_USAGE } from './distributed-usage.js';
import { bad, checkScaleArg, int, parseExploreArgs, reportExplore, type ExploreArgs } from './explore.js';

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function progressText(p: QueueProgress): string {
  const resumed = p.resumed > 0 ? `, ${p.resumed} chunks resumed` : '';
  return `${p.schedules}/${p.total} schedules, ${Math.round(p.rate)}/s over ${p.workers} worker(s), ETA ${duration(p.etaSeconds)}${resumed}`;
}

/**
 * Progress for a long search: a bar redrawn on a terminal; without one (a CI log, a pod's
 * log), a line to stderr every `everyS` seconds.
 */
function progressSink(io: CliIo, everyS: number): { update: (p: QueueProgress) => void; end: () => void } {
  const tty = io.progress;
  if (tty !== undefined) {
    return {
      update: (p) => {
        const width = 30;
        const filled = Math.round((width * p.schedules) / Math.max(1, p.total));
        tty(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${progressText(p)} `);
      },
      end: () => tty('\r' + ' '.repeat(100) + '\r'),
    };
  }
  let last = 0;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < everyS * 1000) return;
      last = now;
      io.err(`explore: ${progressText(p)}`);
    },
    end: () => undefined,
  };
}

interface DistributedFlags {
  queue?: string;
  shard?: string;
  result?: string;
  chunkSize?: number;
  redisTimeoutMs?: number;
  queueName?: string;
  progressEveryS: number;
}

/** Takes this file's flags out of `tracelab explore`'s arguments. */
function splitFlags(argv: readonly string[]): { flags: DistributedFlags; rest: string[] } {
  const flags: DistributedFlags = { progressEveryS: 10 };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--queue') flags.queue = argv[++i] ?? bad('--queue needs a redis://HOST:PORT URL');
    else if (a === '--shard') flags.shard = argv[++i] ?? bad('--shard needs I/N');
    else if (a === '--result') flags.result = argv[++i] ?? bad('--result needs a file');
    else if (a === '--chunk-size') flags.chunkSize = int(a, argv[++i], 1);
    else if (a === '--redis-timeout') flags.redisTimeoutMs = int(a, argv[++i], 1);
    else if (a === '--queue-name') flags.queueName = argv[++i] ?? bad('--queue-name needs a name');
    else if (a === '--progress-every') {
      const v = Number(argv[++i]);
      if (!(v > 0)) bad(`--progress-every must be a positive number of seconds, got ${JSON.stringify(argv[i])}`);
      flags.progressEveryS = v;
    } else rest.push(a);
  }
  return { flags, rest };
}

function searchOptions(args: ExploreArgs): {
  variant: string;
  strategy: 'portfolio' | 'random' | 'pct';
  budget: number;
  seed: number;
  coverage?: boolean;
  scale?: number;
} {
  if (args.strategy === 'dfs' || args.strategy === 'dpor')
    bad(`--queue and --shard run random, pct or portfolio: ${args.strategy} searches its tree one schedule after the other`);
  if (args.workers !== 1) bad('--workers is for threads of one process; with --queue, start more `tracelab worker`s (each with --concurrency N)');
  return {
    variant: args.variant,
    strategy: args.strategy,
    budget: args.budget,
    seed: args.seed,
    ...(args.coverage ? { coverage: true } : {}),
    ...(args.scale !== null ? { scale: args.scale } : {}),
  };
}

/** `tracelab explore ... --queue URL` and `... --shard I/N`. */
export async function cmdExploreDistributed(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, rest } = splitFlags(argv);
  if (flags.queue !== undefined && flags.shard !== undefined)
    bad('--queue and --shard exclude each other: a queue hands chunks out itself; shards are for batch engines without one');
  const args = parseExploreArgs(rest, io);
  const search = searchOptions(args);
  const { sc, ref } = await resolveScenario(args.name, io.cwd);
  variantOf(sc, args.variant);
  checkScaleArg(sc, args.scale);
  const chunk = flags.chunkSize !== undefined ? { chunkSize: flags.chunkSize } : {};

  if (flags.shard !== undefined) {
    const shard = parseShard(flags.shard);
    const file = resolve(io.cwd, flags.result ?? `tracelab-shard-${shard.index}-of-${shard.count}.json`);
    const tty = io.progress;
    const s = runShard(sc, ref, shard, {
      ...search,
      ...chunk,
      ...(tty !== undefined && !args.json
        ? { progress: (p: { chunks: number; chunksTotal: number }) => tty(`\r shard ${shard.index}/${shard.count}: ${p.chunks}/${p.chunksTotal} chunks `) }
        : {}),
    });
    if (tty !== undefined && !args.json) tty('\r' + ' '.repeat(60) + '\r');
    writeFileSync(file, JSON.stringify(s) + '\n');
    const failed = s.chunks.at(-1)?.fail ?? null;
    const summary = {
      exploration: s.exploration,
      shard: s.shard,
      chunks: s.chunks.length,
      schedules: s.chunks.reduce((n, c) => n + c.schedules, 0),
      failure: failed,
      file,
    };
    if (args.json) io.out(JSON.stringify(summary, null, 2));
    else
      io.out(
        `tracelab explore ${sc.name} --variant ${args.variant} --shard ${shard.index}/${shard.count}: ${summary.chunks} chunks, ${summary.schedules} schedules${failed === null ? ', no violation' : `, first violation of this shard at schedule ${failed.index + 1} (${failed.invariant})`}\n  wrote ${file}; fold the shards with tracelab merge`,
      );
    return 0;
  }

  // Progress goes to stderr, also with --json (a campaign's log wants it; stdout stays JSON).
  const sink = progressSink(io, flags.progressEveryS);
  const r = await exploreOnQueue(sc, ref, {
    ...search,
    ...chunk,
    url: flags.queue!,
    ...(flags.redisTimeoutMs !== undefined ? { redisTimeoutMs: flags.redisTimeoutMs } : {}),
    ...(flags.queueName !== undefined ? { queueName: flags.queueName } : {}),
    progress: sink.update,
    onStart: (s) =>
      io.err(`explore: exploration ${s.exploration} on ${flags.queue}: ${s.chunks} chunks of ${s.chunkSize} schedules, ${s.resumed} already in Redis`),
  }).finally(() => sink.end());
  return reportExplore(
    sc,
    r,
    io,
    { ...args, label: args.name },
    { exploration: r.exploration, codeVersion: r.codeVersion, resumed: r.resumed, chunkSize: r.chunkSize },
  );
}

/** `tracelab merge FILE...`: 1 when the merged search found a violation, else 0. */
export async function cmdMerge(argv: readonly string[], io: CliIo): Promise<number> {
  const files: string[] = [];
  let out = resolve(io.cwd, 'tracelab-explore');
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') out = resolve(io.cwd, argv[++i] ?? bad('--out needs a directory'));
    else if (a === '--json') json = true;
    else if (a.startsWith('-')) bad(`unknown option ${a}\n${DISTRIBUTED_USAGE}`);
    else files.push(resolve(io.cwd, a));
  }
  if (files.length === 0) bad(`merge needs the shard files\n${DISTRIBUTED_USAGE}`);
  const parsed = files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      bad(`merge: cannot read ${f}: ${(err as Error).message}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new TracelabError('SHARD_MISMATCH', `merge: ${f} is not JSON: ${(err as Error).message}`);
    }
  });
  const shards = checkShards(parsed, files);
  const ref = shards[0]!.ref;
  const known = catalog.get(ref.name);
  const sc = known !== undefined && known.sourceModule?.module === ref.module ? known : await loadScenario(ref);
  const r = mergeShards(sc, parsed, files);
  return reportExplore(sc, r, io, { out, json }, { exploration: r.exploration, shards: r.shards });
}

/** `tracelab worker --queue URL`: runs until SIGTERM/SIGINT (0) or Redis goes away (2). */
export async function cmdWorker(argv: readonly string[], io: CliIo): Promise<number> {
  let url: string | undefined;
  let concurrency = 1;
  let lockDurationMs: number | undefined;
  let stalledIntervalMs: number | undefined;
  let redisTimeoutMs: number | undefined;
  let queueName: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--queue') url = argv[++i] ?? bad('--queue needs a redis://HOST:PORT URL');
    else if (a === '--concurrency') concurrency = int(a, argv[++i], 1);
    else if (a === '--lock-duration') lockDurationMs = int(a, argv[++i], 1);
    else if (a === '--stalled-interval') stalledIntervalMs = int(a, argv[++i], 1);
    else if (a === '--redis-timeout') redisTimeoutMs = int(a, argv[++i], 1);
    else if (a === '--queue-name') queueName = argv[++i] ?? bad('--queue-name needs a name');
    else bad(`unknown option ${a}\n${DISTRIBUTED_USAGE}`);
  }
  if (url === undefined) bad(`worker needs --queue redis://HOST:PORT\n${DISTRIBUTED_USAGE}`);
  let chunks = 0;
  const w = await startWorker({
    url,
    concurrency,
    ...(lockDurationMs !== undefined ? { lockDurationMs } : {}),
    ...(stalledIntervalMs !== undefined ? { stalledIntervalMs } : {}),
    ...(redisTimeoutMs !== undefined ? { redisTimeoutMs } : {}),
    ...(queueName !== undefined ? { queueName } : {}),
    onChunk: () => {
      chunks++;
    },
  });
  io.err(`tracelab worker ${w.id}: taking chunks from ${url} with ${concurrency} thread(s)`);
  const stop = (): void => void w.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await w.closed;
    io.err(`tracelab worker ${w.id}: stopped after ${chunks} chunk(s)`);
    return 0;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
