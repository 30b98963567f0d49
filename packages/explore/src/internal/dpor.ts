import { TracelabError, conflictObjects, intMapValues, observedGroups, type ObservedBy, type StepFootprint } from '@tracelab/core';
import {
  FAIRNESS_WINDOW,
  deviationCost,
  isFailure,
  starvedAtAlarm,
  type ChoicePoint,
  type Choice,
  type Picker,
  type RunOutcome,
  type StarvedCpu,
} from './run.js';
import { ConflictIndex, type CompiledFootprint } from './conflict.js';

/**
 * Source-set DPOR with sleep sets (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014, Algorithm 1),
 * over CPUs as the threads of the interleaving, stateless (each schedule re-run from the start);
 * bounded by preemptions as bounded POR (Coons, Musuvathi, McKinley, OOPSLA 2013).
 * docs/explore.md §4 has the design and the soundness argument; in short:
 *
 * - A **step** is one scheduling step of the core: the CPU that stepped and its footprint
 *   (core footprint.ts: what it read and wrote, recorded by the core). Two steps of different
 *   CPUs are dependent when their footprints conflict.
 * - The **`cpu` choices** are the scheduling decisions DPOR reduces: a `cpu` node explores only
 *   the CPUs in its backtrack set, which races add to. Every other choice of a step (preempt,
 *   which task, interrupts, stale reads, evictions) is **local** to the stepping CPU and is
 *   branched in full, as the DFS does: a CPU with several possible next steps.
 * - **Races.** After each run, for every pair of steps i < j of different CPUs that conflict
 *   with no happens-before path between them through other steps, the initials of
 *   notdep(i).j (the CPUs whose first step in that sequence has no predecessor in it) are
 *   compared with the backtrack set at i; if they miss, one initial is added.
 * - **Sleep sets** (unbounded search only): a CPU explored at a node, and every CPU explored
 *   before it there, sleeps in the later siblings' subtrees until a step conflicting with its
 *   step (the union of its footprints over every run of its subtree: its local variants
 *   included) is taken. A run in which every eligible CPU sleeps is a redundant one.
 * - **Symmetry** (a scenario whose CPUs are interchangeable, `symmetricCpus`): at the first `cpu`
 *   choice, where every CPU is idle and no task is bound to one, the subtree of any other CPU is
 *   the mirror image of the first one's (the CPUs renamed), so races add no other CPU there.
 * - **Bounded** (bound B): a backtrack CPU whose choice would take the schedule past B
 *   preemptions is not added; to keep the low-preemption representatives of a trace, each race
 *   also adds its CPU at the start of the scheduling block of step i (BPOR). Sleep sets are off
 *   in a bounded search: a CPU put to sleep after a subtree that the bound cut short would hide
 *   schedules the bound allows elsewhere.
 */

/** A `cpu` choice of the tree. */
interface CpuNode {
  readonly kind: 'cpu';
  /** The eligible CPUs' ids, in option order. */
  readonly cpus: readonly number[];
  /** The option of the CPU that stepped last (the non-preemptive one). */
  readonly dflt: number;
  /** The eligible CPUs that were idle (their next step takes a task off the runqueue). */
  readonly idle: readonly number[];
  /** The runqueue at this choice (the tasks an idle CPU's switch-in may take). */
  readonly queued: readonly number[];
  /** `queued` joined with commas (what `pendingIdle` tells pending switch-ins apart by). */
  readonly queuedKey: string;
  /** Deviations (preemptions, stale reads, evictions) of the schedule before this choice. */
  readonly costBefore: number;
  value: number;
  /** CPU ids explored or being explored here. */
  readonly done: Set<number>;
  /** CPU ids to explore here (a superset of `done` once they run). */
  readonly backtrack: Set<number>;
  /** The sleep set entering this node: CPU id -> the footprint its sleeping step has. */
  readonly sleep: ReadonlyMap<number, StepFootprint>;
  /** For each CPU explored here, the union of its step's footprints over every run through it (unbounded searches only: only the sleep sets read it). */
  readonly fps: Map<number, StepFootprint>;
  /** Options handed to a speculative run (`Dpor.upcoming`); written only by it. */
  sent?: Set<number>;
  /** False once `upcoming` has handed out all it would here; set again when an option is added. */
  specDirty?: boolean;
  /**
   * A node where the CPUs are interchangeable (the symmetry rule): the only CPU explored here,
   * or -1 for an ordinary node.
   */
  readonly mirrorOf: number;
}

/** Any other choice: its remaining alternatives, tried in order (as the DFS). */
interface LocalNode {
  readonly kind: 'local';
  /** The choice's kind (for the `branched` counts). */
  readonly choice: string;
  value: number;
  readonly alts: number[];
  /** Options handed to a speculative run (`Dpor.upcoming`); written only by it. */
  sent?: Set<number>;
  /** False once `upcoming` has handed out all it would here; set again when an option is added. */
  specDirty?: boolean;
  /**
   * A `preempt` node answered 0 whose alternative (1) is set aside by the local-preemption rule
   * (docs/explore.md §4a, third pass): tried only if some run through this node with 0 shows the
   * step it let run is not local (`Dpor.checkDeferred`), which moves it back to `alts`.
   */
  deferred: number | null;
}

type Node = CpuNode | LocalNode;

export interface DporStats {
  /** Distinct Mazurkiewicz traces (with their local choices) the runs of the last tree covered. */
  readonly traces: number;
  /** Runs stopped being new by their sleep sets (every eligible CPU asleep). */
  readonly sleepBlocked: number;
  /** Races found (pairs of steps reversed or already covered). */
  readonly races: number;
  /**
   * Backtrack points added (by races, BPOR block starts included, and by the pending-idle, cut and
   * starved rules): each is a branch the search will run (all of them, in a complete search). Not
   * counted: a CPU already asked for there, one the bound or the symmetry rule refused (`bounded`,
   * `mirrored`), or one asleep there (`asleep`).
   */
  readonly backtracks: number;
  /**
   * Why the backtrack points were added, a diagnostic for scenario authors (why is this tree
   * big?): for each point a race added, the objects that made its two steps conflict, pids and
   * CPU ids and plugin keys folded (`task`, `runq`, `cpu`, `lock:<name>`, `plugin:<name>`, `@<plugin>`, `clock`, `observed:<owner>`: whose checks tied the steps);
   * `pending-idle` for an idle CPU's pending switch-in, `cut` for a run cut while polling, `starved` for
   * a cut run in which a CPU waited through the fairness window (its step taken within it).
   */
  readonly backtrackReasons: Readonly<Record<string, number>>;
  /** Alternatives skipped because they would exceed the preemption bound. */
  readonly bounded: number;
  /** Schedules run in the tree of each bound (0, 1, ...); one entry when unbounded. */
  readonly perBound: readonly number[];
  /** Schedules by the kind of choice they branched at: `cpu` (a race's backtrack point) or a local kind. */
  readonly branched: Readonly<Record<string, number>>;
  /** `preempt` alternatives set aside by the local-preemption rule and never needed (third pass). */
  readonly localPruned: number;
  /** Of those set aside, the ones a later run showed were needed (and so were explored). */
  readonly localRestored: number;
  /**
   * Backtrack points the symmetry rule refused (a CPU whose subtree mirrors the explored one's; the
   * same CPU refused by several races counts each time).
   */
  readonly mirrored: number;
  /**
   * CPUs a race or rule asked for at a node where they sleep (unbounded searches): the step was
   * explored before, in a branch set aside, and commutes with every step since, so the branch is
   * never run. Counted here, not in `backtracks` or its reasons.
   */
  readonly asleep: number;
  /** The symmetry rule applied: the first `cpu` choice had interchangeable CPUs, and one was explored. */
  readonly symmetric: boolean;
}

