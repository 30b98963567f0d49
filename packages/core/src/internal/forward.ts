import { drive, isSchedulingCommand } from '../drive.js';
import type { KPath } from '../paths.js';

export { isSchedulingCommand };

/** A generator object (a kernel path), as opposed to a generator function or anything else. */
export function isGenerator(v: unknown): v is KPath<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { next?: unknown }).next === 'function' && typeof (v as { throw?: unknown }).throw === 'function';
}

/**
 * Drives `gen` from inside another generator: each command it yields is passed up to the
 * runtime, and the runtime's answer (or the error it throws) is passed back down, so `gen`
 * runs exactly as if it were `yield*`-ed. The difference: an exception escaping `gen` goes to
 * `failed`, whose result is returned in its place (or which throws), and `afterScheduling`
 * runs each time `gen` resumes after a scheduling point.
 */
export function forward<T, R>(gen: KPath<T>, failed: (err: unknown) => R, afterScheduling?: () => void): KPath<T | R> {
  return drive(gen, afterScheduling === undefined ? { failed } : { failed, afterScheduling });
}
