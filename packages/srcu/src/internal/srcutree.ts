/**
 * The kernel paths of SRCU, after kernel/rcu/srcutree.c (Tree SRCU): the reader's per-CPU
 * lock and unlock counters in two slots, the grace period's two drain checks around the index
 * flip, call_srcu's callbacks invoked by the domain's grace-period worker, synchronize_srcu and
 * srcu_barrier as callbacks waited for, init and cleanup. Each generator is named after the
 * kernel function it models; a `yield` stands wherever the kernel could be preempted or another
 * CPU could act.
 *
 * Memory ordering: the model's steps are sequentially consistent, so upstream's full barriers
 * (B after the lock increment, C before the unlock increment, A between the two sums, D around
 * the flip) hold by construction. What the model keeps is what they order against: each
 * per-CPU counter is read in its own step, and the unlock sum ends before the lock sum starts,
 * which is what barrier A guarantees upstream.
 */
import {
  gpKthread,
  invokeCallbackBatch,
  EBUSY,
  TracelabError,
  callbackPath,
  current,
  describeValue,
  emit,
  getState,
  kthreadRun,
  kernelBug,
  msleep,
  printk,
  schedPoint,
  waitEvent,
  waitEventTimeout,
  wakeUp,
  type KPath,
  type KernelState,
  type RcuCallback,
} from '@tracelab/core';
import type { ResolvedSrcuOptions, SrcuWarnReason } from '../events.js';
import type { SrcuDomainState, SrcuReaderState, SrcuState } from '../state.js';

export const slice = (s: KernelState): SrcuState => s.plugins.srcu!;

/** A queued callback's closure: hot data, outside the immutable state, keyed by domain and id. */
interface Closure {
  readonly fn: RcuCallback;
  readonly label: string;
}

/**
 * What the paths share. `closures` holds each domain's queued callbacks: `callSrcu` adds an
 * entry in the step of its `srcu/callback-queued`, and only the domain's GP kthread deletes
 * it, when it invokes it (the runtime's single thread orders them). Cleared by `kernel.reset`.
 */
export interface SrcuEnv {
  readonly opts: ResolvedSrcuOptions;
  readonly closures: Map<string, Map<number, Closure>>;
}

function bad(where: string, what: string): never {
  throw new TracelabError('INVALID_OPTION', `srcu.${where}: ${what}`, { plugin: 'srcu', where });
}

/** The live domain `name`, or `INVALID_OPTION` (never initialized, or cleaned up: a use after free of the srcu_struct). */
function liveDomain(s: KernelState, where: string, name: unknown): SrcuDomainState {
  if (typeof name !== 'string' || name.length === 0) bad(where, `the domain must be a non-empty string, got ${describeValue(name)}`);
  const d = slice(s).domains[name];
  if (d === undefined) bad(`${where}(${name})`, `srcu domain ${JSON.stringify(name)} is not initialized (never, or cleaned up): call initSrcuStruct first`);
  return d;
}

/** The innermost reader of `domain` that `pid` is inside, or undefined. */
function innermostReader(st: SrcuState, domain: string, pid: number): SrcuReaderState | undefined {
  let found: SrcuReaderState | undefined;
  for (const r of Object.values(st.readers)) if (r.domain === domain && r.pid === pid && (found === undefined || r.reader > found.reader)) found = r;
  return found;
}

function* warn(domain: string, reason: SrcuWarnReason, message: string): KPath<void> {
  const { pid } = yield* current();
  yield* printk(`WARNING: srcu: ${message}`);
  yield* emit({ type: 'srcu/warn', domain, pid, reason, message });
}

/** init_srcu_struct: index 0, every per-CPU counter 0, no grace period. Returns 0. */
export function* initSrcuStruct(_env: SrcuEnv, domain: string): KPath<number> {
  if (typeof domain !== 'string' || domain.length === 0) bad('initSrcuStruct', `the domain must be a non-empty string, got ${describeValue(domain)}`);
  const s = yield* getState();
  if (slice(s).domains[domain] !== undefined)
    bad(`initSrcuStruct(${domain})`, `srcu domain ${JSON.stringify(domain)} is already initialized (cleanupSrcuStruct it first)`);
  const { pid } = yield* current();
  yield* emit({ type: 'srcu/init', domain, pid, cpus: s.cpus.length });
  return 0;
}

/** Where a cleanup waits for the domain's worker to exit (kthread_stop). */
const flushChannel = (domain: string): string => `srcu:${domain}:flush`;

/** Where the domain's idle worker waits for work (the queue_work that call_srcu does). */
const workChannel = (domain: string): string => `srcu:${domain}:work`;

/** Callbacks queued that no grace period has taken yet. */
const queued = (d: SrcuDomainState): boolean => d.nextCallbackId - 1 > d.takenThrough;

