import { emit, type Command, type KPath } from '@tracelab/core';
import type { AccessKind, FenceName, LockFence, MemValue } from '../events.js';

/**
 * A view: for each location, the oldest store (index into its coherence order) a task may
 * still read. Absent means 0 (the initial value). Views only grow.
 */
export type View = Map<string, number>;

function join(into: View, from: View | null): void {
  if (from === null) return;
  for (const [loc, i] of from) if ((into.get(loc) ?? 0) < i) into.set(loc, i);
}

/** One store in a location's coherence order, with the view it carries to an acquirer. */
interface Msg {
  readonly value: MemValue;
  /** What a task that acquires this store must see from then on (null: nothing beyond the store). */
  readonly view: View | null;
}

/** What one task has seen and ordered. */
interface TaskViews {
  /** Lower bounds of what its loads may read now. */
  readonly cur: View;
  /** Views of stores it read with no acquire yet: smp_rmb()/smp_mb()/an acquire folds them into `cur`. */
  readonly pending: View;
  /** Its own stores with what they carried: smp_wmb() makes later stores carry them. */
  readonly own: View;
  /** What its next relaxed store carries (set by smp_wmb()/smp_mb()). */
  readonly wmb: View;
}

const CHOOSE_CACHE: Command[] = [];
/** The strategy's pick among `n` visible stores (0 = the newest): a `memory` choice (explore counts an older store as a stale read, a deviation within its bound). */
function chooseCmd(n: number): Command {
  return (CHOOSE_CACHE[n] ??= Object.freeze({ op: 'choose', kind: 'memory', n }) as Command);
}

/**
 * The weak memory of one kernel: per location, its stores in coherence order; per task, its
 * views; one global view for full barriers (the order smp_mb()s agree on).
 *
 * Operational model (docs/memory-model.md): a store is appended to its location's coherence
 * order when it executes; a load returns any store not older than the task's view of that
 * location (the strategy picks which); barriers, acquires and releases move views. Every
 * execution it produces is one the Linux-kernel memory model allows (checked against the
 * litmus tests), though not every LKMM execution is reachable (no load buffering: a load
 * never reads a store that has not executed yet).
 *
 * Guarded by: only kernel paths of the running task touch its own `TaskViews`, and stores
 * append to `locs` only from the running task, so the kernel's one-step-at-a-time execution
 * serialises every access; the host reads (`peek`) between steps.
 */
export class WeakMemory {
  /** Location -> its stores in coherence order (index 0: the initial value). */
  private readonly locs = new Map<string, Msg[]>();
  private readonly tasks = new Map<number, TaskViews>();
  /** The global view full barriers publish to and read from. */
  private readonly global: View = new Map();
  /** Lock name -> the view its last unlock released. */
  private readonly lockViews = new Map<string, View>();

  constructor(private readonly sc: boolean) {}

  init(loc: string, value: MemValue): void {
    this.locs.set(loc, [{ value, view: null }]);
  }

  private msgs(loc: string): Msg[] {
    let m = this.locs.get(loc);
    if (m === undefined) {
      m = [{ value: 0, view: null }];
      this.locs.set(loc, m);
    }
    return m;
  }

  peek(loc: string): MemValue {
    const m = this.msgs(loc);
    return m[m.length - 1]!.value;
  }

  private views(pid: number): TaskViews {
    let t = this.tasks.get(pid);
    if (t === undefined) {
      t = { cur: new Map(), pending: new Map(), own: new Map(), wmb: new Map() };
      this.tasks.set(pid, t);
    }
    return t;
  }

  /**
   * A load: `acquire` folds the store's view into the task's. `atomic` reads the newest store
   * (an RMW). `dependent`: the address came from an earlier load, whose address dependency
   * orders this one after it (modelled as an smp_rmb() before it).
   */
  *load(pid: number, loc: string, kind: AccessKind, acquire: boolean, atomic = false, dependent = false): KPath<MemValue> {
    const t = this.views(pid);
    if (dependent) join(t.cur, t.pending);
    const m = this.msgs(loc);
    const newest = m.length - 1;
    const oldest = Math.min(t.cur.get(loc) ?? 0, newest);
    let index = newest;
    if (!this.sc && !atomic && newest > oldest) index = newest - ((yield chooseCmd(newest - oldest + 1)) as number);
    const msg = m[index]!;
    if ((t.cur.get(loc) ?? 0) < index) t.cur.set(loc, index);
    if (acquire) join(t.cur, msg.view);
    else join(t.pending, msg.view);
    yield* emit({ type: 'memory-model/load', pid, loc, value: msg.value, index, newest, kind });
    return msg.value;
  }

