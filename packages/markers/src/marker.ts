/*
 * kernel/marker.c (2.6.24-2.6.31), step for step: the registry of marker entries under
 * markers_mutex (add_marker, remove_marker, marker_entry_add_probe, marker_entry_remove_probe),
 * the re-arming of every site of a name (marker_update_probes, set_marker, disable_marker), the
 * hand-off of the old probe array to call_rcu_sched (free_old_closure, rcu_pending and
 * rcu_barrier_sched), marker_probe_register / marker_probe_unregister, module sites armed at
 * load, and marker_probe_cb, the call of a site's probes.
 *
 * Every path takes the plugin instance (internal/instance.ts) first: the registry it works on,
 * the options and the faults. Paths that write the registry log the write in the same step
 * (`logHot`).
 */
import {
  EBUSY,
  ENOENT,
  ENOMEM,
  EPERM,
  callRcu,
  current,
  describeValue,
  emit,
  getState,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  printk,
  schedPoint,
  shouldFailAlloc,
  synchronizeRcu,
  waitEvent,
  wakeUp,
  withProbe,
  type KPath,
  type KernelState,
} from '@tracelab/core';
import type { MarkerTransition } from './events.js';
import type { MarkerProbe, MarkersState } from './types.js';
import { logHot, type MarkersInstance } from './internal/instance.js';
import { isSiteSpec } from './internal/options.js';
import { EMPTY_CLOSURE, Site, closuresOf, probeKey, type Closure, type Entry, type ProbeArray } from './internal/registry.js';

/** A probe's priority when none is given (as TRACEPOINT_DEFAULT_PRIO). */
export const DEFAULT_PRIO = 10;

/**
 * The mutex every registry change runs under (the reference's `markers_mutex`). Taken by
 * register, unregister and the module hooks; nests inside no other lock. The paths may sleep
 * holding it (rcu_barrier_sched), as the reference does.
 */
export const MARKERS_MUTEX = 'markers_mutex';

/** What marker_entry_add_probe / marker_entry_remove_probe did: the old array to retire, or an errno. */
export type AddResult = { readonly old: ProbeArray | null; readonly transition: MarkerTransition; readonly closure: Closure } | number;
/** As AddResult; null: that probe was not connected. */
export type RemoveResult = AddResult | null;

const sameClosure = (c: Closure, probe: MarkerProbe, probePrivate: unknown): boolean => c.probe === probe && Object.is(c.probePrivate, probePrivate);

// ---- the registry side, every step under markers_mutex ------------------------------------------

/** add_marker: a new entry for `name`, with no probe yet. */
export function* addMarker(m: MarkersInstance, name: string, format: string | null): KPath<Entry> {
  const entry: Entry = { name, format, ptype: 0, single: EMPTY_CLOSURE, multi: null, refcount: 0, rcuPending: false };
  m.reg.entries.set(name, entry);
  yield* logHot(m, { type: 'markers/entry-created', name, format });
  return entry;
}

/**
 * rcu_barrier_sched, narrowed to what the reference needs it for: the entry has one rcu_head,
 * so before it is reused (or the entry freed) the pending free_old_closure must have run.
 * Sleeps (with markers_mutex held, as the reference does) until the callback clears the flag.
 */
export function* rcuBarrierSched(m: MarkersInstance, entry: Entry): KPath<void> {
  if (m.faults.skipRcuBarrier === true) return;
  yield* waitEvent(`markers-rcu:${entry.name}`, () => !entry.rcuPending);
}

/**
 * With `rcuPendingBitfield`: the load of the word ptype shares with rcu_pending, which the
 * compiler may do early (here at the start of the transition, a scheduling point before the
 * store). Returns the rcu_pending bit as loaded; null with plain ints.
 */
function* loadPtypeWord(m: MarkersInstance, entry: Entry): KPath<boolean | null> {
  if (!m.options.rcuPendingBitfield) return null;
  const pending = entry.rcuPending;
  yield* schedPoint();
  return pending;
}

/** entry->ptype = ptype: with the shared word, rcu_pending as loaded is stored back with it. */
function setPtype(entry: Entry, ptype: 0 | 1, word: boolean | null): void {
  entry.ptype = ptype;
  if (word !== null) entry.rcuPending = word;
}