/**
 * srcu_readers_active: the lock sums minus the unlock sums of both slots (the check
 * cleanup_srcu_struct makes; it runs with no reader expected, so one step is enough).
 */
function readersActive(d: SrcuDomainState): number {
  let sum = 0;
  for (let slot = 0; slot < 2; slot++) for (let cpu = 0; cpu < d.lockCount[slot]!.length; cpu++) sum += d.lockCount[slot]![cpu]! - d.unlockCount[slot]![cpu]!;
  return sum;
}

/**
 * cleanup_srcu_struct: upstream WARNs and leaks the struct ("Just leak it!") rather than free
 * memory a reader or a callback still uses. Here it also returns -EBUSY so the caller knows.
 */
export function* cleanupSrcuStruct(env: SrcuEnv, domain: string): KPath<number> {
  const d0 = liveDomain(yield* getState(), 'cleanupSrcuStruct', domain);
  if (d0.kthread !== null && d0.gp === null && d0.nextCallbackId - 1 === d0.invokedThrough) {
    // The worker has nothing left to do (upstream's flush_delayed_work finds the work item
    // done): stop it and wait for its exit, so no worker outlives the struct. It may still be
    // between its last callback and its idle wait; it sees the stop there.
    const { pid } = yield* current();
    yield* emit({ type: 'srcu/kthread-stop', domain, pid, kthread: d0.kthread });
    yield* wakeUp(workChannel(domain));
    yield* waitEvent(flushChannel(domain), (s) => (slice(s).domains[domain]?.kthread ?? null) === null);
  }
  const d = liveDomain(yield* getState(), 'cleanupSrcuStruct', domain);
  const active = readersActive(d);
  if (active !== 0) {
    yield* warn(domain, 'cleanup-readers-active', `cleanup_srcu_struct(${domain}) with ${active} reader(s) inside: leaked`);
    return -EBUSY;
  }
  // A worker still there has work: a callback queued or a grace period running.
  if (d.gp !== null || d.nextCallbackId - 1 > d.invokedThrough || d.kthread !== null) {
    yield* warn(
      domain,
      'cleanup-gp-pending',
      `cleanup_srcu_struct(${domain}) with ${d.nextCallbackId - 1 - d.invokedThrough} callback(s) pending${d.gp !== null ? ` and grace period ${d.gp.gp} in progress` : ''}: leaked`,
    );
    return -EBUSY;
  }
  const { pid } = yield* current();
  env.closures.delete(domain);
  yield* emit({ type: 'srcu/cleanup', domain, pid });
  return 0;
}

/**
 * srcu_read_lock (__srcu_read_lock): `idx = READ_ONCE(srcu_idx) & 1`, then
 * `this_cpu_inc(lock_count[idx])`, then smp_mb() B. Nothing disables preemption between the
 * load and the increment: the reader may be preempted there, migrate, and count its lock on
 * another CPU, in a slot that a grace period has flipped away from meanwhile. That late
 * increment is what the grace period's first scan (SCAN1) is for.
 */
export function* srcuReadLock(_env: SrcuEnv, domain: string): KPath<number> {
  const idx = liveDomain(yield* getState(), 'srcuReadLock', domain).idx & 1;
  yield* schedPoint();
  const s = yield* getState();
  liveDomain(s, 'srcuReadLock', domain);
  const { pid, cpu } = yield* current();
  yield* emit({ type: 'srcu/lock', domain, pid, onCpu: cpu, idx, reader: slice(s).nextReader });
  return idx;
}

/**
 * srcu_read_unlock (__srcu_read_unlock): smp_mb() C, then `this_cpu_inc(unlock_count[idx])`
 * on the CPU the reader runs on now. The index comes from the caller: the model checks it
 * against the task's innermost reader of the domain and WARNs on a mismatch, but counts the
 * unlock where the kernel would (the counters then no longer balance).
 */
export function* srcuReadUnlock(_env: SrcuEnv, domain: string, idx: number): KPath<void> {
  const st = slice(yield* getState());
  liveDomain(yield* getState(), 'srcuReadUnlock', domain);
  const { pid, cpu } = yield* current();
  const r = innermostReader(st, domain, pid);
  if (idx !== 0 && idx !== 1) {
    // WARN_ON_ONCE(idx & ~0x1): the increment lands outside both slots, on no counter the
    // grace period reads. The reader is over as far as the task is concerned.
    yield* warn(domain, 'bad-index', `srcu_read_unlock(${domain}, ${describeValue(idx)}) by pid ${pid}: the index must be 0 or 1`);
    yield* emit({
      type: 'srcu/unlock',
      domain,
      pid,
      onCpu: cpu,
      idx: typeof idx === 'number' && Number.isInteger(idx) ? idx : -1,
      reader: r?.reader ?? null,
      counted: false,
    });
    return;
  }
  if (r === undefined) {
    yield* warn(domain, 'unlock-without-lock', `srcu_read_unlock(${domain}, ${idx}) by pid ${pid}, which holds no reader of the domain`);
  } else if (r.idx !== idx) {
    yield* warn(domain, 'unlock-index-mismatch', `srcu_read_unlock(${domain}, ${idx}) by pid ${pid}, whose srcu_read_lock returned ${r.idx}`);
  }
  yield* emit({ type: 'srcu/unlock', domain, pid, onCpu: cpu, idx, reader: r?.reader ?? null, counted: true });
}

