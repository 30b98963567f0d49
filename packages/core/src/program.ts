/**
 * User programs: generator functions that yield user operations made by the builder `u`.
 *
 * ```ts
 * function* shell(u: UserOps) {
 *   const child = yield u.fork(compiler);          // the parent receives the child's pid
 *   yield u.syscall('open', { path: '/usr/include/stdio.h', flags: 0 });
 *   yield u.compute(5);
 *   const { pid, status } = yield u.wait();
 *   yield u.exit(0);
 * }
 * ```
 * String syscall arguments are stored in the task's user memory first; the kernel sees their
 * address and reads them with copyFromUser (which may fault).
 */
export type SyscallArgs = Readonly<Record<string, number | string>>;

export type UserOp =
  | { readonly kind: 'syscall'; readonly name: string; readonly args: SyscallArgs }
  | { readonly kind: 'compute'; readonly ticks: number }
  | { readonly kind: 'touch'; readonly addr: number }
  | { readonly kind: 'fork'; readonly program: Program }
  | { readonly kind: 'vfork'; readonly program: Program }
  | { readonly kind: 'exec'; readonly comm: string; readonly program: Program }
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'sleep'; readonly ticks: number }
  | { readonly kind: 'wait' }
  | { readonly kind: 'kill'; readonly pid: number; readonly sig: number };

/** What `yield u.wait()` gives back: the reaped child, or a negative errno (-ECHILD, -EINTR). */
export type WaitResult = { readonly pid: number; readonly status: number } | number;

export interface UserOps {
  /** A system call; resumes with its return value. */
  syscall(name: string, args?: SyscallArgs): UserOp;
  /** `ticks` ticks of user-mode work, each a preemption point. */
  compute(ticks: number): UserOp;
  /** Touches user memory at `addr`: a page fault if the page is not resident. */
  touch(addr: number): UserOp;
  /** fork(): resumes with the child's pid (the child runs `program`). */
  fork(program: Program): UserOp;
  /**
   * vfork(): clone with CLONE_VFORK. The parent sleeps until the child execs or exits, then
   * resumes with the child's pid.
   */
  vfork(program: Program): UserOp;
  /** execve(): replaces the program; the task's comm becomes `comm`. */
  exec(comm: string, program: Program): UserOp;
  exit(code?: number): UserOp;
  sleep(ticks: number): UserOp;
  /** wait4(-1): resumes with a {@link WaitResult}. */
  wait(): UserOp;
  kill(pid: number, sig: number): UserOp;
}

/**
 * A user program. The value a `yield` resumes with depends on the operation (a pid, a
 * syscall's return value, a wait result), hence `any` for the generator's input.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Program = (u: UserOps) => Generator<UserOp, unknown, any>;

function positiveInt(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new TypeError(`${what} must be a non-negative integer, got ${v}`);
  return v;
}

function aProgram(what: string, p: Program): Program {
  if (typeof p !== 'function')
    throw new TypeError(`${what}: the program must be a generator function, function* (u) { ... }; got ${p === null ? 'null' : typeof p}`);
  return p;
}

export const userOps: UserOps = Object.freeze({
  syscall: (name: string, args: SyscallArgs = {}) => ({ kind: 'syscall', name, args }) as const,
  compute: (ticks: number) => ({ kind: 'compute', ticks: positiveInt('compute(ticks)', ticks) }) as const,
  touch: (addr: number) => ({ kind: 'touch', addr: positiveInt('touch(addr)', addr) }) as const,
  fork: (program: Program) => ({ kind: 'fork', program: aProgram('fork(program)', program) }) as const,
  vfork: (program: Program) => ({ kind: 'vfork', program: aProgram('vfork(program)', program) }) as const,
  exec: (comm: string, program: Program) => ({ kind: 'exec', comm, program: aProgram('exec(comm, program)', program) }) as const,
  exit: (code = 0) => ({ kind: 'exit', code }) as const,
  sleep: (ticks: number) => ({ kind: 'sleep', ticks: positiveInt('sleep(ticks)', ticks) }) as const,
  wait: () => ({ kind: 'wait' }) as const,
  kill: (pid: number, sig: number) => ({ kind: 'kill', pid, sig }) as const,
});

const KINDS = new Set(['syscall', 'compute', 'touch', 'fork', 'vfork', 'exec', 'exit', 'sleep', 'wait', 'kill']);

export function isUserOp(v: unknown): v is UserOp {
  return typeof v === 'object' && v !== null && KINDS.has((v as { kind?: unknown }).kind as string);
}

export const SIGINT = 2;
export const SIGTRAP = 5;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTSTP = 20;

/**
 * The thread flag that forces the signal path (TIF_SIGPENDING without a queued signal, as
 * utrace_control(UTRACE_INTERRUPT) sets it through signal_wake_up). A plugin sets it with a
 * `task/flags` event; at the task's next exit to user mode the core clears it (recalc_sigpending:
 * the model's queued signals are `pendingSignals`, so the flag means only the forcing) and runs
 * the `signal` hook once with `sig: 0`, before it takes any queued signal. Setting the flag
 * wakes nothing: the plugin wakes what its signal_wake_up should.
 */
export const TIF_SIGPENDING = 'TIF_SIGPENDING';

/** madvise's MADV_PAGEOUT (include/uapi/asm-generic/mman-common.h): `u.syscall('madvise', { addr, len, advice: MADV_PAGEOUT })` reclaims the range's pages. */
export const MADV_PAGEOUT = 21;
/** clone() flag: the parent waits until the child execs or exits (include/uapi/linux/sched.h). */
export const CLONE_VFORK = 0x4000;