/** marker_entry_add_probe: the 0->1, 1->2 and N->N+1 transitions. Returns the old array or an errno. */
export function* markerEntryAddProbe(m: MarkersInstance, entry: Entry, probe: MarkerProbe, probePrivate: unknown, prio: number): KPath<AddResult> {
  const word = yield* loadPtypeWord(m, entry);
  const closures = closuresOf(entry);
  if (closures.some((c) => sameClosure(c, probe, probePrivate))) return -EBUSY;
  const closure = m.reg.closure(probe, probePrivate, prio);
  if (closures.length === 0) {
    // 0 -> 1: the single slot, no allocation (the common case stays allocation-free).
    entry.single = closure;
    setPtype(entry, 0, word);
    entry.refcount = 1;
    return { old: null, transition: '0->1', closure };
  }
  // 1 -> 2 and N -> N+1: a new array with the probe appended; the old one stays valid for
  // callers still walking it until it is freed (never realloc'd in place).
  if (yield* shouldFailAlloc()) return -ENOMEM;
  const old = entry.ptype === 1 ? entry.multi : null;
  // Inserted before the first probe of strictly lower priority (tracepoint_probe_register_prio).
  entry.multi = m.reg.newArray(entry.name, withProbe(closures, closure).entries);
  setPtype(entry, 1, word);
  entry.refcount = closures.length + 1;
  return { old, transition: closures.length === 1 ? '1->2' : 'N->N+1', closure };
}

/** marker_entry_remove_probe: 1->0, N->1 and N->N-1. null: that probe was not connected. */
export function* markerEntryRemoveProbe(m: MarkersInstance, entry: Entry, probe: MarkerProbe, probePrivate: unknown): KPath<RemoveResult> {
  const word = yield* loadPtypeWord(m, entry);
  const closures = closuresOf(entry);
  const gone = closures.find((c) => sameClosure(c, probe, probePrivate));
  if (gone === undefined) return null;
  const rest = closures.filter((c) => c !== gone);
  if (rest.length === 0) {
    // 1 -> 0: the empty function goes back in the single slot; nothing to free.
    entry.single = EMPTY_CLOSURE;
    setPtype(entry, 0, word);
    entry.refcount = 0;
    return { old: null, transition: '1->0', closure: gone };
  }
  const old = entry.multi;
  if (rest.length === 1) {
    // N -> 1: the survivor moves into the single slot; the array is retired.
    entry.single = rest[0]!;
    setPtype(entry, 0, word);
    entry.multi = null;
    entry.refcount = 1;
    return { old, transition: 'N->1', closure: gone };
  }
  if (yield* shouldFailAlloc()) return -ENOMEM;
  entry.multi = m.reg.newArray(entry.name, rest);
  entry.refcount = rest.length;
  return { old, transition: 'N->N-1', closure: gone };
}

/**
 * set_marker / disable_marker for one site, from its entry. A site whose format differs from
 * the entry's is left alone with a printk, as the reference does; an entry with no format
 * yet takes the site's (marker_set_format).
 */
export function* markerUpdateSite(m: MarkersInstance, site: Site, entry: Entry | undefined): KPath<void> {
  let changed: boolean;
  if (entry !== undefined && entry.refcount > 0) {
    if (entry.format === null) {
      entry.format = site.format;
      yield* logHot(m, { type: 'markers/format-set', name: entry.name, format: site.format });
    } else if (entry.format !== site.format) {
      yield* printk(`Format mismatch for probe ${entry.name} (${entry.format}), marker (${site.format})`);
      return;
    }
    changed = site.publish(entry);
  } else {
    changed = site.disarm();
  }
  if (!changed) return;
  yield* logHot(m, {
    type: 'markers/site-armed',
    name: site.name,
    module: site.module,
    armed: site.armed,
    probes: closuresOf(site).length,
    array: site.ptype === 1 ? site.multi!.id : null,
  });
}

/** marker_update_probes for one name: every core and module site of that name. */
export function* markerUpdateProbes(m: MarkersInstance, name: string): KPath<void> {
  const entry = m.reg.entries.get(name);
  for (const site of m.reg.sitesNamed(name)) yield* markerUpdateSite(m, site, entry);
}

/** The RCU-sched grace period that must complete before what is retired now may be freed. */
function* graceNeeded(): KPath<number> {
  const rcu = (yield* getState()).rcu;
  return rcu.gp !== null ? rcu.gp.seq + 1 : rcu.completed + 1;
}

function* gracePeriodsCompleted(): KPath<number> {
  return (yield* getState()).rcu.completed;
}

/** free_old_closure: runs after a grace period, in whatever context ended it; never blocks. */
export function freeOldClosure(m: MarkersInstance, entry: Entry, old: ProbeArray | null): () => KPath<void> {
  return function* freeOldClosureCb() {
    if (old !== null) old.freed = true;
    entry.rcuPending = false;
    const completed = yield* gracePeriodsCompleted();
    yield* logHot(m, { type: 'markers/array-freed', name: entry.name, array: old?.id ?? null, deferred: true, completed });
    yield* wakeUp(`markers-rcu:${entry.name}`);
  };
}

