import { TracelabError } from '@tracelab/core';
import { foldChunks, planChunks, runPlannedChunk, type ChunkPlan, type ChunkResult, type ExploreResult, type Scenario } from '@tracelab/explore';
import { QUEUE_CHUNK_SIZE, type QueueExploreOptions } from './coordinator.js';
import { codeVersion, explorationId, type ScenarioRef } from './scenario-ref.js';

export const SHARD_FORMAT = 'tracelab-explore-shard/1';

/** What one shard of a batch run writes: plain JSON, merged with `mergeShards`. */
export interface ShardFile {
  readonly format: typeof SHARD_FORMAT;
  readonly exploration: string;
  readonly codeVersion: string;
  readonly ref: ScenarioRef;
  readonly plan: ChunkPlan;
  readonly shard: { readonly index: number; readonly count: number };
  /** The chunks this shard ran, in order: `index`, `index + count`, ..., up to its first failure. */
  readonly chunks: readonly ChunkResult[];
}

export type ShardOptions = Omit<QueueExploreOptions, 'url' | 'queueName' | 'window' | 'redisTimeoutMs' | 'pollMs' | 'progress' | 'shrink' | 'shrinkRuns'> & {
  readonly progress?: (p: { readonly chunks: number; readonly chunksTotal: number }) => void;
};

/** Parses `I/N` (0 <= I < N). */
export function parseShard(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec);
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (!(count >= 1 && index < count))
    throw new TracelabError(
      'INVALID_OPTION',
      `--shard must be I/N with 0 <= I < N (a Kubernetes Indexed Job passes $JOB_COMPLETION_INDEX), got ${JSON.stringify(spec)}`,
    );
  return { index, count };
}

/**
 * Runs shard `index` of `count` of an exploration, for batch engines without a queue: the
 * chunks `index`, `index + count`, `index + 2 count`, ... in order, stopping after the first one
 * with a failure (a later chunk of this shard cannot hold the lowest failing schedule). Chunks
 * are dealt round-robin so every shard walks the low schedule numbers first.
 */
export function runShard(scenario: Scenario, ref: ScenarioRef, shard: { index: number; count: number }, options: ShardOptions = {}): ShardFile {
  const { progress: _progress, ...search } = options;
  const plan = planChunks(scenario, { ...search, chunkSize: options.chunkSize ?? QUEUE_CHUNK_SIZE });
  const version = codeVersion(scenario, ref, plan.variant, plan.scale);
  const chunks: ChunkResult[] = [];
  const total = Math.ceil(Math.max(0, plan.chunks - shard.index) / shard.count);
  for (let c = shard.index; c < plan.chunks; c += shard.count) {
    const r = runPlannedChunk(scenario, plan, c);
    chunks.push(r);
    options.progress?.({ chunks: chunks.length, chunksTotal: total });
    if (r.fail !== null) break;
  }
  return { format: SHARD_FORMAT, exploration: explorationId(plan, version), codeVersion: version, ref, plan, shard, chunks };
}

/** Checks shard files before a merge: one exploration, each shard once, all of them there. */
export function checkShards(files: readonly unknown[], names: readonly string[] = []): readonly ShardFile[] {
  const where = (i: number): string => names[i] ?? `shard file ${i + 1}`;
  if (files.length === 0) throw new TracelabError('SHARD_MISMATCH', 'merge: no shard files given');
  const shards = files.map((f, i) => {
    const s = f as Partial<ShardFile> | null;
    if (
      typeof s !== 'object' ||
      s === null ||
      s.format !== SHARD_FORMAT ||
      s.plan === undefined ||
      s.shard === undefined ||
      !Array.isArray(s.chunks) ||
      s.ref === undefined
    ) {
      throw new TracelabError('SHARD_MISMATCH', `merge: ${where(i)} is not a ${SHARD_FORMAT} file (written by tracelab explore --shard I/N)`);
    }
    return s as ShardFile;
  });
  const first = shards[0]!;
  const seen = new Map<number, number>();
  shards.forEach((s, i) => {
    if (s.exploration !== first.exploration) {
      throw new TracelabError(
        'SHARD_MISMATCH',
        `merge: ${where(i)} is of exploration ${s.exploration} (${s.plan.scenario}/${s.plan.variant}, seed ${s.plan.seed}, budget ${s.plan.budget}), ${where(0)} of ${first.exploration} (${first.plan.scenario}/${first.plan.variant}, seed ${first.plan.seed}, budget ${first.plan.budget}): other options or other code`,
      );
    }
    if (s.shard.count !== first.shard.count)
      throw new TracelabError('SHARD_MISMATCH', `merge: ${where(i)} is shard ${s.shard.index}/${s.shard.count}, ${where(0)} one of ${first.shard.count}`);
    if (seen.has(s.shard.index))
      throw new TracelabError(
        'SHARD_MISMATCH',
        `merge: shard ${s.shard.index}/${s.shard.count} given twice (${where(seen.get(s.shard.index)!)} and ${where(i)})`,
      );
    seen.set(s.shard.index, i);
  });
  return shards;
}

/**
 * Folds the shards of one exploration into the result a single process gives (`foldChunks`,
 * which shrinks the failure here). `SHARD_MISMATCH` for files of different explorations or a
 * shard given twice; a missing shard whose chunks the answer needs is `INVALID_OPTION` naming
 * the first missing chunk (a missing shard whose chunks all lie past the first failure is not
 * needed).
 */
export function mergeShards(
  scenario: Scenario,
  files: readonly unknown[],
  names: readonly string[] = [],
): ExploreResult & { readonly exploration: string; readonly shards: number } {
  const shards = checkShards(files, names);
  const plan = shards[0]!.plan;
  const version = codeVersion(scenario, shards[0]!.ref, plan.variant, plan.scale);
  if (version !== shards[0]!.codeVersion) {
    throw new TracelabError(
      'SHARD_MISMATCH',
      `merge: the shards ran code version ${shards[0]!.codeVersion}, this process runs ${version}: merge with the code that ran them`,
    );
  }
  const r = foldChunks(
    scenario,
    plan,
    shards.flatMap((s) => s.chunks),
    { workers: shards.length },
  );
  return { ...r, exploration: shards[0]!.exploration, shards: shards.length };
}
