import { EBUSY, EINVAL, emit, printk, type KPath } from '@tracelab/core';
import type { FtraceDirectTrampoline } from './events.js';
import type { FtraceRuntime } from './internal/runtime.js';

/**
 * The owner's side of a direct trampoline, after kernel/bpf/trampoline.c: a BPF trampoline
 * image is BPF's memory, not ftrace's, so BPF frees it once ftrace no longer calls it
 * (bpf_tramp_image_put). ftrace's unpatching does not make that safe by itself: the image is
 * preemptible code, and a task preempted inside it (entered before the site was repatched)
 * resumes there later. So the image is freed from call_rcu_tasks: after an RCU-tasks grace
 * period, every task has switched voluntarily or been in user mode since, off the image.
 */

/**
 * bpf_tramp_image_put. Refuses an image that a direct_functions entry, a direct ops or a site
 * still uses (-EBUSY: unregister or modify first), or that ftrace never saw or was already put
 * (-EINVAL). Otherwise retires it, waits for an RCU-tasks grace period (the unsafe
 * `directImagePut: 'immediate'` does not) and frees it. Returns 0 once it is freed.
 *
 * Simplified: upstream's image also holds a percpu_ref across the BPF programs it calls (for
 * fexit programs, which call the original function and may sleep in it), and sleepable
 * programs add an RCU Tasks Trace wait; the model's image calls plain programs, so the Tasks
 * wait that covers the trampoline's own instructions is the whole story.
 */
export function* bpfTrampImagePut(ft: FtraceRuntime, image: FtraceDirectTrampoline): KPath<number> {
  const t = ft.reg.images.get(image);
  if (t === undefined || t.retired) return -EINVAL;
  const inUse =
    [...ft.reg.directFunctions.values()].includes(t) ||
    [...ft.reg.opsById.values()].some((o) => o.directCall === t) ||
    [...ft.reg.sites.values()].some((s) => s.targetRef === t);
  if (inUse) {
    yield* printk(`bpf: trampoline image #${t.id} is still attached: -EBUSY`);
    return -EBUSY;
  }
  const immediate = ft.options.directImagePut === 'immediate';
  t.retired = true;
  yield* emit({ type: 'ftrace/tramp-retired', tramp: t.id, ops: t.ops.id, wait: immediate ? 'none' : 'rcu-tasks' });
  // call_rcu_tasks(&im->rcu, __bpf_tramp_image_put_rcu_tasks): a task preempted on the image
  // stays a holdout until it switches voluntarily or reaches user mode.
  if (!immediate) yield* ft.tasksRcu.synchronizeRcuTasks();
  t.freed = true;
  yield* emit({ type: 'ftrace/tramp-freed', tramp: t.id, ops: t.ops.id });
  return 0;
}
