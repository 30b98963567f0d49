import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { receiveMessageOnPort } from 'node:worker_threads';
import { TracelabError, type KernelEvent, type StepFootprint } from '@tracelab/core';
import { defaultScale, variantOf, type Scenario, type ScenarioSource } from './scenario.js';
import { decodeReplay, maxScale, replayString } from './replay.js';
import { runChunk, runSelfChecked, type ChunkJob, type ChunkResult } from './internal/chunk.js';
import { BoundedDfs, DFS_REDUCTIONS, type DfsReduction, type DfsStats } from './internal/dfs.js';
import { Dpor, type DporStats } from './internal/dpor.js';
import { checkMirror } from './internal/mirror.js';
import { raceCoverage, racesOf, type RaceCoverage } from './internal/footprint.js';
import { KernelPool, defaultPick, isFailure, isPreemption, runSchedule, type Choice, type Picker, type RunOutcome } from './internal/run.js';
import { Speculator, ThreadExecutor, replaySpeculated, sameRun, type SpecResult, type SpecStats } from './internal/speculate.js';
import { candidateOf, shrink } from './internal/shrink.js';
import { indexedPicker, STRATEGIES, type IndexedStrategy, type StrategyName } from './internal/strategies.js';
import { startWorker, stopWorker, type WorkerLink } from './internal/threads.js';

export interface ExploreOptions {
  /** Default `fixed` if the scenario has it, else its first variant. */
  readonly variant?: string;
  /**
   * `portfolio` (default: random walks and PCT alternating), `random`, `pct`, `dfs` or `dpor`
   * (source-set DPOR over recorded step footprints: docs/explore.md §4).
   */
  readonly strategy?: StrategyName;
  /** Schedules to run at most. Default 1,000. */
  readonly budget?: number;
  /**
   * `dfs` and `dpor`: start no schedule after this many milliseconds of wall time (the one under
   * way finishes); the result then says so (`stoppedBy: 'time'`). Default: none. The seeded
   * strategies take no time limit: their schedules are numbered, and the same budget gives the
   * same answer on any machine.
   */
  readonly timeLimitMs?: number;
  /** Seeds the random walks and PCT. Default 1. */
  readonly seed?: number;
  /**
   * Worker threads (needs the built packages and a scenario with `sourceModule`). Default 1: this
   * thread. `random`/`pct`/`portfolio` split their numbered schedules among them. A bounded `dpor`
   * search stays in this thread and in its order, and workers - 1 threads make the runs it will
   * take later (speculative runs, `ExploreResult.speculation`): the same runs, statistics and
   * failure as with one. `dfs`, unbounded `dpor` and `coverage` run on this thread only. Capped
   * at the host's CPUs and at the chunks of 16 schedules in the budget (more threads than either
   * only add start-up cost and memory); the result says when it was.
   */
  readonly workers?: number;
  /** The host's CPUs for the workers cap. Default `os.availableParallelism()`. */
  readonly hostCpus?: number;
  /**
   * `dfs`: the preemption bound, default 2. `dpor`: the preemption bound, default none (the
   * exhaustive search, which proves the variant correct when it completes).
   */
  readonly bound?: number;
  /**
   * `dfs` only: `none` (the default) tries every alternative within the bound, so a complete,
   * clean search means no schedule within it fails. `visible-steps` skips a preemption before a
   * step that logs only task-local events: fewer schedules, but clean only on the proviso that
   * every step reading state another CPU writes logs an event (docs/explore.md §4). Kept for
   * comparison with figures taken before 2026-12-07, when it was the default.
   */
  readonly reduction?: DfsReduction;
  /** Re-run every n-th schedule and compare log hashes. Default 64; 0 turns it off. */
  readonly selfCheckEvery?: number;
  /** Shrink the failure (default true) within this many re-runs (default 3,000). */
  readonly shrink?: boolean;
  readonly shrinkRuns?: number;
  /** The scale knob (default: the scenario's default). */
  readonly scale?: number;
  /**
   * Called as schedules complete (between chunks). `dfs` and `dpor` add `tree`: the preemption
   * bound of the tree under way (iterative searches go 0, 1, ... up to the bound; null:
   * unbounded) and the schedules run in it so far.
   */
  readonly progress?: (p: { readonly schedules: number; readonly budget: number; readonly tree?: TreeUnderWay }) => void;
  /**
   * Collect race coverage: the pairs of conflicting steps of different CPUs the schedules met,
   * and which were met in both orders (`ExploreResult.races`). Costs a pass over each
   * schedule's log. Default false.
   */
  readonly coverage?: boolean;
}

