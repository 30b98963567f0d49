import { TracelabError } from '@tracelab/core';

/** What a value is, for a message: `null`, `an array`, `a string ("x")`, `a number (NaN)`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value)})`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `a ${typeof value} (${String(value)})`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    default:
      return `an ${typeof value}`;
  }
}

/** The kit's one error for bad input: `INVALID_OPTION`, the helper named first. */
export function invalidOption(helper: string, message: string, detail: Record<string, unknown> = {}): TracelabError {
  return new TracelabError('INVALID_OPTION', `${helper}: ${message}`, { helper, ...detail });
}

/** A non-negative integer count of seeds (or runs). */
export function checkCount(helper: string, what: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw invalidOption(helper, `${what} must be a non-negative integer, got ${describeValue(n)}`);
  return n;
}

/** A seed as `createKernel` takes it: an integer in 0..2^32-1. */
export function checkSeed(helper: string, what: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw invalidOption(helper, `${what} must be an integer seed in 0..4294967295, got ${describeValue(seed)}`);
  return seed;
}

export function checkFunction(helper: string, what: string, fn: unknown): void {
  if (typeof fn !== 'function') throw invalidOption(helper, `${what} must be a function, got ${describeValue(fn)}`);
}
