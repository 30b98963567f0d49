import type { FenceKind, Value } from './litmus-ast.js';
import { EvSet, Rel } from './relation.js';

/** Event annotations (the bell file's tags). */
export const T = {
  ONCE: 1,
  ACQUIRE: 2,
  RELEASE: 4,
  PLAIN: 8,
  /** The read of an RMW that returns nothing (atomic_inc): smp_rmb does not order it. */
  NORETURN: 16,
  /** spin_lock's read of the lock word. */
  LKR: 32,
  /** spin_lock's write of the lock word. */
  LKW: 64,
  /** spin_unlock's write. */
  UL: 128,
  /** Part of an atomic read-modify-write. */
  RMW: 256,
  INIT: 512,
} as const;

/** One event of a candidate execution. */
export interface Ev {
  /** -1 for the initial writes. */
  readonly thread: number;
  readonly kind: 'R' | 'W' | 'F';
  readonly loc: string | null;
  /** Read: the value read; write: the value written. */
  readonly value: Value;
  readonly tags: number;
  readonly fence: FenceKind | null;
}

/** A candidate execution: events, program order and the dependencies (fixed by the threads), rf and co (chosen). */
export interface Candidate {
  readonly events: readonly Ev[];
  /** Strict program order, transitive, within each thread. */
  readonly po: Rel;
  readonly rf: Rel;
  /** Coherence order: transitive, per location, initial write first. */
  readonly co: Rel;
  readonly rmw: Rel;
  readonly addr: Rel;
  readonly data: Rel;
  readonly ctrl: Rel;
  /** Matching rcu_read_lock -> rcu_read_unlock pairs. */
  readonly rscs: Rel;
}

/** The LKMM axioms, in the order the cat file checks them. */
export type Axiom = 'coherence' | 'atomic' | 'happens-before' | 'propagation' | 'rcu';

/** Events whose `tags` has any of `mask` set. */
function tagged(ev: readonly Ev[], mask: number): EvSet {
  return EvSet.of(ev.length, (i) => (ev[i]!.tags & mask) !== 0);
}

/**
 * Checks a candidate against the Linux-kernel memory model (tools/memory-model's
 * linux-kernel.cat and .bell), with spinlocks encoded as an acquire RMW of the lock word that
 * reads it free and a release store that frees it (lock.cat's LKR/LKW/UL), and a fully
 * ordered RMW as its read and write between two smp_mb() fences. Returns the first axiom the
 * candidate violates, or null when LKMM allows it. Plain accesses are checked for ordering
 * only: data races are not reported.
 */
