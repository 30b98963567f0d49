import { msleep, waitEvent, wakeUp, type KernelState, type KPath } from '@tracelab/core';
import { defineScenario, unsafeOptionVariants, watchGracePeriods } from '@tracelab/explore';
import { rcuTasks } from '@tracelab/rcu-tasks';
import type { KprobesApi } from './events.js';
import { kprobes } from './internal/plugin.js';
import { KPROBES_INVARIANTS } from './internal/reducers.js';

/** The probed function. */
const FN = 'do_sys_open';
/** Calls of the function per caller, a tick apart. */
const CALLS = 1;
/** Ticks the tracer keeps its probe. */
const KEEP = 2;
/** The wait channel on which later callers sleep until the probe is optimized (scenario scaffolding, not a kernel object). */
const OPTIMIZED = 'optprobe-free:optimized';

/** The tracer: register an optimized kprobe on `FN`, keep it `KEEP` ticks, unregister it (which frees the detour buffer). */
function* tracer(api: KprobesApi): KPath<void> {
  yield* api.registerKprobe(FN);
  yield* wakeUp(OPTIMIZED);
  yield* msleep(KEEP);
  yield* api.unregisterKprobe(FN);
}

/** Whether the probe on `FN` was registered and the optimizer is done with it (the jump is written, or already gone again). */
function optimizerDone(s: KernelState): boolean {
  const k = s.plugins.kprobes!;
  const p = k.probes[FN];
  return k.nextBuffer > 1 && (p === undefined || p.optimized || !p.armed);
}

/**
 * A kernel thread calling the probed function, sleeping a tick between calls. Caller 0 starts at
 * once, so it may be between the function's first instructions when the probe is armed (the
 * optimizer's hazard). The others first wait until the jump is written, so that they call the
 * optimized function while the tracer is about to unregister it (the freeing hazard): without
 * that they would all have called it during the optimizer's Tasks grace period, which the
 * first call holds up.
 */
function* caller(api: KprobesApi, i: number): KPath<void> {
  if (i > 0) yield* waitEvent(OPTIMIZED, optimizerDone);
  for (let c = 0; c < CALLS; c++) {
    yield* api.callFunction(FN);
    yield* msleep(1);
  }
}

/** `fixed` is upstream; each unsafe variant is kprobes' `unsafe` option of the same name. */
const VARIANTS = unsafeOptionVariants(
  'arm, synchronize_rcu_tasks, write the jump; unoptimize, synchronize_rcu_tasks, free the buffer (CONFIG_PREEMPT upstream)',
  {
    'free-after-rcu-sched': {
      description: 'unoptimize, synchronize_sched, free: a preemption inside the buffer is an RCU-sched quiescent state, so the task resumes in freed memory',
      expect: [KPROBES_INVARIANTS.noDetourUseAfterFree],
    },
    'optimize-without-wait': {
      description:
        'the optimizer writes the jump without synchronize_rcu_tasks: a caller preempted between the first instructions of the function resumes inside the jump',
      expect: [KPROBES_INVARIANTS.noResumeInsideJump],
    },
  },
);

/**
 * Optimizing an optprobe and freeing its detour buffer (SEMANTICS.md §4.2, "Optimized kprobes";
 * thread 003, where optimized kprobes are named beside ftrace trampolines): `callers` kernel
 * threads (more than a CPU can hold, so one is preempted and left on the runqueue) call a probed
 * function while a tracer registers the probe (the jump written over the function's first
 * instructions) and unregisters it (the buffer freed).
 */
export const scenario = defineScenario({
  name: 'optprobe-free',
  description:
    'a tracer optimizes a kprobe and later frees its detour buffer while tasks may be preempted in the instructions the jump covers or inside the buffer (rcu-tasks, kprobes)',
  source: 'shared/seeds/003_a77a0132219907dc.txt; kernel/kprobes.c (kprobe_optimizer), arch/x86/kernel/kprobes/opt.c',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 1500,
  scale: { name: 'callers', default: 2, min: 1 },
  sourceModule: { module: import.meta.url, exportName: 'scenario' },
  variants: VARIANTS.variants,
  plugins: (variant) => [rcuTasks(), kprobes(VARIANTS.options(variant))],
  setup(kernel, { scale }) {
    const api = kernel.api.kprobes;
    kernel.spawnKthread(tracer(api), { comm: 'tracer' });
    for (let i = 0; i < scale; i++) kernel.spawnKthread(caller(api, i), { comm: `caller${i}` });
    watchGracePeriods(kernel);
  },
});

export default scenario;
