import { withKey, withoutKey, type KernelEvent, type Mutable, type PluginContext } from '@tracelab/core';
import type { KtraceState } from '../events.js';

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the same object when nothing changed), which the core freezes. No
// immer draft: its `produce` was 6.8% of the bound-2 DPOR search of fork-flag-race
// (docs/benchmarks.md, "Plugin slices without drafts, second part"). Copies are written field
// by field, not spread (spreading a frozen object leaves V8's fast clone path on Node 20). A new
// object is written in place until the reducer returns it (it is its alone).

function copySlice(k: KtraceState): Mutable<KtraceState> {
  return { refcount: k.refcount, sets: k.sets, clears: k.clears, inFlight: k.inFlight, callers: k.callers, walk: k.walk, walks: k.walks };
}

function refcountStored(k: KtraceState, e: KernelEvent<'ktrace/refcount'>): KtraceState {
  const caller = k.callers[e.pid];
  const store = caller !== undefined && !caller.stored;
  if (k.refcount === e.value && !store) return k;
  const out = copySlice(k);
  out.refcount = e.value;
  if (store) out.callers = withKey(k.callers, e.pid, { op: caller.op, stored: true });
  return out;
}

function returned(k: KtraceState, e: KernelEvent<'ktrace/return'>): KtraceState {
  const out = copySlice(k);
  if (e.pid in k.callers) out.callers = withoutKey(k.callers, e.pid);
  out.inFlight = Object.keys(out.callers).length;
  if (e.ret !== 0) return out.callers === k.callers && out.inFlight === k.inFlight ? k : out;
  if (e.op === 'set') out.sets = k.sets + 1;
  else out.clears = k.clears + 1;
  return out;
}

// A caller that dies part-way (an oops) never returns: drop it from the calls in flight, or
// the invariants, which wait for no call to be in flight, would stay off for good. A store it
// made to the refcount took effect, so it counts as a set or clear; a walk it left half done
// is abandoned (and the flag invariant reports the threads it missed).
function exited(k: KtraceState, e: KernelEvent<'task/exit'>): KtraceState {
  const caller = k.callers[e.pid];
  if (caller === undefined) return k;
  const out = copySlice(k);
  out.callers = withoutKey(k.callers, e.pid);
  out.inFlight = Object.keys(out.callers).length;
  if (caller.stored) {
    if (caller.op === 'set') out.sets = k.sets + 1;
    else out.clears = k.clears + 1;
  }
  if (k.walk !== null && k.walk.pid === e.pid) out.walk = null;
  return out;
}

/**
 * ktrace's reducers: the calls in flight, the refcount the callers store, the walk, and a
 * caller that dies part-way. The slice is written only here.
 */
export function registerReducers(ctx: PluginContext<KtraceState>): void {
  ctx.onPlain('ktrace/call', (k, e) => {
    const out = copySlice(k);
    out.callers = withKey(k.callers, e.pid, { op: e.op, stored: false });
    out.inFlight = Object.keys(out.callers).length;
    return out;
  });
  ctx.onPlain('ktrace/refcount', refcountStored);
  ctx.onPlain('ktrace/walk-start', (k, e) => {
    const out = copySlice(k);
    out.walk = { op: e.op, pid: e.pid, via: e.via };
    return out;
  });
  ctx.onPlain('ktrace/walk-end', (k) => {
    const out = copySlice(k);
    out.walk = null;
    out.walks = k.walks + 1;
    return out;
  });
  ctx.onPlain('ktrace/return', returned);
  ctx.onPlain('task/exit', exited);
}
