import { ECHILD, EEXIST, EFAULT, EINTR, EINVAL, ENOENT, ENOSYS, ESRCH, TracelabError, describeError } from '../errors.js';
import type { CopyResult, KPath } from '../paths.js';
import type { EventInput } from '../events.js';
import {
  CURRENT,
  POINT,
  STATE,
  SWITCH,
  emitCommand,
  fn,
  isKPath,
  msleep,
  mutexLock,
  mutexUnlock,
  waitEvent,
  wakeUp,
  writeLock,
  writeUnlock,
  writeUnlockInline,
  type Current,
} from '../paths.js';
import type { CorePaths, SignalAction, SignalInjection, SyscallBody } from '../plugin.js';
import type { Program, UserOp } from '../program.js';
import { isUserOp, userOps, CLONE_VFORK, MADV_PAGEOUT, SIGCONT, SIGKILL, SIGSEGV, SIGSTOP, TIF_SIGPENDING } from '../program.js';
import { intMapGet } from '../int-map.js';
import type { KernelState } from '../state.js';
import { mmHasPage, pageOf } from './reducers.js';
import type { Runtime, TaskRt } from './runtime.js';

/** Functions the core instruments from the start, so function tracers can filter on them. */
export const CORE_FUNCTIONS = ['copy_process', 'do_exit', 'release_task', 'handle_mm_fault', 'load_module', 'delete_module'] as const;

const IGNORED_BY_DEFAULT = new Set([17, 23, 28]); // SIGCHLD, SIGURG, SIGWINCH
const STOP_SIGNALS = new Set([19, 20, 21, 22]); // SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU

/** `sys_<name>`, built once per syscall name (a string made per call is hashed again at each lookup). */
const SYS_NAMES = new Map<string, string>();
function sysName(name: string): string {
  let s = SYS_NAMES.get(name);
  if (s === undefined) SYS_NAMES.set(name, (s = `sys_${name}`));
  return s;
}

/** A path that returns `value` at once: a plain-function syscall body's value. */
// eslint-disable-next-line require-yield -- it takes no step on purpose
function* returnAtOnce<T>(value: T): KPath<T> {
  return value;
}

/** Extra outcome of a syscall that the program sees instead of the bare return value. */
interface SyscallOut {
  ret: number;
  out?: unknown;
  program?: Program;
}

/**
 * The kernel's own code paths, bound to one runtime: the user-task driver and syscall path,
 * copy_process, do_exit, release, wait, signals, page faults, modules. Each reads like the
 * kernel function it models, with a scheduling point wherever the kernel could be preempted
 * or another CPU could act.
 */
export class CorePathsImpl implements CorePaths {
  /**
   * The program a task's fork/vfork/exec is to start, keyed by the task's pid: set by its user
   * operation, taken by the syscall body, both on that task inside its own steps.
   */
  private readonly programs = new Map<number, Program>();
  private readonly outs = new Map<number, SyscallOut>();
  /**
   * vfork children whose parent waits until they exec or exit (the kernel's vfork completion),
   * keyed by child pid. Guarded by being touched only by the child (complete) and the parent
   * (create, wait), each inside one step.
   */
  private readonly vforks = new Map<number, { readonly parent: number; done: boolean }>();

  /** Built by the runtime it serves, in the runtime's constructor; it only keeps the reference. */
  constructor(private readonly rt: Runtime) {}

  /** Forgets every task's syscall bookkeeping (`kernel.reset`: no task survives it). */
  reset(): void {
    this.programs.clear();
    this.outs.clear();
    this.vforks.clear();
  }

  /** The core's syscall table: the runtime copies it into its own at construction. */
  syscallTable(): ReadonlyArray<readonly [string, SyscallBody]> {
    return [
      ['getpid', () => this.sysGetpid()],
      ['getppid', () => this.sysGetppid()],
      ['read', (a) => this.sysRead(a)],
      ['write', (a) => this.sysWrite(a)],
      ['open', (a) => this.sysOpen(a)],
      ['stat', (a) => this.sysStat(a)],
      ['close', () => this.sysClose()],
      ['clone', (a) => this.sysClone(a['flags'] ?? 0)],
      ['execve', (a) => this.sysExecve(a)],
      ['exit_group', (a) => this.doExit(a['code'] ?? 0)],
      ['nanosleep', (a) => this.sysNanosleep(a)],
      ['wait4', () => this.sysWait4()],
      ['kill', (a) => this.sysKill(a)],
      ['madvise', (a) => this.sysMadvise(a)],
    ];
  }

