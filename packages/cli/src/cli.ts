import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { logToNdjson, createKernel, replay, replaySchedule, resolvePlugins, TracelabError, type Kernel } from '@tracelab/core';
import { toChromeTrace } from '@tracelab/formats';
import { CONVERT_COMMAND } from './convert.js';
import { formatSummary, summarize, type RunSummary } from './internal/summary.js';
import { checkOutDir, writeFolder, type OutputFs } from './internal/out-dir.js';
import { composeScenario, defaultScenario, scenarios, type Session, type Composition } from './scenarios.js';
import { ftrace } from '@tracelab/ftrace';
import { ktrace } from '@tracelab/ktrace';
import { markers } from '@tracelab/markers';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ringBuffer } from '@tracelab/ring-buffer';
import { utrace } from '@tracelab/utrace';
import { findConfig, loadConfig, type ResolvedConfig } from './config.js';
import { catalog } from '@tracelab/scenarios';
import { SYSCALLS } from '@tracelab/ring-buffer';
import type { CtfFieldType } from '@tracelab/formats';
import { cmdExplore, cmdReplayString, cmdScenarios, EXPLORE_COMMAND_USAGE, REPLAY_STRING_USAGE, SCENARIOS_USAGE } from './explore.js';
import { runScenario } from './run-scenario.js';
import { isModuleSpec, resolveScenario } from './internal/scenario-arg.js';
import { cmdTorture, TORTURE_USAGE } from './torture.js';
import { cmdView, VIEW_USAGE } from './view.js';
import { DISTRIBUTED_USAGE, isDistributed } from './distributed-usage.js';
import { cmdLitmus, LITMUS_USAGE } from './litmus.js';
import { progressReporter } from './internal/progress.js';
import { cliVersion, commandHelp, overview, runCommand, type CommandContext, type CommandSpec } from './internal/commands.js';

/** The queue and shard commands, loaded on use (BullMQ and ioredis are not small). */
const distributed = (): Promise<typeof import('./distributed.js')> => import('./distributed.js');

/** Where the CLI writes and reads; tests pass their own. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** A terminal to draw the progress bar on, if any. */
  readonly progress?: (text: string) => void;
  /** Off a terminal: where a periodic progress line goes (stderr), if anywhere. */
  readonly progressLine?: (text: string) => void;
  readonly cwd: string;
  /** The file writes of the outputs (a test seam: a full disk); default node:fs. */
  readonly fs?: OutputFs;
}

interface RunArgs {
  scenario: string;
  seed: number;
  cpus: number;
  out: string;
  maxSteps: number;
  json: boolean;
  /** `--variant V`: for a catalog scenario or a scenario module (default `fixed`). */
  variant: string | undefined;
  /** `--config FILE`, or undefined (then tracelab.config.* in the working directory, if any). */
  config: string | undefined;
  /** The flags given on the command line (they override the config's values). */
  given: Set<string>;
}

function fail(message: string): never {
  throw new TracelabError('INVALID_OPTION', message);
}

function intArg(flag: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined) fail(`${flag} needs a value (an integer from ${min} to ${max})`);
  // Number('') and Number(' ') are 0: an empty value is not a number.
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function parseRun(argv: readonly string[], cwd: string): RunArgs {
  const args: RunArgs = {
    scenario: 'default',
    seed: 1,
    cpus: 2,
    out: resolve(cwd, 'tracelab-out'),
    maxSteps: 50_000_000,
    json: false,
    variant: undefined,
    config: undefined,
    given: new Set(),
  };
  let positional = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) args.given.add(a);
    if (a === '--config') args.config = argv[++i] ?? fail('--config needs a value: a tracelab.config.mjs, .js or .json file');
    else if (a === '--seed') args.seed = intArg(a, argv[++i], 0, 0xffffffff);
    else if (a === '--cpus') args.cpus = intArg(a, argv[++i], 1, 64);
    else if (a === '--out') args.out = resolve(cwd, argv[++i] ?? fail('--out needs a value: the folder the run writes into'));
    else if (a === '--max-steps') args.maxSteps = intArg(a, argv[++i], 1, Number.MAX_SAFE_INTEGER);
    else if (a === '--json') args.json = true;
    else if (a === '--variant') args.variant = argv[++i] ?? fail('--variant needs a value: a variant of the scenario (tracelab scenarios lists them)');
    else if (a.startsWith('-'))
      fail(`run: unknown option ${a}; its options are --config, --variant, --seed, --cpus, --out, --max-steps and --json\n${RUN_HELP}`);
    else if (positional++ === 0) {
      args.scenario = a;
      args.given.add('scenario');
    } else fail(`unexpected argument ${a}\n${RUN_HELP}`);
  }
  return args;
}

