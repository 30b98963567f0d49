import type { CtfFieldType } from '@tracelab/formats';
import type { TracepointDefinition, TracepointField } from './events.js';

/*
 * The kernel's tracepoints as lttng-modules declares them (include/instrumentation/events/
 * sched.h, lttng-statedump.h and the generated syscall headers): the same event names, the
 * same field names in the same order, the same C types (pid_t and int are 32-bit signed, long
 * 64-bit signed, unsigned int 32-bit unsigned, pointers 64-bit hex, comm a char[16] text
 * array). Analyses written for LTTng kernel traces (lttnganalyses, Trace Compass) read them.
 */

const COMM: CtfFieldType = { kind: 'array', element: 'char', length: 16 };
const PID: CtfFieldType = { kind: 'integer', size: 32, signed: true };
const INT: CtfFieldType = { kind: 'integer', size: 32, signed: true };
const UINT: CtfFieldType = { kind: 'integer', size: 32, signed: false };
const LONG: CtfFieldType = { kind: 'integer', size: 64, signed: true };
const ULONG: CtfFieldType = { kind: 'integer', size: 64, signed: false };
const UMODE: CtfFieldType = { kind: 'integer', size: 16, signed: false };
const PTR: CtfFieldType = { kind: 'integer', size: 64, signed: false, base: 16 };
const STR: CtfFieldType = { kind: 'string' };

/** `prio - MAX_RT_PRIO` of a nice-0 task (prio 120): every tracelab task. */
export const DEFAULT_PRIO = 20;

/** The init pid namespace's inode number (PROC_PID_INIT_INO): tracelab has one pid namespace. */
export const INIT_PID_NS_INUM = 0xeffffffc;

/**
 * `prev_state` of sched_switch, as `__trace_sched_switch_state` reports it on Linux >= 4.15:
 * 0 runnable, 1 TASK_INTERRUPTIBLE, 2 TASK_UNINTERRUPTIBLE, 4 __TASK_STOPPED, 8 __TASK_TRACED,
 * 16 EXIT_DEAD, 32 EXIT_ZOMBIE, and TASK_REPORT_MAX (256) for a preempted task.
 */
export const TASK_STATE = {
  running: 0,
  interruptible: 1,
  uninterruptible: 2,
  stopped: 4,
  traced: 8,
  dead: 16,
  zombie: 32,
  preempted: 256,
} as const;

function tp(name: string, fields: readonly TracepointField[], faultable = false): TracepointDefinition {
  return faultable ? { name, fields, faultable } : { name, fields };
}

const TASK_FIELDS: readonly TracepointField[] = [
  { name: 'comm', type: COMM },
  { name: 'tid', type: PID },
  { name: 'prio', type: INT },
];
const WAKEUP_FIELDS: readonly TracepointField[] = [...TASK_FIELDS, { name: 'target_cpu', type: INT }];

export const SCHED_SWITCH = tp('sched_switch', [
  { name: 'prev_comm', type: COMM },
  { name: 'prev_tid', type: PID },
  { name: 'prev_prio', type: INT },
  { name: 'prev_state', type: LONG },
  { name: 'next_comm', type: COMM },
  { name: 'next_tid', type: PID },
  { name: 'next_prio', type: INT },
]);
/** try_to_wake_up, in the waking context. */
export const SCHED_WAKING = tp('sched_waking', WAKEUP_FIELDS);
/** The task is runnable (p->state == TASK_RUNNING). */
export const SCHED_WAKEUP = tp('sched_wakeup', WAKEUP_FIELDS);
/** wake_up_new_task: a forked child's first wakeup. */
export const SCHED_WAKEUP_NEW = tp('sched_wakeup_new', WAKEUP_FIELDS);
export const SCHED_MIGRATE_TASK = tp('sched_migrate_task', [...TASK_FIELDS, { name: 'orig_cpu', type: INT }, { name: 'dest_cpu', type: INT }]);
/**
 * copy_process. lttng-modules also writes `vtids` (a sequence of the child's tid per pid
 * namespace level) between `child_tid` and `child_pid`; tracelab has one pid namespace and its
 * CTF writer has no sequences, so the field is left out.
 */
