/**
 * The signal path, after kernel/utrace.c: utrace_get_signal (called from get_signal_to_deliver
 * through tracehook_get_signal) and the report_jctl pass of a job-control stop or continue,
 * reduced to what the core's signal path offers: one pending signal at a time, a disposition
 * to return.
 */
import {
  SIGKILL,
  SIGSTOP,
  SIGTERM,
  SIGTRAP,
  SIGTSTP,
  TIF_SIGPENDING,
  TracelabError,
  emit,
  getState,
  intMapGet,
  isKPath,
  spinLock,
  spinUnlock,
  type KPath,
  type SignalAction,
  type SignalInjection,
} from '@tracelab/core';
import {
  CLD_CONTINUED,
  CLD_STOPPED,
  ENGINE_STOP,
  UTRACE_EVENT_JCTL,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SIGNAL_ALL,
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
import type { UtraceSigAction, UtraceSigInfo } from './events.js';
import { regsOf, taskU, utraceLock, type Utrace } from './internal/state.js';
import {
  finishReport,
  finishResumeReport,
  newReport,
  passEngine,
  reportCallback,
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
const SIGQUIT = 3;

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
      // No signal written (si_signo 0): nothing to deliver.
      if (signo === 0) return 'ignore';
      return returnKa.handler === 'default' ? defaultDisposition(signo) : returnKa.handler;
    default:
      return defaultDisposition(signo);
  }
}

/** The k_sigaction of every signal here: the core has no handlers, so each is SIG_DFL (`*ka` upstream). */
const SIG_DFL_KA: UtraceSigAction = Object.freeze({ handler: 'default' as const });

/**
 * The report_signal passes of utrace_get_signal for a real signal: one for the signal's event
 * (signalPass), and while an engine stops the task there and resumes it with REPORT or
 * INTERRUPT, a UTRACE_SIGNAL_REPORT pass (event 0, no original sigaction, a zeroed return_ka)
 * with the same info, so the engine that stopped decides what to deliver (ptrace's PTRACE_CONT
 * with a signal). return_ka starts as the signal's k_sigaction, SIG_DFL ('default'), so a
 * DELIVER of another signal written into info gets that signal's default. After each pass the
 * last signal action decides, as upstream's switch does (signalToActOn): a signal acted on
 * (TERM/CORE/STOP/TSTP, or DELIVER of one not ignored) is finish_report (a STOP becomes a pending
 * REPORT: the task stops in utrace_resume later) and acts at once (actedOn); anything else is
 * the ignore path, where a STOP stops the task here. Returns the disposition the engines
 * decided, a SignalInjection when the signal acted on is reported under another number than
 * `sig`, or undefined when no report_signal ran and nothing changed the signal.
 */
function* reportSignal(ut: Utrace, pid: number, sig: number, dflt: Exclude<SignalAction, 'hold'>): KPath<SignalAction | SignalInjection | undefined> {
  const { event, action: sigAction } = signalEvent(sig, dflt);
  let decided: SignalAction | undefined;
  // One siginfo for every pass (the caller's, upstream): the REPORT pass sees what the first left.
  const info: UtraceSigInfo = { signo: sig };
  let first = true;
  for (;;) {
    const report = newReport();
    const start = first ? sigAction : UTRACE_SIGNAL_REPORT;
    report.result = start;
    yield* startReport(pid);
    // `*return_ka = *ka` for the signal; memset for the REPORT pass: SIG_DFL either way, a fresh one.
    const returnKa: UtraceSigAction = { handler: 'default' };
    const signalled = yield* signalPass(ut, pid, first ? event : 0, report, info, first ? SIG_DFL_KA : null, returnKa);
    const label = first ? 'SIGNAL' : 'SIGNAL_REPORT';
    const changed = signalled || report.result !== start || info.signo !== sig;
    // Decided (docs/utrace.md): HOLD keeps the signal queued undelivered, even with an acting action.
    const act =
      (report.result & UTRACE_SIGNAL_HOLD) === 0 ? signalToActOn(report.result, checkedSigno(pid, info.signo, 'after the pass', false), returnKa) : null;
    if (act !== null) return yield* actedOn(ut, pid, sig, label, report, info.signo, returnKa, act);
    yield* finishReport(ut, pid, label, report, false);
    if (changed) decided = dispositionOf(report.result, info.signo, returnKa);
    if (report.action !== UTRACE_STOP) return decided;
    yield* utraceStop(ut, pid, report.resumeAction);
    const s = yield* getState();
    const u = taskU(s, pid);
    if (u === undefined || intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true) return decided;
    if (u.resume > UTRACE_REPORT) return decided;
    yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
    // This pass is the one the INTERRUPT asked for: recalc_sigpending, nothing else forces it now.
    if (intMapGet(s.tasks, pid)?.flags[TIF_SIGPENDING] === true) yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_SIGPENDING] });
    // "Only got here to clear utrace->signal_handler": no engine for a pass (as utraceGetSignalForced).
    if ((u.flags & (UTRACE_EVENT_QUIESCE | ENGINE_STOP)) === 0) return decided;
    first = false;
  }
}

