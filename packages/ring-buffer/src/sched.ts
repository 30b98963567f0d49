/**
 * The scheduler's and the process lifecycle's tracepoint call sites, as the kernel places them
 * and lttng-modules records them (include/instrumentation/events/sched.h): trace_sched_switch
 * and trace_sched_migrate_task in kernel/sched/core.c (__schedule, set_task_cpu),
 * trace_sched_waking / trace_sched_wakeup in try_to_wake_up and trace_sched_wakeup_new in
 * wake_up_new_task, trace_sched_process_fork in kernel/fork.c (copy_process, where the child
 * also inherits TIF_SYSCALL_TRACEPOINT), trace_sched_process_exec in fs/exec.c,
 * trace_sched_process_exit and trace_sched_process_free in kernel/exit.c. Each runs from the
 * core's hook of the same place.
 */
import { emit, getState, intMapGet, kthreadRun, type HookArgs, type KPath, type KernelState, type TaskRunState, type TaskState } from '@tracelab/core';
import { TIF_SYSCALL_TRACEPOINT } from './events.js';
import {
  DEFAULT_PRIO,
  INIT_PID_NS_INUM,
  SCHED_MIGRATE_TASK,
  SCHED_PROCESS_EXEC,
  SCHED_PROCESS_EXIT,
  SCHED_PROCESS_FORK,
  SCHED_PROCESS_FREE,
  SCHED_SWITCH,
  SCHED_WAKEUP,
  SCHED_WAKEUP_NEW,
  SCHED_WAKING,
  TASK_STATE,
} from './tracepoints.js';
import { enabled, trace } from './tracepoint.js';
import { statedump } from './lttng_statedump.js';
import { TICK_NS } from './internal/metadata.js';
import { SESSION_COMMS, type RingBufferSession } from './internal/session.js';

/**
 * The consumer is not traced by its own session (LTTng's consumer daemon is left out of the
 * kernel session that feeds it): events of, to or about it (its fork, switches in and out,
 * exit) are not recorded. Recording them fed the buffer it drains: with 128-byte sub-buffers
 * its own events filled the next sub-buffer, whose delivery started it again, forever. (Its
 * switches are recorded from 1 KiB sub-buffers on: `traceConsumerSwitches`.)
 */
export function isConsumer(state: KernelState, pid: number): boolean {
  if (pid === 0) return false;
  const t = intMapGet(state.tasks, pid);
  return t !== undefined && t.kthread && SESSION_COMMS.has(t.comm);
}

/** A task's comm as the tracepoint records it (`swapper/<cpu>` for the idle task). */
export function comm(state: KernelState, pid: number, cpu: number): string {
  if (pid === 0) return `swapper/${cpu}`;
  return intMapGet(state.tasks, pid)?.comm ?? '';
}

/** `prev_state` as `__trace_sched_switch_state` computes it. */
function switchState(t: TaskState | undefined, preempted: boolean, at: TaskRunState): number {
  if (preempted) return TASK_STATE.preempted;
  // From the switch's own state: the task may be reaped by the time the hook runs.
  if (at === 'zombie') return TASK_STATE.zombie;
  if (at === 'dead' || t === undefined) return TASK_STATE.dead;
  if (at === 'stopped') return TASK_STATE.stopped;
  if (at !== 'sleeping') return TASK_STATE.running;
  // Interruptible sleeps (a signal ends them): timed sleeps and wait4; locks and I/O are D.
  // The wait channel is read now: it is the switch's unless another CPU woke the task since.
  const w = t.waitingOn ?? 'timer';
  return w === 'timer' || w.startsWith('wait:') ? TASK_STATE.interruptible : TASK_STATE.uninterruptible;
}

