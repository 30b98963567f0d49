/**
 * The syscall tracepoints, after the kernel's sys_enter / sys_exit (include/trace/events/
 * syscalls.h, kernel/tracepoint.c's syscall_regfunc / syscall_unregfunc) and lttng-modules'
 * src/lttng-syscalls.c (syscall_entry_event_probe, syscall_exit_event_probe).
 *
 * `sys_enter` and `sys_exit` are tracepoints of `@tracelab/tracepoints`, called from the
 * syscall slow path, which a task takes while TIF_SYSCALL_TRACEPOINT is set on it. They share
 * syscall_regfunc / syscall_unregfunc, so the refcount R (`sys_tracepoint_refcount`) is 0, 1 or
 * 2 (SEMANTICS.md §1(b)): the first probe on either sets the flag on every task, the last one
 * gone clears it. lttng's probe on them dispatches to the per-syscall event
 * (`syscall_entry_<name>`, a ring-buffer tracepoint), and is connected while at least one such
 * event of its side has a probe. A syscall the table does not know is recorded as
 * syscall_entry_unknown / syscall_exit_unknown. sched_process_wait is written from the same
 * path right after wait4's entry, as do_wait does (the core has no do_wait hook, and a syscall
 * hook needs a thread flag): it counts as an event of the entry side.
 */
import { TracelabError, doEachThread, getState, mutexLock, mutexUnlock, readLock, readUnlock, setThreadFlag, type HookArgs, type KPath } from '@tracelab/core';
import { TIF_SYSCALL_TRACEPOINT, type TracepointFields, type TracepointValue } from './events.js';
import { DEFAULT_PRIO, SCHED_PROCESS_WAIT, SYSCALLS, SYSCALL_ENTRY_UNKNOWN, SYSCALL_EXIT_UNKNOWN, type SyscallArg } from './tracepoints.js';
import { enabled, trace } from './tracepoint.js';
import { comm } from './sched.js';
import type { RingBufferSession } from './internal/session.js';

/** The kernel's syscall tracepoints (trace_sys_enter / trace_sys_exit), faultable since v6.13. */
export const SYS_ENTER = 'sys_enter';
export const SYS_EXIT = 'sys_exit';

/**
 * lttng-modules' sessions_mutex: serializes the ring buffer's event enabling, so that
 * connecting lttng's syscall probe to sys_enter/sys_exit follows the per-syscall events' probes.
 */
export const LTTNG_SESSIONS_MUTEX = 'lttng_sessions_mutex';

export type SyscallSide = 'enter' | 'exit';

/** Which of sys_enter / sys_exit a ring-buffer tracepoint hangs on: the per-syscall events and sched_process_wait (entry). */
export function syscallSide(name: string): SyscallSide | null {
  if (name.startsWith('syscall_entry_') || name === SCHED_PROCESS_WAIT.name) return 'enter';
  return name.startsWith('syscall_exit_') ? 'exit' : null;
}

/** The kernel's fields of a syscall event from tracelab's arguments (a kernel argument tracelab has not is 0). */
function syscallFields(spec: readonly SyscallArg[], args: Readonly<Record<string, number>>, into: Record<string, TracepointValue>): TracepointFields {
  for (const a of spec) into[a.name] = a.from === undefined ? 0 : (args[a.from] ?? 0);
  return into;
}

/**
 * syscall_entry_event_probe: syscall_entry_<name>, remembering the arguments for the exit
 * event's output pointers; then, for wait4, do_wait's sched_process_wait.
 */
export function* syscallEntryProbe(st: RingBufferSession, { pid, name, args }: HookArgs['syscallEntry']): KPath<void> {
  const spec = SYSCALLS[name];
  if (spec === undefined) {
    yield* trace(st, SYSCALL_ENTRY_UNKNOWN.name, { name });
    return;
  }
  st.syscallArgs.set(pid, args);
  yield* trace(st, `syscall_entry_${spec.event}`, syscallFields(spec.entry, args, {}));
  if (name === 'wait4' && enabled(st, SCHED_PROCESS_WAIT)) {
    // do_wait, right after the entry: the pid waited for (0: any child).
    const s = yield* getState();
    const upid = args['pid'] ?? -1;
    yield* trace(st, SCHED_PROCESS_WAIT.name, { comm: comm(s, pid, 0), tid: upid > 0 ? upid : 0, prio: DEFAULT_PRIO });
  }
}

/** syscall_exit_event_probe: syscall_exit_<name> with the return value (none for a syscall that does not return). */
export function* syscallExitProbe(st: RingBufferSession, { pid, name, ret }: HookArgs['syscallExit']): KPath<void> {
  const spec = SYSCALLS[name];
  if (spec === undefined) {
    yield* trace(st, SYSCALL_EXIT_UNKNOWN.name, { name, ret });
    return;
  }
  if (spec.noReturn === true) return;
  const args = st.syscallArgs.get(pid) ?? {};
  st.syscallArgs.delete(pid);
  yield* trace(st, `syscall_exit_${spec.event}`, syscallFields(spec.exit, args, { ret }));
}