  /** The program a fork or exec of `pid` starts; a rolled-back step puts it back. */
  private takeProgram(pid: number): Program | undefined {
    const program = this.programs.get(pid);
    if (program === undefined) return undefined;
    this.programs.delete(pid);
    this.rt.journal(() => this.programs.set(pid, program));
    return program;
  }

  private get s(): KernelState {
    return this.rt.store.live;
  }

  private me(): TaskRt {
    return this.rt.running!;
  }

  /**
   * Logs an event from a core path that only the runtime runs, as a task's own code (the user-task
   * driver, the syscall path and the core's syscall bodies, fork, exit, release): the same as
   * `yield emitCommand(e)` (the runtime's emit, an error thrown at this point of the path) less
   * the command's trip up and down the path's `yield*` stack. Not for `sched/wakeup` (the wakeup
   * hooks run on the command) or `task/sleep` (refused in interrupt context there), nor in a path
   * plugin code may drive (`pageFault` through copy_from_user, module load/unload), where
   * `drive`'s `beforeFirstCommand` must see it.
   */
  private emitNow(e: EventInput): void {
    this.rt.emit(e);
  }

  // ---- user tasks --------------------------------------------------------------------------

  /** A user task: runs its program, turning each operation into user work or a syscall. */
  *userMain(pid: number, program: Program | ReturnType<Program>): KPath<void> {
    // The host's spawn may hand over the program's generator already built (see Kernel.spawn).
    let gen: ReturnType<Program> | null = typeof program === 'function' ? null : program;
    let input: unknown;
    for (;;) {
      let op: UserOp;
      try {
        gen ??= startProgram(program as Program);
        const r = gen.next(input);
        op = r.done === true ? userOps.exit(0) : r.value;
        if (!isUserOp(op)) throw new TypeError(`the program yielded ${describeValue(op)}, not a user operation (yield u.compute(1), u.syscall('getpid'), ...)`);
      } catch (err) {
        // The program itself is broken: the task dies as if by SIGSEGV, with the reason logged.
        this.emitNow({ type: 'task/user-fault', pid, message: describeError(err) });
        yield* this.doExit(128 + SIGSEGV);
        return;
      }
      const out = yield* this.userOp(pid, op);
      input = out.out !== undefined ? out.out : out.ret;
      if (out.program !== undefined) {
        program = out.program;
        gen = null;
        input = undefined;
      }
    }
  }

  private *userOp(pid: number, op: UserOp): KPath<SyscallOut> {
    switch (op.kind) {
      case 'compute':
        for (let i = 0; i < op.ticks; i++) yield POINT;
        return { ret: 0 };
      case 'touch':
        yield* this.touch(pid, op.addr);
        return { ret: 0 };
      case 'syscall':
        return yield* this.syscall(pid, op.name, op.args);
      case 'fork':
        this.programs.set(pid, op.program);
        return yield* this.syscall(pid, 'clone', {});
      case 'vfork':
        this.programs.set(pid, op.program);
        return yield* this.syscall(pid, 'clone', { flags: CLONE_VFORK });
      case 'exec':
        this.programs.set(pid, op.program);
        return yield* this.syscall(pid, 'execve', { filename: op.comm });
      case 'exit':
        return yield* this.syscall(pid, 'exit_group', { code: op.code });
      case 'sleep':
        return yield* this.syscall(pid, 'nanosleep', { ticks: op.ticks });
      case 'wait':
        return yield* this.syscall(pid, 'wait4', { pid: -1 });
      case 'kill':
        return yield* this.syscall(pid, 'kill', { pid: op.pid, sig: op.sig });
    }
  }

