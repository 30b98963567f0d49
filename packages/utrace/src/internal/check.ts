import { SIGKILL, intMapGet, type InvariantCheck, type KernelState, type PluginContext } from '@tracelab/core';
import { ENGINE_STOP } from '../constants.js';
import type { UtraceState } from '../events.js';
import { UTRACE_INVARIANTS, utraceSlice } from './reducers.js';

/** What the reducers saw break, for one invariant name (use-after-free, reap order, ...). */
export function brokenInvariant(name: string): InvariantCheck {
  return (s) => {
    const b = utraceSlice(s).broken;
    return b !== null && b.invariant === name ? b.message : false;
  };
}

/**
 * SEMANTICS.md 3(d): a utrace-stopped task has at least one attached engine holding
 * ENGINE_STOP, unless SIGKILL is pending. Checked on every task in TASK_TRACED, whenever the
 * slice or the task table changed (the slice only holds traced tasks, so this stays small).
 */
export function stoppedInvariant(): InvariantCheck {
  // Last slice and task table checked clean (only this check reads and writes them).
  let last: UtraceState | null = null;
  let lastTasks: KernelState['tasks'] | null = null;
  return (s) => {
    const u = utraceSlice(s);
    if (u === last && s.tasks === lastTasks) return false;
    for (const key in u.tasks) {
      const t = u.tasks[Number(key)]!;
      const task = intMapGet(s.tasks, t.pid);
      if (task === undefined || task.state !== 'stopped') continue;
      // In utrace_stop, or a job-control stop a STOP converted to TASK_TRACED.
      if (!t.stopped && task.traced !== true) continue;
      if (task.pendingSignals.includes(SIGKILL)) continue;
      if (!holdsStop(u, t.attached) && !holdsStop(u, t.attaching))
        return `pid ${t.pid} is stopped by utrace (TASK_TRACED) but no attached engine holds ENGINE_STOP`;
    }
    last = u;
    lastTasks = s.tasks;
    return false;
  };
}

function holdsStop(u: UtraceState, ids: readonly number[]): boolean {
  for (const id of ids) {
    const e = u.engines[id];
    if (e !== undefined && !e.detached && e.stop) return true;
  }
  return false;
}

function lacksFlags(u: UtraceState, t: UtraceState['tasks'][number], ids: readonly number[]): string | null {
  for (const id of ids) {
    const e = u.engines[id];
    if (e === undefined || e.detached) continue;
    const want = e.flags | (e.stop ? ENGINE_STOP : 0);
    if ((t.flags & want) !== want) return `pid ${t.pid}: utrace_flags ${t.flags} lacks bits of engine ${id}'s ${want}`;
  }
  return null;
}

/**
 * utrace_flags ⊇ the union of the live engines' masks (and ENGINE_STOP when one holds it), for
 * a task that is not exiting: once dead, utrace_reset keeps only REAP (SEMANTICS.md 3(d)).
 * The result depends on the slice, and on the task table only through tasks that stop being
 * checked once they exit: a slice already checked clean stays clean, so it is not walked again.
 */
export function flagsInvariant(): InvariantCheck {
  // The last slice found clean (only this check reads and writes it).
  let clean: UtraceState | null = null;
  return (s) => {
    const u = utraceSlice(s);
    if (u === clean) return false;
    for (const key in u.tasks) {
      const t = u.tasks[Number(key)]!;
      if (t.reap || t.death || t.deathDone) continue;
      const task = intMapGet(s.tasks, t.pid);
      if (task === undefined || task.exitState !== null) continue;
      const bad = lacksFlags(u, t, t.attached) ?? lacksFlags(u, t, t.attaching);
      if (bad !== null) return bad;
    }
    clean = u;
    return false;
  };
}

export const INVARIANT_CHECKS = UTRACE_INVARIANTS;

/** What the stopped and flags checks decide on (core `InvariantOptions.reads`). */
const TASK_CHECK_READS = ['plugin:utrace', 'tstop:*'] as const;

/** Registers the six invariants of the README's table. */
export function registerInvariants(ctx: PluginContext<UtraceState>): void {
  ctx.invariant(UTRACE_INVARIANTS.lifetime, brokenInvariant(UTRACE_INVARIANTS.lifetime));
  ctx.invariant(UTRACE_INVARIANTS.deathReap, brokenInvariant(UTRACE_INVARIANTS.deathReap));
  ctx.invariant(UTRACE_INVARIANTS.detach, brokenInvariant(UTRACE_INVARIANTS.detach));
  ctx.invariant(UTRACE_INVARIANTS.aggregate, brokenInvariant(UTRACE_INVARIANTS.aggregate));
  // The two checks that look at task records read only whether a task has one, is stopped,
  // traced, has SIGKILL pending or has exited (core `tstop`), beside the slice: declared, so an
  // explorer's DPOR does not order every context switch behind them.
  ctx.invariant(UTRACE_INVARIANTS.stopped, stoppedInvariant(), { reads: TASK_CHECK_READS });
  ctx.invariant(UTRACE_INVARIANTS.flags, flagsInvariant(), { reads: TASK_CHECK_READS });
}
