import type { Draft } from 'immer';
import type { KernelState, PluginContext } from '@tracelab/core';
import { ENGINE_STOP, UTRACE_DETACH, UTRACE_EVENT_QUIESCE, UTRACE_EVENT_REAP, UTRACE_RESUME } from '../constants.js';
import type { UtraceEngineState, UtraceState, UtraceTaskState } from '../events.js';

export const INITIAL_UTRACE_STATE: UtraceState = { engines: {}, tasks: {}, nextEngine: 1, reports: 0, callbacks: 0, broken: null };

/** The invariants' names, as violations report them. */
export const UTRACE_INVARIANTS = {
  lifetime: 'utrace/engine-lifetime',
  stopped: 'utrace/stopped',
  deathReap: 'utrace/death-before-reap',
  detach: 'utrace/no-callback-after-detach',
  aggregate: 'utrace/aggregate-minimum',
  flags: 'utrace/flags',
} as const;

/** The slice as kernel code reads it (the initial value before registration is applied). */
export function utraceSlice(s: KernelState): UtraceState {
  return s.plugins.utrace ?? INITIAL_UTRACE_STATE;
}

function newTask(pid: number): UtraceTaskState {
  return {
    pid,
    attached: [],
    attaching: [],
    flags: 0,
    reporting: null,
    reportingBy: null,
    resume: UTRACE_RESUME,
    stopped: false,
    pendingAttach: false,
    cloning: null,
    vforkStop: false,
    death: false,
    deathDone: false,
    reapPending: false,
    reap: false,
  };
}

function breaks(u: Draft<UtraceState>, invariant: string, message: string): void {
  if (u.broken === null) u.broken = { invariant, message };
}

/**
 * The engine's last reference is gone (the tracer's and the list's): the engine itself is
 * freed (__utrace_engine_release), and nothing can name it again.
 */
function forgetIfGone(u: Draft<UtraceState>, id: number): void {
  const e = u.engines[id];
  if (e !== undefined && e.freed && !e.listed) delete u.engines[id];
}

// ---- plain immutable updates for the hot events ---------------------------------------------
// The events of every reporting pass (callback, callback-return, report, resume) are folded
// without immer: the reducer reads the slice as it was before the event (`state.plugins.utrace`,
// what the draft was made from), builds the few new objects on the changed path, freezes them,
// and returns the new slice. The draft is never touched, so immer only hands the value on.

function withTask(u: UtraceState, t: UtraceTaskState): UtraceState['tasks'] {
  return Object.freeze({ ...u.tasks, [t.pid]: Object.freeze(t) });
}

function withEngine(u: UtraceState, en: UtraceEngineState): UtraceState['engines'] {
  return Object.freeze({ ...u.engines, [en.id]: Object.freeze(en) });
}

/** What a callback starting now breaks, if anything (the first broken invariant is kept). */
function callbackBreak(u: UtraceState, e: { pid: number; engine: number; callback: string }): UtraceState['broken'] {
  const en = u.engines[e.engine];
  if (en === undefined) {
    return Object.freeze({
      invariant: UTRACE_INVARIANTS.lifetime,
      message: `use-after-free: ${e.callback} called on engine ${e.engine} in pid ${e.pid} after the engine was freed (no reference left, not even the list's)`,
    });
  }
  if (en.freed) {
    return Object.freeze({
      invariant: UTRACE_INVARIANTS.lifetime,
      message: `use-after-free: ${e.callback} called on engine ${e.engine} (${en.ops}) in pid ${e.pid} after its data was freed (its tracer put its last reference while a callback could still come)`,
    });
  }
  if (en.detached && e.callback !== 'reportReap') {
    return Object.freeze({
      invariant: UTRACE_INVARIANTS.detach,
      message: `${e.callback} called on engine ${e.engine} (${en.ops}) in pid ${e.pid} after it was detached`,
    });
  }
  if (e.callback === 'reportReap' && u.tasks[e.pid]?.death === true) {
    return Object.freeze({ invariant: UTRACE_INVARIANTS.deathReap, message: `report_reap for pid ${e.pid} while its report_death is still running` });
  }
  return null;
}

/**
 * finish_callback's effect on the state: reporting = NULL (when `clearReporting`), and the
 * return's STOP (sticky ENGINE_STOP, also in utrace_flags) or its clearing. A DETACH return is
 * applied by the `utrace/engine-detached` event that follows in the same step.
 */
