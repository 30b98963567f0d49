/*
 * kernel/tracepoint.c, step for step: probe registration under tracepoints_mutex, the
 * copy-on-write probe arrays (func_add / func_remove), the transitions of tracepoint_add_func
 * and tracepoint_remove_func with their snapshots and waits (tp_rcu_get_state /
 * tp_rcu_cond_sync), release_probes, and the module coming/going notifier.
 */
import {
  EEXIST,
  EINVAL,
  ENOENT,
  ENOMEM,
  callRcu,
  callbackPath,
  emit,
  getState,
  mutexLock,
  mutexUnlock,
  printk,
  shouldFailAlloc,
  synchronizeRcu,
  withProbe,
  type EventInput,
  type KPath,
  type KernelState,
} from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { ModuleTracepointSpec, ResolvedTracepointsOptions, TracepointProbe, TracepointTransition, TracepointsState, TransitionSync } from './events.js';
import { tracepointsSlice } from './internal/reducers.js';
import { Tracepoint, liveFuncs, tpStubFunc, type ProbeArray, type Registry, type TpFunc } from './internal/registry.js';

/** The mutex every probe-array change runs under (upstream's `tracepoints_mutex`). */
export const TRACEPOINTS_MUTEX = 'tracepoints_mutex';

/** TRACEPOINT_DEFAULT_PRIO. */
export const TRACEPOINT_DEFAULT_PRIO = 10;

/**
 * The state of one tracepoints plugin instance (one kernel), as one explicit object: what the
 * kernel paths here and in call-site.ts, the module hooks, the invariants and the API share.
 * Built once, at registration. The folded state is the slice (written only by reducers).
 */
export interface TracepointEnv {
  /**
   * The hot table call sites read: tracepoints, keys, `funcs` pointers, static calls, arrays,
   * labels. guarded by: tracepoints_mutex for kernel paths (each field of Registry and
   * Tracepoint says the same where it is declared); the host-side `defineTracepoint` writes it
   * only between steps; the grace-period callback sets an old array's `freed`.
   */
  readonly reg: Registry;
  /** The options, resolved once by the factory. Never written. */
  readonly opts: ResolvedTracepointsOptions;
  /** The Tasks-Trace flavour, when `rcu-tasks` is in the stack. Never written. */
  readonly rcuTasks: RcuTasksApi | undefined;
  /**
   * What the consistency invariants last computed: the slice and hot version they checked, and
   * the problems found. Written only by internal/checks.ts and by `kernel.reset`.
   */
  readonly checked: { slice: TracepointsState | undefined; hot: number; problems: Partial<Record<TracepointsInvariantKey, string>> };
}

/** The invariants computed together from the hot table (TRACEPOINTS_INVARIANTS' keys). */
export type TracepointsInvariantKey = 'arrayOrder' | 'keyMatchesFuncs' | 'registryMatchesState';

const same = (f: TpFunc, func: TracepointProbe, data: unknown): boolean => f.func === func && Object.is(f.data, data);

// ---- grace-period bookkeeping: get_state_synchronize_rcu and its Tasks-Trace counterpart ----

/** The RCU-sched grace period that must complete before what is retired now may be freed. */
export function rcuGpNeeded(s: KernelState): number {
  return s.rcu.gp !== null ? s.rcu.gp.seq + 1 : s.rcu.completed + 1;
}

/** The same for Tasks-Trace: a GP in progress may have taken its reader snapshot already, so the next one. */
export function traceGpNeeded(s: KernelState): number {
  const f = s.plugins['rcu-tasks']?.trace;
  if (f === undefined) return 0;
  return f.gp !== null ? f.gp.gp + 1 : f.completed + 1;
}

export function traceGpCompleted(s: KernelState): number {
  return s.plugins['rcu-tasks']?.trace.completed ?? 0;
}

// ---- the hot writes, each logged in the step it happens ---------------------------------------

/** A core tracepoint enters the state at its first registration (host-side definitions are not logged). */
function* ensureDefined(tp: Tracepoint): KPath<void> {
  if (tracepointsSlice(yield* getState()).tracepoints[tp.name] !== undefined) return;
  yield* emit({ type: 'tracepoints/defined', name: tp.name, module: tp.module, faultable: tp.faultable });
}

