import type { KPath } from '@tracelab/core';

/**
 * A probe, as the kernel's `marker_probe_func`: `probePrivate` is what was given to
 * `probeRegister`, `callPrivate` what the call site passed, `format` the site's format string
 * and `args` the site's arguments (the kernel's `va_list *`). Probes run synchronously with
 * preemption disabled: they must not sleep, and must not keep `args` after they return.
 */
export type MarkerProbe = (probePrivate: unknown, callPrivate: unknown, format: string, args: readonly unknown[]) => void;

/**
 * A marker call site (`struct marker`): the real fast path. `call` is swapped whole when the
 * site's probes change: a no-op while disarmed, a direct call of the one probe, or a walk of
 * the current (immutable) probe array.
 */
export interface MarkerSite {
  readonly name: string;
  readonly format: string;
  /** The module that holds the site, or null for a core site. */
  readonly module: string | null;
  /** True while at least one probe is connected (the kernel's `state`). */
  readonly armed: boolean;
  /**
   * Fires the site synchronously: calls every probe connected now, in registration order.
   * Host-side and unguarded (it stays a bare call): a probe that throws propagates to the
   * caller of `call`, and the probes after it are not called for that call. `mark`, the
   * simulated call, catches it instead (`markers/probe-fault`).
   */
  call(callPrivate: unknown, ...args: unknown[]): void;
}

/** A probe connected to a marker name, as `probes(name)` lists it. */
export interface MarkerProbeClosure {
  readonly probe: MarkerProbe;
  readonly probePrivate: unknown;
}

export interface MarkersOptions {
  /**
   * When an old probe array is freed. `'after-grace-period'` (default, the reference): handed
   * to call_rcu_sched, so a caller still walking it (preemption off) finishes first.
   * `'immediately'` (unsafe, for scenarios): freed as soon as the new array is published, so a
   * caller on another CPU can call through a freed array (caught by `markers/no-use-after-free`).
   */
  readonly freeOldArray?: 'after-grace-period' | 'immediately';
  /** Log `markers/probe-call` for every probe `mark` calls. Default false (calls cost no event). */
  readonly logProbeCalls?: boolean;
  /**
   * Define the core kernel's own sites (`kernel_sched_schedule`, `kernel_process_fork`,
   * `fs_exec`, `kernel_process_exit`) and fire them from the core hooks. Default true.
   */
  readonly coreMarkers?: boolean;
  /**
   * The reference's `char rcu_pending:1; char ptype:1;` (seed 001, Andrew Morton: "rcu_pending
   * and ptype share the same word and modifications of one can trash modifications of the
   * other on a different cpu"). `true` models the shared word: the RCU callback's clear of
   * rcu_pending and the registry's writes of ptype are each a read of the word, a scheduling
   * point, and a write of the whole word back. Default false (plain ints). With
   * rcu_barrier_sched before every reuse the two never overlap (tested); the race needs the
   * barrier gone as well.
   */
  readonly rcuPendingBitfield?: boolean;
}

/** The options as recorded in the log (every field filled in). */
export type ResolvedMarkersOptions = Required<MarkersOptions>;

/** A probe as the state names it: labels stable within one run (`schedStats#1`, `obj#2`, `n:5`). */
export interface ProbeRef {
  readonly probe: string;
  readonly private: string;
  readonly prio: number;
}

/** One `marker_entry` of the registry, by name. */
export interface MarkerEntryState {
  readonly name: string;
  /** The format probes must match; null until a probe or an armed site gives one. */
  readonly format: string | null;
  /** Connected probes in call order; the length is the kernel's `refcount`. */
  readonly probes: readonly ProbeRef[];
  /** The published multi-probe array, or null while 0 or 1 probe is connected (`ptype == 0`). */
  readonly array: number | null;
  /** An old array (or NULL) was handed to call_rcu_sched and its callback has not run yet. */
  readonly rcuPending: boolean;
  /** Frees handed to call_rcu_sched and not run yet: the reference has one rcu_head per entry, so at most 1. */
  readonly inFlight: number;
}

/** A multi-probe array not yet freed. */
export interface ProbeArrayState {
  readonly id: number;
  readonly name: string;
  readonly probes: number;
  /** `published` while an entry points to it; `retired` once replaced, until freed. */
  readonly state: 'published' | 'retired';
  /** The RCU-sched grace period that must complete before the free, recorded at `markers/array-retired`; null until then. */
  readonly freeAfterGp: number | null;
}

