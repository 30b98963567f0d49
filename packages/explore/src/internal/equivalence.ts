import { createHash } from 'node:crypto';
import { canonicalJson } from '@tracelab/core';
import type { RunOutcome } from './run.js';

/**
 * What DPOR preserves of a run's final state (docs/explore.md §4a): the state with its
 * timestamps left out (the clock is global; two orders of commuting steps stamp their events
 * differently) and the runqueue taken as a set (its order only decides which option of a
 * `task` choice names which task, and every option is branched).
 */
const TIME_KEYS: ReadonlySet<string> = new Set(['clock', 'start', 'end', 'time']);

/** The state less its timestamps, the runqueue sorted (`canonicalJson` then orders the keys). */
function normalised(v: unknown, key: string): unknown {
  if (Array.isArray(v)) return key === 'runqueue' ? [...(v as number[])].sort((a, b) => a - b) : v.map((x) => normalised(x, ''));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) if (!TIME_KEYS.has(k)) out[k] = normalised((v as Record<string, unknown>)[k], k);
  return out;
}

/**
 * A digest of a run's final state up to what DPOR preserves, prefixed with the violation that
 * halted the run (`ok` when none): two searches of one variant that reach the same set of these
 * reach the same final states. For checking a reduced search against an unreduced one.
 */
export function finalStateDigest(o: RunOutcome): string {
  const hash = createHash('sha256')
    .update(canonicalJson(normalised(o.kernel.state, '')))
    .digest('hex');
  return `${o.violation?.name ?? 'ok'} ${hash.slice(0, 16)}`;
}