/** static_branch_enable / static_branch_disable. */
function* setKey(env: TracepointEnv, tp: Tracepoint, on: boolean): KPath<void> {
  if (tp.key === on) return;
  tp.key = on;
  env.reg.touch();
  yield* emit({ type: 'tracepoints/key', name: tp.name, enabled: on });
}

/** tracepoint_update_call: the static call to the single probe, or (null) to the iterator. */
function* updateCall(env: TracepointEnv, tp: Tracepoint, single: TpFunc | null): KPath<void> {
  const target = single === null ? null : { func: single.func, label: single.probeLabel };
  const was = tp.staticCall;
  if (was === null && target === null) return;
  if (was !== null && target !== null && was.func === target.func) return;
  tp.staticCall = target;
  env.reg.touch();
  yield* emit({ type: 'tracepoints/static-call', name: tp.name, target: target?.label ?? 'iterator' });
}

/** tp_rcu_get_state: records the grace periods the next wait of `sync` must see completed. */
function* takeSnapshot(env: TracepointEnv, sync: TransitionSync, tp: Tracepoint): KPath<void> {
  const s = yield* getState();
  const prev = tracepointsSlice(s).snapshots[sync];
  // The snapshot is global, as upstream's tp_transition_snapshot[]: a later one supersedes an
  // earlier one (its grace periods are no older), and keeps a Tasks-Trace part taken by a
  // faultable tracepoint since the last wait.
  const wantTrace = tp.faultable && env.rcuTasks !== undefined && !env.opts.unsafe.includes('no-tasks-trace-transition-sync');
  const own = wantTrace ? traceGpNeeded(s) : null;
  const trace = own === null ? (prev?.trace ?? null) : Math.max(own, prev?.trace ?? 0);
  yield* emit({ type: 'tracepoints/snapshot', sync, name: tp.name, rcu: rcuGpNeeded(s), trace });
}

/**
 * tp_rcu_cond_sync: if a snapshot is ongoing, waits until its grace periods have completed
 * (cond_synchronize_rcu; for a faultable tracepoint's snapshot also a Tasks-Trace grace
 * period, which upstream's RCU-only wait does not give: a faultable reader may sleep across any
 * number of RCU-sched grace periods). Sleeps with tracepoints_mutex held, as upstream.
 */
function* condSync(env: TracepointEnv, sync: TransitionSync, tp: Tracepoint): KPath<void> {
  const snap = tracepointsSlice(yield* getState()).snapshots[sync];
  if (snap === null) return;
  if (env.opts.unsafe.includes('no-transition-sync')) {
    yield* emit({ type: 'tracepoints/transition-sync', sync, name: tp.name, waited: false, rcu: false, trace: false, skipped: 'no-transition-sync' });
    return;
  }
  const rcu = (yield* getState()).rcu.completed < snap.rcu;
  if (rcu) yield* synchronizeRcu();
  const trace = snap.trace !== null && env.rcuTasks !== undefined && traceGpCompleted(yield* getState()) < snap.trace;
  if (trace) yield* env.rcuTasks!.synchronizeRcuTasksTrace();
  yield* emit({ type: 'tracepoints/transition-sync', sync, name: tp.name, waited: rcu || trace, rcu, trace, skipped: null });
}

/**
 * release_probes: the old array goes to call_rcu (RCU-sched: the readers are preempt-off) or,
 * for a faultable tracepoint, call_rcu_tasks_trace (its readers may sleep in a fault). Never
 * blocks.
 */
