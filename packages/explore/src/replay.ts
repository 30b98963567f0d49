import { createKernel, decodeSchedule, replaySchedule, TracelabError, type Kernel, type Violation } from '@tracelab/core';
import { defaultScale, variantOf, type Scenario } from './scenario.js';
import { EXPLORE_KERNEL_SEED } from './internal/run.js';

/**
 * A replay string names one run of a scenario: `<variant>[@<scale>]:<schedule>`, where the
 * schedule is the core's string (`S1:...`) and `@<scale>` appears only when shrinking turned
 * the scenario's scale knob below its default. Example: `no-recopy@1:S1:0{6}10{4}1`.
 */
export interface ReplayTarget {
  readonly variant: string;
  readonly scale: number;
  readonly schedule: string;
}

const FORMAT = /^([a-z0-9][a-z0-9-]*)(?:@(\d+))?:(S1:.*)$/;

export function encodeReplay(scenario: Scenario, t: ReplayTarget): string {
  const scale = t.scale === defaultScale(scenario) ? '' : `@${t.scale}`;
  return `${t.variant}${scale}:${t.schedule}`;
}

export function decodeReplay(scenario: Scenario, s: string): ReplayTarget {
  const m = FORMAT.exec(typeof s === 'string' ? s.trim() : '');
  if (m === null) {
    throw new TracelabError('SCHEDULE_INVALID', `replay string ${JSON.stringify(s)} is not <variant>[@<scale>]:S1:<choices> (tracelab explore prints one)`);
  }
  const variant = m[1]!;
  variantOf(scenario, variant);
  const scale = m[2] === undefined ? defaultScale(scenario) : Number(m[2]);
  if (scenario.scale !== undefined && (scale < scenario.scale.min || !Number.isSafeInteger(scale))) {
    throw new TracelabError('SCHEDULE_INVALID', `replay string: scale ${scale} is below scenario ${scenario.name}'s minimum ${scenario.scale.min}`);
  }
  decodeSchedule(m[3]!);
  return { variant, scale, schedule: m[3]! };
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
 * exploration built, the same choices, hence the same log and `logHash()`.
 */
export function replay(scenario: Scenario, replayString: string): ReplayResult {
  const t = decodeReplay(scenario, replayString);
  const kernel = createKernel({ cpus: scenario.cpus, seed: EXPLORE_KERNEL_SEED, plugins: scenario.plugins(t.variant), strategy: replaySchedule(t.schedule) });
  scenario.setup(kernel, { variant: t.variant, scale: t.scale });
  const r = kernel.run({ maxSteps: scenario.maxSteps });
  return { kernel, violation: r.violations[0] ?? null, steps: r.steps, done: r.done, logHash: kernel.logHash() };
}