  /** The syscall path: entry, slow-path work, `sys_<name>` as an instrumented function, exit to user. */
  private *syscall(pid: number, name: string, args: Readonly<Record<string, number | string>>): KPath<SyscallOut> {
    const numeric: Record<string, number> = {};
    for (const k of Object.keys(args)) {
      const v = args[k]!;
      numeric[k] = typeof v === 'string' ? this.storeString(pid, v) : v;
    }
    this.emitNow({ type: 'syscall/enter', pid, name, args: numeric });
    // A syscallEntry handler may abort the call (a tracer's UTRACE_SYSCALL_ABORT, seccomp):
    // the body is skipped and the task sees -ENOSYS.
    const verdict = this.slowPath(pid) ? yield* this.rt.runHook('syscallEntry', { pid, name, args: numeric }, pid) : undefined;
    const body = verdict === 'abort' ? undefined : this.rt.syscalls.get(name);
    this.outs.delete(pid);
    let ret: number;
    if (body === undefined) ret = -ENOSYS;
    else {
      // The body's path runs as fn's body directly (callbackPath's frame would be one more
      // level every resume of the body passes through); a plain function's value has no step.
      const made = body(numeric);
      ret = yield* fn(sysName(name), isKPath(made) ? (made as KPath<number>) : returnAtOnce(made));
    }
    const out = this.outs.get(pid);
    if (out !== undefined) this.outs.delete(pid);
    if (this.slowPath(pid)) yield* this.rt.runHook('syscallExit', { pid, name, ret }, pid);
    yield* this.exitToUser(pid);
    this.emitNow({ type: 'syscall/exit', pid, name, ret });
    return out === undefined ? { ret } : { ...out, ret };
  }

  /** Any thread flag of a syscall hook set on the task sends it down the slow path. */
  private slowPath(pid: number): boolean {
    if (this.rt.workFlags.size === 0) return false;
    const flags = this.rt.task(pid)?.flags;
    if (flags === undefined) return false;
    for (const f of this.rt.workFlags) if (flags[f] === true) return true;
    return false;
  }

  /** The program writes a string argument into its own memory; the kernel gets its address. */
  private storeString(pid: number, data: string): number {
    const tgid = this.rt.task(pid)!.tgid;
    const mm = this.rt.mm(tgid);
    if (mm === undefined) return 0;
    this.emitNow({ type: 'mm/store', tgid, addr: mm.brk, data });
    return mm.brk;
  }

  /**
   * exit_to_user_mode: the signal path (get_signal's loop), then the returnToUser hooks. A forced
   * TIF_SIGPENDING comes first: the flag is cleared and the `signal` hook runs with `sig: 0` (no
   * signal: utrace_get_signal's explicit report); then each queued signal in turn.
   */
  private *exitToUser(pid: number): KPath<void> {
    for (;;) {
      const t = this.rt.task(pid)!;
      if (t.flags[TIF_SIGPENDING] === true) {
        // recalc_sigpending: nothing but the forcing set the flag (queued signals are
        // `pendingSignals`). A handler that wants another pass sets it again.
        yield emitCommand({ type: 'task/flags', pid, set: [], clear: [TIF_SIGPENDING] });
        if (!this.rt.hasHandlers('signal')) continue;
        const forced = yield* this.rt.runHook('signal', { pid, sig: 0 }, pid);
        // A disposition for no signal means nothing; a SignalInjection is a signal to act on.
        if (typeof forced === 'object' && forced !== null) yield* this.actOnSignal(pid, injection(pid, forced), true);
        continue;
      }
      // dequeue_signal: SIGKILL first (a tracer's hold of another signal never keeps it out).
      const sig = t.pendingSignals.length > 1 && t.pendingSignals.includes(SIGKILL) ? SIGKILL : t.pendingSignals[0];
      if (sig === undefined) break;
      const verdict = (yield* this.rt.runHook('signal', { pid, sig }, pid)) as SignalAction | SignalInjection | undefined;
      if (verdict === 'hold' && sig !== SIGKILL) {
        // Held (UTRACE_SIGNAL_HOLD): it stays queued, and get_signal's loop takes it again at
        // once, as the kernel's does (an engine that holds without stopping loops here). The
        // relock is a preemption point: such a loop is a livelock of this task, not of its CPU.
        yield POINT;
        continue;
      }
      const byDefault = sig === SIGCONT ? 'continue' : IGNORED_BY_DEFAULT.has(sig) ? 'ignore' : STOP_SIGNALS.has(sig) ? 'stop' : 'terminate';
      if (sig !== SIGKILL && typeof verdict === 'object' && verdict !== null) {
        // utrace_get_signal stole `sig` and its engines chose another signal to act on (or
        // another number to report): `sig` leaves the queue, the chosen one is acted on.
        const chosen = injection(pid, verdict, sig);
        yield* this.actOnSignal(pid, chosen, false, sig);
        continue;
      }
      const action = sig === SIGKILL ? 'terminate' : typeof verdict !== 'string' || verdict === 'hold' ? byDefault : verdict;
      yield* this.actOnSignal(pid, { sig, action }, false);
    }
    yield* this.rt.runHook('returnToUser', { pid }, pid);
  }