/** sched_wakeup_new for a forked child's first wakeup, else sched_waking then sched_wakeup. */
function* traceWakeup(st: RingBufferSession, s: KernelState, pid: number, cpu: number): KPath<void> {
  const t = intMapGet(s.tasks, pid);
  const target = t !== undefined && t.cpu >= 0 ? t.cpu : cpu;
  const values = { comm: comm(s, pid, cpu), tid: pid, prio: DEFAULT_PRIO, target_cpu: target };
  if (st.newborn.delete(pid)) {
    yield* trace(st, SCHED_WAKEUP_NEW.name, values);
    return;
  }
  yield* trace(st, SCHED_WAKING.name, values);
  yield* trace(st, SCHED_WAKEUP.name, values);
}

/**
 * The switch's wake-up bookkeeping: a task that went to sleep is remembered in `asleep`
 * unless its wakeup was traced already; the task switched in gets the wakeup a timer gave it
 * (no waking context traced it) and, if it moved, sched_migrate_task.
 */
function* switchBookkeeping(st: RingBufferSession, s: KernelState, args: HookArgs['contextSwitch'], prevTask: TaskState | undefined): KPath<void> {
  const { cpu, prev, next, prevState: at } = args;
  if (prev !== 0 && (at === 'sleeping' || at === 'stopped')) {
    // It went to sleep. Already awake again (this hook runs at the CPU's next step)? Then
    // either the wakeup hook traced it, or a timer woke it and its switch-in will.
    const still = prevTask !== undefined && (prevTask.state === 'sleeping' || prevTask.state === 'stopped');
    if (still || !st.wokenTraced.has(prev)) st.asleep.add(prev);
  }
  if (prev !== 0) st.wokenTraced.delete(prev);
  if (next === 0) return;
  st.wokenTraced.delete(next);
  if (st.asleep.delete(next) && (enabled(st, SCHED_WAKING) || enabled(st, SCHED_WAKEUP))) yield* traceWakeup(st, s, next, cpu);
  const orig = st.lastCpu.get(next);
  st.lastCpu.set(next, cpu);
  if (orig !== undefined && orig !== cpu && !isConsumer(s, next))
    yield* trace(st, SCHED_MIGRATE_TASK.name, { comm: comm(s, next, cpu), tid: next, prio: DEFAULT_PRIO, orig_cpu: orig, dest_cpu: cpu });
}

/** trace_sched_switch in __schedule, with the first switch starting the state dump of a session begun before the workload. */
function* schedSwitch(st: RingBufferSession, args: HookArgs['contextSwitch']): KPath<void> {
  const { cpu, prev, next, preempted, prevState: at, prevComm } = args;
  const s = yield* getState();
  if (!st.statedumpDone) {
    // The session was started before the workload (enableAll): dump the tasks there are.
    st.statedumpDone = true;
    yield* kthreadRun(st.within(statedump(st)), 'lttng-statedump');
  }
  const prevTask = prev === 0 ? undefined : intMapGet(s.tasks, prev);
  const prevState = prev === 0 ? TASK_STATE.running : switchState(prevTask, preempted, at);
  yield* switchBookkeeping(st, s, args, prevTask);
  // The consumer's own switches are recorded when a sub-buffer holds many of them (see
  // CONSUMER_SWITCHES_FROM): a CPU-time analysis of the trace then charges the consumer's
  // time to it, not to the task it interrupted.
  if (!enabled(st, SCHED_SWITCH) || (!st.traceConsumerSwitches && (isConsumer(s, prev) || isConsumer(s, next)))) return;
  // prev_comm from the switch itself: an exiting task may be released before this hook runs.
  yield* trace(st, SCHED_SWITCH.name, {
    prev_comm: prevComm,
    prev_tid: prev,
    prev_prio: DEFAULT_PRIO,
    prev_state: prevState,
    next_comm: comm(s, next, cpu),
    next_tid: next,
    next_prio: DEFAULT_PRIO,
  });
}

/** The contextSwitch hook: counts the CPU's switches and stamps its records with the switch's time while the switch is traced. */
export function* contextSwitchHook(st: RingBufferSession, args: HookArgs['contextSwitch']): KPath<void> {
  st.cpuSwitches[args.cpu] = st.cpuSwitches[args.cpu]! + 1;
  // Nothing ran on this CPU between the switch and now: its records may carry the switch's time.
  st.switchTs[args.cpu] = args.time * TICK_NS;
  try {
    yield* schedSwitch(st, args);
  } finally {
    st.switchTs[args.cpu] = null;
  }
}

