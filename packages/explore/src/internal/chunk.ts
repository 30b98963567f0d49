import type { Scenario } from '../scenario.js';
import { TracelabError, type FootprintSink } from '@tracelab/core';
import { replay, replayString } from '../replay.js';
import { KernelPool, isFailure, runSchedule, trimmed, type Picker } from './run.js';
import { indexedPicker, type IndexedStrategy } from './strategies.js';
import { racesOf } from './footprint.js';

/** Everything a thread needs to run schedules `start..end-1` of an exploration. */
export interface ChunkJob {
  readonly variant: string;
  readonly scale: number;
  readonly strategy: IndexedStrategy;
  readonly seed: number;
  /** PCT's number of decision steps (from the calibration run). */
  readonly k: number;
  /** Re-run every n-th schedule and compare log hashes (0: never). */
  readonly selfCheckEvery: number;
  /** Collect the races each schedule meets (`racesOf`). Default false. */
  readonly coverage?: boolean;
}

export interface ChunkResult {
  readonly start: number;
  /** Schedules run (up to and including a failure). */
  readonly schedules: number;
  readonly steps: number;
  /** The first failing schedule of the chunk, if any. */
  readonly fail: null | { readonly index: number; readonly invariant: string; readonly label: string };
  readonly selfChecks: number;
  /** Liveness alarms dropped because the schedule starved a CPU (see `isFailure`). */
  readonly unfair: number;
  /**
   * Runs cut at the scenario's `maxSteps` with no violation (`RunOutcome.done` false). Absent in
   * a result written before it was counted (an older shard file): read as 0.
   */
  readonly cut?: number;
  /** Schedules whose re-run gave another log hash: the scenario is not deterministic. */
  readonly mismatches: readonly number[];
  /** With `coverage`: the race keys the chunk's schedules met (`racesOf`), each once. */
  readonly races?: readonly string[];
}

/**
 * Runs one schedule, and runs it again for the determinism self-check when its number is sampled
 * (`selfCheckEvery`). Every schedule a search runs on this thread goes through it, so a CPU
 * profile shows it around every run: its inclusive time is the runs', not the check's.
 */
export function runSelfChecked(
  scenario: Scenario,
  job: ChunkJob,
  picker: Picker,
  index: number,
  pool?: KernelPool,
  footprints?: FootprintSink,
  fromStep = 0,
): { outcome: ReturnType<typeof runSchedule>; checked: boolean; ok: boolean } {
  const outcome = runSchedule(scenario, job.variant, job.scale, picker, pool, footprints, fromStep);
  if (job.selfCheckEvery <= 0 || index % job.selfCheckEvery !== 0) return { outcome, checked: false, ok: true };
  let hash: string;
  try {
    hash = replay(scenario, replayString(scenario, job.variant, job.scale, trimmed(outcome.choices.map((c) => c.value)), outcome.steps)).logHash;
  } catch (err) {
    // A re-run that diverges (another choice count or step count) is a mismatch like another hash.
    if (err instanceof TracelabError && err.code === 'SCHEDULE_DIVERGED') return { outcome, checked: true, ok: false };
    throw err;
  }
  return { outcome, checked: true, ok: hash === outcome.kernel.logHash() };
}

/** Runs schedules `start..end-1`, stopping at the first failure. */
/** This thread's kernels, reset between the schedules of every chunk it runs (the loop keeps no outcome). */
const pool = new KernelPool();

export function runChunk(scenario: Scenario, job: ChunkJob, start: number, end: number): ChunkResult {
  let steps = 0;
  let selfChecks = 0;
  let unfair = 0;
  let cut = 0;
  const mismatches: number[] = [];
  // guarded by: this call (one chunk, one thread)
  const races = job.coverage === true ? new Set<string>() : null;
  const withRaces = (r: Omit<ChunkResult, 'races'>): ChunkResult => (races === null ? r : { ...r, races: [...races] });
  for (let i = start; i < end; i++) {
    const { picker, label } = indexedPicker(job.strategy, job.seed, i, job.k);
    const { outcome, checked, ok } = runSelfChecked(scenario, job, picker, i, pool);
    steps += outcome.steps;
    if (checked) selfChecks++;
    if (!ok) mismatches.push(i);
    if (races !== null) for (const r of racesOf(outcome.kernel.log)) races.add(r);
    if (isFailure(outcome)) {
      return withRaces({
        start,
        schedules: i - start + 1,
        steps,
        fail: { index: i, invariant: outcome.violation!.name, label },
        selfChecks,
        unfair,
        cut,
        mismatches,
      });
    }
    if (outcome.violation !== null) unfair++;
    else if (!outcome.done) cut++;
  }
  return withRaces({ start, schedules: end - start, steps, fail: null, selfChecks, unfair, cut, mismatches });
}