  /**
   * Delivery: log it, then exit (128 + sig) or stop (job control); ignore and continue go on.
   * `dequeued`: the queued signal a handler took and answered with a SignalInjection for `sig`.
   */
  private *actOnSignal(pid: number, { sig, action }: SignalInjection, injected: boolean, dequeued?: number): KPath<void> {
    if (injected) this.emitNow({ type: 'signal/deliver', pid, sig, action, injected });
    else if (dequeued !== undefined && dequeued !== sig) this.emitNow({ type: 'signal/deliver', pid, sig, action, dequeued });
    else this.emitNow({ type: 'signal/deliver', pid, sig, action });
    if (action === 'terminate') yield* this.doExit(128 + sig);
    if (action === 'stop') {
      yield emitCommand({ type: 'task/sleep', pid, on: `stopped:${pid}`, until: null, state: 'stopped' });
      yield SWITCH;
    }
  }

  // ---- memory ------------------------------------------------------------------------------

  private *touch(pid: number, addr: number): KPath<void> {
    const t = this.rt.task(pid)!;
    const page = pageOf(addr);
    if (mmHasPage(this.rt.mm(t.tgid), page)) {
      yield POINT;
      return;
    }
    yield* this.pageFault(pid, addr, page, true);
  }

  private *pageFault(pid: number, addr: number, page: number, user: boolean): KPath<void> {
    yield emitCommand({ type: 'fault/page', pid, addr, page, user });
    yield* fn('handle_mm_fault', this.handleMmFault(pid, addr, user));
    yield emitCommand({ type: 'fault/resolved', pid, page, user });
  }

  private *handleMmFault(pid: number, addr: number, user: boolean): KPath<number> {
    yield* this.rt.runHook('pageFault', { pid, addr, user }, pid);
    // Reading the page in: the task sleeps for the I/O and may wake on another CPU.
    yield* msleep(this.rt.options.faultLatency);
    return 0;
  }

  /** copy_from_user with faults: see `copyFromUser` in paths.ts for the contract. */
  *copyFromUser(addr: number, len: number): KPath<CopyResult> {
    const me = (yield CURRENT) as Current;
    const t = this.rt.task(me.pid);
    const mm = t === undefined ? undefined : this.rt.mm(t.tgid);
    if (mm === undefined || len <= 0) return { notCopied: Math.max(0, len), data: '' };
    const stored = intMapGet(mm.data, addr) ?? '';
    const last = pageOf(addr + len - 1);
    for (let page = pageOf(addr); page <= last; page++) {
      if (mmHasPage(this.rt.mm(t!.tgid), page)) continue;
      const { preemptCount } = (yield CURRENT) as Current;
      if (preemptCount > 0) {
        // pagefault_disable(): no sleeping here, the copy stops at the first missing page.
        const copied = Math.max(0, page * 4096 - addr);
        return { notCopied: len - copied, data: stored.slice(0, copied) };
      }
      yield* this.pageFault(me.pid, Math.max(addr, page * 4096), page, false);
    }
    yield POINT;
    return { notCopied: 0, data: stored.slice(0, len) };
  }

  // ---- syscalls ----------------------------------------------------------------------------

  private *sysGetpid(): KPath<number> {
    yield POINT;
    return this.rt.task(this.me().pid)!.tgid;
  }

  private *sysGetppid(): KPath<number> {
    yield POINT;
    return this.rt.task(this.me().pid)!.parent;
  }

  private *sysRead(a: Readonly<Record<string, number>>): KPath<number> {
    // Data comes from the page cache; a descriptor past the std ones blocks briefly on "disk".
    yield POINT;
    if ((a['fd'] ?? 0) >= 3) yield* msleep(2);
    return Math.max(0, a['count'] ?? 0);
  }

  private *sysWrite(a: Readonly<Record<string, number>>): KPath<number> {
    const count = Math.max(0, a['count'] ?? 0);
    const r = yield* this.copyFromUser(a['buf'] ?? 0, Math.min(count, 4096));
    if (count > 0 && r.notCopied === Math.min(count, 4096)) return -EFAULT;
    return count;
  }

