import { TracelabError, kernelBug } from './errors.js';
import type { EventInput, EventType, KernelEvent } from './events.js';
import type { KernelState, LockState } from './state.js';
import { TASKLIST_LOCK } from './state.js';

/**
 * Kernel paths are generators that yield commands to the simulated kernel. A path resumes
 * with the command's result; the kernel decides, at every scheduling point, which CPU runs
 * next and whether the running task is preempted. Compose paths with `yield*`.
 *
 * Commands that end a scheduling step: `point`, `switch`, `spin`. All the others are
 * answered at once, inside the same step.
 */
export type Command =
  | { readonly op: 'point' }
  | { readonly op: 'switch' }
  | { readonly op: 'spin'; readonly lock: string }
  | { readonly op: 'current' }
  | { readonly op: 'preempt'; readonly delta: 1 | -1 }
  | { readonly op: 'state' }
  | { readonly op: 'sleepers'; readonly channel: string }
  | { readonly op: 'emit'; readonly event: EventInput }
  | { readonly op: 'choose'; readonly kind: ChoiceKind; readonly n: number }
  | { readonly op: 'call-rcu'; readonly callback: RcuCallback; readonly label: string }
  | { readonly op: 'fn-enter'; readonly name: string }
  | { readonly op: 'fn-exit' }
  | { readonly op: 'copy-from-user'; readonly addr: number; readonly len: number }
  | { readonly op: 'kthread-run'; readonly path: KPath<unknown>; readonly comm: string; readonly cpu?: number }
  | { readonly op: 'rcu-idle'; readonly enter: boolean }
  | { readonly op: 'rcu-watching' }
  | { readonly op: 'local-irq'; readonly action: 'disable' | 'enable' | 'save' | 'restore' | 'query'; readonly flags?: boolean }
  | { readonly op: 'irq-return' }
  | { readonly op: 'smp-call'; readonly cpu: number; readonly fn: SmpCallFunction }
  | { readonly op: 'poll-watch'; readonly done: PollDone };

/**
 * A poll loop's exit test (`pollSleep`): true once the loop would stop polling. A pure function
 * of the state: it must not emit, keep the state or anything in it, or depend on anything else.
 */
export type PollDone = (state: KernelState) => boolean;

/**
 * What a strategy is asked to choose: which CPU steps, whether to preempt, which task runs,
 * `fault` is fault injection (allocation failure), `memory` which store a load reads under
 * a weak memory model (option 0 is the newest, the sequentially consistent answer; any other
 * is a stale read, which explorers count and shrinking removes); with interrupt sources
 * configured, at the start of a CPU's step, `nmi` whether an NMI arrives, then `ipi` whether
 * a pending inter-processor interrupt does (also without sources, once one was sent), then `irq`
 * whether a hard interrupt (the timer tick) does (0 no, 1 yes).
 */
export type ChoiceKind = 'cpu' | 'preempt' | 'task' | 'fault' | 'memory' | 'irq' | 'nmi' | 'ipi' | 'evict';

/** A kernel path returning `T`. */
export type KPath<T = void> = Generator<Command, T, unknown>;

/**
 * Runs when a grace period has ended, in the context of the CPU that ended it; must not block.
 * A plain function (as kernel C code is) or a generator function (to emit events, read state).
 */
export type RcuCallback = () => KPath<void> | void;

/** Whether `v` is a generator object: a kernel path, started or not. */
export function isKPath(v: unknown): v is KPath<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { next?: unknown }).next === 'function' && typeof (v as { throw?: unknown }).throw === 'function';
}

/**
 * The wait between two looks of a poll loop: sleeps `ticks` ticks, as `msleep` does, where
 * `done(state)` is the loop's exit test (the kernel's `schedule_timeout(1)` in a loop that
 * re-checks a condition: utrace_barrier, read_poll_timeout). The loop itself still looks after
 * each wait and decides; `done` only tells the kernel which looks can change nothing.
 *
 * By default (`createKernel({ pollLoops: 'every-tick' })`) it is `msleep`. Under
 * `pollLoops: 'on-change'` the kernel does not run a look that would fail while nothing in it
 * could tell the look from none (no other timer, no interrupt source, RCU-sched idle, no switch,
 * wake-up or idle hooks): the task stays asleep until one of those stops holding, or no CPU has
 * anything else to do, and a preemption point its wake-up would have offered still offers it,
 * once (docs/core.md, "Poll loops").
 */
