/**
 * @tracelab/rcu-tasks: RCU-tasks (Paul McKenney's 2014 series, "[PATCH v3 tip/core/rcu 3/9] rcu:
 * Add synchronous grace-period waiting for RCU-tasks") and its tasks-trace flavour as a
 * tracelab plugin. See the package README for the options, API, events and invariants, and
 * docs/rcu-tasks.md for the design.
 */
import { definePlugin, emit, getState, intMapGet, printk, type KernelState, type TracelabPlugin } from '@tracelab/core';
import type { RcuTasksApi, RcuTasksFlavour, RcuTasksState } from './events.js';
import { resolveOptions, type RcuTasksOptions } from './internal/options.js';
import { rcuTasksPaths } from './internal/paths.js';
import { RCU_TASKS_INVARIANTS, RCU_TASKS_LIVENESS, registerReducers } from './internal/reducers.js';
import { INITIAL_RCU_TASKS_STATE, intMapEntries, queuedCallbacks, rcuTasksSlice } from './internal/slice.js';

export type {
  GpReaderState,
  HoldoutDropReason,
  HoldoutState,
  RcuTasksApi,
  RcuTasksFlavour,
  RcuTasksFlavourState,
  RcuTasksGpRecord,
  RcuTasksGpState,
  RcuTasksState,
  TraceReaderState,
} from './events.js';
export type { RcuTasksOptions, ResolvedRcuTasksOptions } from './internal/options.js';
export { RCU_TASKS_INVARIANTS, RCU_TASKS_LIVENESS } from './internal/reducers.js';
export { KTHREAD_COMM } from './internal/paths.js';
export { formatRcuTasksSummary, summarizeRcuTasks, type RcuTasksSummary } from './summary.js';

export const RCU_TASKS_VERSION = '0.1.0';

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

/**
 * The plugin factory: `createKernel({ plugins: [rcuTasks()] })`, then
 * `kernel.call(kernel.api.rcuTasks.synchronizeRcuTasks())`.
 * Throws `INVALID_OPTION` for an unknown option key, a value of the wrong type or out of range,
 * or options that are not an object.
 */
export function rcuTasks(options: RcuTasksOptions = {}): TracelabPlugin<RcuTasksApi, RcuTasksState> {
  const opts = resolveOptions(options);
  return definePlugin<RcuTasksApi, RcuTasksState>({
    name: 'rcu-tasks',
    version: RCU_TASKS_VERSION,
    core: '^0.1.0',
    options: opts,
    register(ctx) {
      ctx.initSlice(INITIAL_RCU_TASKS_STATE);
      registerReducers(ctx);
      ctx.declareEvents(['rcu-tasks/rude-start', 'rcu-tasks/rude-cpu', 'rcu-tasks/rude-end']);
      const paths = rcuTasksPaths(opts);
      // Resettable: the callback closures are the only thing kept outside the slice.
      ctx.onReset(paths.reset);

      // exit_tasks_rcu_finish_trace: a task that exits inside a tasks-trace reader is a bug of
      // its own; warn and end its section, or every later tasks-trace GP would wait forever.
      ctx.tap('exit', function* traceExitFixup({ pid }) {
        const r = intMapGet(rcuTasksSlice(yield* getState()).traceReaders, pid);
        if (r === undefined) return;
        yield* printk(`rcu-tasks: WARNING: pid ${pid} exits inside a tasks-trace reader (nesting ${r.nesting})`);
        yield* emit({ type: 'rcu-tasks/trace-exit-fixup', pid, nesting: r.nesting });
      });

      if (opts.checks) {
        for (const name of Object.values(RCU_TASKS_INVARIANTS)) {
          ctx.invariant(name, (s) => {
            const v = rcuTasksSlice(s).violation;
            return v !== null && v.invariant === name ? v.message : null;
          });
        }
        ctx.liveness(RCU_TASKS_LIVENESS, { hot: gpEnds(), bound: opts.livenessBound });
      }

      return {
        callRcuTasks: paths.callRcuTasks,
        synchronizeRcuTasks: paths.synchronizeRcuTasks,
        rcuBarrierTasks: paths.rcuBarrierTasks,
        rcuReadLockTrace: paths.rcuReadLockTrace,
        rcuReadUnlockTrace: paths.rcuReadUnlockTrace,
        callRcuTasksTrace: paths.callRcuTasksTrace,
        synchronizeRcuTasksTrace: paths.synchronizeRcuTasksTrace,
        rcuBarrierTasksTrace: paths.rcuBarrierTasksTrace,
        synchronizeRcuTasksRude: paths.synchronizeRcuTasksRude,
        traceNesting: (pid: number) => intMapGet(ctx.slice().traceReaders, pid)?.nesting ?? 0,
        completed: (flavour: RcuTasksFlavour = 'tasks') => ctx.slice()[flavour].completed,
        holdouts: (flavour: RcuTasksFlavour = 'tasks') => {
          const g = ctx.slice()[flavour].gp;
          return g === null ? [] : [...intMapEntries(g.holdouts)].map(([pid]) => pid);
        },
      };
    },
  });
}
