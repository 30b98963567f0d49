import type { IntMap, KPath, RcuCallback } from '@tracelab/core';

/**
 * The two flavours this plugin provides:
 * - `tasks`: RCU-tasks (2014). A reader is any kernel code with no voluntary switch; the
 *   quiescent states are a voluntary context switch, user mode and the idle loop, **not
 *   preemption**.
 * - `trace`: RCU-tasks-trace (2020). A reader is an explicit `rcuReadLockTrace` /
 *   `rcuReadUnlockTrace` section that may sleep, fault and migrate; a task is quiescent once
 *   its nesting count is back to 0.
 */
export type RcuTasksFlavour = 'tasks' | 'trace';

/** Why the GP kthread dropped a holdout at a rescan. */
export type HoldoutDropReason =
  /** The task left the task list, or made its final switch out (a zombie or dead). */
  | 'exited'
  /** The task is not on a runqueue: it slept (or stopped) since the scan. */
  | 'off-rq'
  /** Its voluntary-switch count (nvcsw) changed since the scan. */
  | 'voluntary'
  /** It is in user mode now, or returned to user mode since the scan. */
  | 'user'
  /** tasks-trace: its read-side nesting went back to 0 since the scan. */
  | 'unlocked'
  /** UNSAFE variants only: it was preempted (or, for trace, switched out) since the scan. */
  | 'preempted';

/** A holdout of the grace period in progress, as the GP kthread recorded it at its scan. */
export interface HoldoutState {
  /** nvcsw and nivcsw at the scan. */
  readonly nvcsw: number;
  readonly nivcsw: number;
  /**
   * tasks: the holdout flag (`rcu_tasks_holdout`), cleared when the task returns to user mode
   * (`syscall/exit`, or the end of a user page fault; the kernel clears it from the scheduler
   * tick in user mode). trace: always true.
   */
  readonly flag: boolean;
  /** trace: the seq of the `trace-lock` event that opened the reader section seen at the scan; tasks: -1. */
  readonly since: number;
}

/**
 * A task that was inside a read-side section when the grace period began (the list grab). This
 * is the ground truth the invariants check callbacks against; it is computed by the reducer of
 * `rcu-tasks/gp-start`, independently of the GP kthread's own holdout scan.
 */
export interface GpReaderState {
  /** nvcsw and nivcsw at the grab (for messages; the tasks flavour's test is on nvcsw). */
  readonly nvcsw: number;
  readonly nivcsw: number;
  /** tasks: returned to user mode since the grab (a quiescent state). */
  readonly user: boolean;
  /** trace: the seq of the `trace-lock` event that opened the section; tasks: -1. */
  readonly since: number;
}

/** The grace period in progress. Written only by reducers. */
export interface RcuTasksGpState {
  /** Grace-period number, from 1. */
  readonly gp: number;
  /** Tick and event seq of the list grab (the GP's start). */
  readonly start: number;
  readonly startSeq: number;
  /** The batch: callback ids `first..last` (empty when `last < first`, which cannot happen today). */
  readonly first: number;
  readonly last: number;
  /** The readers at the grab (ground truth for the invariants), by pid. */
  readonly readers: IntMap<GpReaderState>;
  /** The GP kthread's holdout list, by pid: set by the scan, shrunk by each rescan. */
  readonly holdouts: IntMap<HoldoutState>;
  /** True once the scan has run (before it, `holdouts` is empty because nothing was scanned). */
  readonly scanned: boolean;
  /** Holdouts at the scan, rescans so far, stall warnings so far. */
  readonly scannedHoldouts: number;
  readonly rescans: number;
  readonly stalls: number;
  /** Set by `gp-end`: callbacks of this GP are being invoked. */
  readonly ended: boolean;
}

/** One flavour's state. Every field is written only by reducers. */
export interface RcuTasksFlavourState {
  /** pid of the GP kthread, or null when none runs (it is started on the first call, and exits when idle). */
  readonly kthread: number | null;
  /** Next callback id (ids start at 1 and are handed out in queue order). */
  readonly nextCallbackId: number;
  /** Highest callback id taken into a batch: ids above it and below `nextCallbackId` are queued and wait for the next GP. */
  readonly takenThrough: number;
  /** Highest callback id invoked (callbacks run in id order, so every lower id has run too). */
  readonly invokedThrough: number;
  /** The grace period in progress, or null. */
  readonly gp: RcuTasksGpState | null;
  /** Grace periods completed. */
  readonly completed: number;
  /** The last completed grace period, for quick reads. */
  readonly lastGp: null | {
    readonly gp: number;
    readonly start: number;
    readonly end: number;
    readonly callbacks: number;
    readonly holdouts: number;
    readonly rescans: number;
    readonly stalls: number;
  };
}

