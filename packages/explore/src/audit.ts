import { TracelabError } from '@tracelab/core';
import { checkInt, checkScale, defaultVariant } from './explore.js';
import { replayString } from './replay.js';
import { variantOf, type Scenario } from './scenario.js';
import { BoundedDfs } from './internal/dfs.js';
import { Dpor } from './internal/dpor.js';
import { finalStateDigest } from './internal/equivalence.js';
import { KernelPool, isFailure, runSchedule, trimmed, type Picker, type RunOutcome } from './internal/run.js';

/** `auditReduction`'s options. */
export interface AuditOptions {
  /** Default `fixed` if the scenario has it, else its first variant. */
  readonly variant?: string;
  /**
   * The preemption bound of both searches. Default 1: the unreduced DFS grows fast past it. Null:
   * neither has one (DPOR then keeps sleep sets, as its unbounded verification does; for small
   * stacks and scales only, since the DFS then runs every schedule there is).
   */
  readonly bound?: number | null;
  /** The scale knob (default: the scenario's default; its smallest keeps the DFS small). */
  readonly scale?: number;
  /** Schedules each search may run. Default 200,000. */
  readonly budget?: number;
  /** Wall time for each search, in milliseconds: no schedule is started after it. Default: none. */
  readonly timeLimitMs?: number;
  /** Called every 256 schedules of either search. */
  readonly progress?: (p: { readonly search: 'dpor' | 'dfs'; readonly schedules: number }) => void;
}

/** What one of the two searches reached. */
export interface AuditSearch {
  readonly schedules: number;
  /** The search ran its whole tree within the bound (not stopped by the budget or the time limit). */
  readonly complete: boolean;
  /** Distinct final states of the runs that finished (`finalStateDigest`: timestamps aside, the runqueue as a set). */
  readonly states: number;
  /** The violations its runs stopped at, by name, sorted (failures only: `isFailure`). */
  readonly violations: readonly string[];
  /** Runs cut at the scenario's `maxSteps`: their state is wherever the count fell, so they are not compared. */
  readonly cut: number;
  /** Runs stopped by a liveness alarm of an unfair schedule (not `isFailure`): not compared either. */
  readonly unfair: number;
}

/** A final state or a violation one search reached and the other did not, with a schedule that reaches it. */
export interface AuditDifference {
  readonly kind: 'state' | 'violation';
  /** The final state's digest (`finalStateDigest`), or the violation's name. */
  readonly what: string;
  /** The first schedule of the search that reached it, as a replay string (`tracelab replay`). */
  readonly replay: string;
}

/** `auditReduction`'s answer. */
export interface ReductionAudit {
  readonly scenario: string;
  readonly variant: string;
  readonly scale: number;
  /** Null: both searches unbounded. */
  readonly bound: number | null;
  /** DPOR within the bound, without the symmetry rule (so that states compare as they are). */
  readonly dpor: AuditSearch & {
    /** The traces of its last tree (the bound's: an iterative search counts each bound's tree alone), as it stood when it stopped. */
    readonly traces: number;
  };
  /** The DFS within the bound, every alternative tried (`reduction: 'none'`), iterative over the bound as DPOR is. */
  readonly dfs: AuditSearch;
  /**
   * What the DFS reached and DPOR did not, when DPOR's search completed: each is a schedule DPOR
   * took to be equivalent to one it ran, typically because some step's footprint leaves out a
   * read or a write. A liveness monitor's violation is the exception to look at first: a monitor
   * that counts steps can tell apart orders DPOR takes as one (docs/explore.md §4a, "Auditing
   * the reduction").
   */
  readonly missed: readonly AuditDifference[];
  /**
   * What DPOR reached and the DFS did not, when the DFS's search completed: DPOR runs only
   * schedules within the bound, so each is a run that the same choices do not repeat.
   */
  readonly extra: readonly AuditDifference[];
  /**
   * Both searches completed, they compared something (a final state or a violation), and neither
   * reached one the other did not. A stack whose every run is cut at `maxSteps` compares nothing.
   */
  readonly agrees: boolean;
  /** What stopped a search short: `budget`, `time`, or null when both completed. */
  readonly stoppedBy: 'budget' | 'time' | null;
}

/** A search driven one schedule at a time, as `BoundedDfs` and `Dpor` are. */
interface Tree {
  next(): Picker | null;
  record(o: RunOutcome): void;
}

/** What a search reached: each final state and violation with the first schedule that reached it. */
interface Reached {
  readonly states: Map<string, AuditDifference>;
  readonly violations: Map<string, AuditDifference>;
  schedules: number;
  cut: number;
  unfair: number;
  stoppedBy: 'budget' | 'time' | null;
}

const PROGRESS_EVERY = 256;
const WHO = 'auditReduction';