/**
 * utrace_get_signal's acting path for a real signal: finish_report (STOP becomes a pending
 * REPORT; for a handler, an engine that wanted to stop or step gets INTERRUPT), then what the
 * core acts on: the representative signal's default action (or DELIVER's returnKa), reported
 * as `signo` (0x80 in it: SIGTRAP). Under the stolen signal's own number that is a plain
 * disposition (with nothing changed by the engines, the signal's default, as the core's own);
 * under another, a SignalInjection: the stolen signal leaves the queue, the other one acts.
 */
function* actedOn(
  ut: Utrace,
  pid: number,
  sig: number,
  label: string,
  report: Report,
  signo: number,
  returnKa: UtraceSigAction,
  act: { signr: number; handler: boolean },
): KPath<Exclude<SignalAction, 'hold'> | SignalInjection> {
  if (act.handler && report.action !== UTRACE_RESUME) report.action = UTRACE_INTERRUPT;
  yield* finishReport(ut, pid, label, report, true);
  let action: Exclude<SignalAction, 'hold'>;
  let reported: number;
  if (act.handler) {
    action = returnKa.handler as Exclude<UtraceSigAction['handler'], 'default' | 'ignore'>;
    reported = checkedSigno(pid, act.signr, 'delivered to its handler', true);
  } else {
    action = defaultDisposition(act.signr);
    // "utrace engine left bogus si_signo value": the fatal or stop path reports SIGTRAP instead.
    reported = checkedSigno(pid, (signo & 0x80) !== 0 ? SIGTRAP : signo, 'acted on', true);
  }
  return reported === sig ? action : { sig: reported, action };
}

/**
 * utrace_get_signal for signal `sig` about to be delivered to `pid`, whose utrace_flags are
 * `flags` (nonzero; SIGKILL never comes here): if an engine wants some signal event
 * (UTRACE_EVENT_SIGNAL_ALL: else utrace steals no signal) and one wants this signal's event or
 * QUIESCE, the signal pass; then report_jctl if the outcome is a job-control stop or continue
 * and an engine wants JCTL. Returns the disposition the core applies ('hold':
 * UTRACE_SIGNAL_HOLD, the signal stays queued), a SignalInjection (another signal acted on in
 * its place), or undefined for the core's default.
 */
export function* utraceGetSignal(ut: Utrace, pid: number, sig: number, flags: number): KPath<SignalAction | SignalInjection | undefined> {
  const dflt = defaultDisposition(sig);
  const { event } = signalEvent(sig, dflt);
  const steal = (flags & UTRACE_EVENT_SIGNAL_ALL) !== 0 && (flags & (event | UTRACE_EVENT_QUIESCE)) !== 0;
  const decided = steal ? yield* reportSignal(ut, pid, sig, dflt) : undefined;
  yield* reportJctlFor(ut, pid, decided === undefined ? dflt : typeof decided === 'string' ? decided : decided.action);
  return decided;
}