function scenario(name: string): Session {
  const s = scenarios.get(name);
  if (s === undefined) fail(`unknown scenario ${JSON.stringify(name)}; scenarios: ${[...scenarios.keys()].join(', ')}`);
  return s;
}

/** Runs a kernel in slices, drawing progress between them. */
function runWithProgress(kernel: Kernel, maxSteps: number, io: CliIo): number {
  const slice = 20_000;
  let steps = 0;
  const p = progressReporter(io, 'run', 'steps');
  for (;;) {
    const r = kernel.run({ maxSteps: Math.min(slice, maxSteps - steps) });
    steps += r.steps;
    if (r.done || r.violations.length > 0 || r.steps === 0 || steps >= maxSteps) break;
    // The end is unknown before the run ends: the count of tasks exited is the measure.
    const s = kernel.state.kernel;
    const alive = s.nextPid - 1 - s.tasksReleased;
    p.update(steps, maxSteps < 50_000_000 ? maxSteps : null, `${kernel.log.length} events, ${alive} tasks alive`);
  }
  p.end();
  return steps;
}

function writeOutputs(dir: string, kernel: Kernel, summary: RunSummary, fs: OutputFs, chrome = true): void {
  // The log is written in its canonical form: hashing the file gives the run's logHash.
  fs.writeFileSync(join(dir, 'events.ndjson'), logToNdjson(kernel.log));
  if (chrome) {
    const trace = toChromeTrace(kernel.log, { metadata: { scenario: summary.scenario, seed: String(summary.seed), logHash: summary.logHash } });
    fs.writeFileSync(join(dir, 'trace.json'), JSON.stringify(trace));
  }
  fs.writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
}

/**
 * The kernel ran to its end: every task exited, the drain after the last ended (docs/core.md
 * decision 22) and nothing halted it. A run of no step says so without running anything.
 */
function ended(kernel: Kernel): boolean {
  return kernel.violations.length === 0 && kernel.run({ maxSteps: 0 }).done;
}

/**
 * Runs a scenario within `maxSteps` steps in all: the workload, then the end of the session
 * (`finish`) with what is left of the budget. `replay` calls it with the recorded bound, so a
 * cut run is re-run to the same cut.
 */
function runBounded(kernel: Kernel, sc: Session, maxSteps: number, io: CliIo): { steps: number; cut: boolean } {
  let steps = runWithProgress(kernel, maxSteps, io);
  // The end of the session (flushing the ring buffers) is part of the run, and of its schedule.
  if (sc.finish !== undefined && kernel.violations.length === 0 && steps < maxSteps) steps += sc.finish(kernel, maxSteps - steps);
  return { steps, cut: steps >= maxSteps && kernel.violations.length === 0 && !ended(kernel) };
}

