import { EBUSY, EINVAL, ENOENT, current, emit, getState, mutexLock, mutexUnlock, printk, schedPoint, synchronizeRcu, type KPath } from '@tracelab/core';
import { archFtraceUpdateTrampoline, patchSite } from './arch-x86-ftrace.js';
import type { FtraceOps } from './events.js';
import { cleanupDirectFunctionsAfterIpmodify, prepareDirectFunctionsForIpmodify } from './ftrace-direct.js';
import { DIRECT_MUTEX, FTRACE_LOCK } from './internal/constants.js';
import { expandFilter, isPattern } from './internal/glob.js';
import { declareSites, opsRecOf, sitesOf, syncSites, wantedTarget } from './internal/records.js';
import { OpsRec, opsTraces, type Site } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';

/**
 * The update paths of kernel/trace/ftrace.c: register_ftrace_function (ftrace_startup),
 * unregister_ftrace_function (ftrace_shutdown), ftrace_set_filter, and what they share:
 * __ftrace_hash_rec_update, ftrace_replace_code, update_ftrace_function. Every path here runs
 * under ftrace_lock, taken and released by the exported entry points through one exit.
 */

/**
 * __ftrace_hash_rec_update for one record, against the list as it is now: the refcount, and
 * TRAMP when exactly one ops traces it and that ops has a live trampoline. Logs a change.
 */
export function* updateRecord(ft: FtraceRuntime, site: Site): KPath<void> {
  let count = 0;
  let only: OpsRec | null = null;
  // FTRACE_FL_DIRECT: a direct ops (not modify's stub) traces this ip. direct_functions holds
  // one entry per ip, so at most one such ops is registered on it.
  let direct = false;
  for (const op of ft.reg.list) {
    if (!opsTraces(op, site.ip)) continue;
    count++;
    only = op;
    if (op.direct && !op.stub) direct = true;
  }
  const t = count === 1 && only!.trampoline !== null && !only!.trampoline.retired ? only!.trampoline : null;
  if (site.refcount === count && site.tramp === t && site.direct === direct) return;
  site.refcount = count;
  site.tramp = t;
  site.direct = direct;
  ft.reg.dirty.add(site);
  yield* emit({ type: 'ftrace/rec', ip: site.ip, refcount: count, tramp: t?.id ?? null, ...(direct ? { direct } : {}) });
}

/**
 * ftrace_replace_code: patches every site among `sites` whose target differs from what its
 * record wants, with a scheduling point before each (other CPUs keep calling the functions
 * while the text is rewritten).
 */
export function* replaceCode(ft: FtraceRuntime, sites: Iterable<Site>): KPath<void> {
  for (const site of sites) {
    const to = wantedTarget(ft, site);
    if (to === site.targetRef) continue;
    yield* schedPoint();
    yield* patchSite(ft, site, to);
  }
}

/** ftrace_update_trampoline: keep a static ops' trampoline, else allocate one (or do without). */
export function* updateTrampoline(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  if (op.trampoline !== null) return; // a static ops' trampoline, reused as it is
  // A direct ops' trampoline is ftrace_regs_caller ("allocated trampolines should not call
  // direct functions"): its sites call the direct trampoline or the list function.
  if (op.direct) return;
  if (op.dynamic && !ft.options.dynamicTrampolines) {
    yield* emit({ type: 'ftrace/tramp-none', ops: op.id, reason: 'dynamic-off' });
    return;
  }
  yield* archFtraceUpdateTrampoline(ft, op);
}

/**
 * update_ftrace_function: the lone ops' callback, or the list function. Going to the list
 * function needs no care (it ignores function_trace_op). Going to a callback: with the fix,
 * the list function first, every CPU synchronized (synchronize_rcu_tasks_rude; RCU-sched
 * stands in, as in ftrace_shutdown), then the op, every CPU synchronized again (the
 * ftrace_sync_ipi), then the function. The caller holds ftrace_lock.
 */