/** An array freed before the grace period recorded at its retirement completed (`markers/freed-after-grace-period`). */
export interface EarlyFree {
  readonly name: string;
  readonly array: number;
  /** The grace period that had to complete (null: freed without having been retired). */
  readonly gp: number | null;
  /** Grace periods completed when it was freed. */
  readonly completed: number;
}

/** What `mark` found and the invariants report: a call through a freed array, or of a probe not registered during the call. */
export interface MarkerReport {
  readonly kind: 'use-after-free' | 'unregistered-probe';
  readonly name: string;
  readonly array: number | null;
  readonly probe: string;
  readonly private: string;
  readonly pid: number;
}

/** The plugin's slice: `state.plugins.markers`. Written only by reducers. */
export interface MarkersState {
  readonly entries: Readonly<Record<string, MarkerEntryState>>;
  readonly arrays: Readonly<Record<string, ProbeArrayState>>;
  /** Bumped by each registration change; a read section compares versions to know what was registered during it. */
  readonly version: number;
  /** `name|probe|private` → the version at which that probe was last unregistered. */
  readonly unregisteredAt: Readonly<Record<string, number>>;
  readonly reports: readonly MarkerReport[];
  /** Arrays freed too early (checked by `markers/freed-after-grace-period`). */
  readonly earlyFrees: readonly EarlyFree[];
  /** Counters over the run. */
  readonly stats: {
    readonly registered: number;
    readonly unregistered: number;
    readonly retired: number;
    readonly freed: number;
    readonly armings: number;
    /** Probes that threw when `mark` called them (`markers/probe-fault`), caught and skipped. */
    readonly probeFaults: number;
  };
}

export interface MarkersApi {
  /**
   * Declares a core site (static kernel text) and returns it; defining the same name and format
   * again returns the same site. Callable from host code and from another plugin's `register`.
   * A site defined while probes are registered for its name (with the same format) is armed at
   * once. Throws `INVALID_OPTION` for a bad name or a second definition with another format.
   */
  defineMarker(name: string, format: string): MarkerSite;
  /**
   * marker_probe_register: connects `probe` with `probePrivate` to every site named `name`, core
   * and module, now and loaded later. Runs under `markers_mutex` and may sleep (rcu barrier).
   * Returns 0, `-EBUSY` (the same probe and private are connected), `-EPERM` (`format` differs
   * from the marker's), or `-ENOMEM` (allocation failure injected). A `null` format is not
   * checked. `prio` (default 10): higher runs first, ties in registration order, as tracepoint
   * priorities (SEMANTICS.md 2.2). The caller must not free `probePrivate` until after `probeUnregister` and a grace
   * period (`synchronizeRcu`), as with marker_synchronize_unregister.
   */
  probeRegister(name: string, format: string | null, probe: MarkerProbe, probePrivate?: unknown, prio?: number): KPath<number>;
  /**
   * marker_probe_unregister. Returns 0 (also when that probe was not connected), `-ENOENT` (no
   * marker of that name is registered) or `-ENOMEM` (the N→M array could not be allocated; the
   * probe stays connected). After it returns, a call already running may still be inside the
   * probe until a grace period ends.
   */
  probeUnregister(name: string, probe: MarkerProbe, probePrivate?: unknown): KPath<number>;
  /**
   * marker_synchronize_unregister: synchronize_sched. Returns after a full RCU-sched grace
   * period: every caller that could still be inside a probe unregistered before the call (a
   * preempt-off read section) has left it, so the probe's code and private data may be freed.
   */
  synchronizeUnregister(): KPath<void>;
  /** load_module with the module's marker sites, armed at load. Returns 0 or `-EEXIST`. */
  loadModule(module: string, sites: ReadonlyArray<{ readonly name: string; readonly format: string }>): KPath<number>;
  /** delete_module: the module's sites are disarmed and dropped. Returns 0 or `-ENOENT`. */
  unloadModule(module: string): KPath<number>;
  /**
   * Fires the site named `name` (the core site, else the first loaded module's) inside the
   * simulation: reads its probes with preemption disabled, then calls each one after a
   * scheduling point. A disarmed or unknown site does nothing and takes no step.
   */
  mark(name: string, callPrivate?: unknown, ...args: unknown[]): KPath<void>;
  /** The probes connected to `name` now, in call order. */
  probes(name: string): readonly MarkerProbeClosure[];
  /** The site named `name`: in `module`, or the core one when `module` is omitted or null. */
  site(name: string, module?: string | null): MarkerSite | undefined;
  /** Every site: core sites first, then each loaded module's, in load order. */
  sites(): readonly MarkerSite[];
  /** The options this instance runs with. */
  readonly options: ResolvedMarkersOptions;
}