export function* pollSleep(ticks: number, done: PollDone): KPath<void> {
  if (typeof done !== 'function')
    throw new TracelabError('INVALID_OPTION', `pollSleep(${String(ticks)}, done): done must be a function of the state, got ${typeof done}`);
  const me = (yield CURRENT) as Current;
  yield { op: 'poll-watch', done } as Command;
  yield emitCommand({ type: 'task/sleep', pid: me.pid, on: 'timer', until: me.now + Math.max(1, ticks), state: 'sleeping' });
  yield SWITCH;
}

/**
 * Whether `fn` is a generator function (`function* () {}`). APIs whose callbacks are called
 * synchronously on a real fast path (a marker probe, an ftrace ops func) refuse these: calling
 * one only builds a generator, and its body would never run.
 */
export function isGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && Object.prototype.toString.call(fn) === '[object GeneratorFunction]';
}

/**
 * What a callback returned, as a kernel path. Callbacks may be plain functions (their value is
 * returned at once, with no step) or generator functions (their generator is driven, and may
 * block where the context allows). `yield* callbackPath(cb(args))`.
 */
export function* callbackPath<T>(result: KPath<T> | T): KPath<T> {
  if (isKPath(result)) return (yield* result) as T;
  return result;
}

export interface Current {
  /** The running task; 0 for the idle task. */
  readonly pid: number;
  readonly cpu: number;
  /** The CPU's preempt count now. */
  readonly preemptCount: number;
  /** The tick now (the step's time; `state.clock.now` is the time of the last logged event). */
  readonly now: number;
}

// The commands the core's own paths yield directly (`yield CURRENT` rather than
// `yield* current()`): a helper called through `yield*` allocates a generator and adds a frame
// that every resume passes through, on the hottest paths (locks, preemption, wake-ups).
/** @internal */ export const POINT: Command = Object.freeze({ op: 'point' });
/** @internal */ export const SWITCH: Command = Object.freeze({ op: 'switch' });
/** @internal */ export const CURRENT: Command = Object.freeze({ op: 'current' });
/** @internal */ export const STATE: Command = Object.freeze({ op: 'state' });
/**
 * @internal The `state` command for core code that reads one record out of the state at once
 * and keeps nothing else (the lock helpers, `setThreadFlag`): records are values, replaced and
 * never edited in place (reducers.ts), so a record read mid-step stays what it was without the
 * step-end snapshot that `STATE` asks for. Told apart from `STATE` by identity in the runtime.
 */
export const PEEK: Command = Object.freeze({ op: 'state' });

/** @internal The `emit` command, for `yield emitCommand(event)` where the logged event is not needed. */
export function emitCommand(event: EventInput): Command {
  return { op: 'emit', event };
}
const FN_EXIT: Command = Object.freeze({ op: 'fn-exit' });
const PREEMPT_DISABLE: Command = Object.freeze({ op: 'preempt', delta: 1 });
const PREEMPT_ENABLE: Command = Object.freeze({ op: 'preempt', delta: -1 });

/** A scheduling point: another CPU may act here, and, if preemption is on, this task may be preempted. */
export function* schedPoint(): KPath<void> {
  yield POINT;
}

export function* current(): KPath<Current> {
  return (yield CURRENT) as Current;
}

/** The kernel state as of now (immutable). */
export function* getState(): KPath<KernelState> {
  return (yield STATE) as KernelState;
}

/** Appends an event to the log and applies it; returns the logged event. */
export function* emit<T extends EventType>(event: EventInput<T>): KPath<KernelEvent<T>> {
  return (yield { op: 'emit', event } as Command) as KernelEvent<T>;
}

/** The kernel's printk: free text into the log. */
export function* printk(text: string): KPath<void> {
  const me = (yield CURRENT) as Current;
  yield emitCommand({ type: 'kernel/printk', pid: me.pid, text });
}