/** A tree search's tree under way (`ExploreOptions.progress`): its preemption bound (null: unbounded) and the schedules run in it. */
export interface TreeUnderWay {
  readonly bound: number | null;
  readonly schedules: number;
}

/** The counterexample: what failed, and the shrunk schedule that shows it. */
export interface Failure {
  /** The violated invariant or liveness monitor (`kernel/stuck` for a deadlock). */
  readonly invariant: string;
  readonly message: string;
  /** The number of the schedule that found it, and the strategy that ran it. */
  readonly index: number;
  readonly foundBy: string;
  /** The failing schedule as found, before shrinking. */
  readonly original: { readonly replay: string; readonly preemptions: number; readonly steps: number };
  /** The shrunk run: its replay string (what `replay(scenario, s)` takes), schedule, size. */
  readonly replay: string;
  readonly schedule: string;
  readonly scale: number;
  readonly preemptions: number;
  readonly steps: number;
  /** The shrunk run's event log and its hash; `replay(scenario, replay)` gives the same hash. */
  readonly log: readonly KernelEvent[];
  readonly logHash: string;
  readonly shrink: { readonly runs: number; readonly fixedPoint: boolean };
}

export interface ExploreResult {
  readonly scenario: string;
  readonly variant: string;
  readonly strategy: StrategyName;
  readonly seed: number;
  readonly budget: number;
  readonly workers: number;
  /** Why fewer workers ran than were asked for (the CPUs, the budget), or null. */
  readonly workersCapped: string | null;
  /** The scale the search ran at (the scenario's scale knob: `options.scale`, or its default). */
  readonly scale: number;
  readonly found: boolean;
  /** Schedules it took: up to and including the failing one, else every one run. */
  readonly schedules: number;
  /**
   * `dfs`: every schedule within the bound was run. `dpor`: every Mazurkiewicz trace within the
   * bound (or every one, unbounded) was run. Always false for the seeded strategies.
   */
  readonly complete: boolean;
  /**
   * Why the search stopped without a failure and, for `dfs` and `dpor`, before its tree was
   * done: `budget` (the schedules allowed ran) or `time` (`timeLimitMs` passed). Null when it
   * found a failure or its tree was complete.
   */
  readonly stoppedBy: 'budget' | 'time' | null;
  /** Steps over the schedules it took (up to the failing one; what workers ran past it is not counted). */
  readonly steps: number;
  readonly selfCheck: { readonly runs: number; readonly mismatches: number };
  /** Liveness alarms dropped because the schedule starved a running task's CPU (not failures). */
  readonly unfair: number;
  /**
   * Runs cut at the scenario's `maxSteps` with no violation: what they would have done past the cap
   * was not run, so a clean or verified verdict covers them only up to it.
   */
  readonly cut: number;
  /** `dfs`: its counts, its bound and the reduction it ran with (`ExploreOptions.reduction`). */
  readonly dfs: (DfsStats & { readonly bound: number; readonly reduction: DfsReduction }) | null;
  /**
   * `dpor`: its counts (`traces` covered, runs cut by sleep sets, races) and bound (null: none);
   * `mirrorChecks`: for a scenario with `symmetricCpus`, the schedules whose mirror image was run
   * and agreed (else null).
   */
  readonly dpor: (DporStats & { readonly bound: number | null; readonly mirrorChecks: number | null }) | null;
  /** With `coverage`: the races the schedules met, up to the failure (`RaceCoverage`); else null. */
  readonly races: RaceCoverage | null;
  /**
   * A bounded `dpor` search with workers: where its runs were made (`SpecStats`: taken from a
   * worker, made on this thread while still queued in one, made on this thread, made and never
   * taken). Null otherwise.
   */
  readonly speculation: SpecStats | null;
  readonly failure: Failure | null;
}

const CHUNK = 16;
/** A symmetric scenario's mirror check runs on schedule 0 and every this many after it (`checkMirror`). */
const MIRROR_EVERY = 16;

/**
 * The worker threads worth starting: at most the host's CPUs (each thread runs one schedule at a
 * time; more threads than CPUs time-slice and each costs a V8 isolate) and at most the chunks in
 * the budget. Returns the count and, when it is below `requested`, why.
 */
