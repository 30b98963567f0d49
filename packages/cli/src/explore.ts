import { join, resolve } from 'node:path';
import { logToNdjson, createKernel, replaySchedule, TracelabError, type KernelEvent } from '@tracelab/core';
import {
  decodeReplay,
  explore,
  formatTrace,
  maxScale,
  scenarioKernelOptions,
  replay,
  replayContext,
  DFS_REDUCTIONS,
  STRATEGIES,
  variantOf,
  auditReduction,
  type DfsReduction,
  type ReductionAudit,
  type ExploreResult,
  type Scenario,
  type StrategyName,
  type TreeUnderWay,
} from '@tracelab/explore';
import { toChromeTrace } from '@tracelab/formats';
import { ringBuffer, writeRingBufferCtf, type RingBufferOptions } from '@tracelab/ring-buffer';
import { catalog, scenario } from '@tracelab/scenarios';
import type { CliIo } from './cli.js';
import { checkOutDir, writeFolder, type OutputFs } from './internal/out-dir.js';
import { progressReporter } from './internal/progress.js';
import { isModuleSpec, resolveScenario } from './internal/scenario-arg.js';

/** `tracelab explore`'s own usage lines (its help shows them whole). */
export const EXPLORE_COMMAND_USAGE = `  tracelab explore <scenario> --variant V [--strategy S] [--budget N] [--time-limit SECONDS] [--workers W] [--seed N] [--bound B] [--reduction R] [--scale N] [--coverage] [--out DIR] [--json]
  tracelab explore <scenario> --variant V --audit [--bound B | --unbounded] [--scale N] [--budget N] [--time-limit SECONDS] [--json]
      searches the schedules of a scenario's variant for a violation (strategies: ${STRATEGIES.join(', ')};
      default portfolio, budget 1000); prints the shrunk counterexample per CPU and its replay string,
      and writes its events.ndjson and trace.json (Chrome/Perfetto) to DIR (default ./tracelab-explore),
      and DIR/ctf/ (CTF 1.8) when the scenario's stack has the ring buffer; <scenario> is a
      catalog name or a module of your own, path/to/file.mjs#exportName (#default if left out);
      --coverage also counts the races the schedules met (pairs of conflicting steps of two CPUs)
      and how many they met in both orders; --strategy dfs (budget 1000000 unless given: its tree
      within --bound B, default 2, to the end; every alternative is tried unless --reduction
      visible-steps, which skips preemptions before steps that log only task-local events: fewer
      schedules, clean only if every step that reads shared state logs an event); --strategy dpor (budget 1000000 unless given; unbounded
      unless --bound B) prints "verified" when its search completes clean: every Mazurkiewicz trace
      of the variant, or every one within B preemptions, was run; --time-limit stops a dfs or dpor
      search from starting schedules after SECONDS (it then says so: not verified); --scale N sets the scenario's
      scale knob (its tasks, rounds...: the scenario's scale, which tracelab scenarios prints for
      the catalog), e.g. its smallest for a full verification; --audit checks dpor's reduction on
      the stack: dpor and the dfs trying every alternative, both within --bound B (default 1) and
      neither stopping at a violation, must reach the same final states and violations; it prints
      a replay string for each one dpor missed (a step's footprint leaves out what it reads or
      writes: a plugin's data outside the state touched in a step that logs none of its events)
      and exits 1 when the two differ, 0 when they agree or a search stopped short (it says so:
      not agreed); budget 200000 schedules and --time-limit for each search; --unbounded audits
      both searches without a bound (dpor's sleep sets too), for small stacks and scales`;

/** `tracelab replay`'s form for one explored schedule. */
export const REPLAY_STRING_USAGE = `  tracelab replay <scenario> <replay-string> [--json]
      re-runs one schedule printed by explore`;

/** `tracelab scenarios`' line. */
export const SCENARIOS_USAGE = `  tracelab scenarios
      the catalog of races with their variants`;

/** The three together, as bad usage of any of them prints them. */
export const EXPLORE_USAGE = [EXPLORE_COMMAND_USAGE, REPLAY_STRING_USAGE, SCENARIOS_USAGE].join('\n');

/** Bad usage of a command: INVALID_OPTION with the message (exit 2). */
export function bad(message: string): never {
  throw new TracelabError('INVALID_OPTION', message);
}