function* releaseProbes(env: TracepointEnv, tp: Tracepoint, old: ProbeArray | null): KPath<void> {
  if (old === null) return;
  if (env.opts.unsafe.includes('free-immediately')) {
    yield* emit({ type: 'tracepoints/array-retired', name: tp.name, array: old.id, flavour: 'none', gp: 0, callback: null });
    old.freed = true;
    env.reg.touch();
    yield* emit({ type: 'tracepoints/array-freed', name: tp.name, array: old.id, flavour: 'none', completed: 0 });
    return;
  }
  const viaTrace = tp.faultable && env.rcuTasks !== undefined && !env.opts.unsafe.includes('free-with-call-rcu');
  const flavour = viaTrace ? 'tasks-trace' : 'rcu-sched';
  // Read before call_rcu, which may itself start a grace period.
  const s = yield* getState();
  const gp = viaTrace ? traceGpNeeded(s) : rcuGpNeeded(s);
  const reg = env.reg;
  const free = function* rcuFreeOldProbes(): KPath<void> {
    old.freed = true;
    reg.touch();
    const now = yield* getState();
    yield* emit({ type: 'tracepoints/array-freed', name: tp.name, array: old.id, flavour, completed: viaTrace ? traceGpCompleted(now) : now.rcu.completed });
  };
  const label = `release_probes(${tp.name})`;
  const callback = viaTrace ? yield* env.rcuTasks!.callRcuTasksTrace(free, label) : yield* callRcu(free, label);
  yield* emit({ type: 'tracepoints/array-retired', name: tp.name, array: old.id, flavour, gp, callback });
}

function addTransition(live: number): TracepointTransition {
  return live === 0 ? '0->1' : live === 1 ? '1->2' : 'N->N+1';
}

function removeTransition(liveBefore: number, remaining: number): TracepointTransition {
  if (remaining === liveBefore) return 'N->N';
  return remaining === 0 ? '1->0' : remaining === 1 ? '2->1' : 'N->N-1';
}

/**
 * tracepoint_add_func, with tracepoints_mutex held. Returns 0 or a negative errno.
 * SEMANTICS.md 2.2(b) register, steps 1 to 5.
 */
export function* tracepointAddFunc(env: TracepointEnv, tp: Tracepoint, func: TracepointProbe, data: unknown, prio: number): KPath<number> {
  // 1. regfunc before the first probe (the key is still off).
  if (tp.regfunc !== null && !tp.key) {
    const r = yield* callbackPath(tp.regfunc());
    const ret = typeof r === 'number' ? r : 0;
    yield* emit({ type: 'tracepoints/regfunc', name: tp.name, ret });
    if (ret < 0) return ret;
  }
  // 2. func_add: a new array, stubs purged, the probe before the first strictly lower prio.
  const old = tp.funcs;
  const live = liveFuncs(old);
  let failed = 0;
  if (live.some((f) => same(f, func, data))) failed = -EEXIST;
  else if (yield* shouldFailAlloc()) failed = -ENOMEM;
  if (failed !== 0) {
    // func_add failed after regfunc ran for this 0->1 (the key is still off): undo it, as the
    // 1->0 path does, or regfunc's side effects (the syscall refcount and flag walk) stay
    // with no probe to justify them. -EEXIST cannot reach here with the key off (no live
    // probe), so in practice it is -ENOMEM. Upstream fad217e16fde; older trees leak.
    if (tp.unregfunc !== null && !tp.key && !env.opts.unsafe.includes('no-regfunc-undo')) {
      yield* callbackPath(tp.unregfunc());
      yield* emit({ type: 'tracepoints/unregfunc', name: tp.name });
    }
    return failed;
  }
  const entry = env.reg.entry(func, data, prio);
  const { at, entries } = withProbe(live, entry);
  const next = env.reg.newArray(tp.name, entries);
  yield* ensureDefined(tp);
  const event = {
    type: 'tracepoints/registered',
    name: tp.name,
    probe: entry.probeLabel,
    data: entry.dataLabel,
    prio,
    index: at,
    transition: addTransition(live.length),
    probes: next.funcs.length,
    array: next.id,
    purged: (old?.funcs.length ?? 0) - live.length,
  } as const;
  const dataChanged = old !== null && !Object.is(next.funcs[0]!.data, old.funcs[0]!.data);
  // 4. publish, by the new array's size.
  switch (next.funcs.length) {
    case 1:
      // 0->1: a call site that loaded data before a 1->0 must not reach the new static call
      // with it. Wait for the grace period the 1->0 snapshot recorded.
      yield* condSync(env, '1-0-1', tp);
      yield* updateCall(env, tp, entry);
      yield* publish(env, tp, next, event);
      yield* setKey(env, tp, true);
      break;
    case 2:
      // 1->2: the iterator before the array, so a reader of the new array never reaches the
      // single probe's static call with the other probe's data.
      yield* updateCall(env, tp, null);
      yield* publish(env, tp, next, event);
      if (dataChanged) yield* takeSnapshot(env, 'n-2-1', tp);
      break;
    default:
      yield* publish(env, tp, next, event);
      if (dataChanged) yield* takeSnapshot(env, 'n-2-1', tp);
  }
  // 5. the old array after a grace period of the readers' flavour.
  yield* releaseProbes(env, tp, old);
  return 0;
}