/** A tasks-trace reader section, per task: its nesting and the seq of the outermost lock. */
export interface TraceReaderState {
  readonly nesting: number;
  readonly since: number;
}

/** The plugin's slice, `state.plugins['rcu-tasks']`. Every field is written only by reducers. */
export interface RcuTasksState {
  readonly tasks: RcuTasksFlavourState;
  readonly trace: RcuTasksFlavourState;
  /**
   * Per-task tasks-trace reader nesting (`trc_reader_nesting`), by pid; only tasks inside a
   * reader section (nesting > 0) are present.
   */
  readonly traceReaders: IntMap<TraceReaderState>;
  /**
   * `exitTasks: 'exit-srcu'` only (absent otherwise): the tasks that entered the exit-SRCU read
   * side (`exit_tasks_rcu_start`), by pid: true while inside, false once they left it
   * (`exit_tasks_rcu_finish`). Written by the `exit-srcu-lock` / `exit-srcu-unlock` reducers;
   * an entry stays after the task is gone (pids are not reused).
   */
  readonly exitSrcu?: IntMap<boolean>;
  /**
   * `exitTasks: 'exit-srcu'` only (absent otherwise): an exiting task's final preempt-disabled
   * region, by pid: the seq of the event at which the region it is in now opened (its CPU's
   * preempt count rose above 0 after its `exit-srcu-unlock`, or was above 0 at it). Upstream the
   * end of do_exit runs with preemption off up to the final switch; that region is an RCU-sched
   * reader only the GP's final `synchronize_rcu` waits for. Written by the `cpu/preempt-count`
   * and `exit-srcu-unlock` reducers; an entry goes when the count returns to 0.
   */
  readonly exitTail?: IntMap<number>;
  /**
   * `exitTasks: 'exit-srcu'` only: the seq of the current tasks GP's last event before its final
   * RCU-sched wait begins (its scan, its `exit-srcu-done`, its last rescan): a final region
   * opened before it must have closed by the GP's end. Written by those events' reducers.
   */
  readonly exitTailFrom?: number;
  /** The first safety violation found by a reducer (the invariants report it), or null. */
  readonly violation: null | { readonly invariant: string; readonly message: string };
}

/** A completed grace period, as `summarizeRcuTasks` reads it from a log. */
export interface RcuTasksGpRecord {
  readonly flavour: RcuTasksFlavour;
  readonly gp: number;
  /** Tick of the list grab and of the GP's end (just before its callbacks run). */
  readonly start: number;
  readonly end: number | null;
  /** end - start, in ticks (null while in progress). */
  readonly latency: number | null;
  readonly callbacks: number;
  readonly holdouts: number;
  readonly rescans: number;
  readonly stalls: number;
}

export interface RcuTasksApi {
  /**
   * call_rcu_tasks: queues `callback` to run after an RCU-tasks grace period that begins after
   * this call, and starts the GP kthread if none runs. Returns the callback's id (ids name it in
   * `rcu-tasks/callback-invoked`). Never blocks. The callback runs in the GP kthread and must
   * not block (a scheduling point in it is a bug: it is abandoned and logged as
   * `rcu-tasks/callback-failed`).
   */
  callRcuTasks(callback: RcuCallback, label?: string): KPath<number>;
  /** synchronize_rcu_tasks: sleeps until a full RCU-tasks grace period has elapsed. Returns nothing. */
  synchronizeRcuTasks(): KPath<void>;
  /** rcu_barrier_tasks: sleeps until every callback queued (by anyone) before the call has run. */
  rcuBarrierTasks(): KPath<void>;
  /**
   * rcu_read_lock_trace: enters (or nests) a tasks-trace reader section. Never blocks, does not
   * disable preemption: the reader may sleep, fault and migrate until the unlock.
   */
  rcuReadLockTrace(): KPath<void>;
  /** rcu_read_unlock_trace: leaves one level; unlocking with nesting 0 is a BUG (an oops). */
  rcuReadUnlockTrace(): KPath<void>;
  /** call_rcu_tasks_trace: as `callRcuTasks`, for a tasks-trace grace period. */
  callRcuTasksTrace(callback: RcuCallback, label?: string): KPath<number>;
  /** synchronize_rcu_tasks_trace: sleeps until every reader section open at the call has ended. */
  synchronizeRcuTasksTrace(): KPath<void>;
  /** rcu_barrier_tasks_trace: sleeps until every tasks-trace callback queued before the call has run. */
  rcuBarrierTasksTrace(): KPath<void>;
  /**
   * synchronize_rcu_tasks_rude: sleeps until every CPU, idle ones included, has run a per-CPU
   * worker (schedule_on_each_cpu), so has passed a context switch since the call. Covers code
   * RCU is not watching (the idle loop's instrumented functions), which runs with preemption off
   * and never spans a switch; says nothing of a task preempted elsewhere (that is RCU-tasks).
   */
  synchronizeRcuTasksRude(): KPath<void>;
  /** Host-side: the tasks-trace nesting of `pid` now (0 outside a reader). */
  traceNesting(pid: number): number;
  /** Host-side: grace periods completed by `flavour` (default `tasks`). */
  completed(flavour?: RcuTasksFlavour): number;
  /** Host-side: the pids of the current grace period's holdouts (empty when none is in progress). */
  holdouts(flavour?: RcuTasksFlavour): number[];
}

