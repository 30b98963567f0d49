import { expect } from 'vitest';
import { explore, finalStateDigest, isFailure, runSchedule, type Picker, type RunOutcome, type Scenario } from '@tracelab/explore';
import { scenario } from '../src/index.js';

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
  const r = explore(s, { variant, strategy: 'dpor', bound: bound ?? undefined, scale: s.scale!.min, budget: 600_000, shrink: false, selfCheckEvery: 0 });
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
