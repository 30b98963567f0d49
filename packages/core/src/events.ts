import type { TaskRunState } from './state.js';

/**
 * Every event's payload by type. Plugins add theirs by declaration merging in their own
 * `events.ts`:
 * `declare module '@tracelab/core' { interface EventMap { 'markers/probe-registered': {...} } }`
 *
 * Payloads are plain JSON (numbers, strings, booleans, null, arrays, objects): the log is
 * NDJSON, and a run's identity is the SHA-256 of its canonical form.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface EventMap extends CoreEventMap {}

/** The core's own events (the part of {@link EventMap} no plugin adds to). */
export interface CoreEventMap {
  /** The run's header. The strategy is not part of it: a schedule replayed by another strategy is the same run. */
  'kernel/created': {
    cpus: number;
    seed: number;
    coreVersion: string;
    logVersion: number;
    interrupts?: { timer: number; nmi: number };
    reclaim?: true;
    pollLoops?: 'on-change';
  };
  'kernel/plugin-registered': { name: string; version: string; options?: unknown };
  /**
   * A plugin handler, reducer or kernel path threw, or kernel code hit a BUG. The events of
   * the failed step segment were not applied. `plugin` is disabled from here on when set;
   * `killed` is the task that died with it, if any.
   */
  'kernel/oops': {
    plugin: string | null;
    where: string;
    message: string;
    pid: number;
    killed: number | null;
    /** The CPU's preempt count restored to what it was when the failed code was entered. */
    preemptCount: number | null;
  };
  /** Free text from kernel code, like the kernel's printk. */
  'kernel/printk': { pid: number; text: string };
  'kernel/function-defined': { name: string };

  /**
   * A task started by the host or by `kthreadRun`. `listed: false` (logs since core 0.3): not on
   * the task list until its own first code runs the fork hooks and `task/linked`; logs written
   * before carry no `listed`, and such a task was listed at once.
   */
  /** `boundCpu`: the one CPU the task may run on (a bound kernel thread, or a task spawned with `{ cpu }`). */
  'task/spawned': { pid: number; comm: string; kthread: boolean; listed?: boolean; boundCpu?: number };
  /** A host-started task puts itself on the task list, between its fork hooks' `dup` and `link` stages. */
  'task/linked': { pid: number };
  /** A host-started user task leaves its fork tail for its program: back in user mode (ret_from_fork). */
  'task/to-user': { pid: number };
  /** dup_task_struct: the child exists, with a copy of the parent's thread flags; not listed yet. */
  'fork/dup': { parent: number; child: number; comm: string; flags: string[] };
  /** A vfork parent's wait is over: the child execed or exited. */
  'fork/vfork-done': { parent: number; child: number };
  /** Under the tasklist write lock: the child joins the task list and its parent's children. */
  'fork/link': { parent: number; child: number };
  'task/flags': { pid: number; set: string[]; clear: string[] };
  'task/exec': { pid: number; comm: string };
  /** do_exit: the task is exiting with `code`. */
  'task/exit': { pid: number; code: number };
  /** exit_notify: the task is a zombie until reaped (or released at once when autoreaped). */
  'task/zombie': { pid: number };
  'task/reparented': { pid: number; parent: number };
  /** release_task: gone from the task list and the state. */
  'task/released': { pid: number; by: number };
  /**
   * The task sleeps on `on`. `state: 'stopped'` is a stop: job control (TASK_STOPPED: SIGCONT
   * or SIGKILL ends it) or, with `traced: true`, a tracer's (TASK_TRACED: only the tracer or
   * SIGKILL ends it). `traced` is present only when true.
   */
  'task/sleep': { pid: number; on: string; until: number | null; state: 'sleeping' | 'stopped'; traced?: true };
  /**
   * A stopped task changes its kind of stop without waking: `traced: true`, a tracer takes a
   * job-control-stopped task (utrace_do_stop's TASK_STOPPED → TASK_TRACED); `traced: false`,
   * the tracer lets go while the job-control stop is still in effect (utrace_wakeup's
   * TASK_TRACED → TASK_STOPPED), so a SIGCONT can end it again.
   */
  'task/traced': { pid: number; traced: boolean };
  'task/user-fault': { pid: number; message: string };

  'sched/wakeup': { pid: number; by: number };
  /** A context switch on the header's `cpu`; `prevState` is what the previous task is left as. */
  'sched/switch': { prev: number; next: number; prevState: TaskRunState; preempted: boolean };
  /**
   * A hard interrupt (`name: 'timer'`) or an NMI (`'nmi'`) arrives on the header's `cpu`,
   * interrupting `pid` (0: the idle task); `irq/exit` is its handler's return.
   */
  'irq/entry': { name: string; pid: number };
  'irq/exit': { name: string; pid: number };
  /** The preempt count of the header's `cpu`, now. */
  'cpu/preempt-count': { count: number };