  /**
   * A store, appended to the location's coherence order. A release store carries everything
   * the task has seen and stored; a relaxed one what its last smp_wmb()/smp_mb() ordered.
   * `carry` is the view of the store an RMW read (rmw-sequence: it continues its chain).
   */
  *store(pid: number, loc: string, value: MemValue, kind: AccessKind, release: boolean, carry: View | null = null): KPath<void> {
    const t = this.views(pid);
    const m = this.msgs(loc);
    const index = m.length;
    const view: View = new Map(release ? t.cur : t.wmb);
    if (release) {
      join(view, t.pending);
      join(view, t.own);
    }
    join(view, carry);
    view.set(loc, index);
    m.push({ value, view });
    t.cur.set(loc, index);
    join(t.own, view);
    yield* emit({ type: 'memory-model/store', pid, loc, value, index, kind });
  }

  /** The view of the newest store to `loc` (what an RMW continues). */
  newestView(loc: string): View | null {
    const m = this.msgs(loc);
    return m[m.length - 1]!.view;
  }

  /** smp_mb(): everything seen joins the global order and everything in it is seen; later stores carry it all. */
  *mb(pid: number, fence: Exclude<FenceName, LockFence> = 'smp_mb'): KPath<void> {
    const t = this.views(pid);
    if (!this.sc) {
      join(t.cur, t.pending);
      join(t.cur, t.own);
      join(t.cur, this.global);
      join(this.global, t.cur);
      join(t.wmb, t.cur);
    }
    yield* emit({ type: 'memory-model/fence', pid, fence });
  }

  /** smp_wmb(): later stores carry the task's earlier stores (not what it read: not cumulative). */
  *wmb(pid: number): KPath<void> {
    const t = this.views(pid);
    join(t.wmb, t.own);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'smp_wmb' });
  }

  /** smp_rmb(): later loads see at least what the stores read so far carried. */
  *rmb(pid: number): KPath<void> {
    const t = this.views(pid);
    join(t.cur, t.pending);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'smp_rmb' });
  }

  /**
   * After taking a lock: acquire what its last holder released. Also orders the task's
   * accesses before an earlier unlock against those after this lock, even for another lock
   * (LKMM's po-unlock-lock-po): read and write barriers here.
   */
  *lockAcquired(pid: number, name: string): KPath<void> {
    const t = this.views(pid);
    join(t.cur, t.pending);
    join(t.cur, this.lockViews.get(name) ?? null);
    // The previous holder's accesses propagate before this critical section's stores
    // (po-unlock-lock-po is a cumul-fence): later stores carry everything seen so far.
    join(t.wmb, t.own);
    join(t.wmb, t.cur);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'spin_lock', lock: name });
  }

  /** Before dropping a lock: release everything seen and stored to its next holder. */
  *lockReleasing(pid: number, name: string): KPath<void> {
    const t = this.views(pid);
    const v: View = new Map(t.cur);
    join(v, t.pending);
    join(v, t.own);
    const prev = this.lockViews.get(name);
    if (prev !== undefined) join(v, prev);
    this.lockViews.set(name, v);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'spin_unlock', lock: name });
  }

  /** rcu_read_lock(): a reader starts from the global view (a grace period's first barrier published the updater's stores there). */
  *readerStart(pid: number): KPath<void> {
    const t = this.views(pid);
    join(t.cur, this.global);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'rcu_read_lock' });
  }

  /** rcu_read_unlock(): the reader's accesses join the global view, which the grace period's last barrier reads. */
  *readerEnd(pid: number): KPath<void> {
    const t = this.views(pid);
    join(this.global, t.cur);
    join(this.global, t.pending);
    join(this.global, t.own);
    yield* emit({ type: 'memory-model/fence', pid, fence: 'rcu_read_unlock' });
  }
}