function applyReturn(u: UtraceState, pid: number, engine: number, stop: boolean | null, startBroken: UtraceState['broken'], callbacks: number): UtraceState {
  let tasks = u.tasks;
  let engines = u.engines;
  const t = u.tasks[pid];
  if (t !== undefined) {
    const reporting = t.reporting === engine ? null : t.reporting;
    const reportingBy = t.reporting === engine ? null : t.reportingBy;
    const flags = stop === true ? t.flags | ENGINE_STOP : t.flags;
    if (reporting !== t.reporting || flags !== t.flags) tasks = withTask(u, { ...t, reporting, reportingBy, flags });
  }
  const en = u.engines[engine];
  if (en !== undefined && stop !== null && en.stop !== stop) engines = withEngine(u, { ...en, stop });
  const broken = u.broken ?? startBroken;
  if (tasks === u.tasks && engines === u.engines && broken === u.broken && callbacks === u.callbacks) return u;
  return Object.freeze({ ...u, tasks, engines, broken, callbacks });
}

/**
 * The reducers: the only writers of `state.plugins.utrace`. They also watch for what must
 * never happen (a callback with freed data, a reap before death, a callback after a detach)
 * and record the first one in `broken`, which the invariants report.
 */
export function registerReducers(ctx: PluginContext<UtraceState>): void {
  ctx.initSlice(INITIAL_UTRACE_STATE);
  registerEngineReducers(ctx);
  registerPassReducers(ctx);
  registerTaskReducers(ctx);
}

/** The engine's lifecycle: attach, references, detach, its mask and ENGINE_STOP. */
function registerEngineReducers(ctx: PluginContext<UtraceState>): void {
  ctx.on('utrace/engine-attached', (u, e) => {
    u.engines[e.engine] = { id: e.engine, target: e.pid, ops: e.ops, flags: 0, stop: false, detached: false, listed: true, refs: 1, freed: false };
    u.nextEngine = Math.max(u.nextEngine, e.engine + 1);
    const t = (u.tasks[e.pid] ??= newTask(e.pid) as Draft<UtraceTaskState>);
    // The first engine makes utrace_flags nonzero (REAP), so release_task will look.
    if (t.flags === 0) t.flags = UTRACE_EVENT_REAP;
    t.attaching.push(e.engine);
    t.pendingAttach = true;
  });
  ctx.on('utrace/engine-get', (u, e) => {
    const en = u.engines[e.engine];
    if (en !== undefined) en.refs = e.refs;
  });
  ctx.on('utrace/engine-put', (u, e) => {
    const en = u.engines[e.engine];
    if (en !== undefined) en.refs = e.refs;
  });
  ctx.on('utrace/engine-freed', (u, e) => {
    const en = u.engines[e.engine];
    if (en === undefined) return;
    en.freed = true;
    for (const t of Object.values(u.tasks)) {
      // A callback that puts its own engine's last reference (report_reap cleaning up) is done
      // with the data; anyone else freeing it under a running callback is the use-after-free.
      // The engine itself is still alive (the list holds it): what is freed is the tracer's data.
      if (t.reporting === e.engine && t.reportingBy !== e.by) {
        breaks(
          u,
          UTRACE_INVARIANTS.lifetime,
          `use-after-free: engine ${e.engine} (${en.ops}) had its data freed while its callback runs in pid ${t.pid} (a detach that returned -EINPROGRESS needs utrace_barrier before the last enginePut)`,
        );
      }
    }
    forgetIfGone(u, e.engine);
  });
  // utrace_maybe_reap, per engine after its report_reap: list_del_init and the list's put.
  ctx.on('utrace/engine-reaped', (u, e) => {
    const en = u.engines[e.engine];
    if (en === undefined) return;
    en.listed = false;
    forgetIfGone(u, e.engine);
  });
  ctx.on('utrace/engine-detached', (u, e) => {
    const en = u.engines[e.engine];
    if (en === undefined) return;
    en.detached = true;
    en.stop = false;
    // The detached ops want only report_quiesce, which returns UTRACE_DETACH.
    en.flags = UTRACE_EVENT_QUIESCE;
  });
  ctx.on('utrace/events-set', (u, e) => {
    const en = u.engines[e.engine];
    if (en !== undefined) en.flags = e.mask;
    const t = u.tasks[e.pid];
    if (t !== undefined) t.flags |= e.mask;
  });
  ctx.on('utrace/engine-stop', (u, e) => {
    const en = u.engines[e.engine];
    if (en !== undefined) en.stop = e.stop;
    const t = u.tasks[e.pid];
    if (t !== undefined && e.stop) t.flags |= ENGINE_STOP;
  });
}

