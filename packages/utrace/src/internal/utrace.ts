import type { UtraceFaults } from './faults.js';
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
  SIGKILL,
  current,
  emit,
  getState,
  intMapGet,
  isKPath,
  printk,
  msleep,
  schedPoint,
  schedule,
  shouldFailAlloc,
  spinLock,
  spinUnlock,
  wakeUp,
  type KPath,
  type KernelState,
  type TaskState,
} from '@tracelab/core';
import {
  CLONE_VFORK,
  TIF_NOTIFY_RESUME,
  ENGINE_STOP,
  EOPNOTSUPP,
  ERESTARTNOINTR,
  ERESTARTSYS,
  TIF_SYSCALL_TRACE,
  UTRACE_ATTACH_CREATE,
  UTRACE_ATTACH_EXCLUSIVE,
  UTRACE_ATTACH_MATCH_DATA,
  UTRACE_ATTACH_MATCH_OPS,
  UTRACE_BLOCKSTEP,
  UTRACE_DEATH_EVENTS,
  UTRACE_DETACH,
  UTRACE_EVENT_NAMES,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_REAP,
  UTRACE_EVENT_SYSCALL,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_RESUME_MASK,
  UTRACE_RESUME_MAX,
  UTRACE_SINGLESTEP,
  UTRACE_STOP,
} from '../constants.js';
import type { UtraceEngine, UtraceEngineOps, UtraceEngineState, UtraceExaminer, UtraceTaskState } from '../events.js';
import { utraceSlice } from './reducers.js';

/**
 * The closures behind each engine id: its ops vector and data. Kept outside the immer state
 * (functions are not state); the lifecycle of each entry is in events (`utrace/engine-attached`,
 * `-detached`, `-put`, `-freed`, `-reaped`, `utrace/reset`). Written only by the plugin's kernel
 * paths, in the same step as the event that records the change; every reader re-checks the
 * state, which is the authority.
 */
export type EngineRegistry = Map<number, { readonly handle: UtraceEngine; released: boolean }>;

/** The spinlock that stands for utrace->lock of one task. */
export function utraceLock(pid: number): string {
  return `utrace_lock:${pid}`;
}

/** Where a task in utrace_stop sleeps (the core's stopped channel), and where waitForStop sleeps. */
const stopChannel = (pid: number): string => `stopped:${pid}`;
const notifyChannel = (pid: number): string => `utrace-notify:${pid}`;

/** What one reporting pass found (struct utrace_report). One object per pass, no per-callback allocation. */
export interface Report {
  /** The aggregate resume action: the minimum of every folded return (and STOP for a held engine). */
  action: number;
  /** The minimum of the non-STOP returns: what the task does once it is resumed. */
  resumeAction: number;
  /** The signal or syscall bits of the last event callback's return (report->result). */
  result: number;
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
    argBits: 0,
    argMask: 0,
    detaches: false,
    spurious: true,
    stale: false,
    folded: [],
    held: [],
  };
}

/** A callback name of UtraceEngineOps (the kernel's report_* member). */
export type CallbackName = Exclude<keyof UtraceEngineOps, 'name' | 'release'>;

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

/** Starts one engine's event callback (a generator function's generator is created, nothing of it runs yet; a plain function runs). */
export type CallbackCall = (handle: UtraceEngine, action: number) => KPath<number | void> | number | void;

const NOT_RUNNING = (t: TaskState): boolean => t.state !== 'running' && t.state !== 'runnable';

export function eventName(event: number): string {
  if (event === 0) return 'QUIESCE(0)';
  const b = 31 - Math.clz32(event);
  return UTRACE_EVENT_NAMES[b] ?? String(event);
}

/**
 * The utrace core as kernel paths bound to one kernel's engine registry: the reporting pass,
 * utrace_stop / utrace_reset, and the API. Lock order: utrace lock (a spinlock per task) →
 * nothing; the tasklist lock is never taken under it.
 */