/** A flag's integer value, at least `min`, or bad usage naming the flag. */
export function int(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < min) bad(`${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function writeRun(dir: string, log: readonly KernelEvent[], meta: Record<string, string>, fs: OutputFs): void {
  fs.writeFileSync(join(dir, 'events.ndjson'), logToNdjson(log));
  fs.writeFileSync(join(dir, 'trace.json'), JSON.stringify(toChromeTrace(log, { metadata: meta })));
}

/** What `failureCtf` wrote: the files, and the packets the consumer delivered per CPU. */
export interface CtfOutput {
  readonly dir: string;
  readonly files: readonly string[];
  readonly packets: readonly number[];
  /** The re-run reached the end of the scenario (every task exited). */
  readonly done: boolean;
}

/**
 * The failing run's CTF trace, for a scenario whose stack has the ring buffer (null without
 * one: adding a ring buffer to another stack would add tasks and events and change the
 * schedule). The kernel that found the violation halted there, before its consumer could
 * write anything out, so the failing schedule is re-run with the ring buffer's invariants off
 * (the log is the same up to the violation: checks emit nothing) and on to the scenario's end
 * (past the replay string every choice is the default), and the consumer's packets are written.
 * A sub-buffer whose commit count the race damaged is never delivered: its packet is missing.
 */
export function failureCtf(sc: Scenario, replayString: string, dir: string): CtfOutput | null {
  const t = decodeReplay(sc, replayString);
  const stack = sc.plugins(t.variant);
  if (!stack.some((p) => p !== false && p !== null && p !== undefined && p.name === 'ring-buffer')) return null;
  const observed = stack.map((p) =>
    p !== false && p !== null && p !== undefined && p.name === 'ring-buffer' ? ringBuffer({ ...(p.options as RingBufferOptions), checks: false }) : p,
  );
  const kernel = createKernel({
    ...scenarioKernelOptions(sc, t.variant, replaySchedule(t.schedule, { context: replayContext(sc, t.variant, t.scale) })),
    plugins: observed,
  });
  sc.setup(kernel, { variant: t.variant, scale: t.scale });
  const r = kernel.run({ maxSteps: sc.maxSteps });
  const files = writeRingBufferCtf(kernel, dir);
  return { dir, files, packets: kernel.api['ring-buffer'].streams().map((p) => p.length), done: r.done };
}

function ctfLine(out: string, ctf: CtfOutput | null): string {
  if (ctf === null) return `  ctf            none: this scenario's stack has no ring buffer (adding one would change the schedule)`;
  const per = ctf.packets.map((n, cpu) => `cpu${cpu} ${n}`).join(', ');
  return `  wrote          ${join(out, 'ctf')}/ (${ctf.files.join(', ')}): the failing schedule re-run to its end with the ring buffer's checks off; packets delivered: ${per}${ctf.done ? '' : ' (cut at maxSteps)'}`;
}

/**
 * A clean dpor search: what made its tree, the objects behind the backtrack points races added
 * (`DporStats.backtrackReasons`), the largest first: a scenario author's "why is it this big".
 */
function reasonsLine(r: ExploreResult): string {
  const top = Object.entries(r.dpor?.backtrackReasons ?? {})
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 6);
  if (top.length === 0) return '';
  return `\n  backtracks by  ${top.map(([k, n]) => `${k} ${n}`).join(', ')} (what added DPOR's backtrack points; docs/explore.md §4a)`;
}

/** With `--coverage`: the races met and how many in both orders, and a few met in one order only. */
function racesLine(r: ExploreResult): string {
  const c = r.races;
  if (c === null) return '';
  const share = c.races === 0 ? '' : ` (${Math.round((100 * c.bothOrders) / c.races)}%)`;
  const one = c.oneOrder.slice(0, 3).map((x) => `\n    one order only: ${x}`);
  return `\n  races met      ${c.races} pairs of conflicting steps of two CPUs, ${c.bothOrders} in both orders${share}${one.join('')}`;
}

/** A complete clean search none of whose runs stopped short of its end: cut at the cap, or at a dropped liveness alarm. */
function fullVerdict(r: ExploreResult): boolean {
  return r.complete && r.failure === null && r.cut === 0 && r.unfair === 0;
}

