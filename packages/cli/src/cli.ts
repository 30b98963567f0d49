import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { canonicalJson, createKernel, replay, replaySchedule, TracelabError, type Kernel } from '@tracelab/core';
import { toChromeTrace } from '@tracelab/formats';
import { cmdConvert, CONVERT_USAGE } from './convert.js';
import { formatSummary, summarize, type RunSummary } from './internal/summary.js';
import { checkOutDir, writeFolder, type OutputFs } from './internal/out-dir.js';
import { scenarios, type CliScenario } from './scenarios.js';
import { cmdExplore, cmdReplayString, cmdScenarios, EXPLORE_USAGE } from './explore.js';
import { cmdTorture } from './torture.js';
import { cmdView } from './view.js';
import { cmdExploreDistributed, cmdMerge, cmdWorker, DISTRIBUTED_USAGE, isDistributed } from './distributed.js';
import { cmdLitmus } from './litmus.js';

/** Where the CLI writes and reads; tests pass their own. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** A terminal to draw the progress bar on, if any. */
  readonly progress?: (text: string) => void;
  readonly cwd: string;
  /** The file writes of the outputs (a test seam: a full disk); default node:fs. */
  readonly fs?: OutputFs;
}

const USAGE = `usage:
  tracelab run [scenario] [--seed N] [--cpus N] [--out DIR] [--max-steps N]
      runs a scenario (default: ${'`default`'}, a build workload) and writes events.ndjson,
      trace.json (Chrome/Perfetto) and summary.json to DIR (default ./tracelab-out)
  tracelab replay DIR
      folds DIR/events.ndjson again and re-runs its schedule; both must give the logged hash
  tracelab list
      lists the scenarios
${CONVERT_USAGE}
${EXPLORE_USAGE}
${DISTRIBUTED_USAGE}`;

interface RunArgs {
  scenario: string;
  seed: number;
  cpus: number;
  out: string;
  maxSteps: number;
}

function fail(message: string): never {
  throw new TracelabError('INVALID_OPTION', message);
}

function intArg(flag: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined) fail(`${flag} needs a value`);
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function parseRun(argv: readonly string[], cwd: string): RunArgs {
  const args: RunArgs = { scenario: 'default', seed: 1, cpus: 2, out: resolve(cwd, 'tracelab-out'), maxSteps: 50_000_000 };
  let positional = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seed') args.seed = intArg(a, argv[++i], 0, 0xffffffff);
    else if (a === '--cpus') args.cpus = intArg(a, argv[++i], 1, 64);
    else if (a === '--out') args.out = resolve(cwd, argv[++i] ?? fail('--out needs a directory'));
    else if (a === '--max-steps') args.maxSteps = intArg(a, argv[++i], 1, Number.MAX_SAFE_INTEGER);
    else if (a.startsWith('-')) fail(`unknown option ${a}\n${USAGE}`);
    else if (positional++ === 0) args.scenario = a;
    else fail(`unexpected argument ${a}\n${USAGE}`);
  }
  return args;
}

function scenario(name: string): CliScenario {
  const s = scenarios.get(name);
  if (s === undefined) fail(`unknown scenario ${JSON.stringify(name)}; scenarios: ${[...scenarios.keys()].join(', ')}`);
  return s;
}

