/**
 * The signal path, after kernel/utrace.c: utrace_get_signal (called from get_signal_to_deliver
 * through tracehook_get_signal) and the report_jctl pass of a job-control stop or continue,
 * reduced to what the core's signal path offers: one pending signal at a time, a disposition
 * to return.
 */
import { SIGKILL, TIF_SIGPENDING, emit, getState, intMapGet, isKPath, spinLock, spinUnlock, type KPath, type SignalAction } from '@tracelab/core';
import {
  CLD_CONTINUED,
  CLD_STOPPED,
  ENGINE_STOP,
  UTRACE_EVENT_JCTL,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SIGNAL,
  UTRACE_EVENT_SIGNAL_CORE,
  UTRACE_EVENT_SIGNAL_IGN,
  UTRACE_EVENT_SIGNAL_STOP,
  UTRACE_EVENT_SIGNAL_TERM,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_RESUME_MASK,
  UTRACE_SIGNAL_CORE,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_HOLD,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_MASK,
  UTRACE_SIGNAL_REPORT,
  UTRACE_SIGNAL_STOP,
  UTRACE_SIGNAL_TERM,
  UTRACE_SIGNAL_TSTP,
  UTRACE_STOP,
} from './constants.js';
import type { UtraceSigAction } from './events.js';
import { regsOf, taskU, utraceLock, type Utrace } from './internal/state.js';
import {
  finishReport,
  finishResumeReport,
  newReport,
  passEngine,
  reportCallback,
  reportCallbacks,
  reportEvent,
  startReport,
  type PassCursor,
  type Report,
} from './utrace-pass.js';
import { spliceAttaching, utraceStop } from './utrace-stop.js';

const IGNORED_BY_DEFAULT = new Set([17, 23, 28]); // SIGCHLD, SIGURG, SIGWINCH
const STOP_SIGNALS = new Set([19, 20, 21, 22]); // SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU
const CORE_SIGNALS = new Set([3, 4, 5, 6, 7, 8, 11, 24, 25, 31]); // SIGQUIT ... SIGSYS
const SIGCONT = 18;

/** The core's default disposition of a signal (what it does when no handler overrides it). */
export function defaultDisposition(sig: number): Exclude<SignalAction, 'hold'> {
  if (sig === SIGKILL) return 'terminate';
  if (sig === SIGCONT) return 'continue';
  if (IGNORED_BY_DEFAULT.has(sig)) return 'ignore';
  if (STOP_SIGNALS.has(sig)) return 'stop';
  return 'terminate';
}

/** The signal event bit and the signal action that describe the default disposition. */
function signalEvent(sig: number, d: SignalAction): { event: number; action: number } {
  switch (d) {
    case 'ignore':
    case 'continue':
      return { event: UTRACE_EVENT_SIGNAL_IGN, action: UTRACE_SIGNAL_IGN };
    case 'stop':
      return { event: UTRACE_EVENT_SIGNAL_STOP, action: sig === 19 ? UTRACE_SIGNAL_STOP : UTRACE_SIGNAL_TSTP };
    default:
      return CORE_SIGNALS.has(sig)
        ? { event: UTRACE_EVENT_SIGNAL_CORE, action: UTRACE_SIGNAL_CORE }
        : { event: UTRACE_EVENT_SIGNAL_TERM, action: UTRACE_SIGNAL_TERM };
  }
}

/** What the final signal action means to the core. */
function dispositionOf(action: number, signo: number, returnKa: UtraceSigAction): SignalAction {
  // UTRACE_SIGNAL_HOLD: put the signal back in the queue, whatever the action says.
  if ((action & UTRACE_SIGNAL_HOLD) !== 0) return 'hold';
  switch (action & UTRACE_SIGNAL_MASK) {
    case UTRACE_SIGNAL_IGN:
    case UTRACE_SIGNAL_REPORT:
      return 'ignore';
    case UTRACE_SIGNAL_TERM:
    case UTRACE_SIGNAL_CORE:
      return 'terminate';
    case UTRACE_SIGNAL_STOP:
    case UTRACE_SIGNAL_TSTP:
      return 'stop';
    case UTRACE_SIGNAL_DELIVER:
      return returnKa.handler === defaultDisposition(signo) ? defaultDisposition(signo) : returnKa.handler;
    default:
      return defaultDisposition(signo);
  }
}

