import type { KernelState, PluginContext } from '@tracelab/core';
import { ENGINE_STOP, UTRACE_DETACH, UTRACE_EVENT_QUIESCE, UTRACE_EVENT_REAP, UTRACE_RESUME } from '../constants.js';
import type { UtraceEngineState, UtraceState, UtraceTaskState } from '../events.js';
import { appended, copyObject, withField, withKey, withoutKey } from '@tracelab/core';

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

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the core's copies: `withField`, `withKey`, ...), or the slice itself when the event changes nothing; no
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part").

/** The slice with the first broken invariant recorded (a later one is dropped). */
function breaks(u: UtraceState, invariant: string, message: string): UtraceState {
  return u.broken === null ? withField(u, 'broken', { invariant, message }) : u;
}

/** The slice with task `pid` replaced by `t` (the same slice for the same task). */
function putTask(u: UtraceState, pid: number, t: UtraceTaskState): UtraceState {
  return withField(u, 'tasks', withKey(u.tasks, pid, t));
}

/** The slice with task `pid` changed by `f` (nothing for a task it does not hold). */
function updTask(u: UtraceState, pid: number, f: (t: UtraceTaskState) => UtraceTaskState): UtraceState {
  const t = u.tasks[pid];
  return t === undefined ? u : putTask(u, pid, f(t));
}

/** The slice with engine `id` changed by `f` (nothing for an engine it does not hold). */
function updEngine(u: UtraceState, id: number, f: (en: UtraceEngineState) => UtraceEngineState): UtraceState {
  const en = u.engines[id];
  return en === undefined ? u : withField(u, 'engines', withKey(u.engines, id, f(en)));
}

/**
 * The engine's last reference is gone (the tracer's and the list's): the engine itself is
 * freed (__utrace_engine_release), and nothing can name it again.
 */
function forgetIfGone(u: UtraceState, id: number): UtraceState {
  const e = u.engines[id];
  return e !== undefined && e.freed && !e.listed ? withField(u, 'engines', withoutKey(u.engines, id)) : u;
}

// ---- plain immutable updates for the hot events ---------------------------------------------
// The events of every reporting pass (callback, callback-return, report, resume) were folded
// this way before the others: the reducer reads the slice as it was before the event through the
// state (`state.plugins.utrace`, which the footprint recorder sees; the same value as the slice it
// is given), builds the few new objects on the changed path (copies key by key, not spreads of
// frozen objects), and returns the new slice, which the core freezes.