/**
 * Fault injection (the kernel's failslab): true when this allocation must fail. Asked of the
 * strategy only when the kernel was created with `faultInjection: true`, so it is part of the
 * schedule string and replays exactly.
 */
export function* shouldFailAlloc(): KPath<boolean> {
  return ((yield { op: 'choose', kind: 'fault', n: 2 } as Command) as number) === 1;
}

// ---- preemption --------------------------------------------------------------------------

/**
 * preempt_disable: raises this CPU's preempt count. The count is the runtime's (per CPU, as
 * `current()` reports it) and is not logged per change: the state's `cpus[c].preemptCount`
 * follows it by one `cpu/preempt-count` at the end of each step whose net change is non-zero.
 */
export function* preemptDisable(): KPath<void> {
  yield PREEMPT_DISABLE;
}

/**
 * Re-enables preemption, then a scheduling point (it always ends the step; the task can only
 * be preempted there if the count reached 0, as the kernel's preempt_enable). An underflow is
 * a BUG thrown at the call.
 */
export function* preemptEnable(): KPath<void> {
  yield PREEMPT_ENABLE;
  yield POINT;
}

// ---- scheduling and sleeping -------------------------------------------------------------

/**
 * The voluntary context switch (`schedule()`). A task that set itself sleeping stays off the
 * runqueue until woken; a running task goes back to the runqueue. Returns when the task next
 * runs, on whichever CPU picks it up. Calling it with preemption disabled is a BUG.
 */
export function* schedule(): KPath<void> {
  yield SWITCH;
}

/**
 * Sleeps on `channel` until `condition(state)` holds, checking it before sleeping and after
 * each wake-up (the kernel's wait_event). Whoever makes it true must call {@link wakeUp}.
 */
export function* waitEvent(channel: string, condition: (state: KernelState) => boolean): KPath<void> {
  for (;;) {
    if (condition((yield STATE) as KernelState)) return;
    const me = (yield CURRENT) as Current;
    yield emitCommand({ type: 'task/sleep', pid: me.pid, on: channel, until: null, state: 'sleeping' });
    yield SWITCH;
  }
}

/**
 * Sleeps on `channel` until `condition(state)` holds or `ticks` ticks (at least 1) have passed
 * since the call, whichever comes first (the kernel's wait_event_timeout). Returns true when the
 * condition held, false on the timeout. The check and the sleep are one step, as in waitEvent;
 * whoever makes the condition true must still call {@link wakeUp}.
 */
export function* waitEventTimeout(channel: string, condition: (state: KernelState) => boolean, ticks: number): KPath<boolean> {
  const deadline = ((yield CURRENT) as Current).now + Math.max(1, ticks);
  for (;;) {
    if (condition((yield STATE) as KernelState)) return true;
    const me = (yield CURRENT) as Current;
    if (me.now >= deadline) return false;
    yield emitCommand({ type: 'task/sleep', pid: me.pid, on: channel, until: deadline, state: 'sleeping' });
    yield SWITCH;
  }
}

/**
 * Wakes every task sleeping on `channel`, in pid order. Returns how many were woken. The
 * sleepers come from the runtime's wait-queue index (O(sleepers), not a walk of every task).
 */
export function* wakeUp(channel: string): KPath<number> {
  const sleepers = (yield { op: 'sleepers', channel } as Command) as readonly number[];
  if (sleepers.length === 0) return 0;
  const me = (yield CURRENT) as Current;
  for (const pid of sleepers) yield emitCommand({ type: 'sched/wakeup', pid, by: me.pid });
  return sleepers.length;
}

/** Sleeps for `ticks` ticks of simulated time (a voluntary switch). */
export function* msleep(ticks: number): KPath<void> {
  // The deadline counts from the tick now (jiffies), not from the last logged event's time,
  // which lags whenever nothing was logged yet in this step.
  const me = (yield CURRENT) as Current;
  yield emitCommand({ type: 'task/sleep', pid: me.pid, on: 'timer', until: me.now + Math.max(1, ticks), state: 'sleeping' });
  yield SWITCH;
}

