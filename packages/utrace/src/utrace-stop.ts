/**
 * Quiescence, after kernel/utrace.c: splice_attaching, utrace_reset, utrace_stop,
 * utrace_wakeup, and the resume bookkeeping (utrace->resume, set_notify_resume). The utrace
 * lock of a task (utraceLock) guards its struct utrace; these paths either take it or say that
 * their caller holds it (`...Locked`).
 */
import { SIGCONT, SIGKILL, TIF_SIGPENDING, current, emit, getState, intMapGet, schedule, spinLock, spinUnlock, wakeUp, type KPath } from '@tracelab/core';
import {
  ENGINE_STOP,
  TIF_NOTIFY_RESUME,
  TIF_SYSCALL_TRACE,
  UTRACE_DEATH_EVENTS,
  UTRACE_EVENT_REAP,
  UTRACE_EVENT_SYSCALL,
  UTRACE_INTERRUPT,
  UTRACE_RESUME,
} from './constants.js';
import { engineS, jobctlTraced, notifyChannel, sigkillPending, stopChannel, taskU, utraceLock, type Utrace } from './internal/state.js';
import { utraceEngineRelease } from './utrace-engine.js';

/** splice_attaching: under the utrace lock, new engines join the end of the attached list. */
export function* spliceAttaching(pid: number): KPath<void> {
  const u = taskU(yield* getState(), pid);
  if (u === undefined || u.attaching.length === 0) {
    if (u?.pendingAttach === true) yield* emit({ type: 'utrace/splice', pid, engines: [] });
    return;
  }
  yield* emit({ type: 'utrace/splice', pid, engines: [...u.attaching] });
}

/** Sets or clears TIF_SYSCALL_TRACE so the syscall slow path is taken exactly while wanted. */
export function* syncSyscallFlag(pid: number, want: boolean): KPath<void> {
  const t = intMapGet((yield* getState()).tasks, pid);
  if (t === undefined || (t.flags[TIF_SYSCALL_TRACE] === true) === want) return;
  yield* emit({ type: 'task/flags', pid, set: want ? [TIF_SYSCALL_TRACE] : [], clear: want ? [] : [TIF_SYSCALL_TRACE] });
}

/**
 * set_notify_resume: TIF_NOTIFY_RESUME sends the task through the syscall slow path on its
 * way out, where utrace_resume runs. A task with nothing pending keeps the flag clear, so its
 * hot path stays one flag test.
 */
export function* setNotifyResume(pid: number): KPath<void> {
  const t = intMapGet((yield* getState()).tasks, pid);
  if (t === undefined || t.exitState !== null || t.flags[TIF_NOTIFY_RESUME] === true) return;
  yield* emit({ type: 'task/flags', pid, set: [TIF_NOTIFY_RESUME], clear: [] });
}

/**
 * The core's TIF_SIGPENDING without a signal (signal_wake_up's flag, kept set while
 * utrace->resume is UTRACE_INTERRUPT): the task takes the signal path at its next exit to user
 * mode, and utrace_get_signal makes its UTRACE_SIGNAL_REPORT pass there. Wakes nothing.
 */
export function* setSigpending(pid: number): KPath<void> {
  const t = intMapGet((yield* getState()).tasks, pid);
  if (t === undefined || t.exitState !== null || t.flags[TIF_SIGPENDING] === true) return;
  yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
}

/**
 * utrace->resume = resume. Something pending now: UTRACE_INTERRUPT sets TIF_SIGPENDING (the
 * signal path), anything else TIF_NOTIFY_RESUME (utrace_resume), as finish_report does. Caller
 * holds the utrace lock.
 */
export function* setResume(pid: number, resume: number): KPath<void> {
  yield* emit({ type: 'utrace/resume', pid, resume });
  if (resume === UTRACE_INTERRUPT) yield* setSigpending(pid);
  else if (resume < UTRACE_RESUME) yield* setNotifyResume(pid);
}

/**
 * utrace_reset, called with the utrace lock held by the task itself or while it is
 * quiescent: splices the attaching list, drops detached engines, recomputes utrace_flags
 * (the only place they shrink), clears TIF_SYSCALL_TRACE when no engine wants syscalls,
 * and wakes the task from utrace_stop (or hands a converted job-control stop back) when no
 * engine holds ENGINE_STOP any more.
 */
export function* utraceResetLocked(ut: Utrace, pid: number): KPath<void> {
  yield* spliceAttaching(pid);
  const s = yield* getState();
  const u = taskU(s, pid);
  if (u === undefined || u.reap) return;
  const removed: number[] = [];
  let flags = 0;
  for (const id of u.attached) {
    const e = engineS(s, id);
    if (e === undefined || e.detached) {
      removed.push(id);
      continue;
    }
    // Every attached engine keeps REAP in utrace_flags, so release_task drops it at the reap.
    flags |= e.flags | UTRACE_EVENT_REAP | (e.stop ? ENGINE_STOP : 0);
  }
  const t = intMapGet(s.tasks, pid);
  const dead = t === undefined || t.exitState !== null;
  // Once dead, only REAP matters (and the death events while report_death is due).
  if (dead) flags &= u.deathDone ? UTRACE_EVENT_REAP : UTRACE_EVENT_REAP | UTRACE_DEATH_EVENTS;
  if (removed.length > 0 || flags !== u.flags) yield* emit({ type: 'utrace/reset', pid, removed, flags });
  // The removed engines' list reference is dropped by the reducer: one its tracer already put is freed now.
  for (const id of removed) yield* utraceEngineRelease(ut, id);
  if (!dead) yield* syncSyscallFlag(pid, (flags & UTRACE_EVENT_SYSCALL) !== 0);
  if ((flags & ENGINE_STOP) !== 0) return;
  if (u.stopped) yield* utraceWakeup(pid, 'reset');
  else if (jobctlTraced(s, pid)) yield* utraceWakeup(pid, 'reset', true);
}

