/**
 * The engine API of kernel/utrace.c, as a tracer calls it: utrace_attach_task,
 * utrace_set_events, utrace_control, utrace_barrier, utrace_prepare_examine,
 * utrace_finish_examine, and the tracer's wait for a stop (ptrace_notify_stop made general).
 * utrace_engine_put is in utrace-engine.ts; utrace_reset and utrace_stop in utrace-stop.ts.
 * Each path that takes a task's utrace lock releases it through one exit (try/finally).
 */
import {
  EAGAIN,
  EALREADY,
  EEXIST,
  EINPROGRESS,
  EINVAL,
  ENOENT,
  ENOMEM,
  EPERM,
  ESRCH,
  current,
  emit,
  getState,
  intMapGet,
  pollSleep,
  printk,
  readLock,
  readUnlock,
  schedPoint,
  schedule,
  shouldFailAlloc,
  spinLock,
  spinUnlock,
  wakeUp,
  type KernelState,
  type KPath,
  type TaskState,
} from '@tracelab/core';
import {
  ENGINE_STOP,
  EOPNOTSUPP,
  ERESTARTNOINTR,
  ERESTARTSYS,
  UTRACE_ATTACH_CREATE,
  UTRACE_ATTACH_EXCLUSIVE,
  UTRACE_ATTACH_MATCH_DATA,
  UTRACE_ATTACH_MATCH_OPS,
  UTRACE_BLOCKSTEP,
  UTRACE_DEATH_EVENTS,
  UTRACE_DETACH,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_RESUME_MAX,
  UTRACE_SINGLESTEP,
  UTRACE_STOP,
} from './constants.js';
import type { UtraceEngine, UtraceEngineOps, UtraceEngineState, UtraceExaminer, UtraceTaskState } from './events.js';
import { utraceSlice } from './internal/reducers.js';
import { engineS, jobctlTraced, notifyChannel, taskU, utraceLock, type CallbackName, type Utrace } from './internal/state.js';
import { setResume, syncSyscallFlag, utraceResetLocked } from './utrace-stop.js';

/** The ops members that are callbacks, checked at attach. */
const OPS_CALLBACKS: ReadonlyArray<CallbackName | 'release'> = [
  'reportQuiesce',
  'reportSignal',
  'reportClone',
  'reportJctl',
  'reportExec',
  'reportSyscallEntry',
  'reportSyscallExit',
  'reportExit',
  'reportDeath',
  'reportReap',
  'release',
];

const NOT_RUNNING = (t: TaskState): boolean => t.state !== 'running' && t.state !== 'runnable';

function matches(ut: Utrace, e: UtraceEngineState, flags: number, ops: UtraceEngineOps<unknown> | null, data: unknown): boolean {
  if (e.detached) return false;
  const h = ut.registry.get(e.id)?.handle;
  if (h === undefined) return false;
  if ((flags & UTRACE_ATTACH_MATCH_OPS) !== 0 && h.ops !== ops) return false;
  if ((flags & UTRACE_ATTACH_MATCH_DATA) !== 0 && h.data !== data) return false;
  return true;
}

/** find_matching_engine: the first listed, non-detached engine of `pid` that matches. */
function findMatch(ut: Utrace, s: KernelState, pid: number, flags: number, ops: UtraceEngineOps<unknown> | null, data: unknown): UtraceEngineState | undefined {
  const u = taskU(s, pid);
  if (u === undefined || u.reap) return undefined;
  for (const id of [...u.attached, ...u.attaching]) {
    const e = engineS(s, id);
    if (e !== undefined && e.listed && matches(ut, e, flags, ops, data)) return e;
  }
  return undefined;
}

