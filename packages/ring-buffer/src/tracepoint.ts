/**
 * The ring buffer's tracepoints on `@tracelab/tracepoints` (lttng-modules' probe glue,
 * lttng_wrapper_tracepoint_probe_register and the event table): each definition adds its CTF
 * event class here and its tracepoint (key, probe arrays, call site) to the tracepoints
 * plugin's table. The call site checks the fields against the definition and calls
 * `tracepoints.trace`. Ring-buffer probes take `(fields, data)`; they are connected through a
 * wrapper per probe function, so the same (probe, data) pair names the same entry there.
 */
import { EINVAL, TracelabError, type KPath } from '@tracelab/core';
import type { TracepointProbe as TpProbe } from '@tracelab/tracepoints';
import type { CtfEventClass } from '@tracelab/formats';
import type { TracepointDefinition, TracepointFields, TracepointProbe } from './events.js';
import { withSyscallProbe } from './lttng_syscalls.js';
import type { RingBufferSession, Tracepoint } from './internal/session.js';

/**
 * DEFINE_TRACE, host side: adds `def` to the table, disarmed, and returns its CTF event id.
 * Throws INVALID_OPTION for a name that is not a C identifier, a duplicate (here or in the
 * tracepoints table), user fields on a
 * tracepoint that is not faultable, a user field that is not a string, or two fields of one name.
 */
export function defineTracepoint(st: RingBufferSession, def: TracepointDefinition): number {
  if (typeof def !== 'object' || def === null || typeof def.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(def.name)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `ring-buffer.defineTracepoint: name must be a C identifier (the tracepoints table's rule), got ${JSON.stringify((def as { name?: unknown } | null)?.name)}`,
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
  const tp: Tracepoint = { id, def, ec, faultable: def.faultable === true, userFields, byField: new Map(def.fields.map((f) => [f.name, f])) };
  if (st.tp.site(def.name) !== undefined)
    throw new TracelabError('INVALID_OPTION', `ring-buffer.defineTracepoint: the tracepoints plugin already has a tracepoint named ${def.name}`);
  st.tp.defineTracepoint(def.name, { faultable: tp.faultable });
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
  return st.tp.enabled(def.name);
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

/**
 * The call site, trace_<name>(fields): with the static key off it returns at once. Otherwise
 * the fields are checked against the definition and `tracepoints.trace` runs the probes inside
 * the reader section of the tracepoint's flavour: preempt_disable (RCU-sched) for a normal
 * tracepoint, rcu_read_lock_trace (preemptible, may fault) for a faultable one.
 * INVALID_OPTION for an unknown name or fields that do not match.
 */
export function* trace(st: RingBufferSession, name: string, values: TracepointFields): KPath<void> {
  const tp = lookup(st, name);
  if (!st.tp.enabled(name)) return; // static key off
  checkFields(tp, values);
  yield* st.tp.trace(name, values);
}

/**
 * The probe `tracepoints` calls for a ring-buffer probe: `(data, fields)` to `(fields, data)`.
 * One per probe function, made at its first registration and kept (host memo: written only
 * here, from registration paths and `register`), so unregister names the same entry; it
 * carries the probe's name, which the tracepoints labels use.
 */
export function tpProbeOf(st: RingBufferSession, probe: TracepointProbe): TpProbe {
  let w = st.wrappers.get(probe);
  if (w === undefined) {
    const fn = probe;
    w = (data: unknown, fields: unknown) => fn(fields as TracepointFields, data);
    Object.defineProperty(w, 'name', { value: probe.name === '' ? 'probe' : probe.name });
    st.wrappers.set(probe, w);
  }
  return w;
}

/**
 * tracepoint_probe_register_prio through `tracepoints`: 0, -EEXIST (this probe with this data
 * is there already), -ENOMEM, or -EINVAL (no such tracepoint here, or the probe is not a
 * function). A syscall event's first probe also connects lttng's syscall probe to
 * sys_enter/sys_exit (lttng_syscalls.ts), which sets TIF_SYSCALL_TRACEPOINT on every task.
 */
export function* probeRegister(st: RingBufferSession, name: string, probe: TracepointProbe, data?: unknown, prio = 10): KPath<number> {
  if (!st.byName.has(name) || typeof probe !== 'function') return -EINVAL;
  return yield* withSyscallProbe(st, name, () => st.tp.probeRegisterPrio(name, tpProbeOf(st, probe), data, prio));
}

/**
 * tracepoint_probe_unregister through `tracepoints`: 0 (also for a pair that is not there
 * while others are), -ENOENT (no probe at all), -EINVAL (no such tracepoint here). The caller
 * must wait for a grace period of the tracepoint's flavour (`tracepoints.synchronizeUnregister`)
 * before freeing `data`.
 */
export function* probeUnregister(st: RingBufferSession, name: string, probe: TracepointProbe, data?: unknown): KPath<number> {
  if (!st.byName.has(name) || typeof probe !== 'function') return -EINVAL;
  return yield* withSyscallProbe(st, name, () => st.tp.probeUnregister(name, tpProbeOf(st, probe), data));
}

/**
 * A session created before the workload (`enableAll`): the channel probe is connected at boot
 * (`bootProbeRegister`) to every tracepoint whose name matches `globs`, with the tracepoint's
 * definition as its data.
 */
export function attachAtStart(st: RingBufferSession, globs: readonly string[]): void {
  const wanted = globMatcher(globs);
  for (const tp of st.byId) {
    if (!wanted(tp.def.name)) continue;
    const r = st.tp.bootProbeRegister('ring-buffer', tp.def.name, st.channelTpProbe, tp);
    if (r !== 0) throw new TracelabError('INVALID_OPTION', `ring-buffer: connecting the channel to ${tp.def.name} at boot returned ${r}`);
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
