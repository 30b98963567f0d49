import { createKernel, encodeSchedule, parseSchedule, replaySchedule, TracelabError, type Kernel, type ScheduleInfo, type Violation } from '@tracelab/core';
import { defaultScale, scenarioKernelOptions, variantOf, type Scenario } from './scenario.js';

/**
 * A replay string names one run of a scenario: `<variant>[@<scale>]:<schedule>`, where the
 * schedule is the core's string (`S2:<choices>.<steps>:<body>:<check>`) whose checksum also
 * covers the scenario, the variant and the scale (`replayContext`), and `@<scale>` appears
 * only when it differs from the scenario's default. Example: `no-recopy@1:S2:4.11:1011:0abcdef`.
 */
export interface ReplayTarget {
  readonly variant: string;
  readonly scale: number;
  readonly schedule: string;
}

const FORMAT = /^([a-z0-9][a-z0-9-]*)(?:@(\d+))?:(S\d+:.*)$/;

/** What a replay string's checksum covers besides the schedule: `<scenario>/<variant>@<scale>`. */
export function replayContext(scenario: Scenario, variant: string, scale: number): string {
  return `${scenario.name}/${variant}@${scale}`;
}

/** The largest scale a replay string or an exploration may ask for. */
export function maxScale(scenario: Scenario): number {
  const s = scenario.scale;
  if (s === undefined) return 0;
  return s.max ?? Math.max(64, 16 * s.default);
}

/** The replay string of a run: its choices (trailing zeros cut) and steps, checksummed for the target. */
export function replayString(scenario: Scenario, variant: string, scale: number, choices: readonly number[], steps: number): string {
  return encodeReplay(scenario, { variant, scale, schedule: encodeSchedule(choices, { steps, context: replayContext(scenario, variant, scale) }) });
}

export function encodeReplay(scenario: Scenario, t: ReplayTarget): string {
  const scale = t.scale === defaultScale(scenario) ? '' : `@${t.scale}`;
  return `${t.variant}${scale}:${t.schedule}`;
}

/** A checked replay string: the target and its schedule, still compressed. */
export interface DecodedReplay extends ReplayTarget {
  readonly info: ScheduleInfo;
}

/**
 * Checks a replay string for `scenario`: its shape, the variant, the scale within
 * [min, maxScale], the schedule (`parseSchedule`: counts, bounds, checksum over this scenario,
 * variant and scale). Bad input throws `SCHEDULE_INVALID` (or `SCHEDULE_VERSION` for an S1
 * string, `INVALID_OPTION` for an unknown variant) naming what is wrong; with a position, it
 * counts from the start of the whole replay string.
 */
export function decodeReplay(scenario: Scenario, s: string): DecodedReplay {
  const text = typeof s === 'string' ? s.trim() : '';
  const m = FORMAT.exec(text);
  if (m === null) {
    throw new TracelabError(
      'SCHEDULE_INVALID',
      `replay string ${JSON.stringify(s)} is not <variant>[@<scale>]:S2:<choices>.<steps>:<body>:<check> (tracelab explore prints one)`,
    );
  }
  const variant = m[1]!;
  variantOf(scenario, variant);
  const scale = m[2] === undefined ? defaultScale(scenario) : Number(m[2]);
  if (scenario.scale === undefined) {
    if (m[2] !== undefined)
      throw new TracelabError('SCHEDULE_INVALID', `replay string: scenario ${scenario.name} has no scale knob, but the string asks for @${m[2]}`);
  } else if (!Number.isSafeInteger(scale) || scale < scenario.scale.min || scale > maxScale(scenario)) {
    throw new TracelabError(
      'SCHEDULE_INVALID',
      `replay string: scale ${m[2]} is outside scenario ${scenario.name}'s range ${scenario.scale.min}..${maxScale(scenario)} (${scenario.scale.name}); it is below the minimum or above the maximum`,
      { scale: m[2] },
    );
  }
  const offset = text.length - m[3]!.length;
  let info: ScheduleInfo;
  try {
    info = parseSchedule(m[3]!, { context: replayContext(scenario, variant, scale) });
  } catch (err) {
    if (err instanceof TracelabError && typeof err.detail['position'] === 'number') {
      const p = err.detail['position'] + offset;
      throw new TracelabError(
        err.code,
        `replay string: ${err.message.replace(/at character \d+$/, `at character ${p}`)}`,
        { ...err.detail, position: p },
        { cause: err },
      );
    }
    throw err;
  }
  if (info.steps > scenario.maxSteps) {
    throw new TracelabError(
      'SCHEDULE_INVALID',
      `replay string: it records ${info.steps} steps, past scenario ${scenario.name}'s limit of ${scenario.maxSteps}`,
      { steps: info.steps },
    );
  }
  return { variant, scale, schedule: m[3]!, info };
}

export interface ReplayResult {
  readonly kernel: Kernel;
  readonly violation: Violation | null;
  readonly steps: number;
  readonly done: boolean;
  readonly logHash: string;
}

/**
 * Re-runs one schedule of a scenario with the core's `replaySchedule`: the same kernel the
 * exploration built, the same choices, hence the same log and `logHash()`. The run is bounded
 * by the steps the string records; a re-run that ends at another step count is not the
 * recorded run and throws `SCHEDULE_DIVERGED` (another scenario, stack or kernel version).
 */
export function replay(scenario: Scenario, replayString: string): ReplayResult {
  const t = decodeReplay(scenario, replayString);
  const kernel = createKernel(scenarioKernelOptions(scenario, t.variant, replaySchedule(t.schedule, { context: replayContext(scenario, t.variant, t.scale) })));
  scenario.setup(kernel, { variant: t.variant, scale: t.scale });
  const r = kernel.run({ maxSteps: t.info.steps });
  if (r.steps !== t.info.steps) {
    throw new TracelabError(
      'SCHEDULE_DIVERGED',
      `replay: the string records a run of ${t.info.steps} steps, but the re-run ${r.done ? 'ended' : 'stopped'} after ${r.steps}${r.violations[0] ? ` (${r.violations[0].name})` : ''}: it was recorded on another version of scenario ${scenario.name}, its stack or the kernel`,
      { recorded: t.info.steps, steps: r.steps },
    );
  }
  return { kernel, violation: r.violations[0] ?? null, steps: r.steps, done: r.done, logHash: kernel.logHash() };
}
