/*
 * kernel/rcu/tasks.h (and rcu_tasks_kthread of kernel/rcu/update.c in v3.18), step for step:
 * call_rcu_tasks and its GP kthread started on first use, the list grab, rcu_tasks_wait_gp
 * (synchronize_sched, the holdout scan, the holdout loop with its back-off and stall warnings,
 * synchronize_sched), the tasks-trace flavour (rcu_read_lock_trace / rcu_read_unlock_trace and
 * its grace period), synchronize_rcu_tasks / rcu_barrier_tasks through a wakeup callback, and
 * synchronize_rcu_tasks_rude.
 *
 * Each flavour has one callback list (ids in the state, closures in the plugin instance), one
 * GP kthread started on demand, and one GP at a time. Callback ids are handed out in queue
 * order and a GP takes the whole list, so "queued before the grab" is "id <= takenThrough".
 * Every path takes the plugin instance (internal/instance.ts) first.
 */
import {
  gpKthread,
  invokeCallbackBatch,
  current,
  emit,
  getState,
  intMapGet,
  intMapValues,
  kernelBug,
  kthreadRun,
  msleep,
  rcuReadLock,
  rcuReadUnlock,
  schedPoint,
  synchronizeRcu,
  waitEvent,
  wakeUp,
  type KPath,
  type KernelState,
  type RcuCallback,
} from '@tracelab/core';
import type { HoldoutDropReason, HoldoutState, RcuTasksFlavour } from './events.js';
import type { RcuTasksInstance } from './internal/instance.js';
import { invokeCallback } from './internal/invoke.js';
import type { ResolvedRcuTasksOptions } from './internal/options.js';
import { flavourOf, intMapEntries, onRq, rcuTasksSlice } from './internal/slice.js';

/** The GP kthreads' names, as in the kernel. */
export const KTHREAD_COMM: Readonly<Record<RcuTasksFlavour, string>> = { tasks: 'rcu_tasks_kthre', trace: 'rcu_tasks_trace' };

/** Stall warnings name at most this many holdouts (the count says how many there are). */
const STALL_LIST = 16;

/**
 * call_rcu_tasks / call_rcu_tasks_trace: queues `fn` (a plain function, or a generator function
 * when it emits events or reads state) for after the flavour's next grace period and returns
 * its callback id. Starts the GP kthread if none runs. Never blocks.
 */
export function* callRcuTasksFlavour(m: RcuTasksInstance, flavour: RcuTasksFlavour, fn: RcuCallback, label: string): KPath<number> {
  if (typeof fn !== 'function')
    throw kernelBug(`call_rcu_tasks${flavour === 'trace' ? '_trace' : ''}: the callback must be a function (plain, or a generator function), got ${typeof fn}`);
  const me = yield* current();
  const f = flavourOf(yield* getState(), flavour);
  const id = f.nextCallbackId;
  m.closures[flavour].set(id, { fn, label });
  yield* emit({ type: 'rcu-tasks/callback-queued', flavour, id, label, pid: me.pid });
  // The kthread is started on first use, as in 3.18 (rcu_spawn_tasks_kthread). It exits
  // when it finds the list empty; the test and the start are one step, so a call cannot
  // slip between a kthread deciding to exit and its exit.
  if (f.kthread === null) {
    const pid = yield* kthreadRun(rcuTasksKthread(m, flavour), KTHREAD_COMM[flavour]);
    yield* emit({ type: 'rcu-tasks/kthread-start', flavour, pid });
  }
  return id;
}

/**
 * rcu_tasks_kthread: take the whole list, wait for a grace period, invoke the batch; again
 * while callbacks keep coming; exit when none is queued.
 */