// ---- mutexes -------------------------------------------------------------------------------

/**
 * Takes a sleeping mutex. Uncontended: taken at once. Contended: the task queues FIFO and
 * sleeps; the unlocking owner hands the mutex to the head waiter, so waiters get it in the
 * order they arrived and nobody barges in.
 */
export function* mutexLock(name: string): KPath<void> {
  const me = (yield CURRENT) as Current;
  if (me.pid === 0) throw kernelBug(`mutex ${name} taken from the idle task`);
  const l = ((yield PEEK) as KernelState).locks[name];
  if (l !== undefined && l.kind !== 'mutex') throw kernelBug(`${name} is a ${l.kind}, not a mutex`);
  if (l === undefined || l.owner === null) {
    yield emitCommand({ type: 'lock/acquired', lock: name, kind: 'mutex', pid: me.pid, write: true, handoff: false });
    return;
  }
  if (l.owner === me.pid) throw kernelBug(`recursive lock of mutex ${name} by pid ${me.pid}`);
  yield emitCommand({ type: 'lock/wait', lock: name, kind: 'mutex', pid: me.pid, write: true });
  yield emitCommand({ type: 'task/sleep', pid: me.pid, on: `mutex:${name}`, until: null, state: 'sleeping' });
  yield SWITCH;
  const after = ((yield PEEK) as KernelState).locks[name] as Extract<LockState, { kind: 'mutex' }>;
  if (after.owner !== me.pid) throw kernelBug(`woken on mutex ${name} without owning it`);
}

export function* mutexUnlock(name: string): KPath<void> {
  const me = (yield CURRENT) as Current;
  const l = ((yield PEEK) as KernelState).locks[name];
  if (l === undefined || l.kind !== 'mutex' || l.owner !== me.pid) {
    throw kernelBug(`mutex ${name} unlocked by pid ${me.pid}, which does not hold it`);
  }
  yield emitCommand({ type: 'lock/released', lock: name, kind: 'mutex', pid: me.pid, write: true });
  const next = l.waiters[0];
  if (next !== undefined) {
    yield emitCommand({ type: 'lock/acquired', lock: name, kind: 'mutex', pid: next, write: true, handoff: true });
    yield emitCommand({ type: 'sched/wakeup', pid: next, by: me.pid });
  }
}

/** True when `pid` holds mutex `name` (the kernel's lockdep_assert_held, for assertions). */
export function mutexIsHeldBy(state: KernelState, name: string, pid: number): boolean {
  const l = state.locks[name];
  return l !== undefined && l.kind === 'mutex' && l.owner === pid;
}

// ---- spinning locks: rwlocks (the tasklist lock) and spinlocks ---------------------------

type SpinKind = 'rwlock' | 'spinlock';

function* spinAcquire(name: string, kind: SpinKind, write: boolean): KPath<void> {
  yield PREEMPT_DISABLE;
  const me = (yield CURRENT) as Current;
  const l = ((yield PEEK) as KernelState).locks[name];
  if (l !== undefined && l.kind === 'mutex') throw kernelBug(`${name} is a mutex, not a ${kind}`);
  if (l !== undefined && (l.writer === me.pid || (write && l.readers.includes(me.pid)))) {
    throw kernelBug(`${kind} ${name} deadlock: pid ${me.pid} already holds it`);
  }
  const free = l === undefined || (l.writer === null && (write ? l.readers.length === 0 && l.waiters.length === 0 : l.waiters.length === 0));
  if (free) {
    yield emitCommand({ type: 'lock/acquired', lock: name, kind, pid: me.pid, write, handoff: false });
    return;
  }
  yield emitCommand({ type: 'lock/wait', lock: name, kind, pid: me.pid, write });
  // Busy-waits on this CPU (preemption off) until an unlocker grants the lock.
  yield { op: 'spin', lock: name };
}

