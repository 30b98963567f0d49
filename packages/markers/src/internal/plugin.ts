import {
  EBUSY,
  ENOENT,
  ENOMEM,
  EPERM,
  TracelabError,
  callRcu,
  current,
  describeValue,
  definePlugin,
  emit,
  getState,
  intMapGet,
  isGeneratorFunction,
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
  type KPath,
  type KernelState,
  type PluginContext,
  type TracelabPlugin,
} from '@tracelab/core';
import type { MarkerTransition } from '../events.js';
import type { MarkerProbe, MarkersApi, MarkersOptions, MarkersState, ResolvedMarkersOptions } from '../types.js';
import { registerReducers } from './reducers.js';
import { faultsOf, type MarkersFaults } from './faults.js';
import { EMPTY_CLOSURE, Registry, Site, closuresOf, probeKey, type Closure, type Entry, type ProbeArray } from './registry.js';

export const MARKERS_VERSION = '0.1.0';

/** A probe's priority when none is given (as TRACEPOINT_DEFAULT_PRIO). */
export const DEFAULT_PRIO = 10;

/** The mutex every registry change runs under (the reference's `markers_mutex`). */
export const MARKERS_MUTEX = 'markers_mutex';

/** The core kernel's own sites, fired from the core hooks (names and formats after LTTng 0.x). */
export const CORE_MARKERS = Object.freeze({
  /** contextSwitch hook, in the incoming task, preemption off. Args: prev, next, cpu, preempted (0/1). */
  schedSchedule: Object.freeze({ name: 'kernel_sched_schedule', format: 'prev_pid %d next_pid %d cpu %d preempted %d' }),
  /** fork hook at the `link` stage (the child is on the task list). Args: parent, child. */
  processFork: Object.freeze({ name: 'kernel_process_fork', format: 'parent_pid %d child_pid %d' }),
  /** exec hook, before task/exec. Args: pid, the new comm. */
  exec: Object.freeze({ name: 'fs_exec', format: 'pid %d filename %s' }),
  /** exit hook, in do_exit. Args: pid, code. */
  processExit: Object.freeze({ name: 'kernel_process_exit', format: 'pid %d code %d' }),
  /**
   * irq hook (a timer tick, with the core's `interrupts.timer`), first thing in the handler, in
   * hard-interrupt context. Args: irq id (0, the timer), kernel_mode (1 when the interrupted
   * task was in the kernel, 0 in user mode).
   */
  irqEntry: Object.freeze({ name: 'kernel_irq_entry', format: 'irq_id %u kernel_mode %u' }),
  /** irq hook, last thing in the handler. Args: irq id. */
  irqExit: Object.freeze({ name: 'kernel_irq_exit', format: 'irq_id %u' }),
});

/** The irq number the timer tick's markers carry (IRQ 0, the PC's timer). */
export const TIMER_IRQ = 0;

const OPTION_KEYS: ReadonlyArray<keyof MarkersOptions> = ['freeOldArray', 'logProbeCalls', 'coreMarkers', 'rcuPendingBitfield'];