/**
 * Sums one kind of counter of slot `idx` across CPUs, one CPU per step: between two per-CPU
 * reads another CPU's reader may lock or unlock, and a reader may migrate.
 */
function* sumCounters(domain: string, kind: 'lockCount' | 'unlockCount', idx: number): KPath<number> {
  let sum = 0;
  const cpus = (yield* getState()).cpus.length;
  for (let cpu = 0; cpu < cpus; cpu++) {
    if (cpu > 0) yield* schedPoint();
    sum += slice(yield* getState()).domains[domain]![kind][idx]![cpu]!;
  }
  return sum;
}

/**
 * srcu_readers_active_idx_check: true when no reader that locked slot `idx` before the check
 * is still inside. Upstream sums the unlocks, then smp_mb() A, then the locks: every unlock
 * counted had its lock before it, so it is in the lock sum too, and a reader still inside
 * keeps the lock sum above the unlock sum. (Readers that lock the slot after the check began
 * may or may not be counted; they began after the grace period, which need not wait for them.)
 */
function* srcuReadersActiveIdxCheck(env: SrcuEnv, domain: string, gp: number, phase: 1 | 2, idx: number): KPath<boolean> {
  let locks: number;
  let unlocks: number;
  if (env.opts.unsafe.includes('locks-before-unlocks')) {
    locks = yield* sumCounters(domain, 'lockCount', idx);
    yield* schedPoint();
    unlocks = yield* sumCounters(domain, 'unlockCount', idx);
  } else {
    unlocks = yield* sumCounters(domain, 'unlockCount', idx);
    yield* schedPoint(); // smp_mb() A: the unlock sum is complete before the lock sum starts
    locks = yield* sumCounters(domain, 'lockCount', idx);
  }
  const drained = locks === unlocks;
  yield* emit({ type: 'srcu/scan', domain, gp, phase, idx, locks, unlocks, drained });
  return drained;
}

/** try_check_zero, retried: checks slot `idx` until it drained, sleeping `retryDelay` ticks between checks (srcu_reschedule). */
function* waitForSlot(env: SrcuEnv, domain: string, gp: number, phase: 1 | 2, idx: number): KPath<void> {
  while (!(yield* srcuReadersActiveIdxCheck(env, domain, gp, phase, idx))) yield* msleep(env.opts.retryDelay);
}

/**
 * One grace period (srcu_advance_state): SCAN1 waits for the slot new readers are not using
 * (it may hold readers that loaded the index before the previous flip and incremented after
 * that grace period's check), then srcu_flip moves new readers to it, then SCAN2 waits for the
 * slot they left. Without SCAN1 (`single-scan`) such a late reader sits in what becomes the
 * active slot and this grace period never looks at it.
 */
function* srcuGp(env: SrcuEnv, domain: string, gp: number): KPath<void> {
  if (!env.opts.unsafe.includes('single-scan')) {
    const idx = 1 ^ (slice(yield* getState()).domains[domain]!.idx & 1);
    yield* waitForSlot(env, domain, gp, 1, idx);
  }
  const next = slice(yield* getState()).domains[domain]!.idx + 1;
  yield* emit({ type: 'srcu/flip', domain, gp, idx: next });
  yield* schedPoint(); // smp_mb() D on both sides of the flip: readers see it from here
  yield* waitForSlot(env, domain, gp, 2, 1 ^ (next & 1));
}

/**
 * The domain's grace-period worker (process_srcu, then srcu_invoke_callbacks): take every
 * queued callback, run a grace period, invoke the batch in queue order; again while callbacks
 * keep coming. Upstream these are work items on a workqueue whose worker outlives them; here
 * the worker is one kthread per domain that, with nothing queued, waits for the next call_srcu
 * up to `workerIdle` ticks (a workqueue's idle worker timeout), and exits after that or when
 * cleanup_srcu_struct stops it (the next call_srcu then starts a new one).
 */