function* spinRelease(name: string, kind: SpinKind, write: boolean, point = true): KPath<void> {
  const me = (yield CURRENT) as Current;
  const l = ((yield PEEK) as KernelState).locks[name];
  const holds = l !== undefined && l.kind !== 'mutex' && (write ? l.writer === me.pid : l.readers.includes(me.pid));
  if (!holds) throw kernelBug(`${kind} ${name} released by pid ${me.pid}, which does not hold it for ${write ? 'write' : 'read'}`);
  yield emitCommand({ type: 'lock/released', lock: name, kind, pid: me.pid, write });
  yield* grantWaiters(name, kind);
  yield PREEMPT_ENABLE;
  if (point) yield POINT;
}

/**
 * write_unlock of the tasklist lock that runs on into the caller's next code with no
 * preemption point: a host-started task's fork tail, which stands for a copy_process that
 * happened before the task first ran (internal to the core; not exported from the package).
 */
export function writeUnlockInline(name: string = TASKLIST_LOCK): KPath<void> {
  return spinRelease(name, 'rwlock', true, false);
}

/** Grants a released spinning lock to its head waiter, or to every reader queued at the head. */
function* grantWaiters(name: string, kind: SpinKind): KPath<void> {
  const l = ((yield PEEK) as KernelState).locks[name] as Extract<LockState, { kind: SpinKind }>;
  if (l.writer !== null) return;
  const head = l.waiters[0];
  if (head === undefined) return;
  if (head.write) {
    if (l.readers.length > 0) return;
    yield emitCommand({ type: 'lock/acquired', lock: name, kind, pid: head.pid, write: true, handoff: true });
    return;
  }
  for (const w of l.waiters) {
    if (w.write) break;
    yield emitCommand({ type: 'lock/acquired', lock: name, kind, pid: w.pid, write: false, handoff: true });
  }
}

/** read_lock on a rwlock (the tasklist lock by default); disables preemption while held. */
export function readLock(name: string = TASKLIST_LOCK): KPath<void> {
  return spinAcquire(name, 'rwlock', false);
}
export function readUnlock(name: string = TASKLIST_LOCK): KPath<void> {
  return spinRelease(name, 'rwlock', false);
}
/** write_lock on a rwlock (the tasklist lock by default): excludes readers and writers. */
export function writeLock(name: string = TASKLIST_LOCK): KPath<void> {
  return spinAcquire(name, 'rwlock', true);
}
export function writeUnlock(name: string = TASKLIST_LOCK): KPath<void> {
  return spinRelease(name, 'rwlock', true);
}
export function spinLock(name: string): KPath<void> {
  return spinAcquire(name, 'spinlock', true);
}
export function spinUnlock(name: string): KPath<void> {
  return spinRelease(name, 'spinlock', true);
}

// ---- RCU-sched -----------------------------------------------------------------------------

/** rcu_read_lock_sched: a preempt-disabled region; a grace period cannot end while it lasts. */
export function* rcuReadLock(): KPath<void> {
  yield PREEMPT_DISABLE;
  const me = (yield CURRENT) as Current;
  yield emitCommand({ type: 'rcu/read-lock', pid: me.pid });
}

export function* rcuReadUnlock(): KPath<void> {
  const me = (yield CURRENT) as Current;
  yield emitCommand({ type: 'rcu/read-unlock', pid: me.pid });
  yield PREEMPT_ENABLE;
  yield POINT;
}

/**
 * Queues `callback` to run after an RCU-sched grace period that begins after this call
 * (call_rcu_sched). Returns the callback's id; `rcu/callback-invoked` names it when it runs.
 */
export function* callRcu(callback: RcuCallback, label = 'callback'): KPath<number> {
  return (yield { op: 'call-rcu', callback, label } as Command) as number;
}

/** Where a kernel thread may run: `cpu` binds it to that CPU for life (kthread_create_on_cpu, kthread_bind). */
export interface KthreadOptions {
  readonly cpu?: number;
}

/**
 * kthread_run: starts a kernel thread running `path` and returns its pid at once, from kernel
 * code (a plugin starting its worker thread on first use, as RCU-tasks does). The thread is
 * runnable when the calling step ends; `task/spawned` records it. With `{ cpu }` the thread
 * runs only on that CPU (a per-CPU worker: kthread_create_on_cpu); its `task/spawned` carries
 * the CPU. A CPU out of range is INVALID_OPTION.
 */
