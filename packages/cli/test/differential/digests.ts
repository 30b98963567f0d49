import { createHash } from 'node:crypto';
import { canonicalJson, createKernel, randomStrategy, type Kernel, type Violation } from '@tracelab/core';
import { scenarioKernelOptions } from '@tracelab/explore';
import { catalog } from '@tracelab/scenarios';
import { defaultScenario } from '../../src/scenarios.js';

/**
 * The engine's differential check (issue 14): for each seed of each catalog scenario variant
 * and of the default workload, the final state's digest and the violations. Recorded from the
 * engine before the rewrite (record.ts writes engine-digests.json); the test compares the
 * current engine against it.
 *
 * What is compared, and what is not: the final state (every slice, IntMaps as their entries in
 * key order, so a different trie layout of the same map digests the same) and each violation's
 * name, message, schedule string and time. Not the log: the log format changes by design (no
 * `cpu/preempt-count` per change, a version in the header), so sequence numbers and the log
 * hash are not part of a digest. State fields that are log positions or log times are
 * normalized to the events both formats log (every event but `cpu/preempt-count`):
 * `clock.now` (the time of the last logged event) and rcu-tasks' `startSeq` / `since` (seqs).
 */
export const SEEDS = 200;

export interface RunDigest {
  readonly state: string;
  readonly violations: ReadonlyArray<Pick<Violation, 'name' | 'message' | 'schedule' | 'time'>>;
}

export type Digests = Record<string, string[]>;

function isIntMap(v: object): v is { size: number; depth: number; root: unknown[] } {
  const o = v as Record<string, unknown>;
  return Array.isArray(o['root']) && typeof o['size'] === 'number' && typeof o['depth'] === 'number' && Object.keys(o).length === 3;
}

/** The state as plain data: IntMaps become `{ intMap: [[key, value], ...] }` in key order. */
export function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  if (isIntMap(v)) {
    const entries: Array<[number, unknown]> = [];
    const walk = (node: unknown[], level: number, base: number): void => {
      for (let i = 0; i < node.length; i++) {
        const e = node[i];
        if (e === null || e === undefined) continue;
        const key = base + i * 32 ** level;
        if (level === 0) entries.push([key, plain(e)]);
        else walk(e as unknown[], level - 1, key);
      }
    };
    walk(v.root, v.depth - 1, 0);
    return { intMap: entries };
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plain(x);
  return out;
}

const SEQ_KEYS: ReadonlySet<string> = new Set(['startSeq', 'since']);

/** Replaces, below `v`, every number under a SEQ_KEYS key by its rank among logged events. */
function rankSeqs(v: unknown, rank: (seq: number) => number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => rankSeqs(x, rank));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SEQ_KEYS.has(k) && typeof x === 'number' ? rank(x) : rankSeqs(x, rank);
  return out;
}

/** The final state, plain and normalized (see above). */
export function stateDigest(kernel: Kernel): string {
  const log = kernel.log;
  const ranks = new Int32Array(log.length + 1);
  let lastTime = 0;
  for (let i = 0; i < log.length; i++) {
    const counted = log[i]!.type !== 'cpu/preempt-count';
    ranks[i + 1] = ranks[i]! + (counted ? 1 : 0);
    if (counted) lastTime = log[i]!.time;
  }
  const s = plain(kernel.state) as Record<string, unknown> & { plugins: Record<string, unknown> };
  s['clock'] = { now: lastTime };
  if (s.plugins['rcu-tasks'] !== undefined) s.plugins['rcu-tasks'] = rankSeqs(s.plugins['rcu-tasks'], (seq) => ranks[seq]!);
  return createHash('sha256').update(canonicalJson(s)).digest('hex').slice(0, 24);
}

function digestOf(kernel: Kernel): string {
  const v = kernel.violations.map((x) => ({ name: x.name, message: x.message, schedule: x.schedule, time: x.time }));
  return createHash('sha256').update(canonicalJson({ state: stateDigest(kernel), violations: v })).digest('hex').slice(0, 24);
}

/** The digests of every run: keys `<scenario>/<variant>` and `default`, one entry per seed 1..seeds. */
export function engineDigests(seeds = SEEDS, only?: (key: string) => boolean): Digests {
  const out: Digests = {};
  for (const sc of catalog.values()) {
    for (const v of sc.variants) {
      const key = `${sc.name}/${v.name}`;
      if (only !== undefined && !only(key)) continue;
      const list: string[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        // The variant's kernel as exploration makes it (interrupt sources, reclaim), with the seed varied.
        const k = createKernel({ ...scenarioKernelOptions(sc, v.name, randomStrategy()), seed });
        sc.setup(k, { variant: v.name, scale: sc.scale?.default ?? 1 });
        k.run({ maxSteps: sc.maxSteps });
        list.push(digestOf(k));
      }
      out[key] = list;
    }
  }
  if (only === undefined || only('default')) {
    const list: string[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const k = createKernel({ cpus: 2, seed, plugins: defaultScenario.plugins() });
      defaultScenario.setup(k);
      k.run({ maxSteps: 200_000 });
      if (defaultScenario.finish !== undefined && k.violations.length === 0) defaultScenario.finish(k, Number.MAX_SAFE_INTEGER); // no step budget, as when the fixture was recorded
      list.push(digestOf(k));
    }
    out['default'] = list;
  }
  return out;
}
