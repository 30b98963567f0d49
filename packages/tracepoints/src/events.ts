import type { KPath } from '@tracelab/core';

/**
 * A probe (`struct tracepoint_func.func`): called as `probe(data, ...args)`, `data` being what
 * was given at registration. A plain function runs through without a step; a generator
 * function is driven as a kernel path. A probe of an ordinary tracepoint runs with preemption
 * disabled and must not sleep; a probe of a faultable tracepoint runs preemptible inside a
 * Tasks-Trace reader and may fault (`copyFromUser`) or sleep.
 */
export type TracepointProbe = (data: unknown, ...args: unknown[]) => void | KPath<void>;

/** The callback run before the first probe is connected (`ext->regfunc`). A negative return refuses the registration. */
export type TracepointRegfunc = () => number | void | KPath<number | void>;

/** The callback run after the last probe is gone (`ext->unregfunc`). */
export type TracepointUnregfunc = () => void | KPath<void>;

/** What `defineTracepoint` takes besides the name. */
export interface TracepointSpec {
  /** A faultable tracepoint (syscall enter/exit): its probes run in a Tasks-Trace reader. Needs `rcu-tasks` in the stack. */
  readonly faultable?: boolean;
  readonly regfunc?: TracepointRegfunc;
  readonly unregfunc?: TracepointUnregfunc;
  /**
   * regfunc's boot form, for a tracepoint with a regfunc that a dependent plugin arms with
   * `bootProbeRegister`: run host-side in place of regfunc when the first boot probe is
   * connected (no task exists yet, so whatever regfunc would walk is empty). A negative return
   * refuses the boot registration. Without it, `bootProbeRegister` refuses a tracepoint with a
   * regfunc or unregfunc (docs/tracepoints.md, "Probes connected at boot").
   */
  readonly bootRegfunc?: () => number | void;
}

/** A tracepoint a module brings (`data.tracepoints` of `loadModule`). Module tracepoints have no regfunc. */
export interface ModuleTracepointSpec {
  readonly name: string;
  readonly faultable?: boolean;
}

/**
 * How a change moved the number of live probes (stubs not counted): upstream's
 * `nr_func_state` cases. `N->N` is an unregistration of a probe that was not there, which
 * upstream still answers with a fresh copy of the array.
 */
export type TracepointTransition = '0->1' | '1->2' | 'N->N+1' | '1->0' | '2->1' | 'N->N-1' | 'N->N';

/** Upstream's two transition snapshots (`enum tp_transition_sync`). */
export type TransitionSync = '1-0-1' | 'n-2-1';

/** The unsafe variants: each removes one wait or one safety step (README, "Variants"). */
export type TracepointsUnsafe =
  /** Old probe arrays are freed as soon as the new one is published (no grace period). */
  | 'free-immediately'
  /** A faultable tracepoint's old arrays go through call_rcu (RCU-sched), not call_rcu_tasks_trace. */
  | 'free-with-call-rcu'
  /** tp_rcu_cond_sync never waits: neither the 1->0->1 nor the 2->1 wait happens. */
  | 'no-transition-sync'
  /**
   * tracepoint_add_func before upstream fad217e16fde ("tracepoint: balance regfunc() on
   * func_add() failure", 2026): when func_add fails (-ENOMEM) after regfunc ran on the 0->1
   * transition, it returns without unregfunc, so whatever regfunc counted (the syscall
   * tracepoints' refcount) leaks.
   */
  | 'no-regfunc-undo'
  /** The transition waits are RCU-sched only, also for faultable tracepoints (no Tasks-Trace wait). */
  | 'no-tasks-trace-transition-sync'
  /** tracepoint_synchronize_unregister waits RCU-sched only (no Tasks-Trace grace period). */
  | 'synchronize-unregister-rcu-only';

export const UNSAFE_VARIANTS: readonly TracepointsUnsafe[] = [
  'free-immediately',
  'free-with-call-rcu',
  'no-transition-sync',
  'no-regfunc-undo',
  'no-tasks-trace-transition-sync',
  'synchronize-unregister-rcu-only',
];