/**
 * What a clean dpor search covered: "verified" only when it completed (every trace within the
 * bound, or every trace, was run), "verified up to maxSteps" when some of its runs were cut at the
 * scenario's cap or stopped by a dropped liveness alarm (their continuations are not all
 * searched: docs/explore.md §4a, sixteenth pass); else how far the budget went.
 */
function dporScope(sc: Scenario, r: ExploreResult): string {
  const d = r.dpor!;
  // What was verified depends on the scale: say it for a scenario that has a knob.
  const at = sc.scale === undefined ? '' : `, at ${sc.scale.name} ${r.scale}`;
  const traces = `${d.traces} trace${d.traces === 1 ? '' : 's'}`;
  const runs = `${r.schedules} schedule${r.schedules === 1 ? '' : 's'} run`;
  if (!r.complete) return `no violation in ${runs} of the dpor search (${stopped(r)}): not verified${at}`;
  // With the CPUs interchangeable, the traces counted are one of each mirror-image pair.
  const sym = d.symmetric ? ', up to swapping the CPUs' : '';
  const verified = fullVerdict(r) ? 'verified' : 'verified up to maxSteps';
  return d.bound === null
    ? `${verified}: all ${traces} (${runs})${at}${sym}`
    : `${verified}: every interleaving up to ${d.bound} preemption${d.bound === 1 ? '' : 's'} (${traces}, ${runs})${at}${sym}`;
}

/**
 * A stack of the user's own that DPOR verified: the verdict rests on its plugins' footprints,
 * which the core cannot check (docs/explore.md §4a, the proviso), so say how to audit them. The
 * catalog's are audited in its tests.
 */
function auditHint(sc: Scenario, label: string, r: ExploreResult): string {
  if (!isModuleSpec(label) || !r.complete) return '';
  const scale = sc.scale === undefined ? '' : ` --scale ${sc.scale.min}`;
  return `\n  it rests on your plugins' footprints: tracelab explore ${label} --variant ${r.variant} --audit${scale} checks them against the unreduced search`;
}

/**
 * An unbounded dpor search that stopped short: how long its runs are, against what the catalog
 * shows verifies (docs/explore.md §4a, fifteenth and sixteenth passes: on two CPUs the fixed
 * variants verified unbounded have default runs of 11 to 24 steps, and none of 30 or more has
 * been in an hour), and the bounded search that stays within reach.
 */
function lengthHint(r: ExploreResult): string {
  if (r.dpor === null || r.dpor.bound !== null || r.complete || r.schedules === 0) return '';
  const steps = Math.round(r.steps / r.schedules);
  return `\n  runs of about ${steps} steps: on two CPUs the catalog's unbounded searches end for runs of up to about 25 steps, none of 30 or more has; --bound 2 verifies every interleaving within 2 preemptions (docs/writing-a-plugin.md)`;
}

/** A clean search some of whose runs were cut at the scenario's `maxSteps`: its verdict covers them only up to the cap. */
function cutLine(r: ExploreResult): string {
  if (r.cut === 0) return '';
  return `\n  ${r.cut} run${r.cut === 1 ? '' : 's'} cut at maxSteps with no violation: the verdict covers ${r.cut === 1 ? 'it' : 'them'} only up to the scenario's cap`;
}

/** A bounded DPOR search on several threads: where its runs were made. */
function speculationLine(r: ExploreResult): string {
  const s = r.speculation;
  if (s === null) return '';
  return `\n  runs made ahead by ${r.workers - 1} worker thread${r.workers === 2 ? '' : 's'}: ${s.ready} taken, ${s.local + s.abandoned} made here (${s.abandoned} of them while a worker still had them), ${s.unused} never needed`;
}

/** A DFS run with the visible-step reduction says what its verdict rests on. */
function visibleNote(r: ExploreResult): string {
  if (r.dfs?.reduction !== 'visible-steps') return '';
  return `, visible-step reduction: ${r.dfs.reduced} alternatives skipped, sound only if every step that reads shared state logs an event`;
}

/** Why a search that found nothing stopped short: its budget, or its time limit. */
function stopped(r: ExploreResult): string {
  return r.stoppedBy === 'time' ? 'time limit reached' : 'budget spent';
}

