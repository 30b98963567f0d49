import type { KPath, RcuCallback } from '@tracelab/core';
import type { SrcuState } from './state.js';

/**
 * The unsafe variants, each one step of the grace period done the way a reviewer would reject
 * (README, "Variants"). Each is found by the `srcu` scenario under `tracelab explore`.
 */
export type SrcuUnsafe =
  /**
   * No SCAN1: the grace period flips the index and waits for the old slot only. A reader that
   * loaded the index before the previous flip and incremented afterwards sits in the slot that
   * is now the active one, and this grace period does not wait for it.
   */
  | 'single-scan'
  /**
   * The drain check sums the lock counts first and the unlock counts after (upstream sums the
   * unlocks first, then smp_mb() A, then the locks). A reader that locks on a CPU the lock sum
   * has passed and unlocks, after migrating, on one the unlock sum has not reached yet adds an
   * unlock without its lock, and hides a reader still inside.
   */
  | 'locks-before-unlocks';

export const UNSAFE_VARIANTS: readonly SrcuUnsafe[] = ['single-scan', 'locks-before-unlocks'];

export interface SrcuOptions {
  /**
   * Domains that exist from boot (DEFINE_STATIC_SRCU): each is live before any task runs, as
   * a statically defined srcu_struct is. Non-empty strings, no duplicates. Default none.
   */
  readonly staticDomains?: readonly string[];
  /** Unsafe variants to turn on (one name or a list). Default none. */
  readonly unsafe?: SrcuUnsafe | readonly SrcuUnsafe[];
  /**
   * Ticks the GP kthread sleeps between two drain checks that found readers (the kernel's
   * srcu_reschedule delay, SRCU_INTERVAL). An integer from 1 to 1000; default 1.
   */
  readonly retryDelay?: number;
  /**
   * Ticks a domain's GP worker stays idle, waiting for the next call_srcu, before it exits (a
   * workqueue's idle worker timeout): the worker the first call_srcu starts serves every grace
   * period that follows within this many ticks of the last. 0: it exits as soon as nothing is
   * queued (the next call_srcu starts a new one). An integer from 0 to 100000; default 1000.
   */
  readonly workerIdle?: number;
}

/** The options as recorded in the log. */
export interface ResolvedSrcuOptions {
  readonly staticDomains: readonly string[];
  readonly unsafe: readonly SrcuUnsafe[];
  readonly retryDelay: number;
  readonly workerIdle: number;
}

/** Why a `srcu/warn` fired (the WARN_ON it stands for). */
export type SrcuWarnReason =
  /** cleanup_srcu_struct with readers still inside: the struct is leaked, not freed. */
  | 'cleanup-readers-active'
  /** cleanup_srcu_struct with callbacks queued or a grace period in progress. */
  | 'cleanup-gp-pending'
  /** srcu_read_unlock with an index that is not 0 or 1 (WARN_ON_ONCE(idx & ~0x1)). */
  | 'bad-index'
  /** srcu_read_unlock with the other slot than the one the task's lock returned: the counts no longer balance. */
  | 'unlock-index-mismatch'
  /** srcu_read_unlock by a task that holds no reader of the domain. */
  | 'unlock-without-lock';