/**
 * The report_signal passes of utrace_get_signal: one for the signal's event (or QUIESCE), and
 * while an engine stops the task there and resumes it with REPORT or INTERRUPT, a
 * UTRACE_SIGNAL_REPORT pass with the same info, so the engine that stopped decides what to
 * deliver (ptrace's PTRACE_CONT with a signal). Returns the disposition the engines decided,
 * or undefined when no callback ran.
 */
function* reportSignal(ut: Utrace, pid: number, sig: number, dflt: Exclude<SignalAction, 'hold'>): KPath<SignalAction | undefined> {
  const { event, action: sigAction } = signalEvent(sig, dflt);
  let decided: SignalAction | undefined;
  const info = { signo: sig };
  let origKa: UtraceSigAction | null = Object.freeze({ handler: dflt });
  const returnKa: UtraceSigAction = { handler: dflt };
  const regs = regsOf(pid, null, {}, null);
  let pass = sigAction;
  let ev = event;
  for (;;) {
    const report = newReport();
    report.result = pass;
    report.argMask = UTRACE_SIGNAL_MASK;
    let called = false;
    yield* startReport(pid);
    const ka = origKa;
    yield* reportCallbacks(ut, pid, ev, 'reportSignal', report, (h, action) => {
      called = true;
      return h.ops.reportSignal!(action, h, regs, info, ka, returnKa);
    });
    yield* finishReport(ut, pid, ev === UTRACE_EVENT_SIGNAL ? 'SIGNAL_REPORT' : 'SIGNAL', report, false);
    if (called) decided = dispositionOf(report.result, info.signo, returnKa);
    if (report.action !== UTRACE_STOP) return decided;
    yield* utraceStop(ut, pid, report.resumeAction);
    const s = yield* getState();
    const u = taskU(s, pid);
    if (u === undefined || intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true) return decided;
    if (u.resume > UTRACE_REPORT) return decided;
    yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
    // This pass is the one the INTERRUPT asked for: recalc_sigpending, nothing else forces it now.
    if (intMapGet(s.tasks, pid)?.flags[TIF_SIGPENDING] === true) yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_SIGPENDING] });
    pass = UTRACE_SIGNAL_REPORT;
    ev = UTRACE_EVENT_SIGNAL;
    origKa = null;
  }
}

/**
 * utrace_get_signal for signal `sig` about to be delivered to `pid`, whose utrace_flags are
 * `flags` (nonzero; SIGKILL never comes here): report_signal if an engine wants the signal's
 * event or QUIESCE, then report_jctl if the outcome is a job-control stop or continue and an
 * engine wants JCTL. Returns the disposition the core applies ('hold': UTRACE_SIGNAL_HOLD, the
 * signal stays queued), or undefined for the core's default.
 */
export function* utraceGetSignal(ut: Utrace, pid: number, sig: number, flags: number): KPath<SignalAction | undefined> {
  const dflt = defaultDisposition(sig);
  const { event } = signalEvent(sig, dflt);
  const decided = (flags & (event | UTRACE_EVENT_QUIESCE)) !== 0 ? yield* reportSignal(ut, pid, sig, dflt) : undefined;
  const final = decided ?? dflt;
  const jctl = final === 'stop' ? CLD_STOPPED : final === 'continue' ? CLD_CONTINUED : 0;
  if (jctl !== 0 && ((taskU(yield* getState(), pid)?.flags ?? 0) & UTRACE_EVENT_JCTL) !== 0) {
    yield* reportEvent(ut, pid, UTRACE_EVENT_JCTL, 'reportJctl', (h, action) => h.ops.reportJctl!(action, h, jctl, 1), true);
  }
  return decided;
}

