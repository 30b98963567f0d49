import { describe, expect, it } from 'vitest';
import {
  definePlugin,
  localIrqRestore,
  localIrqSave,
  preemptDisable,
  preemptEnable,
  schedPoint,
  type ChoiceKind,
  type Kernel,
  type KPath,
} from '@tracelab/core';
import {
  BoundedDfs,
  defineScenario,
  deviationCost,
  explore,
  isPreemption,
  randomWalk,
  replay,
  type Choice,
  type ChoicePoint,
  type RunOutcome,
} from '@tracelab/explore';

/**
 * The core's interrupt choices (issue 18: `nmi`, `ipi`, then `irq`, each 0 no / 1 yes) as explore
 * treats them: an arrival costs like a preemption, and DFS never prunes one as invisible.
 */

/** A one-choice schedule whose segment logged nothing (an "invisible" step). */
function outcome(kind: ChoiceKind): RunOutcome {
  const choices: Choice[] = [{ kind, n: 2, value: 0, dflt: 0, logAt: 0 }];
  return { kernel: { log: [] } as unknown as Kernel, choices, violation: null, steps: 1, done: true, busy: [] };
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

  it("DFS with the visible-step reduction tries an interrupt before an invisible step (its handler nests in that CPU's own code), where it prunes a preemption", () => {
    const alternatives = (kind: ChoiceKind): { next: number | null; reduced: number } => {
      const dfs = new BoundedDfs(1, false, true);
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

  it('BoundedDfs skips nothing unless asked: the same invisible step keeps its preemptive alternative', () => {
    const dfs = new BoundedDfs(1, false);
    dfs.next();
    dfs.record(outcome('preempt'));
    const second = dfs.next();
    expect(second).not.toBeNull();
    expect(second!.pick(point('preempt'))).toBe(1);
    expect(dfs.stats.reduced).toBe(0);
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

/** The interrupt race: a per-CPU counter that the tick's handler and a task both increment. */
function irqCounter() {
  // Guarded by the kernel's one thread; reset with the kernel (onReset), taken back on rollback.
  const box = { value: 0, lost: 0 };
  return definePlugin<{ counter: typeof box }, Record<string, never>>({
    name: 'irqcounter',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.onReset(() => {
        box.value = 0;
        box.lost = 0;
      });
      ctx.tap('irq', () => {
        const before = box.value;
        box.value++;
        ctx.onRollback(() => {
          box.value = before;
        });
      });
      ctx.invariant('irqcounter/no-lost-update', () =>
        box.lost > 0 ? `${box.lost} increment(s) lost: the tick's handler ran between a task's load and store` : null,
      );
      return { counter: box };
    },
  });
}

/** this_cpu_inc as a load and a store with a scheduling point between; interrupts off around it when `fixed`. */
function* increment(box: { value: number; lost: number }, fixed: boolean): KPath<void> {
  yield* preemptDisable();
  const flags = fixed ? yield* localIrqSave() : false;
  const v = box.value;
  yield* schedPoint();
  if (box.value !== v) box.lost++;
  box.value = v + 1;
  if (fixed) yield* localIrqRestore(flags);
  yield* preemptEnable();
}

const irqRace = defineScenario({
  name: 'irq-counter',
  description: 'a task and the tick handler increment one per-CPU counter (test fixture)',
  source: 'test fixture',
  cpus: 1,
  maxSteps: 400,
  variants: [
    { name: 'fixed', description: 'interrupts off around the load and store', safe: true },
    { name: 'racy', description: 'preemption off only', safe: false, expect: ['irqcounter/no-lost-update'] },
  ],
  plugins: () => [irqCounter()],
  interrupts: () => ({ timer: { period: 3 } }),
  setup(kernel, { variant }) {
    const box = (kernel.api as unknown as { irqcounter: { counter: { value: number; lost: number } } }).irqcounter.counter;
    kernel.spawnKthread(
      (function* () {
        for (let i = 0; i < 4; i++) {
          yield* increment(box, variant === 'fixed');
          yield* schedPoint();
        }
      })(),
      { comm: 'incr' },
    );
  },
});

describe('scenarios with interrupts (Scenario.interrupts)', () => {
  it('a race only an interrupt can cause is found by random walks and by DFS with bound 1, and its replay string re-runs it', () => {
    const r = explore(irqRace, { variant: 'racy', strategy: 'random', budget: 500 });
    expect(r.found).toBe(true);
    const f = r.failure!;
    expect(f.invariant).toBe('irqcounter/no-lost-update');
    const again = replay(irqRace, f.replay);
    expect(again.violation?.name).toBe(f.invariant);
    expect(again.logHash).toBe(f.logHash);
    expect(again.kernel.log.some((e) => e.type === 'irq/entry')).toBe(true);
    // Without an arrival there is no race: DFS with bound 0 (no interrupt) is clean, bound 1 finds it.
    expect(explore(irqRace, { variant: 'racy', strategy: 'dfs', bound: 0, budget: 10_000 }).found).toBe(false);
    expect(explore(irqRace, { variant: 'racy', strategy: 'dfs', bound: 1, budget: 10_000 }).found).toBe(true);
  });

  it('the fixed variant (interrupts off around the increment) is clean over the complete DFS with bound 2', () => {
    const d = explore(irqRace, { variant: 'fixed', strategy: 'dfs', bound: 2, budget: 100_000 });
    expect(d.found).toBe(false);
    expect(d.complete).toBe(true);
  });
});
