/**
 * @tracelab/rcu-tasks: RCU-tasks (Paul McKenney's 2014 series, "[PATCH v3 tip/core/rcu 3/9] rcu:
 * Add synchronous grace-period waiting for RCU-tasks") and its tasks-trace flavour as a
 * tracelab plugin. See the package README for the options, API, events and invariants, and
 * docs/rcu-tasks.md for the design.
 */
import { definePlugin, emit, getState, intMapGet, printk, wakeUp, type TracelabPlugin } from '@tracelab/core';
import type { RcuTasksApi, RcuTasksFlavour, RcuTasksState } from './events.js';
import { loggedOptions, resolveOptions, type RcuTasksOptions } from './internal/options.js';
import { rcuTasksPaths } from './internal/paths.js';
import { registerChecks } from './internal/checks.js';
import { registerReducers } from './internal/reducers.js';
import { INITIAL_RCU_TASKS_STATE, intMapEntries, rcuTasksSlice } from './internal/slice.js';

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
export type { RcuTasksExitMode, RcuTasksOptions, ResolvedRcuTasksOptions } from './internal/options.js';
export { RCU_TASKS_INVARIANTS, RCU_TASKS_LIVENESS } from './internal/reducers.js';
export { EXIT_SRCU_CHANNEL, KTHREAD_COMM } from './tasks.js';
import { EXIT_SRCU_CHANNEL } from './tasks.js';
export { formatRcuTasksSummary, summarizeRcuTasks, type RcuTasksSummary } from './summary.js';

export const RCU_TASKS_VERSION = '0.1.0';

/** `exitTasks: 'exit-srcu'`: the exit tap's priority (runs first); the death tap runs at its negation (last). */
export const EXIT_SRCU_PRIORITY = 1000;

/**
 * The plugin factory: `createKernel({ plugins: [rcuTasks()] })`, then
 * `kernel.call(kernel.api['rcu-tasks'].synchronizeRcuTasks())`.
 * Throws `INVALID_OPTION` for an unknown option key, a value of the wrong type or out of range,
 * or options that are not an object.
 */
export function rcuTasks(options: RcuTasksOptions = {}): TracelabPlugin<RcuTasksApi, RcuTasksState> {
  const opts = resolveOptions(options);
  return definePlugin<RcuTasksApi, RcuTasksState>({
    name: 'rcu-tasks',
    version: RCU_TASKS_VERSION,
    core: '^0.1.0',
    options: loggedOptions(opts),
    register(ctx) {
      ctx.initSlice(INITIAL_RCU_TASKS_STATE);
      registerReducers(ctx, opts.exitTasks === 'exit-srcu');
      ctx.declareEvents(['rcu-tasks/rude-start', 'rcu-tasks/rude-cpu', 'rcu-tasks/rude-end', 'rcu-tasks/exit-srcu-wait', 'rcu-tasks/exit-srcu-done']);
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

      if (opts.exitTasks === 'exit-srcu') {
        // exit_tasks_rcu_start: first in do_exit (before any other exit handler), so the task
        // is inside the read side before exit_notify and release_task can unlist it.
        ctx.tap(
          'exit',
          function* exitTasksRcuStart({ pid }) {
            yield* emit({ type: 'rcu-tasks/exit-srcu-lock', pid });
          },
          { priority: EXIT_SRCU_PRIORITY },
        );
        // exit_tasks_rcu_finish: after every other death handler. What the task runs after
        // it (release_task, waking its parent, a lower-priority handler) is covered only by
        // the GP's final RCU-sched wait, for as long as it runs with preemption off.
        ctx.tap(
          'death',
          function* exitTasksRcuFinish({ pid }) {
            yield* emit({ type: 'rcu-tasks/exit-srcu-unlock', pid });
            yield* wakeUp(EXIT_SRCU_CHANNEL);
          },
          { priority: -EXIT_SRCU_PRIORITY },
        );
      }

      registerChecks(ctx, opts);

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