/** utrace_attach_task without UTRACE_ATTACH_CREATE: a lookup that takes a reference, or -ENOENT. */
function* utraceAttachLookup<D>(ut: Utrace, pid: number, flags: number, ops: UtraceEngineOps<D> | null, data: D): KPath<UtraceEngine<D> | number> {
  yield* spinLock(utraceLock(pid));
  try {
    const found = findMatch(ut, yield* getState(), pid, flags, ops as UtraceEngineOps<unknown> | null, data);
    if (found === undefined) return -ENOENT;
    yield* emit({ type: 'utrace/engine-get', engine: found.id, refs: found.refs + 1 });
    return ut.registry.get(found.id)!.handle as UtraceEngine<D>;
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/** Every callback given must be callable: the name of the first member that is not, else null. */
function badOpsMember(ops: object): string | null {
  const members = ops as Record<string, unknown>;
  return OPS_CALLBACKS.find((k) => members[k] !== undefined && typeof members[k] !== 'function') ?? null;
}

/**
 * utrace_attach_delay: a newborn child belongs to its creator's report_clone first, so a
 * tracer other than the creator waits until it is no longer new. The wait is interruptible:
 * a signal pending on the caller ends it with -ERESTARTNOINTR. Returns 0, or that error, or
 * -ESRCH if the target went away. `s` is the state the caller last read.
 */
function* utraceAttachDelay(s: KernelState, me: number, pid: number): KPath<number> {
  const done = (st: KernelState): boolean => attachDelayLook(st, me, pid) !== null;
  for (;;) {
    const ret = attachDelayLook(s, me, pid);
    if (ret !== null) return ret;
    // schedule_timeout_interruptible(1), between two looks of a poll loop
    yield* pollSleep(1, done);
    s = yield* getState();
  }
}

/** One look of utrace_attach_delay by `me` at `pid`: what it returns, or null to poll again. */
function attachDelayLook(s: KernelState, me: number, pid: number): number | null {
  const t = intMapGet(s.tasks, pid);
  if (t === undefined) return -ESRCH;
  if (t.state !== 'new' || taskU(s, me)?.cloning === pid) return 0;
  if ((intMapGet(s.tasks, me)?.pendingSignals.length ?? 0) > 0) return -ERESTARTNOINTR;
  return null;
}

/** utrace_attach_task's creation, under the target's utrace lock. */
function* utraceAttachCreateLocked<D>(ut: Utrace, me: number, pid: number, flags: number, ops: UtraceEngineOps<D>, data: D): KPath<UtraceEngine<D> | number> {
  const s = yield* getState();
  const t = intMapGet(s.tasks, pid);
  const u = taskU(s, pid);
  if ((flags & UTRACE_ATTACH_EXCLUSIVE) !== 0 && findMatch(ut, s, pid, flags, ops as UtraceEngineOps<unknown>, data) !== undefined) return -EEXIST;
  // The first engine on a task release_task has already passed: too late.
  if ((u === undefined || u.flags === 0 || u.reap) && (t === undefined || t.exitState === 'dead' || u?.reap === true)) return -ESRCH;
  const id = utraceSlice(s).nextEngine;
  const handle: UtraceEngine<D> = Object.freeze({ id, target: pid, ops, data });
  ut.registry.set(id, { handle: handle as UtraceEngine, released: false });
  yield* emit({ type: 'utrace/engine-attached', engine: id, pid, ops: typeof ops.name === 'string' ? ops.name : 'anonymous', by: me });
  return handle;
}

/**
 * utrace_attach_task. Returns the engine, with one reference for the caller (a lookup without
 * CREATE takes one more), or -ESRCH, -EINVAL, -EPERM, -ENOMEM, -EEXIST, -ENOENT,
 * -ERESTARTNOINTR (see UtraceApi.attachTask). A new engine is queued on `attaching`: it gets
 * no callback for the event in progress.
 */
export function* utraceAttachTask<D>(ut: Utrace, pid: number, flags: number, ops: UtraceEngineOps<D> | null, data: D): KPath<UtraceEngine<D> | number> {
  const me = yield* current();
  const s = yield* getState();
  const t = intMapGet(s.tasks, pid);
  if (t === undefined || t.exitState === 'dead') return -ESRCH;
  if ((flags & UTRACE_ATTACH_CREATE) === 0) return yield* utraceAttachLookup(ut, pid, flags, ops, data);
  if (ops === null || ops === undefined || typeof ops !== 'object') return -EINVAL;
  // Refuse the ops here, naming the member, rather than fail at the first report and take the
  // plugin down with it.
  const bad = badOpsMember(ops);
  if (bad !== null) {
    yield* printk(`utrace_attach_task(${pid}): ops ${String((ops as { name?: unknown }).name)}.${bad} is not a function: -EINVAL`);
    return -EINVAL;
  }
  if (t.kthread) return -EPERM;
  const delayed = yield* utraceAttachDelay(s, me.pid, pid);
  if (delayed !== 0) return delayed;
  if (yield* shouldFailAlloc()) return -ENOMEM;
  yield* spinLock(utraceLock(pid));
  try {
    return yield* utraceAttachCreateLocked(ut, me.pid, pid, flags, ops, data);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/** get_utrace_lock's check: the engine is attached to `pid` and not detached. */
function liveEngine(s: KernelState, pid: number, engine: UtraceEngine): UtraceEngineState | undefined {
  const e = engineS(s, engine.id);
  if (e === undefined || e.detached || !e.listed || e.target !== pid) return undefined;
  return e;
}

/**
 * The flags change of utrace_set_events. New death events in utrace_flags are set under the
 * tasklist read lock, after a fresh look at exit_state: exit_notify sets exit_state under the
 * write lock and tracehook_report_death reads utrace_flags after it, so either the flags are set
 * before exit_notify (report_death will come) or exit_state is seen and it is -EALREADY; never
 * flags set that report_death has already looked past. Returns 0 or -EALREADY.
 */
function* setEventsFlags(ut: Utrace, pid: number, engine: UtraceEngine, mask: number, u: UtraceTaskState): KPath<number> {
  if ((mask & ~u.flags & UTRACE_DEATH_EVENTS) === 0) {
    yield* emit({ type: 'utrace/events-set', pid, engine: engine.id, mask });
    return 0;
  }
  if (ut.faults.setEventsSkipsTasklistLock === true) {
    // The caller checked exit_state; exit_notify may pass between that check and this store.
    yield* schedPoint();
    yield* emit({ type: 'utrace/events-set', pid, engine: engine.id, mask });
    return 0;
  }
  yield* readLock();
  try {
    const t = intMapGet((yield* getState()).tasks, pid);
    if (t === undefined || t.exitState !== null) return -EALREADY;
    yield* emit({ type: 'utrace/events-set', pid, engine: engine.id, mask });
    return 0;
  } finally {
    yield* readUnlock();
  }
}

function* utraceSetEventsLocked(ut: Utrace, pid: number, engine: UtraceEngine, mask: number, caller: number): KPath<number> {
  const s = yield* getState();
  const e = liveEngine(s, pid, engine);
  const u = taskU(s, pid);
  if (e === undefined || u === undefined) return -ESRCH;
  // The internal bit is ignored, so callers may seed the mask from an engine's flags.
  mask &= ~ENGINE_STOP;
  const old = e.flags;
  const t = intMapGet(s.tasks, pid);
  const exiting = t === undefined || t.exitState !== null;
  const added = mask & ~old;
  const cleared = old & ~mask;
  // Past exit_notify (checked under the utrace lock): too late for new death events, or to
  // clear them once report_death has begun.
  if ((added & UTRACE_DEATH_EVENTS) !== 0 && exiting) return -EALREADY;
  if ((cleared & UTRACE_DEATH_EVENTS) !== 0 && (u.death || u.deathDone)) return -EALREADY;
  if ((yield* setEventsFlags(ut, pid, engine, mask, u)) !== 0) return -EALREADY;
  // The fault: utrace_flags left as they were (only utrace_reset may shrink them; this puts them back).
  if (ut.faults.setEventsSkipsFlags === true && (u.flags | mask) !== u.flags) yield* emit({ type: 'utrace/reset', pid, removed: [], flags: u.flags });
  if ((added & UTRACE_EVENT_SYSCALL) !== 0 && !exiting) yield* syncSyscallFlag(pid, true);
  // task_is_stopped_or_traced: a job-control stop is as quiescent as a utrace stop.
  if (cleared !== 0 && pid !== caller && !u.stopped && t?.state !== 'stopped' && !exiting && u.reporting === engine.id) return -EINPROGRESS;
  return 0;
}

/** utrace_set_events: 0, -ESRCH, -EALREADY, -EINPROGRESS (see UtraceApi.setEvents). */
export function* utraceSetEvents(ut: Utrace, pid: number, engine: UtraceEngine, mask: number): KPath<number> {
  const me = yield* current();
  yield* spinLock(utraceLock(pid));
  try {
    return yield* utraceSetEventsLocked(ut, pid, engine, mask, me.pid);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/** utrace_control's action on an engine that holds the task (or not) under the lock; `reset` says whether the task is quiescent. */
function* controlAction(pid: number, e: UtraceEngineState, action: number, caller: number, reset: boolean, s: KernelState): KPath<number> {
  const u = taskU(s, pid)!;
  const t = intMapGet(s.tasks, pid);
  switch (action) {
    case UTRACE_STOP:
      if (!e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: true });
      if (reset) return 0;
      if (t !== undefined && t.state === 'stopped' && t.waitingOn === `stopped:${pid}`) {
        // utrace_do_stop: a job-control stop is quiescent already; it becomes TASK_TRACED, so
        // a SIGCONT no longer ends it: only this engine's resume (utrace_reset) or SIGKILL.
        yield* emit({ type: 'task/traced', pid, traced: true });
        return 0;
      }
      // Not stopped yet: it will stop before user mode (acts like REPORT).
      if (UTRACE_REPORT < u.resume) yield* setResume(pid, UTRACE_REPORT);
      return -EINPROGRESS;
    case UTRACE_DETACH:
      // The ops are swapped (and the mask set to QUIESCE) before `reporting` is looked at.
      yield* emit({ type: 'utrace/engine-detached', engine: e.id, pid, how: 'control' });
      if (reset) return 0;
      if (UTRACE_REPORT < u.resume) yield* setResume(pid, UTRACE_REPORT);
      return u.reporting === e.id && pid !== caller ? -EINPROGRESS : 0;
    case UTRACE_RESUME:
      if (e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: false });
      return 0;
    case UTRACE_REPORT:
    case UTRACE_INTERRUPT:
      if (e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: false });
      if (action < u.resume) yield* setResume(pid, action);
      if (action === UTRACE_INTERRUPT && t !== undefined && t.state === 'sleeping' && t.waitingOn === 'timer') {
        // signal_wake_up: an interruptible sleep ends.
        yield* emit({ type: 'sched/wakeup', pid, by: caller });
      }
      return 0;
    default:
      // UTRACE_SINGLESTEP / UTRACE_BLOCKSTEP: arch_has_single_step() is false here.
      return -EOPNOTSUPP;
  }
}

function* utraceControlLocked(ut: Utrace, pid: number, engine: UtraceEngine, action: number, caller: number): KPath<number> {
  const s = yield* getState();
  const e = liveEngine(s, pid, engine);
  const u = taskU(s, pid);
  if (e === undefined || u === undefined) return -ESRCH;
  const t = intMapGet(s.tasks, pid);
  // task_is_traced: in utrace_stop, or a job-control stop a STOP converted.
  let reset = u.stopped || jobctlTraced(s, pid);
  if (t === undefined || t.exitState !== null) {
    // utrace_control_dead. utrace->reap is set as soon as release_task came, even while the
    // reap waits for report_death.
    if (action !== UTRACE_DETACH || u.reap || u.reapPending) return -ESRCH;
    if (u.death) return -EALREADY;
    reset = true;
  }
  const ret = yield* controlAction(pid, e, action, caller, reset, s);
  if (ret === -EOPNOTSUPP) return ret;
  // UTRACE_STOP on a quiescent task leaves it as it is (utrace_control sets reset = false for
  // it): the task stays stopped, so there is nothing to splice, shrink or wake now.
  if (action === UTRACE_STOP) return ret;
  if (reset && !(ut.faults.controlSkipsReset === true && t !== undefined && t.exitState === null)) yield* utraceResetLocked(ut, pid);
  return ret;
}

function* utraceControlBody(ut: Utrace, pid: number, engine: UtraceEngine, action: number, caller: number): KPath<number> {
  if (!Number.isInteger(action) || action < 0 || action >= UTRACE_RESUME_MAX) return -EINVAL;
  const e0 = engineS(yield* getState(), engine.id);
  const needsQuiesce = action === UTRACE_REPORT || action === UTRACE_INTERRUPT || action === UTRACE_SINGLESTEP || action === UTRACE_BLOCKSTEP;
  if (needsQuiesce && e0 !== undefined && (e0.flags & UTRACE_EVENT_QUIESCE) === 0) return -EINVAL;
  yield* spinLock(utraceLock(pid));
  try {
    return yield* utraceControlLocked(ut, pid, engine, action, caller);
  } finally {
    yield* spinUnlock(utraceLock(pid));
  }
}

/** utrace_control: 0, -EINVAL, -ESRCH, -EALREADY, -EINPROGRESS, -EOPNOTSUPP (see UtraceApi.control). Each call and its return is logged (`utrace/control`). */
export function* utraceControl(ut: Utrace, pid: number, engine: UtraceEngine, action: number): KPath<number> {
  const me = yield* current();
  const ret = yield* utraceControlBody(ut, pid, engine, action, me.pid);
  yield* emit({ type: 'utrace/control', pid, engine: engine.id, action, ret, by: me.pid });
  return ret;
}

/**
 * utrace_barrier. As get_utrace_lock(attached = false) does, an engine off every list (ops
 * NULL) gives -ESRCH and one marked detached but still listed is polled again (the kernel's
 * -ERESTARTSYS retry): the task drops it at its next utrace_reset, the reaper after its
 * report_reap. While release_task waits for the death report (reapPending), report_death and
 * report_reap are still to come: polled too. Otherwise 0 once no callback to it is running.
 */
export function* utraceBarrier(pid: number, engine: UtraceEngine): KPath<number> {
  const me = yield* current();
  if (me.pid === pid) return 0;
  const done = (s: KernelState): boolean => barrierLook(s, pid, engine.id, me.pid) !== null;
  for (;;) {
    const ret = barrierLook(yield* getState(), pid, engine.id, me.pid);
    if (ret !== null) return ret;
    // schedule_timeout_interruptible(1), between two looks of a poll loop
    yield* pollSleep(1, done);
  }
}

/** One look of utrace_barrier by `me` at `engine` on `pid`: what it returns, or null to poll again. */
function barrierLook(s: KernelState, pid: number, engine: number, me: number): number | null {
  const e = engineS(s, engine);
  if (e === undefined || !e.listed) return -ESRCH;
  const u = taskU(s, pid);
  if (!e.detached && u?.reporting !== engine && u?.reapPending !== true) return 0;
  if ((intMapGet(s.tasks, me)?.pendingSignals.length ?? 0) > 0) return -ERESTARTSYS;
  return null;
}

/** wait_task_inactive: waits until `pid` is off every CPU in `state`; 0 if its state changed, else its switch count + 1. */
function* waitTaskInactive(pid: number, state: string): KPath<number> {
  for (;;) {
    const s = yield* getState();
    const t = intMapGet(s.tasks, pid);
    if (t === undefined || t.state !== state) return 0;
    if (!s.cpus.some((c) => c.curr === pid)) return t.nvcsw + t.nivcsw + 1;
    yield* schedPoint();
  }
}

/** utrace_prepare_examine: an examiner, or -EINVAL (the engine does not hold it stopped), -ESRCH (dead), -EAGAIN (running). */
export function* utracePrepareExamine(pid: number, engine: UtraceEngine): KPath<UtraceExaminer | number> {
  const me = yield* current();
  const s = yield* getState();
  const t = intMapGet(s.tasks, pid);
  if (me.pid === pid && t !== undefined) return { state: t.state, ncsw: t.nvcsw + t.nivcsw + 1 };
  const e = engineS(s, engine.id);
  if (e === undefined || e.detached || !e.stop) return -EINVAL;
  if (t === undefined || t.exitState !== null) return -ESRCH;
  if (!NOT_RUNNING(t)) return -EAGAIN;
  const ncsw = yield* waitTaskInactive(pid, t.state);
  if (ncsw === 0) return -EAGAIN;
  return { state: t.state, ncsw };
}

/** utrace_finish_examine: 0, or -EAGAIN (it ran in between: discard what was read), -EINVAL. */
export function* utraceFinishExamine(pid: number, engine: UtraceEngine, examiner: UtraceExaminer): KPath<number> {
  const me = yield* current();
  if (me.pid === pid) return 0;
  const s = yield* getState();
  const e = engineS(s, engine.id);
  if (e === undefined || e.detached || !e.stop) return -EINVAL;
  const t = intMapGet(s.tasks, pid);
  if (t === undefined || t.state !== examiner.state) return -EAGAIN;
  const ncsw = yield* waitTaskInactive(pid, examiner.state);
  return ncsw !== examiner.ncsw ? -EAGAIN : 0;
}

/**
 * Sleeps until `pid` is asleep in utrace_stop (TASK_TRACED): 0, or -ESRCH if it is or becomes
 * dead. utrace_stop wakes this channel each time it goes to sleep there.
 */
export function* utraceWaitForStop(pid: number): KPath<number> {
  const channel = notifyChannel(pid);
  for (;;) {
    const s = yield* getState();
    const t = intMapGet(s.tasks, pid);
    const u = taskU(s, pid);
    if (t === undefined || t.exitState !== null || u === undefined) return -ESRCH;
    // In TASK_TRACED for real: a task preempted on its way into the stop is runnable again
    // until it goes back to sleep, and wakes this channel when it does. A job-control stop a
    // STOP converted counts (it is TASK_TRACED, and stays so until the tracer lets go).
    if ((u.stopped && t.state === 'stopped') || jobctlTraced(s, pid)) return 0;
    const me = yield* current();
    yield* emit({ type: 'task/sleep', pid: me.pid, on: channel, until: null, state: 'sleeping' });
    yield* schedule();
  }
}

/** The task is dead: whoever waits in utraceWaitForStop for it to stop must look again (-ESRCH). */
export function* utraceWakeStopWaiters(pid: number): KPath<void> {
  yield* wakeUp(notifyChannel(pid));
}