/** The session a config describes, as a scenario named after its file. */
function configScenario(c: ResolvedConfig): Session {
  const name = `config:${c.file}`;
  const plugins: Composition['plugins'] = {
    ...c.plugins,
    ringBuffer:
      c.plugins.ringBuffer === false ? false : { ...c.plugins.ringBuffer, ...(c.buffer ?? {}), ...(c.events !== undefined ? { events: c.events } : {}) },
  };
  // Each plugin checks its own options when made: its error is the config's, at its key.
  const factories = { markers, ktrace, rcuTasks, ftrace, ringBuffer, utrace } as const;
  for (const key of Object.keys(factories) as Array<keyof typeof factories>) {
    const options = plugins[key];
    if (options === false) continue;
    try {
      (factories[key] as (o: unknown) => unknown)(options);
    } catch (err) {
      if (!(err instanceof TracelabError)) throw err;
      const from = key === 'ringBuffer' && (c.buffer !== undefined || c.events !== undefined) ? ' (with buffer and events)' : '';
      throw new TracelabError('INVALID_CONFIG', `${c.file}: plugins.${key}${from}: ${err.message}`, { file: c.file, key: `plugins.${key}`, cause: err.code });
    }
  }
  try {
    const sc = composeScenario(name, `the session of ${c.file} (workload ${c.workloadName})`, {
      plugins,
      extraPlugins: c.extraPlugins,
      workload: c.workload,
      tracers: c.tracers,
      timeline: c.timeline,
      outputs: c.outputs,
    });
    // Plugin options are checked when the stack is built: build it once here, so a bad option
    // is the config's error (naming its plugin), before anything runs.
    resolvePlugins(sc.plugins());
    return sc;
  } catch (err) {
    if (err instanceof TracelabError && err.code !== 'INVALID_CONFIG')
      throw new TracelabError('INVALID_CONFIG', `${c.file}: plugins: ${err.message}`, { file: c.file, cause: err.code });
    throw err;
  }
}

/**
 * `tracelab run`: a catalog scenario, or the session of a config file (`--config FILE`, else a
 * tracelab.config.{mjs,js,json} in the working directory when no scenario is named). Flags given
 * on the command line override the config's values.
 */
function cmdRun(argv: readonly string[], io: CliIo, ctx: CommandContext = { verbosity: 'normal', json: false }): number | Promise<number> {
  const args = parseRun(argv, io.cwd);
  if (args.given.has('scenario') && !scenarios.has(args.scenario)) return runCatalogScenario(args, io);
  if (args.variant !== undefined)
    fail(`run: --variant is for a race scenario of the catalog or a scenario module; ${args.scenario} is a session (tracelab list --scenarios)`);
  const file = args.config ?? (args.given.has('scenario') ? null : findConfig(io.cwd));
  if (file === null) return runSession(args, scenario(args.scenario), io, ctx, null);
  if (args.given.has('scenario')) fail(`run: --config and a scenario name (${args.scenario}) both say what to run; give one`);
  return loadConfig(file, io.cwd).then((c) => {
    const merged: RunArgs = {
      ...args,
      ...(c.seed !== undefined && !args.given.has('--seed') ? { seed: c.seed } : {}),
      ...(c.cpus !== undefined && !args.given.has('--cpus') ? { cpus: c.cpus } : {}),
      ...(c.maxSteps !== undefined && !args.given.has('--max-steps') ? { maxSteps: c.maxSteps } : {}),
      ...(c.out !== undefined && !args.given.has('--out') ? { out: c.out } : {}),
    };
    return runSession(merged, configScenario(c), io, ctx, c.file);
  });
}

/**
 * `tracelab run <scenario>` where the scenario is a race of the catalog or a scenario module of
 * the user's own (the `Scenario` type explore and replay take): one schedule of a variant. The
 * scenario fixes its CPUs and step bound, so --cpus, --max-steps and --config do not apply.
 */