const EMPTY_SLEEP: ReadonlyMap<number, StepFootprint> = new Map();

/**
 * A choice point replayed from a speculative run (internal/speculate.ts): the state is not there,
 * so what the first `cpu` choice's symmetry test found is carried with it.
 */
export interface ReplayedPoint extends ChoicePoint {
  readonly interchangeable?: boolean;
}

/**
 * Whether the CPUs are interchangeable at this `cpu` choice, as far as the state tells: every CPU
 * is eligible, idle, online and at preempt count 0, no task has run yet (none remembers a CPU),
 * and none is bound to one. (That the code treats them alike is the scenario's promise,
 * `symmetricCpus`, which explore checks by running mirror images.)
 */
export function interchangeable(p: ChoicePoint): boolean {
  const cpus = p.state.cpus;
  if (p.n < 2 || p.n !== cpus.length) return false;
  for (const c of cpus) if (c.curr !== 0 || c.preemptCount !== 0 || !c.online) return false;
  for (const t of intMapValues(p.state.tasks)) if (t.cpu !== -1 || t.boundCpu !== undefined) return false;
  return true;
}

/** An object's name with its pid, CPU id or plugin key folded (`task:7` is `task`, `@memory-model:loc/x` is `@memory-model`; `lock:m` stays). */
function family(o: string): string {
  const i = o.indexOf(':');
  if (i < 0) return o;
  const head = o.slice(0, i);
  return head === 'task' || head === 'runq' || head === 'cpu' || head === 'pc' || head === 'mm' || head.startsWith('@') || /^\d+$|^\*$/.test(o.slice(i + 1))
    ? head
    : o;
}

/** Whether `b` adds nothing to `a`: its reads, writes and clock read are `a`'s, and no update of `a` is a plain write in `b`. */
function covers(a: StepFootprint, b: StepFootprint): boolean {
  if (b.clockRead && !a.clockRead) return false;
  for (const r of b.reads) if (!a.reads.includes(r)) return false;
  const ua = a.updates ?? [];
  for (const w of b.writes) if (!a.writes.includes(w) || (ua.includes(w) && !(b.updates ?? []).includes(w))) return false;
  return true;
}

/**
 * A sleeping CPU's footprint at a node: the union of its step's footprints over every run through
 * the node (its local variants included), so that it conflicts with whatever any of them would.
 */
export function unionFp(a: StepFootprint | undefined, b: StepFootprint): StepFootprint {
  if (a === undefined) return b;
  // Most runs through a node repeat a step already seen there: nothing to merge.
  if (covers(a, b)) return a;
  // An object stays a commutative update only if no run wrote it plainly.
  const plain = new Set<string>();
  for (const f of [a, b]) for (const w of f.writes) if (!(f.updates ?? []).includes(w)) plain.add(w);
  const updates = [...new Set([...(a.updates ?? []), ...(b.updates ?? [])])].filter((o) => !plain.has(o));
  return {
    cpu: b.cpu,
    choiceAt: b.choiceAt,
    reads: [...new Set([...a.reads, ...b.reads])],
    writes: [...new Set([...a.writes, ...b.writes])],
    ...(updates.length > 0 ? { updates } : {}),
    clockRead: a.clockRead || b.clockRead,
    observed: [],
  };
}

/** Whether two footprints of one step are the same, field by field (lists in order). */
export function sameFootprint(a: StepFootprint, b: StepFootprint): boolean {
  const same = (x: readonly (string | number)[] | undefined, y: readonly (string | number)[] | undefined): boolean =>
    (x ?? []).length === (y ?? []).length && (x ?? []).every((v, i) => v === y![i]);
  return (
    a.cpu === b.cpu &&
    a.choiceAt === b.choiceAt &&
    a.pid === b.pid &&
    a.clockRead === b.clockRead &&
    a.preemptible === b.preemptible &&
    same(a.reads, b.reads) &&
    same(a.writes, b.writes) &&
    same(a.observed, b.observed) &&
    sameObservers(a.observedBy, b.observedBy) &&
    same(a.updates, b.updates) &&
    same(a.switched, b.switched)
  );
}

/** Whether two steps' `observedBy` are the same, owner by owner, in order. */
function sameObservers(a: readonly ObservedBy[] | undefined, b: readonly ObservedBy[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p.owner !== q.owner || p.objects.length !== q.objects.length || p.objects.some((o, k) => o !== q.objects[k])) return false;
  }
  return true;
}

/**
 * The DPOR search. `bound`: the preemption bound (null: unbounded, for exhaustive
 * verification); bounded searches are iterative over the bound (0, 1, ... B), as the DFS.
 * Drive it as the DFS: `next()` gives the picker of the next schedule (null when the search is
 * complete), `footprintSink()` the sink for the kernel's step footprints of that run, and
 * `record(outcome)` takes the run back.
 *
 * A run replays its plan's prefix, whose steps the last run already took: same choices, same
 * steps (a run is a function of its choices; the explorer's self-check holds scenarios to that).
 * `recordFrom` is the first step the last run's footprints do not already give, the step in
 * which the branched choice is made: a caller that passes it to `kernel.recordFootprints` runs
 * the prefix unrecorded, at the speed of a plain run. A sink given every step instead (the tests)
 * has each prefix step compared with the one kept, and a difference stops the search.
 */
