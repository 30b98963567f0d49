import { SIGKILL, intMapGet, type InvariantCheck, type KernelState } from '@tracelab/core';
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
  let last: UtraceState | null = null;
  let lastTasks: KernelState['tasks'] | null = null;
  return (s) => {
    const u = utraceSlice(s);
    if (u === last && s.tasks === lastTasks) return false;
    for (const t of Object.values(u.tasks)) {
      if (!t.stopped) continue;
      const task = intMapGet(s.tasks, t.pid);
      if (task === undefined || task.state !== 'stopped') continue;
      if (task.pendingSignals.includes(SIGKILL)) continue;
      const holder = [...t.attached, ...t.attaching].some((id) => {
        const e = u.engines[id];
        return e !== undefined && !e.detached && e.stop;
      });
      if (!holder) return `pid ${t.pid} is stopped by utrace (TASK_TRACED) but no attached engine holds ENGINE_STOP`;
    }
    last = u;
    lastTasks = s.tasks;
    return false;
  };
}

/**
 * utrace_flags ⊇ the union of the live engines' masks (and ENGINE_STOP when one holds it), for
 * a task that is not exiting: once dead, utrace_reset keeps only REAP (SEMANTICS.md 3(d)).
 */
export const flagsInvariant: InvariantCheck = (s) => {
  const u = utraceSlice(s);
  for (const t of Object.values(u.tasks)) {
    if (t.reap || t.death || t.deathDone) continue;
    const task = intMapGet(s.tasks, t.pid);
    if (task === undefined || task.exitState !== null) continue;
    for (const id of [...t.attached, ...t.attaching]) {
      const e = u.engines[id];
      if (e === undefined || e.detached) continue;
      const want = e.flags | (e.stop ? ENGINE_STOP : 0);
      if ((t.flags & want) !== want) return `pid ${t.pid}: utrace_flags ${t.flags} lacks bits of engine ${id}'s ${want}`;
    }
  }
  return false;
};

export const INVARIANT_CHECKS = UTRACE_INVARIANTS;
