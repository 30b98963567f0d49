import type { KernelState, PluginContext } from '@tracelab/core';
import type { RcuTasksState } from '../events.js';
import type { ResolvedRcuTasksOptions } from './options.js';
import { RCU_TASKS_INVARIANTS, RCU_TASKS_LIVENESS } from './reducers.js';
import { intMapEntries, queuedCallbacks, rcuTasksSlice } from './slice.js';

/**
 * With `checks` (the default): the invariants, which report what the reducers found (the
 * slice's `violation`), and the liveness monitor.
 */
export function registerChecks(ctx: PluginContext<RcuTasksState>, opts: ResolvedRcuTasksOptions): void {
  if (!opts.checks) return;
  for (const name of Object.values(RCU_TASKS_INVARIANTS)) {
    ctx.invariant(name, (s) => {
      const v = rcuTasksSlice(s).violation;
      return v !== null && v.invariant === name ? v.message : null;
    });
  }
  ctx.liveness(RCU_TASKS_LIVENESS, { hot: gpEnds(), bound: opts.livenessBound });
}

/**
 * The liveness monitor: hot while a flavour has a GP in progress, or callbacks queued with none.
 * A GP that is shedding holdouts is progressing, not stalled: each time what it waits for
 * changes (its scan ran, its holdout count dropped, another GP began), the monitor reads cold
 * for one step, which restarts the core's count. A stall is then `bound` steps, with every
 * runnable task run, in which the same GP kept the same holdouts. Without the restart a GP of a
 * busy kernel (a hundred runnable tasks, the GP kthread one of them, one rescan per time it gets
 * a CPU) outlasts any fixed bound while every rescan drops holdouts.
 */
function gpEnds(): (s: KernelState) => string | null {
  // What the monitor last saw pending (a host-side memo: written only by this closure, read
  // by nothing else; one per kernel, as register() runs once per kernel).
  // The flavour (0 none, 1 tasks, 2 trace, 3 tasks queued, 4 trace queued), its GP and its
  // holdout count (-1 before the scan) last seen pending.
  let seenWhat = 0;
  let seenGp = 0;
  let seenHoldouts = 0;
  /** Whether what is pending changed since the last step (and remembers it). */
  const changed = (what: number, gp: number, holdouts: number): boolean => {
    if (what === seenWhat && gp === seenGp && holdouts === seenHoldouts) return false;
    seenWhat = what;
    seenGp = gp;
    seenHoldouts = holdouts;
    return true;
  };
  return (s) => {
    const slice = rcuTasksSlice(s);
    for (const [i, flavour] of (['tasks', 'trace'] as const).entries()) {
      const f = slice[flavour];
      if (f.gp !== null) {
        if (changed(1 + i, f.gp.gp, f.gp.scanned ? f.gp.holdouts.size : -1)) return null;
        const who: number[] = [];
        for (const [pid] of intMapEntries(f.gp.holdouts)) if (who.push(pid) >= 8) break;
        return `${flavour} grace period ${f.gp.gp} begun at tick ${f.gp.start} has not ended (${f.gp.scanned ? `${f.gp.holdouts.size} holdout(s)${who.length > 0 ? `: pid ${who.join(', ')}` : ''}` : 'before its scan'})`;
      }
      if (queuedCallbacks(f) > 0) {
        changed(3 + i, 0, 0);
        return `${queuedCallbacks(f)} ${flavour} callback(s) queued and no grace period has taken them`;
      }
    }
    changed(0, 0, 0);
    return null;
  };
}