export function* kthreadRun(path: KPath<unknown>, comm = 'kthread', options: KthreadOptions = {}): KPath<number> {
  return (yield options.cpu === undefined ? { op: 'kthread-run', path, comm } : { op: 'kthread-run', path, comm, cpu: options.cpu }) as number;
}

/**
 * rcu_idle_enter: the idle task tells RCU-sched to stop watching this CPU (an extended
 * quiescent state), as the idle loop does around the architecture's idle routine
 * (`default_idle`). Until `rcuIdleExit()` the CPU counts as quiescent even inside a hook
 * handler or with preemption off, so a grace period does **not** wait for code run here: a
 * read-side section in it protects nothing (the kernel's "RCU used illegally from idle CPU").
 * Only the idle task may call it, not nested; a handler that fails inside it is left outside.
 */
export function* rcuIdleEnter(): KPath<void> {
  yield { op: 'rcu-idle', enter: true } as Command;
}

/** rcu_idle_exit: RCU-sched watches this CPU again. */
export function* rcuIdleExit(): KPath<void> {
  yield { op: 'rcu-idle', enter: false } as Command;
}

/**
 * rcu_is_watching: false between the idle task's `rcuIdleEnter` and `rcuIdleExit`, outside any
 * interrupt or NMI handler (a handler's entry makes RCU watch until it returns); true
 * everywhere else. What code that may run in the idle loop asks before it uses RCU (ftrace's
 * list and assist functions for an ops with FTRACE_OPS_FL_RCU).
 */
export function* rcuIsWatching(): KPath<boolean> {
  return (yield RCU_WATCHING) as boolean;
}
const RCU_WATCHING: Command = Object.freeze({ op: 'rcu-watching' });

// ---- interrupts ----------------------------------------------------------------------------

/** The preempt count's hardirq and NMI parts (include/linux/preempt.h): bits 16-19 and 20-23. */
export const HARDIRQ_OFFSET = 1 << 16;
export const NMI_OFFSET = 1 << 20;

/** in_irq(): inside a hard interrupt handler (an NMI that interrupted one included). */
export function inIrqCount(preemptCount: number): boolean {
  return (preemptCount & (0xf << 16)) !== 0;
}
/** in_nmi(): inside an NMI handler. */
export function inNmiCount(preemptCount: number): boolean {
  return (preemptCount & (0xf << 20)) !== 0;
}

/** in_irq(): whether the running code is a hard interrupt handler (or an NMI inside one). */
export function* inIrq(): KPath<boolean> {
  return inIrqCount(((yield CURRENT) as Current).preemptCount);
}
/** in_nmi(): whether the running code is an NMI handler. */
export function* inNmi(): KPath<boolean> {
  return inNmiCount(((yield CURRENT) as Current).preemptCount);
}
/** in_interrupt(): hard interrupt or NMI context (this kernel has no softirq context). */
export function* inInterrupt(): KPath<boolean> {
  const c = ((yield CURRENT) as Current).preemptCount;
  return inIrqCount(c) || inNmiCount(c);
}

/**
 * local_irq_disable: no hard interrupt is delivered on this CPU until `localIrqEnable`
 * (NMIs still are). Not a counter: a second disable is a no-op, as in the kernel. A task must
 * not sleep with interrupts off (a BUG), and it is never preempted there.
 */
export function* localIrqDisable(): KPath<void> {
  yield { op: 'local-irq', action: 'disable' } as Command;
}
/** local_irq_enable, then a scheduling point (a pending interrupt may arrive there). A BUG in a handler. */
export function* localIrqEnable(): KPath<void> {
  yield { op: 'local-irq', action: 'enable' } as Command;
  yield POINT;
}
/** local_irq_save: disables interrupts and returns the previous state, for `localIrqRestore`. */
export function* localIrqSave(): KPath<boolean> {
  return (yield { op: 'local-irq', action: 'save' } as Command) as boolean;
}
/** local_irq_restore: back to the state `localIrqSave` returned (no scheduling point). */
export function* localIrqRestore(flags: boolean): KPath<void> {
  yield { op: 'local-irq', action: 'restore', flags } as Command;
}
/** irqs_disabled(). */
export function* irqsDisabled(): KPath<boolean> {
  return (yield { op: 'local-irq', action: 'query' } as Command) as boolean;
}

