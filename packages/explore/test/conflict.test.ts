import { describe, expect, it } from 'vitest';
import { footprintsConflict, type StepFootprint } from '@tracelab/core';
import { ConflictIndex } from '../src/internal/conflict.js';

/**
 * The compiled conflict test (conflict.ts) against the core's `footprintsConflict`, on a
 * generated corpus of footprints: object names of several families with their wildcards (one
 * with a `:` inside the name, one with an empty family, one family that is a prefix of
 * another's), commutative updates (some naming an object not written), repeated names, clock
 * reads, and observed lists. The corpus is checked to tell apart the rule from its plausible
 * mistakes (the mutants below): a compiled test with one of them disagrees with the core on it.
 */

const NAMES = [
  'task:1',
  'task:2',
  'task:*',
  'taskx:1',
  'runq:1',
  'runq:*',
  'lock:a',
  'lock:a:b',
  'lock:a:*',
  'lock:*',
  'rq:nonempty',
  'rq:nonempty:0',
  'kernel',
  'rcu',
  '@mm:x',
  '@mm:*',
  ':x',
  ':*',
  'cpu:0',
  'pc:0',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(n: number, seed: number): StepFootprint[] {
  const r = rng(seed);
  const pick = (k: number): string[] => Array.from({ length: k }, () => NAMES[Math.floor(r() * NAMES.length)]!);
  const out: StepFootprint[] = [];
  for (let i = 0; i < n; i++) {
    const writes = pick(Math.floor(r() * 4));
    const reads = pick(Math.floor(r() * 4));
    const updates = r() < 0.4 ? [...writes.filter(() => r() < 0.6), ...(r() < 0.2 ? pick(1) : [])] : undefined;
    out.push({ cpu: i % 3, choiceAt: i, reads, writes, ...(updates === undefined ? {} : { updates }), clockRead: r() < 0.05, observed: [] });
  }
  // Updates of one object on both sides, with nothing else: two commutative updates commute.
  out.push({ cpu: 0, choiceAt: -1, reads: [], writes: ['task:1', 'kernel'], updates: ['task:1', 'kernel'], clockRead: false, observed: [] });
  out.push({ cpu: 1, choiceAt: -1, reads: [], writes: ['task:1', 'kernel'], updates: ['task:1', 'kernel'], clockRead: false, observed: [] });
  out.push({ cpu: 1, choiceAt: -1, reads: [], writes: ['task:*'], updates: ['task:*'], clockRead: false, observed: [] });
  return out;
}

const OBSERVED: readonly (readonly string[])[] = [[], ['task:1'], ['task:*', 'kernel'], ['lock:a:b', 'rcu'], ['@mm:*'], [':x']];
/** Observed lists per owner (`ObservedSets`): owners whose lists overlap, an empty owner, one owner. */
const OBSERVED_BY: readonly (readonly (readonly string[])[])[] = [
  [['task:1'], ['lock:a:b', 'rcu']],
  [['task:*', 'kernel'], ['@mm:*'], []],
  [['task:1', 'rcu'], ['task:*'], [':x', 'kernel']],
  [['task:*', 'kernel', 'lock:a:b']],
];

/** `footprintsConflict`, written out with its object rule `same` and write-write rule as parameters (the mutants). */
function reference(
  a: StepFootprint,
  b: StepFootprint,
  observed: readonly string[],
  same: (x: string, y: string) => boolean,
  exempt: (a: StepFootprint, w: string, b: StepFootprint, t: string) => boolean,
): boolean {
  const meets = (xs: readonly string[], ys: readonly string[]): boolean => xs.some((x) => ys.some((y) => same(x, y)));
  if (a.clockRead || b.clockRead) return true;
  if (a.writes.some((w) => b.writes.some((t) => same(w, t) && !exempt(a, w, b, t)))) return true;
  if (meets(a.writes, b.reads) || meets(b.writes, a.reads)) return true;
  return observed.length > 0 && meets(a.writes, observed) && meets(b.writes, observed);
}

const head = (x: string): string | null => (x.indexOf(':') < 0 ? null : x.slice(0, x.indexOf(':')));
const trueSame = (x: string, y: string): boolean => x === y || (head(x) !== null && head(x) === head(y) && (x.endsWith(':*') || y.endsWith(':*')));
const trueExempt = (a: StepFootprint, w: string, b: StepFootprint, t: string): boolean =>
  w === t && (a.updates ?? []).includes(w) && (b.updates ?? []).includes(t);

const MUTANTS: Record<string, { same?: (x: string, y: string) => boolean; exempt?: typeof trueExempt }> = {
  'no wildcards': { same: (x, y) => x === y },
  'a wildcard on the left only': { same: (x, y) => x === y || (head(x) !== null && head(x) === head(y) && x.endsWith(':*')) },
  'both must be wildcards': { same: (x, y) => x === y || (head(x) !== null && head(x) === head(y) && x.endsWith(':*') && y.endsWith(':*')) },
  'a wildcard matches every family': { same: (x, y) => x === y || x.endsWith(':*') || y.endsWith(':*') },
  'the family up to the last colon': {
    same: (x, y) => {
      const h = (s: string): string | null => (s.lastIndexOf(':') < 0 ? null : s.slice(0, s.lastIndexOf(':')));
      return x === y || (h(x) !== null && h(x) === h(y) && (x.endsWith(':*') || y.endsWith(':*')));
    },
  },
  'the family as a prefix of the name': {
    same: (x, y) => {
      if (x === y) return true;
      const star = x.endsWith(':*') ? x : y.endsWith(':*') ? y : null;
      if (star === null) return false;
      const other = star === x ? y : x;
      return other.startsWith(star.slice(0, star.indexOf(':')));
    },
  },
  'no update exemption': { exempt: () => false },
  'an update on one side is exempt': { exempt: (a, w, b, t) => w === t && ((a.updates ?? []).includes(w) || (b.updates ?? []).includes(t)) },
  'an update exempts any same object': { exempt: (a, w, b, t) => (a.updates ?? []).includes(w) && (b.updates ?? []).includes(t) },
  'a wildcard is never exempt': { exempt: (a, w, b, t) => !w.endsWith(':*') && trueExempt(a, w, b, t) },
  'observed on one side is enough': {},
};

describe('the compiled conflict test', () => {
  const fps = corpus(160, 20);

  it('agrees with footprintsConflict on every pair of the corpus, with every observed list, one owner or several', () => {
    const idx = new ConflictIndex();
    let pairs = 0;
    let conflicts = 0;
    const configs: readonly (readonly (readonly string[])[])[] = [...OBSERVED.map((o) => [o]), ...OBSERVED_BY];
    for (const groups of configs) {
      const obs = groups.map((reads) => idx.compile({ reads, writes: [], clockRead: false }));
      for (const a of fps) {
        const ca = idx.of(a);
        const ha = idx.observedMask(ca, obs);
        for (const b of fps) {
          const want = footprintsConflict(a, b, groups);
          // One owner's list is the plain list.
          if (groups.length === 1 && footprintsConflict(a, b, groups[0]!) !== want) expect({ a, b, groups }).toBe('the same with one owner');
          const got = idx.conflict(ca, idx.of(b), ha, idx.observedMask(idx.of(b), obs));
          if (got !== want) expect({ a, b, groups, got }).toEqual({ a, b, groups, got: want });
          pairs++;
          if (want) conflicts++;
        }
      }
    }
    expect(pairs).toBe(configs.length * fps.length * fps.length);
    // Both answers are common (the corpus is not trivially all-conflicting or all-commuting).
    expect(conflicts).toBeGreaterThan(pairs / 5);
    expect(conflicts).toBeLessThan((pairs * 4) / 5);
  });

  it('tells the rule from each of its mutants on the corpus', () => {
    for (const [name, m] of Object.entries(MUTANTS)) {
      let differs = 0;
      for (const observed of OBSERVED)
        for (const a of fps)
          for (const b of fps) {
            const want = footprintsConflict(a, b, observed);
            const mutant =
              name === 'observed on one side is enough'
                ? reference(a, b, [], trueSame, trueExempt) ||
                  (observed.length > 0 && [a, b].some((f) => f.writes.some((w) => observed.some((o) => trueSame(w, o)))))
                : reference(a, b, observed, m.same ?? trueSame, m.exempt ?? trueExempt);
            if (mutant !== want) differs++;
          }
      expect({ name, differs: differs > 0 }).toEqual({ name, differs: true });
    }
    // Owners kept apart: the union of the owners' lists orders pairs that no one owner's list does.
    let apart = 0;
    for (const groups of OBSERVED_BY)
      for (const a of fps) for (const b of fps) if (footprintsConflict(a, b, groups.flat()) !== footprintsConflict(a, b, groups)) apart++;
    expect(apart).toBeGreaterThan(0);
    // The reference written out here is the core's rule (so the mutants are mutants of it).
    let unlike = 0;
    for (const observed of OBSERVED)
      for (const a of fps) for (const b of fps) if (reference(a, b, observed, trueSame, trueExempt) !== footprintsConflict(a, b, observed)) unlike++;
    expect(unlike).toBe(0);
  });

  it('compiles a footprint once, and the same names to the same ids across footprints', () => {
    const idx = new ConflictIndex();
    const a = fps[0]!;
    expect(idx.of(a)).toBe(idx.of(a));
    const x = idx.compile({ reads: ['task:1', 'lock:a', 'task:1'], writes: ['lock:*'], clockRead: false });
    const y = idx.compile({ reads: ['lock:a'], writes: ['task:1', 'task:1'], clockRead: false });
    expect(x.r).toEqual([...y.w, ...y.r].sort((p, q) => p - q));
    expect(x.ww).toEqual([idx.id('lock:*')]);
    expect(idx.id('task:1')).toBe(y.w[0]);
  });
});