declare module '@tracelab/core' {
  interface EventMap {
    /** call_rcu_tasks / call_rcu_tasks_trace by `pid`: callback `id` is queued. */
    'rcu-tasks/callback-queued': { flavour: RcuTasksFlavour; id: number; label: string; pid: number };
    /** The flavour's GP kthread was started (lazily, by the first call after it exited). */
    'rcu-tasks/kthread-start': { flavour: RcuTasksFlavour; pid: number };
    /** The GP kthread found no callback queued and exits (a later call starts a new one). */
    'rcu-tasks/kthread-exit': { flavour: RcuTasksFlavour; pid: number };
    /** The GP kthread took the whole callback list (`first..last`): grace period `gp` begins. */
    'rcu-tasks/gp-start': { flavour: RcuTasksFlavour; gp: number; first: number; last: number };
    /** The scan: the tasks that became holdouts. */
    'rcu-tasks/holdouts': { flavour: RcuTasksFlavour; gp: number; pids: number[]; scanned: number };
    /** A rescan of the holdouts only: who was dropped and why, how many remain. */
    'rcu-tasks/rescan': { flavour: RcuTasksFlavour; gp: number; rescan: number; dropped: Array<{ pid: number; why: HoldoutDropReason }>; remaining: number };
    /** Stall warning: the GP has waited `ticks` ticks; `holdouts` (the first 16) still hold it. */
    'rcu-tasks/stall': { flavour: RcuTasksFlavour; gp: number; ticks: number; count: number; holdouts: number[] };
    /** Every holdout is gone: the GP is over and its callbacks are about to run. */
    'rcu-tasks/gp-end': { flavour: RcuTasksFlavour; gp: number };
    /** Callback `id` of grace period `gp` has run. */
    'rcu-tasks/callback-invoked': { flavour: RcuTasksFlavour; gp: number; id: number; label: string };
    /** Callback `id` threw or tried to block; it is abandoned (its events so far stay in the log). */
    'rcu-tasks/callback-failed': { flavour: RcuTasksFlavour; gp: number; id: number; label: string; message: string };
    /** Every callback of `gp` has run. */
    'rcu-tasks/gp-done': { flavour: RcuTasksFlavour; gp: number; invoked: number };
    /** rcu_read_lock_trace by `pid`: its nesting is now `nesting`. */
    'rcu-tasks/trace-lock': { pid: number; nesting: number };
    /** rcu_read_unlock_trace by `pid`: its nesting is now `nesting`. */
    'rcu-tasks/trace-unlock': { pid: number; nesting: number };
    /** synchronize_rcu_tasks_rude by `pid`: a per-CPU worker is queued on each of the `cpus` CPUs. */
    'rcu-tasks/rude-start': { pid: number; cpus: number };
    /** The Rude grace period's worker `worker` ran on the header's CPU: that CPU has switched since the call. */
    'rcu-tasks/rude-cpu': { pid: number; worker: number };
    /** Every CPU has run its worker: `pid`'s synchronize_rcu_tasks_rude returns. */
    'rcu-tasks/rude-end': { pid: number };
    /** `exitTasks: 'exit-srcu'`: `pid` begins do_exit, entering the exit-SRCU read side (exit_tasks_rcu_start). */
    'rcu-tasks/exit-srcu-lock': { pid: number };
    /** `exitTasks: 'exit-srcu'`: `pid` leaves the exit-SRCU read side at the end of its exit path (exit_tasks_rcu_finish). */
    'rcu-tasks/exit-srcu-unlock': { pid: number };
    /** After the scan, synchronize_srcu(&tasks_rcu_exit_srcu) begins: it waits for `pids`, inside the exit path now. */
    'rcu-tasks/exit-srcu-wait': { gp: number; pids: number[] };
    /** Every task of the GP's `exit-srcu-wait` has left its exit-SRCU read side. */
    'rcu-tasks/exit-srcu-done': { gp: number };
    /** A task exits inside a tasks-trace reader: warned, and its nesting forced to 0 (exit_tasks_rcu_finish_trace). */
    'rcu-tasks/trace-exit-fixup': { pid: number; nesting: number };
  }
  interface PluginStates {
    'rcu-tasks': RcuTasksState;
  }
  interface PluginApis {
    'rcu-tasks': RcuTasksApi;
  }
}
