import { describe, expect, it } from 'vitest';
import type { ChoiceKind, Kernel } from '@tracelab/core';
import { BoundedDfs, deviationCost, isPreemption, randomWalk, type Choice, type ChoicePoint, type RunOutcome } from '@tracelab/explore';

/**
 * The core's interrupt choices (issue 18: `nmi`, `ipi`, then `irq`, each 0 no / 1 yes) as explore
 * treats them: an arrival costs like a preemption, and DFS never prunes one as invisible.
 */

/** A one-choice schedule whose segment logged nothing (an "invisible" step). */
function outcome(kind: ChoiceKind): RunOutcome {
  const choices: Choice[] = [{ kind, n: 2, value: 0, dflt: 0, logAt: 0 }];
  return { kernel: { log: [] } as unknown as Kernel, choices, violation: null, steps: 1, done: true };
}

function point(kind: ChoiceKind): ChoicePoint {
  return { kind, n: 2, pids: [1], same: -1, state: undefined as never, index: 0 };
}

describe('interrupt choices in explore', () => {
  it('an arrival (irq or nmi answered 1) is a preemption and costs 1 against the bound; refusing one is free', () => {
    for (const kind of ['irq', 'nmi', 'ipi'] as const) {
      expect(isPreemption({ kind, n: 2, value: 1, dflt: 0, logAt: 0 })).toBe(true);
      expect(deviationCost({ kind, n: 2, value: 1, dflt: 0, logAt: 0 })).toBe(1);
      expect(deviationCost({ kind, n: 2, value: 0, dflt: 0, logAt: 0 })).toBe(0);
    }
  });

  it('DFS tries an interrupt before an invisible step (its handler nests in that CPU\'s own code), where it prunes a preemption', () => {
    const alternatives = (kind: ChoiceKind): { next: number | null; reduced: number } => {
      const dfs = new BoundedDfs(1, false);
      const first = dfs.next()!;
      expect(first.pick(point(kind))).toBe(0);
      dfs.record(outcome(kind));
      const second = dfs.next();
      return { next: second === null ? null : second.pick(point(kind)), reduced: dfs.stats.reduced };
    };
    expect(alternatives('preempt')).toEqual({ next: null, reduced: 1 });
    expect(alternatives('irq')).toEqual({ next: 1, reduced: 0 });
    expect(alternatives('nmi')).toEqual({ next: 1, reduced: 0 });
    expect(alternatives('ipi')).toEqual({ next: 1, reduced: 0 });
  });

  it('DFS with bound 0 never delivers an interrupt', () => {
    const dfs = new BoundedDfs(0, false);
    dfs.next();
    dfs.record(outcome('irq'));
    expect(dfs.next()).toBeNull();
    expect(dfs.stats.bounded).toBe(1);
  });

  it('the random walk delivers interrupts at its preemption probability: never at 0, always at 1', () => {
    for (const kind of ['irq', 'nmi', 'ipi'] as const) {
      const never = randomWalk(7, 0);
      const always = randomWalk(7, 1);
      for (let i = 0; i < 50; i++) {
        expect(never.pick(point(kind))).toBe(0);
        expect(always.pick(point(kind))).toBe(1);
      }
    }
  });
});