function printResult(sc: Scenario, label: string, r: ExploreResult, io: CliIo, out: string | null, ctf: CtfOutput | null): void {
  const head = `tracelab explore ${sc.name} --variant ${r.variant}: strategy ${r.strategy}, seed ${r.seed}, ${r.workers} worker(s)${r.workersCapped !== null ? ` (${r.workersCapped})` : ''}`;
  if (r.failure === null) {
    if (r.dpor !== null) {
      const m = r.dpor.mirrorChecks;
      const mirrors = m === null || m === 0 ? '' : `, ${m} mirror image${m === 1 ? '' : 's'} alike`;
      io.out(
        `${head}\n  ${dporScope(sc, r)}; determinism self-check ${r.selfCheck.runs} re-runs ok${mirrors}${racesLine(r)}${cutLine(r)}${reasonsLine(r)}${lengthHint(r)}${speculationLine(r)}${auditHint(sc, label, r)}`,
      );
      return;
    }
    const scope =
      r.strategy === 'dfs'
        ? r.complete
          ? `the whole tree within preemption bound ${r.dfs!.bound} (${r.schedules} schedules${visibleNote(r)})`
          : `${r.schedules} schedules of the bound-${r.dfs!.bound} tree (${stopped(r)}${visibleNote(r)})`
        : `${r.schedules} schedules`;
    io.out(`${head}\n  no violation in ${scope}; determinism self-check ${r.selfCheck.runs} re-runs ok${racesLine(r)}${cutLine(r)}`);
    return;
  }
  const f = r.failure;
  io.out(
    [
      head,
      `  VIOLATION ${f.invariant}: ${f.message}`,
      `  found at schedule ${f.index + 1} by ${f.foundBy} (${f.original.preemptions} preemptions, ${f.original.steps} steps)${racesLine(r)}`,
      `  shrunk in ${f.shrink.runs} re-runs${f.shrink.fixedPoint ? ' (fixed point)' : ' (run budget spent)'}: ${f.preemptions} preemptions, ${f.steps} steps${sc.scale !== undefined ? `, ${f.scale} ${sc.scale.name}` : ''}`,
      '',
      formatTrace(f.log, sc.cpus),
      '',
      `  replay string  ${f.replay}`,
      `  log hash       ${f.logHash}`,
      `  re-run with    tracelab replay ${label} '${f.replay}'`,
      ...(out !== null ? [`  wrote          ${join(out, 'events.ndjson')}, ${join(out, 'trace.json')}`, ctfLine(out, ctf)] : []),
    ].join('\n'),
  );
}

/** `tracelab explore`'s arguments. */
export interface ExploreArgs {
  readonly name: string;
  readonly variant: string;
  readonly strategy: StrategyName;
  readonly budget: number;
  readonly workers: number;
  readonly seed: number;
  readonly bound: number;
  /** `--bound` was given (dpor is unbounded without it). */
  readonly boundGiven: boolean;
  /** `--budget` was given (dfs's and dpor's default is 1,000,000: a tree search runs to the end of its tree). */
  readonly budgetGiven: boolean;
  /** `--scale`: the scenario's scale knob (null: its default). */
  readonly scale: number | null;
  /** `--time-limit`, in milliseconds (null: none); dfs and dpor only. */
  readonly timeLimitMs: number | null;
  /** `--reduction` (null: not given, the search's default `none`); dfs only. */
  readonly reduction: DfsReduction | null;
  /** `--coverage`: count the races met and those met in both orders. */
  readonly coverage: boolean;
  /** `--audit`: check DPOR's reduction against the unreduced DFS instead of searching (`auditReduction`). */
  readonly audit: boolean;
  /** `--unbounded` (with `--audit`): both searches without a bound. */
  readonly unbounded: boolean;
  readonly json: boolean;
  readonly out: string;
  /** `--out` was given (a bad one is refused before the search, so nothing found is lost). */
  readonly outGiven: boolean;
}