/** entry->oldptr = old; rcu_pending = 1; call_rcu_sched(free_old_closure). Or, unsafe, kfree(old) now. */
export function* retireOld(m: MarkersInstance, entry: Entry, old: ProbeArray | null): KPath<void> {
  if (m.options.freeOldArray === 'immediately') {
    if (old === null) return;
    yield* emit({ type: 'markers/array-retired', name: entry.name, array: old.id, deferred: false, callback: null, gp: yield* graceNeeded() });
    old.freed = true;
    const completed = yield* gracePeriodsCompleted();
    yield* logHot(m, { type: 'markers/array-freed', name: entry.name, array: old.id, deferred: false, completed });
    return;
  }
  // Even a NULL oldptr goes through call_rcu_sched, as in the reference: rcu_pending then
  // makes the next change on this name wait for that callback before it reuses the entry's
  // rcu_head. It does not keep changes a grace period apart: a change that takes the mutex
  // between another's publication and this hand-off publishes with no grace period between
  // the two (the reference has the same window; docs/markers.md decision 5).
  // Read before call_rcu_sched, which may itself start a grace period.
  const gp = yield* graceNeeded();
  const callback = yield* callRcu(freeOldClosure(m, entry, old), `free_old_closure(${entry.name})`);
  entry.rcuPending = true;
  yield* logHot(m, { type: 'markers/array-retired', name: entry.name, array: old?.id ?? null, deferred: true, callback, gp });
}

/** remove_marker: drops an entry with no probe left, once its pending free has run. */
export function* removeMarker(m: MarkersInstance, name: string): KPath<void> {
  const entry = m.reg.entries.get(name);
  if (entry === undefined || entry.refcount > 0) return;
  if (entry.rcuPending) yield* rcuBarrierSched(m, entry);
  m.reg.entries.delete(name);
  yield* logHot(m, { type: 'markers/entry-removed', name });
}

/**
 * The second half of register and unregister, after marker_update_probes: drop and re-take
 * the mutex, wait for a free still pending on this entry, and hand the old array to RCU.
 * Called and returns with markers_mutex held. Returns the entry, or undefined when it was
 * removed meanwhile.
 */
export function* retireAfterUpdate(m: MarkersInstance, name: string, old: ProbeArray | null): KPath<Entry | undefined> {
  // The reference drops markers_mutex around marker_update_probes: other CPUs and other
  // registrations act here.
  yield* mutexUnlock(MARKERS_MUTEX);
  yield* schedPoint();
  yield* mutexLock(MARKERS_MUTEX);
  const entry = m.reg.entries.get(name);
  // The entry was removed meanwhile (an unregister took its last probe): `old` is never
  // handed to call_rcu_sched nor freed. This is the reference's own leak (`if (!entry) goto
  // end;`), reproduced on purpose (docs/markers.md, "Reproduced reference behaviour").
  if (entry === undefined) return undefined;
  if (entry.rcuPending) yield* rcuBarrierSched(m, entry);
  yield* retireOld(m, entry, old);
  return entry;
}

/**
 * marker_probe_register. Returns 0, -EPERM (the format differs from the marker's or its
 * site's), -ENOMEM (the entry or the array could not be allocated) or -EBUSY (the same probe
 * and private data are connected). Takes markers_mutex and releases it through one exit; may
 * sleep. The caller must not free `probePrivate` until after unregister and a grace period.
 */
export function* markerProbeRegister(
  m: MarkersInstance,
  name: string,
  format: string | null,
  probe: MarkerProbe,
  probePrivate: unknown,
  prio: number,
): KPath<number> {
  yield* mutexLock(MARKERS_MUTEX);
  try {
    let entry = m.reg.entries.get(name);
    // The marker's format: the entry's, else the site's (a probe that disagrees with a defined
    // site is refused now rather than left unarmed with a printk).
    const known = entry?.format ?? m.reg.siteFormat(name);
    if (format !== null && known !== null && known !== format) return -EPERM;
    let created = false;
    if (entry === undefined) {
      if (yield* shouldFailAlloc()) return -ENOMEM;
      entry = yield* addMarker(m, name, format ?? known);
      created = true;
    } else if (format !== null && entry.format === null) {
      entry.format = format;
      yield* logHot(m, { type: 'markers/format-set', name, format });
    }
    // A call_rcu is pending for this entry: let it run before the rcu_head is reused.
    if (entry.rcuPending) yield* rcuBarrierSched(m, entry);
    const r = yield* markerEntryAddProbe(m, entry, probe, probePrivate, prio);
    if (typeof r === 'number') {
      if (created) {
        m.reg.entries.delete(name);
        yield* logHot(m, { type: 'markers/entry-removed', name });
      }
      return r;
    }
    // The registration and the re-arming of every site are one step: the probe is connected
    // (for the invariants) exactly when the sites can start calling it.
    yield* logHot(m, {
      type: 'markers/probe-registered',
      name,
      probe: r.closure.probeLabel,
      private: r.closure.privateLabel,
      prio,
      index: closuresOf(entry).indexOf(r.closure),
      transition: r.transition,
      probes: entry.refcount,
      array: entry.ptype === 1 ? entry.multi!.id : null,
    });
    yield* markerUpdateProbes(m, name);
    yield* retireAfterUpdate(m, name, r.old);
    return 0;
  } finally {
    yield* mutexUnlock(MARKERS_MUTEX);
  }
}