export class Dpor {
  // All fields: written only by next/record/the run's picker and sink, in the exploring thread.
  private stack: Node[] = [];
  private plan: number[] = [];
  private started = false;
  private current: number;
  private readonly perBound: number[] = [];
  private boundedCount = 0;
  /** Schedules by the kind of the choice they branched at (the first run counts as none). */
  private readonly branched: Record<string, number> = {};
  private raceCount = 0;
  private readonly reasons: Record<string, number> = {};
  private backtrackCount = 0;
  private deferredCount = 0;
  private restoredCount = 0;
  private blockedCount = 0;
  private mirroredCount = 0;
  /** CPUs asked for where they sleep (`DporStats.asleep`). */
  private asleepCount = 0;
  private symmetryApplied = false;
  /** The run's first `cpu` choice, when the symmetry rule applies there (a new node), or -1. */
  private newMirror = -1;
  private traceKeys = new Set<string>();
  /**
   * What each owner's invariants and monitors read, over every run so far (core `observedGroups`):
   * observed by every step. Two steps are
   * ordered by the checks when both write objects of one owner's list. Owners in the order met;
   * `observedLists[k]` is the k-th owner's list, which only grows.
   */
  private readonly observedSets = new Map<string, { readonly set: Set<string>; readonly list: string[] }>();
  private readonly observedLists: string[][] = [];
  /** Bumped whenever an owner's list grows (or an owner is met): the compiled lists are stale then. */
  private observedVersion = 0;
  /** Object names interned and footprints compiled for the conflict tests (conflict.ts). */
  private readonly conflicts = new ConflictIndex();
  /** `observedLists` compiled (as reads), and `observedVersion` when they were. */
  private observedC: CompiledFootprint[] = [];
  private observedCVersion = -1;
  /**
   * `steps` compiled, index for index: `record` compiles the steps the run added, `keepPrefix`
   * cuts it with `steps`. And which owners' observed objects each step writes (`observedMask`): set by `record`.
   */
  private readonly compiled: CompiledFootprint[] = [];
  private observedHits: Int32Array = new Int32Array(0);
  // The run under way:
  private steps: StepFootprint[] = [];
  /** For each step of `steps`, the index of the run's last `cpu` choice when it ended (for `onStep`). */
  private stepCpuChoice: number[] = [];
  /** The first step of the run under way that is not the last run's (see the class comment). */
  private prefixSteps = 0;
  /** Steps the sink has heard of in the run under way (a sink given every step skips the prefix). */
  private heard = 0;
  /** Sleep sets of the run's new `cpu` nodes, by choice index. */
  private newSleeps = new Map<number, ReadonlyMap<number, StepFootprint>>();
  /** The idle eligible CPUs of the run's new `cpu` nodes, by choice index. */
  private newIdle = new Map<number, number[]>();
  /** The runqueue at the run's new `cpu` nodes, by choice index. */
  private newQueued = new Map<number, readonly number[]>();
  /** The sleep set entering the next step (online, as the run goes). */
  private sleepNow: ReadonlyMap<number, StepFootprint> = EMPTY_SLEEP;
  /** The step at which the run found every eligible CPU asleep, or -1; and that step's choice index. */
  private blockedAt = -1;
  private blockedChoice = Infinity;
  /** The index of the run's last `cpu` choice (to tell which step made one). */
  private lastCpuChoice = -1;
  private cpuNodeOfStep: Array<CpuNode | null> = [];

  /**
   * `localRule: false` turns the local-preemption rule off (every `preempt` alternative within
   * the bound branched, as in the first two passes): for the tests and measurements.
   */
  constructor(
    readonly bound: number | null,
    private readonly localRule = true,
    /** The scenario's CPUs are interchangeable (`Scenario.symmetricCpus`): the symmetry rule applies. */
    private readonly symmetric = false,
    /** Keep the last run's steps for the prefix a run replays (`recordFrom`); false: every run from step 0 (tests, measurements). */
    private readonly reusePrefix = true,
  ) {
    this.current = bound === null ? Infinity : 0;
  }

  private get sleepSets(): boolean {
    return this.bound === null;
  }

  get stats(): DporStats {
    return {
      traces: this.traceKeys.size,
      sleepBlocked: this.blockedCount,
      races: this.raceCount,
      backtracks: this.backtrackCount,
      backtrackReasons: { ...this.reasons },
      bounded: this.boundedCount,
      perBound: [...this.perBound],
      branched: { ...this.branched },
      localPruned: this.deferredCount - this.restoredCount,
      localRestored: this.restoredCount,
      mirrored: this.mirroredCount,
      asleep: this.asleepCount,
      symmetric: this.symmetryApplied,
    };
  }

  /** The tree under way: its bound (null: unbounded) and the schedules run in it. */
  underWay(): { bound: number | null; schedules: number } {
    return { bound: this.bound === null ? null : this.current, schedules: this.perBound[this.bound === null ? 0 : this.current] ?? 0 };
  }

  /** The picker for the next schedule, or null when the search is complete. */
  next(): Picker | null {
    if (this.started) {
      for (;;) {
        while (this.stack.length > 0 && this.pending(this.stack[this.stack.length - 1]!) === null) this.stack.pop();
        if (this.stack.length > 0) break;
        if (this.bound === null || this.current >= this.bound) return null;
        this.current++;
        this.traceKeys = new Set();
        this.plan = [];
        this.started = false;
        break;
      }
      if (this.stack.length > 0) {
        const top = this.stack[this.stack.length - 1]!;
        const v = this.pending(top)!;
        const k = top.kind === 'cpu' ? 'cpu' : top.choice;
        this.branched[k] = (this.branched[k] ?? 0) + 1;
        if (top.kind === 'cpu') {
          top.done.add(top.cpus[v]!);
          top.value = v;
        } else {
          top.alts.shift();
          top.value = v;
        }
        this.plan = this.stack.map((n) => n.value);
      }
    }
    this.started = true;
    const level = this.bound === null ? 0 : this.current;
    this.perBound[level] = (this.perBound[level] ?? 0) + 1;
    this.keepPrefix();
    this.newSleeps = new Map();
    this.newIdle = new Map();
    this.newQueued = new Map();
    this.sleepNow = EMPTY_SLEEP;
    this.blockedAt = -1;
    this.blockedChoice = Infinity;
    this.lastCpuChoice = -1;
    this.newMirror = -1;
    this.cpuNodeOfStep = [];
    // The prefix's sleep sets, as its steps would have left them (a sink called by the kernel
    // computes them step by step; these steps will not reach it).
    for (let k = 0; k < this.prefixSteps; k++) this.sleepAfter(this.steps[k]!, this.stepCpuChoice[k]!);
    const plan = this.plan;
    const stack = this.stack;
    return {
      pick: (p) => {
        const v = plan[p.index];
        if (p.kind !== 'cpu') return v ?? 0;
        const first = this.lastCpuChoice < 0;
        this.lastCpuChoice = p.index;
        // A `cpu` choice: the sleep set entering this step is that of its node (a replayed one)
        // or the one carried along the run (a new one).
        const known = p.index < stack.length ? stack[p.index] : undefined;
        const sleep = known !== undefined && known.kind === 'cpu' ? known.sleep : this.sleepNow;
        if (known === undefined) {
          if (first && this.symmetric && ((p as ReplayedPoint).interchangeable ?? interchangeable(p))) this.newMirror = p.index;
          this.newSleeps.set(p.index, sleep);
          const idle: number[] = [];
          for (let o = 0; o < p.n; o++) if (p.pids[o] === 0) idle.push(p.cpus![o]!);
          this.newIdle.set(p.index, idle);
          if (idle.length > 0) this.newQueued.set(p.index, [...p.state.runqueue]);
        }
        if (v !== undefined) return v;
        const dflt = p.same >= 0 ? p.same : 0;
        if (!this.sleepSets || !sleep.has(p.cpus![dflt]!)) return dflt;
        for (let o = 0; o < p.n; o++) if (!sleep.has(p.cpus![o]!)) return o;
        // Every eligible CPU sleeps: what follows was covered elsewhere.
        if (this.blockedAt < 0) {
          this.blockedAt = this.steps.length;
          this.blockedChoice = p.index;
        }
        return dflt;
      },
    };
  }