/** Parses `tracelab explore`'s arguments (the scenario is checked by the caller). */
export function parseExploreArgs(argv: readonly string[], io: CliIo): ExploreArgs {
  let name: string | undefined;
  let variant: string | undefined;
  let strategy: StrategyName = 'portfolio';
  let budget = 1000;
  let workers = 1;
  let seed = 1;
  let bound = 2;
  let boundGiven = false;
  let budgetGiven = false;
  let strategyGiven = false;
  let workersGiven = false;
  let seedGiven = false;
  let coverage = false;
  let audit = false;
  let unbounded = false;
  let scale: number | null = null;
  let timeLimitMs: number | null = null;
  let reduction: DfsReduction | null = null;
  let json = false;
  let out = resolve(io.cwd, 'tracelab-explore');
  let outGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--variant') variant = argv[++i] ?? bad('--variant needs a value');
    else if (a === '--strategy') {
      const s = argv[++i];
      if (!STRATEGIES.includes(s as StrategyName)) bad(`--strategy must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(s)}`);
      strategy = s as StrategyName;
      strategyGiven = true;
    } else if (a === '--budget') {
      budget = int(a, argv[++i], 1);
      budgetGiven = true;
    } else if (a === '--workers') {
      workers = int(a, argv[++i], 1);
      workersGiven = true;
    } else if (a === '--seed') {
      seed = int(a, argv[++i], 0);
      seedGiven = true;
    } else if (a === '--bound') {
      bound = int(a, argv[++i], 0);
      boundGiven = true;
    } else if (a === '--scale') scale = int(a, argv[++i], 0);
    else if (a === '--time-limit') {
      // Seconds; at most a year (the search's own check wants milliseconds that fit an integer).
      const sec = int(a, argv[++i], 1);
      if (sec > 31_536_000) bad(`--time-limit is at most 31536000 seconds (a year), got ${sec}`);
      timeLimitMs = sec * 1000;
    } else if (a === '--reduction') {
      const r = argv[++i] ?? bad(`--reduction needs a value: ${DFS_REDUCTIONS.join(' or ')}`);
      if (!DFS_REDUCTIONS.includes(r as DfsReduction)) bad(`--reduction must be one of ${DFS_REDUCTIONS.join(', ')}, got ${JSON.stringify(r)}`);
      reduction = r as DfsReduction;
    } else if (a === '--out') {
      out = resolve(io.cwd, argv[++i] ?? bad('--out needs a directory'));
      outGiven = true;
    } else if (a === '--json') json = true;
    else if (a === '--coverage') coverage = true;
    else if (a === '--audit') audit = true;
    else if (a === '--unbounded') unbounded = true;
    else if (a.startsWith('-')) bad(`unknown option ${a}\n${EXPLORE_USAGE}`);
    else if (name === undefined) name = a;
    else bad(`unexpected argument ${a}\n${EXPLORE_USAGE}`);
  }
  if (name === undefined) bad(`explore needs a scenario; scenarios: ${[...catalog.keys()].join(', ')}`);
  if (variant === undefined) {
    const known = catalog.get(name);
    bad(`explore needs --variant${known === undefined ? '' : `; variants of ${known.name}: ${known.variants.map((v) => v.name).join(', ')}`}`);
  }
  if (unbounded && !audit) bad('--unbounded applies to --audit (a dpor search without --bound is unbounded already)');
  if (unbounded && boundGiven) bad('--unbounded and --bound contradict each other: give one');
  if (audit) {
    // The audit is its own pair of searches: what a search option would change there is refused.
    const given =
      strategyGiven && strategy !== 'dpor'
        ? `--strategy ${strategy}`
        : workersGiven
          ? '--workers'
          : seedGiven
            ? '--seed'
            : reduction !== null
              ? '--reduction'
              : coverage
                ? '--coverage'
                : outGiven
                  ? '--out'
                  : null;
    if (given !== null) bad(`--audit runs dpor and the unreduced dfs itself, on this thread; ${given} does not apply to it`);
    if (!boundGiven) bound = 1;
    if (!budgetGiven) budget = 200_000;
  }
  // A bad --out is refused before the search, so no counterexample is found and then lost.
  if (outGiven) checkOutDir(out);
  // A tree search runs to the end of its tree unless capped: `dfs` within its bound, as `dpor`.
  if ((strategy === 'dpor' || strategy === 'dfs') && !budgetGiven && !audit) budget = 1_000_000;
  if (timeLimitMs !== null && strategy !== 'dfs' && strategy !== 'dpor' && !audit)
    bad(`--time-limit applies to --strategy dfs or dpor, not ${strategy} (a seeded search's --budget gives the same answer on any machine)`);
  if (reduction !== null && strategy !== 'dfs')
    bad(`--reduction applies to --strategy dfs, not ${strategy} (dpor's reduction is its own and sound; the seeded strategies reduce nothing)`);
  return {
    name,
    variant,
    strategy,
    budget,
    workers,
    seed,
    bound,
    boundGiven,
    budgetGiven,
    scale,
    timeLimitMs,
    reduction,
    coverage,
    audit,
    unbounded,
    json,
    out,
    outGiven,
  };
}