export const SCHED_PROCESS_FORK = tp('sched_process_fork', [
  { name: 'parent_comm', type: COMM },
  { name: 'parent_tid', type: PID },
  { name: 'parent_pid', type: PID },
  { name: 'parent_ns_inum', type: UINT },
  { name: 'child_comm', type: COMM },
  { name: 'child_tid', type: PID },
  { name: 'child_pid', type: PID },
  { name: 'child_ns_inum', type: UINT },
]);
export const SCHED_PROCESS_EXEC = tp('sched_process_exec', [
  { name: 'filename', type: STR },
  { name: 'tid', type: PID },
  { name: 'old_tid', type: PID },
]);
export const SCHED_PROCESS_EXIT = tp('sched_process_exit', TASK_FIELDS);
/** release_task (the kernel traces it when the task_struct is freed, one RCU grace period later). */
export const SCHED_PROCESS_FREE = tp('sched_process_free', TASK_FIELDS);
/** do_wait: `comm` and `prio` are the waiter's, `tid` the pid waited for (0 for any child). */
export const SCHED_PROCESS_WAIT = tp('sched_process_wait', TASK_FIELDS);

/**
 * The function tracer's event: a traced function's entry, as an ftrace ops' callback sees it
 * (`ip` the function, `parent_ip` its caller). tracelab's mcount sites are named functions, so
 * both are written as names (ftrace's text output prints them symbolized the same way).
 */
export const FUNC_ENTRY = tp('func_entry', [
  { name: 'ip', type: STR },
  { name: 'parent_ip', type: STR },
]);

export const LTTNG_STATEDUMP_START = tp('lttng_statedump_start', []);
export const LTTNG_STATEDUMP_END = tp('lttng_statedump_end', []);
/**
 * One per task at session start. `type`: 0 user thread, 1 kernel thread; `mode`: 0 user, 1
 * syscall; `submode` 0; `status`: 2 waiting for a CPU, 5 waiting, 6 running, 4 zombie.
 */
export const LTTNG_STATEDUMP_PROCESS_STATE = tp('lttng_statedump_process_state', [
  { name: 'tid', type: PID },
  { name: 'pid', type: PID },
  { name: 'ppid', type: PID },
  { name: 'name', type: COMM },
  { name: 'type', type: INT },
  { name: 'mode', type: INT },
  { name: 'submode', type: INT },
  { name: 'status', type: INT },
  { name: 'cpu', type: UINT },
  { name: 'file_table_address', type: PTR },
]);

/** lttng_statedump_process_state's `status` (enum lttng_process_status). */
export const STATEDUMP_STATUS = { waitCpu: 2, zombie: 4, wait: 5, run: 6, dead: 7 } as const;

/** A syscall argument: the kernel's name and C type, and the argument of tracelab's syscall it comes from (none: recorded as 0). */
export interface SyscallArg {
  readonly name: string;
  readonly type: 'int' | 'uint' | 'long' | 'ulong' | 'umode' | 'ptr' | 'user-string';
  readonly from?: string;
}

/** A syscall as lttng-modules traces it on x86-64. */
export interface SyscallSpec {
  /** The kernel's name: `syscall_entry_<event>` / `syscall_exit_<event>` (stat is `newstat`). */
  readonly event: string;
  /** Entry fields (the arguments the kernel reads: sc_in and sc_inout). */
  readonly entry: readonly SyscallArg[];
  /** Exit fields after `ret` (sc_out and sc_inout: what the kernel wrote back). */
  readonly exit: readonly SyscallArg[];
  /** The syscall never returns (exit_group): no exit event. */
  readonly noReturn?: boolean;
}

/**
 * tracelab's syscalls, by their name in the core, as the kernel names and types them. Where
 * tracelab's argument differs from the kernel's (nanosleep takes ticks, not a timespec
 * pointer), the kernel's field is written as 0.
 */
