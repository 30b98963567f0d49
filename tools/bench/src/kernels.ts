import { current, emit, getState, schedPoint, type Kernel, type KPath } from '@tracelab/core';

/** A kernel path must reach a scheduling point well before 1,000,000 commands (soft lockup). */
const POINT_EVERY = 1000;

/**
 * Puts `n` threads on `kernel`'s task list through the core's own fork events, in a kernel
 * thread run by `kernel.call`: `fork/dup` then `fork/link` for each, as a chain (each the parent
 * of the next, so no children array grows). The threads stay `new` (never woken), so a walk of
 * the task list visits them and nothing else runs. Returns the first thread's pid.
 */
export function populateTaskList(kernel: Kernel, n: number): number {
  return kernel.call(
    (function* (): KPath<number> {
      let parent = (yield* current()).pid;
      const first = (yield* getState()).kernel.nextPid;
      for (let i = 0; i < n; i++) {
        const child = first + i;
        yield* emit({ type: 'fork/dup', parent, child, comm: 'bench', flags: [] });
        yield* emit({ type: 'fork/link', parent, child });
        parent = child;
        if (i % POINT_EVERY === POINT_EVERY - 1) yield* schedPoint();
      }
      return first;
    })(),
    { comm: 'bench-setup' },
  );
}