  private *sysOpen(a: Readonly<Record<string, number>>): KPath<number> {
    const r = yield* this.copyFromUser(a['path'] ?? 0, 256);
    if (r.data.length === 0) return -ENOENT;
    const pid = this.me().pid;
    const fd = this.rt.task(pid)!.nextFd;
    this.emitNow({ type: 'fs/open', pid, path: r.data, fd });
    return fd;
  }

  private *sysStat(a: Readonly<Record<string, number>>): KPath<number> {
    const r = yield* this.copyFromUser(a['path'] ?? 0, 256);
    return r.data.length === 0 ? -ENOENT : 0;
  }

  /**
   * madvise(addr, len, advice). `MADV_PAGEOUT` (21, Linux 5.4) reclaims the range's resident
   * pages now; their data stays (swapped out), so the next access faults them back in. Other
   * advice is -EINVAL here (not modelled); `addr` not page-aligned is -EINVAL, as in Linux.
   */
  private *sysMadvise(a: Readonly<Record<string, number>>): KPath<number> {
    const addr = a['addr'] ?? 0;
    const len = a['len'] ?? 0;
    if (a['advice'] !== MADV_PAGEOUT || addr % 4096 !== 0 || len < 0) return -EINVAL;
    const tgid = this.rt.task(this.me().pid)!.tgid;
    if (len > 0) {
      for (let page = pageOf(addr), last = pageOf(addr + len - 1); page <= last; page++) {
        if (mmHasPage(this.rt.mm(tgid), page)) this.emitNow({ type: 'mm/evicted', tgid, page, by: 'madvise' });
      }
    }
    yield POINT;
    return 0;
  }

  private *sysClose(): KPath<number> {
    yield POINT;
    return 0;
  }

  private *sysNanosleep(a: Readonly<Record<string, number>>): KPath<number> {
    const pid = this.me().pid;
    yield* msleep(a['ticks'] ?? 1);
    return this.rt.task(pid)!.pendingSignals.length > 0 ? -EINTR : 0;
  }

  private *sysExecve(a: Readonly<Record<string, number>>): KPath<number> {
    const pid = this.me().pid;
    const r = yield* this.copyFromUser(a['filename'] ?? 0, 256);
    const comm = r.data.split('/').pop()!.slice(0, 15) || 'exec';
    yield* this.rt.runHook('exec', { pid, comm, filename: r.data }, pid);
    this.emitNow({ type: 'task/exec', pid, comm });
    yield* this.completeVfork(pid);
    const program = this.takeProgram(pid);
    if (program !== undefined) this.outs.set(pid, { ret: 0, program });
    return 0;
  }

  private *sysKill(a: Readonly<Record<string, number>>): KPath<number> {
    const me = this.me().pid;
    const pid = a['pid'] ?? 0;
    const sig = a['sig'] ?? 0;
    const t = this.rt.task(pid);
    if (t === undefined || t.exitState !== null || t.kthread) return -ESRCH;
    this.emitNow({ type: 'signal/generate', pid, sig, from: me });
    // Interruptible sleeps end at a signal; a job-control stop ends at SIGCONT or SIGKILL, a
    // tracer's stop (TASK_TRACED) only at SIGKILL: the SIGCONT stays pending, and the tracer
    // that lets the task go finds the job-control stop over.
    const interruptible = t.state === 'sleeping' && (t.waitingOn === 'timer' || t.waitingOn === `wait:${pid}`);
    const resumes = t.state === 'stopped' && (sig === SIGKILL || (sig === SIGCONT && t.traced !== true));
    if (interruptible || resumes) yield emitCommand({ type: 'sched/wakeup', pid, by: me });
    if (sig === SIGSTOP) yield POINT;
    return 0;
  }

  private *sysWait4(): KPath<number> {
    const me = this.me().pid;
    for (;;) {
      const t = this.rt.task(me)!;
      // A child left EXIT_DEAD without release (an oops on its exit path) is not waited for.
      if (
        !t.children.some((c) => {
          const r = this.rt.task(c);
          return r !== undefined && r.exitState !== 'dead';
        })
      )
        return -ECHILD;
      const zombie = t.children.find((c) => this.rt.task(c)?.exitState === 'zombie');
      if (zombie !== undefined) {
        const status = this.rt.task(zombie)!.exitCode ?? 0;
        yield* this.releaseTask(zombie, me);
        this.outs.set(me, { ret: zombie, out: { pid: zombie, status } });
        return zombie;
      }
      if (t.pendingSignals.length > 0) return -EINTR;
      yield emitCommand({ type: 'task/sleep', pid: me, on: `wait:${me}`, until: null, state: 'sleeping' });
      yield SWITCH;
    }
  }

