import type { KPath } from '@tracelab/core';

/** A memory value: a number, or a location name standing for a pointer to it. */
export type MemValue = number | string;

/** The ordering of an atomic read-modify-write: `mb` (fully ordered, the default), `_relaxed`, `_acquire`, `_release`. */
export type RmwOrder = 'mb' | 'relaxed' | 'acquire' | 'release';

/** The access kinds a load or store event names. */
export type AccessKind = 'once' | 'plain' | 'acquire' | 'release' | 'rmw';

export type FenceName = 'smp_mb' | 'smp_wmb' | 'smp_rmb' | 'rcu_read_lock' | 'rcu_read_unlock' | 'spin_lock' | 'spin_unlock';

/** The fences a lock's acquire and release make (their events name the lock). */
export type LockFence = 'spin_lock' | 'spin_unlock';

export interface MemoryModelOptions {
  /**
   * `weak` (the default): loads may return older stores, as the model allows, each such
   * choice made by the kernel's strategy. `sc`: every load returns the newest store
   * (sequential consistency, what the simulator did before this plugin).
   */
  readonly model?: 'weak' | 'sc';
}

export interface MemoryModelState {
  /** WARN_ON()s that fired (see `warnOn`); written only by the reducer. */
  readonly warnings: number;
  /** The first one's message. */
  readonly firstWarning: string | null;
}

/**
 * The kernel's memory accesses and barriers. Every path is a kernel path (`yield*` it from a
 * kernel thread). Each access begins with a scheduling point, so other CPUs interleave at
 * access granularity; which store a load returns is a `choose` of the strategy (option 0 is
 * the newest, so a default schedule is sequentially consistent).
 */
export interface MemoryModelApi {
  /** Host side, before the run: a location's initial value (otherwise 0 on first use). */
  init(loc: string, value: MemValue): void;
  /** Host side: the newest value of a location (the last store in its coherence order). */
  peek(loc: string): MemValue;

  /** READ_ONCE(*loc). */
  readOnce(loc: string): KPath<MemValue>;
  /**
   * READ_ONCE(*p) where `p` was itself loaded: the address dependency orders this load after
   * the one that produced `p` (as the kernel relies on after rcu_dereference()).
   */
  readOnceDep(loc: string): KPath<MemValue>;
  /** WRITE_ONCE(*loc, value). */
  writeOnce(loc: string, value: MemValue): KPath<void>;
  /** A plain C load: ordered like READ_ONCE here (data races are not detected). */
  plainRead(loc: string): KPath<MemValue>;
  /** A plain C store: ordered like WRITE_ONCE here. */
  plainWrite(loc: string, value: MemValue): KPath<void>;
  smpLoadAcquire(loc: string): KPath<MemValue>;
  smpStoreRelease(loc: string, value: MemValue): KPath<void>;
  /** rcu_dereference(): a load whose dependent accesses are ordered after it (modelled as an acquire). */
  rcuDereference(loc: string): KPath<MemValue>;
  /** rcu_assign_pointer(): a release store. */
  rcuAssignPointer(loc: string, value: MemValue): KPath<void>;

  smpMb(): KPath<void>;
  smpWmb(): KPath<void>;
  smpRmb(): KPath<void>;
  smpMbAfterSpinlock(): KPath<void>;
  smpMbBeforeAtomic(): KPath<void>;
  smpMbAfterAtomic(): KPath<void>;

  /** xchg(): returns the old value. */
  xchg(loc: string, value: MemValue, order?: RmwOrder): KPath<MemValue>;
  /** cmpxchg(): returns the old value; stores only when it equals `expected` (a failed one orders nothing). */
  cmpxchg(loc: string, expected: MemValue, value: MemValue, order?: RmwOrder): KPath<MemValue>;
  /** atomic_add_return(): returns the new value. */
  atomicAddReturn(loc: string, delta: number, order?: RmwOrder): KPath<number>;
  /** atomic_add_unless(): adds unless the value is `unless`; fully ordered when it adds, unordered when not. Returns whether it added. */
  atomicAddUnless(loc: string, delta: number, unless: MemValue): KPath<boolean>;
  /** atomic_add() (and atomic_inc() with 1): a void RMW, unordered. */
  atomicAdd(loc: string, delta: number): KPath<void>;

  /** spin_lock(): the core's spinlock, plus the acquire ordering of taking it. */
  spinLock(name: string): KPath<void>;
  /** spin_unlock(): the release ordering, then the core's unlock. */
  spinUnlock(name: string): KPath<void>;
  /** rcu_read_lock(): the core's RCU-sched reader. */
  rcuReadLock(): KPath<void>;
  rcuReadUnlock(): KPath<void>;
  /** synchronize_rcu(): a full barrier, the core's grace period, a full barrier. */
  synchronizeRcu(): KPath<void>;

  /**
   * WARN_ON(cond): when `cond` is true, logs `memory-model/warn` with `message` and the
   * `memory-model/warn-on` invariant fails (a scenario's way to say what it saw is wrong).
   */
  warnOn(cond: boolean, message: string): KPath<void>;
}

declare module '@tracelab/core' {
  interface EventMap {
    'memory-model/store': { pid: number; loc: string; value: MemValue; index: number; kind: AccessKind };
    /** `index` is the store read (0 = the initial value); `newest` the newest index then; `newest - index` stores were not yet visible. */
    'memory-model/load': { pid: number; loc: string; value: MemValue; index: number; newest: number; kind: AccessKind };
    /** `lock`: the lock a `spin_lock`/`spin_unlock` fence acquired from or released to. */
    'memory-model/fence': { pid: number; fence: Exclude<FenceName, LockFence> } | { pid: number; fence: LockFence; lock: string };
    'memory-model/warn': { pid: number; message: string };
  }
  interface PluginStates {
    'memory-model': MemoryModelState;
  }
  interface PluginApis {
    'memory-model': MemoryModelApi;
  }
}
