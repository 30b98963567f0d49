import { EAGAIN, EBUSY, EINVAL, emit, isKPath, mutexLock, mutexUnlock, printk, type KPath } from '@tracelab/core';
import type { BpfTrampolineSpec, FtraceDirectOps, FtraceDirectTrampoline, FtraceOpsCmd } from './events.js';
import { modifyFtraceDirectLocked, registerFtraceDirectLocked, unregisterFtraceDirectLocked } from './ftrace-direct.js';
import { DIRECT_MUTEX } from './internal/constants.js';
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

// ---- the BPF trampoline and its ops_func --------------------------------------------------------

/**
 * `struct bpf_trampoline` as the model keeps it, one per traced function (bpf_trampoline_lookup's
 * key): its linked programs (each BpfTrampolineSpec is one bpf_tramp_link), its direct ops
 * (`fops`, whose ops_func is bpf_tramp_ftrace_ops_func), its BPF_TRAMP_F_* flags, and the image
 * it runs. guarded by: direct_mutex (the model's stand-in for tr->mutex: see docs/ftrace.md,
 * decision 12); cleared by kernel.reset.
 */
export class BpfTrampoline {
  /** The linked programs, in link order (tr->progs_hlist). */
  readonly links: BpfTrampolineSpec[] = [];
  /** BPF_TRAMP_F_CALL_ORIG: an fexit/fmod_ret program is linked, so the image calls the function. */
  callOrig = false;
  /** BPF_TRAMP_F_ORIG_STACK: the image calls the function through the return address on its stack. */
  origStack = false;
  /** BPF_TRAMP_F_SHARE_IPMODIFY: set and cleared by the ops_func, kept across rebuilds. */
  shareIpmodify = false;
  /** tr->cur_image: the image attached now, or null. */
  cur: FtraceDirectTrampoline | null = null;
  /** Images built so far (for their labels). */
  built = 0;
  readonly fops: FtraceDirectOps;

  constructor(
    ft: FtraceRuntime,
    readonly func: string,
  ) {
    // bpf_trampoline_lookup: tr->fops->ops_func = bpf_tramp_ftrace_ops_func.
    this.fops = { filter: [func], flags: ['DYNAMIC'], label: this.label, opsFunc: (cmd) => bpfTrampFtraceOpsFunc(ft, this, cmd) };
  }

  get label(): string {
    return `bpf_trampoline_${this.func}`;
  }

  flags(): Array<'CALL_ORIG' | 'ORIG_STACK' | 'SHARE_IPMODIFY'> {
    return [
      ...(this.callOrig ? (['CALL_ORIG'] as const) : []),
      ...(this.origStack ? (['ORIG_STACK'] as const) : []),
      ...(this.shareIpmodify ? (['SHARE_IPMODIFY'] as const) : []),
    ];
  }
}

/**
 * bpf_tramp_ftrace_ops_func, the BPF trampoline's ops_func:
 * - `-self` (its own registration, under direct_mutex and ftrace_lock; or its modify, under
 *   direct_mutex only): an image that calls the function without ORIG_STACK cannot share it; it
 *   sets SHARE_IPMODIFY and returns -EAGAIN, and bpfTrampolineUpdate builds the image again
 *   with ORIG_STACK and retries. Otherwise 0.
 * - `-peer` (a live patch is about to register): SET SHARE_IPMODIFY, and rebuild if the image
 *   calls the function without ORIG_STACK.
 * - `disable-…-peer` (the live patch left): clear it, and rebuild if the image has ORIG_STACK.
 * Upstream takes tr->mutex with a trylock here (-EAGAIN when it is busy); the model's updates
 * all run under direct_mutex, which the caller holds, so there is nothing to try.
 */
function* bpfTrampFtraceOpsFunc(ft: FtraceRuntime, tr: BpfTrampoline, cmd: FtraceOpsCmd): KPath<number> {
  if (cmd === 'enable-share-ipmodify-self') {
    if (!tr.callOrig || tr.origStack) return 0;
    if (tr.shareIpmodify) return -EBUSY; // upstream WARNs: it was rebuilt with ORIG_STACK already
    tr.shareIpmodify = true;
    return -EAGAIN;
  }
  if (cmd === 'enable-share-ipmodify-peer') {
    tr.shareIpmodify = true;
    return tr.callOrig && !tr.origStack ? yield* bpfTrampolineUpdate(ft, tr) : 0;
  }
  tr.shareIpmodify = false;
  return tr.origStack ? yield* bpfTrampolineUpdate(ft, tr) : 0;
}

/**
 * bpf_trampoline_update: a new image with the flags the programs and SHARE_IPMODIFY ask for,
 * attached with register_ftrace_direct (the first time) or modify_ftrace_direct (the sites move
 * to it, the old image is put after an RCU-tasks grace period). On -EAGAIN from the
 * registration (the ops_func asked for ORIG_STACK) the image is freed and built again. On
 * another error the flags are restored and the error returned. The caller holds direct_mutex.
 */