/**
 * marker_probe_unregister. Returns 0 (also when that probe was not connected), -ENOENT (no
 * marker of that name) or -ENOMEM (the N->N-1 array could not be allocated; the probe stays).
 * Takes markers_mutex and releases it through one exit; may sleep. A call already under way on
 * another CPU may still be inside the probe when it returns (see markerSynchronizeUnregister).
 */
export function* markerProbeUnregister(m: MarkersInstance, name: string, probe: MarkerProbe, probePrivate: unknown): KPath<number> {
  yield* mutexLock(MARKERS_MUTEX);
  try {
    const entry = m.reg.entries.get(name);
    if (entry === undefined) return -ENOENT;
    if (entry.rcuPending) yield* rcuBarrierSched(m, entry);
    const r = yield* markerEntryRemoveProbe(m, entry, probe, probePrivate);
    // Not connected: nothing changes and it is not an error. -ENOMEM: the probe stays.
    if (r === null || typeof r === 'number') return r ?? 0;
    // Disconnected exactly when the sites stop offering it (same step as the re-arming).
    yield* logHot(m, {
      type: 'markers/probe-unregistered',
      name,
      probe: r.closure.probeLabel,
      private: r.closure.privateLabel,
      transition: r.transition,
      probes: entry.refcount,
      array: entry.ptype === 1 ? entry.multi!.id : null,
    });
    yield* markerUpdateProbes(m, name);
    if ((yield* retireAfterUpdate(m, name, r.old)) !== undefined) yield* removeMarker(m, name);
    return 0;
  } finally {
    yield* mutexUnlock(MARKERS_MUTEX);
  }
}

/**
 * marker_synchronize_unregister: synchronize_sched. After it, no caller is still inside a probe
 * unregistered before it, so the probe's code and private data may be freed.
 */
export function* markerSynchronizeUnregister(): KPath<void> {
  yield* synchronizeRcu();
}

// ---- modules: sites armed at load (marker_update_probe_range), dropped at unload ----------------

/**
 * The moduleLoad hook (MODULE_STATE_COMING): the module's sites join the registry and are armed
 * with the probes registered for their names. `data.markers` comes from whoever loads the
 * module (kernel.paths.loadModule takes any data): checked here, what is not a site skipped
 * with a printk.
 */
export function* markerModuleComing(m: MarkersInstance, module: string, data: unknown): KPath<void> {
  const raw = (data as { markers?: unknown } | undefined)?.markers;
  if (raw === undefined) return;
  if (!Array.isArray(raw)) {
    yield* printk(`markers: module ${module}: markers must be an array of { name, format }, got ${describeValue(raw)}; no site loaded`);
    return;
  }
  const specs: Array<{ name: string; format: string }> = [];
  for (const x of raw as unknown[]) {
    if (isSiteSpec(x)) specs.push({ name: x.name, format: x.format });
    else yield* printk(`markers: module ${module}: skipping bad marker entry ${describeValue(x)} (want { name: C identifier, format: string })`);
  }
  if (specs.length === 0) return;
  yield* mutexLock(MARKERS_MUTEX);
  try {
    const sites = specs.map((x) => new Site(x.name, x.format, module));
    m.reg.moduleSites.set(module, sites);
    m.reg.touch(); // not logged: the module's sites are kernel text, like the core's
    for (const site of sites) yield* markerUpdateSite(m, site, m.reg.entries.get(site.name));
  } finally {
    yield* mutexUnlock(MARKERS_MUTEX);
  }
}