export interface SrcuApi {
  /**
   * init_srcu_struct: a new domain named `domain`, index 0, every counter 0. Returns 0.
   * Throws `INVALID_OPTION` into the path for a name that is not a non-empty string or a domain
   * already live (re-initializing a live srcu_struct is a bug).
   */
  initSrcuStruct(domain: string): KPath<number>;
  /**
   * cleanup_srcu_struct: frees the domain. With readers inside, callbacks queued or a grace
   * period in progress it WARNs (`srcu/warn`), leaks the domain (it stays live) and returns
   * `-EBUSY`; otherwise returns 0. The caller must not use the domain afterwards.
   */
  cleanupSrcuStruct(domain: string): KPath<number>;
  /**
   * srcu_read_lock: reads the domain's index, then counts the lock on the CPU it runs on (it may
   * be preempted, and migrate, between the two). Returns the slot (0 or 1), which the matching
   * unlock must be given. The reader may sleep, fault and migrate until its unlock.
   */
  srcuReadLock(domain: string): KPath<number>;
  /**
   * srcu_read_unlock: counts the unlock in slot `idx` on the CPU it runs on. An `idx` other
   * than the one the task's innermost lock of the domain returned WARNs (`srcu/warn`); the
   * counters are still changed as the kernel would, so the domain's grace periods may hang
   * or end early afterwards.
   */
  srcuReadUnlock(domain: string, idx: number): KPath<void>;
  /**
   * synchronize_srcu: returns after a grace period of `domain` that began after the call, so
   * every reader of `domain` whose lock was counted before the call has unlocked. Readers of
   * other domains are not waited for. Called inside a reader of the same domain it is a BUG
   * (the grace period would wait for the caller).
   */
  synchronizeSrcu(domain: string): KPath<void>;
  /**
   * call_srcu: queues `fn` to run in the domain's GP kthread after a grace period that begins
   * after the call. Returns the callback's id. Callbacks must not sleep (a callback that throws
   * is logged as `srcu/callback-failed`).
   */
  callSrcu(domain: string, fn: RcuCallback, label?: string): KPath<number>;
  /** srcu_barrier: returns once every callback queued on `domain` before the call has been invoked. */
  srcuBarrier(domain: string): KPath<void>;
  /** Grace periods of `domain` completed so far (0 for an unknown domain). */
  completed(domain: string): number;
  /** Whether a grace period of `domain` is in progress now. */
  gpInProgress(domain: string): boolean;
  /** The readers of `domain` inside a critical section now, by pid. */
  readers(domain: string): readonly number[];
  /** The options this instance runs with. */
  readonly options: ResolvedSrcuOptions;
}

/** The plugin's events, slice and API, merged into the core's maps. Payloads are plain JSON. */
declare module '@tracelab/core' {
  interface EventMap {
    /** init_srcu_struct: the domain exists, with `cpus` per-CPU counter pairs. */
    'srcu/init': { domain: string; pid: number; cpus: number };
    /** cleanup_srcu_struct freed the domain. */
    'srcu/cleanup': { domain: string; pid: number };
    /** A WARN_ON splat: `reason` says which. */
    'srcu/warn': { domain: string; pid: number; reason: SrcuWarnReason; message: string };
    /** srcu_read_lock counted: `lock_count[idx]` of CPU `onCpu` incremented; `reader` is the new reader's id. */
    'srcu/lock': { domain: string; pid: number; onCpu: number; idx: number; reader: number };
    /**
     * srcu_read_unlock counted: `unlock_count[idx]` of CPU `onCpu` incremented (`counted: false` for a
     * bad index, which touches no counter); `reader` is the reader it ended, or null.
     */
    'srcu/unlock': { domain: string; pid: number; onCpu: number; idx: number; reader: number | null; counted: boolean };
    /** call_srcu queued callback `id`. */
    'srcu/callback-queued': { domain: string; id: number; label: string; pid: number };
    /** The domain's GP kthread started (on the first callback with none running). */
    'srcu/kthread-start': { domain: string; pid: number };
    /**
     * The domain's GP kthread exited: `idle`, no callback came within `workerIdle` ticks (at once
     * with `workerIdle: 0`); `stop`, cleanup_srcu_struct stopped it.
     */
    'srcu/kthread-exit': { domain: string; pid: number; reason: 'idle' | 'stop' };
    /** cleanup_srcu_struct (task `pid`) asks the domain's idle GP kthread `kthread` to exit (kthread_stop), and waits for it. */
    'srcu/kthread-stop': { domain: string; pid: number; kthread: number };
    /** A grace period began, taking callbacks `first..last`. */
    'srcu/gp-start': { domain: string; gp: number; first: number; last: number };
    /** One drain check of slot `idx` (srcu_readers_active_idx_check): the sums it read and whether they balanced. */
    'srcu/scan': { domain: string; gp: number; phase: 1 | 2; idx: number; locks: number; unlocks: number; drained: boolean };
    /** srcu_flip: `srcu_idx` is now `idx` (new readers use slot `idx & 1`). */
    'srcu/flip': { domain: string; gp: number; idx: number };
    /** The grace period ended (both scans drained). */
    'srcu/gp-end': { domain: string; gp: number };
    /** A callback ran. */
    'srcu/callback-invoked': { domain: string; gp: number; id: number; label: string };
    /** A callback threw: `message`. */
    'srcu/callback-failed': { domain: string; gp: number; id: number; label: string; message: string };
  }
  interface PluginStates {
    srcu: SrcuState;
  }
  interface PluginApis {
    srcu: SrcuApi;
  }
}

export {};
