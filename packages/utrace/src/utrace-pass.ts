/**
 * The reporting pass, after kernel/utrace.c: start_report, REPORT_CALLBACKS (start_callback,
 * the engine's callback, finish_callback), finish_report, and utrace_resume, the pass a task
 * makes on its way back to user mode when a resume action is pending. The utrace_report_*
 * entry points the tracehooks call are in utrace-report.ts and utrace-signal.ts.
 */
import { drive, emit, getState, isKPath, spinLock, spinUnlock, type KernelState, type KPath } from '@tracelab/core';
import {
  ENGINE_STOP,
  UTRACE_DETACH,
  UTRACE_EVENT_QUIESCE,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_RESUME_MASK,
  UTRACE_STOP,
} from './constants.js';
import type { UtraceEngine, UtraceEngineState } from './events.js';
import { engineS, eventName, taskU, utraceLock, type CallbackCall, type CallbackName, type Utrace } from './internal/state.js';
import { setResume, setSigpending, spliceAttaching, utraceReset, utraceStop } from './utrace-stop.js';

/**
 * What one reporting pass found (struct utrace_report). One object per pass, no per-callback
 * allocation; written only by the task making the pass (the traced task, or the reaper for
 * report_reap), never shared.
 */
export interface Report {
  /** The aggregate resume action: the minimum of every folded return (and STOP for a held engine). */
  action: number;
  /** The minimum of the non-STOP returns: what the task does once it is resumed. */
  resumeAction: number;
  /** The signal or syscall bits of the last event callback's return (report->result). */
  result: number;
  /**
   * utrace_get_signal's pass: a report_quiesce return's non-resume bits are or'd into `result`
   * (upstream's `report.result | report_quiesce(...)`), so the signal action and HOLD stay and
   * bits it returns are added; elsewhere report_quiesce leaves `result` as it is.
   */
  quiesceOrsResult: boolean;
  /** Bits or'd into every event callback's action argument (UTRACE_SYSCALL_RESUMED on a repeat). */
  argBits: number;
  /** The part of `result` passed on in the next event callback's action argument (syscall or signal action). */
  argMask: number;
  detaches: boolean;
  /** No engine wanted the event: utrace_reset can shrink the flags. */
  spurious: boolean;
  /** Some callback of this walk ran kernel code (other tasks may have run): re-read the state. */
  stale: boolean;
  /** Every folded resume action, in order (handed to the `utrace/report` event, then never touched). */
  readonly folded: number[];
  /** Engines that held ENGINE_STOP in this pass. */
  readonly held: number[];
}

export function newReport(): Report {
  return {
    action: UTRACE_RESUME,
    resumeAction: UTRACE_RESUME,
    result: 0,
    quiesceOrsResult: false,
    argBits: 0,
    argMask: 0,
    detaches: false,
    spurious: true,
    stale: false,
    folded: [],
    held: [],
  };
}

