import { TracelabError, createKernel, type ChoiceKind, type FootprintSink, type Kernel, type KernelState, type Strategy, type Violation } from '@tracelab/core';
import { scenarioKernelOptions, type Scenario } from '../scenario.js';

export { EXPLORE_KERNEL_SEED } from '../scenario.js';

/**
 * What a chooser sees at one choice point, beyond the core's `(kind, n, pids)`: the state
 * (for the runqueue and the CPUs) and which option continues the CPU that stepped last.
 */
export interface ChoicePoint {
  readonly kind: ChoiceKind;
  readonly n: number;
  readonly pids: readonly number[];
  /** Index of the option that keeps the CPU of the previous step running (`cpu` only), or -1. */
  readonly same: number;
  /** `cpu` only: the CPU each option stands for (as matched from the state: see `eligibleIds`). */
  readonly cpus?: readonly number[];
  /** The kernel's working state, read-only: valid during the pick only (it changes in place after). */
  readonly state: KernelState;
  /** Choices made so far in this run. */
  readonly index: number;
}

/** A strategy as the engine drives it: one `pick` per choice point of one run. */
export interface Picker {
  pick(p: ChoicePoint): number;
}

/** The non-preemptive answer at a choice point: the CPU that stepped last for `cpu`, else option 0. */
export function defaultPick(p: ChoicePoint): number {
  return p.kind === 'cpu' && p.same >= 0 ? p.same : 0;
}

/** One recorded choice. `cost` is 1 for a preemption (see `isPreemption`), else 0. */
export interface Choice {
  readonly kind: ChoiceKind;
  readonly n: number;
  readonly value: number;
  /** The non-preemptive option at this point (the CPU that stepped last, no preemption, 0). */
  readonly dflt: number;
  /** Log length when the choice was made: the events up to the next choice are its segment. */
  readonly logAt: number;
  /** `cpu` choices: the eligible CPUs' ids (option order). */
  readonly cpus?: readonly number[];
}

/**
 * Whether a choice preempts: a `preempt` answered 1, or a `cpu` choice that moves the step to
 * another CPU while the CPU that stepped last could still run (CPUs are the threads of the
 * interleaving, as CHESS counts preemptions). Picking which runnable task a CPU switches to,
 * or another CPU when the last one cannot run, is free.
 */
export function isPreemption(c: Choice): boolean {
  return c.value !== c.dflt && (c.kind === 'preempt' || c.kind === 'cpu' || c.kind === 'irq' || c.kind === 'nmi' || c.kind === 'ipi');
}

/** Whether a choice is a stale read: a `memory` choice other than option 0 (the newest store). */
export function isStaleRead(c: Choice): boolean {
  return c.kind === 'memory' && c.value !== 0;
}

/** Whether a choice evicts a page: an `evict` choice other than option 0 (keep every page). */
export function isEviction(c: Choice): boolean {
  return c.kind === 'evict' && c.value !== 0;
}

/** What a choice costs against an exploration's bound: a preemption, a stale read or an eviction. */
export function deviationCost(c: Choice): number {
  return isPreemption(c) || isStaleRead(c) || isEviction(c) ? 1 : 0;
}

export interface RunOutcome {
  readonly kernel: Kernel;
  readonly choices: readonly Choice[];
  readonly violation: Violation | null;
  readonly steps: number;
  /** Every task exited and the drain after the last ended (docs/core.md decision 22). False with no violation: the run was cut at `maxSteps`. */
  readonly done: boolean;
  /**
   * The CPUs running a task (not their idle task) when a violation stopped the run, in id order;
   * empty when none did. Read by `isFailure` and `starvedAtAlarm`, so that an outcome carried
   * without its kernel (a speculative run's) can still be judged.
   */
  readonly busy: readonly number[];
}

const NONE: readonly number[] = [];

/** `RunOutcome.busy` of a kernel stopped by `violation`. */
function busyCpus(kernel: Kernel, violation: Violation | null): readonly number[] {
  if (violation === null) return NONE;
  const out: number[] = [];
  for (const c of kernel.state.cpus) if (c.curr !== 0) out.push(c.id);
  return out;
}

/** The eligible CPUs' ids from the `pids` the core passes (their current tasks, in id order). */
function eligibleIds(state: KernelState, pids: readonly number[]): number[] {
  const out: number[] = [];
  let j = 0;
  for (let c = 0; c < state.cpus.length && j < pids.length; c++) {
    if (state.cpus[c]!.curr === pids[j]) {
      out.push(c);
      j++;
    }
  }
  return out;
}

/**
 * Runs one schedule of `scenario`: a fresh kernel, the scenario's setup, then `run` until every
 * task exited, a violation halted it, or `maxSteps`. Every choice goes through `picker` and is
 * recorded with its kind and default, so the run can be shrunk and its preemptions counted.
 * `footprints`: receives each step's footprint (the kernel records them for this run only),
 * from step `fromStep` on (`kernel.recordFootprints`).
 */