/** rcu_assign_pointer(tp->funcs, next), and its event in the same step. */
function* publish(
  env: TracepointEnv,
  tp: Tracepoint,
  next: ProbeArray | null,
  event: EventInput<'tracepoints/registered'> | EventInput<'tracepoints/unregistered'>,
): KPath<void> {
  tp.funcs = next;
  env.reg.touch();
  yield* emit(event);
}

/**
 * tracepoint_remove_func, with tracepoints_mutex held. Returns 0 or a negative errno. A null
 * `func` (the module going notifier) removes every entry.
 */
export function* tracepointRemoveFunc(env: TracepointEnv, tp: Tracepoint, func: TracepointProbe | null, data: unknown): KPath<number> {
  const old = tp.funcs;
  if (old === null) return -ENOENT;
  const live = liveFuncs(old);
  // func_remove: entries going away are the pair's and every stub.
  const goes = (f: TpFunc): boolean => func === null || f.func === tpStubFunc || same(f, func, data);
  const kept = old.funcs.filter((f) => !goes(f));
  const matching = func === null ? live : live.filter((f) => same(f, func, data));
  let next: ProbeArray | null = null;
  if (kept.length > 0) {
    if (yield* shouldFailAlloc()) {
      // Could not allocate the smaller array: the pair's entries become tp_stub_func in the
      // published array (a reader calls the stub, which does nothing); nothing is published
      // or freed, and the next change purges the stubs.
      if (matching.length > 0 && func !== null) {
        for (const f of matching) f.func = tpStubFunc;
        env.reg.touch();
        yield* emit({
          type: 'tracepoints/stub-installed',
          name: tp.name,
          probe: matching[0]!.probeLabel,
          data: matching[0]!.dataLabel,
          array: old.id,
          stubs: matching.length,
        });
      }
      return 0;
    }
    next = env.reg.newArray(tp.name, kept);
  }
  const first = func === null ? undefined : (matching[0] ?? env.reg.entry(func, data, 0));
  const event = {
    type: 'tracepoints/unregistered',
    name: tp.name,
    probe: first?.probeLabel ?? '*',
    data: first?.dataLabel ?? '*',
    removed: matching.length,
    transition: removeTransition(live.length, kept.length),
    probes: kept.length,
    array: next?.id ?? null,
    purged: old.funcs.length - live.length,
  } as const;
  switch (kept.length) {
    case 0:
      // 1->0: unregfunc, key off, the static call back to the iterator (which handles NULL),
      // NULL published, and the snapshot the next 0->1 waits for.
      if (tp.unregfunc !== null && tp.key) {
        yield* callbackPath(tp.unregfunc());
        yield* emit({ type: 'tracepoints/unregfunc', name: tp.name });
      }
      yield* setKey(env, tp, false);
      yield* updateCall(env, tp, null);
      yield* publish(env, tp, null, event);
      yield* takeSnapshot(env, '1-0-1', tp);
      break;
    case 1:
      // 2->1: publish the survivor, then wait before the static call goes straight to it: a
      // reader that loaded the old first entry's data must not call the survivor with it.
      yield* publish(env, tp, next, event);
      if (!Object.is(kept[0]!.data, old.funcs[0]!.data)) yield* takeSnapshot(env, 'n-2-1', tp);
      yield* condSync(env, 'n-2-1', tp);
      yield* updateCall(env, tp, kept[0]!);
      break;
    default:
      yield* publish(env, tp, next, event);
      if (!Object.is(kept[0]!.data, old.funcs[0]!.data)) yield* takeSnapshot(env, 'n-2-1', tp);
  }
  yield* releaseProbes(env, tp, old);
  return 0;
}