/**
 * Prints an exploration's result as `tracelab explore` does, and writes the counterexample's
 * events.ndjson, trace.json and ctf/ into `out` (through a temporary folder renamed into place;
 * a destination that fails keeps the files elsewhere and says where). `extra` joins the --json
 * object. Returns the exit code: 1 when a violation was found, 2 when its files could not go to
 * `out`, else 0.
 */
export function reportExplore(
  sc: Scenario,
  r: ExploreResult,
  io: CliIo,
  args: { readonly out: string; readonly json: boolean; readonly label?: string },
  extra: Record<string, unknown> = {},
): number {
  const { out, json } = args;
  // What the user typed to name the scenario (a module path for a scenario of their own), as a shell word.
  const label = shellWord(args.label ?? sc.name);
  let ctf: CtfOutput | null = null;
  let wrote: string | null = null;
  let outFailure: string | null = null;
  if (r.failure !== null) {
    const f = r.failure;
    const v = r.variant;
    const made: { ctf: CtfOutput | null } = { ctf: null };
    try {
      const w = writeFolder(
        out,
        (dir, fs) => {
          writeRun(dir, f.log, { scenario: sc.name, variant: v, replay: f.replay, logHash: f.logHash }, fs);
          made.ctf = failureCtf(sc, f.replay, join(dir, 'ctf'));
        },
        io.fs,
      );
      wrote = w.dir;
      if (w.failure !== null) outFailure = `could not write ${out} (${w.failure}); the counterexample's files are in ${w.dir} instead`;
      if (made.ctf !== null) ctf = { ...made.ctf, dir: join(w.dir, 'ctf') };
    } catch (err) {
      if (!(err instanceof TracelabError)) throw err;
      outFailure = `${err.message}; the counterexample is the replay string above: tracelab replay ${label} '${f.replay}'`;
    }
  }
  if (json) {
    const { failure, ...rest } = r;
    const ctfJson = ctf === null ? null : { dir: ctf.dir, files: ctf.files, packets: ctf.packets, done: ctf.done };
    io.out(
      JSON.stringify(
        {
          ...rest,
          ...(r.dpor !== null ? { verified: fullVerdict(r) } : {}),
          ...extra,
          failure: failure === null ? null : { ...failure, log: undefined, events: failure.log.length, out: wrote, ctf: ctfJson },
        },
        null,
        2,
      ),
    );
  } else {
    printResult(sc, label, r, io, wrote, ctf);
  }
  if (outFailure !== null) {
    io.err(`tracelab: ${outFailure}`);
    return 2;
  }
  return r.found ? 1 : 0;
}

