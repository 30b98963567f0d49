import { join } from 'node:path';
import { logToNdjson, type KernelEvent } from '@tracelab/core';
import { defaultScale, defaultVariant, formatTrace, randomWalk, replayString, runSchedule, scheduleSeed, variantOf, type Scenario } from '@tracelab/explore';
import { toChromeTrace } from '@tracelab/formats';
import type { CliIo } from './cli.js';
import { failureCtf, type CtfOutput } from './explore.js';
import { checkOutDir, writeFolder, type OutputFs } from './internal/out-dir.js';

/**
 * The preemption probability of `tracelab run <scenario>`'s one schedule: the lowest of the
 * random walks explore's portfolio draws, so a run looks like a plausible execution rather than
 * a storm of preemptions. Exploring is `tracelab explore`'s job.
 */
export const RUN_PREEMPT_P = 0.05;

/** What `tracelab run <scenario>` was asked. */
export interface ScenarioRunArgs {
  /** The scenario as the user named it (a catalog name or `file.mjs#export`), for the hints printed. */
  readonly label: string;
  readonly variant: string | undefined;
  readonly seed: number;
  readonly out: string;
  readonly json: boolean;
}

/** summary.json of a scenario run: enough to replay it and to see what it found. */
export interface ScenarioRunSummary {
  readonly scenario: string;
  readonly variant: string;
  readonly safe: boolean;
  readonly seed: number;
  readonly cpus: number;
  readonly steps: number;
  /** Every task exited and the drain after the last ended; false with no violation: the scenario's maxSteps cut the run. */
  readonly done: boolean;
  readonly events: number;
  readonly logHash: string;
  readonly violation: { readonly name: string; readonly message: string } | null;
  /** `tracelab replay <scenario> <replay>` runs this schedule again, exactly. */
  readonly replay: string;
}

/**
 * `tracelab run <scenario>` for a catalog scenario or a scenario module of the user's own (the
 * one `Scenario` type explore and replay take): one schedule of the variant (default: `fixed`),
 * a random walk seeded by `--seed`, the scenario's own CPU count. Writes events.ndjson,
 * trace.json, summary.json (with the replay string) and, when the stack has the ring buffer,
 * ctf/. Exit 1 when the schedule violated an invariant, 2 when the files could not be written.
 */
export function runScenario(sc: Scenario, args: ScenarioRunArgs, io: CliIo): number {
  const variant = args.variant ?? defaultVariant(sc);
  const v = variantOf(sc, variant);
  checkOutDir(args.out);
  const scale = defaultScale(sc);
  const outcome = runSchedule(sc, variant, scale, randomWalk(scheduleSeed(args.seed, 0), RUN_PREEMPT_P));
  const { kernel } = outcome;
  const replay = replayString(
    sc,
    variant,
    scale,
    outcome.choices.map((c) => c.value),
    outcome.steps,
  );
  const summary: ScenarioRunSummary = {
    scenario: sc.name,
    variant,
    safe: v.safe,
    seed: args.seed,
    cpus: sc.cpus,
    steps: outcome.steps,
    done: outcome.done,
    events: kernel.log.length,
    logHash: kernel.logHash(),
    violation: outcome.violation === null ? null : { name: outcome.violation.name, message: outcome.violation.message },
    replay,
  };
  const made: { ctf: CtfOutput | null } = { ctf: null };
  const w = writeFolder(
    args.out,
    (dir, fs) => {
      writeScenarioRun(dir, kernel.log, summary, fs);
      made.ctf = failureCtf(sc, replay, join(dir, 'ctf'));
    },
    io.fs,
  );
  const files = ['events.ndjson', 'trace.json', 'summary.json', ...(made.ctf !== null ? made.ctf.files.map((f) => join('ctf', f)) : [])];
  if (args.json) io.out(JSON.stringify({ ...summary, out: w.dir, files }, null, 2));
  else io.out(formatScenarioRun(sc, args.label, summary, formatTrace(kernel.log, sc.cpus), w.dir, files));
  if (w.failure !== null) {
    io.err(`tracelab: could not write ${args.out} (${w.failure}); the run's files are in ${w.dir} instead`);
    return 2;
  }
  return summary.violation === null ? 0 : 1;
}

function writeScenarioRun(dir: string, log: readonly KernelEvent[], summary: ScenarioRunSummary, fs: OutputFs): void {
  fs.writeFileSync(join(dir, 'events.ndjson'), logToNdjson(log));
  const meta = { scenario: summary.scenario, variant: summary.variant, replay: summary.replay, logHash: summary.logHash };
  fs.writeFileSync(join(dir, 'trace.json'), JSON.stringify(toChromeTrace(log, { metadata: meta })));
  fs.writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
}

function formatScenarioRun(sc: Scenario, label: string, s: ScenarioRunSummary, trace: string, dir: string, files: readonly string[]): string {
  const verdict =
    s.violation !== null
      ? `VIOLATION ${s.violation.name}: ${s.violation.message}`
      : s.done
        ? `no violation in this schedule (every task exited)${s.safe ? '' : `; ${s.variant} is unsafe: tracelab explore ${label} --variant ${s.variant} searches for its race`}`
        : `no violation before the scenario's maxSteps (${sc.maxSteps}) cut the run`;
  return [
    `tracelab run ${label} --variant ${s.variant} --seed ${s.seed}: one schedule (a random walk), ${s.cpus} CPUs`,
    trace,
    `  ${verdict}`,
    `  steps ${s.steps}, events ${s.events}, log hash ${s.logHash}`,
    `  replay         tracelab replay ${label} '${s.replay}'`,
    `  wrote          ${files.map((f) => join(dir, f)).join(', ')}`,
  ].join('\n');
}