export interface TracepointsOptions {
  /** Unsafe variants to turn on (one name or a list). Default none. */
  readonly unsafe?: TracepointsUnsafe | readonly TracepointsUnsafe[];
  /** Log `tracepoints/probe-call` for every probe a call site calls. Default false. */
  readonly logProbeCalls?: boolean;
}

/** The options as recorded in the log. */
export interface ResolvedTracepointsOptions {
  readonly unsafe: readonly TracepointsUnsafe[];
  readonly logProbeCalls: boolean;
}

/** A probe as the state names it: labels stable within one run (`probeA#1`, `obj#2`, `n:5`). */
export interface ProbeRef {
  readonly probe: string;
  readonly data: string;
  readonly prio: number;
  /** Overwritten with tp_stub_func by an unregister that could not allocate. */
  readonly stub: boolean;
}

/** One tracepoint in the state. */
export interface TracepointState {
  readonly name: string;
  /** The module that defines it, or null for a core tracepoint. */
  readonly module: string | null;
  readonly faultable: boolean;
  /** The static key. */
  readonly enabled: boolean;
  /** The published array's entries, in call order (stubs included). */
  readonly probes: readonly ProbeRef[];
  /** The published array's id, or null (funcs == NULL). */
  readonly array: number | null;
  /** What the static call points at: `iterator`, or the label of the single probe. */
  readonly staticCall: string;
}

/** A probe array not yet freed. */
export interface ProbeArrayState {
  readonly id: number;
  readonly tracepoint: string;
  readonly probes: number;
  readonly state: 'published' | 'retired';
  /** The flavour whose grace period must end before the free, and the grace period (set at retirement). */
  readonly flavour: 'rcu-sched' | 'tasks-trace' | 'none' | null;
  readonly freeAfterGp: number | null;
}

/** A transition snapshot (`struct tp_transition_snapshot`): grace periods that must complete before the wait returns. */
export interface SnapshotState {
  readonly rcu: number;
  /** The Tasks-Trace grace period, when a faultable tracepoint took the snapshot; null otherwise. */
  readonly trace: number | null;
}

/** What a call site found wrong (the invariants report the first). */
export interface TracepointReport {
  readonly kind: 'freed-array' | 'unregistered-probe';
  readonly tracepoint: string;
  readonly array: number | null;
  readonly probe: string;
  readonly data: string;
  readonly pid: number;
}

/** An array freed before the grace period recorded at its retirement ended. */
export interface EarlyFree {
  readonly tracepoint: string;
  readonly array: number;
  readonly flavour: string;
  readonly gp: number | null;
  readonly completed: number;
}

/** The plugin's slice, `state.plugins.tracepoints`. Every field is written only by reducers. */
export interface TracepointsState {
  readonly tracepoints: Readonly<Record<string, TracepointState>>;
  readonly arrays: Readonly<Record<string, ProbeArrayState>>;
  /** Upstream's global `tp_transition_snapshot[]`: null when not ongoing. */
  readonly snapshots: Readonly<Record<TransitionSync, SnapshotState | null>>;
  /** Bumped by every registration change: a read section compares versions to know what was registered during it. */
  readonly version: number;
  /** `tracepoint|probe|data` → the version at which that pair was last unregistered (or stubbed). */
  readonly unregisteredAt: Readonly<Record<string, number>>;
  readonly reports: readonly TracepointReport[];
  readonly earlyFrees: readonly EarlyFree[];
  readonly stats: {
    readonly registered: number;
    readonly unregistered: number;
    readonly stubs: number;
    readonly retired: number;
    readonly freed: number;
    readonly transitionWaits: number;
  };
}

/** A probe as `probes(name)` lists it. */
export interface TracepointFuncInfo {
  readonly probe: TracepointProbe | null;
  readonly data: unknown;
  readonly prio: number;
  /** true for an entry overwritten with tp_stub_func (`probe` is then null). */
  readonly stub: boolean;
}

/** A defined tracepoint, as `tracepoints()` lists it. */
export interface TracepointInfo {
  readonly name: string;
  readonly module: string | null;
  readonly faultable: boolean;
  readonly enabled: boolean;
}