  /**
   * The first step of the next run whose footprint the search needs (`kernel.recordFootprints`'s
   * `fromStep`): the earlier ones replay the last run's. Read after `next()`.
   */
  get recordFrom(): number {
    return this.prefixSteps;
  }

  /**
   * Keeps, of the last run's steps, those the run `next()` is starting takes again: every step
   * that ended before the plan's last choice (the branched one) was asked. Nothing when the
   * plan is empty (a first run, or a new bound).
   */
  private keepPrefix(): void {
    const k = this.prefixStepsAt(this.plan.length - 1);
    const steps = this.steps;
    steps.length = k;
    if (this.compiled.length > k) this.compiled.length = k;
    this.stepCpuChoice.length = k;
    this.prefixSteps = k;
    this.heard = 0;
  }

  /**
   * How many of the last run's steps a run branching at choice `d` takes again: those that ended
   * before choice d was asked (0 for a first run, or without `reusePrefix`).
   */
  private prefixStepsAt(d: number): number {
    const steps = this.steps;
    let k = 0;
    if (d >= 0) while (k + 1 < steps.length && steps[k + 1]!.choiceAt <= d) k++;
    // k: the step in which choice d is made (its choices run from its choiceAt to the next step's).
    if (!this.reusePrefix || d < 0 || steps.length === 0 || steps[k]!.choiceAt > d) k = 0;
    return k;
  }

  /**
   * Runs the search will take later, for speculative execution (internal/speculate.ts): up to
   * `room` pending entries of the stack not handed out before, shallowest first (the search takes
   * those last), each as the plan its run follows and the step it records from. The entry
   * `next()` takes first is left out (the caller runs it). Bounded searches only: without sleep sets a run is a function of its plan
   * (the forced prefix, then the defaults), so a run made now is the run the search makes later.
   * Every entry handed out is taken by a later `next()` of this bound's tree: a bounded search
   * explores every entry its stack holds, and nothing removes one.
   */
  upcoming(room: number): Array<{ readonly key: string; readonly plan: number[]; readonly fromStep: number }> {
    const out: Array<{ key: string; plan: number[]; fromStep: number }> = [];
    if (this.sleepSets || room <= 0) return out;
    const stack = this.stack;
    // The entry `next()` takes: the lowest pending option of the deepest node that has one.
    let top = stack.length - 1;
    while (top >= 0 && this.pending(stack[top]!) === null) top--;
    const skip = top >= 0 ? this.pending(stack[top]!) : null;
    // Shallowest first: those are taken last, so they are the likeliest to be ready by then.
    for (let i = 0; i <= top && out.length < room; i++) {
      const n = stack[i]!;
      if (n.specDirty === false) continue;
      let left = false;
      const offer = (v: number): void => {
        if ((i === top && v === skip) || n.sent?.has(v) === true) return;
        if (out.length >= room) {
          left = true;
          return;
        }
        (n.sent ??= new Set()).add(v);
        const plan = new Array<number>(i + 1);
        for (let j = 0; j < i; j++) plan[j] = stack[j]!.value;
        plan[i] = v;
        out.push({ key: plan.join(','), plan, fromStep: this.prefixStepsAt(i) });
      };
      if (n.kind === 'local') for (const v of n.alts) offer(v);
      else for (const q of n.backtrack) if (!n.done.has(q)) offer(n.cpus.indexOf(q));
      n.specDirty = left;
    }
    return out;
  }

  /** The plan of the run `next()` started, as `upcoming` names it. */
  get planKey(): string {
    return this.plan.join(',');
  }

  /**
   * The sink for the current run's step footprints (`kernel.recordFootprints`), which the kernel
   * calls from step `fromStep` on: 0 (every step; the prefix's are compared with those kept) or
   * `recordFrom` (the prefix unrecorded).
   */
  footprintSink(fromStep = 0): (fp: StepFootprint) => void {
    if (fromStep !== 0 && fromStep !== this.prefixSteps) throw new Error(`internal: dpor records from step 0 or ${this.prefixSteps}, not ${fromStep}`);
    this.heard = fromStep;
    return (fp) => this.onStep(fp);
  }

  private onStep(fp: StepFootprint): void {
    if (this.heard++ < this.prefixSteps) {
      this.checkReplayed(this.heard - 1, fp);
      return;
    }
    this.steps.push(fp);
    this.stepCpuChoice.push(this.lastCpuChoice);
    this.sleepAfter(fp, this.lastCpuChoice);
  }

  /** A prefix step heard again must be the one kept: the scenario is not deterministic otherwise. */
  private checkReplayed(k: number, fp: StepFootprint): void {
    const kept = this.steps[k]!;
    if (sameFootprint(kept, fp)) return;
    throw new TracelabError(
      'SCHEDULE_DIVERGED',
      `dpor: step ${k} of a replayed prefix differs from the same step of the last run (cpu ${kept.cpu} then ${fp.cpu}, choice ${kept.choiceAt} then ${fp.choiceAt}): the scenario is not deterministic`,
      { step: k },
    );
  }

  /**
   * A step's effect on the search's state: what the checks observe, and the sleep set after it
   * (`lastCpu`: the index of the run's last `cpu` choice as the step ended).
   */
  private sleepAfter(fp: StepFootprint, lastCpu: number): void {
    for (const g of observedGroups(fp)) this.observe(g.owner, g.objects);
    if (!this.sleepSets) return;
    // The sleep set after this step: the CPUs asleep before it, and those explored before this
    // CPU at its node, whose steps commute with this one.
    // The step's own `cpu` node, if it made a `cpu` choice and the plan replayed it.
    const node = this.stack[fp.choiceAt];
    const replayed = lastCpu === fp.choiceAt && fp.choiceAt < this.plan.length && node !== undefined && node.kind === 'cpu';
    const before = replayed ? node.sleep : this.sleepNow;
    const next = new Map<number, StepFootprint>();
    const idx = this.conflicts;
    const obs = this.observedCompiled();
    const c = idx.of(fp);
    const hit = idx.observedMask(c, obs);
    const keep = (q: number, f: StepFootprint): void => {
      if (q === fp.cpu) return;
      const cf = idx.of(f);
      if (!idx.conflict(cf, c, idx.observedMask(cf, obs), hit)) next.set(q, f);
    };
    for (const [q, f] of before) keep(q, f);
    if (replayed) {
      for (const q of node.done) {
        if (q === fp.cpu) continue;
        const f = node.fps.get(q);
        if (f !== undefined) keep(q, f);
      }
    }
    this.sleepNow = next;
  }

  /** Adds what `owner`'s checks read after a step to its list. */
  private observe(owner: string, objects: readonly string[]): void {
    let g = this.observedSets.get(owner);
    if (g === undefined) {
      g = { set: new Set(), list: [] };
      this.observedSets.set(owner, g);
      this.observedLists.push(g.list);
      this.observedVersion++;
    }
    for (const o of objects) {
      if (g.set.has(o)) continue;
      g.set.add(o);
      g.list.push(o);
      this.observedVersion++;
    }
  }

