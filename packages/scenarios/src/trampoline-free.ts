import { schedPoint, type KPath } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { ftrace, type FtraceApi, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftraceSession, getpidCaller } from './internal/programs.js';

/**
 * Every variant has the same stack and workload, a kprobe-like site in the idle loop included
 * (`traceIdle`). `fixed` is upstream's ftrace_shutdown; `no-rude` takes its Tasks-Rude wait
 * away; `rcu-sched` is the code the 2014 thread started from.
 */
const OPTIONS: Readonly<Record<string, FtraceOptions>> = {
  fixed: { freeTrampolineAfter: 'rcu-tasks', cpuSync: 'tasks-rude', traceIdle: true, idleTrampolines: 'allow' },
  // The 2014 code: synchronize_sched only, and (Paul's point) no trampoline for idle-loop sites.
  'rcu-sched': { freeTrampolineAfter: 'rcu-sched', cpuSync: 'rcu-sched', traceIdle: true, idleTrampolines: 'refuse' },
  'no-rude': { freeTrampolineAfter: 'rcu-tasks', cpuSync: 'rcu-sched', traceIdle: true, idleTrampolines: 'allow' },
};

/** Scheduling points the callback spends on the idle loop's default_idle (see `probe`). */
const IDLE_PROBE_POINTS = 8;

/**
 * The ops' callback. For a task's sys_getpid it only has to be called (the log has every entry
 * to its trampoline). For the idle loop's default_idle it takes a while: `IDLE_PROBE_POINTS`
 * scheduling points on the trampoline, with RCU not watching. The idle task is never switched
 * out there (it schedules only from the top of its loop), so the other CPU goes on meanwhile:
 * the time stands for whatever keeps an idle CPU in such code (the callback's own work, an
 * NMI, a vCPU its host preempted).
 */
function probe(ip: string): KPath<void> | undefined {
  if (ip !== 'default_idle') return undefined;
  return (function* idleProbeWork(): KPath<void> {
    for (let i = 0; i < IDLE_PROBE_POINTS; i++) yield* schedPoint();
  })();
}

/** getpid calls per caller. */
const CALLS = 2;
/** Ticks the tracer keeps its ops registered. */
const KEEP = 2;

/**
 * The tracer (perf or an ftrace instance creating its own ops): register a DYNAMIC ops on
 * sys_getpid and the idle loop's default_idle (it gets its own trampoline), keep it `keep`
 * ticks, unregister it, which unpatches the sites, waits, and frees the trampoline.
 */
function* tracer(api: FtraceApi, keep: number): KPath<number> {
  const ops: FtraceOps = { func: probe, filter: ['sys_getpid', 'default_idle'], flags: ['DYNAMIC'], label: 'probe' };
  return yield* ftraceSession(api, ops, keep);
}

/**
 * Freeing a per-ops ftrace trampoline (thread 003, Rostedt, Zijlstra and McKenney, August
 * 2014): `callers` user tasks call the traced sys_getpid (more tasks than a CPU, so a caller
 * is preempted on the trampoline and left on the runqueue) while a tracer unregisters the ops
 * and frees its trampoline; the idle loop runs the traced default_idle whenever a CPU idles.
 */
export const trampolineFree = defineScenario({
  name: 'trampoline-free',
  description: 'a tracer unregisters a DYNAMIC ftrace ops and frees its trampoline while tasks may be preempted on it (rcu-tasks, ftrace)',
  source: 'shared/seeds/003_a77a0132219907dc.txt: rcu: Add synchronous grace-period waiting for RCU-tasks',
  cpus: 2,
  maxSteps: 1000,
  scale: { name: 'callers', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'trampolineFree' },
  variants: [
    {
      name: 'fixed',
      description:
        'unpatch, synchronize_rcu_tasks_rude (every CPU switches, idle ones included), then synchronize_rcu_tasks before the free (ftrace_shutdown upstream)',
      safe: true,
    },
    {
      name: 'rcu-sched',
      description: 'the free waits for RCU-sched only (the 2014 code), and a preemption is an RCU-sched quiescent state',
      safe: false,
      expect: ['ftrace/no-trampoline-use-after-free'],
    },
    {
      name: 'no-rude',
      description: 'RCU-sched then RCU-tasks, no Tasks-Rude: an idle CPU runs default_idle on the trampoline with RCU not watching, and neither wait covers it',
      safe: false,
      expect: ['ftrace/no-trampoline-use-after-free'],
    },
  ],
  plugins: (variant) => [rcuTasks(), ftrace(OPTIONS[variant] ?? {})],
  setup(kernel, { scale }) {
    kernel.spawnKthread(tracer(kernel.api.ftrace, KEEP), { comm: 'tracer' });
    for (let i = 0; i < scale; i++) kernel.spawn(getpidCaller(CALLS), { comm: `w${i}` });
    watchGracePeriods(kernel);
  },
});