/**
 * A tracepoint's call site as host code holds it: the real fast path (ARCHITECTURE.md 1.1).
 * `call` reads the same static key, probe array and static call as `trace`, synchronously and
 * outside the simulation: disarmed it is one field test, with one probe a direct call, with
 * more the iterator. Probes must be plain functions (a generator probe throws `INVALID_OPTION`).
 */
export interface TracepointSite {
  readonly name: string;
  readonly faultable: boolean;
  /** The static key now. */
  readonly enabled: boolean;
  call(...args: unknown[]): void;
}

export interface TracepointsApi {
  /**
   * DEFINE_TRACE: declares a core tracepoint (static kernel text). Host-side, or from another
   * plugin's `register`. Throws `INVALID_OPTION` for a name that is not a C identifier, a name
   * already defined, a spec that is not an object, a regfunc/unregfunc that is not a function,
   * or a faultable tracepoint without `rcu-tasks` in the stack.
   */
  defineTracepoint(name: string, spec?: TracepointSpec): void;
  /** tracepoint_probe_register: `probeRegisterPrio` with prio 10 (TRACEPOINT_DEFAULT_PRIO). */
  probeRegister(name: string, probe: TracepointProbe, data?: unknown): KPath<number>;
  /**
   * tracepoint_probe_register_prio, under `tracepoints_mutex`. Returns 0, `-EEXIST` (this probe
   * with this data is connected), `-EINVAL` (probe is not a function), `-ENOMEM` (allocation
   * failure injected), `-ENOENT` (no tracepoint of that name is defined now: a module's that is
   * not loaded), or a regfunc's negative return. May sleep (the 1->0->1 wait). Throws
   * `INVALID_OPTION` for a name that is not a string or a prio that is not an integer.
   */
  probeRegisterPrio(name: string, probe: TracepointProbe, data: unknown, prio: number): KPath<number>;
  /**
   * tracepoint_probe_unregister, under `tracepoints_mutex`. Returns 0 (also when the pair was
   * not connected while other probes are, and when the array could not be allocated: the entry
   * is then overwritten with tp_stub_func), `-ENOENT` (no probe at all), `-EINVAL` (probe is not
   * a function). The caller must still wait (`synchronizeUnregister`) before freeing `data` or
   * the probe's code: a call site may be inside the probe.
   */
  probeUnregister(name: string, probe: TracepointProbe, data?: unknown): KPath<number>;
  /**
   * Connects a probe at boot, from a dependent plugin's `register(ctx)` (`owner` is that plugin's
   * name): host-side, before any task runs, as the kernel's static probes of built-in tracepoints
   * are. The hot table changes at once; the state gets the tracepoint's entry and array when the
   * owner's `kernel/plugin-registered` event is folded. No lock, no transition wait, no event of
   * its own. Returns 0, `-EEXIST` or `-EINVAL` (probe is not a function); throws
   * `INVALID_OPTION` for an owner already registered (the kernel is built), a name that is not a
   * core tracepoint defined now, a prio that is not an integer, or a tracepoint with a
   * regfunc/unregfunc. Default prio 10.
   */
  bootProbeRegister(owner: string, name: string, probe: TracepointProbe, data?: unknown, prio?: number): number;
  /**
   * tracepoint_synchronize_unregister: a Tasks-Trace grace period (when `rcu-tasks` is in the
   * stack), then an RCU-sched one. Afterwards no call site is inside a probe unregistered before
   * the call.
   */
  synchronizeUnregister(): KPath<void>;
  /**
   * The call site `trace_<name>(args)`. With the static key off it returns at once: no step, no
   * event. On, it enters the read side (preemption off, or a Tasks-Trace reader for a faultable
   * tracepoint), reads the array and the first entry's data, and makes the static call: the
   * single probe, or the iterator that calls every entry in order. Throws `INVALID_OPTION`
   * into the path for a name never defined.
   */
  trace(name: string, ...args: unknown[]): KPath<void>;
  /**
   * The host-side call site of a tracepoint defined now (undefined otherwise). It stays bound
   * to that definition: after its module goes, it is disarmed for good.
   */
  site(name: string): TracepointSite | undefined;
  /** The published array's entries now, in call order. */
  probes(name: string): readonly TracepointFuncInfo[];
  /** The static key of `name` (false for an unknown name). */
  enabled(name: string): boolean;
  /** Every tracepoint defined now: core ones in definition order, then each loaded module's. */
  tracepoints(): readonly TracepointInfo[];
  /** load_module with the module's tracepoints (`kernel.paths.loadModule(module, { tracepoints })`). Returns 0 or `-EEXIST`. */
  loadModule(module: string, tracepoints: readonly ModuleTracepointSpec[]): KPath<number>;
  /** delete_module: the going notifier removes every probe still on the module's tracepoints, then they are gone. Returns 0 or `-ENOENT`. */
  unloadModule(module: string): KPath<number>;
  /** The options this instance runs with. */
  readonly options: ResolvedTracepointsOptions;
}

