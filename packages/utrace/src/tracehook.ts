/**
 * The tracehooks, after include/linux/tracehook.h as the utrace patches have it: each tests the
 * task's utrace_flags for its event's bit and calls into utrace (utrace-report.ts,
 * utrace-signal.ts, utrace-pass.ts) only when it is set: the hot path is that one test. The
 * syscall hooks are not even called for a task without TIF_SYSCALL_TRACE (the core's slow-path
 * flag test filters them). internal/hooks.ts taps each on the core hook it stands for.
 */
import { SIGKILL, emit, getState, intMapGet, type HookArgs, type KPath, type SignalAction, type SignalInjection } from '@tracelab/core';
import {
  CLONE_VFORK,
  TIF_NOTIFY_RESUME,
  TIF_SYSCALL_TRACE,
  UTRACE_DEATH_EVENTS,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_EXEC,
  UTRACE_EVENT_EXIT,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_RESUME,
} from './constants.js';
import { taskU, type Utrace } from './internal/state.js';
import { utraceResume } from './utrace-pass.js';
import {
  utraceFinishVfork,
  utraceMaybeReap,
  utraceReportClone,
  utraceReportDeath,
  utraceReportExec,
  utraceReportExit,
  utraceReportSyscallEntry,
  utraceReportSyscallExit,
} from './utrace-report.js';
import { utraceGetSignal, utraceGetSignalForced } from './utrace-signal.js';
import { utraceWakeStopWaiters } from './utrace.js';

/** task_utrace_flags: the one test every tracehook makes (0 for a task no engine ever touched). */
function* taskUtraceFlags(pid: number): KPath<number> {
  return taskU(yield* getState(), pid)?.flags ?? 0;
}

/**
 * copy_process at dup: the child starts with no engines, so it must not inherit the syscall
 * slow path (or a pending notify-resume) that dup_task_struct copied. Parent 0 is a
 * host-started task's own fork tail: it inherited nothing, and engines the host attached
 * before its first step own whatever flags it has now.
 */
export function* utraceForkDup(parent: number, child: number): KPath<void> {
  if (parent === 0) return;
  const t = intMapGet((yield* getState()).tasks, child);
  if (t === undefined) return;
  const clear: string[] = [];
  if (t.flags[TIF_SYSCALL_TRACE] === true) clear.push(TIF_SYSCALL_TRACE);
  if (t.flags[TIF_NOTIFY_RESUME] === true) clear.push(TIF_NOTIFY_RESUME);
  if (clear.length > 0) yield* emit({ type: 'task/flags', pid: child, set: [], clear });
}

/** tracehook_report_clone: the child is linked and cannot run yet; the parent reports. */
export function* tracehookReportClone(ut: Utrace, { parent, child, cloneFlags }: HookArgs['clone']): KPath<void> {
  if (((yield* taskUtraceFlags(parent)) & UTRACE_EVENT_CLONE) === 0) return;
  yield* utraceReportClone(ut, parent, child, cloneFlags);
}

/** tracehook_report_clone_complete: the child is woken; a vfork parent that report_clone asked to stop stops now, before its wait. */
export function* tracehookReportCloneComplete(ut: Utrace, { parent, cloneFlags }: HookArgs['cloneComplete']): KPath<void> {
  if ((cloneFlags & CLONE_VFORK) === 0 || ((yield* taskUtraceFlags(parent)) & UTRACE_EVENT_CLONE) === 0) return;
  yield* utraceFinishVfork(ut, parent);
}

/** tracehook_report_syscall_entry: 'abort' skips the syscall's body (-ENOSYS). */
export function* tracehookReportSyscallEntry(ut: Utrace, { pid, name, args }: HookArgs['syscallEntry']): KPath<'abort' | undefined> {
  if (((yield* taskUtraceFlags(pid)) & UTRACE_EVENT_SYSCALL_ENTRY) === 0) return undefined;
  return yield* utraceReportSyscallEntry(ut, pid, name, args);
}

/** tracehook_report_syscall_exit. */
export function* tracehookReportSyscallExit(ut: Utrace, { pid, name, ret }: HookArgs['syscallExit']): KPath<void> {
  if (((yield* taskUtraceFlags(pid)) & UTRACE_EVENT_SYSCALL_EXIT) === 0) return;
  yield* utraceReportSyscallExit(ut, pid, name, ret);
}

/** tracehook_report_exec. */
export function* tracehookReportExec(ut: Utrace, { pid, comm }: HookArgs['exec']): KPath<void> {
  if (((yield* taskUtraceFlags(pid)) & UTRACE_EVENT_EXEC) === 0) return;
  yield* utraceReportExec(ut, pid, comm);
}

/** tracehook_report_exit: the exit code do_exit goes on with, if an engine changed it. */
export function* tracehookReportExit(ut: Utrace, { pid, code }: HookArgs['exit']): KPath<number | undefined> {
  if (((yield* taskUtraceFlags(pid)) & UTRACE_EVENT_EXIT) === 0) return undefined;
  return yield* utraceReportExit(ut, pid, code);
}

/**
 * tracehook_report_death, after exit_notify. A tracer sleeping in waitForStop is woken for any
 * traced task (it would otherwise wait for a stop that never comes); report_death only if an
 * engine wants the death events. The exit signal to the parent; -1 (DEATH_REAP) when the task
 * reaps itself.
 */
export function* tracehookReportDeath(ut: Utrace, { pid }: HookArgs['death']): KPath<void> {
  const s = yield* getState();
  const u = taskU(s, pid);
  if (u === undefined) return;
  yield* utraceWakeStopWaiters(pid);
  if ((u.flags & UTRACE_DEATH_EVENTS) === 0) return;
  const parent = intMapGet(s.tasks, pid)?.parent ?? 0;
  yield* utraceReportDeath(ut, pid, true, parent === 0 ? -1 : 17);
}

/** release_task's utrace_release_task, in the reaper: report_reap, unless report_death is still to finish. */
export function* utraceReleaseTask(ut: Utrace, { pid, by }: HookArgs['release']): KPath<void> {
  const u = taskU(yield* getState(), pid);
  if (u === undefined || u.flags === 0 || u.reap) return;
  yield* utraceMaybeReap(ut, pid, true, by);
}

/**
 * tracehook_get_signal: utrace_get_signal for a traced task (SIGKILL is never reported). `sig` 0:
 * the core's signal path forced by TIF_SIGPENDING with nothing queued (UTRACE_INTERRUPT); the
 * signal the engines chose there, if any, comes back as a SignalInjection.
 */
export function* tracehookGetSignal(ut: Utrace, { pid, sig }: HookArgs['signal']): KPath<SignalAction | SignalInjection | undefined> {
  if (sig === 0) return taskU(yield* getState(), pid) !== undefined ? yield* utraceGetSignalForced(ut, pid) : undefined;
  const flags = yield* taskUtraceFlags(pid);
  if (flags === 0 || sig === SIGKILL) return undefined;
  return yield* utraceGetSignal(ut, pid, sig, flags);
}

/**
 * tracehook_notify_resume: set_notify_resume put TIF_NOTIFY_RESUME on the task, so the core
 * sends it down the slow path on its way out (after a syscall, and in a new child's
 * ret_from_fork). The flag is cleared first, as do_notify_resume does, then utrace_resume.
 */
export function* tracehookNotifyResume(ut: Utrace, { pid }: HookArgs['syscallExit']): KPath<void> {
  yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_NOTIFY_RESUME] });
  const u = taskU(yield* getState(), pid);
  if (u === undefined || u.resume === UTRACE_RESUME) return;
  yield* utraceResume(ut, pid);
}
