import type { PluginContext } from '@tracelab/core';
import { newDomain, type SrcuState } from '../state.js';

/** The slice as reducers write it (the core's immer draft of it). */
type SliceDraft = Parameters<Parameters<PluginContext<SrcuState>['on']>[1]>[0];
type DomainDraft = SliceDraft['domains'][string];

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

/** The first violation wins: the run stops on it. */
function violate(d: SliceDraft, invariant: string, message: string): void {
  if (d.violation === null) d.violation = { invariant, message };
}

/** The reducers of every `srcu/*` event. They are the only writers of the slice. */
export function registerReducers(ctx: PluginContext<SrcuState>): void {
  const domain = (d: SliceDraft, name: string): DomainDraft => d.domains[name]!;

  ctx.on('srcu/init', (d, e) => {
    d.domains[e.domain] = newDomain(e.domain, e.cpus) as DomainDraft;
  });
  ctx.on('srcu/cleanup', (d, e) => {
    delete d.domains[e.domain];
  });
  ctx.on('srcu/warn', (d) => {
    d.warnings += 1;
  });
  ctx.on('srcu/lock', (d, e) => {
    const dom = domain(d, e.domain);
    dom.lockCount[e.idx]![e.onCpu]! += 1;
    d.readers[e.reader] = { reader: e.reader, domain: e.domain, pid: e.pid, idx: e.idx, cpu: e.onCpu, lockSeq: e.seq };
    d.nextReader = e.reader + 1;
  });
  ctx.on('srcu/unlock', (d, e) => {
    if (e.counted) domain(d, e.domain).unlockCount[e.idx]![e.onCpu]! += 1;
    if (e.reader !== null) delete d.readers[e.reader];
  });
  ctx.on('srcu/callback-queued', (d, e) => {
    domain(d, e.domain).nextCallbackId = e.id + 1;
  });
  ctx.on('srcu/kthread-start', (d, e) => {
    domain(d, e.domain).kthread = e.pid;
  });
  ctx.on('srcu/kthread-stop', (d, e) => {
    domain(d, e.domain).kthreadShouldStop = true;
  });
  ctx.on('srcu/kthread-exit', (d, e) => {
    const dom = domain(d, e.domain);
    dom.kthread = null;
    dom.kthreadShouldStop = false;
  });
  ctx.on('srcu/gp-start', (d, e) => {
    const dom = domain(d, e.domain);
    dom.gp = { gp: e.gp, startSeq: e.seq, phase: 1, first: e.first, last: e.last };
    dom.takenThrough = e.last;
  });
  // A drain check changes nothing: the log records what it read.
  ctx.declareEvents(['srcu/scan']);
  ctx.on('srcu/flip', (d, e) => {
    const dom = domain(d, e.domain);
    dom.idx = e.idx;
    if (dom.gp !== null) dom.gp = { ...dom.gp, phase: 2 };
  });
  ctx.on('srcu/gp-end', (d, e) => {
    const dom = domain(d, e.domain);
    const gp = dom.gp!;
    // The invariant, checked where it can break: at the end of a grace period, every reader
    // of this domain still inside must have had its lock counted after the grace period began.
    for (const r of Object.values(d.readers)) {
      if (r.domain === e.domain && r.lockSeq < gp.startSeq) {
        violate(
          d,
          'srcu/gp-waits-for-readers',
          `grace period ${e.gp} of srcu domain ${e.domain} ended while pid ${r.pid} is still inside the reader it locked (slot ${r.idx}, on cpu ${r.cpu}) before the grace period began`,
        );
        break;
      }
    }
    dom.completed = e.gp;
    dom.completedThrough = gp.last;
    dom.gp = null;
  });
  const invoked = (d: SliceDraft, e: { domain: string; id: number; label: string }) => {
    const dom = domain(d, e.domain);
    if (e.id > dom.completedThrough)
      violate(
        d,
        'srcu/callback-after-gp',
        `callback ${e.id} (${e.label}) of srcu domain ${e.domain} ran before a grace period that took it had ended (covered through ${dom.completedThrough})`,
      );
    dom.invokedThrough = Math.max(dom.invokedThrough, e.id);
  };
  ctx.on('srcu/callback-invoked', invoked);
  ctx.on('srcu/callback-failed', invoked);
}