export function runSchedule(
  scenario: Scenario,
  variant: string,
  scale: number,
  picker: Picker,
  pool?: KernelPool,
  footprints?: FootprintSink,
  fromStep = 0,
): RunOutcome {
  const choices: Choice[] = [];
  let lastCpu = -1;
  let lastLog = 0;
  // The chooser reads the kernel it belongs to: the first choice comes after createKernel returns.
  // eslint-disable-next-line prefer-const -- assigned once, after the strategy that closes over it is built
  let kernel: Kernel;
  const strategy: Strategy = {
    name: 'explore',
    create: () => ({
      // The working state the core passes, not kernel.state: a snapshot mid-step is a copy.
      choose(kind, n, pids, state) {
        let same = -1;
        let ids: number[] | undefined;
        if (kind === 'cpu') {
          // Steps with a single eligible CPU ask nothing: the log says which CPU ran last.
          const log = kernel.log;
          for (let i = log.length - 1; i >= lastLog; i--) {
            if (log[i]!.cpu >= 0) {
              lastCpu = log[i]!.cpu;
              break;
            }
          }
          lastLog = log.length;
        }
        if (kind === 'cpu') {
          ids = eligibleIds(state, pids);
          if (lastCpu >= 0) same = ids.indexOf(lastCpu);
        }
        const dflt = same >= 0 ? same : 0;
        const value = picker.pick(
          ids !== undefined ? { kind, n, pids, same, cpus: ids, state, index: choices.length } : { kind, n, pids, same, state, index: choices.length },
        );
        if (ids !== undefined) {
          lastCpu = ids[value] ?? -1;
          choices.push({ kind, n, value, dflt, logAt: kernel.log.length, cpus: ids });
        } else {
          choices.push({ kind, n, value, dflt, logAt: kernel.log.length });
        }
        return value;
      },
    }),
  };
  kernel = pool?.take(scenario, variant, strategy) ?? createKernel(scenarioKernelOptions(scenario, variant, strategy));
  scenario.setup(kernel, { variant, scale });
  if (footprints === undefined) {
    const r = kernel.run({ maxSteps: scenario.maxSteps });
    const violation = r.violations[0] ?? null;
    return { kernel, choices, violation, steps: r.steps, done: r.done, busy: busyCpus(kernel, violation) };
  }
  kernel.recordFootprints(footprints, fromStep);
  let r: ReturnType<Kernel['run']>;
  try {
    r = kernel.run({ maxSteps: scenario.maxSteps });
  } finally {
    // A pooled kernel goes back without a recorder: the next schedule may not want one.
    kernel.recordFootprints(null);
  }
  const violation = r.violations[0] ?? null;
  return { kernel, choices, violation, steps: r.steps, done: r.done, busy: busyCpus(kernel, violation) };
}

/**
 * One kernel per scenario variant, reset between schedules (`kernel.reset`) instead of created
 * for each: registering a plugin stack costs far more than resetting it. Only for a caller that
 * keeps nothing of an outcome once it starts the next schedule (the outcome's kernel is the
 * pooled one, reset under it): `runChunk`'s loop. A stack that cannot be reset (a plugin without
 * `ctx.onReset`) gets a new kernel per schedule, as without a pool. Host-side and per thread;
 * written only by `take`.
 */
export class KernelPool {
  private readonly kernels = new WeakMap<Scenario, Map<string, Kernel | null>>();

  /** The pooled kernel of `scenario`/`variant`, reset to run with `strategy`; undefined to create one. */
  take(scenario: Scenario, variant: string, strategy: Strategy): Kernel | undefined {
    let byVariant = this.kernels.get(scenario);
    if (byVariant === undefined) this.kernels.set(scenario, (byVariant = new Map()));
    const k = byVariant.get(variant);
    if (k === null) return undefined;
    if (k === undefined) {
      const fresh = createKernel(scenarioKernelOptions(scenario, variant, strategy));
      byVariant.set(variant, fresh);
      return fresh;
    }
    try {
      k.reset({ strategy });
    } catch (err) {
      if (!(err instanceof TracelabError) || err.code !== 'RESET_UNSUPPORTED') throw err;
      byVariant.set(variant, null);
      return undefined;
    }
    return k;
  }
}

/** Choice values with the trailing zeros cut (past its end a schedule string is all zeros). */
export function trimmed(values: readonly number[]): number[] {
  let end = values.length;
  while (end > 0 && values[end - 1] === 0) end--;
  return values.slice(0, end);
}

/** A picker that replays `values`, clamping a value out of range to the last option; 0 past the end. */
export function lenientReplay(values: readonly number[]): Picker {
  return {
    pick(p) {
      const v = values[p.index];
      if (v === undefined) return 0;
      return v < p.n ? v : p.n - 1;
    },
  };
}

/** Multi-CPU steps a liveness alarm looks back over for fairness. */
export const FAIRNESS_WINDOW = 50;

/** How the core's liveness alarms end their message. */
const ALARM_SUFFIX = 'while every runnable task ran)';