function srcuGpKthread(env: SrcuEnv, domain: string): KPath<void> {
  const dom = (s: KernelState): SrcuDomainState => slice(s).domains[domain]!;
  let reason: 'idle' | 'stop' = 'idle';
  return gpKthread({
    counters: dom,
    *idle() {
      if (!dom(yield* getState()).kthreadShouldStop && env.opts.workerIdle > 0)
        yield* waitEventTimeout(workChannel(domain), (s) => queued(dom(s)) || dom(s).kthreadShouldStop, env.opts.workerIdle);
      // Work wins over a stop: a callback queued meanwhile still gets its grace period.
      const d = dom(yield* getState());
      if (queued(d)) return true;
      reason = d.kthreadShouldStop ? 'stop' : 'idle';
      return false;
    },
    *exit(pid) {
      yield* emit({ type: 'srcu/kthread-exit', domain, pid, reason });
      yield* wakeUp(flushChannel(domain));
    },
    *gracePeriod({ gp, first, last }) {
      // The list grab: callbacks queued from here wait for the next grace period.
      yield* emit({ type: 'srcu/gp-start', domain, gp, first, last });
      yield* srcuGp(env, domain, gp);
      yield* emit({ type: 'srcu/gp-end', domain, gp });
    },
    *invoke(batch) {
      const { gp } = batch;
      yield* invokeCallbackBatch(env.closures.get(domain), batch, runCallback, function* (id, label, failure) {
        if (failure === null) yield* emit({ type: 'srcu/callback-invoked', domain, gp, id, label });
        else yield* emit({ type: 'srcu/callback-failed', domain, gp, id, label, message: failure });
      });
      yield* schedPoint(); // cond_resched() after the batch
    },
  });
}

/** One SRCU callback, run to completion (it may block: it runs in process context); null, or why it failed. */
function* runCallback(cb: Closure): KPath<string | null> {
  try {
    yield* callbackPath(cb.fn());
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** call_srcu: queue `fn`; wake the domain's GP worker, or start one if none runs. Returns the callback's id. */
export function* callSrcu(env: SrcuEnv, domain: string, fn: RcuCallback, label = 'callback'): KPath<number> {
  const d = liveDomain(yield* getState(), 'callSrcu', domain);
  if (typeof fn !== 'function') bad(`callSrcu(${domain})`, `the callback must be a function (plain, or a generator function), got ${describeValue(fn)}`);
  const me = yield* current();
  const id = d.nextCallbackId;
  let closures = env.closures.get(domain);
  if (closures === undefined) env.closures.set(domain, (closures = new Map()));
  closures.set(id, { fn, label });
  yield* emit({ type: 'srcu/callback-queued', domain, id, label, pid: me.pid });
  // The test and the start are one step, so a call cannot slip between a worker deciding to
  // exit and its exit.
  if (d.kthread === null) {
    const pid = yield* kthreadRun(srcuGpKthread(env, domain), `srcu_gp/${domain}`.slice(0, 15));
    yield* emit({ type: 'srcu/kthread-start', domain, pid });
  } else {
    yield* wakeUp(workChannel(domain)); // queue_delayed_work: an idle worker takes it
  }
  return id;
}

/** A callback that wakes the caller, then wait_event on it (synchronize_srcu and srcu_barrier). */
function* waitForCallback(env: SrcuEnv, domain: string, what: string): KPath<void> {
  const me = yield* current();
  // A reader of this domain waiting for its grace period waits for itself (upstream's lockdep
  // splat "Illegal synchronize_srcu() in same-type SRCU read-side critical section").
  const r = innermostReader(slice(yield* getState()), domain, me.pid);
  if (r !== undefined) throw kernelBug(`${what}(${domain}) by pid ${me.pid} inside its own srcu read-side critical section of that domain`);
  const channel = `srcu:${domain}:${me.pid}`;
  let done = false;
  const id = yield* callSrcu(
    env,
    domain,
    function* wakeme() {
      done = true;
      yield* wakeUp(channel);
    },
    `${what}(${me.pid})`,
  );
  yield* waitEvent(channel, (s) => done || (slice(s).domains[domain]?.invokedThrough ?? id) >= id);
}

/** synchronize_srcu: a grace period of `domain` that begins after the call has ended when it returns. */
export function* synchronizeSrcu(env: SrcuEnv, domain: string): KPath<void> {
  liveDomain(yield* getState(), 'synchronizeSrcu', domain);
  yield* waitForCallback(env, domain, 'synchronize_srcu');
}

/** srcu_barrier: one list invoked in queue order, so a callback queued now runs after every earlier one. */
export function* srcuBarrier(env: SrcuEnv, domain: string): KPath<void> {
  liveDomain(yield* getState(), 'srcuBarrier', domain);
  yield* waitForCallback(env, domain, 'srcu_barrier');
}
