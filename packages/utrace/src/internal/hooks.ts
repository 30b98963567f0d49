import { SIGKILL, emit, getState, intMapGet, type KPath, type PluginContext, type SignalAction } from '@tracelab/core';
import {
  CLD_CONTINUED,
  CLD_STOPPED,
  CLONE_VFORK,
  TIF_NOTIFY_RESUME,
  TIF_SYSCALL_TRACE,
  UTRACE_DEATH_EVENTS,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_EXEC,
  UTRACE_EVENT_EXIT,
  UTRACE_EVENT_JCTL,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SIGNAL,
  UTRACE_EVENT_SIGNAL_CORE,
  UTRACE_EVENT_SIGNAL_IGN,
  UTRACE_EVENT_SIGNAL_STOP,
  UTRACE_EVENT_SIGNAL_TERM,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_SIGNAL_CORE,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_HOLD,
  UTRACE_SIGNAL_MASK,
  UTRACE_SIGNAL_REPORT,
  UTRACE_SIGNAL_STOP,
  UTRACE_SIGNAL_TERM,
  UTRACE_SIGNAL_TSTP,
  UTRACE_STOP,
  UTRACE_SYSCALL_ABORT,
  UTRACE_SYSCALL_MASK,
  UTRACE_SYSCALL_RESUMED,
  UTRACE_SYSCALL_RUN,
} from '../constants.js';
import type { UtraceRegs, UtraceSigAction, UtraceState } from '../events.js';
import { newReport, type CallbackCall, type UtraceCore } from './utrace.js';

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
 * The tracehooks: each reads the task's utrace_flags from the slice and calls into utrace only
 * when a bit asks for it (the hot path is that one test). The syscall hooks are not even
 * called for a task without TIF_SYSCALL_TRACE: the core's slow-path flag test filters them.
 */
