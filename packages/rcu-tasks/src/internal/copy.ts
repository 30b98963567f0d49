import { withField, type Mutable } from '@tracelab/core';
import type { RcuTasksFlavour, RcuTasksFlavourState, RcuTasksGpState, RcuTasksState } from '../events.js';

// The slice-shaped copies for the plain reducers (reducers.ts), beside the core's generic ones
// (`withField`, `copyObject`): field by field, not spread (spreading a frozen object leaves V8's
// fast clone path on Node 20). A copy is written in place by the reducer that made it until it
// returns it (it is its alone); the core then freezes it.

export function copyFlavour(f: RcuTasksFlavourState): Mutable<RcuTasksFlavourState> {
  return {
    kthread: f.kthread,
    nextCallbackId: f.nextCallbackId,
    takenThrough: f.takenThrough,
    invokedThrough: f.invokedThrough,
    gp: f.gp,
    completed: f.completed,
    lastGp: f.lastGp,
  };
}

export function copyGp(g: RcuTasksGpState): Mutable<RcuTasksGpState> {
  return {
    gp: g.gp,
    start: g.start,
    startSeq: g.startSeq,
    first: g.first,
    last: g.last,
    readers: g.readers,
    holdouts: g.holdouts,
    scanned: g.scanned,
    scannedHoldouts: g.scannedHoldouts,
    rescans: g.rescans,
    stalls: g.stalls,
    ended: g.ended,
  };
}

/** The slice with flavour `flavour` replaced by `f`, or the slice itself when `f` is the one it has. */
export function withFlavour(s: RcuTasksState, flavour: RcuTasksFlavour, f: RcuTasksFlavourState): RcuTasksState {
  return withField(s, flavour, f);
}

/** The flavour's grace period in progress (the error a reducer throws when there is none). */
export function gpIn(s: RcuTasksState, flavour: RcuTasksFlavour): RcuTasksGpState {
  const g = s[flavour].gp;
  if (g === null) throw new Error(`no ${flavour} grace period in progress`);
  return g;
}

/** The slice with the flavour's grace period in progress replaced by `g` (the same slice for the same `g`). */
export function withGp(s: RcuTasksState, flavour: RcuTasksFlavour, g: RcuTasksGpState): RcuTasksState {
  const f = s[flavour];
  if (f.gp === g) return s;
  const c = copyFlavour(f);
  c.gp = g;
  return withFlavour(s, flavour, c);
}