/** What a callback starting now breaks, if anything (the first broken invariant is kept). */
function callbackBreak(u: UtraceState, e: { pid: number; engine: number; callback: string }): UtraceState['broken'] {
  const en = u.engines[e.engine];
  if (en === undefined) {
    return {
      invariant: UTRACE_INVARIANTS.lifetime,
      message: `use-after-free: ${e.callback} called on engine ${e.engine} in pid ${e.pid} after the engine was freed (no reference left, not even the list's)`,
    };
  }
  if (en.freed) {
    return {
      invariant: UTRACE_INVARIANTS.lifetime,
      message: `use-after-free: ${e.callback} called on engine ${e.engine} (${en.ops}) in pid ${e.pid} after its data was freed (its tracer put its last reference while a callback could still come)`,
    };
  }
  if (en.detached && e.callback !== 'reportReap') {
    return {
      invariant: UTRACE_INVARIANTS.detach,
      message: `${e.callback} called on engine ${e.engine} (${en.ops}) in pid ${e.pid} after it was detached`,
    };
  }
  if (e.callback === 'reportReap' && u.tasks[e.pid]?.death === true) {
    return { invariant: UTRACE_INVARIANTS.deathReap, message: `report_reap for pid ${e.pid} while its report_death is still running` };
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
    if (reporting !== t.reporting || flags !== t.flags) {
      const c = copyObject(t);
      c.reporting = reporting;
      c.reportingBy = reportingBy;
      c.flags = flags;
      tasks = withKey(u.tasks, pid, c);
    }
  }
  const en = u.engines[engine];
  if (en !== undefined && stop !== null && en.stop !== stop) engines = withKey(u.engines, engine, withField(en, 'stop', stop));
  const broken = u.broken ?? startBroken;
  if (tasks === u.tasks && engines === u.engines && broken === u.broken && callbacks === u.callbacks) return u;
  const out = copyObject(u);
  out.tasks = tasks;
  out.engines = engines;
  out.broken = broken;
  out.callbacks = callbacks;
  return out;
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
  ctx.onPlain('utrace/engine-attached', (u, e) => {
    const out = copyObject(u);
    out.engines = withKey(u.engines, e.engine, {
      id: e.engine,
      target: e.pid,
      ops: e.ops,
      flags: 0,
      stop: false,
      detached: false,
      listed: true,
      refs: 1,
      freed: false,
    });
    out.nextEngine = Math.max(u.nextEngine, e.engine + 1);
    const t0 = u.tasks[e.pid] ?? newTask(e.pid);
    const t = copyObject(t0);
    // The first engine makes utrace_flags nonzero (REAP), so release_task will look.
    if (t.flags === 0) t.flags = UTRACE_EVENT_REAP;
    t.attaching = appended(t0.attaching, e.engine);
    t.pendingAttach = true;
    out.tasks = withKey(u.tasks, e.pid, t);
    return out;
  });
  ctx.onPlain('utrace/engine-get', (u, e) => updEngine(u, e.engine, (en) => withField(en, 'refs', e.refs)));
  ctx.onPlain('utrace/engine-put', (u, e) => updEngine(u, e.engine, (en) => withField(en, 'refs', e.refs)));
  ctx.onPlain('utrace/engine-freed', (u, e) => {
    const en = u.engines[e.engine];
    if (en === undefined) return u;
    let out = updEngine(u, e.engine, (c) => withField(c, 'freed', true));
    for (const t of Object.values(u.tasks)) {
      // A callback that puts its own engine's last reference (report_reap cleaning up) is done
      // with the data; anyone else freeing it under a running callback is the use-after-free.
      // The engine itself is still alive (the list holds it): what is freed is the tracer's data.
      if (t.reporting === e.engine && t.reportingBy !== e.by) {
        out = breaks(
          out,
          UTRACE_INVARIANTS.lifetime,
          `use-after-free: engine ${e.engine} (${en.ops}) had its data freed while its callback runs in pid ${t.pid} (a detach that returned -EINPROGRESS needs utrace_barrier before the last enginePut)`,
        );
      }
    }
    return forgetIfGone(out, e.engine);
  });
  // utrace_maybe_reap, per engine after its report_reap: list_del_init and the list's put.
  ctx.onPlain('utrace/engine-reaped', (u, e) => {
    if (u.engines[e.engine] === undefined) return u;
    return forgetIfGone(
      updEngine(u, e.engine, (en) => withField(en, 'listed', false)),
      e.engine,
    );
  });
  // The detached ops want only report_quiesce, which returns UTRACE_DETACH.
  ctx.onPlain('utrace/engine-detached', (u, e) =>
    updEngine(u, e.engine, (en) => withField(withField(withField(en, 'detached', true), 'stop', false), 'flags', UTRACE_EVENT_QUIESCE)),
  );
  ctx.onPlain('utrace/events-set', (u, e) => {
    const out = updEngine(u, e.engine, (en) => withField(en, 'flags', e.mask));
    return updTask(out, e.pid, (t) => withField(t, 'flags', t.flags | e.mask));
  });
  ctx.onPlain('utrace/engine-stop', (u, e) => {
    const out = updEngine(u, e.engine, (en) => withField(en, 'stop', e.stop));
    return e.stop ? updTask(out, e.pid, (t) => withField(t, 'flags', t.flags | ENGINE_STOP)) : out;
  });
}

