import type { KernelEvent, PluginContext } from '@tracelab/core';
import { newDomain, type SrcuDomainState, type SrcuState } from '../state.js';
import { copyObject, withField, withKey, withoutKey } from '@tracelab/core';

type Domain = SrcuDomainState;
type Counts = Domain['lockCount'];

/** The invariants, by what they check. */
export const SRCU_INVARIANTS = Object.freeze({
  /**
   * No SRCU grace period ends while a reader of its domain whose lock was counted before the
   * grace period began is still inside its critical section.
   */
  gpWaitsForReaders: 'srcu/gp-waits-for-readers',
  /** A callback is invoked only after a grace period that took it (began after it was queued) has ended. */
  callbackAfterGp: 'srcu/callback-after-gp',
});

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the core's copies: `withField`, `withKey`, ...), or the slice itself when the event changes nothing; no
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part").

/** The first violation wins: the run stops on it. */
function violated(s: SrcuState, invariant: string, message: string): SrcuState {
  return s.violation === null ? withField(s, 'violation', { invariant, message }) : s;
}

/** The slice with domain `name` replaced by `dom` (the same slice for the same domain). */
function withDomain(s: SrcuState, name: string, dom: Domain): SrcuState {
  return withField(s, 'domains', withKey(s.domains, name, dom));
}

/** The domain with `field` set to `value` (the same slice when it holds it already). */
function withDomainField<K extends keyof Domain>(s: SrcuState, name: string, field: K, value: Domain[K]): SrcuState {
  return withDomain(s, name, withField(s.domains[name]!, field, value));
}

/** `counts` with slot `idx`'s counter of `cpu` one higher. */
function bumped(counts: Counts, idx: number, cpu: number): Counts {
  const slot = counts[idx]!;
  const next = new Array<number>(slot.length);
  for (let i = 0; i < slot.length; i++) next[i] = slot[i]!;
  next[cpu] = slot[cpu]! + 1;
  const out: (readonly number[])[] = [counts[0], counts[1]];
  out[idx] = next;
  return out as unknown as Counts;
}

function locked(s: SrcuState, e: KernelEvent<'srcu/lock'>): SrcuState {
  const dom = s.domains[e.domain]!;
  const out = copyObject(withDomainField(s, e.domain, 'lockCount', bumped(dom.lockCount, e.idx, e.onCpu)));
  out.readers = withKey(s.readers, e.reader, { reader: e.reader, domain: e.domain, pid: e.pid, idx: e.idx, cpu: e.onCpu, lockSeq: e.seq });
  out.nextReader = e.reader + 1;
  return out;
}

function unlocked(s: SrcuState, e: KernelEvent<'srcu/unlock'>): SrcuState {
  let out = s;
  if (e.counted) out = withDomainField(out, e.domain, 'unlockCount', bumped(s.domains[e.domain]!.unlockCount, e.idx, e.onCpu));
  if (e.reader !== null) out = withField(out, 'readers', withoutKey(out.readers, e.reader));
  return out;
}

function gpEnded(s: SrcuState, e: KernelEvent<'srcu/gp-end'>): SrcuState {
  const dom = s.domains[e.domain]!;
  const gp = dom.gp!;
  let out = s;
  // The invariant, checked where it can break: at the end of a grace period, every reader
  // of this domain still inside must have had its lock counted after the grace period began.
  for (const r of Object.values(s.readers)) {
    if (r.domain === e.domain && r.lockSeq < gp.startSeq) {
      out = violated(
        s,
        'srcu/gp-waits-for-readers',
        `grace period ${e.gp} of srcu domain ${e.domain} ended while pid ${r.pid} is still inside the reader it locked (slot ${r.idx}, on cpu ${r.cpu}) before the grace period began`,
      );
      break;
    }
  }
  const c = copyObject(dom);
  c.completed = e.gp;
  c.completedThrough = gp.last;
  c.gp = null;
  return withDomain(out, e.domain, c);
}

function invoked(s: SrcuState, e: { domain: string; id: number; label: string }): SrcuState {
  const dom = s.domains[e.domain]!;
  let out = s;
  if (e.id > dom.completedThrough)
    out = violated(
      s,
      'srcu/callback-after-gp',
      `callback ${e.id} (${e.label}) of srcu domain ${e.domain} ran before a grace period that took it had ended (covered through ${dom.completedThrough})`,
    );
  return withDomainField(out, e.domain, 'invokedThrough', Math.max(dom.invokedThrough, e.id));
}

/** The reducers of every `srcu/*` event. They are the only writers of the slice. */
export function registerReducers(ctx: PluginContext<SrcuState>): void {
  ctx.onPlain('srcu/init', (s, e) => withDomain(s, e.domain, newDomain(e.domain, e.cpus)));
  ctx.onPlain('srcu/cleanup', (s, e) => withField(s, 'domains', withoutKey(s.domains, e.domain)));
  ctx.onPlain('srcu/warn', (s) => withField(s, 'warnings', s.warnings + 1));
  ctx.onPlain('srcu/lock', locked);
  ctx.onPlain('srcu/unlock', unlocked);
  ctx.onPlain('srcu/callback-queued', (s, e) => withDomainField(s, e.domain, 'nextCallbackId', e.id + 1));
  ctx.onPlain('srcu/kthread-start', (s, e) => withDomainField(s, e.domain, 'kthread', e.pid));
  ctx.onPlain('srcu/kthread-stop', (s, e) => withDomainField(s, e.domain, 'kthreadShouldStop', true));
  ctx.onPlain('srcu/kthread-exit', (s, e) => withDomain(s, e.domain, withField(withField(s.domains[e.domain]!, 'kthread', null), 'kthreadShouldStop', false)));
  ctx.onPlain('srcu/gp-start', (s, e) => {
    const c = copyObject(s.domains[e.domain]!);
    c.gp = { gp: e.gp, startSeq: e.seq, phase: 1, first: e.first, last: e.last };
    c.takenThrough = e.last;
    return withDomain(s, e.domain, c);
  });
  // A drain check changes nothing: the log records what it read.
  ctx.declareEvents(['srcu/scan']);
  ctx.onPlain('srcu/flip', (s, e) => {
    const dom = withField(s.domains[e.domain]!, 'idx', e.idx);
    if (dom.gp === null) return withDomain(s, e.domain, dom);
    // A new record of the grace period, as a spread of it would be (even when already in phase 2).
    const gp = copyObject(dom.gp);
    gp.phase = 2;
    const c = dom === s.domains[e.domain] ? copyObject(dom) : (dom as { -readonly [K in keyof Domain]: Domain[K] });
    c.gp = gp;
    return withDomain(s, e.domain, c);
  });
  ctx.onPlain('srcu/gp-end', gpEnded);
  ctx.onPlain('srcu/callback-invoked', invoked);
  ctx.onPlain('srcu/callback-failed', invoked);
}