/**
 * Checks DPOR's reduction on one variant of a stack: the DPOR search and the unreduced DFS within
 * the same preemption bound must reach the same final states and the same violations (the
 * soundness property of docs/explore.md §4a, "Soundness argument"). Neither stops at a violation.
 * A difference names a schedule that reaches what the other search missed. For a plugin of your
 * own: what it keeps outside the state is in DPOR's view only through its events' footprints, so
 * a plugin that reads or writes that data in a step that logs none of its events makes DPOR miss
 * orders, and this finds them on a small scale. Synchronous, on this thread.
 */
export function auditReduction(scenario: Scenario, options: AuditOptions = {}): ReductionAudit {
  const variant = options.variant ?? defaultVariant(scenario);
  variantOf(scenario, variant);
  const bound = options.bound === null ? null : checkInt('bound', options.bound ?? 1, 0, WHO);
  const budget = checkInt('budget', options.budget ?? 200_000, 1, WHO);
  const scale = checkScale(scenario, options.scale, WHO);
  const timeLimit = options.timeLimitMs === undefined ? null : checkInt('timeLimitMs', options.timeLimitMs, 1, WHO);
  if (typeof options.progress !== 'function' && options.progress !== undefined)
    throw new TracelabError('INVALID_OPTION', `${WHO}: progress must be a function`);
  const run = (search: 'dpor' | 'dfs', tree: Tree, sink: () => Parameters<typeof runSchedule>[5], after?: () => void): Reached => {
    // Host-side wall time, each search its own: when to stop starting schedules; no schedule depends on it.
    const deadline = timeLimit === null ? Infinity : performance.now() + timeLimit;
    const r: Reached = { states: new Map(), violations: new Map(), schedules: 0, cut: 0, unfair: 0, stoppedBy: null };
    // One kernel for the search, reset between schedules: nothing of an outcome is kept past its digest.
    const pool = new KernelPool();
    for (;;) {
      const limit = r.schedules >= budget ? 'budget' : performance.now() >= deadline ? 'time' : null;
      const picker = tree.next();
      if (picker === null) break;
      if (limit !== null) {
        r.stoppedBy = limit;
        break;
      }
      const o = runSchedule(scenario, variant, scale, picker, pool, sink());
      tree.record(o);
      after?.();
      r.schedules++;
      const at = (kind: AuditDifference['kind'], what: string): AuditDifference => ({
        kind,
        what,
        replay: replayString(scenario, variant, scale, trimmed(o.choices.map((c) => c.value)), o.steps),
      });
      if (o.done) {
        const d = finalStateDigest(o);
        if (!r.states.has(d)) r.states.set(d, at('state', d));
      } else if (o.violation !== null && isFailure(o)) {
        const name = o.violation.name;
        if (!r.violations.has(name)) r.violations.set(name, at('violation', name));
      } else if (o.violation === null) r.cut++;
      else r.unfair++;
      if (r.schedules % PROGRESS_EVERY === 0) options.progress?.({ search, schedules: r.schedules });
    }
    return r;
  };

  // Without the symmetry rule: it keeps one of each pair of mirror-image runs, whose final
  // states differ by the CPUs' names, and the mirror check stands for it in `explore`.
  // Every step recorded, the replayed prefix's too: DPOR compares those with the last run's, so a
  // stack whose runs are not a function of their choices stops the audit (SCHEDULE_DIVERGED).
  const dpor = new Dpor(bound, true, false);
  // Its trace count after each run: the `next()` a limit stops at may begin a deeper tree.
  let traces = 0;
  const red = run(
    'dpor',
    dpor,
    () => dpor.footprintSink(0),
    () => (traces = dpor.stats.traces),
  );
  // Iterative over the bound as DPOR is (each deeper tree runs the shallower schedules again),
  // so that the two schedule counts compare; unbounded, one tree, as DPOR's unbounded search.
  const dfs = bound === null ? new BoundedDfs(Number.MAX_SAFE_INTEGER, false, false) : new BoundedDfs(bound, true, false);
  const full = run('dfs', dfs, () => undefined);

  const outside = (a: Reached, b: Reached): AuditDifference[] => [
    ...[...a.states.values()].filter((d) => !b.states.has(d.what)),
    ...[...a.violations.values()].filter((d) => !b.violations.has(d.what)),
  ];
  const missed = red.stoppedBy === null ? outside(full, red) : [];
  const extra = full.stoppedBy === null ? outside(red, full) : [];
  const side = (r: Reached): AuditSearch => ({
    schedules: r.schedules,
    complete: r.stoppedBy === null,
    states: r.states.size,
    violations: [...r.violations.keys()].sort(),
    cut: r.cut,
    unfair: r.unfair,
  });
  const stoppedBy = red.stoppedBy ?? full.stoppedBy;
  return {
    scenario: scenario.name,
    variant,
    scale,
    bound,
    dpor: { ...side(red), traces },
    dfs: side(full),
    missed,
    extra,
    agrees: stoppedBy === null && missed.length === 0 && extra.length === 0 && full.states.size + full.violations.size > 0,
    stoppedBy,
  };
}
