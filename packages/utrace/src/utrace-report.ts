/**
 * Where the tracehooks land in kernel/utrace.c: utrace_report_clone, utrace_finish_vfork,
 * utrace_report_syscall_entry/exit, utrace_report_exec, utrace_report_exit,
 * utrace_report_death, utrace_maybe_reap (from release_task). The signal path
 * (utrace_get_signal, report_jctl) is in utrace-signal.ts; the tracehooks that call these, with
 * their test of utrace_flags, in tracehook.ts.
 */
import { SIGKILL, emit, getState, intMapGet, spinLock, spinUnlock, type KPath } from '@tracelab/core';
import {
  CLONE_VFORK,
  UTRACE_DEATH_EVENTS,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_EXEC,
  UTRACE_EVENT_EXIT,
  UTRACE_EVENT_REAP,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_STOP,
  UTRACE_SYSCALL_ABORT,
  UTRACE_SYSCALL_MASK,
  UTRACE_SYSCALL_RESUMED,
  UTRACE_SYSCALL_RUN,
} from './constants.js';
import type { UtraceEngineState } from './events.js';
import { engineS, regsOf, taskU, utraceLock, type CallbackCall, type Utrace } from './internal/state.js';
import { utraceEngineRelease } from './utrace-engine.js';
import { finishReport, newReport, reportCallback, reportCallbacks, reportEvent, startReport } from './utrace-pass.js';
import { spliceAttaching, utraceResetLocked, utraceStop } from './utrace-stop.js';

/**
 * utrace_report_clone, from tracehook_report_clone: in the parent, after copy_process linked
 * the child and before wake_up_new_task, so the child cannot run yet; utrace->cloning = child
 * lets an engine attach to it from report_clone (it passes utrace_attach_delay). finish_report
 * keeps a STOP for a vfork (will_not_stop false): the parent must stop before its
 * uninterruptible wait for the child, so vfork_stop is set and utrace_finish_vfork stops it.
 * For any other clone a STOP becomes REPORT, and the parent stops on its way back to user mode.
 */
export function* utraceReportClone(ut: Utrace, parent: number, child: number, cloneFlags: number): KPath<void> {
  const vfork = (cloneFlags & CLONE_VFORK) !== 0;
  const report = newReport();
  yield* startReport(parent);
  yield* emit({ type: 'utrace/cloning', pid: parent, child });
  yield* reportCallbacks(ut, parent, UTRACE_EVENT_CLONE, 'reportClone', report, (h, action) => h.ops.reportClone!(action, h, cloneFlags, child));
  yield* emit({ type: 'utrace/cloning', pid: parent, child: null });
  yield* finishReport(ut, parent, 'CLONE', report, !vfork);
  if (report.action !== UTRACE_STOP || !vfork) return;
  yield* spinLock(utraceLock(parent));
  try {
    yield* emit({ type: 'utrace/vfork-stop', pid: parent, set: true });
  } finally {
    yield* spinUnlock(utraceLock(parent));
  }
}

/**
 * utrace_finish_vfork, from tracehook_report_clone_complete: the child has been woken and the
 * parent has not begun its wait for the child's exec or exit. If report_clone asked for STOP,
 * the parent stops here, so a tracer holds it before the wait and not after it.
 */
export function* utraceFinishVfork(ut: Utrace, pid: number): KPath<void> {
  const u = taskU(yield* getState(), pid);
  if (u === undefined || !u.vforkStop) return;
  yield* spinLock(utraceLock(pid));
  try {
    yield* emit({ type: 'utrace/vfork-stop', pid, set: false });
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
  yield* utraceStop(ut, pid, UTRACE_RESUME);
}

/**
 * utrace_report_syscall_entry: report_syscall_entry in reverse attach order; STOP stops the
 * task before the call, and a resume with REPORT or INTERRUPT pending repeats the report with
 * UTRACE_SYSCALL_RESUMED. Returns 'abort' when the final syscall action is
 * UTRACE_SYSCALL_ABORT or SIGKILL ended the stop: the core skips the body (-ENOSYS).
 */
export function* utraceReportSyscallEntry(ut: Utrace, pid: number, name: string, args: Readonly<Record<string, number>>): KPath<'abort' | undefined> {
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
    yield* startReport(pid);
    yield* reportCallbacks(ut, pid, UTRACE_EVENT_SYSCALL_ENTRY, 'reportSyscallEntry', report, call, true);
    yield* finishReport(ut, pid, 'SYSCALL_ENTRY', report, false);
    result = report.result;
    if (report.action !== UTRACE_STOP) break;
    yield* utraceStop(ut, pid, report.resumeAction);
    const s = yield* getState();
    // Continuing despite the STOP because of SIGKILL: the call must not proceed.
    if (intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true) return 'abort';
    // Resumed with REPORT or INTERRUPT pending: every engine sees the entry again.
    if ((taskU(s, pid)?.resume ?? UTRACE_RESUME) > UTRACE_REPORT) break;
    resumed = UTRACE_SYSCALL_RESUMED;
  }
  return (result & UTRACE_SYSCALL_MASK) === UTRACE_SYSCALL_ABORT ? 'abort' : undefined;
}

