/**
 * The constants of the utrace API (UTRACE_API_VERSION 20091216, include/linux/utrace.h), with
 * the kernel's names and values. SEMANTICS.md section 3(a).
 */

// ---- event bits (enum utrace_events): each mask is 1 << bit ----------------------------------

/** The thread is quiescent: available for examination; also called before each event's callback. */
export const UTRACE_EVENT_QUIESCE = 1 << 0;
/** The zombie was reaped: no more tracing is possible. */
export const UTRACE_EVENT_REAP = 1 << 1;
/** A clone/fork just succeeded (reported in the parent, before the child can run). */
export const UTRACE_EVENT_CLONE = 1 << 2;
/** An execve just succeeded. */
export const UTRACE_EVENT_EXEC = 1 << 3;
/** The thread is exiting (do_exit), its state still live. */
export const UTRACE_EVENT_EXIT = 1 << 4;
/** The thread is dead (after exit_notify). */
export const UTRACE_EVENT_DEATH = 1 << 5;
/** The thread entered the kernel for a system call. */
export const UTRACE_EVENT_SYSCALL_ENTRY = 1 << 6;
/** The thread is about to leave the kernel after a system call. */
export const UTRACE_EVENT_SYSCALL_EXIT = 1 << 7;
/** A signal with a handler (in the model: the SIGNAL_REPORT pass after a resume). */
export const UTRACE_EVENT_SIGNAL = 1 << 8;
/** A signal whose action is to be ignored. */
export const UTRACE_EVENT_SIGNAL_IGN = 1 << 9;
/** A signal whose action is to stop (job control). */
export const UTRACE_EVENT_SIGNAL_STOP = 1 << 10;
/** A signal whose action is to terminate. */
export const UTRACE_EVENT_SIGNAL_TERM = 1 << 11;
/** A signal whose action is to terminate with a core dump. */
export const UTRACE_EVENT_SIGNAL_CORE = 1 << 12;
/** Job control: the thread stops or continues. */
export const UTRACE_EVENT_JCTL = 1 << 13;

/** Every signal event (UTRACE_EVENT_SIGNAL_ALL). */
export const UTRACE_EVENT_SIGNAL_ALL =
  UTRACE_EVENT_SIGNAL | UTRACE_EVENT_SIGNAL_IGN | UTRACE_EVENT_SIGNAL_STOP | UTRACE_EVENT_SIGNAL_TERM | UTRACE_EVENT_SIGNAL_CORE;
/** Both syscall events (UTRACE_EVENT_SYSCALL). */
export const UTRACE_EVENT_SYSCALL = UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT;
/** The events that still come once the thread is dead (_UTRACE_DEATH_EVENTS). */
export const UTRACE_DEATH_EVENTS = UTRACE_EVENT_DEATH | UTRACE_EVENT_QUIESCE;
/** Every event bit (bits 0..13). */
export const UTRACE_EVENT_ALL = (1 << 14) - 1;

/** The internal ENGINE_STOP bit: in an engine's flags and in the task's utrace_flags. */
export const ENGINE_STOP = 1 << 14;

/** Event names by bit, for logs (the kernel's enum without the leading `_UTRACE_EVENT_`). */
export const UTRACE_EVENT_NAMES = [
  'QUIESCE',
  'REAP',
  'CLONE',
  'EXEC',
  'EXIT',
  'DEATH',
  'SYSCALL_ENTRY',
  'SYSCALL_EXIT',
  'SIGNAL',
  'SIGNAL_IGN',
  'SIGNAL_STOP',
  'SIGNAL_TERM',
  'SIGNAL_CORE',
  'JCTL',
] as const;

// ---- resume actions (enum utrace_resume_action): a lower value is stronger, the minimum wins ----

export const UTRACE_STOP = 0;
export const UTRACE_INTERRUPT = 1;
export const UTRACE_REPORT = 2;
export const UTRACE_SINGLESTEP = 3;
export const UTRACE_BLOCKSTEP = 4;
export const UTRACE_RESUME = 5;
export const UTRACE_DETACH = 6;
/** One past the last action: control() refuses it and anything above with -EINVAL. */
export const UTRACE_RESUME_MAX = 7;
/** The resume action lives in the low 3 bits of a callback's u32 return value. */
export const UTRACE_RESUME_MASK = 0x07;

export const UTRACE_RESUME_ACTION_NAMES = ['STOP', 'INTERRUPT', 'REPORT', 'SINGLESTEP', 'BLOCKSTEP', 'RESUME', 'DETACH'] as const;