/**
 * set_all / clear_all: TIF_SYSCALL_TRACEPOINT on (or off) every thread on the task list,
 * kernel threads and zombies included (for_each_process_thread), walked under the tasklist
 * read lock (forks linked later copy the current setting at the `link` stage, sched.ts's
 * processFork; host-started tasks in their fork tail). With `syscallWalk: 'skip-kthreads'`
 * (the unsafe variant upstream reverted) kernel threads are passed over and keep their flag.
 */
function* syscallFlagAllTasks(st: RingBufferSession, on: boolean): KPath<void> {
  const skipKthreads = st.opts.syscallWalk === 'skip-kthreads';
  yield* readLock();
  // The stand-in parent of host-started tasks is the first thread every walk visits.
  st.initSyscallFlag = on;
  try {
    yield* doEachThread((yield* getState()).tasks, (t) => (skipKthreads && t.kthread ? false : setThreadFlag(t.pid, TIF_SYSCALL_TRACEPOINT, on)), {
      schedPoints: false,
    });
  } finally {
    yield* readUnlock();
  }
}

/** syscall_regfunc, run by `tracepoints` under tracepoints_mutex before sys_enter's or sys_exit's first probe: the walk when R was 0, then R++. */
function* syscallRegfunc(st: RingBufferSession): KPath<number> {
  if (st.sysTracepointRefcount === 0) yield* syscallFlagAllTasks(st, true);
  st.sysTracepointRefcount++;
  return 0;
}

/** syscall_unregfunc, after the last probe of sys_enter or sys_exit is gone: R--, and the clearing walk when it reaches 0. */
function* syscallUnregfunc(st: RingBufferSession): KPath<void> {
  st.sysTracepointRefcount--;
  if (st.sysTracepointRefcount === 0) yield* syscallFlagAllTasks(st, false);
}

/**
 * Defines sys_enter and sys_exit in the tracepoints table, with syscall_regfunc /
 * syscall_unregfunc and regfunc's boot form (R++: no task exists before the first step, so
 * there is nothing to walk; host-spawned tasks get the flag in their fork tail). Each one
 * missing from the table (at registration, or after kernel.reset dropped it) is defined.
 */
export function defineSyscallTracepoints(st: RingBufferSession, afterReset = false): void {
  for (const name of [SYS_ENTER, SYS_EXIT]) {
    if (st.tp.site(name) !== undefined) {
      if (afterReset) continue;
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer: the tracepoints plugin already has a tracepoint named ${name}; the ring buffer defines the syscall tracepoints`,
        {
          plugin: 'ring-buffer',
          tracepoint: name,
        },
      );
    }
    st.tp.defineTracepoint(name, {
      faultable: true,
      // Run by `tracepoints` under its mutex, whoever registers the probe: named here.
      regfunc: () => st.within(syscallRegfunc(st)),
      unregfunc: () => st.within(syscallUnregfunc(st)),
      bootRegfunc: () => {
        st.initSyscallFlag = true;
        st.sysTracepointRefcount++;
      },
    });
  }
}

function sideEnabled(st: RingBufferSession, side: SyscallSide): boolean {
  return st.byId.some((tp) => syscallSide(tp.def.name) === side && st.tp.enabled(tp.def.name));
}

/** At registration (`enableAll`): lttng's syscall probe on each side with an event already enabled, as a boot probe. */
export function attachSyscallsAtStart(st: RingBufferSession): void {
  if (sideEnabled(st, 'enter')) st.tp.bootProbeRegister('ring-buffer', SYS_ENTER, st.sysEnterProbe, null);
  if (sideEnabled(st, 'exit')) st.tp.bootProbeRegister('ring-buffer', SYS_EXIT, st.sysExitProbe, null);
}

/**
 * Registers or unregisters a probe on a ring-buffer tracepoint (`change`). For a syscall event
 * it runs under lttng's sessions_mutex, and afterwards lttng's syscall probe is connected to
 * sys_enter / sys_exit exactly while an event of its side has a probe.
 */
export function* withSyscallProbe(st: RingBufferSession, name: string, change: () => KPath<number>): KPath<number> {
  const side = syscallSide(name);
  if (side === null) return yield* change();
  yield* mutexLock(LTTNG_SESSIONS_MUTEX);
  try {
    const r = yield* change();
    const [tpName, probe] = side === 'enter' ? [SYS_ENTER, st.sysEnterProbe] : [SYS_EXIT, st.sysExitProbe];
    const connected = st.tp.probes(tpName).some((p) => p.probe === probe);
    const want = sideEnabled(st, side);
    // A failed connection (-ENOMEM) leaves the event's probe in place, its records waiting for
    // the next change to connect the syscall probe; the event's own registration succeeded.
    if (want && !connected) yield* st.tp.probeRegister(tpName, probe, null);
    else if (!want && connected) yield* st.tp.probeUnregister(tpName, probe, null);
    return r;
  } finally {
    yield* mutexUnlock(LTTNG_SESSIONS_MUTEX);
  }
}