  /** `observedLists` compiled, one per owner (recompiled when one has grown). */
  private observedCompiled(): readonly CompiledFootprint[] {
    if (this.observedCVersion !== this.observedVersion) {
      this.observedC = this.observedLists.map((reads) => this.conflicts.compile({ reads, writes: [], clockRead: false }));
      this.observedCVersion = this.observedVersion;
    }
    return this.observedC;
  }

  /** The next alternative of a node (an option index), or null when it has none left. */
  private pending(n: Node): number | null {
    if (n.kind === 'local') return n.alts.length > 0 ? n.alts[0]! : null;
    let best: number | null = null;
    for (const q of n.backtrack) {
      if (n.done.has(q) || (this.sleepSets && n.sleep.has(q))) continue;
      const o = n.cpus.indexOf(q);
      if (o >= 0 && (best === null || o < best)) best = o;
    }
    return best;
  }

  /** Records the schedule just run with the picker from `next()` (its footprints went to the sink). */
  record(outcome: RunOutcome): void {
    const choices = outcome.choices;
    const steps = this.steps;
    // New positions become nodes.
    let cost = 0;
    for (let i = 0; i < choices.length; i++) {
      const c = choices[i]!;
      if (i >= this.plan.length) this.stack.push(this.newNode(c, i, cost));
      cost += deviationCost(c);
    }
    // Each step's `cpu` node (when several CPUs could step), and the footprint unions (read only
    // by the sleep sets, so made only where they are on: unbounded).
    const unions = this.sleepSets;
    const nodes: Array<CpuNode | null> = [];
    for (let k = 0; k < steps.length; k++) {
      const at = steps[k]!.choiceAt;
      const end = k + 1 < steps.length ? steps[k + 1]!.choiceAt : choices.length;
      const n = at < end ? this.stack[at] : undefined;
      const node = n !== undefined && n.kind === 'cpu' ? n : null;
      nodes.push(node);
      if (node !== null && unions) node.fps.set(steps[k]!.cpu, unionFp(node.fps.get(steps[k]!.cpu), steps[k]!));
    }
    this.cpuNodeOfStep = nodes;
    const limit = this.blockedAt >= 0 ? this.blockedAt : steps.length;
    if (this.blockedAt >= 0) this.blockedCount++;
    const obs = this.observedCompiled();
    const compiled = this.compiled;
    for (let k = compiled.length; k < steps.length; k++) compiled.push(this.conflicts.compile(steps[k]!));
    const hits = new Int32Array(steps.length);
    for (let k = 0; k < steps.length; k++) hits[k] = this.conflicts.observedMask(compiled[k]!, obs);
    this.observedHits = hits;
    if (this.localRule && !this.sleepSets) this.checkDeferred(choices);
    this.analyse(limit, choices);
    if (this.blockedAt < 0) {
      if (!outcome.done && outcome.violation === null) this.pendingAtCut(limit);
      else if (outcome.violation !== null && isFailure(outcome)) this.pendingAtViolation(limit);
      else if (outcome.violation !== null) this.starvedBeforeAlarm(starvedAtAlarm(outcome));
    }
  }

  private newNode(c: Choice, index: number, costBefore: number): Node {
    if (c.kind === 'cpu') {
      const cpus = c.cpus ?? [];
      const chosen = cpus[c.value]!;
      const queued = this.newQueued.get(index) ?? [];
      if (index === this.newMirror) this.symmetryApplied = true;
      return {
        kind: 'cpu',
        cpus,
        dflt: c.dflt,
        idle: this.newIdle.get(index) ?? [],
        queued,
        queuedKey: queued.join(','),
        costBefore,
        value: c.value,
        done: new Set([chosen]),
        backtrack: new Set([chosen]),
        sleep: this.newSleeps.get(index) ?? EMPTY_SLEEP,
        fps: new Map(),
        mirrorOf: index === this.newMirror ? chosen : -1,
      };
    }
    const alts: number[] = [];
    // Past the point where every CPU slept, the run is redundant: nothing to branch on there.
    if (c.kind !== 'fault' && index < this.blockedChoice) {
      for (let v = 0; v < c.n; v++) {
        if (v === c.value) continue;
        const deviation =
          (v !== c.dflt && (c.kind === 'preempt' || c.kind === 'irq' || c.kind === 'nmi' || c.kind === 'ipi')) ||
          ((c.kind === 'memory' || c.kind === 'evict') && v !== 0);
        if (deviation && costBefore + 1 > this.current) {
          this.boundedCount++;
          continue;
        }
        alts.push(v);
      }
    }
    return { kind: 'local', choice: c.kind, value: c.value, alts, deferred: null };
  }

  /**
   * The local-preemption rule (docs/explore.md §4a, third pass, has the soundness argument).
   * A `preempt` choice answered 0 lets task A run its step S on CPU c. Preempting A there
   * instead gives, for every continuation, a run equivalent to preempting A at its next point
   * (right after S, which this run's next step of c offers), provided S is local: it reads no
   * clock, writes nothing but A's own record, which no check observes, reads nothing of the
   * CPU it runs on, makes no deviating choice, and conflicts with no later step of any other
   * task (a step that only switched A in or out aside). The alternative of a new node is set
   * aside when this run's S is local, and put back as soon as any run through the node with 0
   * shows an S that is not; a node is left (popped) only after every run through it, so an
   * alternative still set aside then was never needed.
   */
  private checkDeferred(choices: readonly Choice[]): void {
    const steps = this.steps;
    let k = 0;
    for (let i = 0; i < choices.length && i < this.stack.length; i++) {
      const n = this.stack[i]!;
      if (n.kind !== 'local' || n.choice !== 'preempt' || n.value !== 0) continue;
      while (k + 1 < steps.length && steps[k + 1]!.choiceAt <= i) k++;
      const isNew = i >= this.plan.length;
      if (isNew) {
        const at = n.alts.indexOf(1);
        if (at < 0 || !this.localStep(k, i, choices)) continue;
        n.alts.splice(at, 1);
        n.deferred = 1;
        this.deferredCount++;
      } else if (n.deferred !== null && !this.localStep(k, i, choices)) {
        n.alts.push(n.deferred);
        n.deferred = null;
        n.specDirty = true;
        this.restoredCount++;
      }
    }
  }