  // ---- fork --------------------------------------------------------------------------------

  /**
   * do_fork: copy_process, then the `cloneComplete` hook (the child is woken), then, for
   * CLONE_VFORK, the parent waits until the child has execed or exited (the vfork completion).
   */
  private *sysClone(cloneFlags: number): KPath<number> {
    const parent = this.me().pid;
    const program = this.takeProgram(parent);
    if (program === undefined) throw new TracelabError('KERNEL_BUG', 'BUG: clone without a program for the child');
    const child = yield* fn('copy_process', this.copyProcess(parent, program, cloneFlags));
    yield* this.rt.runHook('cloneComplete', { parent, child, cloneFlags }, parent);
    const vfork = this.vforks.get(child);
    if (vfork !== undefined) {
      // The child may have execed or exited already: then the wait returns at once.
      yield* waitEvent(`vfork:${child}`, () => vfork.done);
      this.vforks.delete(child);
      this.rt.journal(() => this.vforks.set(child, vfork));
      this.emitNow({ type: 'fork/vfork-done', parent, child });
    }
    return child;
  }

  /** The vfork child released its parent's mm (exec or exit): wake the parent. */
  private *completeVfork(pid: number): KPath<void> {
    const vfork = this.vforks.get(pid);
    if (vfork === undefined || vfork.done) return;
    vfork.done = true;
    this.rt.journal(() => (vfork.done = false));
    yield* wakeUp(`vfork:${pid}`);
  }

  /**
   * copy_process: dup_task_struct copies the parent's thread flags with no lock held; after
   * preemptible work (mm, files) the child is linked under the tasklist write lock, where
   * plugins re-check anything that may have changed in between; then it is woken.
   */
  private *copyProcess(parent: number, program: Program, cloneFlags: number): KPath<number> {
    const p = this.rt.task(parent)!;
    const child = this.s.kernel.nextPid;
    // dup_task_struct copies the thread flags; copy_process clears TIF_SIGPENDING (the child has
    // no signal pending, and nothing forces its signal path).
    const flags = Object.keys(p.flags).filter((f) => f !== TIF_SIGPENDING);
    this.emitNow({ type: 'fork/dup', parent, child, comm: p.comm, flags });
    const rt = this.rt.newRt(child, p.comm, this.retFromFork(child, program));
    this.rt.addTask(rt);
    if ((cloneFlags & CLONE_VFORK) !== 0) {
      this.vforks.set(child, { parent, done: false });
      this.rt.journal(() => this.vforks.delete(child));
    }
    yield* this.rt.runHook('fork', { stage: 'dup', parent, child, cloneFlags }, parent);
    // copy_mm, copy_files, ...: preemptible, and other CPUs run meanwhile.
    yield POINT;
    yield POINT;
    // The two named-only stages run (and cost) nothing unless a plugin taps them, so logs of
    // stacks that do not are what they were before the stages existed.
    if (this.rt.hasForkStage('prelock')) yield* this.rt.runHook('fork', { stage: 'prelock', parent, child, cloneFlags }, parent);
    yield* writeLock();
    if (this.rt.hasForkStage('prelink')) {
      yield* this.rt.runHook('fork', { stage: 'prelink', parent, child, cloneFlags }, parent);
      // The rest of the write section before list_add_tail_rcu (the parent's siglock, the
      // fatal-signal and pid-namespace checks): readers that exclude nothing (an RCU walk)
      // run on other CPUs in between.
      yield POINT;
    }
    this.emitNow({ type: 'fork/link', parent, child });
    yield* this.rt.runHook('fork', { stage: 'link', parent, child, cloneFlags }, parent);
    yield* writeUnlock();
    // tracehook_report_clone: the child is linked but not yet woken; the handler may sleep.
    yield* this.rt.runHook('clone', { parent, child, cloneFlags }, parent);
    // wake_up_new_task
    yield emitCommand({ type: 'sched/wakeup', pid: child, by: parent });
    return child;
  }