export function effectiveWorkers(requested: number, budget: number, hostCpus: number): { workers: number; capped: string | null } {
  const chunks = Math.ceil(budget / CHUNK);
  const workers = Math.max(1, Math.min(requested, hostCpus, chunks));
  if (workers >= requested) return { workers, capped: null };
  const why =
    workers === hostCpus ? `${hostCpus} CPU${hostCpus === 1 ? '' : 's'}` : `${chunks} chunk${chunks === 1 ? '' : 's'} of ${CHUNK} schedules in the budget`;
  return { workers, capped: `${requested} workers asked, ${workers} started: ${why}` };
}

/** An integer option of at least `min`, or INVALID_OPTION naming it (`auditReduction` shares it). */
export function checkInt(name: string, v: number, min: number, who = 'explore'): number {
  if (!Number.isSafeInteger(v) || v < min) throw new TracelabError('INVALID_OPTION', `${who}: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * The tree searches' own options, checked against the strategy: `timeLimitMs` (dfs and dpor)
 * and `reduction` (dfs), each refused with a strategy it does not apply to.
 */
function treeOptions(strategy: StrategyName, options: ExploreOptions): { timeLimit: number | null; reduction: DfsReduction } {
  const timeLimit = options.timeLimitMs === undefined ? null : checkInt('timeLimitMs', options.timeLimitMs, 1);
  if (timeLimit !== null && strategy !== 'dfs' && strategy !== 'dpor')
    throw new TracelabError(
      'INVALID_OPTION',
      `explore: timeLimitMs applies to dfs and dpor, not ${strategy} (a seeded strategy's schedules are numbered: its budget gives the same answer on any machine)`,
    );
  const reduction = options.reduction ?? 'none';
  if (!DFS_REDUCTIONS.includes(reduction))
    throw new TracelabError('INVALID_OPTION', `explore: unknown reduction ${JSON.stringify(reduction)}; reductions: ${DFS_REDUCTIONS.join(', ')}`);
  if (options.reduction !== undefined && strategy !== 'dfs')
    throw new TracelabError(
      'INVALID_OPTION',
      `explore: reduction applies to dfs, not ${strategy} (dpor's reduction is its own and sound; the seeded strategies reduce nothing)`,
    );
  return { timeLimit, reduction };
}

/** The scale a search runs at: `scale`, or the default; one with a knob must be within its range. */
export function checkScale(scenario: Scenario, scale: number | undefined, who = 'explore'): number {
  if (scenario.scale === undefined) {
    // A scale given to a scenario without a knob would be reported (`ExploreResult.scale`) and
    // change nothing: say so rather than let a caller believe it searched another size. (Its
    // own default passes: the portfolio hands the resolved scale to `planChunks`.)
    const none = defaultScale(scenario);
    if (scale !== undefined && scale !== none)
      throw new TracelabError('INVALID_OPTION', `${who}: scenario ${scenario.name} has no scale knob; leave scale out (got ${String(scale)})`);
    return none;
  }
  const v = scale ?? defaultScale(scenario);
  if (!Number.isSafeInteger(v) || v < scenario.scale.min || v > maxScale(scenario))
    throw new TracelabError(
      'INVALID_OPTION',
      `${who}: scale (${scenario.scale.name}) must be an integer from ${scenario.scale.min} to ${maxScale(scenario)} for scenario ${scenario.name}, got ${v}`,
    );
  return v;
}

/** The variant used when none is given: `fixed`, else the first. */
export function defaultVariant(s: Scenario): string {
  return s.variants.some((v) => v.name === 'fixed') ? 'fixed' : s.variants[0]!.name;
}

/** Decision steps of the non-preemptive default run: PCT draws its change points among them. */
export function decisionSteps(s: Scenario, variant: string, scale: number): number {
  const out = runSchedule(s, variant, scale, { pick: defaultPick });
  let k = 0;
  for (const c of out.choices) if (c.kind === 'cpu' || c.kind === 'preempt') k++;
  return Math.max(1, k);
}

function countPreemptions(o: RunOutcome): number {
  let n = 0;
  for (const c of o.choices) if (isPreemption(c)) n++;
  return n;
}

/**
 * Searches the schedules of one variant of a scenario for a violation: an invariant, a
 * liveness monitor, or a deadlock (`kernel/stuck`). Returns how many schedules it took and the
 * failure, shrunk, with its replay string and log. Synchronous, also with workers (the main
 * thread blocks on `Atomics.wait` while they run).
 */
export function explore(scenario: Scenario, options: ExploreOptions = {}): ExploreResult {
  const variant = options.variant ?? defaultVariant(scenario);
  variantOf(scenario, variant);
  const strategy = options.strategy ?? 'portfolio';
  if (!STRATEGIES.includes(strategy))
    throw new TracelabError('INVALID_OPTION', `explore: unknown strategy ${JSON.stringify(strategy)}; strategies: ${STRATEGIES.join(', ')}`);
  const budget = checkInt('budget', options.budget ?? 1000, 1);
  const seed = checkInt('seed', options.seed ?? 1, 0);
  const asked = checkInt('workers', options.workers ?? 1, 1);
  const { workers, capped } = effectiveWorkers(asked, budget, checkInt('hostCpus', options.hostCpus ?? availableParallelism(), 1));
  const bound = checkInt('bound', options.bound ?? 2, 0);
  const dporBound = options.bound === undefined ? null : bound;
  const selfCheckEvery = checkInt('selfCheckEvery', options.selfCheckEvery ?? 64, 0);
  const scale = checkScale(scenario, options.scale);
  const { timeLimit, reduction } = treeOptions(strategy, options);

  let fail: { index: number; invariant: string; label: string; picker: Picker } | null = null;
  let schedules = 0;
  let steps = 0;
  let complete = false;
  let timedOut = false;
  let selfChecks = 0;
  let mirrorChecks = 0;
  let unfair = 0;
  let cut = 0;
  const mismatches: number[] = [];
  let dfsStats: ExploreResult['dfs'] = null;
  let dporStats: ExploreResult['dpor'] = null;
  let specStats: SpecStats | null = null;
  let usedWorkers = 1;
  // guarded by: this call (the DFS loop runs in this thread)
  let dfsRaces: Set<string> | null = null;

  if (strategy === 'dfs' || strategy === 'dpor') {
    // One thread: the tree is searched in order, whatever `workers` says.
    const dfs = strategy === 'dfs' ? new BoundedDfs(bound, true, reduction === 'visible-steps') : null;
    const symmetric = scenario.symmetricCpus === true && scenario.cpus > 1;
    const dpor = strategy === 'dpor' ? new Dpor(dporBound, true, symmetric) : null;
    const tree: SearchTree = dfs ?? dpor!;
    const label = dfs !== null ? `dfs(bound=${bound})` : `dpor(${dporBound === null ? 'unbounded' : `bound=${dporBound}`})`;
    const job: ChunkJob = { variant, scale, strategy: 'random', seed, k: 1, selfCheckEvery };
    if (options.coverage === true) dfsRaces = new Set<string>();
    // Host-side wall time, outside the simulation: the limit says when to stop starting
    // schedules, and nothing a schedule does depends on it.
    const deadline = timeLimit === null ? Infinity : performance.now() + timeLimit;
    // The counts as they stood when a limit stopped the search (the look below moves the tree on).
    let stoppedAt: { dfs: DfsStats | null; dpor: DporStats | null } | null = null;
    // One kernel for the search, reset between schedules, and one for the mirror images, which
    // run beside the schedule they check (this call's own: guarded by it).
    const pool = new KernelPool();
    const mirrorPool = new KernelPool();
    // A bounded DPOR search with workers: other threads make the runs it will take later.
    const speculate = dpor !== null && dporBound !== null && workers > 1 && scenario.sourceModule !== undefined && dfsRaces === null;
    const spec = speculate ? new Speculator(new ThreadExecutor(workerFile(), scenario, { variant, scale, symmetric }, workers - 1)) : null;
    if (spec !== null) usedWorkers = workers;
    try {
      for (;;) {
        const limit = schedules >= budget ? 'budget' : performance.now() >= deadline ? 'time' : null;
        if (limit !== null) {
          // A tree that is done exactly at its limit is complete, not stopped short.
          stoppedAt = { dfs: dfs?.stats ?? null, dpor: dpor?.stats ?? null };
          if (tree.next() === null) complete = true;
          else timedOut = limit === 'time';
          break;
        }
        const picker = tree.next();
        if (picker === null) {
          complete = true;
          break;
        }
        // DPOR's run records from the step where it leaves the last run's path (`Dpor.recordFrom`).
        // The loop keeps nothing of an outcome past the next schedule: a pooled kernel serves.
        const ahead = spec?.take(dpor!) ?? null;
        const { outcome, checked, ok, failed } =
          ahead === null ? runHere(scenario, job, picker, schedules, pool, dpor) : takeSpeculated(scenario, job, ahead, picker, schedules, dpor!, pool);
        if (checked) selfChecks++;
        if (!ok) mismatches.push(schedules);
        // The symmetry rule prunes on the scenario's promise: hold it to it on a sample of its own
        // cadence (never off while the rule prunes), on schedules that replayed deterministically.
        if (dpor !== null && symmetric && ok && schedules % MIRROR_EVERY === 0) {
          // A run made in another thread is made again here: the check compares logs.
          const here = ahead === null ? outcome : runSchedule(scenario, variant, scale, valuesPicker(outcome.choices), pool);
          if (checkMirror(scenario, variant, scale, here, schedules, mirrorPool)) mirrorChecks++;
        }
        tree.record(outcome);
        spec?.fill(dpor!);
        if (dfsRaces !== null) for (const r of racesOf(outcome.kernel.log)) dfsRaces.add(r);
        steps += outcome.steps;
        schedules++;
        if (outcome.violation !== null && !failed) unfair++;
        else if (outcome.violation === null && !outcome.done) cut++;
        if (failed) {
          fail = { index: schedules - 1, invariant: outcome.violation!.name, label, picker: valuesPicker(outcome.choices) };
          break;
        }
        if (schedules % CHUNK === 0) options.progress?.({ schedules, budget, tree: tree.underWay() });
      }
    } finally {
      spec?.close();
    }
    specStats = spec?.stats ?? null;
    if (dfs !== null) dfsStats = { ...(stoppedAt?.dfs ?? dfs.stats), bound, reduction };
    if (dpor !== null) dporStats = { ...(stoppedAt?.dpor ?? dpor.stats), bound: dporBound, mirrorChecks: symmetric ? mirrorChecks : null };
  } else {
    const plan = planChunks(scenario, { ...options, variant, strategy, budget, seed, selfCheckEvery, scale, chunkSize: CHUNK });
    const results: ChunkResult[] = [];
    if (workers <= 1 || scenario.sourceModule === undefined || budget <= CHUNK) {
      for (let c = 0; c < plan.chunks; c++) {
        const r = runPlannedChunk(scenario, plan, c);
        results.push(r);
        options.progress?.({ schedules: r.start + r.schedules, budget });
        if (r.fail !== null) break;
      }
    } else {
      usedWorkers = workers;
      results.push(...runInWorkers(scenario.sourceModule, chunkJobOf(plan), budget, workers, options.progress));
    }
    return foldChunks(scenario, plan, results, { ...options, workers: usedWorkers, workersCapped: capped });
  }
  if (mismatches.length > 0) throw diverged(scenario, mismatches, selfChecks);

  let failure: Failure | null = null;
  if (fail !== null) failure = counterexample(scenario, variant, scale, fail, options);
  return {
    scenario: scenario.name,
    variant,
    strategy,
    seed,
    budget,
    workers: usedWorkers,
    workersCapped: capped,
    scale,
    found: failure !== null,
    schedules,
    complete,
    stoppedBy: failure !== null || complete ? null : timedOut ? 'time' : 'budget',
    steps,
    selfCheck: { runs: selfChecks, mismatches: mismatches.length },
    unfair,
    cut,
    dfs: dfsStats,
    dpor: dporStats,
    races: dfsRaces === null ? null : raceCoverage(dfsRaces),
    speculation: specStats,
    failure,
  };
}

/** A schedule of the tree search made on this thread, with the determinism self-check if sampled. */
function runHere(
  scenario: Scenario,
  job: ChunkJob,
  picker: Picker,
  index: number,
  pool: KernelPool,
  dpor: Dpor | null,
): { outcome: RunOutcome; checked: boolean; ok: boolean; failed: boolean } {
  const r = runSelfChecked(scenario, job, picker, index, pool, dpor?.footprintSink(dpor.recordFrom), dpor?.recordFrom);
  return { ...r, failed: isFailure(r.outcome) };
}

/**
 * A schedule a worker made ahead of the search (internal/speculate.ts), fed to the search as if
 * made here. The self-check, when sampled, makes it again here from its choices: the same choices,
 * steps, end and footprints (`sameRun`), or the scenario is not deterministic.
 */
function takeSpeculated(
  scenario: Scenario,
  job: ChunkJob,
  ahead: SpecResult,
  picker: Picker,
  index: number,
  dpor: Dpor,
  pool: KernelPool,
): { outcome: RunOutcome; checked: boolean; ok: boolean; failed: boolean } {
  const outcome = replaySpeculated(ahead, picker, dpor.footprintSink(dpor.recordFrom));
  if (job.selfCheckEvery <= 0 || index % job.selfCheckEvery !== 0) return { outcome, checked: false, ok: true, failed: ahead.failure };
  const fps: StepFootprint[] = [];
  const here = runSchedule(scenario, job.variant, job.scale, valuesPicker(outcome.choices), pool, (fp) => fps.push(fp), ahead.fromStep);
  return { outcome, checked: true, ok: sameRun(ahead, here, fps), failed: ahead.failure };
}

/** Replays a run's choices (zeros past its end, as a schedule string does). */
function valuesPicker(choices: readonly Choice[]): Picker {
  const values = choices.map((c) => c.value);
  return { pick: (p) => values[p.index] ?? 0 };
}

/** What the DFS and DPOR searches share: the next schedule to run (null when the tree is done), and its outcome back. */
interface SearchTree {
  next(): Picker | null;
  record(outcome: RunOutcome): void;
  /** The tree under way: its bound and the schedules run in it. */
  underWay(): TreeUnderWay;
}

function diverged(scenario: Scenario, mismatches: readonly number[], selfChecks: number): TracelabError {
  return new TracelabError(
    'SCHEDULE_DIVERGED',
    `explore: scenario ${scenario.name} is not deterministic: re-running schedule #${mismatches[0]} gave another log hash (${mismatches.length} of ${selfChecks} self-checks failed); a setup that reads the clock, Math.random or shared host state?`,
    { mismatches },
  );
}

/**
 * A seeded exploration (random, pct or portfolio) cut into numbered chunks of schedule
 * numbers: chunk `c` is schedules `c * chunkSize` up to the budget. Plain data: it crosses
 * threads, processes and machines as JSON, and every chunk of it is the same run wherever it
 * runs. The answer does not depend on `chunkSize` (a chunk stops at its first failure, and
 * `foldChunks` counts only the schedules up to the first failure).
 */
export interface ChunkPlan {
  readonly scenario: string;
  readonly variant: string;
  readonly strategy: IndexedStrategy;
  readonly seed: number;
  readonly budget: number;
  readonly scale: number;
  readonly selfCheckEvery: number;
  /** PCT's number of decision steps (from the calibration run, `decisionSteps`). */
  readonly k: number;
  readonly chunkSize: number;
  /** `ceil(budget / chunkSize)`. */
  readonly chunks: number;
  /** Collect race coverage (`ExploreOptions.coverage`). Absent: false. */
  readonly coverage?: boolean;
}

/**
 * The chunk plan `explore` would follow with these options (same defaults, same checks), for
 * running its chunks elsewhere: `runPlannedChunk` on each, then `foldChunks`. `dfs` has no
 * plan (its tree is searched in order, one schedule after the other): `INVALID_OPTION`.
 */
export function planChunks(scenario: Scenario, options: ExploreOptions & { readonly chunkSize?: number } = {}): ChunkPlan {
  const variant = options.variant ?? defaultVariant(scenario);
  variantOf(scenario, variant);
  const strategy = options.strategy ?? 'portfolio';
  if (strategy === 'dfs' || strategy === 'dpor')
    throw new TracelabError(
      'INVALID_OPTION',
      `explore: ${strategy} searches its tree one schedule after the other and cannot be cut into chunks; use random, pct or portfolio`,
    );
  if (!STRATEGIES.includes(strategy))
    throw new TracelabError('INVALID_OPTION', `explore: unknown strategy ${JSON.stringify(strategy)}; strategies: ${STRATEGIES.join(', ')}`);
  // The tree searches' own options, refused as `explore` refuses them: a plan would drop them.
  treeOptions(strategy, options);
  const budget = checkInt('budget', options.budget ?? 1000, 1);
  const seed = checkInt('seed', options.seed ?? 1, 0);
  const selfCheckEvery = checkInt('selfCheckEvery', options.selfCheckEvery ?? 64, 0);
  const chunkSize = checkInt('chunkSize', options.chunkSize ?? CHUNK, 1);
  const scale = checkScale(scenario, options.scale);
  const k = decisionSteps(scenario, variant, scale);
  return {
    scenario: scenario.name,
    variant,
    strategy,
    seed,
    budget,
    scale,
    selfCheckEvery,
    k,
    chunkSize,
    chunks: Math.ceil(budget / chunkSize),
    ...(options.coverage === true ? { coverage: true } : {}),
  };
}

function chunkJobOf(plan: ChunkPlan): ChunkJob {
  return {
    variant: plan.variant,
    scale: plan.scale,
    strategy: plan.strategy,
    seed: plan.seed,
    k: plan.k,
    selfCheckEvery: plan.selfCheckEvery,
    ...(plan.coverage === true ? { coverage: true } : {}),
  };
}

/**
 * Runs chunk `chunk` of a plan (its schedules in order, stopping at the first failure) and
 * returns its result: plain data to hand to `foldChunks`, here or on another machine.
 */
export function runPlannedChunk(scenario: Scenario, plan: ChunkPlan, chunk: number): ChunkResult {
  if (scenario.name !== plan.scenario) throw new TracelabError('INVALID_OPTION', `explore: the plan is for scenario ${plan.scenario}, not ${scenario.name}`);
  if (!Number.isSafeInteger(chunk) || chunk < 0 || chunk >= plan.chunks)
    throw new TracelabError('INVALID_OPTION', `explore: chunk ${chunk} is outside the plan's 0..${plan.chunks - 1}`);
  const start = chunk * plan.chunkSize;
  return runChunk(scenario, chunkJobOf(plan), start, Math.min(plan.budget, start + plan.chunkSize));
}

/**
 * Folds chunk results into the result `explore` gives in one thread: in chunk order, up to and
 * including the first chunk with a failure (later chunks, run in parallel, are ignored, so the
 * counts are those of the schedules up to the failure), then shrinks the failure here. Results
 * may come in any order and twice (a chunk run again after its worker died: the same data).
 * Every chunk below the first failing one, or every chunk when none fails, must be present:
 * else `INVALID_OPTION` naming the first missing chunk. `SCHEDULE_DIVERGED` as `explore`.
 */
export function foldChunks(
  scenario: Scenario,
  plan: ChunkPlan,
  results: Iterable<ChunkResult>,
  options: Pick<ExploreOptions, 'shrink' | 'shrinkRuns'> & { readonly workers?: number; readonly workersCapped?: string | null } = {},
): ExploreResult {
  if (scenario.name !== plan.scenario) throw new TracelabError('INVALID_OPTION', `explore: the plan is for scenario ${plan.scenario}, not ${scenario.name}`);
  const byChunk = new Map<number, ChunkResult>();
  for (const r of results) {
    const c = r.start / plan.chunkSize;
    if (!Number.isInteger(c) || c < 0 || c >= plan.chunks)
      throw new TracelabError(
        'INVALID_OPTION',
        `explore: a chunk result starting at schedule ${r.start} does not belong to a plan of ${plan.chunks} chunks of ${plan.chunkSize}`,
      );
    byChunk.set(c, r);
  }
  let steps = 0;
  let selfChecks = 0;
  let unfair = 0;
  let cut = 0;
  const mismatches: number[] = [];
  let first: ChunkResult['fail'] = null;
  const races = plan.coverage === true ? new Set<string>() : null;
  for (let c = 0; c < plan.chunks && first === null; c++) {
    const r = byChunk.get(c);
    if (r === undefined)
      throw new TracelabError(
        'INVALID_OPTION',
        `explore: chunk ${c} (schedules ${c * plan.chunkSize}..${Math.min(plan.budget, (c + 1) * plan.chunkSize) - 1}) has no result, and no earlier chunk failed`,
        { chunk: c },
      );
    steps += r.steps;
    selfChecks += r.selfChecks;
    unfair += r.unfair;
    cut += r.cut ?? 0;
    mismatches.push(...r.mismatches);
    if (races !== null) for (const k of r.races ?? []) races.add(k);
    first = r.fail;
  }
  if (mismatches.length > 0) throw diverged(scenario, mismatches, selfChecks);
  const failure =
    first === null
      ? null
      : counterexample(scenario, plan.variant, plan.scale, { ...first, picker: indexedPicker(plan.strategy, plan.seed, first.index, plan.k).picker }, options);
  return {
    scenario: scenario.name,
    variant: plan.variant,
    strategy: plan.strategy,
    seed: plan.seed,
    budget: plan.budget,
    workers: options.workers ?? 1,
    workersCapped: options.workersCapped ?? null,
    scale: plan.scale,
    found: failure !== null,
    schedules: first === null ? plan.budget : first.index + 1,
    complete: false,
    stoppedBy: first === null ? 'budget' : null,
    steps,
    selfCheck: { runs: selfChecks, mismatches: 0 },
    unfair,
    cut,
    dfs: null,
    dpor: null,
    races: races === null ? null : raceCoverage(races),
    speculation: null,
    failure,
  };
}

/** Re-runs the failing schedule here, shrinks it, and packs the result. */
function counterexample(
  scenario: Scenario,
  variant: string,
  scale: number,
  fail: { index: number; invariant: string; label: string; picker: Picker },
  options: Pick<ExploreOptions, 'shrink' | 'shrinkRuns'>,
): Failure {
  const outcome = runSchedule(scenario, variant, scale, fail.picker);
  if (outcome.violation?.name !== fail.invariant) {
    throw new TracelabError(
      'SCHEDULE_DIVERGED',
      `explore: schedule #${fail.index} failed ${fail.invariant} where it ran first, and ${outcome.violation?.name ?? 'nothing'} when re-run here (a worker running stale code? rebuild with tsc -b)`,
    );
  }
  const start = candidateOf(scale, outcome);
  const original = {
    replay: replayString(scenario, variant, scale, start.values, outcome.steps),
    preemptions: countPreemptions(outcome),
    steps: outcome.steps,
  };
  const shrunk =
    options.shrink === false ? { best: start, runs: 0, fixedPoint: false } : shrink(scenario, variant, start, fail.invariant, options.shrinkRuns ?? 3000);
  const best = shrunk.best.outcome;
  const replay = replayString(scenario, variant, shrunk.best.scale, shrunk.best.values, best.steps);
  return {
    invariant: best.violation!.name,
    message: best.violation!.message,
    index: fail.index,
    foundBy: fail.label,
    original,
    replay,
    schedule: decodeReplay(scenario, replay).schedule,
    scale: shrunk.best.scale,
    preemptions: countPreemptions(best),
    steps: best.steps,
    log: best.kernel.log,
    logHash: best.kernel.logHash(),
    shrink: { runs: shrunk.runs, fixedPoint: shrunk.fixedPoint },
  };
}

/** The worker script: the built one next to this file, or the package's dist/ when run from sources. */
function workerFile(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/worker.js', here) : new URL('./worker.js', here);
  const file = fileURLToPath(url);
  if (!existsSync(file)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `explore: workers run the built package, and ${file} does not exist; build it first (npx tsc -b packages/explore/tsconfig.lib.json)`,
    );
  }
  return file;
}