export function* bpfTrampolineUpdate(ft: FtraceRuntime, tr: BpfTrampoline): KPath<number> {
  const saved = { callOrig: tr.callOrig, origStack: tr.origStack, shareIpmodify: tr.shareIpmodify };
  // Clear every flag but SHARE_IPMODIFY, then set what the programs need.
  tr.callOrig = tr.links.some((l) => l.fexit === true);
  const links = [...tr.links];
  // The image runs the programs linked now, in order (a path if one of them returns one).
  const progs = function* bpfProgs(ip: string, parentIp: string): KPath<void> {
    for (const l of links) {
      const r: unknown = l.progs(ip, parentIp);
      if (isKPath(r)) yield* r as KPath<void>;
    }
  };
  for (;;) {
    tr.origStack = tr.shareIpmodify && tr.callOrig;
    const im: FtraceDirectTrampoline = { func: progs, label: `${tr.label}#${++tr.built}`, callOrig: tr.callOrig, origStack: tr.origStack };
    const err = tr.cur === null ? yield* registerFtraceDirectLocked(ft, tr.fops, im) : yield* modifyFtraceDirectLocked(ft, tr.fops, im);
    if (err !== 0) yield* bpfTrampImageFree(ft, im);
    if (err === -EAGAIN) continue;
    if (err !== 0) {
      Object.assign(tr, saved);
      return err;
    }
    const old = tr.cur;
    tr.cur = im;
    yield* emit({ type: 'ftrace/bpf-tramp-update', func: tr.func, tramp: ft.reg.images.get(im)!.id, flags: tr.flags() });
    if (old !== null) yield* bpfTrampImagePutDeferred(ft, old);
    return 0;
  }
}

/** bpf_tramp_image_free: an image that was never attached (its registration failed) is freed at once; nothing can be on it. */
function* bpfTrampImageFree(ft: FtraceRuntime, image: FtraceDirectTrampoline): KPath<void> {
  const t = ft.reg.images.get(image);
  if (t === undefined || t.retired) return;
  t.retired = true;
  yield* emit({ type: 'ftrace/tramp-retired', tramp: t.id, ops: t.ops.id, wait: 'none' });
  t.freed = true;
  yield* emit({ type: 'ftrace/tramp-freed', tramp: t.id, ops: t.ops.id });
}

/**
 * bpf_tramp_image_put as BPF calls it from its own updates: the image is retired now and freed
 * from an RCU-tasks callback (call_rcu_tasks), so the update does not wait (it may run under
 * direct_mutex); `directImagePut: 'immediate'` frees it at once.
 */
function* bpfTrampImagePutDeferred(ft: FtraceRuntime, image: FtraceDirectTrampoline): KPath<void> {
  const t = ft.reg.images.get(image);
  if (t === undefined || t.retired) return;
  const immediate = ft.options.directImagePut === 'immediate';
  t.retired = true;
  yield* emit({ type: 'ftrace/tramp-retired', tramp: t.id, ops: t.ops.id, wait: immediate ? 'none' : 'rcu-tasks' });
  const free = function* bpfTrampImagePutRcuTasks(): KPath<void> {
    t.freed = true;
    yield* emit({ type: 'ftrace/tramp-freed', tramp: t.id, ops: t.ops.id });
  };
  if (immediate) yield* free();
  else yield* ft.tasksRcu.callRcuTasks(free, 'bpf_tramp_image_put');
}

/**
 * bpf_trampoline_link_prog: under direct_mutex, links program `spec` to the trampoline of
 * `spec.func` (made at its first link, bpf_trampoline_lookup) and updates it
 * (bpf_trampoline_update: register_ftrace_direct the first time, modify_ftrace_direct after).
 * Returns 0, -EBUSY when `spec` is linked already, or the update's error (the link is undone).
 */
export function* bpfTrampolineLink(ft: FtraceRuntime, spec: BpfTrampolineSpec): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    let tr = ft.bpfTrampolines.get(spec.func);
    if (tr === undefined) {
      tr = new BpfTrampoline(ft, spec.func);
      ft.bpfTrampolines.set(spec.func, tr);
    }
    if (tr.links.includes(spec)) return -EBUSY;
    tr.links.push(spec);
    const err = yield* bpfTrampolineUpdate(ft, tr);
    if (err !== 0) tr.links.splice(tr.links.indexOf(spec), 1);
    return err;
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/**
 * bpf_trampoline_unlink_prog: under direct_mutex, unlinks `spec`. With programs left the
 * trampoline is updated (modify_ftrace_direct to an image without it); after the last,
 * unregister_fentry (unregister_ftrace_direct, which waits as for any DYNAMIC ops) and the image
 * is put after an RCU-tasks grace period. SHARE_IPMODIFY stays as the ops_func left it. Returns
 * 0, or -EINVAL when `spec` is not linked.
 */
export function* bpfTrampolineUnlink(ft: FtraceRuntime, spec: BpfTrampolineSpec): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    const tr = ft.bpfTrampolines.get(spec.func);
    const i = tr?.links.indexOf(spec) ?? -1;
    if (tr === undefined || i < 0 || tr.cur === null) return -EINVAL;
    tr.links.splice(i, 1);
    if (tr.links.length > 0) return yield* bpfTrampolineUpdate(ft, tr);
    const r = yield* unregisterFtraceDirectLocked(ft, tr.fops);
    if (r !== 0) return r;
    const old = tr.cur;
    tr.cur = null;
    yield* bpfTrampImagePutDeferred(ft, old);
    return 0;
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}