  /**
   * The first code of a task the host (or `kthreadRun`) started: the model has no init or
   * kthreadd to fork it, so it runs copy_process's hook stages itself, parent 0, and links
   * itself in between under the tasklist write lock, as a forked child is (`prelock` and
   * `prelink` when tapped, with no scheduling point of their own). Without fork
   * handlers there is nothing to order against: it links at once.
   */
  *hostForkTail(pid: number, kthread: boolean): KPath<void> {
    if (this.rt.hasHandlers('fork')) {
      yield* this.rt.runHook('fork', { stage: 'dup', parent: 0, child: pid, cloneFlags: 0 }, pid);
      if (this.rt.hasForkStage('prelock')) yield* this.rt.runHook('fork', { stage: 'prelock', parent: 0, child: pid, cloneFlags: 0 }, pid);
      yield* writeLock();
      if (this.rt.hasForkStage('prelink')) yield* this.rt.runHook('fork', { stage: 'prelink', parent: 0, child: pid, cloneFlags: 0 }, pid);
      this.emitNow({ type: 'task/linked', pid });
      yield* this.rt.runHook('fork', { stage: 'link', parent: 0, child: pid, cloneFlags: 0 }, pid);
      // No preemption point here: the tail adds none of its own to the task's first step, so
      // a stack whose fork handlers take none runs the same schedule as before the tail existed.
      yield* writeUnlockInline();
    } else {
      this.emitNow({ type: 'task/linked', pid });
    }
    if (kthread) return;
    yield* this.exitToUser(pid);
    this.emitNow({ type: 'task/to-user', pid });
  }

  /** A host-started user task: its fork tail, then its program. */
  *hostUserMain(pid: number, program: Program | ReturnType<Program>): KPath<void> {
    yield* this.hostForkTail(pid, false);
    yield* this.userMain(pid, program);
  }

  /** The child's first code: back to user mode from clone(), which returns 0 in the child. */
  private *retFromFork(pid: number, program: Program): KPath<void> {
    if (this.slowPath(pid)) yield* this.rt.runHook('syscallExit', { pid, name: 'clone', ret: 0 }, pid);
    yield* this.exitToUser(pid);
    this.emitNow({ type: 'syscall/exit', pid, name: 'clone', ret: 0 });
    yield* this.userMain(pid, program);
  }

  // ---- exit --------------------------------------------------------------------------------

  /** do_exit: never returns. Kernel threads end here too when their path returns. */
  *doExit(code: number): KPath<number> {
    return yield* fn('do_exit', this.doExitBody(code));
  }

  private *doExitBody(entryCode: number): KPath<number> {
    const pid = this.me().pid;
    // A tracer's report_exit may change the code the task exits with.
    const changed = yield* this.rt.runHook('exit', { pid, code: entryCode }, pid);
    const code = Number.isSafeInteger(changed) ? (changed as number) : entryCode;
    // exit_signals: PF_EXITING. An oops from here on does not send the task through do_exit again.
    const me = this.me();
    me.pfExiting = true;
    this.rt.journal(() => {
      me.pfExiting = false;
    });
    this.emitNow({ type: 'task/exit', pid, code });
    yield* this.completeVfork(pid);
    // exit_notify, under the tasklist write lock: hand the children over, become a zombie.
    yield* writeLock();
    const t = this.rt.task(pid)!;
    const orphanZombies: number[] = [];
    for (const c of t.children) {
      this.emitNow({ type: 'task/reparented', pid: c, parent: 0 });
      if (this.rt.task(c)?.exitState === 'zombie') orphanZombies.push(c);
    }
    this.emitNow({ type: 'task/zombie', pid });
    const autoreap = t.parent === 0;
    yield* writeUnlock();
    yield* this.rt.runHook('death', { pid, code }, pid);
    for (const c of orphanZombies) yield* this.releaseTask(c, pid);
    if (autoreap) yield* this.releaseTask(pid, pid);
    else yield* wakeUp(`wait:${t.parent}`);
    this.me().exiting = true;
    yield SWITCH;
    throw new TracelabError('KERNEL_BUG', `BUG: pid ${pid} ran after its final schedule()`);
  }

  /** release_task: the release hooks, then the task leaves the task list for good. */
  *releaseTask(pid: number, by: number): KPath<void> {
    yield* fn('release_task', this.releaseBody(pid, by));
  }