/**
 * "Avoid a tight loop reporting again and again if some engine is too stupid": in the
 * UTRACE_SIGNAL_REPORT pass a REPORT or INTERRUPT return counts as RESUME.
 */
function tame(ret: number | void): number | void {
  if (typeof ret !== 'number') return ret;
  const a = ret & UTRACE_RESUME_MASK;
  return a === UTRACE_INTERRUPT || a === UTRACE_REPORT ? (ret & ~UTRACE_RESUME_MASK) | UTRACE_RESUME : ret;
}

function tamed(gen: KPath<number | void> | number | void): KPath<number | void> | number | void {
  if (!isKPath(gen)) return tame(gen);
  return (function* tamedCallback(): KPath<number | void> {
    return tame(yield* gen);
  })();
}

/**
 * The UTRACE_SIGNAL_REPORT pass with no signal (utrace_get_signal's explicit report, event 0):
 * each engine that wants QUIESCE gets report_signal with UTRACE_SIGNAL_REPORT | the aggregate,
 * `info.signo` 0 and no original sigaction, or report_quiesce(event 0) if it has no
 * report_signal. An engine holding ENGINE_STOP makes the aggregate STOP, as in every pass here.
 */
function* signalReportPass(ut: Utrace, pid: number, report: Report): KPath<void> {
  const cursor: PassCursor = { s: yield* getState() };
  const list = taskU(cursor.s, pid)?.attached ?? [];
  const regs = regsOf(pid, null, {}, null);
  const info = { signo: 0 };
  const returnKa: UtraceSigAction = { handler: 'ignore' };
  report.result = UTRACE_SIGNAL_REPORT;
  report.stale = false;
  for (const id of list) {
    const reached = yield* passEngine(ut, cursor, id, report);
    if (reached === null) continue;
    const { e, handle } = reached;
    if (e.stop) {
      report.action = UTRACE_STOP;
      report.held.push(id);
    }
    if ((e.flags & UTRACE_EVENT_QUIESCE) === 0) continue;
    const ops = handle.ops;
    report.spurious = false;
    if (ops.reportSignal !== undefined) {
      const action = (report.result & UTRACE_SIGNAL_MASK) | report.action;
      yield* reportCallback(pid, id, 'reportSignal', action, report, tamed(ops.reportSignal(action, handle, regs, info, null, returnKa)), true, pid, e);
    } else if (ops.reportQuiesce !== undefined) {
      const action = report.action;
      yield* reportCallback(pid, id, 'reportQuiesce', action, report, tamed(ops.reportQuiesce(action, handle, 0)), true, pid, e);
    }
  }
}

/**
 * utrace_get_signal forced by TIF_SIGPENDING with no signal (the core's `signal` hook with
 * sig 0): under the lock, splice the new engines and take utrace->resume. UTRACE_INTERRUPT or
 * REPORT: the UTRACE_SIGNAL_REPORT pass (signalReportPass), then finish_resume_report (STOP
 * stops the task here, before it returns to user mode). Anything weaker was only bookkeeping.
 * No signal comes out of it: an engine's signal action (or a signal it writes into `info`) is
 * not acted on here (docs/utrace.md).
 */
export function* utraceGetSignalForced(ut: Utrace, pid: number): KPath<void> {
  let resume: number;
  yield* spinLock(utraceLock(pid));
  try {
    yield* spliceAttaching(pid);
    const u = taskU(yield* getState(), pid);
    if (u === undefined) return;
    resume = u.resume;
    if (resume !== UTRACE_RESUME) yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
  // Only here to process utrace->resume (steps, or a flag with nothing behind it): no callbacks.
  if (resume > UTRACE_REPORT) return;
  const flags = taskU(yield* getState(), pid)?.flags ?? 0;
  if ((flags & (UTRACE_EVENT_QUIESCE | ENGINE_STOP)) === 0) return;
  const report = newReport();
  yield* signalReportPass(ut, pid, report);
  yield* finishResumeReport(ut, pid, 'SIGNAL_REPORT(0)', report);
}
