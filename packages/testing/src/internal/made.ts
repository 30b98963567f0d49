import type { Kernel, RunResult } from '@tracelab/core';
import { describeValue, invalidOption } from './invalid.js';

/**
 * What a test's `make` gives the kit: a kernel set up but not run (the kit runs it), or a
 * kernel the test drove itself with the result of its last `run`.
 */
export type Made = Kernel | { readonly kernel: Kernel; readonly result: RunResult };

/** A kernel and the result of its run. */
export interface Ran {
  readonly kernel: Kernel;
  readonly result: RunResult;
}

/** Whether `value` is a kernel (live): what `make` returns when the kit is to run it. */
export function isKernel(value: unknown): value is Kernel {
  if (typeof value !== 'object' || value === null) return false;
  const k = value as Partial<Record<'run' | 'logHash' | 'log', unknown>>;
  return typeof k.run === 'function' && typeof k.logHash === 'function' && Array.isArray(k.log);
}

/**
 * Runs what `make` gave when it is a bare kernel (`maxSteps` if given), or takes the test's
 * own run. Throws `INVALID_OPTION` naming `helper` when `made` is neither.
 */
export function runMade(helper: string, made: unknown, maxSteps: number | undefined): Ran {
  if (isKernel(made)) return { kernel: made, result: made.run(maxSteps === undefined ? {} : { maxSteps }) };
  if (typeof made === 'object' && made !== null && 'kernel' in made && isKernel(made.kernel)) {
    const result = (made as { result?: unknown }).result;
    if (typeof result !== 'object' || result === null || !Array.isArray((result as { violations?: unknown }).violations))
      throw invalidOption(
        helper,
        `make returned { kernel } without the result of its run: return the kernel alone (the kit runs it) or { kernel, result: kernel.run() }`,
      );
    return { kernel: made.kernel, result: result as RunResult };
  }
  throw invalidOption(helper, `make must return a kernel or { kernel, result }, got ${describeValue(made)}`);
}