  /** Whether step k (whose `preempt` choice, answered 0, is choice i) is local in this run (see `checkDeferred`). */
  private localStep(k: number, i: number, choices: readonly Choice[]): boolean {
    const steps = this.steps;
    const s = steps[k]!;
    const a = s.pid ?? 0;
    if (a === 0 || s.clockRead || k + 1 >= steps.length) return false;
    const own = `task:${a}`;
    for (const w of s.writes) if (w !== own) return false;
    for (const r of s.reads) if (r.startsWith('cpu:') || r.startsWith('pc:')) return false;
    // S writes nothing the checks observe (what `footprintsConflict` with them as reads says).
    if (this.observedHits[k] !== 0) return false;
    // The rest of S makes no deviating choice, and S leaves A preemptible (its runqueue is the
    // one the point saw: S writes nothing of it), so c's next step offers A's next preemption.
    if (s.preemptible !== true) return false;
    const end = steps[k + 1]!.choiceAt;
    for (let c = i + 1; c < end; c++) if (deviationCost(choices[c]!) > 0) return false;
    // No later step of another task conflicts with S (a step that switched A in or out wrote A's
    // record only for that: set aside). S's read of `rq:nonempty` is the point's own (no other
    // code reads it in a step without interrupts, and a step with them reads the clock): the
    // point decides the same way whether A is preempted there or not, so it is left out.
    const idx = this.conflicts;
    const obsC = this.observedCompiled();
    const body = idx.compile({ ...s, reads: s.reads.filter((r) => r !== 'rq:nonempty') });
    const bodyHit = 0; // S's writes are the body's, and they meet nothing observed (above).
    const limit = this.blockedAt >= 0 ? this.blockedAt : steps.length;
    for (let j = k + 1; j < limit; j++) {
      const y = steps[j]!;
      if (y.pid === a) continue;
      if (y.switched !== undefined && y.switched.includes(a)) {
        const other = idx.compile({ ...y, writes: y.writes.filter((w) => w !== own) });
        if (idx.conflict(body, other, bodyHit, idx.observedMask(other, obsC))) return false;
      } else if (idx.conflict(body, this.compiled[j]!, bodyHit, this.observedHits[j]!)) return false;
    }
    return true;
  }

  /** Races of the run's first `limit` steps, their backtrack points, and the run's trace. */
  private analyse(limit: number, choices: readonly Choice[]): void {
    const steps = this.steps;
    let ncpu = 0;
    for (let k = 0; k < limit; k++) ncpu = Math.max(ncpu, steps[k]!.cpu + 1);
    // vc[k][q]: 1 + the index of the latest step of CPU q that happens before or is step k.
    const vc: Int32Array[] = [];
    const prevSame = new Int32Array(ncpu).fill(-1);
    const obs = this.observedLists;
    const idx = this.conflicts;
    const compiled = this.compiled;
    const hits = this.observedHits;
    // The earlier steps of each CPU, ascending, and a cursor into each going down: the steps
    // before j are visited in descending order (as one scan back from j), merged over the CPUs,
    // and a CPU is left once its next step is ordered before j (`past` only grows), so the steps
    // j is already ordered after cost nothing.
    const byCpu: number[][] = [];
    for (let q = 0; q < ncpu; q++) byCpu.push([]);
    const cursor = new Int32Array(ncpu);
    for (let j = 0; j < limit; j++) {
      const sj = steps[j]!;
      const cj = sj.cpu;
      const p = prevSame[cj]!;
      const past = p >= 0 ? vc[p]!.slice() : new Int32Array(ncpu);
      const compiledJ = compiled[j]!;
      const hitJ = hits[j]!;
      for (let q = 0; q < ncpu; q++) cursor[q] = q === cj ? -1 : byCpu[q]!.length - 1;
      for (;;) {
        // The latest step before j, of another CPU, not ordered before j.
        let i = -1;
        let qi = -1;
        for (let q = 0; q < ncpu; q++) {
          const t = cursor[q]!;
          if (t < 0) continue;
          const k = byCpu[q]![t]!;
          if (past[q]! > k) cursor[q] = -1;
          else if (k > i) {
            i = k;
            qi = q;
          }
        }
        if (i < 0) break;
        cursor[qi] = cursor[qi]! - 1;
        if (!idx.conflict(compiled[i]!, compiledJ, hits[i]!, hitJ)) continue;
        const si = steps[i]!;
        this.raceCount++;
        const before = this.backtrackCount;
        this.reverse(i, j, vc, past);
        if (this.backtrackCount > before) this.noteReasons(this.reasonsOf(conflictObjects(si, sj, obs), hits[i]! & hits[j]!));
        const vi = vc[i]!;
        for (let q = 0; q < ncpu; q++) if (vi[q]! > past[q]!) past[q] = vi[q]!;
      }
      past[cj] = j + 1;
      vc.push(past);
      prevSame[cj] = j;
      byCpu[cj]!.push(j);
    }
    this.pendingIdle(limit, this.observedCompiled());
    if (this.blockedAt < 0) this.traceKeys.add(this.traceKey(limit, vc, choices));
  }

  /**
   * A race's reasons as `backtrackReasons` counts them: its objects folded (`family`), and
   * `observed` as `observed:<owner>` for each owner whose checks read what both steps write
   * (`both`: the steps' observed masks ANDed), so an author sees whose checks tie the steps.
   * Past 32 owners, bits are shared: a shared bit may name an owner that does not read both, and
   * a conflict made only by a shared bit has no `observed` reason (diagnostics only).
   */
  private reasonsOf(objects: readonly string[], both: number): string[] {
    const out: string[] = [];
    for (const o of objects) {
      if (o !== 'observed') out.push(family(o));
      else {
        let k = 0;
        for (const owner of this.observedSets.keys()) if ((both & (1 << (k++ & 31))) !== 0) out.push(`observed:${owner}`);
      }
    }
    return out;
  }

  /**
   * An idle CPU that could step but was not chosen has a pending step the run may never take
   * (another CPU empties the runqueue first: a step that disables it). As in Flanagan and
   * Godefroid's DPOR, that pending step (take a task off the runqueue: it writes the runqueue,
   * the CPU and a task) races with the latest step of another CPU it conflicts with, at or
   * before the point where it was pending: the idle CPU is tried there.
   */
  private pendingIdle(limit: number, obs: readonly CompiledFootprint[]): void {
    const steps = this.steps;
    // The latest step of another CPU that conflicts with a pending switch-in, by its footprint
    // (the CPU and the tasks queued): scanned forward once per footprint, not back from every
    // step (runs of a thousand steps with an idle CPU at each made this quadratic).
    // By the tasks queued (`CpuNode.queuedKey`), then by the idle CPU.
    const latest = new Map<string, Map<number, { scanned: number; last: number; pending: CompiledFootprint; hit: number }>>();
    for (let i = 0; i < limit; i++) {
      const node = this.cpuNodeOfStep[i];
      if (node === null || node === undefined) continue;
      for (const q of node.idle) {
        if (q === steps[i]!.cpu || node.backtrack.has(q)) continue;
        // The switch-in takes one of the tasks queued at this point (the `task` choice is branched
        // over all of them): it writes that task's record, the runqueue and the CPU's current.
        // Taking a task off may empty the runqueue (`rq:nonempty`) and, with bindings, leave
        // this CPU nothing it may run (`rq:nonempty:<q>`). Another CPU's predicate is read only
        // by a step of that CPU that found nothing to run: taking a task off cannot change that.
        let byCpu = latest.get(node.queuedKey);
        if (byCpu === undefined) latest.set(node.queuedKey, (byCpu = new Map()));
        let scan = byCpu.get(q);
        if (scan === undefined) {
          const writes = [
            'rq:nonempty',
            `rq:nonempty:${q}`,
            `cpu:${q}`,
            ...node.queued.map((pid) => `runq:${pid}`),
            ...node.queued.map((pid) => `task:${pid}`),
          ];
          const pending = this.conflicts.compile({ reads: ['runq:*', 'rcu'], writes, clockRead: false });
          scan = { scanned: -1, last: -1, pending, hit: this.conflicts.observedMask(pending, obs) };
          byCpu.set(q, scan);
        }
        for (let k = scan.scanned + 1; k <= i; k++)
          if (steps[k]!.cpu !== q && this.conflicts.conflict(this.compiled[k]!, scan.pending, this.observedHits[k]!, scan.hit)) scan.last = k;
        scan.scanned = i;
        if (scan.last < 0) continue;
        const at = this.cpuNodeOfStep[scan.last];
        if (at !== null && at !== undefined) {
          this.raceCount++;
          const before = this.backtrackCount;
          if (at.cpus.includes(q)) this.addBacktrack(at, q);
          else for (const c of at.cpus) this.addBacktrack(at, c);
          if (this.backtrackCount > before) this.noteReasons(['pending-idle']);
        }
      }
    }
  }