function runCatalogScenario(args: RunArgs, io: CliIo): number | Promise<number> {
  for (const flag of ['--cpus', '--max-steps', '--config'])
    if (args.given.has(flag)) fail(`run: ${flag} does not apply to ${args.scenario}, a scenario that fixes its own CPUs and step bound`);
  if (!isModuleSpec(args.scenario) && !catalog.has(args.scenario))
    fail(
      `run: unknown scenario ${JSON.stringify(args.scenario)}; sessions: ${[...scenarios.keys()].join(', ')}; race scenarios: ${[...catalog.keys()].join(', ')}; or a module, path/to/file.mjs#exportName`,
    );
  const runArgs = { label: args.scenario, variant: args.variant, seed: args.seed, out: args.out, json: args.json };
  const known = catalog.get(args.scenario);
  if (known !== undefined) return runScenario(known, runArgs, io);
  return resolveScenario(args.scenario, io.cwd).then(({ sc }) => runScenario(sc, runArgs, io));
}

function runSession(args: RunArgs, sc: Session, io: CliIo, ctx: CommandContext, configFile: string | null): number {
  // A bad --out is refused before the run, so no simulation is thrown away.
  checkOutDir(args.out);
  // A step whose JavaScript never returns (a config's own plugin that loops): the watchdog
  // ends the process, and the log so far is saved into the output folder first.
  const made: { kernel?: Kernel } = {};
  const saveLogSoFar = (): void => {
    const k = made.kernel;
    if (k === undefined) return;
    mkdirSync(args.out, { recursive: true });
    const file = join(args.out, 'events.ndjson');
    writeFileSync(file, logToNdjson(k.log));
    io.err(`tracelab: the log so far (${k.log.length} events) is in ${file}`);
  };
  const kernel = createKernel({ cpus: args.cpus, seed: args.seed, plugins: sc.plugins(), watchdog: { onFire: saveLogSoFar } });
  made.kernel = kernel;
  sc.setup(kernel);
  const { steps, cut } = runBounded(kernel, sc, args.maxSteps, io);
  const report = sc.report?.(kernel);
  const summary = { ...summarize(kernel, sc.name, steps, report, { maxSteps: args.maxSteps, cut }), ...(configFile !== null ? { config: configFile } : {}) };
  let written: readonly string[] = [];
  let where: string;
  // --json: summary.json's content and where it went; else the summary for a person.
  const show = (dir: string | null, files: readonly string[]): void =>
    io.out(
      args.json
        ? JSON.stringify({ ...summary, out: dir, files: ['events.ndjson', ...(sc.chromeTrace === false ? [] : ['trace.json']), 'summary.json', ...files] })
        : formatSummary(summary, dir, report?.lines, files, { verbose: ctx.verbosity === 'verbose' }),
    );
  try {
    const w = writeFolder(
      args.out,
      (dir, fs) => {
        writeOutputs(dir, kernel, summary, fs, sc.chromeTrace !== false);
        written = sc.outputs?.(kernel, dir) ?? [];
      },
      io.fs,
    );
    where = w.dir;
    show(where, written);
    if (w.failure !== null) {
      io.err(`tracelab: could not write ${args.out} (${w.failure}); the run's files are in ${w.dir} instead`);
      return 2;
    }
  } catch (err) {
    if (!(err instanceof TracelabError)) throw err;
    show(null, []);
    io.err(`tracelab: ${err.message}; the run is deterministic: the same arguments write it again (log hash ${summary.logHash})`);
    return 2;
  }
  return summary.violations.length > 0 ? 1 : 0;
}

/** Where summary.json disagrees with the log's header (`kernel/created`) and size. */
function summaryAgainstLog(summary: RunSummary, header: { seed: number; cpus: number }, events: number): string[] {
  const out: string[] = [];
  if (summary.seed !== header.seed) out.push(`summary.json says seed ${summary.seed}, the log header says seed ${header.seed}`);
  if (summary.cpus !== header.cpus) out.push(`summary.json says cpus ${summary.cpus}, the log header says cpus ${header.cpus}`);
  if (summary.events !== events) out.push(`summary.json says ${summary.events} events, the log has ${events}`);
  return out;
}