function resolveOptions(options: unknown): ResolvedMarkersOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `markers: options must be an object with keys ${OPTION_KEYS.join(', ')}, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  const o = options as Record<string, unknown>;
  const unknownKeys = Object.keys(o).filter((key) => !(OPTION_KEYS as readonly string[]).includes(key));
  if (unknownKeys.length > 0) {
    throw new TracelabError(
      'INVALID_OPTION',
      `markers: unknown option ${unknownKeys.map((key) => JSON.stringify(key)).join(', ')}; the options are ${OPTION_KEYS.join(', ')}`,
    );
  }
  const freeOldArray = o['freeOldArray'] ?? 'after-grace-period';
  if (freeOldArray !== 'after-grace-period' && freeOldArray !== 'immediately') {
    throw new TracelabError('INVALID_OPTION', `markers: freeOldArray must be 'after-grace-period' or 'immediately', got ${describeValue(freeOldArray)}`);
  }
  const bool = (key: 'logProbeCalls' | 'coreMarkers' | 'rcuPendingBitfield', fallback: boolean): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') throw new TracelabError('INVALID_OPTION', `markers: ${key} must be a boolean, got ${describeValue(v)}`);
    return v;
  };
  return {
    freeOldArray,
    logProbeCalls: bool('logProbeCalls', false),
    coreMarkers: bool('coreMarkers', true),
    rcuPendingBitfield: bool('rcuPendingBitfield', false),
  };
}

function recordedOptions(o: ResolvedMarkersOptions): Partial<ResolvedMarkersOptions> {
  const { rcuPendingBitfield, ...rest } = o;
  return rcuPendingBitfield ? o : rest;
}

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A module site as the moduleLoad hook accepts it from `data.markers`. */
function isSiteSpec(x: unknown): x is { name: string; format: string } {
  if (typeof x !== 'object' || x === null) return false;
  const { name, format } = x as { name?: unknown; format?: unknown };
  return typeof name === 'string' && C_IDENTIFIER.test(name) && typeof format === 'string';
}

type AddResult = { readonly old: ProbeArray | null; readonly transition: MarkerTransition; readonly closure: Closure } | number;
type RemoveResult = { readonly old: ProbeArray | null; readonly transition: MarkerTransition; readonly closure: Closure } | null | number;

const sameClosure = (c: Closure, probe: MarkerProbe, probePrivate: unknown): boolean => c.probe === probe && Object.is(c.probePrivate, probePrivate);

/** A thrown value as text, for `markers/probe-fault` (never throws itself). */
function describeFault(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return 'a value that cannot be converted to a string';
  }
}

function checkName(where: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0)
    throw new TracelabError('INVALID_OPTION', `markers.${where}: name must be a non-empty string, got ${JSON.stringify(name)}`);
}

/**
 * The markers plugin: marker sites with a name and a format, probes connected by name with
 * private data, the 0/1/N transitions of kernel/marker.c, and old probe arrays freed after an
 * RCU-sched grace period. See docs/markers.md for the design and its decisions.
 */
export function markers(options?: MarkersOptions): TracelabPlugin<MarkersApi, MarkersState> {
  const resolved = resolveOptions(options);
  const faults = faultsOf(options);
  return definePlugin<MarkersApi, MarkersState>({
    name: 'markers',
    version: MARKERS_VERSION,
    core: '^0.1.0',
    // The log records the options; an option added later is recorded only when set, so the logs
    // (and state digests) of runs that do not use it stay as they were.
    options: recordedOptions(resolved),
    register: (ctx) => registerMarkers(ctx, resolved, faults),
  });
}

function registerMarkers(ctx: PluginContext<MarkersState>, options: ResolvedMarkersOptions, faults: MarkersFaults): MarkersApi {
  const reg = new Registry();
  registerReducers(ctx);

  // ---- the registry side (kernel/marker.c), every step under markers_mutex ------------------

  function* addMarker(name: string, format: string | null): KPath<Entry> {
    const entry: Entry = { name, format, ptype: 0, single: EMPTY_CLOSURE, multi: null, refcount: 0, rcuPending: false };
    reg.entries.set(name, entry);
    reg.hotVersion++;
    yield* emit({ type: 'markers/entry-created', name, format });
    return entry;
  }

  /**
   * rcu_barrier_sched, narrowed to what the reference needs it for: the entry has one rcu_head,
   * so before it is reused (or the entry freed) the pending free_old_closure must have run.
   * Sleeps (with markers_mutex held, as the reference does) until the callback clears the flag.
   */
  function* rcuBarrierSched(entry: Entry): KPath<void> {
    if (faults.skipRcuBarrier === true) return;
    yield* waitEvent(`markers-rcu:${entry.name}`, () => !entry.rcuPending);
  }

  /**
   * With `rcuPendingBitfield`: the load of the word ptype shares with rcu_pending, which the
   * compiler may do early (here at the start of the transition, a scheduling point before the
   * store). Returns the rcu_pending bit as loaded; null with plain ints.
   */
  function* loadPtypeWord(entry: Entry): KPath<boolean | null> {
    if (!options.rcuPendingBitfield) return null;
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
  function* entryAddProbe(entry: Entry, probe: MarkerProbe, probePrivate: unknown, prio: number): KPath<AddResult> {
    const word = yield* loadPtypeWord(entry);
    const closures = closuresOf(entry);
    if (closures.some((c) => sameClosure(c, probe, probePrivate))) return -EBUSY;
    const closure = reg.closure(probe, probePrivate, prio);
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
    const at = closures.findIndex((c) => c.prio < prio);
    const next = at < 0 ? [...closures, closure] : [...closures.slice(0, at), closure, ...closures.slice(at)];
    entry.multi = reg.newArray(entry.name, next);
    setPtype(entry, 1, word);
    entry.refcount = closures.length + 1;
    return { old, transition: closures.length === 1 ? '1->2' : 'N->N+1', closure };
  }

  /** marker_entry_remove_probe: 1->0, N->1 and N->N-1. null: that probe was not connected. */
  function* entryRemoveProbe(entry: Entry, probe: MarkerProbe, probePrivate: unknown): KPath<RemoveResult> {
    const word = yield* loadPtypeWord(entry);
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
    entry.multi = reg.newArray(entry.name, rest);
    entry.refcount = rest.length;
    return { old, transition: 'N->N-1', closure: gone };
  }

  /**
   * set_marker / disable_marker for one site, from its entry. A site whose format differs from
   * the entry's is left alone with a printk, as the reference does; an entry with no format
   * yet takes the site's (marker_set_format).
   */
  function* updateSite(site: Site, entry: Entry | undefined): KPath<void> {
    let changed: boolean;
    if (entry !== undefined && entry.refcount > 0) {
      if (entry.format === null) {
        entry.format = site.format;
        yield* emit({ type: 'markers/format-set', name: entry.name, format: site.format });
      } else if (entry.format !== site.format) {
        yield* printk(`Format mismatch for probe ${entry.name} (${entry.format}), marker (${site.format})`);
        return;
      }
      changed = site.publish(entry);
    } else {
      changed = site.disarm();
    }
    if (!changed) return;
    reg.hotVersion++;
    yield* emit({
      type: 'markers/site-armed',
      name: site.name,
      module: site.module,
      armed: site.armed,
      probes: closuresOf(site).length,
      array: site.ptype === 1 ? site.multi!.id : null,
    });
  }

  /** marker_update_probes for one name: every core and module site of that name. */
  function* updateProbes(name: string): KPath<void> {
    const entry = reg.entries.get(name);
    for (const site of reg.sitesNamed(name)) yield* updateSite(site, entry);
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
  function freeOldClosure(entry: Entry, old: ProbeArray | null): () => KPath<void> {
    return function* freeOldClosureCb() {
      if (old !== null) old.freed = true;
      entry.rcuPending = false;
      reg.hotVersion++;
      yield* emit({ type: 'markers/array-freed', name: entry.name, array: old?.id ?? null, deferred: true, completed: yield* gracePeriodsCompleted() });
      yield* wakeUp(`markers-rcu:${entry.name}`);
    };
  }

  /** entry->oldptr = old; rcu_pending = 1; call_rcu_sched(free_old_closure). Or, unsafe, kfree(old) now. */
  function* retireOld(entry: Entry, old: ProbeArray | null): KPath<void> {
    if (options.freeOldArray === 'immediately') {
      if (old === null) return;
      yield* emit({ type: 'markers/array-retired', name: entry.name, array: old.id, deferred: false, callback: null, gp: yield* graceNeeded() });
      old.freed = true;
      reg.hotVersion++;
      yield* emit({ type: 'markers/array-freed', name: entry.name, array: old.id, deferred: false, completed: yield* gracePeriodsCompleted() });
      return;
    }
    // Even a NULL oldptr goes through call_rcu_sched, as in the reference: rcu_pending then
    // makes the next change on this name wait for that callback before it reuses the entry's
    // rcu_head. It does not keep changes a grace period apart: a change that takes the mutex
    // between another's publication and this hand-off publishes with no grace period between
    // the two (the reference has the same window; docs/markers.md decision 5).
    // Read before call_rcu_sched, which may itself start a grace period.
    const gp = yield* graceNeeded();
    const callback = yield* callRcu(freeOldClosure(entry, old), `free_old_closure(${entry.name})`);
    entry.rcuPending = true;
    reg.hotVersion++;
    yield* emit({ type: 'markers/array-retired', name: entry.name, array: old?.id ?? null, deferred: true, callback, gp });
  }

  /** remove_marker: drops an entry with no probe left, once its pending free has run. */
  function* removeMarker(name: string): KPath<void> {
    const entry = reg.entries.get(name);
    if (entry === undefined || entry.refcount > 0) return;
    if (entry.rcuPending) yield* rcuBarrierSched(entry);
    reg.entries.delete(name);
    reg.hotVersion++;
    yield* emit({ type: 'markers/entry-removed', name });
  }

  /**
   * The second half of register and unregister, after marker_update_probes: re-take the mutex,
   * wait for a free still pending on this entry, and hand the old array to RCU.
   */
  function* retireAfterUpdate(name: string, old: ProbeArray | null): KPath<Entry | undefined> {
    // The reference drops markers_mutex around marker_update_probes: other CPUs and other
    // registrations act here.
    yield* mutexUnlock(MARKERS_MUTEX);
    yield* schedPoint();
    yield* mutexLock(MARKERS_MUTEX);
    const entry = reg.entries.get(name);
    // The entry was removed meanwhile (an unregister took its last probe): `old` is never
    // handed to call_rcu_sched nor freed. This is the reference's own leak (`if (!entry) goto
    // end;`), reproduced on purpose (docs/markers.md, "Reproduced reference behaviour").
    if (entry === undefined) return undefined;
    if (entry.rcuPending) yield* rcuBarrierSched(entry);
    yield* retireOld(entry, old);
    return entry;
  }

  function* probeRegister(name: string, format: string | null, probe: MarkerProbe, probePrivate: unknown, prio: number): KPath<number> {
    yield* mutexLock(MARKERS_MUTEX);
    let entry = reg.entries.get(name);
    // The marker's format: the entry's, else the site's (a probe that disagrees with a defined
    // site is refused now rather than left unarmed with a printk).
    const known = entry?.format ?? reg.siteFormat(name);
    if (format !== null && known !== null && known !== format) {
      yield* mutexUnlock(MARKERS_MUTEX);
      return -EPERM;
    }
    let created = false;
    if (entry === undefined) {
      if (yield* shouldFailAlloc()) {
        yield* mutexUnlock(MARKERS_MUTEX);
        return -ENOMEM;
      }
      entry = yield* addMarker(name, format ?? known);
      created = true;
    } else if (format !== null && entry.format === null) {
      entry.format = format;
      reg.hotVersion++;
      yield* emit({ type: 'markers/format-set', name, format });
    }
    // A call_rcu is pending for this entry: let it run before the rcu_head is reused.
    if (entry.rcuPending) yield* rcuBarrierSched(entry);
    const r = yield* entryAddProbe(entry, probe, probePrivate, prio);
    if (typeof r === 'number') {
      if (created) {
        reg.entries.delete(name);
        yield* emit({ type: 'markers/entry-removed', name });
      }
      reg.hotVersion++;
      yield* mutexUnlock(MARKERS_MUTEX);
      return r;
    }
    // The registration and the re-arming of every site are one step: the probe is connected
    // (for the invariants) exactly when the sites can start calling it.
    reg.hotVersion++;
    yield* emit({
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
    yield* updateProbes(name);
    yield* retireAfterUpdate(name, r.old);
    yield* mutexUnlock(MARKERS_MUTEX);
    return 0;
  }

  function* probeUnregister(name: string, probe: MarkerProbe, probePrivate: unknown): KPath<number> {
    yield* mutexLock(MARKERS_MUTEX);
    const entry = reg.entries.get(name);
    if (entry === undefined) {
      yield* mutexUnlock(MARKERS_MUTEX);
      return -ENOENT;
    }
    if (entry.rcuPending) yield* rcuBarrierSched(entry);
    const r = yield* entryRemoveProbe(entry, probe, probePrivate);
    if (r === null || typeof r === 'number') {
      // Not connected: nothing changes and it is not an error. -ENOMEM: the probe stays.
      yield* mutexUnlock(MARKERS_MUTEX);
      return r ?? 0;
    }
    reg.hotVersion++;
    // Disconnected exactly when the sites stop offering it (same step as the re-arming).
    yield* emit({
      type: 'markers/probe-unregistered',
      name,
      probe: r.closure.probeLabel,
      private: r.closure.privateLabel,
      transition: r.transition,
      probes: entry.refcount,
      array: entry.ptype === 1 ? entry.multi!.id : null,
    });
    yield* updateProbes(name);
    if ((yield* retireAfterUpdate(name, r.old)) !== undefined) yield* removeMarker(name);
    yield* mutexUnlock(MARKERS_MUTEX);
    return 0;
  }

  // ---- modules: sites armed at load (marker_update_probe_range), dropped at unload ----------

  ctx.tap('moduleLoad', function* ({ module, data }) {
    // data.markers comes from whoever loads the module (kernel.paths.loadModule takes any
    // data): check it here, skip what is not a site, and arm the rest.
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
    const sites = specs.map((x) => new Site(x.name, x.format, module));
    reg.moduleSites.set(module, sites);
    reg.hotVersion++;
    for (const site of sites) yield* updateSite(site, reg.entries.get(site.name));
    yield* mutexUnlock(MARKERS_MUTEX);
  });

  ctx.tap('moduleUnload', function* ({ module }) {
    const sites = reg.moduleSites.get(module);
    if (sites === undefined) return;
    yield* mutexLock(MARKERS_MUTEX);
    for (const site of sites) yield* updateSite(site, undefined);
    reg.moduleSites.delete(module);
    reg.hotVersion++;
    yield* mutexUnlock(MARKERS_MUTEX);
  });

  // ---- the simulated call: marker_probe_cb ---------------------------------------------------

  const sliceOf = (s: KernelState): MarkersState => s.plugins.markers!;

  /** Was `c` registered on `name` at some moment since the read section began at `readVersion`? */
  function registeredDuring(s: MarkersState, name: string, c: Closure, readVersion: number): boolean {
    const entry = s.entries[name];
    if (entry !== undefined && entry.probes.some((p) => p.probe === c.probeLabel && p.private === c.privateLabel)) return true;
    return (s.unregisteredAt[probeKey(name, c)] ?? -1) > readVersion;
  }

  function* callProbe(site: Site, array: ProbeArray | null, c: Closure, callPrivate: unknown, args: readonly unknown[], readVersion: number): KPath<void> {
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
    if (options.logProbeCalls) {
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
      yield* emit({
        type: 'markers/probe-fault',
        name: site.name,
        module: site.module,
        probe: c.probeLabel,
        private: c.privateLabel,
        pid: me.pid,
        message: describeFault(fault),
      });
    }
  }

  /**
   * marker_probe_cb in the simulation. Reading the probes (ptype, then single or the array
   * pointer: the rcu_dereference) and every call happen with preemption disabled, and a
   * scheduling point separates the read from each call: other CPUs may unregister, publish and
   * free in that window, and only the grace period keeps the array alive through it.
   */
  function* markSite(site: Site, callPrivate: unknown, args: readonly unknown[]): KPath<void> {
    if (!site.armed) return;
    yield* preemptDisable();
    const readVersion = sliceOf(yield* getState()).version;
    if (site.ptype === 0) {
      const c = site.single;
      yield* schedPoint();
      if (c !== EMPTY_CLOSURE) yield* callProbe(site, null, c, callPrivate, args, readVersion);
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
        yield* callProbe(site, array, array.closures[i]!, callPrivate, args, readVersion);
      }
    }
    yield* preemptEnable();
  }

  /** trace_mark(name, ...): the core site of that name, else the first loaded module's. */
  function* mark(name: string, callPrivate: unknown, args: readonly unknown[]): KPath<void> {
    const site = reg.siteForMark(name);
    if (site !== undefined) yield* markSite(site, callPrivate, args);
  }

  // ---- the core kernel's own sites -----------------------------------------------------------

  if (options.coreMarkers) {
    const sched = reg.defineCore(CORE_MARKERS.schedSchedule.name, CORE_MARKERS.schedSchedule.format);
    const fork = reg.defineCore(CORE_MARKERS.processFork.name, CORE_MARKERS.processFork.format);
    const exec = reg.defineCore(CORE_MARKERS.exec.name, CORE_MARKERS.exec.format);
    const exit = reg.defineCore(CORE_MARKERS.processExit.name, CORE_MARKERS.processExit.format);
    // Each handler returns at once, with no step and no event, while its site is disarmed.
    ctx.tap('contextSwitch', function* ({ cpu, prev, next, preempted }) {
      if (sched.armed) yield* markSite(sched, undefined, [prev, next, cpu, preempted ? 1 : 0]);
    });
    ctx.tap(
      'fork',
      function* ({ parent, child }) {
        // Parent 0 is a host-started task's own fork tail, not a fork: kernel_process_fork stays quiet.
        if (fork.armed && parent !== 0) yield* markSite(fork, undefined, [parent, child]);
      },
      { stage: 'link' },
    );
    ctx.tap('exec', function* ({ pid, comm }) {
      if (exec.armed) yield* markSite(exec, undefined, [pid, comm]);
    });
    ctx.tap('exit', function* ({ pid, code }) {
      if (exit.armed) yield* markSite(exit, undefined, [pid, code]);
    });
    const irqEntry = reg.defineCore(CORE_MARKERS.irqEntry.name, CORE_MARKERS.irqEntry.format);
    const irqExit = reg.defineCore(CORE_MARKERS.irqExit.name, CORE_MARKERS.irqExit.format);
    // Probes called from a hard interrupt: the handler is an RCU-sched reader (its preempt
    // count has the hardirq part), so the grace period before a free covers it like a task's.
    ctx.tap('irq', function* ({ name }) {
      if (name !== 'timer' || (!irqEntry.armed && !irqExit.armed)) return;
      if (irqEntry.armed) {
        const me = yield* current();
        const mode = me.pid === 0 ? 'kernel' : (intMapGet((yield* getState()).tasks, me.pid)?.mode ?? 'kernel');
        yield* markSite(irqEntry, undefined, [TIMER_IRQ, mode === 'user' ? 0 : 1]);
      }
      if (irqExit.armed) yield* markSite(irqExit, undefined, [TIMER_IRQ]);
    });
  }

  // ---- invariants -----------------------------------------------------------------------------

  ctx.invariant('markers/no-use-after-free', (s) => {
    const r = s.plugins.markers?.reports.find((x) => x.kind === 'use-after-free');
    return (
      r !== undefined && `pid ${r.pid} called probe ${r.probe} (private ${r.private}) of marker ${r.name} through probe array #${r.array}, which had been freed`
    );
  });
  ctx.invariant('markers/freed-after-grace-period', (s) => {
    const f = s.plugins.markers?.earlyFrees[0];
    return (
      f !== undefined &&
      `probe array #${f.array} of marker ${f.name} was freed with ${f.completed} RCU-sched grace periods completed, but was retired needing grace period ${f.gp} (one that began after its retirement) to complete first`
    );
  });
  // SEMANTICS.md 2.1(d): rcu_pending <=> exactly one old array in flight on the entry's rcu_head.
  ctx.invariant('markers/rcu-pending', (s) => {
    const slice = s.plugins.markers;
    if (slice === undefined) return false;
    for (const [name, entry] of reg.entries) {
      const n = slice.entries[name]?.inFlight ?? 0;
      if (n > 1) return `marker ${name}: ${n} frees in flight on its one rcu_head (rcu_pending must mean exactly one)`;
      if (entry.rcuPending && n === 0) return `marker ${name}: rcu_pending is set with no free in flight (the next change would wait for it forever)`;
      if (!entry.rcuPending && n === 1) return `marker ${name}: rcu_pending is clear with a free in flight (the next change would reuse its rcu_head)`;
    }
    return false;
  });
  ctx.invariant('markers/probe-registered-during-call', (s) => {
    const r = s.plugins.markers?.reports.find((x) => x.kind === 'unregistered-probe');
    return (
      r !== undefined &&
      `pid ${r.pid} called probe ${r.probe} (private ${r.private}) of marker ${r.name}, which was not registered at any moment of its read section`
    );
  });
  let checkedSlice: MarkersState | undefined;
  let checkedHot = -1;
  ctx.invariant('markers/registry-matches-state', (s) => {
    const slice = s.plugins.markers;
    if (slice === undefined || (slice === checkedSlice && reg.hotVersion === checkedHot)) return undefined;
    const problem = registryProblem(reg, slice);
    if (problem === null) {
      checkedSlice = slice;
      checkedHot = reg.hotVersion;
      return undefined;
    }
    return problem;
  });

  // kernel.reset: the registry as registration left it, and the consistency check's memo cleared.
  const restoreRegistry = reg.mark();
  ctx.onReset(() => {
    restoreRegistry();
    checkedSlice = undefined;
    checkedHot = -1;
  });

  // ---- the API ----------------------------------------------------------------------------------

  return {
    options,
    defineMarker: (name, format) => reg.defineCore(name, format),
    probeRegister: (name, format, probe, probePrivate, prio = DEFAULT_PRIO) => {
      checkName('probeRegister', name);
      if (format !== null && typeof format !== 'string')
        throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): format must be a string or null`);
      if (typeof probe !== 'function') throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): probe must be a function`);
      // Probes are called synchronously, on the real fast path (site.call) too: a generator
      // function's body would never run there. Refused here rather than silently never called.
      if (isGeneratorFunction(probe))
        throw new TracelabError(
          'INVALID_OPTION',
          `markers.probeRegister(${name}): probe ${probe.name || '(anonymous)'} is a generator function; marker probes are called synchronously, so its body would never run: write it as a plain function`,
        );
      if (!Number.isInteger(prio)) throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): prio must be an integer, got ${String(prio)}`);
      return probeRegister(name, format, probe, probePrivate, prio);
    },
    probeUnregister: (name, probe, probePrivate) => {
      checkName('probeUnregister', name);
      if (typeof probe !== 'function') throw new TracelabError('INVALID_OPTION', `markers.probeUnregister(${name}): probe must be a function`);
      return probeUnregister(name, probe, probePrivate);
    },
    loadModule: (module, sites) => {
      checkName('loadModule', module);
      if (!Array.isArray(sites) || !sites.every((x) => isSiteSpec(x))) {
        throw new TracelabError('INVALID_OPTION', `markers.loadModule(${module}): sites must be an array of { name, format } with C-identifier names`);
      }
      return ctx.paths.loadModule(module, { markers: sites.map((x) => ({ name: x.name, format: x.format })) });
    },
    unloadModule: (module) => {
      checkName('unloadModule', module);
      return ctx.paths.unloadModule(module);
    },
    mark: (name, callPrivate, ...args) => mark(name, callPrivate, args),
    synchronizeUnregister: () => synchronizeRcu(),
    probes: (name) => {
      const entry = reg.entries.get(name);
      return entry === undefined ? [] : closuresOf(entry).map((c) => ({ probe: c.probe, probePrivate: c.probePrivate }));
    },
    site: (name, module = null) => (module === null ? reg.coreSites.get(name) : reg.moduleSites.get(module)?.find((x) => x.name === name)),
    sites: () => reg.allSites(),
  };
}

/** What the hot registry and the folded state disagree on, or null. */
function registryProblem(reg: Registry, slice: MarkersState): string | null {
  for (const [name, entry] of reg.entries) {
    const se = slice.entries[name];
    if (se === undefined) return `marker ${name} is in the registry but not in the state`;
    const hot = closuresOf(entry).map((c) => `${c.probeLabel}/${c.privateLabel}`);
    const folded = se.probes.map((p) => `${p.probe}/${p.private}`);
    if (hot.join(',') !== folded.join(',')) return `marker ${name}: the registry has probes [${hot.join(', ')}], the state [${folded.join(', ')}]`;
    if (entry.refcount !== hot.length) return `marker ${name}: refcount ${entry.refcount} with ${hot.length} probes`;
    const arrayId = entry.ptype === 1 ? entry.multi!.id : null;
    if (arrayId !== se.array) return `marker ${name}: the registry publishes array ${arrayId}, the state ${se.array}`;
    if (entry.multi !== null && (entry.multi.freed || !Object.isFrozen(entry.multi.closures)))
      return `marker ${name}: published array #${entry.multi.id} is ${entry.multi.freed ? 'freed' : 'mutable'}`;
    if (entry.format !== se.format) return `marker ${name}: format ${JSON.stringify(entry.format)} in the registry, ${JSON.stringify(se.format)} in the state`;
    if (entry.rcuPending !== se.rcuPending) return `marker ${name}: rcu_pending is ${entry.rcuPending} in the registry, ${se.rcuPending} in the state`;
    if (se.inFlight > 1) return `marker ${name}: ${se.inFlight} frees in flight on one rcu_head (rcu_pending must mean exactly one)`;
  }
  for (const name of Object.keys(slice.entries)) {
    if (!reg.entries.has(name)) return `marker ${name} is in the state but not in the registry`;
  }
  for (const site of reg.allSites()) {
    const entry = reg.entries.get(site.name);
    const shouldArm = entry !== undefined && entry.refcount > 0 && entry.format === site.format;
    const where = `site ${site.name}${site.module === null ? '' : ` of module ${site.module}`}`;
    if (site.armed !== shouldArm)
      return `${where} is ${site.armed ? 'armed' : 'disarmed'} but its marker has ${entry?.refcount ?? 0} probes${entry !== undefined && entry.format !== site.format ? ' and another format' : ''}`;
    if (shouldArm && (site.ptype !== entry.ptype || site.single !== entry.single || site.multi !== entry.multi))
      return `${where} calls other probes than its marker has`;
  }
  return null;
}