export const SYSCALLS: Readonly<Record<string, SyscallSpec>> = {
  getpid: { event: 'getpid', entry: [], exit: [] },
  getppid: { event: 'getppid', entry: [], exit: [] },
  read: {
    event: 'read',
    entry: [
      { name: 'fd', type: 'uint', from: 'fd' },
      { name: 'count', type: 'ulong', from: 'count' },
    ],
    exit: [{ name: 'buf', type: 'ptr', from: 'buf' }],
  },
  write: {
    event: 'write',
    entry: [
      { name: 'fd', type: 'uint', from: 'fd' },
      { name: 'buf', type: 'ptr', from: 'buf' },
      { name: 'count', type: 'ulong', from: 'count' },
    ],
    exit: [],
  },
  open: {
    event: 'open',
    entry: [
      { name: 'filename', type: 'user-string', from: 'path' },
      { name: 'flags', type: 'int', from: 'flags' },
      { name: 'mode', type: 'umode', from: 'mode' },
    ],
    exit: [],
  },
  stat: { event: 'newstat', entry: [{ name: 'filename', type: 'user-string', from: 'path' }], exit: [{ name: 'statbuf', type: 'ptr', from: 'statbuf' }] },
  close: { event: 'close', entry: [{ name: 'fd', type: 'uint', from: 'fd' }], exit: [] },
  clone: {
    event: 'clone',
    entry: [
      { name: 'clone_flags', type: 'ulong', from: 'flags' },
      { name: 'newsp', type: 'ptr' },
      { name: 'parent_tid', type: 'ptr' },
      { name: 'child_tid', type: 'ptr' },
      { name: 'tls', type: 'ptr' },
    ],
    exit: [],
  },
  execve: {
    event: 'execve',
    entry: [
      { name: 'filename', type: 'user-string', from: 'filename' },
      { name: 'argv', type: 'ptr' },
      { name: 'envp', type: 'ptr' },
    ],
    exit: [],
  },
  exit_group: { event: 'exit_group', entry: [{ name: 'error_code', type: 'int', from: 'code' }], exit: [], noReturn: true },
  nanosleep: { event: 'nanosleep', entry: [{ name: 'rqtp', type: 'ptr' }], exit: [{ name: 'rmtp', type: 'ptr' }] },
  wait4: {
    event: 'wait4',
    entry: [
      { name: 'upid', type: 'int', from: 'pid' },
      { name: 'options', type: 'int', from: 'options' },
      { name: 'ru', type: 'ptr' },
    ],
    exit: [{ name: 'stat_addr', type: 'ptr' }],
  },
  kill: {
    event: 'kill',
    entry: [
      { name: 'pid', type: 'int', from: 'pid' },
      { name: 'sig', type: 'int', from: 'sig' },
    ],
    exit: [],
  },
};

/** @deprecated the entry arguments by core name; use `SYSCALLS`. Kept for code written against 0.1 (`[kernel name, 'u' for a user string or 'i']`). */
export const SYSCALL_ARGS: Readonly<Record<string, readonly (readonly [string, 'i' | 'u'])[]>> = Object.fromEntries(
  Object.entries(SYSCALLS).map(([name, spec]) => [name, spec.entry.map((a) => [a.name, a.type === 'user-string' ? 'u' : 'i'] as const)]),
);

function argField(a: SyscallArg): TracepointField {
  switch (a.type) {
    case 'user-string':
      return { name: a.name, type: STR, user: true };
    case 'int':
      return { name: a.name, type: INT };
    case 'uint':
      return { name: a.name, type: UINT };
    case 'long':
      return { name: a.name, type: LONG };
    case 'ulong':
      return { name: a.name, type: ULONG };
    case 'umode':
      return { name: a.name, type: UMODE };
    case 'ptr':
      return { name: a.name, type: PTR };
  }
}

/** The tracelab syscall a `syscall_entry_<event>`/`syscall_exit_<event>` name belongs to (stat for newstat), or undefined. */
export function syscallOfEvent(event: string): string | undefined {
  for (const [name, spec] of Object.entries(SYSCALLS)) if (spec.event === event) return name;
  return undefined;
}

/** `syscall_entry_<event>` of tracelab's syscall `name`: faultable (its user strings are read in the probe). */
export function syscallEntryTracepoint(name: string): TracepointDefinition {
  const spec = SYSCALLS[name];
  if (spec === undefined) return SYSCALL_ENTRY_UNKNOWN;
  return tp(`syscall_entry_${spec.event}`, spec.entry.map(argField), true);
}