/** start_report: splice new engines and take the pending REPORT-class resume. Returns the resume action taken. */
export function* startReport(pid: number): KPath<number> {
  const u = taskU(yield* getState(), pid)!;
  const resume = u.resume;
  if (!u.pendingAttach && !(resume > UTRACE_INTERRUPT && resume < UTRACE_RESUME)) return resume;
  yield* spinLock(utraceLock(pid));
  try {
    yield* spliceAttaching(pid);
    const now = taskU(yield* getState(), pid)!.resume;
    if (now > UTRACE_INTERRUPT && now !== UTRACE_RESUME) yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
    return now;
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/**
 * finish_callback's fold of one return into the report: STOP sticky (ENGINE_STOP), any other
 * action clears it; a DETACH return, or a utrace_control(DETACH) while the callback ran, counts
 * as a detach. Returns whether the engine is detached now, and the ENGINE_STOP change (null: none).
 */
function foldReturn(
  report: Report,
  name: CallbackName,
  ret: number,
  fold: boolean,
  e: UtraceEngineState | undefined,
): { detach: boolean; stop: boolean | null } {
  const resumeAction = ret & UTRACE_RESUME_MASK;
  const detach = (fold || name === 'reportDeath') && (resumeAction === UTRACE_DETACH || e === undefined || e.detached);
  let stop: boolean | null = null;
  if (detach) {
    report.detaches = true;
  } else if (fold) {
    // report_quiesce's return carries no signal or syscall action (but see quiesceOrsResult).
    if (name !== 'reportQuiesce') report.result = ret & ~UTRACE_RESUME_MASK;
    else if (report.quiesceOrsResult) report.result = (report.result | ret) & ~UTRACE_RESUME_MASK;
    if (resumeAction < report.action) report.action = resumeAction;
    report.folded.push(resumeAction);
    if (resumeAction !== UTRACE_STOP) {
      if (resumeAction < report.resumeAction) report.resumeAction = resumeAction;
      if (e?.stop === true) stop = false;
    } else if (e?.stop !== true) {
      stop = true;
    }
  }
  return { detach, stop };
}

/**
 * One callback: utrace->reporting = engine, the call, then finish_callback: fold the return
 * into the report (STOP sticky, DETACH swaps the ops), and reporting = NULL. Returns true
 * when the engine is detached now. `fold` false for report_death/report_reap, whose return
 * only counts for DETACH. `by` is the task running the callback (the traced task, or the
 * reaper for report_reap).
 *
 * `gen` is what calling the callback gave: for a plain function (kernel C code is plain code)
 * its return value, a quick callback; for a generator function its generator, created but
 * not started, driven here rather than with `yield*`: a callback that returns without issuing
 * a single command (no scheduling point, no state read, no event) cannot be observed while it
 * runs, so its start and its return are one `utrace/callback` event carrying `ret`; any other
 * callback gets `utrace/callback` (ret null: reporting = engine) before its first command
 * runs, and `utrace/callback-return` after it returns. Commands and the errors the runtime
 * throws back are passed through exactly as `yield*` would.
 */
export function* reportCallback(
  pid: number,
  id: number,
  name: CallbackName,
  action: number,
  report: Report,
  gen: KPath<number | void> | number | void | null,
  fold: boolean,
  by: number,
  before: UtraceEngineState | undefined,
): KPath<boolean> {
  let raw: number | void = UTRACE_RESUME;
  let quick = true;
  if (!isKPath(gen)) {
    // A plain-function callback (as kernel C code is) has run already: a quick callback.
    if (gen !== null) raw = gen;
  } else {
    // A callback that issues a command is logged as running before its first command acts.
    raw = yield* drive(gen, {
      *beforeFirstCommand() {
        quick = false;
        yield* emit({ type: 'utrace/callback', pid, engine: id, callback: name, action, by, ret: null, stop: null, detach: false });
      },
    });
  }
  const ret = typeof raw === 'number' ? raw >>> 0 : UTRACE_RESUME;
  // A quick callback issued no command: the engine is as the walk read it just before.
  const e = quick ? before : engineS(yield* getState(), id);
  if (!quick) report.stale = true;
  const { detach, stop } = foldReturn(report, name, ret, fold, e);
  const newlyDetached = detach && e !== undefined && !e.detached;
  if (quick) yield* emit({ type: 'utrace/callback', pid, engine: id, callback: name, action, by, ret, stop, detach: newlyDetached });
  else yield* emit({ type: 'utrace/callback-return', pid, engine: id, callback: name, ret, stop, detach: newlyDetached });
  if (newlyDetached) yield* emit({ type: 'utrace/engine-detached', engine: id, pid, how: 'return' });
  return detach;
}

/**
 * REPORT_CALLBACKS: every attached engine in attach order (reverse for syscall entry).
 * start_callback per engine: report_quiesce first if it wants QUIESCE, then STOP if it holds
 * ENGINE_STOP, then the event's callback if it wants the event. An engine attached during the
 * pass is on `attaching`, not in the list this pass walks, so it gets no callback from it.
 * An event callback's action argument is the aggregate so far, or'd with `report.argBits`
 * and the `report.argMask` part of the last return (the syscall or signal action).
 */
export function* reportCallbacks(
  ut: Utrace,
  pid: number,
  event: number,
  name: CallbackName | null,
  report: Report,
  call: CallbackCall | null,
  reverse = false,
): KPath<void> {
  const s = yield* getState();
  const u = taskU(s, pid);
  if (u === undefined) return;
  // `attached` changes only by this task or while it is quiescent: not during this walk.
  const list = u.attached;
  const n = list.length;
  report.stale = false;
  const cursor: PassCursor = { s };
  for (let k = 0; k < n; k++) {
    const id = list[reverse ? n - 1 - k : k]!;
    const reached = yield* passEngine(ut, cursor, id, report);
    if (reached === null) continue;
    const { handle } = reached;
    let e: UtraceEngineState | undefined = reached.e;
    const ops = handle.ops;
    if ((e.flags & UTRACE_EVENT_QUIESCE) !== 0 && ops.reportQuiesce !== undefined) {
      report.spurious = false;
      const a = report.action;
      if (yield* reportCallback(pid, id, 'reportQuiesce', a, report, ops.reportQuiesce(a, handle, event), true, pid, e)) continue;
      // Its own return may have changed ENGINE_STOP; re-read (start_callback re-reads the flags).
      cursor.s = yield* getState();
      report.stale = false;
      e = engineS(cursor.s, id);
      if (e === undefined || e.detached) continue;
    }
    if (e.stop) {
      report.action = UTRACE_STOP;
      report.held.push(id);
    }
    if (name !== null && call !== null && (e.flags & event) !== 0 && ops[name] !== undefined) {
      report.spurious = false;
      const action = report.action | report.argBits | (report.result & report.argMask);
      yield* reportCallback(pid, id, name, action, report, call(handle, action), name !== 'reportDeath', pid, e);
    }
  }
}

/** Where a report pass is in the state: the state as it last read it (written by the pass and by `passEngine`). */
export interface PassCursor {
  s: KernelState;
}

/**
 * The engine `id` as a report pass reaches it. Quick callbacks change only their own engine's
 * entry, so `cursor.s` is re-read only when some callback ran kernel code since it was read
 * (`report.stale`). An engine no longer listed is skipped; a detached one (utrace_detached_ops:
 * report_quiesce returns UTRACE_DETACH) counts in `report.detaches` when it wanted QUIESCE.
 * null: nothing of the tracer runs for this engine.
 */
export function* passEngine(ut: Utrace, cursor: PassCursor, id: number, report: Report): KPath<{ e: UtraceEngineState; handle: UtraceEngine } | null> {
  if (report.stale) {
    cursor.s = yield* getState();
    report.stale = false;
  }
  const e = engineS(cursor.s, id);
  if (e === undefined || !e.listed) return null;
  if (e.detached) {
    if ((e.flags & UTRACE_EVENT_QUIESCE) !== 0) report.detaches = true;
    return null;
  }
  const handle = ut.registry.get(id)?.handle;
  return handle === undefined ? null : { e, handle };
}

/**
 * finish_report: a STOP the task will not act on here becomes REPORT (it stops in
 * utrace_resume on the way to user mode); a stronger pending resume is stored; utrace_reset
 * if an engine detached or nobody wanted the event.
 */
export function* finishReport(ut: Utrace, pid: number, eventLabel: string, report: Report, willNotStop: boolean): KPath<void> {
  yield* emit({ type: 'utrace/report', pid, event: eventLabel, action: report.action, folded: report.folded, held: report.held });
  let resume = report.action;
  if (resume === UTRACE_STOP) resume = willNotStop ? UTRACE_REPORT : UTRACE_RESUME;
  if (resume < UTRACE_RESUME) {
    const u = taskU(yield* getState(), pid);
    if (u === undefined) return;
    if (resume < u.resume) {
      yield* spinLock(utraceLock(pid));
      try {
        yield* setResume(pid, resume);
      } finally {
        yield* spinUnlock(utraceLock(pid));
      }
    }
  }
  if (report.spurious || report.detaches) yield* utraceReset(ut, pid);
}

/** A whole pass for one event: start_report, the callbacks, finish_report. Returns the report. */
export function* reportEvent(ut: Utrace, pid: number, event: number, name: CallbackName, call: CallbackCall, willNotStop: boolean): KPath<Report> {
  const report = newReport();
  yield* startReport(pid);
  yield* reportCallbacks(ut, pid, event, name, report, call);
  yield* finishReport(ut, pid, eventName(event), report, willNotStop);
  return report;
}

/**
 * utrace_resume, on the way back to user mode when a resume action is pending: REPORT gives a
 * report_quiesce(event 0) pass; then finish_resume_report: STOP stops the task here; INTERRUPT
 * makes sure TIF_SIGPENDING is set (the signal path, which comes next, makes its
 * UTRACE_SIGNAL_REPORT pass and takes the INTERRUPT); steps would enable stepping (not modelled).
 */
export function* utraceResume(ut: Utrace, pid: number): KPath<void> {
  const report = newReport();
  report.action = yield* startReport(pid);
  if (report.action === UTRACE_RESUME) return;
  if (report.action === UTRACE_INTERRUPT) {
    yield* setSigpending(pid);
    return;
  }
  const u = taskU(yield* getState(), pid)!;
  if (report.action === UTRACE_REPORT) {
    if ((u.flags & UTRACE_EVENT_QUIESCE) !== 0 || (u.flags & ENGINE_STOP) !== 0) {
      report.action = UTRACE_RESUME;
      yield* reportCallbacks(ut, pid, 0, null, report, null);
    } else {
      report.action = UTRACE_RESUME;
    }
  } else {
    report.spurious = false;
  }
  // A REPORT returned here asks for nothing more (finish_resume_report: as RESUME); an INTERRUPT
  // stays: finishResumeReport makes sure TIF_SIGPENDING is set.
  if (report.action === UTRACE_REPORT) report.action = UTRACE_RESUME;
  yield* finishResumeReport(ut, pid, 'QUIESCE(0)', report);
}

/**
 * finish_resume_report: log the pass, utrace_reset if needed, stop if the outcome is STOP;
 * INTERRUPT makes sure TIF_SIGPENDING is set (utrace->resume is not touched: the signal path
 * then finds nothing to report, as upstream).
 */
export function* finishResumeReport(ut: Utrace, pid: number, eventLabel: string, report: Report): KPath<void> {
  yield* emit({ type: 'utrace/report', pid, event: eventLabel, action: report.action, folded: report.folded, held: report.held });
  if (report.spurious || report.detaches) yield* utraceReset(ut, pid);
  if (report.action === UTRACE_STOP) yield* utraceStop(ut, pid, report.resumeAction);
  else if (report.action === UTRACE_INTERRUPT) yield* setSigpending(pid);
}
