import type { Command, KPath } from '../paths.js';

const SCHEDULING: ReadonlySet<string> = new Set(['point', 'switch', 'spin']);

/** A generator object (a kernel path), as opposed to a generator function or anything else. */
export function isGenerator(v: unknown): v is KPath<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { next?: unknown }).next === 'function' && typeof (v as { throw?: unknown }).throw === 'function';
}

export function isSchedulingCommand(cmd: Command): boolean {
  return SCHEDULING.has(cmd.op);
}

/**
 * Drives `gen` from inside another generator: each command it yields is passed up to the
 * runtime, and the runtime's answer (or the error it throws) is passed back down, so `gen`
 * runs exactly as if it were `yield*`-ed. The difference: an exception escaping `gen` goes to
 * `failed`, whose result is returned in its place (or which throws), and `afterScheduling`
 * runs each time `gen` resumes after a scheduling point.
 */
export function* forward<T, R>(gen: KPath<T>, failed: (err: unknown) => R, afterScheduling?: () => void): KPath<T | R> {
  let input: unknown;
  let error: unknown;
  let throwing = false;
  for (;;) {
    let r: IteratorResult<Command, T>;
    try {
      r = throwing ? gen.throw(error) : gen.next(input);
    } catch (err) {
      return failed(err);
    }
    if (r.done === true) return r.value;
    try {
      input = yield r.value;
      throwing = false;
    } catch (err) {
      error = err;
      throwing = true;
    }
    if (afterScheduling !== undefined && isSchedulingCommand(r.value)) afterScheduling();
  }
}