/** A reporting pass: resume, splice, reset and the hot per-callback events. */
function registerPassReducers(ctx: PluginContext<UtraceState>): void {
  ctx.onPlain('utrace/resume', (_u, e, s) => {
    const u = utraceSlice(s);
    const t = u.tasks[e.pid];
    if (t === undefined || t.resume === e.resume) return u;
    return withField(u, 'tasks', withKey(u.tasks, e.pid, withField(t, 'resume', e.resume)));
  });
  ctx.onPlain('utrace/splice', (u, e) =>
    updTask(u, e.pid, (t) => {
      const c = copyObject(t);
      if (t.attaching.length > 0) c.attached = t.attached.concat(t.attaching);
      c.attaching = [];
      c.pendingAttach = false;
      return c;
    }),
  );
  ctx.onPlain('utrace/reset', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return u;
    let out = u;
    let c = t;
    if (e.removed.length > 0) {
      const gone = new Set(e.removed);
      c = withField(
        c,
        'attached',
        t.attached.filter((id) => !gone.has(id)),
      );
      for (const id of e.removed)
        out = forgetIfGone(
          updEngine(out, id, (en) => withField(en, 'listed', false)),
          id,
        );
    }
    c = withField(c, 'flags', e.flags);
    if (e.flags === 0) c = withField(c, 'resume', UTRACE_RESUME);
    return putTask(out, e.pid, c);
  });
  ctx.onPlain('utrace/callback', (_u, e, s) => {
    const u = utraceSlice(s);
    const broken = u.broken === null ? callbackBreak(u, e) : null;
    if (e.ret !== null) {
      // Started and returned with nothing in between: reporting never showed; the return applies.
      return applyReturn(u, e.pid, e.engine, e.stop, broken, u.callbacks + 1);
    }
    const t = u.tasks[e.pid];
    let tasks = u.tasks;
    if (t !== undefined) {
      const c = copyObject(t);
      c.reporting = e.engine;
      c.reportingBy = e.by;
      tasks = withKey(u.tasks, e.pid, c);
    }
    const out = copyObject(u);
    out.tasks = tasks;
    out.broken = u.broken ?? broken;
    out.callbacks = u.callbacks + 1;
    return out;
  });
  ctx.onPlain('utrace/callback-return', (_u, e, s) => {
    const u = utraceSlice(s);
    return applyReturn(u, e.pid, e.engine, e.stop, null, u.callbacks);
  });
  ctx.onPlain('utrace/report', (_u, e, s) => {
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
      broken = {
        invariant: UTRACE_INVARIANTS.aggregate,
        message: `pid ${e.pid}: the ${e.event} pass folded [${e.folded.join(', ')}] (engines holding STOP: [${e.held.join(', ')}]) into ${e.action}, not their minimum ${min}`,
      };
    }
    const out = copyObject(u);
    out.reports = u.reports + 1;
    out.broken = broken;
    return out;
  });
}

/** The task's side: stop and wake, clone, vfork, death and reap, and its release. */
function registerTaskReducers(ctx: PluginContext<UtraceState>): void {
  ctx.onPlain('utrace/stopped', (u, e) => updTask(u, e.pid, (t) => withField(t, 'stopped', true)));
  ctx.onPlain('utrace/woken', (u, e) => updTask(u, e.pid, (t) => withField(t, 'stopped', false)));
  ctx.onPlain('utrace/cloning', (u, e) => updTask(u, e.pid, (t) => withField(t, 'cloning', e.child)));
  ctx.onPlain('utrace/vfork-stop', (u, e) => updTask(u, e.pid, (t) => withField(t, 'vforkStop', e.set)));
  ctx.onPlain('utrace/death', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return u;
    if (e.phase !== 'start') return putTask(u, e.pid, withField(withField(t, 'death', false), 'deathDone', true));
    let out = u;
    if (t.deathDone || t.death) out = breaks(out, UTRACE_INVARIANTS.deathReap, `report_death for pid ${e.pid} a second time`);
    if (t.reap) out = breaks(out, UTRACE_INVARIANTS.deathReap, `report_death for pid ${e.pid} after its reap`);
    return putTask(out, e.pid, withField(withField(t, 'death', true), 'resume', UTRACE_RESUME));
  });
  ctx.onPlain('utrace/reap', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return u;
    if (e.deferred) return putTask(u, e.pid, withField(t, 'reapPending', true));
    let out = u;
    if (t.reap) out = breaks(out, UTRACE_INVARIANTS.deathReap, `pid ${e.pid} reaped twice`);
    if (t.death) out = breaks(out, UTRACE_INVARIANTS.deathReap, `pid ${e.pid} reaped while report_death runs`);
    // The lists move to the reaper's (list_replace_init): the engines stay listed, holding the
    // list's reference, until the reaper has made their report_reap (`utrace/engine-reaped`).
    // Nobody can detach them or change their events any more: they count as detached.
    for (const id of [...t.attached, ...t.attaching]) out = updEngine(out, id, (en) => withField(withField(en, 'detached', true), 'stop', false));
    const c = copyObject(t);
    c.reap = true;
    c.reapPending = false;
    c.flags = 0;
    c.attached = [];
    c.attaching = [];
    return putTask(out, e.pid, c);
  });
  ctx.declareEvents(['utrace/control', 'utrace/syscall-log', 'utrace/ptrace-stop']);
  // The task_struct is gone: so is its struct utrace (free_task).
  ctx.onPlain('task/released', (u, e) => {
    const t = u.tasks[e.pid];
    if (t === undefined) return u;
    if (t.reap || (t.attached.length === 0 && t.attaching.length === 0)) return withField(u, 'tasks', withoutKey(u.tasks, e.pid));
    return u;
  });
}
