import { createPrng, intMapGet } from '@tracelab/core';
import type { ChoicePoint, Picker } from './run.js';

/**
 * The strategies that number their schedules: schedule `i` of an exploration with seed `s` is
 * one fixed run whatever thread runs it, which is what lets workers split the numbers.
 */
export type IndexedStrategy = 'random' | 'pct' | 'portfolio';
export type StrategyName = IndexedStrategy | 'dfs' | 'dpor';
export const STRATEGIES: readonly StrategyName[] = ['portfolio', 'random', 'pct', 'dfs', 'dpor'];

/** Preemption probabilities the random walk cycles through (a few preemptions or many). */
const RANDOM_P = [0.05, 0.15, 0.4] as const;

/** Mixes the exploration seed and a schedule number into one 32-bit seed. */
export function scheduleSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Seeded random walk: every CPU and task pick uniform, preemption with probability `p`.
 */
export function randomWalk(seed: number, p: number): Picker {
  const rng = createPrng(seed);
  return {
    pick(c) {
      if (c.kind === 'preempt') return rng.next() < p ? 1 : 0;
      if (c.kind === 'fault') return 0;
      // An interrupt arrives with the walk's preemption probability: both stall the context.
      if (c.kind === 'irq' || c.kind === 'nmi' || c.kind === 'ipi') return rng.next() < p ? 1 : 0;
      // Reclaim evicts a uniform resident page as often as the walk preempts.
      if (c.kind === 'evict') return rng.next() < p ? 1 + rng.below(c.n - 1) : 0;
      return rng.below(c.n);
    },
  };
}

/**
 * PCT (Burckhardt et al., "A randomized scheduler with probabilistic guarantees of finding
 * bugs", ASPLOS 2010): every task gets a random priority at or above `depth`; the highest
 * priority task that can run always runs; at `depth - 1` change points, drawn uniformly among
 * the first `k` decision steps, the running task's priority drops below every initial one
 * (to depth-1, then depth-2, ...). A decision step is a choice point where two or more tasks
 * can run: a `cpu` choice (two CPUs can step) or a `preempt` choice (a task could yield to
 * the runqueue). `k` is the number of such steps in a default run of the scenario.
 */
export function pct(seed: number, depth: number, k: number): Picker {
  const rng = createPrng(seed);
  const prio = new Map<number, number>();
  const changes: number[] = [];
  for (let j = 0; j < depth - 1; j++) changes.push(1 + rng.below(Math.max(1, k)));
  let decisions = 0;
  const of = (pid: number): number => {
    let p = prio.get(pid);
    if (p === undefined) {
      p = depth + rng.next();
      prio.set(pid, p);
    }
    return p;
  };
  /**
   * The idle task stands for the best task on the runqueue it may pick up (a CPU stepping idle
   * picks one up): a task bound to another CPU is not one (`cpu` is the option's CPU, -1 unknown).
   */
  const optionPrio = (c: ChoicePoint, pid: number, cpu: number): number => {
    if (pid !== 0) return of(pid);
    let best = -1;
    for (const q of c.state.runqueue) {
      const bound = intMapGet(c.state.tasks, q)?.boundCpu;
      if (bound === undefined || bound === cpu || cpu < 0) best = Math.max(best, of(q));
    }
    // Nothing to pick up: the CPU steps its own idle loop (an idle hook's code), as a thread of
    // its own with a rank below every task's, drawn per CPU, so two idle CPUs do not always
    // leave the same one unstepped.
    if (best < 0 && cpu >= 0) best = -1 + idleRank(cpu);
    return best;
  };
  const idleRanks = new Map<number, number>();
  const idleRank = (cpu: number): number => {
    let r = idleRanks.get(cpu);
    if (r === undefined) {
      r = rng.next() * 0.5;
      idleRanks.set(cpu, r);
    }
    return r;
  };
  const argmax = (c: ChoicePoint): number => {
    let best = 0;
    let bp = -Infinity;
    for (let i = 0; i < c.pids.length; i++) {
      const p = optionPrio(c, c.pids[i]!, c.cpus?.[i] ?? -1);
      if (p > bp) {
        bp = p;
        best = i;
      }
    }
    return best;
  };
  const changePoint = (pid: number): void => {
    decisions++;
    for (let j = 0; j < changes.length; j++) {
      if (changes[j] === decisions && pid !== 0) prio.set(pid, depth - 1 - j + rng.next() * 0.5);
    }
  };
  return {
    pick(c) {
      switch (c.kind) {
        case 'cpu': {
          const i = argmax(c);
          changePoint(c.pids[i]!);
          return argmax(c);
        }
        case 'preempt': {
          changePoint(c.pids[0]!);
          const running = of(c.pids[0]!);
          for (let i = 1; i < c.pids.length; i++) if (of(c.pids[i]!) > running) return 1;
          return 0;
        }
        case 'task':
          return argmax(c);
        case 'irq':
        case 'nmi':
        case 'ipi':
          // Priorities say nothing about interrupts: they arrive at a low rate, drawn from the
          // same seeded PRNG, so the schedule is still fixed by its number.
          return rng.next() < 0.1 ? 1 : 0;
        case 'evict':
          // Reclaim is not a matter of priorities either: a uniform page at a low rate.
          return rng.next() < 0.1 ? 1 + rng.below(c.n - 1) : 0;
        case 'memory':
          // Which store a load reads is not a matter of priorities: drawn uniformly, as the
          // random walk does, so PCT's schedules also meet stale reads.
          return rng.below(c.n);
        default:
          return 0;
      }
    },
  };
}

/** What an indexed strategy runs as its schedule `index`, and a label for reports. */
export function indexedPicker(strategy: IndexedStrategy, seed: number, index: number, k: number): { picker: Picker; label: string } {
  const s = scheduleSeed(seed, index);
  const kind = strategy === 'portfolio' ? (index % 2 === 0 ? 'random' : 'pct') : strategy;
  const round = strategy === 'portfolio' ? index >> 1 : index;
  if (kind === 'random') {
    const p = RANDOM_P[round % RANDOM_P.length]!;
    return { picker: randomWalk(s, p), label: `random(p=${p})` };
  }
  const depth = 1 + (round % 3);
  return { picker: pct(s, depth, k), label: `pct(d=${depth})` };
}