  private *releaseBody(pid: number, by: number): KPath<void> {
    yield* this.rt.runHook('release', { pid, by }, pid);
    yield* writeLock();
    this.emitNow({ type: 'task/released', pid, by });
    yield* writeUnlock();
  }

  /** A kernel thread: runs its path, then exits. */
  *kthreadMain(path: KPath<unknown>, rt: () => TaskRt): KPath<void> {
    yield* this.hostForkTail(rt().pid, true);
    const value = yield* path;
    rt().outcome = { ok: true, value };
    yield* this.doExit(0);
  }

  // ---- idle --------------------------------------------------------------------------------

  *idleLoop(cpu: number): KPath<void> {
    for (;;) {
      if (this.rt.hasHandlers('idle')) {
        this.rt.idlePassStart(cpu);
        yield* this.rt.runIdleHook(cpu);
        // The arch idle routine halts the CPU until something wakes it (runtime.idleHalt).
        this.rt.idleHalt(cpu);
      }
      yield POINT;
    }
  }

  // ---- modules -----------------------------------------------------------------------------

  *loadModule(name: string, data: Record<string, unknown> = {}): KPath<number> {
    return yield* fn('load_module', this.loadModuleBody(name, data));
  }

  private *loadModuleBody(name: string, data: Record<string, unknown>): KPath<number> {
    yield* mutexLock('module_mutex');
    if (((yield STATE) as KernelState).modules[name] !== undefined) {
      yield* mutexUnlock('module_mutex');
      return -EEXIST;
    }
    yield emitCommand({ type: 'module/loaded', name, data });
    yield* mutexUnlock('module_mutex');
    // The module's sites are armed by the plugins' load hooks (blocking_notifier_call_chain).
    yield* this.rt.runHook('moduleLoad', { module: name, data });
    return 0;
  }

  *unloadModule(name: string): KPath<number> {
    return yield* fn('delete_module', this.unloadModuleBody(name));
  }

  private *unloadModuleBody(name: string): KPath<number> {
    yield* mutexLock('module_mutex');
    const m = ((yield STATE) as KernelState).modules[name];
    if (m === undefined || m.state !== 'live') {
      yield* mutexUnlock('module_mutex');
      return -ENOENT;
    }
    yield emitCommand({ type: 'module/going', name });
    yield* mutexUnlock('module_mutex');
    yield* this.rt.runHook('moduleUnload', { module: name });
    yield emitCommand({ type: 'module/unloaded', name });
    return 0;
  }
}

/** Calls a program: it must give a generator of user operations (a generator function does). */
export function startProgram(program: Program): ReturnType<Program> {
  if (typeof program !== 'function')
    throw new TypeError(`the program is ${describeValue(program)}, not a generator function (write it as function* (u) { ... })`);
  const gen: unknown = program(userOps);
  if (!isUserProgram(gen))
    throw new TypeError(
      `the program ${program.name || '(anonymous)'} returned ${describeValue(gen)}, not a generator: write it as function* (u) { yield u.compute(1); ... }`,
    );
  return gen;
}

function isUserProgram(v: unknown): v is ReturnType<Program> {
  return typeof v === 'object' && v !== null && typeof (v as { next?: unknown }).next === 'function';
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v)?.slice(0, 60) ?? String(v);
  } catch {
    return String(v);
  }
}

const INJECTED_ACTIONS: ReadonlySet<unknown> = new Set(['ignore', 'terminate', 'stop', 'continue']);

/** A `signal` hook's SignalInjection (a forced pass's, `hookSig` 0, or a real signal's), checked: a SignalInjection, or HOOK_RESULT_INVALID naming what is wrong. */
function injection(pid: number, r: object, hookSig = 0): SignalInjection {
  const { sig, action } = r as Partial<SignalInjection>;
  if (typeof sig !== 'number' || !Number.isInteger(sig) || sig < 0 || sig > 64) {
    throw new TracelabError('HOOK_RESULT_INVALID', `signal hook (sig ${hookSig}, pid ${pid}): injected sig ${String(sig)} is not an integer 0..64`, {
      pid,
      sig,
    });
  }
  if (!INJECTED_ACTIONS.has(action)) {
    throw new TracelabError(
      'HOOK_RESULT_INVALID',
      `signal hook (sig ${hookSig}, pid ${pid}): injected action ${JSON.stringify(action)} is not ignore, terminate, stop or continue`,
      {
        pid,
        action,
      },
    );
  }
  return { sig, action: action! };
}
