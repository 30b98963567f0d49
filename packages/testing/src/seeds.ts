import type { Kernel, RunResult, Violation } from '@tracelab/core';
import { assert, vi } from 'vitest';
import { describeViolation } from './internal/describe.js';
import { checkCount, checkFunction, checkSeed, describeValue, invalidOption } from './internal/invalid.js';
import { runMade, type Made, type Ran } from './internal/made.js';
import { expectClean } from './expect.js';

export type { Made, Ran } from './internal/made.js';

/**
 * The seeds `from`, `from + 1`, ..., `from + n - 1`: `seeds(3)` is `[1, 2, 3]`,
 * `seeds(2, 10)` is `[10, 11]`.
 *
 * Throws `INVALID_OPTION` when `n` is not a non-negative integer or a seed of the range is
 * not one `createKernel` takes (an integer in 0..2^32-1).
 */
export function seeds(n: number, from = 1): number[] {
  checkCount('seeds', 'n', n);
  checkSeed('seeds', 'from', from);
  if (n > 0) checkSeed('seeds', `the last seed (from + n - 1)`, from + n - 1);
  return Array.from({ length: n }, (_, i) => i + from);
}

/** Which seeds to run: a count (`seeds(n, from)`) or the seeds themselves. */
export type SeedSet = number | readonly number[];

export interface SeedRunOptions {
  /** With a count, the first seed. Default 1. */
  readonly from?: number;
  /** Passed to `kernel.run` when `make` returns a bare kernel. Default: the core's (10,000,000). */
  readonly maxSteps?: number;
}

function seedList(helper: string, set: SeedSet, options: SeedRunOptions): readonly number[] {
  if (typeof options !== 'object' || options === null) throw invalidOption(helper, `options must be an object, got ${describeValue(options)}`);
  for (const key of Object.keys(options))
    if (key !== 'from' && key !== 'maxSteps') throw invalidOption(helper, `unknown option "${key}" (options: from, maxSteps)`, { key });
  if (options.maxSteps !== undefined) checkCount(helper, 'maxSteps', options.maxSteps);
  if (typeof set === 'number') return seeds(set, options.from ?? 1);
  if (!Array.isArray(set)) throw invalidOption(helper, `seeds must be a count or an array of seeds, got ${describeValue(set)}`);
  if (options.from !== undefined) throw invalidOption(helper, 'from goes with a count of seeds, not with an array of them');
  set.forEach((s, i) => checkSeed(helper, `seeds[${i}]`, s));
  return set;
}

/** What `overSeeds`' check gets for each seed. */
export type SeedCheck = (kernel: Kernel, result: RunResult, seed: number) => void;

/**
 * Runs `make(seed)` for each seed and `check(kernel, result, seed)` on its run; by default the
 * check is `expectClean(kernel, result)`, so `overSeeds(40, (seed) => race(seed))` asserts the
 * setup is clean over seeds 1..40.
 *
 * `make` returns a kernel not yet run (the kit runs it, with `options.maxSteps`) or
 * `{ kernel, result }` for a run it drove itself. When `make` or `check` throws, the error goes
 * on with `seed S (replay: <schedule string>): ` put before its message, so the failing run
 * can be re-run alone (`replaySchedule(schedule)` with seed S). Seeds after a failure are not run.
 *
 * Throws `INVALID_OPTION` for a bad seed set or options, a `make` or `check` that is not a
 * function, or a `make` that returns neither a kernel nor `{ kernel, result }`.
 */
export function overSeeds(set: SeedSet, make: (seed: number) => Made, check: SeedCheck = (k, r) => expectClean(k, r), options: SeedRunOptions = {}): void {
  const list = seedList('overSeeds', set, options);
  checkFunction('overSeeds', 'make', make);
  checkFunction('overSeeds', 'check', check);
  for (const seed of list) {
    let ran: Ran | undefined;
    try {
      ran = runMade('overSeeds', make(seed), options.maxSteps);
      check(ran.kernel, ran.result, seed);
    } catch (err) {
      if (err instanceof Error) {
        const where = ran === undefined ? `seed ${seed} (making or running its kernel): ` : `seed ${seed} (replay: ${ran.kernel.schedule}): `;
        err.message = where + err.message;
      }
      throw err;
    }
  }
}

/** What `findUnsafe` found: the first seed whose run violated, with that run. */
export interface UnsafeRun extends Ran {
  readonly seed: number;
  /** The run's first violation: `violation.schedule` replays it (see `expectReplayIdentity`). */
  readonly violation: Violation;
  /** How many seeds ran, the found one included. */
  readonly tried: number;
}

function matches(expected: string | RegExp, name: string): boolean {
  return typeof expected === 'string' ? name === expected : expected.test(name);
}

/**
 * Runs `make(seed)` over the seeds until one's run ends in a violation, and returns that run:
 * `{ seed, violation, kernel, result, tried }`. The test of an unsafe variant:
 * `const { violation } = findUnsafe(200, (seed) => race(seed, { forkRecopy: false }), 'ktrace/flag')`.
 *
 * `expectInvariant` (an invariant name, or a RegExp on it) is the violation the variant must
 * show; a seed that violates another invariant fails the test at once, naming both. Without
 * it, any violation is taken. It fails (vitest assertion) when no seed violates, saying how many
 * runs ended clean, unfinished or with an oops.
 *
 * Throws `INVALID_OPTION` for a bad seed set or options, a `make` that is not a function or
 * returns neither a kernel nor `{ kernel, result }`, or an `expectInvariant` that is neither a
 * string nor a RegExp.
 */
export const findUnsafe = vi.defineHelper(function findUnsafe(
  set: SeedSet,
  make: (seed: number) => Made,
  expectInvariant?: string | RegExp,
  options: SeedRunOptions = {},
): UnsafeRun {
  const list = seedList('findUnsafe', set, options);
  checkFunction('findUnsafe', 'make', make);
  if (expectInvariant !== undefined && typeof expectInvariant !== 'string' && !(expectInvariant instanceof RegExp))
    throw invalidOption('findUnsafe', `expectInvariant must be an invariant name or a RegExp, got ${describeValue(expectInvariant)}`);
  const wanted = expectInvariant === undefined ? 'any invariant' : String(expectInvariant);
  let clean = 0;
  let unfinished = 0;
  let oopsed = 0;
  let tried = 0;
  for (const seed of list) {
    tried++;
    const { kernel, result } = runMade('findUnsafe', make(seed), options.maxSteps);
    const violation = kernel.violations[0] ?? result.violations[0];
    if (violation !== undefined) {
      if (expectInvariant !== undefined && !matches(expectInvariant, violation.name))
        assert.fail(`findUnsafe: seed ${seed} violated ${violation.name}, not ${wanted}:\n  ${describeViolation(violation)}\n`);
      return { seed, violation, kernel, result, tried };
    }
    if (kernel.log.some((e) => e.type === 'kernel/oops')) oopsed++;
    else if (!result.done) unfinished++;
    else clean++;
  }
  const range = typeof set === 'number' ? `seeds ${options.from ?? 1}..${(options.from ?? 1) + set - 1}` : `seeds [${list.join(', ')}]`;
  return assert.fail(
    `findUnsafe: no run violated ${wanted} in ${range} (${tried} runs: ${clean} finished clean, ${unfinished} stopped unfinished, ${oopsed} with an oops); the variant looks safe on these seeds`,
  );
});