  'syscall/enter': { pid: number; name: string; args: Record<string, number> };
  'syscall/exit': { pid: number; name: string; ret: number };
  'fault/page': { pid: number; addr: number; page: number; user: boolean };
  'fault/resolved': { pid: number; page: number; user: boolean };
  'mm/store': { tgid: number; addr: number; data: string };
  /**
   * A resident page of address space `tgid` is evicted (its data kept, as swapped out): the
   * next access faults it back in. `by`: memory pressure (`reclaim`, the strategy's `evict`
   * choice) or the task's own `madvise(MADV_PAGEOUT)`.
   */
  'mm/evicted': { tgid: number; page: number; by: 'reclaim' | 'madvise' };
  'fs/open': { pid: number; path: string; fd: number };

  'lock/wait': { lock: string; kind: 'mutex' | 'rwlock' | 'spinlock'; pid: number; write: boolean };
  'lock/acquired': { lock: string; kind: 'mutex' | 'rwlock' | 'spinlock'; pid: number; write: boolean; handoff: boolean };
  'lock/released': { lock: string; kind: 'mutex' | 'rwlock' | 'spinlock'; pid: number; write: boolean };

  'rcu/read-lock': { pid: number };
  'rcu/read-unlock': { pid: number };
  /** Grace period `gp` begins; `pending` CPUs must each pass a quiescent state. */
  'rcu/gp-start': { gp: number; pending: number[] };
  /** The header's `cpu` passed a quiescent state for grace period `gp`. */
  'rcu/qs': { gp: number };
  'rcu/gp-end': { gp: number };
  'rcu/callback-queued': { id: number; gp: number; label: string };
  'rcu/callback-invoked': { id: number; label: string };

  'signal/generate': { pid: number; sig: number; from: number };
  /**
   * `injected`: a forced pass's signal (a `signal` handler's SignalInjection), never queued: the
   * queue is left as it is. `dequeued`: the queued signal a `signal` handler took and answered
   * with a SignalInjection for `sig` (utrace_get_signal acting on another signal than the one it
   * stole): `dequeued` leaves the queue, `sig` is what is acted on and reported.
   */
  'signal/deliver': { pid: number; sig: number; action: 'ignore' | 'terminate' | 'stop' | 'continue'; injected?: true; dequeued?: number };

  'module/loaded': { name: string; data: Record<string, unknown> };
  'module/going': { name: string };
  'module/unloaded': { name: string };
}

export type EventType = keyof EventMap & string;

/**
 * Fields every logged event carries, set by the kernel (a payload may not use these names):
 * `seq` its index in the log, `time` the tick, `cpu` where it was emitted (-1: the host or
 * a timer).
 */
export interface EventHeader {
  readonly seq: number;
  readonly time: number;
  readonly cpu: number;
}

/** A logged event of type `T` (or of any type). */
export type KernelEvent<T extends EventType = EventType> = {
  [K in T]: EventHeader & { readonly type: K } & Readonly<EventMap[K]>;
}[T];

/** What kernel code passes to `emit`: the header is filled in by the kernel. */
export type EventInput<T extends EventType = EventType> = {
  [K in T]: { type: K } & EventMap[K];
}[T];

export type CoreEventType = keyof CoreEventMap & string;

/**
 * Every core event type, once. A mapped type over {@link CoreEventType}: adding an event to
 * `CoreEventMap` without listing it here (or listing one that is not there) fails to compile.
 */
const CORE_EVENTS: { readonly [T in CoreEventType]: true } = {
  'kernel/created': true,
  'kernel/plugin-registered': true,
  'kernel/oops': true,
  'kernel/printk': true,
  'kernel/function-defined': true,
  'task/spawned': true,
  'task/linked': true,
  'task/to-user': true,
  'fork/dup': true,
  'fork/vfork-done': true,
  'fork/link': true,
  'task/flags': true,
  'task/exec': true,
  'task/exit': true,
  'task/zombie': true,
  'task/reparented': true,
  'task/released': true,
  'task/sleep': true,
  'task/traced': true,
  'task/user-fault': true,
  'sched/wakeup': true,
  'sched/switch': true,
  'cpu/preempt-count': true,
  'irq/entry': true,
  'irq/exit': true,
  'syscall/enter': true,
  'syscall/exit': true,
  'fault/page': true,
  'fault/resolved': true,
  'mm/store': true,
  'mm/evicted': true,
  'fs/open': true,
  'lock/wait': true,
  'lock/acquired': true,
  'lock/released': true,
  'rcu/read-lock': true,
  'rcu/read-unlock': true,
  'rcu/gp-start': true,
  'rcu/qs': true,
  'rcu/gp-end': true,
  'rcu/callback-queued': true,
  'rcu/callback-invoked': true,
  'signal/generate': true,
  'signal/deliver': true,
  'module/loaded': true,
  'module/going': true,
  'module/unloaded': true,
};

export const CORE_EVENT_TYPES: readonly CoreEventType[] = Object.freeze(Object.keys(CORE_EVENTS) as CoreEventType[]);