/** What `smpCallFunctionSingle` runs on the target CPU: a plain function, or a kernel path that must not sleep. */
export type SmpCallFunction = () => KPath<unknown> | unknown;

/**
 * smp_call_function_single: runs `fn` on `cpu` in hard interrupt context, from an
 * inter-processor interrupt (`irq/entry { name: 'ipi' }`) whose arrival is the target's `ipi`
 * choice, deliverable when the target has interrupts enabled and is not in an interrupt. With
 * `wait` (the default) the caller spins with preemption off until `fn` has run (csd_lock_wait):
 * its CPU keeps stepping, at scheduling points. On the caller's own CPU `fn` runs at once, with
 * interrupts off. Calling it from an interrupt handler or with interrupts disabled is a BUG
 * (the kernel's deadlock warning), and so is `fn` sleeping (scheduling while atomic).
 */
export function* smpCallFunctionSingle(cpu: number, fn: SmpCallFunction, wait = true): KPath<void> {
  yield PREEMPT_DISABLE; // get_cpu()
  const call = (yield { op: 'smp-call', cpu, fn } as Command) as { readonly done: boolean } | null;
  if (call === null) {
    // The target is this CPU: generic_exec_single runs the function here, interrupts off.
    const flags = yield* localIrqSave();
    yield* callbackPath(fn());
    yield* localIrqRestore(flags);
  } else if (wait) {
    while (!call.done) yield POINT;
  }
  yield PREEMPT_ENABLE; // put_cpu()
  yield POINT;
}

/** Blocks until a full RCU-sched grace period has elapsed (synchronize_sched). */
export function* synchronizeRcu(): KPath<void> {
  let done = false;
  const me = (yield CURRENT) as Current;
  const channel = `rcu-sync:${me.pid}`;
  const id = yield* callRcu(function* () {
    done = true;
    yield* wakeUp(channel);
  }, `synchronize_rcu(${me.pid})`);
  yield* waitEvent(channel, (s) => done || !s.rcu.callbacks.some((c) => c.id === id));
}

// ---- user memory ---------------------------------------------------------------------------

export interface CopyResult {
  /** Bytes that could not be copied: 0 on success (copy_from_user's return value). */
  readonly notCopied: number;
  /** What was read: the string the program stored at that address, cut to the length asked. */
  readonly data: string;
}

/**
 * copy_from_user: reads `len` bytes of the current task's memory at `addr`. A page that is
 * not resident faults: with preemption enabled the task sleeps for the I/O (a voluntary
 * switch) and may resume on another CPU; with preemption disabled (pagefault_disable) the
 * copy stops and returns the bytes not copied.
 */
export function* copyFromUser(addr: number, len: number): KPath<CopyResult> {
  // The fault handler belongs to the kernel instance (its page-fault hook, its I/O latency):
  // the runtime hands back the path that does the copy.
  const copy = (yield { op: 'copy-from-user', addr, len } as Command) as KPath<CopyResult>;
  return yield* copy;
}

// ---- instrumented functions -----------------------------------------------------------------

/**
 * An instrumented kernel function: its entry is an mcount site that a function tracer can
 * patch (to a list caller or a trampoline, which run before the body). `fn('sys_read', body)`.
 * A handler whose path returns a path has hooked the function's return (the function graph
 * tracer's return_to_handler): that path runs when the body returns, before `fn` does. A body
 * that never returns (the task exits inside it) never runs it.
 */
export function* fn<T>(name: string, body: KPath<T>): KPath<T> {
  const traced = (yield { op: 'fn-enter', name } as Command) as KPath<McountReturn> | null;
  try {
    const onReturn = traced !== null ? yield* traced : undefined;
    const value = yield* body;
    if (onReturn !== undefined) yield* onReturn;
    return value;
  } finally {
    yield FN_EXIT;
  }
}

/** What an mcount handler's path returns: nothing, or the path to run when the traced function returns. */
export type McountReturn = KPath<void> | void;