export function rcuTasksKthread(m: RcuTasksInstance, flavour: RcuTasksFlavour): KPath<void> {
  return gpKthread({
    counters: (s) => flavourOf(s, flavour),
    *exit(pid) {
      yield* emit({ type: 'rcu-tasks/kthread-exit', flavour, pid });
    },
    *gracePeriod({ gp, first, last }, pid) {
      // The list grab: from here callbacks queued by anyone wait for the next GP.
      yield* emit({ type: 'rcu-tasks/gp-start', flavour, gp, first, last });
      if (flavour === 'tasks') yield* rcuTasksWaitGp(m, pid, gp);
      else yield* rcuTasksTraceWaitGp(m, pid, gp);
      yield* emit({ type: 'rcu-tasks/gp-end', flavour, gp });
    },
    *invoke(batch) {
      // The batch in queue order, each as its own callback (a failure is logged, not fatal).
      const { gp } = batch;
      const invoked = yield* invokeCallbackBatch(m.closures[flavour], batch, invokeCallback, function* (id, label, failure) {
        if (failure === null) yield* emit({ type: 'rcu-tasks/callback-invoked', flavour, gp, id, label });
        else yield* emit({ type: 'rcu-tasks/callback-failed', flavour, gp, id, label, message: failure });
        yield* schedPoint(); // cond_resched() between callbacks
      });
      yield* emit({ type: 'rcu-tasks/gp-done', flavour, gp, invoked });
      yield* msleep(m.batchDelay);
    },
  });
}

/**
 * The holdout loop shared by both flavours (rcu_tasks_wait_gp): sleep, back off from hz/10 to
 * hz ticks, rescan only the holdouts, warn about a stall every `stallTimeout` ticks.
 */
export function* waitForHoldouts(
  m: RcuTasksInstance,
  flavour: RcuTasksFlavour,
  gp: number,
  check: (s: KernelState, pid: number, h: HoldoutState) => HoldoutDropReason | null,
): KPath<void> {
  const options = m.options;
  let fract = 10;
  let rescan = 0;
  const start = flavourOf(yield* getState(), flavour).gp!.start;
  let nextStall = options.stallTimeout;
  for (;;) {
    const g = flavourOf(yield* getState(), flavour).gp!;
    if (g.holdouts.size === 0) return;
    yield* msleep(Math.max(1, Math.floor(options.hz / fract)));
    if (fract > 1) fract--;
    const s = yield* getState();
    const holdouts = flavourOf(s, flavour).gp!.holdouts;
    const dropped: Array<{ pid: number; why: HoldoutDropReason }> = [];
    for (const [pid, h] of intMapEntries(holdouts)) {
      const why = check(s, pid, h);
      if (why !== null) dropped.push({ pid, why });
    }
    rescan++;
    yield* emit({ type: 'rcu-tasks/rescan', flavour, gp, rescan, dropped, remaining: holdouts.size - dropped.length });
    const waited = s.clock.now - start;
    if (options.stallTimeout > 0 && waited >= nextStall && holdouts.size > dropped.length) {
      const gone = new Set(dropped.map((d) => d.pid));
      const still: number[] = [];
      for (const [pid] of intMapEntries(holdouts)) if (!gone.has(pid) && still.length < STALL_LIST) still.push(pid);
      yield* emit({ type: 'rcu-tasks/stall', flavour, gp, ticks: waited, count: holdouts.size - dropped.length, holdouts: still });
      while (nextStall <= waited) nextStall += options.stallTimeout;
    }
  }
}

/**
 * check_holdout_task: a holdout stays one while it is on a runqueue, in kernel mode, with its
 * voluntary-switch count unchanged and its flag still set. Preemption is not a quiescent
 * state (unless `quiescentOnPreempt`, the unsafe variant).
 */
export function checkHoldoutTask(options: ResolvedRcuTasksOptions, s: KernelState, pid: number, h: HoldoutState): HoldoutDropReason | null {
  const t = intMapGet(s.tasks, pid);
  if (t === undefined || t.state === 'zombie' || t.state === 'dead') return 'exited';
  if (!onRq(t)) return 'off-rq';
  if (t.nvcsw !== h.nvcsw) return 'voluntary';
  if (!h.flag || t.mode === 'user') return 'user';
  if (options.quiescentOnPreempt && t.nivcsw !== h.nivcsw) return 'preempted';
  return null;
}

/** Channel the exit-SRCU wait sleeps on; each `exit-srcu-unlock` wakes it. */
export const EXIT_SRCU_CHANNEL = 'rcu-tasks:exit-srcu';

/**
 * One RCU-tasks grace period: synchronize_sched, the scan, (under `exitTasks: 'exit-srcu'`)
 * synchronize_srcu(&tasks_rcu_exit_srcu), the holdout loop, synchronize_sched.
 */
