/**
 * What the page carries besides the log: where the log came from, the violations the run
 * reported, and for an explore counterexample its schedule, choice by choice. Plain JSON.
 */

/** One choice of a schedule, and where in the log it was made. */
export interface ScheduleStep {
  readonly kind: 'cpu' | 'preempt' | 'task' | 'fault' | 'memory' | 'irq' | 'nmi' | 'ipi' | 'evict';
  /** How many options there were, and which one was taken. */
  readonly n: number;
  readonly value: number;
  /** The non-preemptive option at this point. */
  readonly dflt: number;
  /** The log length when the choice was made: the events it led to start at this seq. */
  readonly at: number;
  /** `cpu` choices: the eligible CPUs, in option order. */
  readonly cpus?: readonly number[];
  /** A preemption (explore's `isPreemption`: a `preempt` answered yes, or a switch of CPU while the last one could go on). */
  readonly preemption: boolean;
  /** Written in the replay string (false: past its end, where every choice is the default 0). */
  readonly explicit: boolean;
}

export interface ViewerViolation {
  /** The invariant (or liveness monitor) that failed. */
  readonly name: string;
  readonly message: string;
  /** The last event before the check failed, when known. */
  readonly seq: number | null;
}

export interface Counterexample {
  readonly scenario: string;
  readonly variant: string;
  /** What `tracelab replay <scenario> <replay>` takes. */
  readonly replay: string;
  readonly preemptions: number;
  readonly steps: readonly ScheduleStep[];
}

export interface ViewerMeta {
  readonly title: string;
  /** `run` (tracelab run), `explore` (a counterexample), `log` (a bare events.ndjson). */
  readonly source: 'run' | 'explore' | 'log';
  /** The log hash the producer reported; the page recomputes it and says whether they agree. */
  readonly logHash: string | null;
  readonly violations: readonly ViewerViolation[];
  readonly counterexample: Counterexample | null;
  /** The run's summary.json, for counters that live outside the log (probe calls of counting probes). */
  readonly summary: unknown;
}