export function utraceCore(registry: EngineRegistry, faults: UtraceFaults = {}, releaseAt: 'tracer-put' | 'last-kref' = 'tracer-put') {
  function slice(s: KernelState) {
    return utraceSlice(s);
  }
  function taskU(s: KernelState, pid: number): UtraceTaskState | undefined {
    return slice(s).tasks[pid];
  }
  function engineS(s: KernelState, id: number): UtraceEngineState | undefined {
    return slice(s).engines[id];
  }

  // ---- splice, reset, stop, wake ------------------------------------------------------------

  /** splice_attaching: under the utrace lock, new engines join the end of the attached list. */
  function* spliceAttaching(pid: number): KPath<void> {
    const u = taskU(yield* getState(), pid);
    if (u === undefined || u.attaching.length === 0) {
      if (u?.pendingAttach === true) yield* emit({ type: 'utrace/splice', pid, engines: [] });
      return;
    }
    yield* emit({ type: 'utrace/splice', pid, engines: [...u.attaching] });
  }

  /** Sets or clears TIF_SYSCALL_TRACE so the syscall slow path is taken exactly while wanted. */
  function* syncSyscallFlag(pid: number, want: boolean): KPath<void> {
    const t = intMapGet((yield* getState()).tasks, pid);
    if (t === undefined || (t.flags[TIF_SYSCALL_TRACE] === true) === want) return;
    yield* emit({ type: 'task/flags', pid, set: want ? [TIF_SYSCALL_TRACE] : [], clear: want ? [] : [TIF_SYSCALL_TRACE] });
  }

  /**
   * set_notify_resume: TIF_NOTIFY_RESUME sends the task through the syscall slow path on its
   * way out, where utrace_resume runs. A task with nothing pending keeps the flag clear, so its
   * hot path stays one flag test.
   */
  function* setNotifyResume(pid: number): KPath<void> {
    const t = intMapGet((yield* getState()).tasks, pid);
    if (t === undefined || t.exitState !== null || t.flags[TIF_NOTIFY_RESUME] === true) return;
    yield* emit({ type: 'task/flags', pid, set: [TIF_NOTIFY_RESUME], clear: [] });
  }

  /** utrace->resume = resume, with TIF_NOTIFY_RESUME when something is now pending. */
  function* setResume(pid: number, resume: number): KPath<void> {
    yield* emit({ type: 'utrace/resume', pid, resume });
    if (resume < UTRACE_RESUME) yield* setNotifyResume(pid);
  }

  /**
   * utrace_reset, called with the utrace lock held by the task itself or while it is
   * quiescent: splices the attaching list, drops detached engines, recomputes utrace_flags
   * (the only place they shrink), clears TIF_SYSCALL_TRACE when no engine wants syscalls,
   * and wakes the task from utrace_stop when no engine holds ENGINE_STOP any more.
   */
  function* utraceResetLocked(pid: number): KPath<void> {
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
    for (const id of removed) yield* releaseAtLastKref(id);
    // The removed engines' list reference is dropped by the reducer: one its tracer already put is freed now.
    if (!dead) yield* syncSyscallFlag(pid, (flags & UTRACE_EVENT_SYSCALL) !== 0);
    if (u.stopped && (flags & ENGINE_STOP) === 0) yield* utraceWakeup(pid, 'reset');
  }

  function* utraceReset(pid: number): KPath<void> {
    yield* spinLock(utraceLock(pid));
    yield* utraceResetLocked(pid);
    yield* spinUnlock(utraceLock(pid));
  }

  /** utrace_wakeup: the task leaves TASK_TRACED. */
  function* utraceWakeup(pid: number, reason: 'reset' | 'sigkill'): KPath<void> {
    const me = yield* current();
    yield* emit({ type: 'utrace/woken', pid, by: me.pid, reason });
    const t = intMapGet((yield* getState()).tasks, pid);
    if (t !== undefined && t.state === 'stopped' && t.waitingOn === stopChannel(pid)) yield* emit({ type: 'sched/wakeup', pid, by: me.pid });
  }

  function sigkillPending(s: KernelState, pid: number): boolean {
    return intMapGet(s.tasks, pid)?.pendingSignals.includes(SIGKILL) === true;
  }

  /**
   * utrace_stop, in the task itself: if some engine still holds ENGINE_STOP, the task enters
   * TASK_TRACED and sleeps until utrace_reset finds none (control RESUME/DETACH...) or SIGKILL.
   * Returns true when it stopped (or was killed while it would have).
   */
  function* utraceStop(pid: number, action: number): KPath<boolean> {
    for (;;) {
      yield* spinLock(utraceLock(pid));
      let s = yield* getState();
      let u = taskU(s, pid)!;
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
        yield* utraceResetLocked(pid);
        u = taskU(yield* getState(), pid)!;
        yield* spinUnlock(utraceLock(pid));
        if ((u.flags & ENGINE_STOP) !== 0) continue;
        return false;
      }
      if (sigkillPending(s, pid)) {
        yield* spinUnlock(utraceLock(pid));
        return true;
      }
      yield* emit({ type: 'utrace/stopped', pid });
      yield* emit({ type: 'task/sleep', pid, on: stopChannel(pid), until: null, state: 'stopped' });
      // ptrace_notify_stop, made general: whoever waits for this task to stop may look now.
      yield* wakeUp(notifyChannel(pid));
      yield* spinUnlock(utraceLock(pid));
      yield* schedule();
      // utrace_wakeup clears `stopped` before waking us: still set means a signal woke us.
      for (;;) {
        s = yield* getState();
        u = taskU(s, pid)!;
        if (!u.stopped) return true;
        if (sigkillPending(s, pid)) {
          yield* utraceWakeup(pid, 'sigkill');
          return true;
        }
        // Preempted before it slept, or woken by SIGCONT, which TASK_TRACED ignores: back to sleep.
        yield* emit({ type: 'task/sleep', pid, on: stopChannel(pid), until: null, state: 'stopped' });
        yield* wakeUp(notifyChannel(pid));
        yield* schedule();
      }
    }
  }

  // ---- the reporting pass -------------------------------------------------------------------

  /** start_report: splice new engines and take the pending REPORT-class resume. */
  function* startReport(pid: number): KPath<number> {
    const u = taskU(yield* getState(), pid)!;
    const resume = u.resume;
    if (u.pendingAttach || (resume > UTRACE_INTERRUPT && resume < UTRACE_RESUME)) {
      yield* spinLock(utraceLock(pid));
      yield* spliceAttaching(pid);
      const now = taskU(yield* getState(), pid)!.resume;
      if (now > UTRACE_INTERRUPT && now !== UTRACE_RESUME) yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
      yield* spinUnlock(utraceLock(pid));
      return now;
    }
    return resume;
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
   * not started, driven here rather than
   * with `yield*`: a callback that returns without issuing a single command (no scheduling
   * point, no state read, no event) cannot be observed while it runs, so its start and its
   * return are one `utrace/callback` event carrying `ret`; any other callback gets
   * `utrace/callback` (ret null: reporting = engine) before its first command runs, and
   * `utrace/callback-return` after it returns. Commands and the errors the runtime throws back
   * are passed through exactly as `yield*` would.
   */
  function* callback(
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
      let r = gen.next();
      if (r.done !== true) {
        quick = false;
        yield* emit({ type: 'utrace/callback', pid, engine: id, callback: name, action, by, ret: null, stop: null, detach: false });
        for (;;) {
          let input: unknown;
          let error: unknown;
          let throwing = false;
          try {
            input = yield r.value;
          } catch (err) {
            error = err;
            throwing = true;
          }
          r = throwing ? gen.throw(error) : gen.next(input);
          if (r.done === true) break;
        }
      }
      raw = r.value;
    }
    const ret = typeof raw === 'number' ? raw >>> 0 : UTRACE_RESUME;
    const resumeAction = ret & UTRACE_RESUME_MASK;
    // A quick callback issued no command: the engine is as the walk read it just before.
    const e = quick ? before : engineS(yield* getState(), id);
    if (!quick) report.stale = true;
    // utrace_control(DETACH) while we ran counts like a DETACH return.
    const detach = (fold || name === 'reportDeath') && (resumeAction === UTRACE_DETACH || e === undefined || e.detached);
    let stop: boolean | null = null;
    if (detach) {
      report.detaches = true;
    } else if (fold) {
      // report_quiesce's return carries no signal or syscall action.
      if (name !== 'reportQuiesce') report.result = ret & ~UTRACE_RESUME_MASK;
      if (resumeAction < report.action) report.action = resumeAction;
      report.folded.push(resumeAction);
      if (resumeAction !== UTRACE_STOP) {
        if (resumeAction < report.resumeAction) report.resumeAction = resumeAction;
        if (e?.stop === true) stop = false;
      } else if (e?.stop !== true) {
        stop = true;
      }
    }
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
  function* reportCallbacks(pid: number, event: number, name: CallbackName | null, report: Report, call: CallbackCall | null, reverse = false): KPath<void> {
    let s = yield* getState();
    const u = taskU(s, pid);
    if (u === undefined) return;
    // `attached` changes only by this task or while it is quiescent: not during this walk.
    const list = u.attached;
    const n = list.length;
    report.stale = false;
    for (let k = 0; k < n; k++) {
      const id = list[reverse ? n - 1 - k : k]!;
      // Quick callbacks change only their own engine's entry: another engine's, read from `s`,
      // is current unless some callback ran kernel code since `s` was read.
      if (report.stale) {
        s = yield* getState();
        report.stale = false;
      }
      let e = engineS(s, id);
      if (e === undefined || !e.listed) continue;
      if (e.detached) {
        // utrace_detached_ops: report_quiesce returns UTRACE_DETACH; nothing of the tracer runs.
        if ((e.flags & UTRACE_EVENT_QUIESCE) !== 0) report.detaches = true;
        continue;
      }
      const handle = registry.get(id)?.handle;
      if (handle === undefined) continue;
      const ops = handle.ops;
      if ((e.flags & UTRACE_EVENT_QUIESCE) !== 0 && ops.reportQuiesce !== undefined) {
        report.spurious = false;
        const a = report.action;
        if (yield* callback(pid, id, 'reportQuiesce', a, report, ops.reportQuiesce(a, handle, event), true, pid, e)) continue;
        // Its own return may have changed ENGINE_STOP; re-read (start_callback re-reads the flags).
        s = yield* getState();
        report.stale = false;
        e = engineS(s, id);
        if (e === undefined || e.detached) continue;
      }
      if (e.stop) {
        report.action = UTRACE_STOP;
        report.held.push(id);
      }
      if (name !== null && call !== null && (e.flags & event) !== 0 && ops[name] !== undefined) {
        report.spurious = false;
        const action = report.action | report.argBits | (report.result & report.argMask);
        yield* callback(pid, id, name, action, report, call(handle, action), name !== 'reportDeath', pid, e);
      }
    }
  }

  /**
   * finish_report: a STOP the task will not act on here becomes REPORT (it stops in
   * utrace_resume on the way to user mode); a stronger pending resume is stored; utrace_reset
   * if an engine detached or nobody wanted the event.
   */
  function* finishReport(pid: number, eventLabel: string, report: Report, willNotStop: boolean): KPath<void> {
    yield* emit({ type: 'utrace/report', pid, event: eventLabel, action: report.action, folded: report.folded, held: report.held });
    let resume = report.action;
    if (resume === UTRACE_STOP) resume = willNotStop ? UTRACE_REPORT : UTRACE_RESUME;
    if (resume < UTRACE_RESUME) {
      const u = taskU(yield* getState(), pid);
      if (u === undefined) return;
      if (resume < u.resume) {
        yield* spinLock(utraceLock(pid));
        yield* setResume(pid, resume);
        yield* spinUnlock(utraceLock(pid));
      }
    }
    if (report.spurious || report.detaches) yield* utraceReset(pid);
  }

  /** A whole pass for one event: start_report, the callbacks, finish_report. */
  function* reportEvent(pid: number, event: number, name: CallbackName, call: CallbackCall, willNotStop: boolean): KPath<Report> {
    const report = newReport();
    yield* startReport(pid);
    yield* reportCallbacks(pid, event, name, report, call);
    yield* finishReport(pid, eventName(event), report, willNotStop);
    return report;
  }

  /**
   * utrace_resume, on the way back to user mode when a resume action is pending: REPORT (or
   * INTERRUPT) gives a report_quiesce(event 0) pass; then finish_resume_report: STOP stops the
   * task here; steps would enable stepping (not modelled).
   */
  function* utraceResume(pid: number): KPath<void> {
    const report = newReport();
    report.action = yield* startReport(pid);
    if (report.action === UTRACE_RESUME) return;
    if (report.action === UTRACE_INTERRUPT) {
      // No signal is pending (the core calls the signal path only for one), so nothing else
      // consumes the INTERRUPT: it is taken here, as a REPORT.
      yield* emit({ type: 'utrace/resume', pid, resume: UTRACE_RESUME });
    }
    const u = taskU(yield* getState(), pid)!;
    if (report.action === UTRACE_REPORT || report.action === UTRACE_INTERRUPT) {
      if ((u.flags & UTRACE_EVENT_QUIESCE) !== 0 || (u.flags & ENGINE_STOP) !== 0) {
        report.action = UTRACE_RESUME;
        yield* reportCallbacks(pid, 0, null, report, null);
      } else {
        report.action = UTRACE_RESUME;
      }
    } else {
      report.spurious = false;
    }
    if (report.action === UTRACE_INTERRUPT || report.action === UTRACE_REPORT) report.action = UTRACE_RESUME;
    yield* emit({ type: 'utrace/report', pid, event: 'QUIESCE(0)', action: report.action, folded: report.folded, held: report.held });
    if (report.spurious || report.detaches) yield* utraceReset(pid);
    if (report.action === UTRACE_STOP) yield* utraceStop(pid, report.resumeAction);
  }

  // ---- API: attach, set_events, control, barrier, examine, put ------------------------------

  function matches(e: UtraceEngineState, flags: number, ops: UtraceEngineOps<unknown> | null, data: unknown): boolean {
    if (e.detached) return false;
    const h = registry.get(e.id)?.handle;
    if (h === undefined) return false;
    if ((flags & UTRACE_ATTACH_MATCH_OPS) !== 0 && h.ops !== ops) return false;
    if ((flags & UTRACE_ATTACH_MATCH_DATA) !== 0 && h.data !== data) return false;
    return true;
  }

  function findMatch(s: KernelState, pid: number, flags: number, ops: UtraceEngineOps<unknown> | null, data: unknown): UtraceEngineState | undefined {
    const u = taskU(s, pid);
    if (u === undefined || u.reap) return undefined;
    for (const id of [...u.attached, ...u.attaching]) {
      const e = engineS(s, id);
      if (e !== undefined && e.listed && matches(e, flags, ops, data)) return e;
    }
    return undefined;
  }

  function* attachTask<D>(pid: number, flags: number, ops: UtraceEngineOps<D> | null, data: D): KPath<UtraceEngine<D> | number> {
    const me = yield* current();
    let s = yield* getState();
    let t = intMapGet(s.tasks, pid);
    if (t === undefined || t.exitState === 'dead') return -ESRCH;
    if ((flags & UTRACE_ATTACH_CREATE) === 0) {
      yield* spinLock(utraceLock(pid));
      const found = findMatch(yield* getState(), pid, flags, ops as UtraceEngineOps<unknown> | null, data);
      let ret: UtraceEngine<D> | number = -ENOENT;
      if (found !== undefined) {
        yield* emit({ type: 'utrace/engine-get', engine: found.id, refs: found.refs + 1 });
        ret = registry.get(found.id)!.handle as UtraceEngine<D>;
      }
      yield* spinUnlock(utraceLock(pid));
      return ret;
    }
    if (ops === null || ops === undefined || typeof ops !== 'object') return -EINVAL;
    // Every callback given must be callable (plain or generator function): refuse the ops here,
    // naming the member, rather than fail at the first report and take the plugin down with it.
    const members = ops as unknown as Record<string, unknown>;
    const bad = OPS_CALLBACKS.find((k) => members[k] !== undefined && typeof members[k] !== 'function');
    if (bad !== undefined) {
      yield* printk(`utrace_attach_task(${pid}): ops ${String((ops as { name?: unknown }).name)}.${bad} is not a function: -EINVAL`);
      return -EINVAL;
    }
    if (t.kthread) return -EPERM;
    // utrace_attach_delay: a newborn child belongs to its creator's report_clone first. The
    // wait is interruptible: a signal pending on the caller ends it with -ERESTARTNOINTR.
    while (t !== undefined && t.state === 'new' && taskU(s, me.pid)?.cloning !== pid) {
      if ((intMapGet(s.tasks, me.pid)?.pendingSignals.length ?? 0) > 0) return -ERESTARTNOINTR;
      yield* msleep(1);
      s = yield* getState();
      t = intMapGet(s.tasks, pid);
    }
    if (t === undefined) return -ESRCH;
    if (yield* shouldFailAlloc()) return -ENOMEM;
    yield* spinLock(utraceLock(pid));
    s = yield* getState();
    t = intMapGet(s.tasks, pid);
    let ret: UtraceEngine<D> | number;
    const u = taskU(s, pid);
    if ((flags & UTRACE_ATTACH_EXCLUSIVE) !== 0 && findMatch(s, pid, flags, ops as UtraceEngineOps<unknown>, data) !== undefined) {
      ret = -EEXIST;
    } else if ((u === undefined || u.flags === 0 || u.reap) && (t === undefined || t.exitState === 'dead' || u?.reap === true)) {
      // The first engine on a task release_task has already passed: too late.
      ret = -ESRCH;
    } else {
      const id = slice(s).nextEngine;
      const handle: UtraceEngine<D> = Object.freeze({ id, target: pid, ops, data });
      registry.set(id, { handle: handle as UtraceEngine, released: false });
      yield* emit({ type: 'utrace/engine-attached', engine: id, pid, ops: typeof ops.name === 'string' ? ops.name : 'anonymous', by: me.pid });
      ret = handle;
    }
    yield* spinUnlock(utraceLock(pid));
    return ret;
  }

  /** get_utrace_lock's check: the engine is attached to `pid` and not detached. */
  function liveEngine(s: KernelState, pid: number, engine: UtraceEngine): UtraceEngineState | undefined {
    const e = engineS(s, engine.id);
    if (e === undefined || e.detached || !e.listed || e.target !== pid) return undefined;
    return e;
  }

  function* setEvents(pid: number, engine: UtraceEngine, mask: number): KPath<number> {
    const me = yield* current();
    yield* spinLock(utraceLock(pid));
    const ret = yield* setEventsLocked(pid, engine, mask, me.pid);
    yield* spinUnlock(utraceLock(pid));
    return ret;
  }

  function* setEventsLocked(pid: number, engine: UtraceEngine, mask: number, caller: number): KPath<number> {
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
    // Ordered against exit_notify by the tasklist lock in the kernel; a step is atomic here.
    if ((added & UTRACE_DEATH_EVENTS) !== 0 && exiting) return -EALREADY;
    if ((cleared & UTRACE_DEATH_EVENTS) !== 0 && (u.death || u.deathDone)) return -EALREADY;
    yield* emit({ type: 'utrace/events-set', pid, engine: engine.id, mask });
    // The fault: utrace_flags left as they were (only utrace_reset may shrink them; this puts them back).
    if (faults.setEventsSkipsFlags === true && (u.flags | mask) !== u.flags) yield* emit({ type: 'utrace/reset', pid, removed: [], flags: u.flags });
    if ((added & UTRACE_EVENT_SYSCALL) !== 0 && !exiting) yield* syncSyscallFlag(pid, true);
    // task_is_stopped_or_traced: a job-control stop is as quiescent as a utrace stop.
    if (cleared !== 0 && pid !== caller && !u.stopped && t?.state !== 'stopped' && !exiting && u.reporting === engine.id) return -EINPROGRESS;
    return 0;
  }

  function* control(pid: number, engine: UtraceEngine, action: number): KPath<number> {
    const me = yield* current();
    const ret = yield* controlBody(pid, engine, action, me.pid);
    yield* emit({ type: 'utrace/control', pid, engine: engine.id, action, ret, by: me.pid });
    return ret;
  }

  function* controlBody(pid: number, engine: UtraceEngine, action: number, caller: number): KPath<number> {
    if (!Number.isInteger(action) || action < 0 || action >= UTRACE_RESUME_MAX) return -EINVAL;
    let s = yield* getState();
    const e0 = engineS(s, engine.id);
    const needsQuiesce = action === UTRACE_REPORT || action === UTRACE_INTERRUPT || action === UTRACE_SINGLESTEP || action === UTRACE_BLOCKSTEP;
    if (needsQuiesce && e0 !== undefined && (e0.flags & UTRACE_EVENT_QUIESCE) === 0) return -EINVAL;
    yield* spinLock(utraceLock(pid));
    s = yield* getState();
    const ret = yield* controlLocked(s, pid, engine, action, caller);
    yield* spinUnlock(utraceLock(pid));
    return ret;
  }

  function* controlLocked(s: KernelState, pid: number, engine: UtraceEngine, action: number, caller: number): KPath<number> {
    const e = liveEngine(s, pid, engine);
    const u = taskU(s, pid);
    if (e === undefined || u === undefined) return -ESRCH;
    const t = intMapGet(s.tasks, pid);
    let reset = u.stopped;
    if (t === undefined || t.exitState !== null) {
      // utrace_control_dead
      // utrace->reap is set as soon as release_task came, even while the reap waits for report_death.
      if (action !== UTRACE_DETACH || u.reap || u.reapPending) return -ESRCH;
      if (u.death) return -EALREADY;
      reset = true;
    }
    let ret = 0;
    switch (action) {
      case UTRACE_STOP:
        if (!e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: true });
        if (!reset) {
          // Not stopped yet: it will stop before user mode (acts like REPORT).
          if (UTRACE_REPORT < u.resume) yield* setResume(pid, UTRACE_REPORT);
          ret = -EINPROGRESS;
        }
        break;
      case UTRACE_DETACH:
        // The ops are swapped (and the mask set to QUIESCE) before `reporting` is looked at.
        yield* emit({ type: 'utrace/engine-detached', engine: e.id, pid, how: 'control' });
        if (!reset) {
          if (UTRACE_REPORT < u.resume) yield* setResume(pid, UTRACE_REPORT);
          if (u.reporting === e.id && pid !== caller) ret = -EINPROGRESS;
        }
        break;
      case UTRACE_RESUME:
        if (e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: false });
        break;
      case UTRACE_REPORT:
      case UTRACE_INTERRUPT:
        if (e.stop) yield* emit({ type: 'utrace/engine-stop', pid, engine: e.id, stop: false });
        if (action < u.resume) yield* setResume(pid, action);
        if (action === UTRACE_INTERRUPT && t !== undefined && t.state === 'sleeping' && t.waitingOn === 'timer') {
          // signal_wake_up: an interruptible sleep ends.
          yield* emit({ type: 'sched/wakeup', pid, by: caller });
        }
        break;
      default:
        // UTRACE_SINGLESTEP / UTRACE_BLOCKSTEP: arch_has_single_step() is false here.
        return -EOPNOTSUPP;
    }
    if (reset && !(faults.controlSkipsReset === true && t !== undefined && t.exitState === null)) yield* utraceResetLocked(pid);
    return ret;
  }

  /**
   * utrace_barrier. As get_utrace_lock(attached = false) does, an engine off every list (ops
   * NULL) gives -ESRCH and one marked detached but still listed is polled again (the kernel's
   * -ERESTARTSYS retry): the task drops it at its next utrace_reset, the reaper after its
   * report_reap. While release_task waits for the death report (reapPending), report_death and
   * report_reap are still to come: polled too. Otherwise 0 once no callback to it is running.
   */
  function* barrier(pid: number, engine: UtraceEngine): KPath<number> {
    const me = yield* current();
    if (me.pid === pid) return 0;
    for (;;) {
      const s = yield* getState();
      const e = engineS(s, engine.id);
      if (e === undefined || !e.listed) return -ESRCH;
      const u = taskU(s, pid);
      if (!e.detached && u?.reporting !== engine.id && u?.reapPending !== true) return 0;
      if ((intMapGet(s.tasks, me.pid)?.pendingSignals.length ?? 0) > 0) return -ERESTARTSYS;
      // schedule_timeout_interruptible(1)
      yield* msleep(1);
    }
  }

  /** wait_task_inactive: waits until `pid` is off every CPU in `state`; 0 if its state changed. */
  function* waitTaskInactive(pid: number, state: string): KPath<number> {
    for (;;) {
      const s = yield* getState();
      const t = intMapGet(s.tasks, pid);
      if (t === undefined || t.state !== state) return 0;
      if (!s.cpus.some((c) => c.curr === pid)) return t.nvcsw + t.nivcsw + 1;
      yield* schedPoint();
    }
  }

  function* prepareExamine(pid: number, engine: UtraceEngine): KPath<UtraceExaminer | number> {
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

  function* finishExamine(pid: number, engine: UtraceEngine, examiner: UtraceExaminer): KPath<number> {
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
   * With releaseAt 'last-kref': the list's reference to engine `id` was just dropped (utrace_reset
   * removed it, or utrace_maybe_reap after its report_reap). If the tracer's references are gone
   * too, this was the last kref: __utrace_engine_release runs engine->release (`ops.release`).
   */
  function* releaseAtLastKref(id: number): KPath<void> {
    if (releaseAt !== 'last-kref') return;
    const e = engineS(yield* getState(), id);
    const entry = registry.get(id);
    if (e === undefined || e.refs > 0 || e.freed || entry === undefined || entry.released) return;
    const me = yield* current();
    yield* emit({ type: 'utrace/engine-freed', engine: id, by: me.pid });
    entry.released = true;
    entry.handle.ops.release?.(entry.handle.data);
  }

  function* enginePut(engine: UtraceEngine): KPath<void> {
    const e = engineS(yield* getState(), engine.id);
    const entry = registry.get(engine.id);
    if (e === undefined || e.freed || e.refs <= 0) {
      throw new Error(`utrace: enginePut on engine ${engine.id}, which has no reference left (a double put)`);
    }
    const refs = e.refs - 1;
    yield* emit({ type: 'utrace/engine-put', engine: engine.id, refs });
    if (refs > 0) return;
    // releaseAt 'last-kref': the list's reference keeps the engine, and its data, alive; the
    // release runs when that reference goes too (releaseAtLastKref).
    if (releaseAt === 'last-kref' && e.listed) return;
    // The tracer holds no reference any more: it frees its data. The engine itself is freed
    // when the list's reference goes too (at once if it is off every list already).
    const me = yield* current();
    yield* emit({ type: 'utrace/engine-freed', engine: engine.id, by: me.pid });
    if (entry !== undefined && !entry.released) {
      entry.released = true;
      entry.handle.ops.release?.(entry.handle.data);
    }
  }

  function* waitForStop(pid: number): KPath<number> {
    const channel = notifyChannel(pid);
    for (;;) {
      const s = yield* getState();
      const t = intMapGet(s.tasks, pid);
      const u = taskU(s, pid);
      if (t === undefined || t.exitState !== null || u === undefined) return -ESRCH;
      // In TASK_TRACED for real: a task preempted on its way into the stop is runnable again
      // until it goes back to sleep, and wakes this channel when it does.
      if (u.stopped && t.state === 'stopped') return 0;
      const me = yield* current();
      yield* emit({ type: 'task/sleep', pid: me.pid, on: channel, until: null, state: 'sleeping' });
      yield* schedule();
    }
  }

  /** The task is dead: whoever waits in waitForStop for it to stop must look again (-ESRCH). */
  function* wakeStopWaiters(pid: number): KPath<void> {
    yield* wakeUp(notifyChannel(pid));
  }

  // ---- the hooks: the tracehooks calling into utrace ------------------------------------------

  /**
   * utrace_report_clone, from the core's `clone` hook (tracehook_report_clone): in the parent,
   * after copy_process linked the child and before wake_up_new_task, so the child cannot run
   * yet; utrace->cloning = child lets an engine attach to it from report_clone (it passes
   * utrace_attach_delay). finish_report keeps a STOP for a vfork (will_not_stop false): the
   * parent must stop before its uninterruptible wait for the child, so vfork_stop is set and
   * utrace_finish_vfork stops it from the `cloneComplete` hook. For any other clone a STOP
   * becomes REPORT, and the parent stops on its way back to user mode.
   */
  function* reportClone(parent: number, child: number, cloneFlags: number): KPath<void> {
    const vfork = (cloneFlags & CLONE_VFORK) !== 0;
    const report = newReport();
    yield* startReport(parent);
    yield* emit({ type: 'utrace/cloning', pid: parent, child });
    yield* reportCallbacks(parent, UTRACE_EVENT_CLONE, 'reportClone', report, (h, action) => h.ops.reportClone!(action, h, cloneFlags, child));
    yield* emit({ type: 'utrace/cloning', pid: parent, child: null });
    yield* finishReport(parent, 'CLONE', report, !vfork);
    if (report.action === UTRACE_STOP && vfork) {
      yield* spinLock(utraceLock(parent));
      yield* emit({ type: 'utrace/vfork-stop', pid: parent, set: true });
      yield* spinUnlock(utraceLock(parent));
    }
  }

  /**
   * utrace_finish_vfork, from the `cloneComplete` hook (tracehook_report_clone_complete): the
   * child has been woken and the parent has not begun its wait for the child's exec or exit.
   * If report_clone asked for STOP, the parent stops here, so a tracer holds it before the wait
   * and not after it.
   */
  function* finishVfork(pid: number): KPath<void> {
    const u = taskU(yield* getState(), pid);
    if (u === undefined || !u.vforkStop) return;
    yield* spinLock(utraceLock(pid));
    yield* emit({ type: 'utrace/vfork-stop', pid, set: false });
    yield* spinUnlock(utraceLock(pid));
    yield* utraceStop(pid, UTRACE_RESUME);
  }

  /**
   * utrace_maybe_reap. From the dying task after report_death (`reap` false): clears `death`;
   * if release_task came meanwhile, does the reap now, else resets. From release_task (`reap`
   * true): defers while the death reports are due, else the reap: under the lock the task's
   * lists move to the reaper's own (`utrace/reap`); then, without the lock, per engine its
   * report_reap if it wants REAP, and the list's reference dropped (`utrace/engine-reaped`).
   * The engine stays listed until its report_reap has returned, so a tracer's put meanwhile
   * cannot free it.
   */
  function* maybeReap(pid: number, reap: boolean, by: number): KPath<void> {
    yield* spinLock(utraceLock(pid));
    let u = taskU(yield* getState(), pid);
    if (u === undefined || u.reap) {
      yield* spinUnlock(utraceLock(pid));
      return;
    }
    if (reap) {
      if (u.death || ((u.flags & UTRACE_DEATH_EVENTS) !== 0 && !u.deathDone)) {
        // The dying task has not finished its death reports: it does the reap itself after.
        yield* emit({ type: 'utrace/reap', pid, by, deferred: true });
        yield* spinUnlock(utraceLock(pid));
        return;
      }
    } else {
      yield* emit({ type: 'utrace/death', pid, phase: 'end' });
      u = taskU(yield* getState(), pid)!;
      if (!u.reapPending) {
        yield* utraceResetLocked(pid);
        yield* spinUnlock(utraceLock(pid));
        return;
      }
    }
    yield* spliceAttaching(pid);
    const s = yield* getState();
    u = taskU(s, pid)!;
    const engines = u.attached.map((id) => engineS(s, id)).filter((e): e is UtraceEngineState => e !== undefined);
    yield* emit({ type: 'utrace/reap', pid, by, deferred: false });
    yield* spinUnlock(utraceLock(pid));
    const report = newReport();
    for (const e of engines) {
      // A detached engine (utrace_detached_ops) has an empty report_reap and no REAP bit.
      const handle = registry.get(e.id)?.handle;
      if (!e.detached && (e.flags & UTRACE_EVENT_REAP) !== 0 && handle?.ops.reportReap !== undefined) {
        yield* callback(pid, e.id, 'reportReap', 0, report, handle.ops.reportReap(handle, pid), false, by, e);
      }
      yield* emit({ type: 'utrace/engine-reaped', engine: e.id, pid, by });
      yield* releaseAtLastKref(e.id);
    }
  }

  /** utrace_report_death: after exit_notify; death = 1, then report_death, then maybe_reap. */
  function* reportDeath(pid: number, groupDead: boolean, signal: number): KPath<void> {
    yield* spinLock(utraceLock(pid));
    yield* emit({ type: 'utrace/death', pid, phase: 'start' });
    yield* spliceAttaching(pid);
    yield* spinUnlock(utraceLock(pid));
    const report = newReport();
    yield* reportCallbacks(pid, UTRACE_EVENT_DEATH, 'reportDeath', report, (h) => h.ops.reportDeath!(h, groupDead, signal));
    yield* emit({ type: 'utrace/report', pid, event: 'DEATH', action: report.action, folded: report.folded, held: report.held });
    yield* maybeReap(pid, false, pid);
  }

  return {
    taskU,
    engineS,
    utraceStop,
    utraceReset,
    utraceResume,
    reportEvent,
    reportCallbacks,
    finishReport,
    startReport,
    reportClone,
    finishVfork,
    reportDeath,
    maybeReap,
    syncSyscallFlag,
    setNotifyResume,
    wakeStopWaiters,
    api: { attachTask, setEvents, control, barrier, prepareExamine, finishExamine, enginePut, waitForStop },
  };
}

export type UtraceCore = ReturnType<typeof utraceCore>;
