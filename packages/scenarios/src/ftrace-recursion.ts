import { fn, schedPoint, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { TICK_FUNCTION, ftrace, type FtraceApi, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftraceSession, getpidCaller } from './internal/programs.js';

/**
 * `fixed` asks ftrace for protection (FTRACE_OPS_FL_RECURSION, Linux 5.11 on) and the guard is
 * per context; `no-recursion-flag` is an ops whose callback neither asks nor protects itself;
 * `per-task-guard` asks, but the guard has one bit per task, as before the kernel's per-context
 * bits.
 */
const VARIANTS: Readonly<Record<string, { readonly flags: NonNullable<FtraceOps['flags']>; readonly options: FtraceOptions }>> = {
  fixed: { flags: ['RECURSION'], options: {} },
  'no-recursion-flag': { flags: [], options: {} },
  'per-task-guard': { flags: ['RECURSION'], options: { recursionGuard: 'per-task' } },
};

/** The traced helper every callback calls: preempt_count_add, traced under CONFIG_DEBUG_PREEMPT (callbacks must use the _notrace variants). */
const HELPER = 'preempt_count_add';
/** Scheduling points a task's callback spends in its helper: a tick can arrive inside. */
const CALLBACK_POINTS = 2;

/**
 * The ops' callback, for any traced function: it calls the traced helper (a preempt_disable
 * that is not _notrace), which enters ftrace again. Without a guard every such call re-enters
 * the callback; with one, the nested call from the same context is refused.
 */
function probe(): KPath<void> {
  return fn(
    HELPER,
    (function* preemptCountAdd(): KPath<void> {
      for (let i = 0; i < CALLBACK_POINTS; i++) yield* schedPoint();
    })(),
  );
}

/** getpid calls per caller. */
const CALLS = 2;
/** Ticks the tracer keeps its ops registered. */
const KEEP = 12;

/**
 * The tracer: registers its (static) ops on sys_getpid, the tick's function and the helper,
 * keeps it `KEEP` ticks, unregisters it.
 */
function* tracer(api: FtraceApi, flags: NonNullable<FtraceOps['flags']>): KPath<number> {
  const ops: FtraceOps = { func: probe, filter: ['sys_getpid', TICK_FUNCTION, HELPER], flags, label: 'tracer' };
  return yield* ftraceSession(api, ops, KEEP);
}

/**
 * Recursion through the function tracer's own callback (issue 18; SEMANTICS.md 4.2(a) and
 * 6): a callback that calls traced code enters ftrace again. Upstream's answer is the
 * recursion guard (trace_test_and_set_recursion), taken by the list function and, for an ops
 * with FTRACE_OPS_FL_RECURSION, by the assist function its trampoline calls; its bits are per
 * context (task, hard interrupt, NMI), so a timer tick arriving inside a task's callback is
 * traced, not refused as recursion.
 */
export const ftraceRecursion = defineScenario({
  name: 'ftrace-recursion',
  description: "a function tracer's callback calls a traced function while timer ticks call traced code (ftrace recursion guard, interrupts)",
  source:
    'shared/seeds/003_a77a0132219907dc.txt (ftrace callbacks and trampolines); Linux 5.11 "ftrace: Have the callbacks receive a struct ftrace_regs" series, FTRACE_OPS_FL_RECURSION',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 1000,
  scale: { name: 'callers', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'ftraceRecursion' },
  variants: [
    {
      name: 'fixed',
      description:
        'the ops sets FTRACE_OPS_FL_RECURSION: the assist function takes the per-context recursion guard, refuses the nested call, and traces the tick inside',
      safe: true,
    },
    {
      name: 'no-recursion-flag',
      description:
        'no FTRACE_OPS_FL_RECURSION and a callback that does not protect itself: the trampoline calls it directly, and the helper re-enters it without end',
      safe: false,
      expect: ['ftrace/no-runaway-recursion'],
    },
    {
      name: 'per-task-guard',
      description:
        "the guard has one bit per task: a tick arriving inside the task's callback finds it set, and its traced call is refused as recursion (its event lost)",
      safe: false,
      expect: ['ftrace/recursion-guard-per-context'],
    },
  ],
  plugins: (variant) => [rcuTasks(), ftrace({ traceTick: true, ...VARIANTS[variant]?.options })],
  interrupts: () => ({ timer: { period: 2 } }),
  setup(kernel, { variant, scale }) {
    kernel.spawnKthread(tracer(kernel.api.ftrace, VARIANTS[variant]?.flags ?? []), { comm: 'tracer' });
    for (let i = 0; i < scale; i++) kernel.spawn(getpidCaller(CALLS), { comm: `w${i}` });
    watchGracePeriods(kernel);
  },
});