/** tracehook_notify_jctl from do_signal_stop or a SIGCONT: report_jctl if an engine wants JCTL. */
function* reportJctlFor(ut: Utrace, pid: number, final: SignalAction): KPath<void> {
  const jctl = final === 'stop' ? CLD_STOPPED : final === 'continue' ? CLD_CONTINUED : 0;
  if (jctl !== 0 && ((taskU(yield* getState(), pid)?.flags ?? 0) & UTRACE_EVENT_JCTL) !== 0) {
    yield* reportEvent(ut, pid, UTRACE_EVENT_JCTL, 'reportJctl', (h, action) => h.ops.reportJctl!(action, h, jctl, 1), true);
  }
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
 * utrace_get_signal's reporting pass (not REPORT_CALLBACKS): each engine that wants `event` (the
 * signal's event bit; 0 in a UTRACE_SIGNAL_REPORT pass) or QUIESCE gets exactly one callback:
 * report_signal(the last signal action | the aggregate, info, `ka`, `returnKa`) if its ops have
 * one, else report_quiesce(aggregate, `event`), whose return is or'd with the signal action (so
 * it keeps it, HOLD included, and adds whatever other bits it returns: quiesceOrsResult).
 * A REPORT or INTERRUPT returned counts as RESUME ("too stupid"). `info` and `returnKa` are one
 * pair for the whole pass, so a later engine sees what an earlier one wrote, as it sees its
 * signal action. As in every pass here, an engine holding ENGINE_STOP makes the aggregate STOP,
 * and the fold (STOP sticky, DETACH) is reportCallback's. `report.result` holds the starting
 * signal action. Returns whether any report_signal ran.
 */
function* signalPass(
  ut: Utrace,
  pid: number,
  event: number,
  report: Report,
  info: UtraceSigInfo,
  ka: UtraceSigAction | null,
  returnKa: UtraceSigAction,
): KPath<boolean> {
  const cursor: PassCursor = { s: yield* getState() };
  // `attached` changes only by this task or while it is quiescent: not during this walk.
  const list = taskU(cursor.s, pid)?.attached ?? [];
  const regs = regsOf(pid, null, {}, null);
  let signalled = false;
  report.stale = false;
  report.quiesceOrsResult = true;
  for (const id of list) {
    const reached = yield* passEngine(ut, cursor, id, report);
    if (reached === null) continue;
    const { e, handle } = reached;
    if (e.stop) {
      report.action = UTRACE_STOP;
      report.held.push(id);
    }
    if ((e.flags & (event | UTRACE_EVENT_QUIESCE)) === 0) continue;
    const ops = handle.ops;
    report.spurious = false;
    if (ops.reportSignal !== undefined) {
      signalled = true;
      const action = (report.result & UTRACE_SIGNAL_MASK) | report.action;
      yield* reportCallback(pid, id, 'reportSignal', action, report, tamed(ops.reportSignal(action, handle, regs, info, ka, returnKa)), true, pid, e);
    } else if (ops.reportQuiesce !== undefined) {
      const action = report.action;
      yield* reportCallback(pid, id, 'reportQuiesce', action, report, tamed(ops.reportQuiesce(action, handle, event)), true, pid, e);
    }
  }
  return signalled;
}

/** `info.signo` as an engine left it, checked: an integer, and (where it is acted on) 0..64. */
function checkedSigno(pid: number, signo: unknown, where: string, acted: boolean): number {
  if (typeof signo === 'number' && Number.isInteger(signo) && (!acted || (signo >= 0 && signo <= 64))) return signo;
  throw new TracelabError('UTRACE_SIGINFO_INVALID', `utrace: pid ${pid}'s no-signal pass left info.signo ${String(signo)} (${where}): want an integer 0..64`, {
    pid,
    signo,
  });
}

/** The signal utrace_get_signal acts on after the no-signal pass (signr), or null: none (ignored). */
function signalToActOn(result: number, signo: number, returnKa: UtraceSigAction): { signr: number; handler: boolean } | null {
  switch (result & UTRACE_SIGNAL_MASK) {
    // "a representative signal whose default action does it"; si_signo stays what info says.
    case UTRACE_SIGNAL_TERM:
      return { signr: SIGTERM, handler: false };
    case UTRACE_SIGNAL_CORE:
      return { signr: SIGQUIT, handler: false };
    case UTRACE_SIGNAL_STOP:
      return { signr: SIGSTOP, handler: false };
    case UTRACE_SIGNAL_TSTP:
      return { signr: SIGTSTP, handler: false };
    case UTRACE_SIGNAL_DELIVER:
      // No signal written (si_signo 0), or one that is ignored: nothing to deliver.
      if (signo === 0) return null;
      if (returnKa.handler === 'default') return ignoredByDefault(signo) ? null : { signr: signo, handler: false };
      return returnKa.handler === 'ignore' ? null : { signr: signo, handler: true };
    default:
      // IGN, REPORT, HANDLER: nothing to deliver.
      return null;
  }
}

