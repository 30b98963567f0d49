import { encodeSchedule } from '@tracelab/core';
import type { Scenario } from '../scenario.js';
import { isPreemption, isStaleRead, lenientReplay, runSchedule, trimmed, type RunOutcome } from './run.js';

/** A failing schedule as shrinking sees it: the scale, the choices, and what they cost. */
export interface Candidate {
  readonly scale: number;
  /** Choice values, trailing zeros cut. */
  readonly values: readonly number[];
  readonly outcome: RunOutcome;
  /** [scale, preemptions, stale reads, schedule string length, steps, sum of values]: smaller is simpler. */
  readonly key: readonly number[];
}

export interface ShrinkResult {
  readonly best: Candidate;
  /** Schedules run while shrinking. */
  readonly runs: number;
  /** True when a full round of every pass found nothing smaller. */
  readonly fixedPoint: boolean;
}

export function candidateOf(scale: number, outcome: RunOutcome): Candidate {
  const values = trimmed(outcome.choices.map((c) => c.value));
  let preemptions = 0;
  let stale = 0;
  let sum = 0;
  for (const c of outcome.choices) {
    if (isPreemption(c)) preemptions++;
    if (isStaleRead(c)) stale++;
    sum += c.value;
  }
  return { scale, values, outcome, key: [scale, preemptions, stale, encodeSchedule(values).length, outcome.steps, sum] };
}

function less(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * Shrinks a failing schedule to a fixed point. Each pass proposes simpler choice lists, re-runs
 * each (clamping values that no longer fit), and keeps a run if the same invariant still fails
 * and its key is smaller: fewer tasks (the scenario's scale), fewer preemptions, fewer stale reads, a shorter
 * schedule string, fewer steps. The choices a kept run actually made become the new list, so
 * the result is always a real run. Passes: lower the scale; set each preemptive choice to its
 * non-preemptive default; zero each choice; delete blocks of 16, 8, 4, 2, 1 choices; decrement
 * each choice. It stops when a whole round keeps nothing (the fixed point) or after `maxRuns`.
 */
export function shrink(scenario: Scenario, variant: string, start: Candidate, invariant: string, maxRuns = 3000): ShrinkResult {
  let best = start;
  let runs = 0;
  const attempt = (scale: number, values: readonly number[]): boolean => {
    if (runs >= maxRuns) return false;
    runs++;
    const outcome = runSchedule(scenario, variant, scale, lenientReplay(values));
    if (outcome.violation?.name !== invariant) return false;
    const c = candidateOf(scale, outcome);
    if (!less(c.key, best.key)) return false;
    best = c;
    return true;
  };
  const min = scenario.scale?.min ?? best.scale;
  for (;;) {
    let improved = false;
    for (let s = min; s < best.scale; s++) {
      if (attempt(s, best.values)) {
        improved = true;
        break;
      }
    }
    // Preemptive choices back to their default, latest first.
    for (let i = best.outcome.choices.length - 1; i >= 0; i--) {
      const c = best.outcome.choices[i];
      if (c === undefined || !isPreemption(c)) continue;
      const v = [...best.values];
      while (v.length <= i) v.push(0);
      v[i] = c.dflt;
      if (attempt(best.scale, v)) improved = true;
    }
    for (let i = best.values.length - 1; i >= 0; i--) {
      if (best.values[i] === 0 || best.values[i] === undefined) continue;
      const v = [...best.values];
      v[i] = 0;
      if (attempt(best.scale, v)) improved = true;
    }
    for (const size of [16, 8, 4, 2, 1]) {
      for (let i = 0; i + size <= best.values.length;) {
        const v = [...best.values.slice(0, i), ...best.values.slice(i + size)];
        if (attempt(best.scale, v)) improved = true;
        else i++;
      }
    }
    for (let i = 0; i < best.values.length; i++) {
      if (best.values[i]! <= 1) continue;
      const v = [...best.values];
      v[i] = v[i]! - 1;
      if (attempt(best.scale, v)) improved = true;
    }
    if (!improved) return { best, runs, fixedPoint: runs < maxRuns };
    if (runs >= maxRuns) return { best, runs, fixedPoint: false };
  }
}