/** Runs a kernel in slices, drawing progress between them. */
function runWithProgress(kernel: Kernel, maxSteps: number, io: CliIo): number {
  const slice = 20_000;
  let steps = 0;
  for (;;) {
    const r = kernel.run({ maxSteps: Math.min(slice, maxSteps - steps) });
    steps += r.steps;
    if (r.done || r.violations.length > 0 || r.steps === 0 || steps >= maxSteps) break;
    if (io.progress !== undefined) {
      const s = kernel.state.kernel;
      const alive = s.nextPid - 1 - s.tasksReleased;
      const total = Math.max(1, s.nextPid - 1);
      const width = 30;
      const filled = Math.round((width * (total - alive)) / total);
      io.progress(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${steps} steps, ${kernel.log.length} events, ${alive} tasks alive `);
    }
  }
  if (io.progress !== undefined) io.progress('\r' + ' '.repeat(80) + '\r');
  return steps;
}

function writeOutputs(dir: string, kernel: Kernel, summary: RunSummary, fs: OutputFs): void {
  // The log is written in its canonical form: hashing the file gives the run's logHash.
  const lines: string[] = [];
  for (const e of kernel.log) lines.push(canonicalJson(e) + '\n');
  fs.writeFileSync(join(dir, 'events.ndjson'), lines.join(''));
  const trace = toChromeTrace(kernel.log, { metadata: { scenario: summary.scenario, seed: String(summary.seed), logHash: summary.logHash } });
  fs.writeFileSync(join(dir, 'trace.json'), JSON.stringify(trace));
  fs.writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
}

/** The kernel ran to its end: every task exited and nothing halted it. */
function ended(kernel: Kernel): boolean {
  const k = kernel.state.kernel;
  return kernel.violations.length === 0 && k.nextPid - 1 === k.tasksReleased;
}

/**
 * Runs a scenario within `maxSteps` steps in all: the workload, then the end of the session
 * (`finish`) with what is left of the budget. `replay` calls it with the recorded bound, so a
 * cut run is re-run to the same cut.
 */
function runBounded(kernel: Kernel, sc: CliScenario, maxSteps: number, io: CliIo): { steps: number; cut: boolean } {
  let steps = runWithProgress(kernel, maxSteps, io);
  // The end of the session (flushing the ring buffers) is part of the run, and of its schedule.
  if (sc.finish !== undefined && kernel.violations.length === 0 && steps < maxSteps) steps += sc.finish(kernel, maxSteps - steps);
  return { steps, cut: steps >= maxSteps && kernel.violations.length === 0 && !ended(kernel) };
}

function cmdRun(argv: readonly string[], io: CliIo): number {
  const args = parseRun(argv, io.cwd);
  const sc = scenario(args.scenario);
  // A bad --out is refused before the run, so no simulation is thrown away.
  checkOutDir(args.out);
  const kernel = createKernel({ cpus: args.cpus, seed: args.seed, plugins: sc.plugins() });
  sc.setup(kernel);
  const { steps, cut } = runBounded(kernel, sc, args.maxSteps, io);
  const report = sc.report?.(kernel);
  const summary = summarize(kernel, sc.name, steps, report, { maxSteps: args.maxSteps, cut });
  let written: readonly string[] = [];
  let where: string;
  try {
    const w = writeFolder(
      args.out,
      (dir, fs) => {
        writeOutputs(dir, kernel, summary, fs);
        written = sc.outputs?.(kernel, dir) ?? [];
      },
      io.fs,
    );
    where = w.dir;
    io.out(formatSummary(summary, where, report?.lines, written));
    if (w.failure !== null) {
      io.err(`tracelab: could not write ${args.out} (${w.failure}); the run's files are in ${w.dir} instead`);
      return 2;
    }
  } catch (err) {
    if (!(err instanceof TracelabError)) throw err;
    io.out(formatSummary(summary, null, report?.lines, []));
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

function cmdReplay(argv: readonly string[], io: CliIo): number {
  if (argv.length !== 1) fail(`replay takes one directory\n${USAGE}`);
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
  if (typeof summary !== 'object' || summary === null || typeof summary.scenario !== 'string' || typeof summary.schedule !== 'string' || typeof summary.logHash !== 'string') {
    fail(`${summaryPath} is not a tracelab run summary (it needs scenario, schedule and logHash)`);
  }
  const maxSteps = summary.maxSteps ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) fail(`${summaryPath}: maxSteps ${JSON.stringify(summary.maxSteps)} is not a positive integer`);
  const sc = scenario(summary.scenario);
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
    const rerunText = kernel.log.map((e) => canonicalJson(e) + '\n').join('');
    const d = firstDifference(text, rerunText);
    if (d !== null) lines.push(`  first difference at line ${d.line} of ${logPath}:`, `    log     ${d.a}`, `    re-run  ${d.b}`);
  }
  for (const m of disagreements) lines.push(`  MISMATCH ${m}`);
  io.out(lines.join('\n'));
  return ok ? 0 : 1;
}

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
    switch (cmd) {
      case 'run':
        return cmdRun(rest, io);
      case 'replay':
        return rest.filter((a) => a !== '--json').length === 2 ? cmdReplayString(rest, io) : cmdReplay(rest, io);
      case 'explore':
        return isDistributed(rest) ? cmdExploreDistributed(rest, io).catch(failed) : cmdExplore(rest, io);
      case 'worker':
        return cmdWorker(rest, io).catch(failed);
      case 'merge':
        return cmdMerge(rest, io).catch(failed);
      case 'scenarios':
        return cmdScenarios(io);
      case 'convert':
        return cmdConvert(rest, io);
      case 'torture':
        return cmdTorture(rest, io);
      case 'view':
        return cmdView(rest, io);
      case 'litmus':
        return cmdLitmus(rest, io);
      case 'list':
        for (const s of scenarios.values()) io.out(`${s.name.padEnd(12)} ${s.description}`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        io.err(`tracelab: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    return failed(err);
  }
}
