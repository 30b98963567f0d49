/**
 * The ring buffer's tracepoint table, after the kernel's kernel/tracepoint.c: definitions
 * (DEFINE_TRACE), the call site (__DO_TRACE: the static key, then the probe array read inside
 * the reader section of the tracepoint's flavour), probe registration under tracepoints_mutex
 * with copy-on-write arrays released after a grace period, and syscall_regfunc's walk that
 * sets TIF_SYSCALL_TRACEPOINT on every task.
 */
import {
  EEXIST,
  EINVAL,
  ENOENT,
  TracelabError,
  callRcu,
  callbackPath,
  emit,
  getState,
  intMapValues,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  readLock,
  readUnlock,
  type KPath,
} from '@tracelab/core';
import type { CtfEventClass } from '@tracelab/formats';
import { TIF_SYSCALL_TRACEPOINT, TRACEPOINTS_MUTEX, type TracepointDefinition, type TracepointFields, type TracepointProbe } from './events.js';
import { needsSyscallFlag } from './tracepoints.js';
import type { ProbeArray, RingBufferSession, Tracepoint } from './internal/session.js';

/**
 * DEFINE_TRACE, host side: adds `def` to the table, disarmed, and returns its CTF event id.
 * Throws INVALID_OPTION for a name that is not an identifier, a duplicate, user fields on a
 * tracepoint that is not faultable, a user field that is not a string, or two fields of one name.
 */
export function defineTracepoint(st: RingBufferSession, def: TracepointDefinition): number {
  if (typeof def !== 'object' || def === null || typeof def.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_:]*$/.test(def.name)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `ring-buffer.defineTracepoint: name must be an identifier, got ${JSON.stringify((def as { name?: unknown } | null)?.name)}`,
    );
  }
  if (st.byName.has(def.name)) throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: tracepoint ${def.name} is already defined`);
  const userFields = def.fields.some((f) => f.user === true);
  if (userFields && def.faultable !== true)
    throw new TracelabError(
      'INVALID_OPTION',
      `ring-buffer.defineTracepoint: ${def.name} has user fields, so it must be faultable (its probe reads user memory)`,
    );
  for (const f of def.fields)
    if (f.user === true && f.type.kind !== 'string')
      throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: user field ${f.name} of ${def.name} must be a string`);
  const id = st.byId.length;
  const ec: CtfEventClass = { id, name: def.name, fields: def.fields.map((f) => ({ name: f.name, type: f.type })) };
  const names = new Set<string>();
  for (const f of def.fields) {
    if (names.has(f.name)) throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: ${def.name} has two fields named ${f.name}`);
    names.add(f.name);
  }
  const tp: Tracepoint = { id, def, ec, faultable: def.faultable === true, userFields, byField: new Map(def.fields.map((f) => [f.name, f])), funcs: null };
  st.byName.set(def.name, tp);
  st.byId.push(tp);
  return id;
}

/** The tracepoint named `name`; INVALID_OPTION listing the defined ones when there is none. */
export function lookup(st: RingBufferSession, name: string): Tracepoint {
  const tp = st.byName.get(name);
  if (tp === undefined)
    throw new TracelabError('INVALID_OPTION', `ring-buffer: no tracepoint named ${JSON.stringify(name)} (defined: ${[...st.byName.keys()].join(', ')})`);
  return tp;
}

/** static_key_enabled for a definition of the table. */
export function enabled(st: RingBufferSession, def: TracepointDefinition): boolean {
  return st.byName.get(def.name)!.funcs !== null;
}

/**
 * Checks a call site's fields against the definition: every name declared, integers as
 * numbers or bigints, strings as strings, user strings as addresses (numbers). A mismatch is
 * the call site's bug: INVALID_OPTION naming the tracepoint, the field and what it accepts.
 */
export function checkFields(tp: Tracepoint, values: TracepointFields): void {
  for (const key in values) {
    const f = tp.byField.get(key);
    const v = values[key];
    if (f === undefined)
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer.trace(${tp.def.name}): no field ${JSON.stringify(key)} (fields: ${tp.def.fields.map((x) => x.name).join(', ') || 'none'})`,
      );
    const want = f.user === true ? 'number' : f.type.kind === 'string' || f.type.kind === 'array' ? 'string' : 'integer';
    const ok =
      want === 'string'
        ? typeof v === 'string'
        : want === 'number'
          ? typeof v === 'number'
          : typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
    if (!ok)
      throw new TracelabError(
        'INVALID_OPTION',
        `ring-buffer.trace(${tp.def.name}): field ${key} must be ${want === 'number' ? 'a user address (number)' : want === 'string' ? 'a string' : 'an integer (number or bigint)'}, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`,
      );
  }
}

