import type { Command, KPath } from '@tracelab/core';

/**
 * Drives the rest of a callback's generator, whose first `next()` gave `first` (not done),
 * from inside the pass: each command is passed up to the runtime and its answer, or the error
 * it throws, passed back down, exactly as `yield*` would. Returns what the generator returns.
 */
export function* driveRest<T>(gen: KPath<T>, first: IteratorResult<Command, T>): KPath<T> {
  let r = first;
  while (r.done !== true) {
    let input: unknown;
    let error: unknown;
    let throwing = false;
    try {
      input = yield r.value;
    } catch (err) {
      error = err;
      throwing = true;
    }
    r = throwing ? gen.throw(error) : gen.next(input);
  }
  return r.value;
}