export function* updateFtraceFunction(ft: FtraceRuntime): KPath<void> {
  if (!ft.options.directCaller) return;
  const list = ft.reg.list;
  const func = list.length === 1 ? list[0]! : null;
  if (func === ft.traceFunction) return;
  if (func === null || !ft.options.slightRaceFix) {
    if (func !== null) ft.traceOp = func;
    ft.traceFunction = func;
    yield* emit({ type: 'ftrace/trace-function', func: func?.id ?? null, op: ft.traceOp?.id ?? null });
    return;
  }
  ft.traceFunction = null;
  yield* emit({ type: 'ftrace/trace-function', func: null, op: ft.traceOp?.id ?? null });
  yield* synchronizeRcu();
  ft.traceOp = func;
  // smp_wmb, then smp_call_function(ftrace_sync_ipi): every CPU has taken the IPI, so no
  // caller that loaded the old op (its loads are in one preempt-off section) is still
  // between its two loads when the function changes.
  yield* synchronizeRcu();
  ft.traceFunction = func;
  yield* emit({ type: 'ftrace/trace-function', func: func.id, op: func.id });
}

/**
 * register_ftrace_function. Under ftrace_lock: puts the ops on ftrace_ops_list and raises its
 * records in one step, allocates its trampoline, patches each changed site. Returns 0; -EBUSY
 * when the ops object is already registered, or when it sets IPMODIFY on a function another
 * IPMODIFY ops traces; -EINVAL when an entry of its lists matched no function, or for IPMODIFY
 * without SAVE_REGS or with an empty filter (every function). Nothing is left for the caller to do.
 * An IPMODIFY ops first takes direct_mutex and asks the direct ops on its functions to share
 * them (prepare_direct_functions_for_ipmodify): their refusal is returned.
 */
