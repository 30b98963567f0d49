import { describe, expect, it } from 'vitest';
import { auditReduction, explore, finalStateDigest, isFailure, runSchedule, type Picker, type RunOutcome, type Scenario } from '@tracelab/explore';
import { catalog, scenario } from '../src/index.js';

/** A search to drive one schedule at a time: the DFS (reduced or not) or DPOR. */
export interface Search {
  next(): Picker | null;
  record(o: RunOutcome): void;
}

/**
 * Every final state and violation a search of `variant` at `scale` reaches, and its schedules;
 * `finished` sees each run that finished. A run cut at maxSteps stopped wherever the count fell:
 * only finished runs are compared by state, failures by name.
 */
export function reach(
  scenario: Scenario,
  variant: string,
  scale: number,
  search: Search,
  sink?: () => Parameters<typeof runSchedule>[5],
  finished?: (o: RunOutcome) => void,
): { digests: Set<string>; failures: Set<string>; runs: number } {
  const digests = new Set<string>();
  const failures = new Set<string>();
  let runs = 0;
  for (let p = search.next(); p !== null; p = search.next()) {
    const o = runSchedule(scenario, variant, scale, p, undefined, sink?.());
    search.record(o);
    runs++;
    if (o.done) {
      digests.add(finalStateDigest(o));
      finished?.(o);
    } else if (o.violation !== null && isFailure(o)) failures.add(o.violation.name);
  }
  return { digests, failures, runs };
}

/**
 * The DPOR search of catalog scenario `name`'s fixed variant `variant` (default `fixed`) at its
 * smallest scale, unbounded or within `bound` preemptions, completes with no violation and no run
 * cut at `maxSteps` or stopped by an unfair alarm (or, with `cutShare`, at most that share of the
 * traces cut), every trace explored up to swapping the CPUs, in more than `atLeast` traces (a floor
 * against a search that silently explores too little; the count itself is the bench's business).
 * Each variant has its own test file, so the runner overlaps them.
 */
export function expectVerified(name: string, atLeast: number, variant = 'fixed', bound: number | null = null, cutShare = 0): void {
  const s = scenario(name);
  expect(s.variants.find((v) => v.name === variant)?.safe, `${name}/${variant} is a fixed variant`).toBe(true);
  const r = explore(s, {
    variant,
    strategy: 'dpor',
    ...(bound === null ? {} : { bound }),
    scale: s.scale!.min,
    budget: 600_000,
    shrink: false,
    selfCheckEvery: 0,
  });
  expect(r.found).toBe(false);
  expect(r.complete).toBe(true);
  // Runs cut at the scenario's maxSteps, or stopped by a liveness alarm dropped as unfair, are
  // covered only up to where they stopped: none (a full verdict), unless the caller says why
  // some runs are cut and bounds their share of the traces.
  if (cutShare === 0) {
    expect(r.cut).toBe(0);
    expect(r.unfair).toBe(0);
  } else expect(r.cut).toBeLessThanOrEqual(cutShare * r.dpor!.traces);
  expect(r.dpor!.bound).toBe(bound);
  expect(r.dpor!.symmetric).toBe(true);
  expect(r.dpor!.traces).toBeGreaterThan(atLeast);
  expect(r.dpor!.mirrorChecks).toBeGreaterThan(0);
}

/** `expectVerified` without a bound: every trace. */
export function expectVerifiedUnbounded(name: string, atLeast: number, variant = 'fixed'): void {
  expectVerified(name, atLeast, variant, null);
}

/**
 * DPOR's reduction audited within `bound` on every variant of the catalog at its smallest scale,
 * but the scenarios in `skip` (name: why): DPOR and the DFS that tries every alternative reach the
 * same final states and violations (`auditReduction`, docs/explore.md §4a, "Auditing the
 * reduction"). A footprint that a change to a plugin or the core leaves short shows here as a
 * missed state or violation, named with a replay string.
 */
export function auditCatalog(bound: number, skip: Readonly<Record<string, string>> = {}): void {
  describe(`every catalog variant at its smallest scale, bound ${bound}: DPOR reaches what the unreduced DFS reaches`, () => {
    for (const s of catalog.values()) {
      if (skip[s.name] !== undefined) continue;
      for (const v of s.variants)
        it(`${s.name}/${v.name}`, () => {
          const a = auditReduction(s, { variant: v.name, bound, ...(s.scale !== undefined ? { scale: s.scale.min } : {}) });
          expect(a.missed).toEqual([]);
          expect(a.extra).toEqual([]);
          expect(a.agrees).toBe(true);
          // DPOR runs no more schedules than the search it reduces.
          expect(a.dpor.schedules).toBeLessThanOrEqual(a.dfs.schedules);
        }, 120_000);
    }
  });
}