type WorkerMessage = { type: 'ready' } | { type: 'result'; result: ChunkResult } | { type: 'error'; message: string };

/**
 * Hands out chunks of schedule numbers in order to `n` workers until the budget is spent or a
 * failure is known; chunks below the lowest failing number are always finished, so the first
 * failure (and the schedule count) is the one a single thread would find.
 */
function runInWorkers(source: ScenarioSource, job: ChunkJob, budget: number, n: number, progress: ExploreOptions['progress']): ChunkResult[] {
  const file = workerFile();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const pool: Array<WorkerLink & { busy: boolean }> = [];
  for (let i = 0; i < n; i++) pool.push({ ...startWorker(file, signal, source, { job }), busy: false });
  const results: ChunkResult[] = [];
  let next = 0;
  let lowestFail = Infinity;
  let done = 0;
  try {
    const hand = (w: (typeof pool)[number]): void => {
      if (next >= budget || next > lowestFail) return;
      w.port.postMessage({ type: 'chunk', start: next, end: Math.min(budget, next + CHUNK) });
      w.busy = true;
      next += CHUNK;
    };
    for (const w of pool) hand(w);
    while (pool.some((w) => w.busy)) {
      const seen = Atomics.load(signal, 0);
      let got = false;
      for (const w of pool) {
        for (let m = receiveMessageOnPort(w.port); m !== undefined; m = receiveMessageOnPort(w.port)) {
          got = true;
          const msg = m.message as WorkerMessage;
          if (msg.type === 'error') throw new TracelabError('INVALID_OPTION', `explore worker: ${msg.message}`);
          if (msg.type !== 'result') continue;
          w.busy = false;
          results.push(msg.result);
          done += msg.result.schedules;
          if (msg.result.fail !== null) lowestFail = Math.min(lowestFail, msg.result.fail.index);
          progress?.({ schedules: Math.min(done, budget), budget });
          hand(w);
        }
      }
      if (!got && Atomics.wait(signal, 0, seen, 60_000) === 'timed-out') {
        throw new TracelabError('INVALID_OPTION', 'explore: no worker answered for 60 s (a worker that died before it could report? try workers: 1)');
      }
    }
  } finally {
    for (const w of pool) stopWorker(w);
  }
  return results;
}