  /**
   * A run cut at `maxSteps` is not maximal: a CPU that had work through its last steps and was
   * never picked (the default keeps the CPU that stepped last, and an idle pass that polls, or a
   * busy task, keeps that one eligible) has a pending step the run never took. An eligible idle
   * CPU has work too: a task it may take, or (it is not stepped otherwise: docs/core.md
   * decision 21) a pass due or under way, an IPI, an interrupt due, a hook frame's rest; a cut
   * can fall in the drain after the last exit (decision 22) with such a step never taken. Its
   * steps commute with the ones it waited behind, but the cut does not: a run that takes them
   * early finishes within the cap where this one did not (another final state). So it is tried
   * as early as it could go, and as late as it still helps: going back from the cut over the
   * nodes where it was eligible and not picked, at the first
   * of them, at each one that follows a change of the runqueue (new work it may take), and at
   * the one after the last step that changed anything (past it the others only poll: there the
   * switch costs one preemption and strands no work). A few branches per cut run and pending
   * CPU, within the bound.
   */
  private pendingAtCut(limit: number): void {
    const steps = this.steps;
    let last = limit - 1;
    while (last >= 0 && (this.cpuNodeOfStep[last] ?? null) === null) last--;
    if (last < 0) return;
    const pending = (k: number, q: number): CpuNode | null => {
      const node = this.cpuNodeOfStep[k] ?? null;
      return node === null || !node.cpus.includes(q) || steps[k]!.cpu === q ? null : node;
    };
    // A cut that fell while the CPUs that ran were polling (the last step changed nothing): there
    // the default schedule starved a CPU with work. A run still changing state at the cap is one
    // the scenario's maxSteps did not cover, left to the cap (docs/explore.md §4a, the proviso of
    // the fourth pass), unless a CPU waited through the whole window (`starvedAtCut`).
    if (steps[last]!.writes.length > 0) {
      this.starvedAtCut(last, pending);
      return;
    }
    const queueChanged = (k: number): boolean => steps[k]!.writes.some((w) => w.startsWith('runq:') || w.startsWith('rq:'));
    const before = this.backtrackCount;
    for (const q of this.cpuNodeOfStep[last]!.cpus) {
      if (pending(last, q) === null) continue;
      let k = last;
      let quiet = true;
      while (k > 0 && pending(k - 1, q) !== null) {
        // Right after the last step that changed anything: the other CPUs only poll from there
        // on, so this is where the pending CPU costs one preemption and strands nothing.
        if (quiet && steps[k - 1]!.writes.length > 0) {
          quiet = false;
          this.addBacktrack(pending(k, q)!, q);
        }
        if (queueChanged(k - 1)) this.addBacktrack(pending(k, q)!, q);
        k--;
      }
      this.addBacktrack(pending(k, q)!, q);
    }
    if (this.backtrackCount > before) this.noteReasons(['cut']);
  }

  /**
   * A cut run still changing state at the cap, in which a CPU could step at each of the last
   * `FAIRNESS_WINDOW` or more steps and took none of them (each of those steps is a `cpu` node
   * that offered it). The CPUs that ran poll by sleeping: a `msleep` loop writes its timer, the
   * runqueue and the clock at every pass, so the polling test above does not see it, and the
   * default keeps the poller for good (detach-during-callback: the tracer in utrace_barrier,
   * waiting for the task whose CPU never runs; docs/explore.md §4a, sixteenth pass). The waiting
   * CPU's step never ran in this run, so no race leads to a run that takes it. It is tried at the
   * first step of its wait and at the window's last (the `FAIRNESS_WINDOW`-th step of the wait),
   * or, when the bound refuses that one, at the latest step of the window the bound admits. In the
   * run that takes it late, its step races with the last step it waited behind that conflicts
   * with it; reversing that race, and then those of the runs that follow, places it before each
   * earlier one (steps between two conflicting ones commute with it). So every position within
   * the window is searched; later ones are not: the run stays counted as cut, and the verdict
   * covers it only so far.
   */
  private starvedAtCut(last: number, pending: (k: number, q: number) => CpuNode | null): void {
    const before = this.backtrackCount;
    for (const q of this.cpuNodeOfStep[last]!.cpus) {
      if (pending(last, q) === null) continue;
      let first = last;
      while (first > 0 && pending(first - 1, q) !== null) first--;
      if (last - first + 1 < FAIRNESS_WINDOW) continue;
      this.branchOnWait(q, last - first + 1, (k) => pending(first + k, q));
    }
    if (this.backtrackCount > before) this.noteReasons(['starved']);
  }

  /**
   * The starved rule's two branches for CPU `q` on a wait of `length` nodes (`at(k)`: the k-th,
   * in order): its first, and the window's last (the `FAIRNESS_WINDOW`-th), or, when the bound
   * refuses that one, the latest within the window the bound admits.
   */
  private branchOnWait(q: number, length: number, at: (k: number) => CpuNode | null): void {
    const first = at(0);
    if (first === null) return;
    this.addBacktrack(first, q);
    for (let k = Math.min(length, FAIRNESS_WINDOW) - 1; k > 0; k--) {
      const node = at(k);
      if (node !== null && this.withinBound(node, q)) {
        this.addBacktrack(node, q);
        break;
      }
    }
  }