export function tapHooks(ctx: PluginContext<UtraceState>, core: UtraceCore): void {
  const regsOf = (pid: number, name: string | null, args: Readonly<Record<string, number>>, ret: number | null): UtraceRegs =>
    Object.freeze({ pid, syscall: name, args, ret });
  const flagsOf = function* (pid: number): KPath<number> {
    return core.taskU(yield* getState(), pid)?.flags ?? 0;
  };

  // copy_process at dup: the child starts with no engines, so it must not inherit the syscall
  // slow path (or a pending notify-resume) that dup_task_struct copied.
  ctx.tap(
    'fork',
    function* utraceForkDup({ parent, child }) {
      // Parent 0: a host-started task's own fork tail. It inherited nothing, and engines the
      // host attached before its first step own whatever flags it has now.
      if (parent === 0) return;
      const t = intMapGet((yield* getState()).tasks, child);
      if (t === undefined) return;
      const clear: string[] = [];
      if (t.flags[TIF_SYSCALL_TRACE] === true) clear.push(TIF_SYSCALL_TRACE);
      if (t.flags[TIF_NOTIFY_RESUME] === true) clear.push(TIF_NOTIFY_RESUME);
      if (clear.length > 0) yield* emit({ type: 'task/flags', pid: child, set: [], clear });
    },
    { stage: 'dup' },
  );

  // tracehook_report_clone: the child is linked and cannot run yet; the parent reports.
  ctx.tap('clone', function* utraceReportClone({ parent, child, cloneFlags }) {
    if (((yield* flagsOf(parent)) & UTRACE_EVENT_CLONE) === 0) return;
    yield* core.reportClone(parent, child, cloneFlags);
  });

  // tracehook_report_clone_complete: the child is woken; a vfork parent that report_clone
  // asked to stop stops now, before it starts waiting for the child.
  ctx.tap('cloneComplete', function* utraceFinishVfork({ parent, cloneFlags }) {
    if ((cloneFlags & CLONE_VFORK) === 0 || ((yield* flagsOf(parent)) & UTRACE_EVENT_CLONE) === 0) return;
    yield* core.finishVfork(parent);
  });

  ctx.tap(
    'syscallEntry',
    function* utraceReportSyscallEntry({ pid, name, args }) {
      if (((yield* flagsOf(pid)) & UTRACE_EVENT_SYSCALL_ENTRY) === 0) return undefined;
      const regs = regsOf(pid, name, args, null);
      const call: CallbackCall = (h, action) => h.ops.reportSyscallEntry!(action, h, regs);
      let resumed = 0;
      let result: number = UTRACE_SYSCALL_RUN;
      for (;;) {
        const report = newReport();
        // The syscall action of the last pass carries into a repeated one, as report.result does.
        report.result = result;
        report.argBits = resumed;
        report.argMask = UTRACE_SYSCALL_MASK;
        yield* core.startReport(pid);
        yield* core.reportCallbacks(pid, UTRACE_EVENT_SYSCALL_ENTRY, 'reportSyscallEntry', report, call, true);
        yield* core.finishReport(pid, 'SYSCALL_ENTRY', report, false);
        result = report.result;
        if (report.action !== UTRACE_STOP) break;
        yield* core.utraceStop(pid, report.resumeAction);
        const s = yield* getState();
        // Continuing despite the STOP because of SIGKILL: the call must not proceed.
        if (intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true) return 'abort';
        // Resumed with REPORT or INTERRUPT pending: every engine sees the entry again.
        if ((core.taskU(s, pid)?.resume ?? UTRACE_RESUME) > UTRACE_REPORT) break;
        resumed = UTRACE_SYSCALL_RESUMED;
      }
      // UTRACE_SYSCALL_ABORT: the core skips the body and the task gets -ENOSYS.
      return (result & UTRACE_SYSCALL_MASK) === UTRACE_SYSCALL_ABORT ? 'abort' : undefined;
    },
    { flag: TIF_SYSCALL_TRACE },
  );

  ctx.tap(
    'syscallExit',
    function* utraceReportSyscallExit({ pid, name, ret }) {
      if (((yield* flagsOf(pid)) & UTRACE_EVENT_SYSCALL_EXIT) === 0) return;
      const regs = regsOf(pid, name, {}, ret);
      yield* core.reportEvent(pid, UTRACE_EVENT_SYSCALL_EXIT, 'reportSyscallExit', (h, action) => h.ops.reportSyscallExit!(action, h, regs), true);
    },
    { flag: TIF_SYSCALL_TRACE },
  );

  ctx.tap('exec', function* utraceReportExec({ pid, comm }) {
    if (((yield* flagsOf(pid)) & UTRACE_EVENT_EXEC) === 0) return;
    const regs = regsOf(pid, 'execve', {}, null);
    yield* core.reportEvent(pid, UTRACE_EVENT_EXEC, 'reportExec', (h, action) => h.ops.reportExec!(action, h, 'elf', { filename: comm }, regs), true);
  });

  // do_exit: report_exit may change the exit code (engines see the original and the current
  // one, as `*exit_code`) and may stop the task before it tears itself down; do_exit goes on
  // with the code the last engine left.
  ctx.tap('exit', function* utraceReportExit({ pid, code }) {
    if (((yield* flagsOf(pid)) & UTRACE_EVENT_EXIT) === 0) return undefined;
    const box = { value: code };
    const report = yield* core.reportEvent(pid, UTRACE_EVENT_EXIT, 'reportExit', (h, action) => h.ops.reportExit!(action, h, code, box), false);
    if (report.action === UTRACE_STOP) yield* core.utraceStop(pid, report.resumeAction);
    // Unchanged: no result, so another plugin's change earlier in the hook stands.
    return Number.isSafeInteger(box.value) && box.value !== code ? box.value : undefined;
  });

  ctx.tap('death', function* utraceReportDeath({ pid }) {
    const s = yield* getState();
    const u = core.taskU(s, pid);
    if (u === undefined) return;
    // A tracer sleeping in waitForStop would otherwise wait for a stop that never comes.
    yield* core.wakeStopWaiters(pid);
    if ((u.flags & UTRACE_DEATH_EVENTS) === 0) return;
    const parent = intMapGet(s.tasks, pid)?.parent ?? 0;
    // The exit signal to the parent; -1 (DEATH_REAP) when the task reaps itself.
    yield* core.reportDeath(pid, true, parent === 0 ? -1 : 17);
  });

  // release_task, in the reaper: report_reap, unless report_death is still to finish.
  ctx.tap('release', function* utraceReleaseTask({ pid, by }) {
    const u = core.taskU(yield* getState(), pid);
    if (u === undefined || u.flags === 0 || u.reap) return;
    yield* core.maybeReap(pid, true, by);
  });

  // utrace_get_signal, reduced to what the core's signal path offers: one pending signal at a
  // time, a disposition to return.
  ctx.tap('signal', function* utraceGetSignal({ pid, sig }) {
    const flags = yield* flagsOf(pid);
    if (flags === 0 || sig === SIGKILL) return undefined;
    const dflt = defaultDisposition(sig);
    const { event, action: sigAction } = signalEvent(sig, dflt);
    let decided: SignalAction | undefined;
    if ((flags & (event | UTRACE_EVENT_QUIESCE)) !== 0) {
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
        yield* core.startReport(pid);
        const ka = origKa;
        yield* core.reportCallbacks(pid, ev, 'reportSignal', report, (h, action) => {
          called = true;
          return h.ops.reportSignal!(action, h, regs, info, ka, returnKa);
        });
        yield* core.finishReport(pid, ev === UTRACE_EVENT_SIGNAL ? 'SIGNAL_REPORT' : 'SIGNAL', report, false);
        if (called) decided = dispositionOf(report.result, info.signo, returnKa);
        if (report.action !== UTRACE_STOP) break;
        yield* core.utraceStop(pid, report.resumeAction);
        const s = yield* getState();
        const u = core.taskU(s, pid);
        if (u === undefined || intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true) break;
        if (u.resume > UTRACE_REPORT) break;
        // Resumed with INTERRUPT or REPORT: a UTRACE_SIGNAL_REPORT pass, with the same info, lets
        // the engine that stopped decide what to deliver (ptrace's PTRACE_CONT with a signal).
        yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
        pass = UTRACE_SIGNAL_REPORT;
        ev = UTRACE_EVENT_SIGNAL;
        origKa = null;
      }
    }
    const final = decided ?? dflt;
    const jctl = final === 'stop' ? CLD_STOPPED : final === 'continue' ? CLD_CONTINUED : 0;
    if (jctl !== 0 && ((yield* flagsOf(pid)) & UTRACE_EVENT_JCTL) !== 0) {
      yield* core.reportEvent(pid, UTRACE_EVENT_JCTL, 'reportJctl', (h, action) => h.ops.reportJctl!(action, h, jctl, 1), true);
    }
    return decided;
  });

  // tracehook_notify_resume: set_notify_resume put TIF_NOTIFY_RESUME on the task, so the
  // core sends it down the slow path on its way out (after a syscall, and in a new child's
  // ret_from_fork). The flag is cleared first, as do_notify_resume does, then utrace_resume.
  ctx.tap(
    'syscallExit',
    function* utraceNotifyResume({ pid }) {
      yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_NOTIFY_RESUME] });
      const u = core.taskU(yield* getState(), pid);
      if (u === undefined || u.resume === UTRACE_RESUME) return;
      yield* core.utraceResume(pid);
    },
    { flag: TIF_NOTIFY_RESUME, priority: 0 },
  );
}