/** __traceiter: each probe of the array read at the call site, with its data. Reading a freed array is recorded as an error. */
function* callProbes(st: RingBufferSession, tp: Tracepoint, funcs: ProbeArray, values: TracepointFields): KPath<void> {
  for (const p of funcs.probes) {
    if (funcs.freed) st.errors.push(`${tp.def.name}: a reader used probe array ${funcs.id} after it was freed`);
    yield* callbackPath(p.fn(values, p.data));
  }
  if (funcs.freed) st.errors.push(`${tp.def.name}: probe array ${funcs.id} was freed while a reader was still inside it`);
}

/**
 * The call site, trace_<name>(fields): with the static key off (no probe array) it returns at
 * once. Otherwise the probes run inside the reader section of the tracepoint's flavour:
 * preempt_disable (RCU-sched) for a normal tracepoint, rcu_read_lock_trace (preemptible, may
 * fault) for a faultable one. INVALID_OPTION for an unknown name or fields that do not match.
 */
export function* trace(st: RingBufferSession, name: string, values: TracepointFields): KPath<void> {
  const tp = lookup(st, name);
  if (tp.funcs === null) return; // static key off
  checkFields(tp, values);
  if (tp.faultable) {
    yield* st.rcuTasks.rcuReadLockTrace();
    const funcs = tp.funcs;
    if (funcs !== null) yield* callProbes(st, tp, funcs, values);
    yield* st.rcuTasks.rcuReadUnlockTrace();
  } else {
    yield* preemptDisable();
    const funcs = tp.funcs;
    if (funcs !== null) yield* callProbes(st, tp, funcs, values);
    yield* preemptEnable();
  }
}

/**
 * rcu_assign_pointer of a new probe array (null when `probes` is empty: the key goes off),
 * the syscall_regfunc/unregfunc refcount on the first and last syscall tracepoint probe, and
 * release_probes: the old array is freed after a grace period of the readers' flavour.
 * Caller holds tracepoints_mutex.
 */
function* publish(st: RingBufferSession, tp: Tracepoint, probes: ProbeArray['probes']): KPath<void> {
  const old = tp.funcs;
  const wasSyscall = needsSyscallFlag(tp.def.name) && old !== null;
  tp.funcs = probes.length === 0 ? null : { id: st.nextArrayId++, probes, freed: false };
  const isSyscall = needsSyscallFlag(tp.def.name) && tp.funcs !== null;
  yield* emit({ type: 'ring-buffer/probes-published', tracepoint: tp.def.name, array: tp.funcs?.id ?? null, probes: probes.length });
  if (wasSyscall !== isSyscall) {
    st.syscallProbeCount += isSyscall ? 1 : -1;
    if (st.syscallProbeCount === (isSyscall ? 1 : 0)) yield* syscallFlagAllTasks(isSyscall);
  }
  if (old === null) return;
  const flavour = tp.faultable ? 'tasks-trace' : 'rcu-sched';
  yield* emit({ type: 'ring-buffer/array-retired', tracepoint: tp.def.name, array: old.id, flavour });
  const free = function* (): KPath<void> {
    old.freed = true;
    yield* emit({ type: 'ring-buffer/array-freed', tracepoint: tp.def.name, array: old.id });
  };
  // A faultable reader may sleep in a fault: only a tasks-trace grace period waits for it.
  if (tp.faultable) yield* st.rcuTasks.callRcuTasksTrace(free, `ring-buffer free ${tp.def.name}`);
  else yield* callRcu(free, `ring-buffer free ${tp.def.name}`);
}

