/**
 * The srcu plugin's state slice (`state.plugins.srcu`). Every field is written only by the
 * reducers of `src/internal/reducers.ts`; kernel paths read it through `getState()`.
 */

/** One `srcu_struct`: a domain with its own index, per-CPU counters, grace periods and callbacks. */
export interface SrcuDomainState {
  readonly name: string;
  /**
   * `srcu_idx`: a free-running count of counter flips; `idx & 1` is the slot new readers
   * increment. Written only by the `srcu/flip` reducer (the domain's GP kthread is the one
   * writer, as `srcu_flip` runs under `srcu_gp_mutex`).
   */
  readonly idx: number;
  /**
   * `srcu_lock_count[slot][cpu]`: locks counted on each CPU, by slot. Each entry only grows;
   * written by the `srcu/lock` reducer (a reader's `this_cpu_inc` on the CPU it runs on).
   */
  readonly lockCount: readonly [readonly number[], readonly number[]];
  /** `srcu_unlock_count[slot][cpu]`: as `lockCount`, for unlocks (the CPU the unlock runs on, which may differ). */
  readonly unlockCount: readonly [readonly number[], readonly number[]];
  /** Grace periods completed. */
  readonly completed: number;
  /** The grace period in progress, or null. */
  readonly gp: SrcuGpState | null;
  /** The id the next `callSrcu` gets (ids are per domain, from 1, in queue order). */
  readonly nextCallbackId: number;
  /** Callbacks with ids up to this one were taken by a grace period (the list grab). */
  readonly takenThrough: number;
  /** Callbacks with ids up to this one were covered by a completed grace period. */
  readonly completedThrough: number;
  /** Callbacks with ids up to this one were invoked (or failed). */
  readonly invokedThrough: number;
  /** The domain's GP kthread (process_srcu's worker), or null when none runs. */
  readonly kthread: number | null;
  /**
   * kthread_should_stop: cleanup_srcu_struct asked the GP kthread to exit. Set by the
   * `srcu/kthread-stop` reducer, cleared by `srcu/kthread-exit`.
   */
  readonly kthreadShouldStop: boolean;
}

/** A grace period of one domain. */
export interface SrcuGpState {
  readonly gp: number;
  /** The `seq` of its `srcu/gp-start`: readers whose `srcu/lock` came before it must be waited for. */
  readonly startSeq: number;
  /** SCAN1 (the inactive slot, before the flip) or SCAN2 (the slot flipped away from). */
  readonly phase: 1 | 2;
  /** The callbacks it covers. */
  readonly first: number;
  readonly last: number;
}

/** A reader inside its read-side critical section (between its counted lock and its unlock). */
export interface SrcuReaderState {
  readonly reader: number;
  readonly domain: string;
  readonly pid: number;
  /** The slot its lock incremented (what `srcuReadLock` returned). */
  readonly idx: number;
  /** The CPU its lock was counted on. */
  readonly cpu: number;
  /** The `seq` of its `srcu/lock`. */
  readonly lockSeq: number;
}

/** What the invariants found (the first violation is kept). */
export interface SrcuViolation {
  readonly invariant: string;
  readonly message: string;
}

export interface SrcuState {
  /** The live domains by name. Written only by reducers (`srcu/init`, `srcu/cleanup` and each domain's events). */
  readonly domains: Readonly<Record<string, SrcuDomainState>>;
  /** Readers inside a critical section, by reader id. Written only by the `srcu/lock` and `srcu/unlock` reducers. */
  readonly readers: Readonly<Record<string, SrcuReaderState>>;
  /** The id the next reader gets. */
  readonly nextReader: number;
  /** `srcu/warn` events so far (the kernel's WARN_ON splats). */
  readonly warnings: number;
  readonly violation: SrcuViolation | null;
}

/** A domain as init_srcu_struct (or DEFINE_STATIC_SRCU) leaves it: index 0, every counter 0. */
export function newDomain(name: string, cpus: number): SrcuDomainState {
  const zeros = (): number[] => Array.from({ length: cpus }, () => 0);
  return {
    name,
    idx: 0,
    lockCount: [zeros(), zeros()],
    unlockCount: [zeros(), zeros()],
    completed: 0,
    gp: null,
    nextCallbackId: 1,
    takenThrough: 0,
    completedThrough: 0,
    invokedThrough: 0,
    kthread: null,
    kthreadShouldStop: false,
  };
}

/** The slice at registration: the static domains live, no reader. */
export function initialSrcuState(staticDomains: readonly string[], cpus: number): SrcuState {
  const domains: Record<string, SrcuDomainState> = {};
  for (const name of staticDomains) domains[name] = newDomain(name, cpus);
  return { domains, readers: {}, nextReader: 1, warnings: 0, violation: null };
}
