import { decodeSchedule } from '@tracelab/core';
import { decodeReplay, isPreemption, lenientReplay, runSchedule, type Scenario } from '@tracelab/explore';
import type { Counterexample, ViewerViolation } from './meta.js';

export interface CounterexampleView {
  readonly counterexample: Counterexample;
  /** The violation the re-run ends with (null: the schedule runs clean). */
  readonly violation: ViewerViolation | null;
  /** The re-run's log hash: compare it with the log the page carries before using the steps. */
  readonly logHash: string;
}

/**
 * A counterexample's schedule, choice by choice, with the log position each choice was made
 * at: the scenario is re-run from the replay string (`<variant>[@<scale>]:S1:...`) with a
 * recording chooser, as the explorer ran it. Throws `SCHEDULE_INVALID` for a malformed string
 * and `INVALID_OPTION` for an unknown variant (from @tracelab/explore).
 */
export function counterexampleOf(scenario: Scenario, replay: string): CounterexampleView {
  const t = decodeReplay(scenario, replay);
  const values = decodeSchedule(t.schedule);
  const run = runSchedule(scenario, t.variant, t.scale, lenientReplay(values));
  const steps = run.choices.map((c, i) => ({
    kind: c.kind,
    n: c.n,
    value: c.value,
    dflt: c.dflt,
    at: c.logAt,
    ...(c.cpus !== undefined ? { cpus: c.cpus } : {}),
    preemption: isPreemption(c),
    explicit: i < values.length,
  }));
  const v = run.violation;
  return {
    counterexample: { scenario: scenario.name, variant: t.variant, replay, preemptions: steps.filter((s) => s.preemption).length, steps },
    violation: v === null ? null : { name: v.name, message: v.message, seq: v.seq },
    logHash: run.kernel.logHash(),
  };
}