/** The first line (1-based) where two NDJSON texts differ, with both lines, or null. */
function firstDifference(a: string, b: string): { line: number; a: string; b: string } | null {
  if (a === b) return null;
  let i = 0;
  const n = Math.min(a.length, b.length);
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const start = a.lastIndexOf('\n', i - 1) + 1;
  const line = (s: string): string => {
    const end = s.indexOf('\n', start);
    return start >= s.length ? '(end of log)' : s.slice(start, end < 0 ? s.length : end);
  };
  let count = 1;
  for (let k = a.indexOf('\n'); k >= 0 && k < start; k = a.indexOf('\n', k + 1)) count++;
  return { line: count, a: line(a), b: line(b) };
}

function cmdReplay(argv: readonly string[], io: CliIo, json = false): number | Promise<number> {
  if (argv.length !== 1) fail(`replay takes one directory\n${REPLAY_HELP}`);
  const dir = resolve(io.cwd, argv[0]!);
  const logPath = join(dir, 'events.ndjson');
  const summaryPath = join(dir, 'summary.json');
  if (!existsSync(logPath)) fail(`${logPath} does not exist (run \`tracelab run --out ${argv[0]}\` first)`);
  if (!existsSync(summaryPath)) fail(`${summaryPath} does not exist: replay needs the run's summary for its scenario and schedule`);
  let summary: RunSummary;
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary;
  } catch (err) {
    fail(`${summaryPath} is not valid JSON: ${(err as Error).message}`);
  }
  if (
    typeof summary !== 'object' ||
    summary === null ||
    typeof summary.scenario !== 'string' ||
    typeof summary.schedule !== 'string' ||
    typeof summary.logHash !== 'string'
  ) {
    fail(`${summaryPath} is not a tracelab run summary (it needs scenario, schedule and logHash)`);
  }
  const maxSteps = summary.maxSteps ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) fail(`${summaryPath}: maxSteps ${JSON.stringify(summary.maxSteps)} is not a positive integer`);
  // A config run is re-run from its config file, read again (it must not have changed).
  if (typeof summary.config === 'string') {
    const configFile = summary.config;
    if (!existsSync(configFile)) fail(`${summaryPath}: the run came from ${configFile}, which no longer exists: replay needs the config to rebuild its stack`);
    return loadConfig(configFile, io.cwd).then((c) => replaySession(dir, logPath, summary, maxSteps, configScenario(c), io, json));
  }
  return replaySession(dir, logPath, summary, maxSteps, scenario(summary.scenario), io, json);
}

function replaySession(dir: string, logPath: string, summary: RunSummary, maxSteps: number, sc: Session, io: CliIo, json: boolean): number {
  const text = readFileSync(logPath, 'utf8');
  // 1. Fold the log: the same state and hash, with no scheduling at all.
  const folded = replay(text, { plugins: sc.plugins() });
  if (folded.report.truncated !== null) io.err(`warning: ${logPath}: ${folded.report.truncated.message}`);
  const foldHash = folded.logHash();
  const header = { seed: folded.state.kernel.seed, cpus: folded.state.kernel.cpus };
  const disagreements = summaryAgainstLog(summary, header, folded.report.events);
  // 2. Re-run the scenario from its schedule string, within the recorded bound: the same log, bit for bit.
  const kernel = createKernel({ cpus: header.cpus, seed: header.seed, plugins: sc.plugins(), strategy: replaySchedule(summary.schedule) });
  sc.setup(kernel);
  const { steps } = runBounded(kernel, sc, maxSteps, io);
  const rerunHash = kernel.logHash();
  if (typeof summary.steps === 'number' && summary.steps !== steps) disagreements.push(`summary.json says ${summary.steps} steps, the re-run took ${steps}`);
  const ok = foldHash === summary.logHash && rerunHash === summary.logHash && disagreements.length === 0;
  const lines = [
    `tracelab replay ${dir}`,
    `  logged hash  ${summary.logHash}`,
    `  fold         ${foldHash} (${folded.report.events} events) ${foldHash === summary.logHash ? 'ok' : 'MISMATCH'}`,
    `  re-run       ${rerunHash} (${kernel.log.length} events, ${steps} steps${summary.maxSteps !== undefined ? ` of --max-steps ${summary.maxSteps}` : ''}) ${rerunHash === summary.logHash ? 'ok' : 'MISMATCH'}`,
  ];
  if (foldHash !== rerunHash) {
    const rerunText = logToNdjson(kernel.log);
    const d = firstDifference(text, rerunText);
    if (d !== null) lines.push(`  first difference at line ${d.line} of ${logPath}:`, `    log     ${d.a}`, `    re-run  ${d.b}`);
  }
  for (const m of disagreements) lines.push(`  MISMATCH ${m}`);
  if (json) {
    io.out(
      JSON.stringify({
        dir,
        ok,
        loggedHash: summary.logHash,
        fold: { hash: foldHash, events: folded.report.events, ok: foldHash === summary.logHash },
        rerun: { hash: rerunHash, events: kernel.log.length, steps, ok: rerunHash === summary.logHash },
        mismatches: disagreements,
      }),
    );
  } else io.out(lines.join('\n'));
  return ok ? 0 : 1;
}