/** sig_kernel_ignore: SIGCONT and the signals ignored by default. */
function ignoredByDefault(sig: number): boolean {
  return sig === SIGCONT || IGNORED_BY_DEFAULT.has(sig);
}

/** push_back_signal (UTRACE_SIGNAL_HOLD): `info`'s signal goes back in the queue; si_signo 0 ("a wise guy") queues nothing. */
function* pushBackSignal(pid: number, signo: number): KPath<void> {
  if (signo === 0) return;
  const sig = checkedSigno(pid, signo, 'held', true);
  yield* emit({ type: 'signal/generate', pid, sig, from: pid });
}

/**
 * utrace_get_signal forced by TIF_SIGPENDING with no signal (the core's `signal` hook with
 * sig 0): under the lock, splice the new engines and take utrace->resume. UTRACE_INTERRUPT or
 * REPORT: the UTRACE_SIGNAL_REPORT pass (signalPass, event 0), then what the last signal action
 * says (signalToActOn): IGN/REPORT, or DELIVER with no signal or an ignored one, is
 * finish_resume_report (STOP stops the task here, before it returns to user mode) and nothing
 * is delivered; TERM/CORE/STOP/TSTP, or DELIVER of a written signal, is finish_report (a STOP
 * becomes REPORT) and a SignalInjection for the core: the representative signal's default
 * action (or DELIVER's returnKa), reported as `info.signo` (0x80 in it: SIGTRAP). HOLD pushes a
 * written signal back in the queue. Anything weaker than REPORT was only bookkeeping.
 */
export function* utraceGetSignalForced(ut: Utrace, pid: number): KPath<SignalInjection | undefined> {
  let resume: number;
  yield* spinLock(utraceLock(pid));
  try {
    yield* spliceAttaching(pid);
    const u = taskU(yield* getState(), pid);
    if (u === undefined) return undefined;
    resume = u.resume;
    if (resume !== UTRACE_RESUME) yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
  // Only here to process utrace->resume (steps, or a flag with nothing behind it): no callbacks.
  if (resume > UTRACE_REPORT) return undefined;
  const flags = taskU(yield* getState(), pid)?.flags ?? 0;
  if ((flags & (UTRACE_EVENT_QUIESCE | ENGINE_STOP)) === 0) return undefined;
  const report = newReport();
  report.result = UTRACE_SIGNAL_REPORT;
  // No signal: si_signo 0, no original sigaction, a zeroed return_ka (SIG_DFL).
  const info: UtraceSigInfo = { signo: 0 };
  const returnKa: UtraceSigAction = { handler: 'default' };
  yield* signalPass(ut, pid, 0, report, info, null, returnKa);
  const signo = checkedSigno(pid, info.signo, 'after the pass', false);
  const hold = (report.result & UTRACE_SIGNAL_HOLD) !== 0;
  const act = signalToActOn(report.result, signo, returnKa);
  if (act === null) {
    yield* finishResumeReport(ut, pid, 'SIGNAL_REPORT(0)', report);
    // A SIGKILL that came meanwhile is taken next, with nothing pushed back.
    if (hold && intMapGet((yield* getState()).tasks, pid)?.pendingSignals.includes(SIGKILL) !== true) yield* pushBackSignal(pid, signo);
    return undefined;
  }
  // The handler runs: an engine that wanted to stop or step gets another report after it.
  if (act.handler && report.action !== UTRACE_RESUME) report.action = UTRACE_INTERRUPT;
  yield* finishReport(ut, pid, 'SIGNAL_REPORT(0)', report, true);
  if (hold) yield* pushBackSignal(pid, signo);
  if (act.handler) {
    const action = returnKa.handler as Exclude<UtraceSigAction['handler'], 'default' | 'ignore'>;
    return { sig: checkedSigno(pid, act.signr, 'delivered to its handler', true), action };
  }
  // "utrace engine left bogus si_signo value": the fatal or stop path reports SIGTRAP instead.
  const sig = checkedSigno(pid, (signo & 0x80) !== 0 ? SIGTRAP : signo, 'acted on', true);
  const action = defaultDisposition(act.signr);
  yield* reportJctlFor(ut, pid, action);
  return { sig, action };
}