export function* rcuTasksWaitGp(m: RcuTasksInstance, self: number, gp: number): KPath<void> {
  const mode = m.options.exitTasks;
  // Tasks that were preempt-disabled (an RCU-sched reader) before the grab have left that
  // region; also orders the grab before the scan.
  yield* synchronizeRcu();
  // The scan, as an RCU reader walking the task list: every task on a runqueue, not idle
  // (the idle tasks are not on the list at all), not this kthread, and not in user mode
  // (where it holds no kernel code: the kernel clears the flag at the next tick). By default
  // every task still in the state; with 'exit-srcu' or 'listed-only' the list's tasks only,
  // as for_each_process_thread: release_task has not taken them off (a host-started task's
  // fork tail, which the core runs before linking it, counts as listed: upstream links it
  // before it runs).
  yield* rcuReadLock();
  const s = yield* getState();
  const pids: number[] = [];
  let scanned = 0;
  for (const t of intMapValues(s.tasks)) {
    // Released: off the list. (A task left EXIT_DEAD by an oops on its exit path is never
    // released and stays listed, as upstream: the scan sees it.)
    if (mode !== 'scan-unlisted' && t.exitState === 'dead' && !t.listed) continue;
    scanned++;
    if (t.pid === self || !onRq(t) || t.mode !== 'kernel') continue;
    pids.push(t.pid);
  }
  yield* emit({ type: 'rcu-tasks/holdouts', flavour: 'tasks', gp, pids, scanned });
  yield* rcuReadUnlock();
  // synchronize_srcu(&tasks_rcu_exit_srcu): covers the tasks already off the list but still
  // exiting. By default the scan saw them (they are still in the state), so there is no gap.
  if (mode === 'exit-srcu') yield* waitExitSrcu(gp);
  yield* waitForHoldouts(m, 'tasks', gp, (st, pid, h) => checkHoldoutTask(m.options, st, pid, h));
  // Orders the holdouts' last accesses before the callbacks, and waits for an exiting task's
  // preempt-disabled stretch after its exit-SRCU section (the kernel's second synchronize_sched).
  if (!m.options.skipSecondSync) yield* synchronizeRcu();
}

/**
 * The exit-SRCU domain's grace period: every task inside its exit path now (the read side
 * `exit-srcu-lock` opened) has left it (`exit-srcu-unlock`) when this returns. A task that
 * enters its exit path later was on the list at the scan, and is covered by it.
 */
function* waitExitSrcu(gp: number): KPath<void> {
  const inside = rcuTasksSlice(yield* getState()).exitSrcu;
  const pids: number[] = [];
  if (inside !== undefined) for (const [pid, on] of intMapEntries(inside)) if (on) pids.push(pid);
  yield* emit({ type: 'rcu-tasks/exit-srcu-wait', gp, pids });
  yield* waitEvent(EXIT_SRCU_CHANNEL, (st) => {
    const now = rcuTasksSlice(st).exitSrcu;
    return now === undefined || pids.every((pid) => intMapGet(now, pid) !== true);
  });
  yield* emit({ type: 'rcu-tasks/exit-srcu-done', gp });
}

/**
 * A tasks-trace holdout: every task whose nesting is above 0 at the scan is a holdout until the
 * section it is in ends, wherever it is: running, preempted, asleep in a page fault, or on
 * another CPU by now (unless `traceQuiescentOnSwitch`, the unsafe variant).
 */
export function checkTraceHoldout(options: ResolvedRcuTasksOptions, s: KernelState, pid: number, h: HoldoutState): HoldoutDropReason | null {
  const r = intMapGet(rcuTasksSlice(s).traceReaders, pid);
  if (r === undefined || r.since !== h.since) return 'unlocked';
  if (options.traceQuiescentOnSwitch) {
    const t = intMapGet(s.tasks, pid);
    if (t === undefined || t.nvcsw !== h.nvcsw || t.nivcsw !== h.nivcsw || !onRq(t)) return 'preempted';
  }
  return null;
}

/** One RCU-tasks-trace grace period: the readers at the scan, then the holdout loop. */
export function* rcuTasksTraceWaitGp(m: RcuTasksInstance, self: number, gp: number): KPath<void> {
  const s = yield* getState();
  const readers = rcuTasksSlice(s).traceReaders;
  const pids: number[] = [];
  for (const [pid] of intMapEntries(readers)) if (pid !== self) pids.push(pid);
  yield* emit({ type: 'rcu-tasks/holdouts', flavour: 'trace', gp, pids, scanned: readers.size });
  yield* waitForHoldouts(m, 'trace', gp, (st, pid, h) => checkTraceHoldout(m.options, st, pid, h));
}