/** `syscall_exit_<event>`: `ret` (long), then what the kernel wrote back. */
export function syscallExitTracepoint(name: string): TracepointDefinition {
  const spec = SYSCALLS[name];
  if (spec === undefined) return SYSCALL_EXIT_UNKNOWN;
  return tp(`syscall_exit_${spec.event}`, [{ name: 'ret', type: LONG }, ...spec.exit.map(argField)]);
}

/** Any other syscall (one a plugin added): its name (a kernel string). */
export const SYSCALL_ENTRY_UNKNOWN = tp('syscall_entry_unknown', [{ name: 'name', type: STR }], true);
export const SYSCALL_EXIT_UNKNOWN = tp('syscall_exit_unknown', [
  { name: 'name', type: STR },
  { name: 'ret', type: LONG },
]);

/** Every built-in tracepoint, in id order. */
/** irq_handler_entry (include/instrumentation/events/irq.h): a hard interrupt's handler starts. */
export const IRQ_HANDLER_ENTRY = tp('irq_handler_entry', [
  { name: 'irq', type: INT },
  { name: 'name', type: STR },
]);
/** irq_handler_exit: the handler returned `ret` (1: IRQ_HANDLED). */
export const IRQ_HANDLER_EXIT = tp('irq_handler_exit', [
  { name: 'irq', type: INT },
  { name: 'ret', type: INT },
]);
/** hrtimer_expire_entry as lttng-modules maps it (timer.h): the tick's hrtimer fires, at `now` (ns). */
export const TIMER_HRTIMER_EXPIRE_ENTRY = tp('timer_hrtimer_expire_entry', [
  { name: 'hrtimer', type: PTR },
  { name: 'now', type: LONG },
  { name: 'function', type: PTR },
]);
/**
 * tracelab's sampling NMI (perf's cycles sample, which lttng-modules has no event for): the
 * interrupted task (0: the idle task) and whether the NMI landed inside a hard interrupt.
 */
export const NMI_SAMPLE = tp('nmi_sample', [
  { name: 'tid', type: PID },
  { name: 'in_irq', type: INT },
]);

/** The timer tick's interrupt line and handler name (the legacy timer, irq 0, "timer" in /proc/interrupts). */
export const TIMER_IRQ = 0;
/** IRQ_HANDLED: what irq_handler_exit reports for the tick. */
export const IRQ_HANDLED = 1;

/** The tracepoints fired from interrupt context, defined only with `interrupts: true` (after the core ones, so event ids stay). */
export function interruptTracepoints(): TracepointDefinition[] {
  return [IRQ_HANDLER_ENTRY, IRQ_HANDLER_EXIT, TIMER_HRTIMER_EXPIRE_ENTRY, NMI_SAMPLE];
}

export function coreTracepoints(): TracepointDefinition[] {
  const syscalls = Object.keys(SYSCALLS);
  return [
    SCHED_SWITCH,
    SCHED_WAKING,
    SCHED_WAKEUP,
    SCHED_WAKEUP_NEW,
    SCHED_MIGRATE_TASK,
    SCHED_PROCESS_FORK,
    SCHED_PROCESS_EXEC,
    SCHED_PROCESS_EXIT,
    SCHED_PROCESS_FREE,
    SCHED_PROCESS_WAIT,
    LTTNG_STATEDUMP_START,
    LTTNG_STATEDUMP_PROCESS_STATE,
    LTTNG_STATEDUMP_END,
    FUNC_ENTRY,
    ...syscalls.map(syscallEntryTracepoint),
    SYSCALL_ENTRY_UNKNOWN,
    ...syscalls.filter((s) => SYSCALLS[s]!.noReturn !== true).map(syscallExitTracepoint),
    SYSCALL_EXIT_UNKNOWN,
  ];
}

/**
 * Tracepoints that need the syscall slow path (TIF_SYSCALL_TRACEPOINT) while they have a
 * probe: the per-syscall events, which lttng's probes on sys_enter / sys_exit dispatch to, and
 * sched_process_wait, written at wait4's entry from the same path (the core has no do_wait hook).
 */
export function needsSyscallFlag(name: string): boolean {
  return name.startsWith('syscall_entry_') || name.startsWith('syscall_exit_') || name === SCHED_PROCESS_WAIT.name;
}
