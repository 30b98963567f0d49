/**
 * The kernel paths of optimized kprobes, after kernel/kprobes.c (register_kprobe,
 * unregister_kprobe, kprobe_optimizer) and arch/x86/kernel/kprobes/opt.c (the detour buffer:
 * optprobe_template_entry, optimized_callback, the copied instructions and the jump back).
 * A `yield` stands wherever a preemptible kernel could preempt the task.
 */
import {
  EEXIST,
  ENOENT,
  TracelabError,
  current,
  describeValue,
  emit,
  getState,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  schedPoint,
  synchronizeRcu,
  type KPath,
  type KernelState,
} from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { KprobeHandler, ResolvedKprobesOptions } from '../events.js';
import { KPROBE_MUTEX, type KprobesState } from '../state.js';

export const slice = (s: KernelState): KprobesState => s.plugins.kprobes!;

/**
 * What the paths share. `handlers` maps a probed function to its handler: hot data outside the
 * state, written by register (under kprobe_mutex, in the step of its `kprobes/registered`) and
 * deleted by unregister (likewise); read by the detour buffer. Cleared by `kernel.reset`.
 */
export interface KprobesEnv {
  readonly opts: ResolvedKprobesOptions;
  readonly rcuTasks: RcuTasksApi;
  readonly handlers: Map<string, KprobeHandler>;
}

function checkFn(where: string, fn: unknown): asserts fn is string {
  if (typeof fn !== 'string' || fn.length === 0)
    throw new TracelabError('INVALID_OPTION', `kprobes.${where}: the function must be a non-empty string, got ${describeValue(fn)}`, { plugin: 'kprobes' });
}

/**
 * register_kprobe, then the optimizer's work for it (kprobe_optimizer). Registration allocates
 * and prepares the detour buffer (arch_prepare_optimized_kprobe: the template, the copied
 * instructions, the jump back), arms the int3 at the entry and sets KPROBE_FLAG_OPTIMIZED
 * (optimize_kprobe): from that step a task reaching the entry takes the int3, whose handler
 * diverts it into the buffer (setup_detour_execution), so no new task starts the instructions
 * the jump will cover. Then the optimizer waits with synchronize_rcu_tasks before it writes the
 * jump (do_optimize_kprobes → arch_optimize_kprobes).
 *
 * Why the wait: the jump is 5 bytes over several instructions. A task that began them before
 * the probe was armed may be preempted between two of them; written over it, the jump leaves it
 * to resume at the 2nd to 5th byte of the jump. Such a task is on the runqueue and has not
 * switched voluntarily, so it is a Tasks-RCU holdout until it has left the region and blocked.
 * (The kernel arms and optimizes from delayed work; the model does both in the caller's path,
 * holding kprobe_mutex across the wait as kprobe_optimizer does.)
 */
export function* registerKprobe(env: KprobesEnv, fn: string, handler: KprobeHandler): KPath<number> {
  checkFn('registerKprobe', fn);
  if (typeof handler !== 'function')
    throw new TracelabError('INVALID_OPTION', `kprobes.registerKprobe(${fn}): the handler must be a function, got ${describeValue(handler)}`, {
      plugin: 'kprobes',
    });
  yield* mutexLock(KPROBE_MUTEX);
  try {
    const st = slice(yield* getState());
    if (st.probes[fn] !== undefined) return -EEXIST;
    const buffer = st.nextBuffer;
    const { pid } = yield* current();
    env.handlers.set(fn, handler);
    yield* emit({ type: 'kprobes/registered', fn, buffer, pid });
    yield* schedPoint(); // the optimizer runs later, from a work item
    const unsafe = env.opts.unsafe.includes('optimize-without-wait');
    if (!unsafe) yield* env.rcuTasks.synchronizeRcuTasks();
    yield* emit({ type: 'kprobes/optimized', fn, buffer, waited: unsafe ? 'none' : 'rcu-tasks' });
    return 0;
  } finally {
    yield* mutexUnlock(KPROBE_MUTEX);
  }
}

/**
 * unregister_kprobe of an optimized probe: unoptimize (the original instructions back, so no
 * task enters the buffer any more), wait until no task can still be inside the buffer, free it.
 *
 * Which wait: a task may be preempted anywhere in the buffer except in the handler (the
 * template and the copied instructions run with preemption on, on a PREEMPT kernel). A
 * preemption is an RCU-sched quiescent state, so synchronize_sched would return over such a
 * task; that is why OPTPROBES first depended on !PREEMPT and later selected TASKS_RCU:
 * synchronize_rcu_tasks waits until every task that was on a runqueue in the kernel has
 * switched voluntarily, returned to user mode or idled, which a task still in the buffer has not.
 */