export function* registerFtraceFunction(ft: FtraceRuntime, ops: FtraceOps): KPath<number> {
  if (ops.flags?.includes('IPMODIFY') !== true || ft.options.ipmodifyShare === 'skip') return yield* registerFtraceFunctionNolock(ft, ops);
  // An IPMODIFY ops: under direct_mutex, the direct ops on its functions are asked to share
  // them first (prepare_direct_functions_for_ipmodify), then it registers. Other ops skip this
  // (upstream takes direct_mutex for every ops; for them the prepare step does nothing).
  yield* mutexLock(DIRECT_MUTEX);
  try {
    const op = opsRecOf(ft, ops);
    // A registration that fails for its own reasons below sends no command.
    if (!op.registered && op.unmatched === null && op.filter !== null && ops.flags?.includes('SAVE_REGS') === true) {
      const ret = yield* prepareDirectFunctionsForIpmodify(ft, op);
      if (ret !== 0) return ret;
    }
    return yield* registerFtraceFunctionNolock(ft, ops);
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/** register_ftrace_function_nolock: the registration under ftrace_lock (the caller holds direct_mutex, or needs none). */
function* registerFtraceFunctionNolock(ft: FtraceRuntime, ops: FtraceOps): KPath<number> {
  yield* mutexLock(FTRACE_LOCK);
  try {
    const op = opsRecOf(ft, ops);
    if (op.registered) return -EBUSY;
    if (op.unmatched !== null) {
      yield* printk(`ftrace: ${op.label}: filter entry ${JSON.stringify(op.unmatched)} matches no function: -EINVAL`);
      return -EINVAL;
    }
    const refused = yield* ipmodifyRefused(ft, op);
    if (refused !== 0) return refused;
    op.freedByOwner = false;
    yield* ftraceStartup(ft, op);
    return 0;
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
}

/**
 * IPMODIFY needs SAVE_REGS (the callback changes regs->ip); an IPMODIFY ops must name its
 * functions: an empty filter (every function) is -EINVAL (ftrace_hash_ipmodify_enable passes a
 * NULL hash for it, which __ftrace_hash_update_ipmodify refuses: "we do not allow ftrace_ops to
 * set all functions"); and only one IPMODIFY ops may trace a function: a live patch and a
 * kprobe that both redirect it would fight over the return address. 0, -EINVAL or -EBUSY, with
 * a printk saying which. The caller holds ftrace_lock.
 */
function* ipmodifyRefused(ft: FtraceRuntime, op: OpsRec): KPath<number> {
  const flags = op.ops.flags ?? [];
  if (flags.includes('IPMODIFY') && !flags.includes('SAVE_REGS')) return -EINVAL;
  if (!flags.includes('IPMODIFY')) return 0;
  if (op.filter === null) {
    yield* printk(`ftrace: ${op.label}: an IPMODIFY ops with an empty filter would modify every function: -EINVAL`);
    return -EINVAL;
  }
  declareSites(ft, op.filterList);
  syncSites(ft);
  return yield* ipmodifyClash(ft, op, op.filterList);
}

/**
 * __ftrace_hash_update_ipmodify's "cannot have two ipmodify on same rec": -EBUSY (with a
 * printk naming the function and the other ops) when another registered IPMODIFY ops traces
 * one of `ips`, else 0. The caller holds ftrace_lock.
 */
function* ipmodifyClash(ft: FtraceRuntime, op: OpsRec, ips: readonly string[]): KPath<number> {
  for (const ip of ips) {
    const other = ft.reg.list.find((o) => o !== op && o.ops.flags?.includes('IPMODIFY') === true && opsTraces(o, ip));
    if (other !== undefined) {
      yield* printk(`ftrace: ${op.label}: ${ip} is already modified by IPMODIFY ops ${other.label}: -EBUSY`);
      return -EBUSY;
    }
  }
  return 0;
}

/**
 * ftrace_hash_move's checks for an IPMODIFY ops, before its hashes change (ftrace_hash_move
 * and ftrace_hash_ipmodify_update → __ftrace_hash_update_ipmodify): a new notrace set is
 * -EINVAL, registered or not ("Reject setting notrace hash on IPMODIFY ftrace_ops"); for a
 * registered one, an empty new filter is -EINVAL and a newly traced function another IPMODIFY
 * ops traces is -EBUSY. A direct ops on a newly traced function is told nothing, as upstream
 * (only register_ftrace_function asks it, through prepare_direct_functions_for_ipmodify;
 * docs/ftrace.md, decision 12). 0 otherwise. The caller holds ftrace_lock.
 */
function* ipmodifyHashUpdateRefused(ft: FtraceRuntime, op: OpsRec, filter: readonly string[], notrace: readonly string[]): KPath<number> {
  if (op.ops.flags?.includes('IPMODIFY') !== true) return 0;
  const sameNotrace = notrace.length === op.notraceList.length && notrace.every((n) => op.notraceList.includes(n));
  if (!sameNotrace) {
    yield* printk(`ftrace: ${op.label}: an IPMODIFY ops takes no notrace hash: -EINVAL`);
    return -EINVAL;
  }
  if (!op.registered) return 0;
  if (filter.length === 0) {
    yield* printk(`ftrace: ${op.label}: an IPMODIFY ops with an empty filter would modify every function: -EINVAL`);
    return -EINVAL;
  }
  return yield* ipmodifyClash(
    ft,
    op,
    filter.filter((ip) => !op.filterList.includes(ip)),
  );
}

/** ftrace_startup: the register transaction. The caller holds ftrace_lock. */
export function* ftraceStartup(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  const me = yield* current();
  declareSites(ft, op.filterList);
  const fresh = syncSites(ft);
  yield* emit({ type: 'ftrace/update-start', op: 'register', ops: op.id, pid: me.pid });
  // Functions first seen since the last update pick up the ops already registered
  // (ftrace_module_enable), before the new one joins.
  for (const s of fresh) yield* updateRecord(ft, s);
  // One step: the ops goes on the list and every record it matches is raised.
  op.registered = true;
  ft.reg.list = Object.freeze([...ft.reg.list, op]);
  yield* emit({
    type: 'ftrace/ops-registered',
    ops: op.id,
    label: op.label,
    flags: [...(op.dynamic ? (['DYNAMIC'] as const) : []), ...(op.direct && !op.stub ? (['DIRECT', 'SAVE_REGS'] as const) : [])],
    filter: [...op.filterList],
    notrace: [...op.notraceList],
  });
  yield* updateTrampoline(ft, op);
  const touched = sitesOf(ft, op);
  for (const s of touched) yield* updateRecord(ft, s);
  yield* replaceCode(ft, [...fresh, ...touched]);
  yield* updateFtraceFunction(ft);
  yield* emit({ type: 'ftrace/update-end', ops: op.id });
}

/**
 * unregister_ftrace_function. Under ftrace_lock: takes the ops off the list and lowers its
 * records, unpatches its sites, and for a DYNAMIC ops waits and frees its trampoline
 * (ftraceShutdown). Returns 0, or -ENOENT when the ops is not registered. Once it returns, no
 * task is on the ops' trampoline or in its callback, so the caller may free a DYNAMIC ops.
 * After an IPMODIFY ops, the direct ops on its functions are told they need not share them.
 */
export function* unregisterFtraceFunction(ft: FtraceRuntime, ops: FtraceOps): KPath<number> {
  const ret = yield* unregisterOps(ft, () => ft.reg.byOps.get(ops));
  // An IPMODIFY ops that left: the direct ops on its functions may stop sharing them
  // (cleanup_direct_functions_after_ipmodify, after ftrace_lock is released).
  const op = ft.reg.byOps.get(ops);
  if (ret === 0 && op !== undefined && ops.flags?.includes('IPMODIFY') === true) yield* cleanupDirectFunctionsAfterIpmodify(ft, op);
  return ret;
}

/**
 * unregister_ftrace_function for ftrace's record of an ops, looked up under ftrace_lock (a
 * direct ops' unregister comes here too): once the lock is released, the owner of a DYNAMIC
 * ops may free it. Returns 0, or -ENOENT when the ops is not registered.
 */
export function* unregisterOps(ft: FtraceRuntime, lookup: () => OpsRec | undefined): KPath<number> {
  yield* mutexLock(FTRACE_LOCK);
  let op: OpsRec | undefined;
  try {
    op = lookup();
    if (op === undefined || !op.registered) return -ENOENT;
    yield* removeOps(ft, op);
    yield* ftraceShutdown(ft, op);
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
  if (op.dynamic && ft.options.listWalk === 'steps') {
    // The owner of a DYNAMIC ops frees it once unregister returns (perf, trace instances);
    // modelled with the stepped walk, the only one a walker can be inside across it.
    op.freedByOwner = true;
    yield* emit({ type: 'ftrace/ops-freed', ops: op.id });
  }
  return 0;
}

/** The unregister transaction: off the list, records lowered, sites unpatched. The caller holds ftrace_lock. */
function* removeOps(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  const me = yield* current();
  const fresh = syncSites(ft);
  yield* emit({ type: 'ftrace/update-start', op: 'unregister', ops: op.id, pid: me.pid });
  for (const s of fresh) yield* updateRecord(ft, s);
  // One step: off the list, records lowered. The trampoline stops being anyone's TRAMP.
  op.registered = false;
  ft.reg.list = Object.freeze(ft.reg.list.filter((x) => x !== op));
  const t = op.trampoline;
  if (t !== null && op.dynamic) t.retired = true;
  yield* emit({ type: 'ftrace/ops-removed', ops: op.id });
  const touched = sitesOf(ft, op);
  for (const s of touched) yield* updateRecord(ft, s);
  // Unpatch: from here on no site calls the trampoline, but a task may still be on it.
  yield* replaceCode(ft, [...fresh, ...touched]);
  yield* updateFtraceFunction(ft);
  yield* emit({ type: 'ftrace/update-end', ops: op.id });
}

/**
 * ftrace_shutdown's wait and free, after the sites are unpatched: a DYNAMIC ops may be freed by
 * its owner once unregister returns, trampoline or not, so every DYNAMIC ops waits for the
 * callers that may still hold it (the kernel's "we must make sure that all callers are done
 * before leaving this function"). The caller holds ftrace_lock, across the waits.
 */
export function* ftraceShutdown(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  const { options, tasksRcu } = ft;
  const t = op.trampoline;
  if (op.dynamic && !(options.shutdownWait === 'trampoline-only' && t === null)) {
    if (t !== null) yield* emit({ type: 'ftrace/tramp-retired', tramp: t.id, ops: op.id, wait: options.freeTrampolineAfter });
    // synchronize_rcu_tasks_rude: every CPU has passed a context switch, so no CPU still has
    // the old call target in flight, an idle CPU inside an instrumented idle routine (RCU not
    // watching) included. A context switch on every CPU also ends every RCU-sched reader
    // begun before, so it stands for synchronize_rcu too. `cpuSync: 'rcu-sched'` (the unsafe
    // variant) waits for RCU-sched alone, which the idle loop's extended quiescent state satisfies.
    if (options.cpuSync === 'tasks-rude') yield* tasksRcu.synchronizeRcuTasksRude();
    else yield* synchronizeRcu();
    // A task preempted on the trampoline is not covered by the above (preemption is an
    // RCU-sched quiescent state). synchronize_rcu_tasks waits until every task that was
    // runnable in the kernel has switched voluntarily or been in user mode: off the trampoline.
    if (options.freeTrampolineAfter === 'rcu-tasks') yield* tasksRcu.synchronizeRcuTasks();
    if (t !== null) {
      t.freed = true;
      op.trampoline = null;
      yield* emit({ type: 'ftrace/tramp-freed', tramp: t.id, ops: op.id });
    }
  }
  yield* emit({ type: 'ftrace/ops-shutdown', ops: op.id });
}

/**
 * ftrace_set_filter / ftrace_set_notrace. Under ftrace_lock: expands the patterns against the
 * functions defined now and replaces the ops' hashes; on a registered ops, in one update that
 * keeps its trampoline (setFilterLocked). Returns 0, or (nothing changed, a printk says why)
 * -EINVAL when an entry matches no function, and for an IPMODIFY ops the checks of
 * ipmodifyHashUpdateRefused: -EINVAL for a new notrace set or, registered, an empty filter;
 * -EBUSY for a new function another IPMODIFY ops modifies.
 */
export function* ftraceSetFilter(ft: FtraceRuntime, ops: FtraceOps, entries: readonly string[], notraceEntries: readonly string[]): KPath<number> {
  yield* mutexLock(FTRACE_LOCK);
  try {
    const op = opsRecOf(ft, ops);
    declareSites(
      ft,
      entries.filter((e) => !e.startsWith('!') && !isPattern(e)),
    );
    // Patterns are expanded now, against the functions defined now (ftrace_match_records).
    const known = Object.keys((yield* getState()).functions);
    const f = expandFilter(entries, known);
    const n = expandFilter(notraceEntries, known);
    if ('unmatched' in f || 'unmatched' in n) {
      const bad = 'unmatched' in f ? f.unmatched : (n as { unmatched: string }).unmatched;
      yield* printk(`ftrace: set_ftrace_filter: ${JSON.stringify(bad)} matches no function: -EINVAL`);
      return -EINVAL;
    }
    const refused = yield* ipmodifyHashUpdateRefused(ft, op, f.names, n.names);
    if (refused !== 0) return refused;
    if (!op.registered) {
      op.setHashes(f.names, n.names);
      yield* emit({ type: 'ftrace/filter-set', ops: op.id, filter: [...op.filterList], notrace: [...op.notraceList] });
      return 0;
    }
    yield* setFilterLocked(ft, op, f.names, n.names);
    return 0;
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
}

/** The set-filter transaction on a registered ops. The caller holds ftrace_lock. */
function* setFilterLocked(ft: FtraceRuntime, op: OpsRec, filter: readonly string[], notrace: readonly string[]): KPath<void> {
  const me = yield* current();
  const fresh = syncSites(ft);
  yield* emit({ type: 'ftrace/update-start', op: 'set-filter', ops: op.id, pid: me.pid });
  for (const s of fresh) yield* updateRecord(ft, s);
  const before = sitesOf(ft, op);
  // The list caller for the whole transaction: every site on this ops' trampoline that the
  // new hashes drop goes to the list caller (which tests the hashes) before they change, so
  // the trampoline never calls the callback for a function its ops no longer traces.
  const next = new OpsRec(op.id, op.ops, op.label, op.dynamic);
  next.setHashes(filter, notrace);
  for (const s of before) {
    if (s.targetRef === op.trampoline && op.trampoline !== null && !opsTraces(next, s.ip)) {
      yield* schedPoint();
      yield* patchSite(ft, s, 'list');
    }
  }
  // One step: the new hashes are published and the records follow them.
  op.setHashes(filter, notrace);
  yield* emit({ type: 'ftrace/filter-set', ops: op.id, filter: [...op.filterList], notrace: [...op.notraceList] });
  const after = sitesOf(ft, op);
  const touched = new Set([...fresh, ...before, ...after]);
  for (const s of touched) yield* updateRecord(ft, s);
  // The same trampoline serves the new sites: it calls the same callback (reused, not copied).
  yield* replaceCode(ft, touched);
  yield* emit({ type: 'ftrace/update-end', ops: op.id });
}
