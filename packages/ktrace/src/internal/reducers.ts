import type { PluginContext } from '@tracelab/core';
import type { KtraceState } from '../events.js';

/**
 * ktrace's reducers: the calls in flight, the refcount the callers store, the walk, and a
 * caller that dies part-way. The slice is written only here.
 */
export function registerReducers(ctx: PluginContext<KtraceState>): void {
  ctx.on('ktrace/call', (k, e) => {
    k.callers[e.pid] = { op: e.op, stored: false };
    k.inFlight = Object.keys(k.callers).length;
  });
  ctx.on('ktrace/refcount', (k, e) => {
    k.refcount = e.value;
    const caller = k.callers[e.pid];
    if (caller !== undefined) caller.stored = true;
  });
  ctx.on('ktrace/walk-start', (k, e) => {
    k.walk = { op: e.op, pid: e.pid, via: e.via };
  });
  ctx.on('ktrace/walk-end', (k) => {
    k.walk = null;
    k.walks += 1;
  });
  ctx.on('ktrace/return', (k, e) => {
    delete k.callers[e.pid];
    k.inFlight = Object.keys(k.callers).length;
    if (e.ret !== 0) return;
    if (e.op === 'set') k.sets += 1;
    else k.clears += 1;
  });
  // A caller that dies part-way (an oops) never returns: drop it from the calls in flight,
  // or the invariants, which wait for no call to be in flight, would stay off for good. A
  // store it made to the refcount took effect, so it counts as a set or clear; a walk it
  // left half done is abandoned (and the flag invariant reports the threads it missed).
  ctx.on('task/exit', (k, e) => {
    const caller = k.callers[e.pid];
    if (caller === undefined) return;
    delete k.callers[e.pid];
    k.inFlight = Object.keys(k.callers).length;
    if (caller.stored) {
      if (caller.op === 'set') k.sets += 1;
      else k.clears += 1;
    }
    if (k.walk !== null && k.walk.pid === e.pid) k.walk = null;
  });
}
