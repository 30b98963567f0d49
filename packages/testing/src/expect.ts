import { replaySchedule, TracelabError, type Kernel, type Strategy, type Violation, type WaitingTask } from '@tracelab/core';
import { assert, expect, vi } from 'vitest';
import { firstDifference, problemsOf } from './internal/describe.js';
import { checkFunction, describeValue, invalidOption } from './internal/invalid.js';
import { isKernel, runMade, type Made } from './internal/made.js';

/** What `expectClean` reads of a run's result: `kernel.run()`'s `RunResult` fits. */
export interface CleanResult {
  readonly violations: readonly Violation[];
  readonly done?: boolean;
  readonly waiting?: readonly WaitingTask[];
}

export interface ExpectCleanOptions {
  /**
   * Whether a `result` whose `done` is false fails the check. Default true. Pass false for a
   * run stopped on purpose before the end (`run({ until })`, `maxSteps`), where "clean" means
   * only: no violation and no oops so far.
   */
  readonly requireDone?: boolean;
}

function checkKernel(helper: string, kernel: unknown): asserts kernel is Kernel {
  const k = kernel as Partial<Record<'violations' | 'log', unknown>> | null;
  if (typeof kernel !== 'object' || k === null || !Array.isArray(k.violations) || !Array.isArray(k.log))
    throw invalidOption(helper, `expects a kernel, got ${describeValue(kernel)}`);
}

/**
 * Asserts (with vitest's `expect`) that a kernel's run is clean: no violation (the kernel's,
 * and any other in `result.violations`), no `kernel/oops` in its log, and, when `result` is
 * given, that the run finished (`result.done`; see `options.requireDone`).
 *
 * On failure the message lists every problem: each violation with its invariant, message, seq,
 * tick and the schedule string that replays it (`replaySchedule(schedule)`), each oops with
 * the plugin and code path that died, and for an unfinished run the tasks still waiting and
 * the kernel's schedule string.
 *
 * Throws `INVALID_OPTION` when `kernel` is not a kernel.
 */
export const expectClean = vi.defineHelper(function expectClean(kernel: Kernel, result?: CleanResult, options: ExpectCleanOptions = {}): void {
  checkKernel('expectClean', kernel);
  if (result !== undefined && (typeof result !== 'object' || result === null || !Array.isArray(result.violations)))
    throw invalidOption('expectClean', `result must be what kernel.run() returned ({ violations, done }), got ${describeValue(result)}`);
  const problems = problemsOf(kernel, result, options.requireDone ?? true);
  expect(problems.length, `expectClean: the run is not clean:\n  ${problems.join('\n  ')}\n`).toBe(0);
});

/** What `expectReplayIdentity` hands its `make`: the recorded run's seed, and a strategy replaying its schedule. */
export interface ReplaySetup {
  readonly seed: number;
  readonly strategy: Strategy;
}

export interface ReplayIdentityOptions {
  /** The schedule string to replay. Default: the first violation's, else `kernel.schedule`. */
  readonly schedule?: string;
}

/**
 * Asserts that re-running a recorded run gives the same log: `make` builds the same setup
 * again with `{ seed, strategy: replaySchedule(schedule) }` (the seed from the kernel's log
 * header, the schedule of its first violation, else `kernel.schedule`), and the replayed
 * kernel's `logHash()` must equal the recorded one's, with the same first violation (or none).
 *
 * `make` returns a kernel not yet run, which the kit runs for as many steps as the recorded
 * one ran (`kernel.steps`, minus any its setup already ran), or `{ kernel, result }` when the
 * setup drives the run itself (host calls between runs).
 *
 * A setup that is not deterministic (a host-side counter, a `Map` iterated in insertion order
 * across runs, `Math.random` in a probe) fails with the first event at which the logs differ,
 * or with the core's `SCHEDULE_DIVERGED` when the replayed run no longer fits the schedule.
 *
 * Returns the replayed kernel. Throws `INVALID_OPTION` when `kernel` is not a kernel, `make`
 * not a function or returns neither a kernel nor `{ kernel, result }`.
 */
export const expectReplayIdentity = vi.defineHelper(function expectReplayIdentity(
  kernel: Kernel,
  make: (setup: ReplaySetup) => Made,
  options: ReplayIdentityOptions = {},
): Kernel {
  checkKernel('expectReplayIdentity', kernel);
  checkFunction('expectReplayIdentity', 'make', make);
  const schedule = options.schedule ?? kernel.violations[0]?.schedule ?? kernel.schedule;
  if (typeof schedule !== 'string') throw invalidOption('expectReplayIdentity', `schedule must be a schedule string, got ${describeValue(schedule)}`);
  const seed = kernel.state.kernel.seed;
  const where = `seed ${seed}, replay ${schedule}`;
  const strategy = replaySchedule(schedule); // a malformed string is the caller's: SCHEDULE_INVALID goes on as thrown
  let replayed: Kernel;
  try {
    const made = make({ seed, strategy });
    // A bare kernel runs as many steps as the recorded one did, counting those its setup ran
    // (host calls); a { kernel, result } was driven by the setup and is taken as it is.
    const steps = isKernel(made) ? Math.max(0, kernel.steps - made.steps) : undefined;
    replayed = runMade('expectReplayIdentity', made, steps).kernel;
  } catch (err) {
    if (err instanceof TracelabError && (err.code === 'SCHEDULE_DIVERGED' || err.code === 'SCHEDULE_INVALID'))
      assert.fail(`expectReplayIdentity: the replay (${where}) left the recorded schedule: ${err.message}`);
    throw err;
  }
  const recorded = kernel.logHash();
  const again = replayed.logHash();
  if (again !== recorded) {
    expect(again, `expectReplayIdentity: the replay (${where}) logged something else; ${firstDifference(kernel.log, replayed.log)}\n`).toBe(recorded);
  }
  const first = (v: Violation | undefined) => (v === undefined ? null : { name: v.name, message: v.message });
  expect(first(replayed.violations[0]), `expectReplayIdentity: the replay (${where}) ended with another violation`).toEqual(first(kernel.violations[0]));
  return replayed;
});
