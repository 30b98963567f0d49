/**
 * The syscall tracepoints, after lttng-modules' src/lttng-syscalls.c (syscall_entry_event_probe,
 * syscall_exit_event_probe on the kernel's sys_enter / sys_exit): run from the syscall slow
 * path, which a task takes while TIF_SYSCALL_TRACEPOINT is set on it (tracepoint.ts sets it on
 * every task while a syscall tracepoint has a probe). A syscall the table does not know is
 * recorded as syscall_entry_unknown / syscall_exit_unknown; wait4 also records
 * sched_process_wait, as do_wait does right after the entry.
 */
import { getState, type HookArgs, type KPath } from '@tracelab/core';
import type { TracepointFields, TracepointValue } from './events.js';
import { DEFAULT_PRIO, SCHED_PROCESS_WAIT, SYSCALLS, SYSCALL_ENTRY_UNKNOWN, SYSCALL_EXIT_UNKNOWN, type SyscallArg } from './tracepoints.js';
import { enabled, trace } from './tracepoint.js';
import { comm } from './sched.js';
import type { RingBufferSession } from './internal/session.js';

/** The kernel's fields of a syscall event from tracelab's arguments (a kernel argument tracelab has not is 0). */
function syscallFields(spec: readonly SyscallArg[], args: Readonly<Record<string, number>>, into: Record<string, TracepointValue>): TracepointFields {
  for (const a of spec) into[a.name] = a.from === undefined ? 0 : (args[a.from] ?? 0);
  return into;
}

/** syscall_entry_<name>, remembering the arguments for the exit event's output pointers. */
export function* syscallEntryHook(st: RingBufferSession, { pid, name, args }: HookArgs['syscallEntry']): KPath<void> {
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

/** syscall_exit_<name> with the return value (none for a syscall that does not return). */
export function* syscallExitHook(st: RingBufferSession, { pid, name, ret }: HookArgs['syscallExit']): KPath<void> {
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