/** The resume action part of a callback's return value (utrace_resume_action()). */
export function utraceResumeAction(action: number): number {
  return action & UTRACE_RESUME_MASK;
}

// ---- signal actions (enum utrace_signal_action), or'd into report_signal's return ------------

export const UTRACE_SIGNAL_DELIVER = 0x00;
export const UTRACE_SIGNAL_IGN = 0x10;
export const UTRACE_SIGNAL_TERM = 0x20;
export const UTRACE_SIGNAL_CORE = 0x30;
export const UTRACE_SIGNAL_STOP = 0x40;
export const UTRACE_SIGNAL_TSTP = 0x50;
export const UTRACE_SIGNAL_REPORT = 0x60;
export const UTRACE_SIGNAL_HANDLER = 0x70;
export const UTRACE_SIGNAL_MASK = 0xf0;
/** Flag: push the signal back on the queue, to be seen again after this action. */
export const UTRACE_SIGNAL_HOLD = 0x100;

/** The signal action part of a report_signal value (utrace_signal_action()). */
export function utraceSignalAction(action: number): number {
  return action & UTRACE_SIGNAL_MASK;
}

// ---- syscall actions (enum utrace_syscall_action), or'd into report_syscall_entry's return ----

export const UTRACE_SYSCALL_RUN = 0x00;
export const UTRACE_SYSCALL_ABORT = 0x10;
export const UTRACE_SYSCALL_MASK = 0xf0;
/** Flag in the action argument: a repeated report_syscall_entry after a stop. */
export const UTRACE_SYSCALL_RESUMED = 0x100;

/** The syscall action part of a report_syscall_entry value (utrace_syscall_action()). */
export function utraceSyscallAction(action: number): number {
  return action & UTRACE_SYSCALL_MASK;
}

// ---- attach flags --------------------------------------------------------------------------

/** Match an existing engine by its ops. */
export const UTRACE_ATTACH_MATCH_OPS = 0x0001;
/** Match an existing engine by its data. */
export const UTRACE_ATTACH_MATCH_DATA = 0x0002;
export const UTRACE_ATTACH_MATCH_MASK = 0x000f;
/** Attach a new engine (without it, attach only looks one up). */
export const UTRACE_ATTACH_CREATE = 0x0010;
/** With CREATE: fail with -EEXIST if a matching engine is attached. */
export const UTRACE_ATTACH_EXCLUSIVE = 0x0020;

// ---- other kernel numbers the API returns or passes -----------------------------------------

/** -EOPNOTSUPP: control() with a step action (the simulated machine has no single-step). */
export const EOPNOTSUPP = 95;
/** -ERESTARTSYS: barrier() interrupted by a signal pending on the caller. */
export const ERESTARTSYS = 512;
/** -ERESTARTNOINTR: utrace_attach_task gave up waiting out a newborn target (PF_STARTING) because a signal is pending on the caller; the caller's syscall restarts. */
export const ERESTARTNOINTR = 513;
/** report_jctl's type: the thread stops (CLD_STOPPED) or continues (CLD_CONTINUED). */
export const CLD_STOPPED = 5;
export const CLD_CONTINUED = 6;
/** The clone flag report_clone sees for a vfork (`u.vfork`); the same value as the core's CLONE_VFORK. */
export const CLONE_VFORK = 0x00004000;
/** The clone flags of a plain fork() in the kernel (the exit signal SIGCHLD); the core's fork passes 0. */
export const CLONE_FORK_FLAGS = 17;

/** The thread flag utrace sets while an engine wants syscall events: the syscall slow path. */
export const TIF_SYSCALL_TRACE = 'TIF_SYSCALL_TRACE';
/** The thread flag set_notify_resume sets: a resume action is pending for the way to user mode. */
export const TIF_NOTIFY_RESUME = 'TIF_NOTIFY_RESUME';

/** Names of the bits of a mask, for messages: `QUIESCE|SYSCALL_ENTRY`. */
export function utraceEventNames(mask: number): string {
  const names: string[] = [];
  for (let b = 0; b < UTRACE_EVENT_NAMES.length; b++) if ((mask & (1 << b)) !== 0) names.push(UTRACE_EVENT_NAMES[b]!);
  if ((mask & ENGINE_STOP) !== 0) names.push('ENGINE_STOP');
  return names.length === 0 ? '0' : names.join('|');
}