/** The moduleUnload hook (MODULE_STATE_GOING): the module's sites are disarmed and dropped. */
export function* markerModuleGoing(m: MarkersInstance, module: string): KPath<void> {
  const sites = m.reg.moduleSites.get(module);
  if (sites === undefined) return;
  yield* mutexLock(MARKERS_MUTEX);
  try {
    for (const site of sites) yield* markerUpdateSite(m, site, undefined);
    m.reg.moduleSites.delete(module);
    m.reg.touch();
  } finally {
    yield* mutexUnlock(MARKERS_MUTEX);
  }
}

// ---- the simulated call: marker_probe_cb --------------------------------------------------------

const sliceOf = (s: KernelState): MarkersState => s.plugins.markers!;

/** Was `c` registered on `name` at some moment since the read section began at `readVersion`? */
function registeredDuring(s: MarkersState, name: string, c: Closure, readVersion: number): boolean {
  const entry = s.entries[name];
  if (entry !== undefined && entry.probes.some((p) => p.probe === c.probeLabel && p.private === c.privateLabel)) return true;
  return (s.unregisteredAt[probeKey(name, c)] ?? -1) > readVersion;
}

/** A thrown value as text, for `markers/probe-fault` (never throws itself). */
function describeFault(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return 'a value that cannot be converted to a string';
  }
}

/** One probe call of marker_probe_cb, checked against the read section and contained if it throws. */
function* callProbe(
  m: MarkersInstance,
  site: Site,
  array: ProbeArray | null,
  c: Closure,
  callPrivate: unknown,
  args: readonly unknown[],
  readVersion: number,
): KPath<void> {
  const s = sliceOf(yield* getState());
  if (!registeredDuring(s, site.name, c, readVersion)) {
    const me = yield* current();
    yield* emit({
      type: 'markers/unregistered-probe-call',
      name: site.name,
      array: array?.id ?? null,
      probe: c.probeLabel,
      private: c.privateLabel,
      pid: me.pid,
    });
  }
  if (m.options.logProbeCalls) {
    const me = yield* current();
    yield* emit({
      type: 'markers/probe-call',
      name: site.name,
      module: site.module,
      probe: c.probeLabel,
      private: c.privateLabel,
      array: array?.id ?? null,
      pid: me.pid,
    });
  }
  // A probe that throws is contained here, as one faulty probe: it is reported and skipped
  // for this call, and the next probe runs. Letting it escape would oops the kernel path and
  // disable the whole plugin (and every plugin that calls through it). Only the probe call is
  // inside the try: no kernel command is yielded from within it.
  let fault: unknown;
  let faulted = false;
  try {
    c.probe(c.probePrivate, callPrivate, site.format, args);
  } catch (err) {
    fault = err;
    faulted = true;
  }
  if (faulted) {
    const me = yield* current();
    const message = describeFault(fault);
    yield* emit({ type: 'markers/probe-fault', name: site.name, module: site.module, probe: c.probeLabel, private: c.privateLabel, pid: me.pid, message });
  }
}

/**
 * marker_probe_cb in the simulation. Reading the probes (ptype, then single or the array
 * pointer: the rcu_dereference) and every call happen with preemption disabled, and a
 * scheduling point separates the read from each call: other CPUs may unregister, publish and
 * free in that window, and only the grace period keeps the array alive through it.
 */
export function* markerProbeCb(m: MarkersInstance, site: Site, callPrivate: unknown, args: readonly unknown[]): KPath<void> {
  if (!site.armed) return;
  yield* preemptDisable();
  const readVersion = sliceOf(yield* getState()).version;
  if (site.ptype === 0) {
    const c = site.single;
    yield* schedPoint();
    if (c !== EMPTY_CLOSURE) yield* callProbe(m, site, null, c, callPrivate, args, readVersion);
  } else {
    const array = site.multi!;
    const n = array.closures.length;
    for (let i = 0; i < n; i++) {
      yield* schedPoint();
      if (array.freed) {
        // The slab poison would be called here. Report it (the invariant halts the run) and
        // stop walking memory that is no longer ours.
        const me = yield* current();
        const c = array.closures[i]!;
        yield* emit({ type: 'markers/use-after-free', name: site.name, array: array.id, probe: c.probeLabel, private: c.privateLabel, pid: me.pid });
        break;
      }
      yield* callProbe(m, site, array, array.closures[i]!, callPrivate, args, readVersion);
    }
  }
  yield* preemptEnable();
}

/** trace_mark(name, ...): the core site of that name, else the first loaded module's. Unknown or disarmed: nothing. */
export function* traceMark(m: MarkersInstance, name: string, callPrivate: unknown, args: readonly unknown[]): KPath<void> {
  const site = m.reg.siteForMark(name);
  if (site !== undefined) yield* markerProbeCb(m, site, callPrivate, args);
}