const RUN_HELP = `usage: tracelab run [session | --config FILE] [--seed N] [--cpus N] [--out DIR] [--max-steps N] [--json]
       tracelab run <scenario> [--variant V] [--seed N] [--out DIR] [--json]
  runs a scenario (default: \`default\`, a build workload), or the session a config file
  describes (--config FILE; without it, tracelab.config.mjs, .js or .json in this directory
  when no scenario is named; flags override the config), under its tracer stack and writes
  events.ndjson (the replayable log), trace.json (Chrome/Perfetto), summary.json and, when the
  stack has a ring buffer, ctf/kernel/ (CTF 1.8 in LTTng's session layout) to DIR (default
  ./tracelab-out); prints the summary (--json: summary.json's content)
  --seed N       the PRNG seed (default 1)      --cpus N        simulated CPUs (default 2)
  --out DIR      where to write                 --max-steps N   bound the run (session end included)
  <scenario> is a race of the catalog (tracelab scenarios) or a scenario module of your own,
  path/to/file.mjs#exportName: one schedule of --variant V (default fixed), a random walk
  seeded by --seed, on the scenario's own CPUs; summary.json holds its replay string
exit codes: 0 ran clean; 1 an invariant was violated; 2 bad arguments or an unwritable --out`;

const REPLAY_HELP = `usage: tracelab replay DIR [--json]
  folds DIR/events.ndjson with the scenario's plugin stack (state and hash, no scheduling) and
  re-runs the scenario from the schedule string in DIR/summary.json; both must give the logged hash
${REPLAY_STRING_USAGE}
exit codes: 0 both match (or the schedule runs clean); 1 a mismatch (or the violation again); 2 a missing, corrupt or foreign log`;

const LIST_HELP = `usage: tracelab list [--scenarios | --tracepoints | --syscalls | --functions | --markers] [--json]
  what can be run and traced, as \`lttng list -k\` and \`trace-cmd list -e/-f\` show it, for the
  default stack (markers, ktrace, rcu-tasks, ftrace, ring-buffer, utrace):
  --scenarios     the scenarios tracelab run knows and the race catalog's (default)
  --tracepoints   the ring buffer's tracepoints with their fields (lttng-modules' names and types)
  --syscalls      the syscalls, with the kernel's event names and argument names
  --functions     the instrumented kernel functions (mcount sites ftrace can patch)
  --markers       the kernel markers' sites
exit codes: 0; 2 an unknown flag`;

type ListKind = 'scenarios' | 'tracepoints' | 'syscalls' | 'functions' | 'markers';

function fieldType(t: CtfFieldType): string {
  switch (t.kind) {
    case 'integer':
      return `${t.signed ? 'int' : 'uint'}${t.size}${t.base === 16 ? ' hex' : ''}`;
    case 'string':
      return 'string';
    case 'array':
      return `char[${t.length}]`;
    case 'enum':
      return `enum ${t.container.signed ? 'int' : 'uint'}${t.container.size}`;
  }
}