/** utrace_report_syscall_exit. */
export function* utraceReportSyscallExit(ut: Utrace, pid: number, name: string, ret: number): KPath<void> {
  const regs = regsOf(pid, name, {}, ret);
  yield* reportEvent(ut, pid, UTRACE_EVENT_SYSCALL_EXIT, 'reportSyscallExit', (h, action) => h.ops.reportSyscallExit!(action, h, regs), true);
}

/** utrace_report_exec, after the new image is in place (`comm` its basename). */
export function* utraceReportExec(ut: Utrace, pid: number, comm: string): KPath<void> {
  const regs = regsOf(pid, 'execve', {}, null);
  yield* reportEvent(ut, pid, UTRACE_EVENT_EXEC, 'reportExec', (h, action) => h.ops.reportExec!(action, h, 'elf', { filename: comm }, regs), true);
}

/**
 * utrace_report_exit, from do_exit: report_exit may change the exit code (engines see the
 * original and the current one, as `*exit_code`) and may stop the task before it tears itself
 * down. Returns the code do_exit goes on with, or undefined when unchanged (so another
 * plugin's change earlier in the hook stands).
 */
export function* utraceReportExit(ut: Utrace, pid: number, code: number): KPath<number | undefined> {
  const box = { value: code };
  const report = yield* reportEvent(ut, pid, UTRACE_EVENT_EXIT, 'reportExit', (h, action) => h.ops.reportExit!(action, h, code, box), false);
  if (report.action === UTRACE_STOP) yield* utraceStop(ut, pid, report.resumeAction);
  return Number.isSafeInteger(box.value) && box.value !== code ? box.value : undefined;
}

/**
 * utrace_maybe_reap's part under the utrace lock. From the dying task (`reap` false): clears
 * `death`; if release_task came meanwhile the reap is due now, else it resets. From
 * release_task (`reap` true): defers while the death reports are due. Returns the engines to
 * reap (their lists moved to the reaper's, `utrace/reap`), or null when there is no reap now.
 */
function* maybeReapLocked(ut: Utrace, pid: number, reap: boolean, by: number): KPath<UtraceEngineState[] | null> {
  let u = taskU(yield* getState(), pid);
  if (u === undefined || u.reap) return null;
  if (reap) {
    if (u.death || ((u.flags & UTRACE_DEATH_EVENTS) !== 0 && !u.deathDone)) {
      // The dying task has not finished its death reports: it does the reap itself after.
      yield* emit({ type: 'utrace/reap', pid, by, deferred: true });
      return null;
    }
  } else {
    yield* emit({ type: 'utrace/death', pid, phase: 'end' });
    u = taskU(yield* getState(), pid)!;
    if (!u.reapPending) {
      yield* utraceResetLocked(ut, pid);
      return null;
    }
  }
  yield* spliceAttaching(pid);
  const s = yield* getState();
  u = taskU(s, pid)!;
  const engines = u.attached.map((id) => engineS(s, id)).filter((e): e is UtraceEngineState => e !== undefined);
  yield* emit({ type: 'utrace/reap', pid, by, deferred: false });
  return engines;
}

/**
 * utrace_maybe_reap. Under the lock (maybeReapLocked) the reap is decided; then, without the
 * lock, per engine its report_reap if it wants REAP, and the list's reference dropped
 * (`utrace/engine-reaped`). The engine stays listed until its report_reap has returned, so a
 * tracer's put meanwhile cannot free it. `by` is the task doing it (the reaper, or the dying
 * task itself when release_task came during report_death).
 */
export function* utraceMaybeReap(ut: Utrace, pid: number, reap: boolean, by: number): KPath<void> {
  yield* spinLock(utraceLock(pid));
  let engines: UtraceEngineState[] | null;
  try {
    engines = yield* maybeReapLocked(ut, pid, reap, by);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
  if (engines === null) return;
  const report = newReport();
  for (const e of engines) {
    // A detached engine (utrace_detached_ops) has an empty report_reap and no REAP bit.
    const handle = ut.registry.get(e.id)?.handle;
    if (!e.detached && (e.flags & UTRACE_EVENT_REAP) !== 0 && handle?.ops.reportReap !== undefined) {
      yield* reportCallback(pid, e.id, 'reportReap', 0, report, handle.ops.reportReap(handle, pid), false, by, e);
    }
    yield* emit({ type: 'utrace/engine-reaped', engine: e.id, pid, by });
    yield* utraceEngineRelease(ut, e.id);
  }
}

/** utrace_report_death: after exit_notify; death = 1, then report_death, then maybe_reap. */
export function* utraceReportDeath(ut: Utrace, pid: number, groupDead: boolean, signal: number): KPath<void> {
  yield* spinLock(utraceLock(pid));
  try {
    yield* emit({ type: 'utrace/death', pid, phase: 'start' });
    yield* spliceAttaching(pid);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
  const report = newReport();
  yield* reportCallbacks(ut, pid, UTRACE_EVENT_DEATH, 'reportDeath', report, (h) => h.ops.reportDeath!(h, groupDead, signal));
  yield* emit({ type: 'utrace/report', pid, event: 'DEATH', action: report.action, folded: report.folded, held: report.held });
  yield* utraceMaybeReap(ut, pid, false, pid);
}