/** The plugin's events, slice and API, merged into the core's maps. Probes and data are named by labels. */
declare module '@tracelab/core' {
  interface EventMap {
    /** A tracepoint exists: a core one (host-side definition) or a module's at load. */
    'tracepoints/defined': { name: string; module: string | null; faultable: boolean };
    /** A module's tracepoint is gone with the module. */
    'tracepoints/removed': { name: string; module: string };
    /** regfunc ran (the key was off); `ret` < 0 refused the registration. */
    'tracepoints/regfunc': { name: string; ret: number };
    /** unregfunc ran (the last probe is gone). */
    'tracepoints/unregfunc': { name: string };
    /** A probe was connected and the new array published (rcu_assign_pointer). */
    'tracepoints/registered': {
      name: string;
      probe: string;
      data: string;
      prio: number;
      index: number;
      transition: TracepointTransition;
      probes: number;
      array: number;
      purged: number;
    };
    /** A probe was disconnected (`removed` 0: it was not there) and the new array (or NULL) published. */
    'tracepoints/unregistered': {
      name: string;
      probe: string;
      data: string;
      removed: number;
      transition: TracepointTransition;
      probes: number;
      array: number | null;
      purged: number;
    };
    /** Unregister could not allocate the smaller array: the matching entries of the published one now hold tp_stub_func. */
    'tracepoints/stub-installed': { name: string; probe: string; data: string; array: number; stubs: number };
    /** static_branch_enable / disable. */
    'tracepoints/key': { name: string; enabled: boolean };
    /** tracepoint_update_call: the static call now targets `target` (`iterator` or a probe label). */
    'tracepoints/static-call': { name: string; target: string };
    /** tp_rcu_get_state: a transition snapshot was taken. */
    'tracepoints/snapshot': { sync: TransitionSync; name: string; rcu: number; trace: number | null };
    /** tp_rcu_cond_sync: `waited` for the snapshot's grace periods (`rcu`, `trace` as waited), or skipped. */
    'tracepoints/transition-sync': { sync: TransitionSync; name: string; waited: boolean; rcu: boolean; trace: boolean; skipped: string | null };
    /** release_probes: the old array handed to its flavour's call_rcu (or, unsafe, freed at once: `flavour: 'none'`). */
    'tracepoints/array-retired': { name: string; array: number; flavour: 'rcu-sched' | 'tasks-trace' | 'none'; gp: number; callback: number | null };
    /** The old array is freed. `completed`: grace periods of its flavour completed at the free. */
    'tracepoints/array-freed': { name: string; array: number; flavour: 'rcu-sched' | 'tasks-trace' | 'none'; completed: number };
    /** The going notifier removed probes left on a going module's tracepoint. */
    'tracepoints/module-probes-removed': { module: string; name: string; probes: number };
    /** A call site called a probe (only with `logProbeCalls`). */
    'tracepoints/probe-call': { name: string; probe: string; data: string; array: number; pid: number };
    /** A call site read an entry of an array that had been freed (the call was not made). */
    'tracepoints/freed-array-call': { name: string; array: number; probe: string; data: string; pid: number };
    /** A call site called a probe with data it was not registered with at any moment of the read section. */
    'tracepoints/unregistered-probe-call': { name: string; array: number | null; probe: string; data: string; pid: number };
  }
  interface PluginStates {
    tracepoints: TracepointsState;
  }
  interface PluginApis {
    tracepoints: TracepointsApi;
  }
}