  /**
   * A run stopped by a liveness alarm that the schedule made (`starvedAtAlarm`: a CPU held off
   * `FAIRNESS_WINDOW` choices in the alarm's hot stretch, or one with a task not picked in the
   * last window). It is not a failure, and like a cut run it is not maximal: the starved CPU's
   * next step never ran in it, so no race leads to a run that takes it, and such runs may end
   * otherwise (the monitor cools, or a check fails on that CPU's path). Each starved CPU is tried
   * as the cut rule's `starved` does: at the first choice of its wait and at the window's last
   * (the `FAIRNESS_WINDOW`-th), or, when the bound refuses that one, at the latest the bound
   * admits; races place it at each position between. Backtrack reason `starved`.
   */
  /**
   * A run stopped by a violation is not maximal either: the step that broke the check ends the
   * run, so it disables the pending step of every other CPU that could step there, and a step
   * that disables another is dependent with it (Flanagan and Godefroid). So each such CPU is
   * tried at the violating step's node, and, bounded, at the start of the block of steps that
   * step ends (the race's BPOR point, as `reverse` adds). Without it a final state, or another
   * violation, reached only by letting another CPU step before the violating one (the DFS's
   * alternative there) is never reached: the generated stacks' audit found one (docs/explore.md
   * §4a, twentieth pass). A search that stops at its first failure never runs these branches.
   */
  private pendingAtViolation(limit: number): void {
    const last = limit - 1;
    const node = last >= 0 ? this.cpuNodeOfStep[last] : null;
    if (node === null || node === undefined) return;
    const pi = this.steps[last]!.cpu;
    const start = this.bound !== null ? this.blockStart(last) : null;
    const before = this.backtrackCount;
    for (const q of node.cpus) {
      if (q === pi) continue;
      this.addBacktrack(node, q);
      if (start !== null && start.cpus.includes(q)) this.addBacktrack(start, q);
    }
    if (this.backtrackCount > before) this.noteReasons(['violation']);
  }

  private starvedBeforeAlarm(starved: readonly StarvedCpu[]): void {
    if (starved.length === 0) return;
    const before = this.backtrackCount;
    const nodeAt = (i: number): CpuNode | null => {
      const n = this.stack[i];
      return n !== undefined && n.kind === 'cpu' ? n : null;
    };
    for (const { cpu, passedOver } of starved) this.branchOnWait(cpu, passedOver.length, (k) => nodeAt(passedOver[k]!));
    if (this.backtrackCount > before) this.noteReasons(['starved']);
  }

  private noteReasons(reasons: readonly string[]): void {
    // An event with no keyed footprint writes its plugin's slice and all its data (`plugin:X`
    // and `@X:*`): one tie, counted once, as `plugin:X`.
    const folded = new Set(reasons);
    for (const r of folded) if (r.startsWith('plugin:') && folded.has(`@${r.slice(7)}`)) folded.delete(`@${r.slice(7)}`);
    for (const r of folded) this.reasons[r] = (this.reasons[r] ?? 0) + 1;
  }

  /** The race (i, j): makes sure an initial of notdep(i).j is explored at step i (and at i's block start, bounded). */
  private reverse(i: number, j: number, vc: readonly Int32Array[], pastJ: Int32Array): void {
    const node = this.cpuNodeOfStep[i];
    if (node === null || node === undefined) return;
    const steps = this.steps;
    const pi = steps[i]!.cpu;
    // v = the steps after i that i does not happen before, then j; its initials.
    const v: number[] = [];
    for (let k = i + 1; k < j; k++) if (vc[k]![pi]! <= i) v.push(k);
    v.push(j);
    const initials: number[] = [];
    const seen = new Set<number>();
    for (let a = 0; a < v.length; a++) {
      const k = v[a]!;
      const q = steps[k]!.cpu;
      if (seen.has(q)) continue;
      seen.add(q);
      let first = true;
      // j's clock so far: its predecessors after i, which is all that v holds.
      const vk = k === j ? pastJ : vc[k]!;
      for (let b = 0; b < a && first; b++) {
        const m = v[b]!;
        if (vk[steps[m]!.cpu]! > m) first = false;
      }
      if (first) initials.push(q);
    }
    for (const q of initials) if (node.backtrack.has(q)) return;
    const pj = steps[j]!.cpu;
    let pick = initials.includes(pj) && node.cpus.includes(pj) ? pj : -1;
    if (pick < 0) for (const q of initials) if (node.cpus.includes(q)) pick = pick < 0 || q < pick ? q : pick;
    if (pick < 0) {
      // No initial can step at i: a dependency the footprints did not show; be safe, try every CPU.
      for (const q of node.cpus) this.addBacktrack(node, q);
    } else {
      this.addBacktrack(node, pick);
    }
    if (this.bound !== null && pick >= 0) {
      // BPOR: also at the start of the block of CPU pi's steps that i ends, where switching
      // to `pick` may cost no preemption.
      const start = this.blockStart(i);
      if (start !== null && start.cpus.includes(pick)) this.addBacktrack(start, pick);
    }
  }

  /** The `cpu` node of the first step of the block of one CPU's steps that step i ends, when that block began before i. */
  private blockStart(i: number): CpuNode | null {
    const steps = this.steps;
    const pi = steps[i]!.cpu;
    let b = i;
    while (b > 0 && steps[b - 1]!.cpu === pi) b--;
    return b < i ? (this.cpuNodeOfStep[b] ?? null) : null;
  }

  /** Whether taking `q` at `node` keeps the run within the bound under way. */
  private withinBound(node: CpuNode, q: number): boolean {
    return node.costBefore + (node.cpus.indexOf(q) !== node.dflt ? 1 : 0) <= this.current;
  }

  private addBacktrack(node: CpuNode, q: number): void {
    if (node.backtrack.has(q)) return;
    if (node.mirrorOf >= 0 && q !== node.mirrorOf) {
      this.mirroredCount++;
      return;
    }
    if (!this.withinBound(node, q)) {
      this.boundedCount++;
      return;
    }
    node.backtrack.add(q);
    node.specDirty = true;
    // Asleep there: its step was explored before, in a branch this one set aside, and commutes with
    // every step since; `pending` never runs the branch. It stays in the set (what the races and
    // the pending-idle rule ask of a node: "is q tried here") but is not counted as a backtrack point.
    if (this.sleepSets && node.sleep.has(q)) this.asleepCount++;
    else this.backtrackCount++;
  }

  /**
   * A run's Mazurkiewicz trace with its local choices: each CPU's steps in order, each with its
   * local choices and its happens-before frontier counted in steps per CPU. Two runs that order
   * only independent steps differently have the same key.
   */
  private traceKey(limit: number, vc: readonly Int32Array[], choices: readonly Choice[]): string {
    const steps = this.steps;
    const ordinal = new Int32Array(limit);
    const count: number[] = [];
    for (let k = 0; k < limit; k++) {
      const q = steps[k]!.cpu;
      ordinal[k] = count[q] ?? 0;
      count[q] = (count[q] ?? 0) + 1;
    }
    const perCpu: string[][] = [];
    for (let k = 0; k < limit; k++) {
      const s = steps[k]!;
      const end = k + 1 < steps.length ? steps[k + 1]!.choiceAt : choices.length;
      const local: number[] = [];
      for (let c = s.choiceAt; c < end; c++) if (choices[c]!.kind !== 'cpu') local.push(choices[c]!.value);
      const frontier: number[] = [];
      const v = vc[k]!;
      for (let q = 0; q < v.length; q++) frontier.push(v[q]! === 0 ? 0 : ordinal[v[q]! - 1]! + 1);
      (perCpu[s.cpu] ??= []).push(`${local.join(',')}/${frontier.join(',')}`);
    }
    return perCpu.map((l) => (l ?? []).join(' ')).join('|');
  }
}