/**
 * synchronize_rcu_tasks / rcu_barrier_tasks (and their tasks-trace forms): a callback that wakes
 * the caller, then wait_event on it. A single FIFO list, so the callback runs after every one
 * queued before it: the same wait is both a grace period and a barrier.
 */
export function* waitForCallback(m: RcuTasksInstance, flavour: RcuTasksFlavour, what: string): KPath<void> {
  const me = yield* current();
  // A tasks-trace reader that waits for a tasks-trace GP waits for itself: its own section is
  // open at the GP's scan, so it is a holdout until it unlocks, which it never does (the
  // kernel's lockdep splat "Illegal synchronize_rcu_tasks_trace() in RCU Tasks Trace
  // read-side critical section"). A BUG here, rather than a GP that never ends.
  // (The tasks flavour cannot deadlock this way: the caller sleeps, a voluntary switch.)
  if (flavour === 'trace') {
    const r = intMapGet(rcuTasksSlice(yield* getState()).traceReaders, me.pid);
    if (r !== undefined)
      throw kernelBug(
        `${what}() by pid ${me.pid} inside its own tasks-trace read-side critical section (nesting ${r.nesting}): the grace period would wait for the caller`,
      );
  }
  const channel = `${flavour === 'trace' ? 'rcu-tasks-trace' : 'rcu-tasks'}:${me.pid}`;
  // Written by the wakeup callback (in the GP kthread), read by the caller's wait condition;
  // the runtime's single thread orders them.
  let done = false;
  const id = yield* callRcuTasksFlavour(
    m,
    flavour,
    function* wakeme() {
      done = true;
      yield* wakeUp(channel);
    },
    `${what}(${me.pid})`,
  );
  // `invokedThrough` also covers a wakeup callback that failed.
  yield* waitEvent(channel, (s) => done || flavourOf(s, flavour).invokedThrough >= id);
}

/**
 * synchronize_rcu_tasks_rude (rcu_tasks_rude_wait_gp): schedule_on_each_cpu of an empty work
 * item. A worker bound to each CPU (kworker/N) runs there, so every CPU has passed a context
 * switch since the call: an idle CPU has left its idle routine, a CPU in user mode has entered
 * the kernel. The caller waits for all of them (flush_work). There is no scan and no holdout:
 * the wait is the switches themselves.
 */
export function* synchronizeRcuTasksRude(): KPath<void> {
  const me = yield* current();
  const cpus = (yield* getState()).cpus.length;
  const channel = `rcu-tasks-rude:${me.pid}`;
  // The workers still to run. Written by the workers (each once, in the step it runs) and
  // read by the caller's wait condition; the runtime's single thread orders them.
  let left = cpus;
  yield* emit({ type: 'rcu-tasks/rude-start', pid: me.pid, cpus });
  for (let cpu = 0; cpu < cpus; cpu++) {
    yield* kthreadRun(
      (function* rcuTasksBeRude(): KPath<void> {
        const w = yield* current();
        yield* emit({ type: 'rcu-tasks/rude-cpu', pid: me.pid, worker: w.pid });
        left--;
        yield* wakeUp(channel);
      })(),
      `kworker/${cpu}:rude`,
      { cpu },
    );
  }
  yield* waitEvent(channel, () => left === 0);
  yield* emit({ type: 'rcu-tasks/rude-end', pid: me.pid });
}

/** rcu_read_lock_trace: one more level of the caller's tasks-trace nesting. */
export function* rcuReadLockTrace(): KPath<void> {
  const me = yield* current();
  const r = intMapGet(rcuTasksSlice(yield* getState()).traceReaders, me.pid);
  yield* emit({ type: 'rcu-tasks/trace-lock', pid: me.pid, nesting: (r?.nesting ?? 0) + 1 });
}

/** rcu_read_unlock_trace: one level less; a BUG outside any section. */
export function* rcuReadUnlockTrace(): KPath<void> {
  const me = yield* current();
  const r = intMapGet(rcuTasksSlice(yield* getState()).traceReaders, me.pid);
  if (r === undefined) throw kernelBug(`rcu_read_unlock_trace by pid ${me.pid} outside any tasks-trace reader section`);
  yield* emit({ type: 'rcu-tasks/trace-unlock', pid: me.pid, nesting: r.nesting - 1 });
}
