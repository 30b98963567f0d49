import { EALREADY, EINPROGRESS, ESRCH, msleep, type KPath } from '@tracelab/core';
import { ERESTARTSYS, UTRACE_DETACH } from './constants.js';
import type { UtraceApi, UtraceEngine } from './events.js';

export interface DetachOptions {
  /**
   * Wait with utrace_barrier, when the detach did not take effect at once, until no callback
   * to the engine can run, before putting the reference (which frees the tracer's data).
   * Default true. `false` is the unsafe tracer: control(DETACH), then enginePut at once; the
   * put can free the data under the running callback (a use-after-free).
   */
  readonly barrier?: boolean;
}

/**
 * A tracer's detach sequence, safe against a running callback and against the task's exit:
 * `control(DETACH)`, then
 * - 0: the engine gets no more callbacks (the task was stopped or dead, or no callback to it
 *   was running: it is dropped at the task's next pass);
 * - -EINPROGRESS (a callback to it is running) or -ESRCH (already detached, or the reap has
 *   begun: report_reap may be running or still to come): `barrier()` until the engine is off
 *   every list;
 * - -EALREADY (report_death is running: it and report_reap cannot be prevented): wait a tick and
 *   detach again, until the death report is over;
 * then `enginePut`. A barrier interrupted by a signal (-ERESTARTSYS) is retried, as ptrace's
 * utrace_barrier_uninterruptible does. Returns what the last control returned; the reference
 * is put in every case.
 */
export function* detachEngine(api: UtraceApi, pid: number, engine: UtraceEngine, options: DetachOptions = {}): KPath<number> {
  let ret = yield* api.control(pid, engine, UTRACE_DETACH);
  if (options.barrier !== false) {
    while (ret === -EALREADY) {
      yield* msleep(1);
      ret = yield* api.control(pid, engine, UTRACE_DETACH);
    }
    if (ret === -EINPROGRESS || ret === -ESRCH) {
      while ((yield* api.barrier(pid, engine)) === -ERESTARTSYS) yield* msleep(1);
    }
  }
  yield* api.enginePut(engine);
  return ret;
}