/** The rows of `tracelab list --<kind>`, from a kernel with the default stack (nothing run). */
function listRows(kind: ListKind): { name: string; detail: string }[] {
  if (kind === 'scenarios') {
    return [
      ...[...scenarios.values()].map((s) => ({ name: s.name, detail: `tracelab run ${s.name}: ${s.description}` })),
      ...[...catalog.values()].map((s) => ({
        name: s.name,
        detail: `tracelab explore ${s.name} --variant ${s.variants.map((v) => v.name).join('|')}: ${s.description}`,
      })),
    ];
  }
  if (kind === 'syscalls') {
    return Object.entries(SYSCALLS).map(([name, spec]) => ({
      name,
      detail: `syscall_entry_${spec.event}(${spec.entry.map((a) => a.name).join(', ')})${spec.noReturn === true ? '' : `, syscall_exit_${spec.event}(ret${spec.exit.map((a) => `, ${a.name}`).join('')})`}`,
    }));
  }
  const kernel = createKernel({ cpus: 2, seed: 1, plugins: defaultScenario.plugins() });
  if (kind === 'tracepoints')
    return kernel.api['ring-buffer'].tracepoints().map((tp) => ({
      name: tp.name,
      detail: `(${tp.fields.map((f) => `${f.name}: ${fieldType(f.type)}${f.user === true ? ' (user)' : ''}`).join(', ')})${tp.faultable === true ? ' faultable' : ''}`,
    }));
  // Each syscall's body runs in the instrumented function sys_<name> (defined at its first call).
  if (kind === 'functions')
    return [...new Set([...Object.keys(kernel.state.functions), ...Object.keys(SYSCALLS).map((n) => `sys_${n}`)])].sort().map((name) => ({ name, detail: '' }));
  return kernel.api.markers.sites().map((m) => ({ name: m.name, detail: m.format ?? '' }));
}

/** Every command: adding one is adding its entry here (name, summary, help, run). */
export const COMMANDS: readonly CommandSpec<CliIo>[] = [
  {
    name: 'run',
    summary: 'run a scenario and write its traces (events, Perfetto JSON, CTF, summary)',
    help: RUN_HELP,
    json: 'native',
    run: (argv, io, ctx) => cmdRun(argv, io, ctx),
  },
  {
    name: 'replay',
    summary: 'check a run folder replays to its hash, or re-run one explore schedule',
    help: REPLAY_HELP,
    json: 'native',
    run: (argv, io) =>
      argv.filter((a) => a !== '--json').length === 2
        ? cmdReplayString(argv, io)
        : cmdReplay(
            argv.filter((a) => a !== '--json'),
            io,
            argv.includes('--json'),
          ),
  },
  {
    name: 'list',
    summary: 'what can be run and traced: scenarios, tracepoints, syscalls, functions, markers',
    help: LIST_HELP,
    json: 'native',
    run: (argv, io) => cmdList(argv, io),
  },
  {
    name: 'scenarios',
    summary: 'the catalog of races with their variants, fixed or unsafe',
    help: `usage:\n${SCENARIOS_USAGE}\nexit codes: 0`,
    run: (argv, io) => (argv.length > 0 ? fail(`scenarios takes no arguments, got ${argv.join(' ')}`) : cmdScenarios(io)),
  },
  CONVERT_COMMAND,
  {
    name: 'explore',
    summary: "search a scenario variant's schedules for a violation, shrink it, print its replay string",
    help: `usage:\n${EXPLORE_COMMAND_USAGE}\n${DISTRIBUTED_USAGE.split('\n').slice(0, 8).join('\n')}\nexit codes: 1 a violation was found; 0 none within the budget; 2 bad usage`,
    json: 'native',
    run: (argv, io) => (isDistributed(argv) ? distributed().then((d) => d.cmdExploreDistributed(argv, io)) : cmdExplore(argv, io)),
  },
  {
    name: 'worker',
    summary: 'take explore chunks from a queue (redis) and run them',
    help: `usage:\n${DISTRIBUTED_USAGE.split('\n').slice(10).join('\n')}`,
    run: (argv, io) => distributed().then((d) => d.cmdWorker(argv, io)),
  },
  {
    name: 'merge',
    summary: 'fold explore shard files into the answer one process gives',
    help: `usage:\n${DISTRIBUTED_USAGE.split('\n').slice(8, 10).join('\n')}`,
    json: 'native',
    run: (argv, io) => distributed().then((d) => d.cmdMerge(argv, io)),
  },
  {
    name: 'torture',
    summary: 'rcutorture for tracers: swarm workloads and churn on each mechanism',
    help: `usage:\n${TORTURE_USAGE}\nexit codes: 0 no violation; 1 a violation (or --unsafe not caught); 2 bad usage`,
    json: 'native',
    run: (argv, io) => cmdTorture(argv, io),
  },
  {
    name: 'view',
    summary: 'a self-contained HTML trace viewer for a run or explore folder',
    help: `usage:\n${VIEW_USAGE}`,
    run: (argv, io) => cmdView(argv, io),
  },
  {
    name: 'litmus',
    summary: 'check litmus tests against the Linux-kernel memory model',
    help: `usage:\n${LITMUS_USAGE}\nexit codes: 0; 1 with --check, a result that disagrees; 2 bad usage`,
    json: 'native',
    run: (argv, io) => cmdLitmus(argv, io),
  },
];