export function* unregisterKprobe(env: KprobesEnv, fn: string): KPath<number> {
  checkFn('unregisterKprobe', fn);
  yield* mutexLock(KPROBE_MUTEX);
  try {
    const p = slice(yield* getState()).probes[fn];
    if (p === undefined) return -ENOENT;
    yield* emit({ type: 'kprobes/unoptimized', fn, buffer: p.buffer });
    env.handlers.delete(fn);
    // The kprobe_optimizer work: synchronize_rcu_tasks() before do_free_cleaned_kprobes().
    const unsafe = env.opts.unsafe.includes('free-after-rcu-sched');
    if (unsafe) yield* synchronizeRcu();
    else yield* env.rcuTasks.synchronizeRcuTasks();
    yield* emit({ type: 'kprobes/buffer-freed', fn, buffer: p.buffer, waited: unsafe ? 'rcu-sched' : 'rcu-tasks' });
    const { pid } = yield* current();
    yield* emit({ type: 'kprobes/unregistered', fn, pid });
    return 0;
  } finally {
    yield* mutexUnlock(KPROBE_MUTEX);
  }
}

/**
 * A call of the probed function. With an optimized probe its entry is a jump into the detour
 * buffer: the template saves the registers (preemptible), optimized_callback runs the handler
 * with preemption off, then the buffer executes the instructions the jump replaced and jumps
 * back into the function. The task is in the buffer from the jump in to the jump back.
 *
 * With the probe armed but not yet optimized, the entry is the int3: kprobe_int3_handler runs
 * the handler (preemption off) and setup_detour_execution sends the task to the buffer's copied
 * instructions, past the template. Without a probe the task executes the first instructions in
 * place and may be preempted between them.
 */
export function* callFunction(env: KprobesEnv, fn: string, work: number): KPath<void> {
  checkFn('callFunction', fn);
  const p = slice(yield* getState()).probes[fn];
  const { pid } = yield* current();
  if (p !== undefined && p.armed) {
    if (p.optimized) yield* jumpDetour(env, fn, p.buffer, pid);
    else yield* int3Detour(env, fn, p.buffer, pid);
  } else {
    yield* emit({ type: 'kprobes/region-enter', fn, pid });
    yield* schedPoint(); // between two of the instructions a jump would cover
    // The reducer of region-exit checks no jump was written over the region meanwhile.
    yield* emit({ type: 'kprobes/region-exit', fn, pid });
  }
  for (let i = 0; i < work; i++) yield* schedPoint();
}

/** The optimized entry: the jump into the buffer, the template, the handler, the copied instructions, the jump back. */
function* jumpDetour(env: KprobesEnv, fn: string, buffer: number, pid: number): KPath<void> {
  yield* emit({ type: 'kprobes/detour-enter', fn, buffer, pid });
  yield* schedPoint(); // optprobe_template_entry: saving registers, preemptible
  yield* preemptDisable();
  env.handlers.get(fn)?.(fn);
  yield* emit({ type: 'kprobes/hit', fn, buffer, pid });
  yield* preemptEnable(); // a preemption point: still inside the buffer
  // The copied instructions, then the jump back. The reducer of detour-exit checks the buffer
  // is still live: a task resuming here after the free executes freed memory.
  yield* emit({ type: 'kprobes/detour-exit', fn, buffer, pid });
}

/** The armed entry before the jump: the int3, the handler in its context, then the buffer's copied instructions. */
function* int3Detour(env: KprobesEnv, fn: string, buffer: number, pid: number): KPath<void> {
  yield* preemptDisable(); // the int3 handler runs with preemption off
  env.handlers.get(fn)?.(fn);
  yield* emit({ type: 'kprobes/hit', fn, buffer, pid });
  yield* emit({ type: 'kprobes/detour-enter', fn, buffer, pid }); // regs->ip into the buffer's copied instructions
  yield* preemptEnable(); // back from the trap: a preemption point inside the buffer
  yield* emit({ type: 'kprobes/detour-exit', fn, buffer, pid });
}