/** tracepoint_probe_register_prio. `func` must be a function (else -EINVAL, func_add's WARN). */
export function* tracepointProbeRegisterPrio(env: TracepointEnv, name: string, func: unknown, data: unknown, prio: number): KPath<number> {
  if (typeof func !== 'function') return -EINVAL;
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    // Looked up under the mutex: a module's tracepoints come and go under it.
    const tp = env.reg.tracepoints.get(name);
    if (tp === undefined) return -ENOENT;
    return yield* tracepointAddFunc(env, tp, func as TracepointProbe, data, prio);
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}

/** tracepoint_probe_unregister. */
export function* tracepointProbeUnregister(env: TracepointEnv, name: string, func: unknown, data: unknown): KPath<number> {
  if (typeof func !== 'function') return -EINVAL;
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    const tp = env.reg.tracepoints.get(name);
    if (tp === undefined) return -ENOENT;
    return yield* tracepointRemoveFunc(env, tp, func as TracepointProbe, data);
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}

/**
 * tracepoint_synchronize_unregister: Tasks-Trace then RCU-sched, so that no call site of any
 * flavour is still inside a probe unregistered before the call. The caller may then free the
 * probe's data.
 */
export function* tracepointSynchronizeUnregister(env: TracepointEnv): KPath<void> {
  if (env.rcuTasks !== undefined && !env.opts.unsafe.includes('synchronize-unregister-rcu-only')) yield* env.rcuTasks.synchronizeRcuTasksTrace();
  yield* synchronizeRcu();
}

/** tracepoint_module_coming: the module's tracepoints join the table, disarmed. */
export function* tracepointModuleComing(env: TracepointEnv, module: string, specs: readonly ModuleTracepointSpec[]): KPath<void> {
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    const names: string[] = [];
    for (const spec of specs) {
      const faultable = spec.faultable === true;
      if (env.reg.tracepoints.has(spec.name)) {
        yield* printk(`tracepoints: module ${module}: tracepoint ${spec.name} is already defined; skipped`);
        continue;
      }
      if (faultable && env.rcuTasks === undefined) {
        yield* printk(`tracepoints: module ${module}: faultable tracepoint ${spec.name} needs the rcu-tasks plugin; skipped`);
        continue;
      }
      env.reg.tracepoints.set(spec.name, new Tracepoint(spec.name, module, faultable, null, null));
      names.push(spec.name);
      yield* emit({ type: 'tracepoints/defined', name: spec.name, module, faultable });
    }
    env.reg.modules.set(module, names);
    env.reg.touch();
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}

/**
 * tracepoint_module_going: the going notifier (tracers unregister what they left on the
 * module's tracepoints: here every entry, as func_remove with a NULL probe does), then the
 * quiescence check (upstream's WARN_ON_ONCE(tp->funcs)), then the tracepoints leave the table.
 * The arrays removed go through release_probes like any other.
 */
export function* tracepointModuleGoing(env: TracepointEnv, module: string): KPath<void> {
  const names = env.reg.modules.get(module);
  if (names === undefined) return;
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    for (const name of names) {
      const tp = env.reg.tracepoints.get(name);
      if (tp === undefined) continue;
      const left = liveFuncs(tp.funcs).length;
      if (tp.funcs !== null) {
        yield* emit({ type: 'tracepoints/module-probes-removed', module, name, probes: left });
        yield* tracepointRemoveFunc(env, tp, null, undefined);
      }
      if (tp.funcs !== null) yield* printk(`tracepoints: WARNING: module ${module} going with probes on ${name}`);
      env.reg.tracepoints.delete(name);
      yield* emit({ type: 'tracepoints/removed', name, module });
    }
    env.reg.modules.delete(module);
    env.reg.touch();
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}