/** A reporting pass: resume, splice, reset and the hot per-callback events. */
function registerPassReducers(ctx: PluginContext<UtraceState>): void {
  ctx.on('utrace/resume', (_d, e, s) => {
    const u = utraceSlice(s);
    const t = u.tasks[e.pid];
    if (t === undefined || t.resume === e.resume) return u;
    return Object.freeze({ ...u, tasks: withTask(u, { ...t, resume: e.resume }) });
  });
  ctx.on('utrace/splice', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return;
    t.attached.push(...t.attaching);
    t.attaching = [];
    t.pendingAttach = false;
  });
  ctx.on('utrace/reset', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return;
    if (e.removed.length > 0) {
      const gone = new Set(e.removed);
      t.attached = t.attached.filter((id) => !gone.has(id));
      for (const id of e.removed) {
        const en = u.engines[id];
        if (en !== undefined) en.listed = false;
        forgetIfGone(u, id);
      }
    }
    t.flags = e.flags;
    if (e.flags === 0) t.resume = UTRACE_RESUME;
  });
  ctx.on('utrace/callback', (_d, e, s) => {
    const u = utraceSlice(s);
    const broken = u.broken === null ? callbackBreak(u, e) : null;
    if (e.ret !== null) {
      // Started and returned with nothing in between: reporting never showed; the return applies.
      return applyReturn(u, e.pid, e.engine, e.stop, broken, u.callbacks + 1);
    }
    const t = u.tasks[e.pid];
    const tasks = t === undefined ? u.tasks : withTask(u, { ...t, reporting: e.engine, reportingBy: e.by });
    return Object.freeze({ ...u, tasks, broken: u.broken ?? broken, callbacks: u.callbacks + 1 });
  });
  ctx.on('utrace/callback-return', (_d, e, s) => {
    const u = utraceSlice(s);
    return applyReturn(u, e.pid, e.engine, e.stop, null, u.callbacks);
  });
  ctx.on('utrace/report', (_d, e, s) => {
    const u = utraceSlice(s);
    let min = UTRACE_RESUME;
    let bad = false;
    for (const r of e.folded) {
      if (r < min) min = r;
      if (r >= UTRACE_DETACH) bad = true;
    }
    if (e.held.length > 0) min = 0;
    let broken = u.broken;
    if (broken === null && (e.action !== min || bad)) {
      broken = Object.freeze({
        invariant: UTRACE_INVARIANTS.aggregate,
        message: `pid ${e.pid}: the ${e.event} pass folded [${e.folded.join(', ')}] (engines holding STOP: [${e.held.join(', ')}]) into ${e.action}, not their minimum ${min}`,
      });
    }
    return Object.freeze({ ...u, reports: u.reports + 1, broken });
  });
}

/** The task's side: stop and wake, clone, vfork, death and reap, and its release. */
function registerTaskReducers(ctx: PluginContext<UtraceState>): void {
  ctx.on('utrace/stopped', (u, e) => {
    const t = u.tasks[e.pid];
    if (t !== undefined) t.stopped = true;
  });
  ctx.on('utrace/woken', (u, e) => {
    const t = u.tasks[e.pid];
    if (t !== undefined) t.stopped = false;
  });
  ctx.on('utrace/cloning', (u, e) => {
    const t = u.tasks[e.pid];
    if (t !== undefined) t.cloning = e.child;
  });
  ctx.on('utrace/vfork-stop', (u, e) => {
    const t = u.tasks[e.pid];
    if (t !== undefined) t.vforkStop = e.set;
  });
  ctx.on('utrace/death', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return;
    if (e.phase === 'start') {
      if (t.deathDone || t.death) breaks(u, UTRACE_INVARIANTS.deathReap, `report_death for pid ${e.pid} a second time`);
      if (t.reap) breaks(u, UTRACE_INVARIANTS.deathReap, `report_death for pid ${e.pid} after its reap`);
      t.death = true;
      t.resume = UTRACE_RESUME;
    } else {
      t.death = false;
      t.deathDone = true;
    }
  });
  ctx.on('utrace/reap', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return;
    if (e.deferred) {
      t.reapPending = true;
      return;
    }
    if (t.reap) breaks(u, UTRACE_INVARIANTS.deathReap, `pid ${e.pid} reaped twice`);
    if (t.death) breaks(u, UTRACE_INVARIANTS.deathReap, `pid ${e.pid} reaped while report_death runs`);
    t.reap = true;
    t.reapPending = false;
    t.flags = 0;
    // The lists move to the reaper's (list_replace_init): the engines stay listed, holding the
    // list's reference, until the reaper has made their report_reap (`utrace/engine-reaped`).
    // Nobody can detach them or change their events any more: they count as detached.
    for (const id of [...t.attached, ...t.attaching]) {
      const en = u.engines[id];
      if (en === undefined) continue;
      en.detached = true;
      en.stop = false;
    }
    t.attached = [];
    t.attaching = [];
  });
  ctx.declareEvents(['utrace/control', 'utrace/syscall-log', 'utrace/ptrace-stop']);
  // The task_struct is gone: so is its struct utrace (free_task).
  ctx.on('task/released', (u, e, s) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return;
    void s;
    if (t.reap || (t.attached.length === 0 && t.attaching.length === 0)) delete u.tasks[e.pid];
  });
}
