import { msleep, type KPath, type Program } from '@tracelab/core';
import type { FtraceApi, FtraceOps } from '@tracelab/ftrace';

/** A user task calling the traced sys_getpid `calls` times, a tick of user work between. */
export function getpidCaller(calls: number): Program {
  return function* w(u) {
    for (let i = 0; i < calls; i++) {
      yield u.syscall('getpid');
      yield u.compute(1);
    }
  };
}

/**
 * A tracer's ftrace session (perf or an ftrace instance with its own ops): register `ops`, keep
 * it `keep` ticks, unregister it. Returns the first error, or unregister's answer.
 */
export function* ftraceSession(api: FtraceApi, ops: FtraceOps, keep: number): KPath<number> {
  const r = yield* api.registerFtraceFunction(ops);
  if (r !== 0) return r;
  yield* msleep(keep);
  return yield* api.unregisterFtraceFunction(ops);
}