/** try_to_wake_up: sched_waking and sched_wakeup (or sched_wakeup_new), except for the session's own threads. */
export function* wakeupHook(st: RingBufferSession, { pid, cpu }: HookArgs['wakeup']): KPath<void> {
  st.asleep.delete(pid);
  st.wokenTraced.add(pid);
  const s = yield* getState();
  if (isConsumer(s, pid)) return;
  yield* traceWakeup(st, s, pid, cpu);
}

/**
 * copy_process, under the tasklist write lock (the fork hook's `link` stage): the child's
 * TIF_SYSCALL_TRACEPOINT from its parent's, then sched_process_fork.
 */
export function* forkHook(st: RingBufferSession, { parent, child }: HookArgs['fork']): KPath<void> {
  // syscall_tracepoint_update(child): the child's flag := the parent's now, not
  // dup_task_struct's copy (a walk may have passed in between). Not from R: regfunc walks
  // before it counts, so a child linked between the walk and R++ would read R = 0 while its
  // parent was already flagged. Parent 0 (a host-started task): the stand-in parent's flag.
  const s = yield* getState();
  const has = intMapGet(s.tasks, child)?.flags[TIF_SYSCALL_TRACEPOINT] === true;
  const want = parent === 0 ? st.initSyscallFlag : intMapGet(s.tasks, parent)?.flags[TIF_SYSCALL_TRACEPOINT] === true;
  if (has !== want) yield* emit({ type: 'task/flags', pid: child, set: want ? [TIF_SYSCALL_TRACEPOINT] : [], clear: want ? [] : [TIF_SYSCALL_TRACEPOINT] });
  // Parent 0: a task the host started, running its own fork tail. No task forked it, so
  // there is no sched_process_fork to record: it enters the trace by the statedump or its
  // first sched_switch, as a task started before the session does.
  if (parent === 0 || isConsumer(s, child)) return;
  st.newborn.add(child);
  const p = intMapGet(s.tasks, parent);
  const c = intMapGet(s.tasks, child);
  yield* trace(st, SCHED_PROCESS_FORK.name, {
    parent_comm: comm(s, parent, 0),
    parent_tid: parent,
    parent_pid: p?.tgid ?? parent,
    parent_ns_inum: INIT_PID_NS_INUM,
    child_comm: c?.comm ?? comm(s, parent, 0),
    child_tid: child,
    child_pid: c?.tgid ?? child,
    child_ns_inum: INIT_PID_NS_INUM,
  });
}

/** exec_binprm: sched_process_exec. */
export function* execHook(st: RingBufferSession, { pid, filename }: HookArgs['exec']): KPath<void> {
  yield* trace(st, SCHED_PROCESS_EXEC.name, { filename, tid: pid, old_tid: pid });
}

/** do_exit: sched_process_exit. */
export function* exitHook(st: RingBufferSession, { pid }: HookArgs['exit']): KPath<void> {
  const s = yield* getState();
  if (isConsumer(s, pid)) return;
  yield* trace(st, SCHED_PROCESS_EXIT.name, { comm: comm(s, pid, 0), tid: pid, prio: DEFAULT_PRIO });
}

/** delayed_put_task_struct: sched_process_free, and the task leaves the call sites' bookkeeping. */
export function* releaseHook(st: RingBufferSession, { pid }: HookArgs['release']): KPath<void> {
  const s = yield* getState();
  st.lastCpu.delete(pid);
  st.asleep.delete(pid);
  st.wokenTraced.delete(pid);
  st.newborn.delete(pid);
  st.syscallArgs.delete(pid);
  if (isConsumer(s, pid)) return;
  yield* trace(st, SCHED_PROCESS_FREE.name, { comm: comm(s, pid, 0), tid: pid, prio: DEFAULT_PRIO });
}