function cmdList(argv: readonly string[], io: CliIo): number {
  const json = argv.includes('--json');
  const kinds: ListKind[] = ['scenarios', 'tracepoints', 'syscalls', 'functions', 'markers'];
  let kind: ListKind = 'scenarios';
  for (const a of argv) {
    if (a === '--json') continue;
    const k = kinds.find((x) => a === `--${x}`);
    if (k === undefined) fail(`list: unknown argument ${a}\n${LIST_HELP}`);
    kind = k;
  }
  const rows = listRows(kind);
  if (json) io.out(JSON.stringify(rows));
  else {
    const width = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows) io.out(r.detail === '' ? r.name : `${r.name.padEnd(width)}  ${r.detail}`);
  }
  return 0;
}

/** A quiet io: errors only. */

/**
 * The `tracelab` command. Returns the exit code: 0 ok, 1 a check failed, 2 bad input; a
 * promise of it for the commands that talk to a queue (explore --queue, worker, merge).
 */
export function main(argv: readonly string[], io: CliIo): number | Promise<number> {
  const [cmd, ...rest] = argv;
  const failed = (err: unknown): number => {
    if (err instanceof TracelabError) {
      io.err(`tracelab: ${err.message}`);
      return 2;
    }
    throw err;
  };
  try {
    if (cmd === '--version' || cmd === '-V') {
      const version = cliVersion();
      io.out(rest.includes('--json') ? JSON.stringify({ name: '@tracelab/cli', version }) : `tracelab ${version}`);
      return 0;
    }
    if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
      const topic = cmd === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
      if (topic === undefined) {
        io.out(overview(COMMANDS, cliVersion()));
        return cmd === undefined ? 2 : 0;
      }
      const spec = COMMANDS.find((c) => c.name === topic);
      if (spec === undefined) fail(`no command ${JSON.stringify(topic)}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
      io.out(commandHelp(spec));
      return 0;
    }
    const spec = COMMANDS.find((c) => c.name === cmd);
    if (spec === undefined) {
      io.err(`tracelab: unknown command ${JSON.stringify(cmd)}; commands: ${COMMANDS.map((c) => c.name).join(', ')} (tracelab help)`);
      return 2;
    }
    return runCommand(spec, rest, io);
  } catch (err) {
    return failed(err);
  }
}