/** `s` as one shell word: bare when it is only safe characters, else single-quoted. */
function shellWord(s: string): string {
  return /^[\w./#@:+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `--scale` is bad usage on a scenario without a scale knob, or outside the knob's range. Checked
 * here, before any search (with `--queue`, before connecting), and naming the flag; explore's
 * own check of the range is what library callers get.
 */
export function checkScaleArg(sc: Scenario, scale: number | null): void {
  if (scale === null) return;
  if (sc.scale === undefined) bad(`--scale: scenario ${sc.name} has no scale knob (it always runs the same tasks)`);
  if (scale < sc.scale.min || scale > maxScale(sc))
    bad(`--scale (${sc.scale.name}) must be from ${sc.scale.min} to ${maxScale(sc)} for scenario ${sc.name}, got ${scale}`);
}

/**
 * `tracelab explore <scenario>`: 1 when a violation was found, 0 when none within the budget.
 * The scenario is a catalog name or a module of your own (`path/to/file.js#exportName`).
 */
export function cmdExplore(argv: readonly string[], io: CliIo): number | Promise<number> {
  const args = parseExploreArgs(argv, io);
  if (isModuleSpec(args.name)) return resolveScenario(args.name, io.cwd).then(({ sc }) => exploreScenario(sc, args, io));
  return exploreScenario(scenario(args.name), args, io);
}

function exploreScenario(sc: Scenario, args: ExploreArgs, io: CliIo): number {
  const { variant, strategy, budget, workers, seed, bound, boundGiven, scale, timeLimitMs, reduction, coverage, json, out } = args;
  variantOf(sc, variant);
  checkScaleArg(sc, scale);
  if (args.audit) return auditScenario(sc, args, io);
  // A bar with rate and ETA on a terminal, a line every few seconds off one (stderr either way).
  const p = progressReporter(io, 'explore', 'schedules');
  const r = explore(sc, {
    variant,
    strategy,
    budget,
    workers,
    seed,
    // dpor without --bound is the unbounded search; dfs's default bound is 2 either way.
    ...(strategy !== 'dpor' || boundGiven ? { bound } : {}),
    ...(coverage ? { coverage } : {}),
    ...(scale !== null ? { scale } : {}),
    ...(timeLimitMs !== null ? { timeLimitMs } : {}),
    ...(reduction !== null ? { reduction } : {}),
    // A tree search without --budget ends when its tree does, which no count foretells: no
    // total and no ETA then, but the tree under way; a budget given is a total.
    progress: (x: { schedules: number; budget: number; tree?: TreeUnderWay }) =>
      p.update(x.schedules, x.tree !== undefined && !args.budgetGiven ? null : x.budget, treeNote(x.tree)),
  });
  p.end();
  return reportExplore(sc, r, io, { out, json, label: args.name });
}

/**
 * `tracelab explore --audit`: DPOR against the unreduced DFS (`auditReduction`). Exit 1 when they
 * disagree (what DPOR missed is a footprint to mend, as a violation is a bug to mend), else 0,
 * also when a search stopped short (it says so: nothing is shown either way then).
 */
function auditScenario(sc: Scenario, args: ExploreArgs, io: CliIo): number {
  const p = progressReporter(io, 'audit', 'schedules');
  const a = auditReduction(sc, {
    variant: args.variant,
    bound: args.unbounded ? null : args.bound,
    budget: args.budget,
    ...(args.scale !== null ? { scale: args.scale } : {}),
    ...(args.timeLimitMs !== null ? { timeLimitMs: args.timeLimitMs } : {}),
    progress: (x) => p.update(x.schedules, null, x.search === 'dpor' ? 'dpor' : 'unreduced dfs'),
  });
  p.end();
  const disagrees = a.missed.length > 0 || a.extra.length > 0;
  if (args.json) {
    io.out(JSON.stringify(a, null, 2));
    return disagrees ? 1 : 0;
  }
  io.out(auditReport(a, shellWord(args.name)).join('\n'));
  return disagrees ? 1 : 0;
}

/** `--audit`'s lines: the verdict, each search's counts, and a replay command per difference. */
export function auditReport(a: ReductionAudit, label: string): string[] {
  const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
  const counts = (s: ReductionAudit['dfs']): string =>
    `${plural(s.schedules, 'schedule')}, ${plural(s.states, 'final state')}, ${s.violations.length === 0 ? 'no violation' : `violations ${s.violations.join(', ')}`}${s.cut > 0 ? `, ${plural(s.cut, 'run')} cut at maxSteps` : ''}${s.unfair > 0 ? `, ${plural(s.unfair, 'unfair liveness alarm')}` : ''}${s.complete ? '' : ' (stopped short)'}`;
  const out = [
    `tracelab explore ${label} --variant ${a.variant} --audit: dpor against the unreduced dfs, ${a.bound === null ? 'unbounded' : `bound ${a.bound}`}${a.scale !== 0 ? `, scale ${a.scale}` : ''}`,
  ];
  if (a.agrees) out.push(`  agrees: dpor reached every final state and violation the unreduced dfs reached`);
  else if (a.missed.length > 0)
    out.push(
      `  DISAGREES: dpor missed ${plural(a.missed.length, 'final state or violation', 'final states or violations')} the unreduced dfs reached: typically a step's footprint that leaves out something it reads or writes (docs/explore.md §4a, "Auditing the reduction")`,
    );
  else if (a.extra.length > 0)
    out.push(`  DISAGREES: dpor reached what the unreduced dfs did not: a run that the same choices do not repeat (a setup or plugin that reads host state?)`);
  else if (a.stoppedBy === null)
    out.push(`  nothing compared: no run of either search finished or failed (each was cut at maxSteps or stopped by an unfair liveness alarm)`);
  else
    out.push(
      `  not complete: the ${a.dpor.complete ? 'dfs' : 'dpor search'} stopped at its ${a.stoppedBy === 'time' ? 'time limit' : 'budget'}${a.dpor.complete ? ` (what dpor missed among the dfs's runs so far: none)` : '; nothing compared'}`,
    );
  out.push(`  dpor: ${counts(a.dpor)}; ${plural(a.dpor.traces, 'trace')}`, `  dfs:  ${counts(a.dfs)}`);
  // A final state's digest reads `ok <hash>` (`finalStateDigest`: no violation stopped the run).
  const what = (d: ReductionAudit['missed'][number]): string => (d.kind === 'state' ? `final state ${d.what.replace(/^ok /, '')}` : `violation ${d.what}`);
  for (const d of a.missed) out.push(`  missed ${what(d)}: tracelab replay ${label} '${d.replay}'`);
  for (const d of a.extra) out.push(`  only dpor reached ${what(d)}: tracelab replay ${label} '${d.replay}'`);
  return out;
}

/** The progress line's note on a tree search's tree under way: `bound-2 tree 1234` (or `unbounded tree 1234`). */
function treeNote(tree: TreeUnderWay | undefined): string {
  if (tree === undefined) return '';
  return `${tree.bound === null ? 'unbounded' : `bound-${tree.bound}`} tree ${tree.schedules}`;
}

/**
 * `tracelab replay <scenario> <string>`: 1 when the schedule reproduces a violation, else 0.
 * The scenario is a catalog name or a module of your own, as for explore.
 */
export function cmdReplayString(argv: readonly string[], io: CliIo): number | Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (args.length !== 2) bad(`replay takes a scenario and a replay string\n${EXPLORE_USAGE}`);
  if (isModuleSpec(args[0]!)) return resolveScenario(args[0]!, io.cwd).then(({ sc }) => replayScenario(sc, args[1]!, json, io));
  return replayScenario(scenario(args[0]!), args[1]!, json, io);
}

function replayScenario(sc: Scenario, schedule: string, json: boolean, io: CliIo): number {
  const args = [sc.name, schedule];
  const r = replay(sc, schedule);
  if (json) {
    io.out(
      JSON.stringify(
        { scenario: sc.name, replay: args[1], violation: r.violation, steps: r.steps, done: r.done, events: r.kernel.log.length, logHash: r.logHash },
        null,
        2,
      ),
    );
  } else {
    io.out(
      [
        `tracelab replay ${sc.name} ${args[1]}`,
        formatTrace(r.kernel.log, sc.cpus),
        r.violation === null
          ? `  no violation (${r.steps} steps${r.done ? ', every task exited' : ''})`
          : `  VIOLATION ${r.violation.name}: ${r.violation.message}`,
        `  log hash ${r.logHash}`,
      ].join('\n'),
    );
  }
  return r.violation === null ? 0 : 1;
}

/** `tracelab scenarios`: the catalog. */
export function cmdScenarios(io: CliIo): number {
  for (const s of catalog.values()) {
    io.out(`${s.name}  ${s.description}`);
    // The knob `explore --scale` sets: its name, default and range.
    if (s.scale !== undefined) io.out(`    scale: ${s.scale.name}, default ${s.scale.default}, from ${s.scale.min} to ${maxScale(s)}`);
    if (s.symmetricCpus === true) io.out(`    cpus: ${s.cpus}, interchangeable (dpor explores one of each pair of mirror-image schedules)`);
    for (const v of s.variants) io.out(`    ${v.name.padEnd(18)} ${v.safe ? 'fixed ' : 'unsafe'}  ${v.description}`);
  }
  return 0;
}