/** A CPU a schedule starved around a liveness alarm (`starvedAtAlarm`). */
export interface StarvedCpu {
  readonly cpu: number;
  /**
   * Its wait: the schedule indices of the `cpu` choices, in order, that offered it and picked
   * another CPU, with no choice picking it in between.
   */
  readonly passedOver: readonly number[];
}

/**
 * The CPUs a run stopped by a liveness alarm (the core's alarm: it carries `hotSince`, and its
 * message ends "while every runnable task ran") starved, by two rules; empty for any other run.
 * The core alarms once the monitor has been hot more than its bound while every task on the
 * runqueue ran and every eligible CPU was stepped at least once; a strategy can still make the
 * stretch by itself:
 * - *Held off, then let go at the end.* Within the hot stretch (the choices from `hotSince` on),
 *   a CPU passed over at `FAIRNESS_WINDOW` or more choices in a row that offered it, whose wait
 *   ended within the last `FAIRNESS_WINDOW` `cpu` choices (or had not ended). The core alarms on
 *   the step that finally takes it, with the count already past the bound: its step (a reader's
 *   unlock, an exit, an idle pass) may be what the monitor waits for. A wait that ended earlier
 *   is followed by a window of fair choices in which the monitor stayed hot, and does not count.
 * - *At the alarm.* A CPU running a task that was offered at one of the last `FAIRNESS_WINDOW`
 *   `cpu` choices and picked at none of them.
 * A CPU both rules name is given its wait from the first. Neither asks whether the CPU's step
 * could change what the monitor reads (a monitor does not say), so an alarm a fair schedule would
 * raise too is dropped on such a schedule; other schedules raise it. The waits are what DPOR
 * branches on (a starved CPU's step never ran, so no race leads to it).
 */
export function starvedAtAlarm(o: Pick<RunOutcome, 'choices' | 'violation' | 'busy'>): StarvedCpu[] {
  const v = o.violation;
  if (v === null || !isAlarm(v)) return [];
  const choices = o.choices;
  // The last FAIRNESS_WINDOW `cpu` choices, over the whole run: which CPUs they offered and picked.
  const offered = new Set<number>();
  const stepped = new Set<number>();
  let seen = 0;
  let windowStart = choices.length;
  for (let i = choices.length - 1; i >= 0 && seen < FAIRNESS_WINDOW; i--) {
    const c = choices[i]!;
    if (c.kind !== 'cpu' || c.cpus === undefined) continue;
    seen++;
    windowStart = i;
    for (const id of c.cpus) offered.add(id);
    stepped.add(c.cpus[c.value]!);
  }
  const found = new Map<number, number[]>();
  const waits = new Map<number, number[]>();
  // A wait ends at choice `at` (the CPU picked there; `choices.length`: not ended).
  const close = (cpu: number, at: number): void => {
    const w = waits.get(cpu);
    if (w !== undefined && w.length >= FAIRNESS_WINDOW && at >= windowStart && !found.has(cpu)) found.set(cpu, w);
    waits.delete(cpu);
  };
  for (let i = Math.max(0, v.hotSince ?? choices.length); i < choices.length; i++) {
    const c = choices[i]!;
    if (c.kind !== 'cpu' || c.cpus === undefined) continue;
    const picked = c.cpus[c.value]!;
    for (const id of c.cpus) {
      if (id === picked) close(id, i);
      else {
        const w = waits.get(id);
        if (w === undefined) waits.set(id, [i]);
        else w.push(i);
      }
    }
  }
  for (const id of [...waits.keys()]) close(id, choices.length);
  for (const id of o.busy) {
    if (found.has(id) || !offered.has(id) || stepped.has(id)) continue;
    // Its trailing wait: back from the end, past the window, to the choice that last picked it.
    const w: number[] = [];
    for (let i = choices.length - 1; i >= 0; i--) {
      const c = choices[i]!;
      if (c.kind !== 'cpu' || c.cpus === undefined || !c.cpus.includes(id)) continue;
      if (c.cpus[c.value] === id) break;
      w.push(i);
    }
    found.set(id, w.reverse());
  }
  return [...found].sort((a, b) => a[0] - b[0]).map(([cpu, passedOver]) => ({ cpu, passedOver }));
}

/** Whether a violation is the core's liveness alarm (it carries `hotSince`; older logs: its message). */
function isAlarm(v: Violation): boolean {
  return v.hotSince !== undefined || v.message.endsWith(ALARM_SUFFIX);
}

/**
 * Whether a run's violation counts as a failure. A liveness alarm is kept only if the schedule
 * was weakly fair: `starvedAtAlarm` names no CPU. The core's own fairness looks at the runqueue
 * and at one step per CPU; this adds the waits a strategy makes by not picking a CPU. Unfair
 * alarms are no failures (the explorer counts them; DPOR branches on the starved CPUs).
 */
export function isFailure(o: Pick<RunOutcome, 'choices' | 'violation' | 'busy'>): boolean {
  const v = o.violation;
  if (v === null) return false;
  if (!isAlarm(v)) return true;
  return starvedAtAlarm(o).length === 0;
}
