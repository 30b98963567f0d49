import type { CtfFieldType } from '@tracelab/formats';
import type { TracepointDefinition, TracepointField } from './events.js';

const COMM: CtfFieldType = { kind: 'array', element: 'char', length: 16 };
const I32: CtfFieldType = { kind: 'integer', size: 32, signed: true };
const I64: CtfFieldType = { kind: 'integer', size: 64, signed: true };
const U8: CtfFieldType = { kind: 'integer', size: 8, signed: false };
const STR: CtfFieldType = { kind: 'string' };

/** The core kernel's own tracepoints (names and fields after LTTng's kernel events). */
export const SCHED_SWITCH: TracepointDefinition = {
  name: 'sched_switch',
  fields: [
    { name: 'prev_comm', type: COMM },
    { name: 'prev_tid', type: I32 },
    { name: 'next_comm', type: COMM },
    { name: 'next_tid', type: I32 },
    { name: 'preempted', type: U8 },
  ],
};
export const SCHED_PROCESS_FORK: TracepointDefinition = {
  name: 'sched_process_fork',
  fields: [
    { name: 'parent_comm', type: COMM },
    { name: 'parent_tid', type: I32 },
    { name: 'child_tid', type: I32 },
  ],
};
export const SCHED_PROCESS_EXIT: TracepointDefinition = {
  name: 'sched_process_exit',
  fields: [
    { name: 'comm', type: COMM },
    { name: 'tid', type: I32 },
    { name: 'code', type: I32 },
  ],
};

/**
 * The arguments of the core's syscalls, in order: `u` marks a user string (an address the
 * probe copies from user memory). A missing argument records 0 (or an empty string).
 */
export const SYSCALL_ARGS: Readonly<Record<string, readonly (readonly [string, 'i' | 'u'])[]>> = {
  getpid: [],
  getppid: [],
  read: [['fd', 'i'], ['buf', 'i'], ['count', 'i']],
  write: [['fd', 'i'], ['buf', 'i'], ['count', 'i']],
  open: [['path', 'u'], ['flags', 'i']],
  stat: [['path', 'u']],
  close: [['fd', 'i']],
  clone: [],
  execve: [['filename', 'u']],
  exit_group: [['code', 'i']],
  nanosleep: [['ticks', 'i']],
  wait4: [],
  kill: [['pid', 'i'], ['sig', 'i']],
};

/** `syscall_entry_<name>`: faultable (its user strings are read in the probe). */
export function syscallEntryTracepoint(name: string): TracepointDefinition {
  const args = SYSCALL_ARGS[name] ?? [];
  const fields: TracepointField[] = args.map(([arg, kind]) => (kind === 'u' ? { name: arg, type: STR, user: true } : { name: arg, type: I64 }));
  return { name: `syscall_entry_${name}`, fields, faultable: true };
}

/** Any other syscall: its name (a kernel string). */
export const SYSCALL_ENTRY_UNKNOWN: TracepointDefinition = {
  name: 'syscall_entry_unknown',
  fields: [{ name: 'name', type: STR }],
  faultable: true,
};

/** Every built-in tracepoint, in id order. */
export function coreTracepoints(): TracepointDefinition[] {
  return [SCHED_SWITCH, SCHED_PROCESS_FORK, SCHED_PROCESS_EXIT, ...Object.keys(SYSCALL_ARGS).map(syscallEntryTracepoint), SYSCALL_ENTRY_UNKNOWN];
}