export function checkLkmm(c: Candidate): Axiom | null {
  const ev = c.events;
  const n = ev.length;
  const all = EvSet.of(n, () => true);
  const R = EvSet.of(n, (i) => ev[i]!.kind === 'R');
  const W = EvSet.of(n, (i) => ev[i]!.kind === 'W');
  const M = R.union(W);
  const F = (k: FenceKind): EvSet => EvSet.of(n, (i) => ev[i]!.fence === k);
  const Plain = tagged(ev, T.PLAIN);
  const Marked = M.minus(Plain);
  const Acquire = tagged(ev, T.ACQUIRE);
  const Release = tagged(ev, T.RELEASE);
  const Noreturn = tagged(ev, T.NORETURN);
  const LKR = tagged(ev, T.LKR);
  const LKW = tagged(ev, T.LKW);
  const UL = tagged(ev, T.UL);
  const RMW = tagged(ev, T.RMW);
  const id = Rel.id(n);

  const loc = new Rel(n);
  const int = new Rel(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (ev[i]!.loc !== null && ev[i]!.loc === ev[j]!.loc) loc.add(i, j);
      if (ev[i]!.thread === ev[j]!.thread && ev[i]!.thread >= 0) int.add(i, j);
    }
  }
  const ext = new Rel(n, new Uint32Array(int.rows.length).fill(0xffffffff)).minus(int).restrict(all, all);
  const { po, rf, co, rmw } = c;
  const fr = rf.inverse().seq(co).minus(id);

  // ---- coherence and atomicity ----
  const poLoc = po.inter(loc).restrict(M, M);
  if (!poLoc.union(rf, co, fr).acyclic()) return 'coherence';
  if (!rmw.inter(fr.inter(ext).seq(co.inter(ext))).isEmpty()) return 'atomic';

  // ---- dependencies (plain accesses carry them through memory: carry-dep) ----
  const rfi = rf.inter(int);
  const rfe = rf.inter(ext);
  const carry = c.data.seq(rfi).star();
  const addr = carry.seq(c.addr);
  const data = carry.seq(c.data);
  const ctrl = carry.seq(c.ctrl);
  const dep = addr.union(data);
  const rwdep = dep.union(ctrl).restrict(null, W);
  const overwrite = co.union(fr);

  // ---- fences ----
  const fencerel = (s: EvSet): Rel => po.restrict(null, s).seq(po);
  const R4rmb = R.minus(Noreturn);
  const rmb = fencerel(F('rmb')).restrict(R4rmb, R4rmb);
  const wmb = fencerel(F('wmb')).restrict(W, W);
  const poOpt = po.opt();
  const mb = fencerel(F('mb'))
    .restrict(M, M)
    .union(
      fencerel(F('before-atomic')).restrict(M, RMW).seq(poOpt).restrict(null, M),
      poOpt
        .restrict(M, RMW)
        .seq(fencerel(F('after-atomic')))
        .restrict(null, M),
      poOpt
        .restrict(M, LKW)
        .seq(fencerel(F('after-spinlock')))
        .restrict(null, M),
      po
        .restrict(M, UL)
        .seq(co.union(po))
        .restrict(null, LKW)
        .seq(fencerel(F('after-unlock-lock')))
        .restrict(null, M),
    );
  const syncRcu = F('sync-rcu');
  const gp = po.restrict(null, syncRcu).seq(poOpt);
  const strongFence = mb.union(gp);
  const acqPo = po.restrict(Acquire, M);
  const poRel = po.restrict(M, Release);
  const poUnlockLockPo = po.restrict(null, UL).seq(po.union(rf)).restrict(null, LKR).seq(po);
  const fence = strongFence.union(poRel, acqPo, wmb, rmb);

  // ---- ppo, cumulativity, propagation ----
  const toW = rwdep.union(overwrite.inter(int), addr.restrict(null, Plain).seq(wmb));
  const toR = addr.restrict(null, R).union(dep.restrict(null, Marked).seq(rfi));
  const ppo = toR.union(toW, fence.inter(int), poUnlockLockPo.inter(int));
  const aCumul = (r: Rel): Rel => rfe.restrict(null, Marked).opt().seq(r);
  const rmwSequence = rf.seq(rmw).star();
  const cumulFence = aCumul(strongFence.union(poRel)).union(wmb, poUnlockLockPo).restrict(Marked, Marked).seq(rmwSequence);
  const prop = overwrite.inter(ext).opt().restrict(Marked, null).seq(cumulFence.star()).restrict(null, Marked).seq(rfe.opt()).restrict(null, Marked);
  const hb = ppo.union(rfe, prop.minus(id).inter(int)).restrict(Marked, Marked);
  if (!hb.acyclic()) return 'happens-before';
  const hbStar = hb.star();
  const pb = prop.seq(strongFence).seq(hbStar).restrict(null, Marked);
  if (!pb.acyclic()) return 'propagation';

  // ---- RCU ----
  if (!syncRcu.words.every((w) => w === 0)) {
    const rcuGp = Rel.ofSet(n, syncRcu);
    const rscsi = c.rscs.inverse();
    const rcuLink = poOpt.seq(hbStar).seq(pb.star()).seq(prop).seq(po);
    // rcu-order: sequences of grace periods and read-side critical sections joined by
    // rcu-link with at least as many grace periods as critical sections (least fixpoint).
    let order = rcuGp.union(rcuGp.seq(rcuLink).seq(rscsi), rscsi.seq(rcuLink).seq(rcuGp));
    for (;;) {
      const next = order.union(
        rcuGp.seq(rcuLink).seq(order).seq(rcuLink).seq(rscsi),
        rscsi.seq(rcuLink).seq(order).seq(rcuLink).seq(rcuGp),
        order.seq(rcuLink).seq(order),
      );
      if (next.equals(order)) break;
      order = next;
    }
    const rcuFence = po.seq(order).seq(poOpt);
    const rb = prop.seq(rcuFence).seq(hbStar).seq(pb.star()).restrict(null, Marked);
    if (!rb.irreflexive()) return 'rcu';
  }
  return null;
}