/** utrace_reset taking the task's utrace lock itself. */
export function* utraceReset(ut: Utrace, pid: number): KPath<void> {
  yield* spinLock(utraceLock(pid));
  try {
    yield* utraceResetLocked(ut, pid);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/**
 * utrace_wakeup: the task leaves TASK_TRACED. `jobctl`: it is a job-control stop a STOP
 * converted (utrace_do_stop), not a task in utrace_stop. If that job-control stop is still in
 * effect (the kernel's SIGNAL_STOP_STOPPED: no SIGCONT came, which the model sees as no SIGCONT
 * pending, since a stopped task cannot have taken it), the task goes back to TASK_STOPPED
 * (`task/traced` false) instead of waking, and a later SIGCONT ends it.
 */
export function* utraceWakeup(pid: number, reason: 'reset' | 'sigkill', jobctl = false): KPath<void> {
  const me = yield* current();
  yield* emit({ type: 'utrace/woken', pid, by: me.pid, reason });
  const t = intMapGet((yield* getState()).tasks, pid);
  if (t === undefined || t.state !== 'stopped' || t.waitingOn !== stopChannel(pid)) return;
  if (jobctl && !t.pendingSignals.some((sig) => sig === SIGCONT || sig === SIGKILL)) {
    yield* emit({ type: 'task/traced', pid, traced: false });
    return;
  }
  yield* emit({ type: 'sched/wakeup', pid, by: me.pid });
}

/** What utrace_stop decided under the lock. */
type StopVerdict = 'again' | 'resumed' | 'killed' | 'sleep';

/**
 * utrace_stop's part under the utrace lock: store the pending resume action, then stop only if
 * an engine still holds ENGINE_STOP and no SIGKILL is pending. 'sleep': the task is in
 * TASK_TRACED now (the caller unlocks and schedules).
 */
function* utraceStopLocked(ut: Utrace, pid: number, action: number): KPath<StopVerdict> {
  const s = yield* getState();
  const u = taskU(s, pid)!;
  if (action < u.resume) yield* setResume(pid, action);
  // The ENGINE_STOP bit in utrace_flags shrinks only at utrace_reset, so it can be stale: a
  // pass that began with an engine holding STOP (start_callback made the pass action STOP)
  // whose own callback then returned a resume action cleared that engine's ENGINE_STOP and
  // left the bit set. The kernel's test of the bit alone would stop the task with no engine
  // wanting it stopped, until some tracer happened to call utrace_reset (found by `tracelab
  // torture`, test/stop-overridden.test.ts). Ask the engines, as SEMANTICS 3(d) does.
  if (
    (u.flags & ENGINE_STOP) === 0 ||
    !u.attached.some((id) => {
      const e = engineS(s, id);
      return e !== undefined && !e.detached && e.stop;
    })
  ) {
    // Everyone who asked for the stop has resumed or detached since: don't stop.
    yield* utraceResetLocked(ut, pid);
    const now = taskU(yield* getState(), pid)!;
    return (now.flags & ENGINE_STOP) !== 0 ? 'again' : 'resumed';
  }
  if (sigkillPending(s, pid)) return 'killed';
  yield* emit({ type: 'utrace/stopped', pid });
  // TASK_TRACED: SIGCONT does not wake it, only utrace_wakeup or SIGKILL.
  yield* emit({ type: 'task/sleep', pid, on: stopChannel(pid), until: null, state: 'stopped', traced: true });
  // ptrace_notify_stop, made general: whoever waits for this task to stop may look now.
  yield* wakeUp(notifyChannel(pid));
  return 'sleep';
}

/**
 * The sleep in TASK_TRACED, after the first schedule(): utrace_wakeup clears `stopped` before
 * waking the task, so still set means something else woke it (a preemption before it slept;
 * not SIGCONT, which the core does not deliver as a wakeup to TASK_TRACED): back to sleep.
 * SIGKILL ends the stop.
 */
function* utraceStoppedSleep(pid: number): KPath<boolean> {
  for (;;) {
    const s = yield* getState();
    const u = taskU(s, pid)!;
    if (!u.stopped) return true;
    if (sigkillPending(s, pid)) {
      yield* utraceWakeup(pid, 'sigkill');
      return true;
    }
    yield* emit({ type: 'task/sleep', pid, on: stopChannel(pid), until: null, state: 'stopped', traced: true });
    yield* wakeUp(notifyChannel(pid));
    yield* schedule();
  }
}

/**
 * utrace_stop, in the task itself: if some engine still holds ENGINE_STOP, the task enters
 * TASK_TRACED and sleeps until utrace_reset finds none (control RESUME/DETACH...) or SIGKILL.
 * Returns true when it stopped (or was killed while it would have), false when no engine
 * wanted the stop any more.
 */
export function* utraceStop(ut: Utrace, pid: number, action: number): KPath<boolean> {
  for (;;) {
    yield* spinLock(utraceLock(pid));
    let verdict: StopVerdict;
    try {
      verdict = yield* utraceStopLocked(ut, pid, action);
    } finally {
      yield* spinUnlock(utraceLock(pid));
    }
    // A reset found ENGINE_STOP again (an engine stopped it meanwhile): look again.
    if (verdict === 'again') continue;
    if (verdict !== 'sleep') return verdict === 'killed';
    yield* schedule();
    return yield* utraceStoppedSleep(pid);
  }
}
