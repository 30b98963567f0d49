import type { KernelEvent } from '@tracelab/core';
import { defaultPick, deviationCost, type Choice, type Picker, type RunOutcome } from './run.js';

/**
 * Events that touch only the stepping task's own state (its syscall bookkeeping, its own
 * memory, a printk). A step whose events are all of these, or which logs nothing, commutes
 * with every step of every other CPU as far as the state is concerned.
 */
const LOCAL_EVENTS: ReadonlySet<string> = new Set(['syscall/enter', 'syscall/exit', 'kernel/printk', 'mm/store', 'fault/page', 'fault/resolved']);

/** Whether the segment a choice opens (up to the next `cpu` choice) logs a non-local event. */
export function visibleSegments(choices: readonly Choice[], log: readonly KernelEvent[]): boolean[] {
  const out = new Array<boolean>(choices.length).fill(false);
  let end = log.length;
  // Walk backwards: a choice's segment ends where the next step's CPU choice was made.
  for (let i = choices.length - 1; i >= 0; i--) {
    const from = choices[i]!.logAt;
    let visible = false;
    for (let e = from; e < end; e++) {
      if (!LOCAL_EVENTS.has(log[e]!.type)) {
        visible = true;
        break;
      }
    }
    out[i] = visible || (i + 1 < choices.length && out[i + 1]! && choices[i + 1]!.kind !== 'cpu');
    if (choices[i]!.kind === 'cpu') end = from;
  }
  return out;
}

interface Node {
  value: number;
  /** Values still to try at this position, in order. */
  readonly alts: number[];
}

export interface DfsStats {
  /** Alternatives skipped because the step they would preempt was invisible. */
  readonly reduced: number;
  /** Alternatives skipped because they would exceed the preemption bound. */
  readonly bounded: number;
  /** Schedules run in the tree of each bound (0, 1, ...). */
  readonly perBound: readonly number[];
}

/**
 * `ExploreOptions.reduction` for `dfs`: `none` tries every alternative within the bound;
 * `visible-steps` skips a preemption before a segment that logs only task-local events.
 */
export type DfsReduction = 'none' | 'visible-steps';
export const DFS_REDUCTIONS: readonly DfsReduction[] = ['none', 'visible-steps'];

/**
 * Preemption-bounded depth-first search over the choice tree, stateless (each schedule is
 * re-run from the start). The default continuation at every point is non-preemptive: the
 * CPU that stepped last steps again, no preemption, the oldest runnable task. A branch
 * switches CPU or preempts (cost 1; at most `bound` per schedule) or picks another runnable
 * task at a switch (free).
 *
 * The optional visible-step reduction tries a preemptive alternative at a position only if the
 * segment the schedule ran there is visible (logs a non-local event). That is an approximation,
 * not a theorem: a segment that reads state another CPU writes and logs nothing task-external
 * (core code reading a task's flags on syscall entry, a path polling through `getState()`)
 * decides differently when the other CPU goes first, and the search never tries it. So it is
 * off unless asked for; DPOR is the sound reduction.
 */
export class BoundedDfs {
  private stack: Node[] = [];
  private plan: number[] = [];
  private started = false;
  private reducedCount = 0;
  private boundedCount = 0;
  /** The bound of the tree being searched: 0, 1, ... up to `bound` (iterative context bounding). */
  private current: number;
  private readonly perBound: number[] = [];

  /**
   * `iterative` (the default) searches the whole tree with at most 0 preemptions, then at most
   * 1, ... up to `bound`, so a failure needing few preemptions is found in a small tree first
   * (each deeper tree runs the shallower schedules again). `reduce: true` turns the
   * visible-step reduction on (above). Off, every alternative within the bound is tried (the
   * unreduced search DPOR's soundness tests compare against), and is the default since 2026-12-07.
   */
  constructor(
    readonly bound: number,
    iterative = true,
    private readonly reduce = false,
  ) {
    this.current = iterative ? 0 : bound;
  }

  get stats(): DfsStats {
    return { reduced: this.reducedCount, bounded: this.boundedCount, perBound: [...this.perBound] };
  }

  /** The tree under way: its bound and the schedules run in it. */
  underWay(): { bound: number; schedules: number } {
    return { bound: this.current, schedules: this.perBound[this.current] ?? 0 };
  }

  /** The picker for the next schedule, or null when the bounded tree is exhausted. */
  next(): Picker | null {
    if (this.started) {
      while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.alts.length === 0) this.stack.pop();
      if (this.stack.length === 0) {
        if (this.current >= this.bound) return null;
        this.current++;
        this.stack = [];
        this.plan = [];
      } else {
        const top = this.stack[this.stack.length - 1]!;
        top.value = top.alts.shift()!;
        this.plan = this.stack.map((n) => n.value);
      }
    }
    this.started = true;
    this.perBound[this.current] = (this.perBound[this.current] ?? 0) + 1;
    const plan = this.plan;
    return {
      pick(p) {
        const v = plan[p.index];
        if (v !== undefined) return v;
        return defaultPick(p);
      },
    };
  }

  /** Records the schedule just run with the picker from `next()`: new positions become nodes. */
  record(outcome: RunOutcome): void {
    const choices = outcome.choices;
    // Only the reduction reads it: the default search does not pay for a pass over the log.
    const visible = this.reduce ? visibleSegments(choices, outcome.kernel.log) : null;
    let cost = 0;
    for (let i = 0; i < choices.length; i++) {
      const c = choices[i]!;
      if (i >= this.plan.length) {
        const alts: number[] = [];
        if (c.kind !== 'fault') {
          for (let v = 0; v < c.n; v++) {
            if (v === c.value) continue;
            // An interrupt arriving stalls the interrupted context as a preemption does: cost 1.
            const preempts = v !== c.dflt && (c.kind === 'preempt' || c.kind === 'cpu' || c.kind === 'irq' || c.kind === 'nmi' || c.kind === 'ipi');
            // A stale read counts against the bound as a preemption does (never reduced away:
            // what a load returns is always visible to the code that reads it).
            // So does an eviction (reclaim can strike any page at any step).
            const stale = (c.kind === 'memory' || c.kind === 'evict') && v !== 0;
            if ((preempts || stale) && cost + 1 > this.current) {
              this.boundedCount++;
              continue;
            }
            // Not for an interrupt: its handler nests inside the stepping CPU's own code, which
            // the commuting argument (steps of other CPUs) says nothing about.
            if (visible !== null && preempts && !visible[i] && c.kind !== 'irq' && c.kind !== 'nmi' && c.kind !== 'ipi') {
              this.reducedCount++;
              continue;
            }
            alts.push(v);
          }
        }
        this.stack.push({ value: c.value, alts });
      }
      cost += deviationCost(c);
    }
  }
}
