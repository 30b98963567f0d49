/*
 * include/linux/tracepoint.h: the call site `trace_<name>(args)` (__DO_TRACE / __DO_TRACE_CALL)
 * and the iterator `__traceiter_<name>` that a static call points at while two or more probes
 * (or none) are connected.
 */
import { TracelabError, callbackPath, current, emit, getState, preemptDisable, preemptEnable, schedPoint, type KPath } from '@tracelab/core';
import { pairKey, tracepointsSlice } from './internal/reducers.js';
import { tpStubFunc, type ProbeArray, type Tracepoint } from './internal/registry.js';
import type { TracepointEnv } from './tracepoint.js';
import type { TracepointProbe, TracepointsState } from './events.js';

/** Was (probe, data) registered on `name` at some moment since the read section began at `readVersion`? */
function registeredDuring(s: TracepointsState, name: string, probe: string, data: string, readVersion: number): boolean {
  const tp = s.tracepoints[name];
  if (tp !== undefined && tp.probes.some((p) => !p.stub && p.probe === probe && p.data === data)) return true;
  return (s.unregisteredAt[pairKey(name, probe, data)] ?? -1) > readVersion;
}

/** One probe call, checked: the (probe, data) pair must have been registered during the read section. */
function* callProbe(
  env: TracepointEnv,
  tp: Tracepoint,
  arrayId: number,
  func: TracepointProbe,
  probeLabel: string,
  data: unknown,
  dataLabel: string,
  args: readonly unknown[],
  readVersion: number,
): KPath<void> {
  // tp_stub_func: an entry an unregister could not remove. Calling it is harmless by design.
  if (func === tpStubFunc) return;
  if (!registeredDuring(tracepointsSlice(yield* getState()), tp.name, probeLabel, dataLabel, readVersion)) {
    const me = yield* current();
    yield* emit({ type: 'tracepoints/unregistered-probe-call', name: tp.name, array: arrayId, probe: probeLabel, data: dataLabel, pid: me.pid });
  }
  if (env.opts.logProbeCalls) {
    const me = yield* current();
    yield* emit({ type: 'tracepoints/probe-call', name: tp.name, probe: probeLabel, data: dataLabel, array: arrayId, pid: me.pid });
  }
  yield* callbackPath(func(data, ...args));
}

function* freedArrayCall(tp: Tracepoint, funcs: ProbeArray, i: number): KPath<void> {
  // The slab poison would be read here: report it (the invariant halts the run) and stop
  // walking memory that is no longer ours.
  const f = funcs.funcs[i]!;
  const me = yield* current();
  yield* emit({ type: 'tracepoints/freed-array-call', name: tp.name, array: funcs.id, probe: f.probeLabel, data: f.dataLabel, pid: me.pid });
}

/**
 * __traceiter_<name>: re-reads tp->funcs (rcu_dereference_raw) and calls every entry in
 * order, each with its own data. A scheduling point between entries: other CPUs may publish
 * and free meanwhile, and only the read side's grace period keeps the array alive.
 */
function* traceIter(env: TracepointEnv, tp: Tracepoint, args: readonly unknown[], readVersion: number): KPath<void> {
  const funcs = tp.funcs;
  if (funcs === null) return;
  for (let i = 0; i < funcs.funcs.length; i++) {
    if (i > 0) yield* schedPoint();
    if (funcs.freed) {
      yield* freedArrayCall(tp, funcs, i);
      return;
    }
    const f = funcs.funcs[i]!;
    const func = f.func; // READ_ONCE: may be tp_stub_func
    yield* callProbe(env, tp, funcs.id, func, f.probeLabel, f.data, f.dataLabel, args, readVersion);
  }
}

/**
 * The call site. Static key off: nothing but the test (no step, no event). On: the read side
 * of the tracepoint's flavour, the array and its first entry's data loaded, then the static
 * call: straight to the single probe with that data, or to the iterator. A scheduling point
 * separates the data load from the static call: that window is why the 1->0->1 and 2->1
 * transitions wait.
 */
export function* traceCall(env: TracepointEnv, name: string, args: readonly unknown[]): KPath<void> {
  const tp = env.reg.tracepoints.get(name);
  if (tp === undefined) {
    throw new TracelabError(
      'INVALID_OPTION',
      `tracepoints.trace: no tracepoint named ${JSON.stringify(name)} (defined: ${[...env.reg.tracepoints.keys()].join(', ') || 'none'})`,
      {
        plugin: 'tracepoints',
        tracepoint: name,
      },
    );
  }
  if (!tp.key) return; // static_branch_unlikely: the disarmed fast path
  const faultable = tp.faultable && env.rcuTasks !== undefined;
  // A faultable tracepoint's probes run preemptible in a Tasks-Trace reader; others with
  // preemption off (rcu_read_lock_sched_notrace), an RCU-sched reader.
  if (faultable) yield* env.rcuTasks!.rcuReadLockTrace();
  else yield* preemptDisable();
  const readVersion = tracepointsSlice(yield* getState()).version;
  const funcs = tp.funcs; // rcu_dereference
  if (funcs !== null) {
    if (funcs.freed) yield* freedArrayCall(tp, funcs, 0);
    else {
      const first = funcs.funcs[0]!;
      const data = first.data;
      yield* schedPoint();
      const target = tp.staticCall; // static_call(tp_func_<name>)
      if (target === null) yield* traceIter(env, tp, args, readVersion);
      else yield* callProbe(env, tp, funcs.id, target.func, target.label, data, first.dataLabel, args, readVersion);
    }
  }
  if (faultable) yield* env.rcuTasks!.rcuReadUnlockTrace();
  else yield* preemptEnable();
}

/**
 * The real fast path, host-side and synchronous: the same key, array and static call that
 * `traceCall` reads, with no simulation around it (no reader section, no checks, no events).
 * Disarmed it is one field test. Probes must be plain functions here: a probe that returns a
 * kernel path (a generator function) can only run inside the simulation.
 */
export function hostCall(tp: Tracepoint, args: unknown[]): void {
  if (!tp.key) return;
  const funcs = tp.funcs;
  if (funcs === null) return;
  const target = tp.staticCall;
  if (target !== null) {
    if (target.func(funcs.funcs[0]!.data, ...args) !== undefined) notHostCallable(tp, target.label);
    return;
  }
  const list = funcs.funcs;
  for (let i = 0; i < list.length; i++) {
    const f = list[i]!;
    if (f.func(f.data, ...args) !== undefined) notHostCallable(tp, f.probeLabel);
  }
}

function notHostCallable(tp: Tracepoint, probe: string): never {
  throw new TracelabError(
    'INVALID_OPTION',
    `tracepoints site ${tp.name}: probe ${probe} returned a kernel path (a generator function); such probes run only through trace() inside the simulation`,
    { plugin: 'tracepoints', tracepoint: tp.name, probe },
  );
}
