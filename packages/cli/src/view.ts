import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { catalog } from '@tracelab/scenarios';
import { counterexampleOf, loadLog, renderViewer, viewerBundle, type CounterexampleView, type LoadedLog, type ViewerMeta } from '@tracelab/viewer';

/** The usage lines of `tracelab view`. */
export const VIEW_USAGE = `  tracelab view <run-dir|explore-dir> [--out FILE]
      writes one self-contained HTML page (default DIR/report.html) that replays the folder's
      events.ndjson in the browser: a lane per CPU, the events (filterable), the state at any
      event and what it changed, violations, plots, and for an explore counterexample a
      stepper over its schedule; opens from disk, fetches nothing`;

function usage(message: string): never {
  throw new TracelabError('INVALID_OPTION', `${message}\nusage:\n${VIEW_USAGE}`);
}

function readJson(path: string): unknown {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    usage(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

interface RunSummaryJson {
  readonly scenario?: string;
  readonly seed?: number;
  readonly cpus?: number;
  readonly logHash?: string;
  readonly violations?: ReadonlyArray<{ readonly name: string; readonly message: string }>;
}

/** What `tracelab explore` leaves in trace.json's otherData about its counterexample. */
interface ExploreMetadata {
  readonly scenario?: string;
  readonly variant?: string;
  readonly replay?: string;
  readonly logHash?: string;
}

/**
 * The counterexample of an explore folder, from its replay string. Null (and a warning) when
 * the scenario is unknown or the re-run does not give this very log, so the stepper never
 * shows positions of another run.
 */
function counterexampleFor(x: ExploreMetadata, fileHash: string, io: { err(text: string): void }): CounterexampleView | null {
  const sc = x.scenario === undefined ? undefined : catalog.get(x.scenario);
  if (sc === undefined || x.replay === undefined) {
    io.err(`tracelab view: warning: trace.json names scenario ${JSON.stringify(x.scenario)}, which the catalog does not have: no schedule stepper`);
    return null;
  }
  const found = counterexampleOf(sc, x.replay);
  if (found.logHash !== fileHash) {
    io.err(`tracelab view: warning: re-running ${x.replay} does not give this events.ndjson (another version of the scenario?): no schedule stepper`);
    return null;
  }
  return found;
}

function metaOf(dir: string, loaded: LoadedLog, fileHash: string, io: { err(text: string): void }): ViewerMeta {
  const summary = readJson(join(dir, 'summary.json')) as RunSummaryJson | null;
  if (summary !== null) {
    // `tracelab run` stops at the first violation, so the log ends with the step that broke it.
    const last = loaded.events.length - 1;
    return {
      title: `tracelab run ${summary.scenario ?? '?'} (seed ${summary.seed ?? '?'}, ${summary.cpus ?? '?'} CPUs)`,
      source: 'run',
      logHash: summary.logHash ?? null,
      violations: (summary.violations ?? []).map((v) => ({ name: v.name, message: v.message, seq: last })),
      counterexample: null,
      summary,
    };
  }
  const trace = readJson(join(dir, 'trace.json')) as { otherData?: ExploreMetadata } | null;
  const x = trace?.otherData;
  if (x?.replay !== undefined && x.scenario !== undefined) {
    const found = loaded.error === null ? counterexampleFor(x, fileHash, io) : null;
    return {
      title: `tracelab explore ${x.scenario} --variant ${x.variant ?? '?'}: counterexample`,
      source: 'explore',
      logHash: x.logHash ?? null,
      violations: found === null || found.violation === null ? [] : [found.violation],
      counterexample: found?.counterexample ?? null,
      summary: null,
    };
  }
  return { title: `tracelab log ${dir}`, source: 'log', logHash: null, violations: [], counterexample: null, summary: null };
}

/**
 * `tracelab view`: the viewer page of a run folder (`tracelab run`) or a counterexample folder
 * (`tracelab explore`). Returns 0; 1 when the log is damaged (the page is still written and
 * shows the error and every event before it); throws `INVALID_OPTION` (exit 2) on bad usage
 * or a folder without events.ndjson.
 */
export function cmdView(argv: readonly string[], io: { out(text: string): void; err(text: string): void; readonly cwd: string }): number {
  let dirArg: string | undefined;
  let outArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') outArg = argv[++i] ?? usage('--out needs a file name');
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (dirArg === undefined) dirArg = a;
    else usage(`unexpected argument ${a}: view takes one folder`);
  }
  if (dirArg === undefined) usage('view needs a run or explore folder');
  const dir = resolve(io.cwd, dirArg);
  const logPath = join(dir, 'events.ndjson');
  if (!existsSync(logPath)) usage(`${logPath} does not exist (make one with \`tracelab run --out ${dirArg}\` or \`tracelab explore ... --out ${dirArg}\`)`);
  const out = outArg === undefined ? join(dir, 'report.html') : resolve(io.cwd, outArg);
  const log = readFileSync(logPath, 'utf8');
  const fileHash = createHash('sha256').update(log).digest('hex');
  // Folded here as in the page: the command reports the damage the page will show.
  const loaded = loadLog(log);
  const meta = metaOf(dir, loaded, fileHash, io);
  const html = renderViewer({ log, meta });
  writeFileSync(out, html);
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const bytes = Buffer.byteLength(html);
  io.out(
    `wrote ${out} (${loaded.events.length} events; ${kib(bytes)} for a log of ${kib(Buffer.byteLength(log))}: the log is inlined compressed, beside the viewer's ${kib(Buffer.byteLength(viewerBundle()))} script)${meta.counterexample !== null ? `; counterexample ${meta.counterexample.replay}: ${meta.counterexample.steps.length} choices, ${meta.counterexample.preemptions} preemption(s)` : ''}`,
  );
  if (loaded.error !== null) {
    io.err(
      `tracelab: ${loaded.error.code}: ${logPath}: ${loaded.error.message} (the page shows the ${loaded.events.length} events before line ${loaded.error.line})`,
    );
    return 1;
  }
  return 0;
}