/**
 * tracepoint_probe_register_prio under tracepoints_mutex: inserts before the first entry of
 * lower priority (higher first, ties in registration order). Returns 0, -EEXIST (this probe
 * with this data is there already) or -EINVAL (no such tracepoint, or the probe is not a
 * function). The old array is freed after a grace period.
 */
export function* probeRegister(st: RingBufferSession, name: string, probe: TracepointProbe, data?: unknown, prio = 10): KPath<number> {
  const tp = st.byName.get(name);
  if (tp === undefined || typeof probe !== 'function') return -EINVAL;
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    const cur = tp.funcs?.probes ?? [];
    if (cur.some((p) => p.fn === probe && Object.is(p.data, data))) return -EEXIST;
    const at = cur.findIndex((p) => p.prio < prio);
    const entry = { fn: probe, data, prio };
    const next = at < 0 ? [...cur, entry] : [...cur.slice(0, at), entry, ...cur.slice(at)];
    yield* publish(st, tp, next);
    return 0;
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}

/**
 * tracepoint_probe_unregister under tracepoints_mutex: 0 (also for a pair that is not there
 * while others are), -ENOENT (no probe at all), -EINVAL (no such tracepoint). The caller must
 * wait for a grace period of the tracepoint's flavour before freeing `data`.
 */
export function* probeUnregister(st: RingBufferSession, name: string, probe: TracepointProbe, data?: unknown): KPath<number> {
  const tp = st.byName.get(name);
  if (tp === undefined) return -EINVAL;
  yield* mutexLock(TRACEPOINTS_MUTEX);
  try {
    if (tp.funcs === null) return -ENOENT;
    const cur = tp.funcs.probes;
    const next = cur.filter((p) => !(p.fn === probe && Object.is(p.data, data)));
    if (next.length !== cur.length) yield* publish(st, tp, next);
    return 0;
  } finally {
    yield* mutexUnlock(TRACEPOINTS_MUTEX);
  }
}

/**
 * syscall_regfunc / syscall_unregfunc: sets (or clears) TIF_SYSCALL_TRACEPOINT on every
 * task, walking the task list under the tasklist read lock; forks linked later copy the
 * current setting at the `link` stage (sched.ts, processFork).
 */
export function* syscallFlagAllTasks(on: boolean): KPath<void> {
  yield* readLock();
  try {
    for (const t of intMapValues((yield* getState()).tasks)) {
      if (t.kthread || !t.listed || t.exitState !== null) continue;
      if ((t.flags[TIF_SYSCALL_TRACEPOINT] === true) === on) continue;
      yield* emit({ type: 'task/flags', pid: t.pid, set: on ? [TIF_SYSCALL_TRACEPOINT] : [], clear: on ? [] : [TIF_SYSCALL_TRACEPOINT] });
    }
  } finally {
    yield* readUnlock();
  }
}

/**
 * A session created before the workload (`enableAll`): `probe` is on every tracepoint whose
 * name matches `globs` from the start, as static arrays, with no grace period involved.
 */
export function attachAtStart(st: RingBufferSession, globs: readonly string[], probe: TracepointProbe): void {
  const wanted = globMatcher(globs);
  for (const tp of st.byId) {
    if (!wanted(tp.def.name)) continue;
    tp.funcs = { id: st.nextArrayId++, probes: [{ fn: probe, data: tp, prio: 10 }], freed: false };
    if (needsSyscallFlag(tp.def.name)) st.syscallProbeCount++;
  }
}

/** A name filter from globs (`*` any run of characters, `?` one character), as `lttng enable-event` takes them. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(
    (g) =>
      new RegExp(
        `^${g
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ),
  );
  return (name) => res.some((r) => r.test(name));
}
