import { EBUSY, EINVAL, emit, mutexLock, mutexUnlock, printk, type KPath } from '@tracelab/core';
import type { FtraceDirectOps, FtraceDirectTrampoline, FtraceOps } from './events.js';
import { ftraceStartup, unregisterOps } from './ftrace.js';
import { DIRECT_MUTEX, FTRACE_LOCK } from './internal/constants.js';
import { declareSites, directOpsRecOf, opsRecOf, sitesOf } from './internal/records.js';
import { Trampoline, type OpsRec } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';

/**
 * Direct calls, after kernel/trace/ftrace.c's CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS section:
 * register_ftrace_direct, unregister_ftrace_direct, modify_ftrace_direct and the
 * direct_functions hash (ftrace_find_rec_direct). A direct ops is a second kind of target: a
 * site only it traces is patched to call the caller's direct trampoline (a BPF trampoline
 * image) itself; a site shared with other ops calls the list function, where the direct ops'
 * func, call_direct_funcs, sets the address ftrace_regs_caller returns into
 * (arch_ftrace_set_direct_caller), so the caller jumps to the direct trampoline after the
 * other callbacks (mcount.ts). The trampoline belongs to the caller, who frees it
 * (bpf-trampoline.ts). Every entry point takes direct_mutex, then ftrace_lock inside it.
 */

/**
 * The Trampoline standing for a caller's direct trampoline: made (an id, `ftrace/direct-tramp`)
 * the first time ftrace sees the object, by direct ops `op`. The caller holds direct_mutex.
 */
function* directTrampolineOf(ft: FtraceRuntime, image: FtraceDirectTrampoline, op: OpsRec): KPath<Trampoline> {
  let t = ft.reg.images.get(image);
  if (t === undefined) {
    t = new Trampoline(ft.reg.nextTrampId++, op, image);
    ft.reg.images.set(image, t);
    ft.reg.trampolines.set(t.id, t);
    const label = image.label ?? (image.func.name !== '' ? image.func.name : 'direct');
    yield* emit({ type: 'ftrace/direct-tramp', tramp: t.id, ops: op.id, label });
  }
  return t;
}

/**
 * register_ftrace_direct. Under direct_mutex: refuses a function that already has a direct
 * caller, publishes the new direct_functions entries (ip -> `image`), sets the ops'
 * direct_call, then registers it as register_ftrace_function does (ftrace_startup under
 * ftrace_lock): each site only it traces is patched to the direct trampoline. Returns 0;
 * -EINVAL for an empty filter, an ops already registered, a filter entry that matches no
 * function, or a trampoline already freed; -EBUSY when a function has a direct caller.
 */
export function* registerFtraceDirect(ft: FtraceRuntime, dops: FtraceDirectOps, image: FtraceDirectTrampoline): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    const op = directOpsRecOf(ft, dops);
    if (op.registered) return -EINVAL;
    if (op.unmatched !== null) {
      yield* printk(`ftrace: ${op.label}: filter entry ${JSON.stringify(op.unmatched)} matches no function: -EINVAL`);
      return -EINVAL;
    }
    // A direct ops names its functions: an empty hash would mean "every function".
    if (op.filter === null) return -EINVAL;
    const t = yield* directTrampolineOf(ft, image, op);
    if (t.freed || t.retired) return -EINVAL;
    declareSites(ft, op.filterList);
    const ips = sitesOf(ft, op).map((s) => s.ip);
    // "Make sure requested entries are not already registered."
    const taken = ips.find((ip) => ft.reg.directFunctions.has(ip));
    if (taken !== undefined) {
      yield* printk(`ftrace: ${op.label}: ${taken} already has a direct caller: -EBUSY`);
      return -EBUSY;
    }
    // The new hash is published whole (rcu_assign_pointer(direct_functions, new_hash)).
    for (const ip of ips) ft.reg.directFunctions.set(ip, t);
    op.directCall = t;
    yield* emit({ type: 'ftrace/direct-functions', op: 'add', ops: op.id, ips, tramp: t.id });
    yield* mutexLock(FTRACE_LOCK);
    try {
      op.freedByOwner = false;
      yield* ftraceStartup(ft, op);
    } finally {
      yield* mutexUnlock(FTRACE_LOCK);
    }
    return 0;
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/**
 * unregister_ftrace_direct. Under direct_mutex: unregisters the ops (unregister_ftrace_function:
 * its sites unpatched, and for a DYNAMIC ops the Tasks-Rude and Tasks waits of ftrace_shutdown),
 * then removes its direct_functions entries. Returns 0, or -EINVAL when `dops` is not a
 * registered direct ops. The direct trampoline stays the caller's to free (bpfTrampImagePut).
 */
export function* unregisterFtraceDirect(ft: FtraceRuntime, dops: FtraceDirectOps): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    const op = ft.reg.byOps.get(dops as unknown as FtraceOps);
    if (op === undefined || !op.direct || !op.registered) return -EINVAL;
    const r = yield* unregisterOps(ft, () => op);
    if (r !== 0) return r;
    // remove_direct_functions_hash: the entries this ops added (each still names its trampoline).
    const ips = sitesOf(ft, op)
      .map((s) => s.ip)
      .filter((ip) => ft.reg.directFunctions.get(ip) === op.directCall);
    for (const ip of ips) ft.reg.directFunctions.delete(ip);
    op.directCall = null;
    yield* emit({ type: 'ftrace/direct-functions', op: 'remove', ops: op.id, ips, tramp: null });
    return 0;
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/**
 * modify_ftrace_direct (__modify_ftrace_direct). Under direct_mutex:
 * 1. register the temporary ops (a STUB ops on the same functions): every site now has two
 *    tracers, so each is patched to the list function, which calls call_direct_funcs and reads
 *    the ops' direct_call at every call;
 * 2. under ftrace_lock, in one step, point the direct_functions entries and direct_call at
 *    `image` ("we can safely change the direct functions attached to each entry");
 * 3. unregister the temporary ops: each site is patched to `image` itself.
 * It does not wait: a task that entered the old trampoline may still be on it, so the caller
 * frees the old one through bpfTrampImagePut. Returns 0, or -EINVAL (not a registered direct
 * ops, or a freed trampoline).
 */
export function* modifyFtraceDirect(ft: FtraceRuntime, dops: FtraceDirectOps, image: FtraceDirectTrampoline): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    const op = ft.reg.byOps.get(dops as unknown as FtraceOps);
    if (op === undefined || !op.direct || op.stub || !op.registered) return -EINVAL;
    const t = yield* directTrampolineOf(ft, image, op);
    if (t.freed || t.retired) return -EINVAL;
    if (t === op.directCall) return 0;
    const tmp = tmpOps(ft, op);
    yield* mutexLock(FTRACE_LOCK);
    try {
      yield* ftraceStartup(ft, tmp);
    } finally {
      yield* mutexUnlock(FTRACE_LOCK);
    }
    // Now the list function does the direct calls: the entries can change.
    yield* mutexLock(FTRACE_LOCK);
    try {
      const ips = sitesOf(ft, op)
        .map((s) => s.ip)
        .filter((ip) => ft.reg.directFunctions.has(ip));
      for (const ip of ips) ft.reg.directFunctions.set(ip, t);
      op.directCall = t; // WRITE_ONCE: a list walk on another CPU may read it at any time
      yield* emit({ type: 'ftrace/direct-functions', op: 'modify', ops: op.id, ips, tramp: t.id });
    } finally {
      yield* mutexUnlock(FTRACE_LOCK);
    }
    // Removing the temporary ops patches the sites to the new direct trampoline.
    yield* unregisterOps(ft, () => tmp);
    return 0;
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/**
 * __modify_ftrace_direct's static tmp_ops (func ftrace_stub, FTRACE_OPS_FL_STUB), given `op`'s
 * hashes (tmp_ops.func_hash = ops->func_hash). One per ftrace instance, made at the first
 * modify; static, so unregistering it waits for nothing. The caller holds direct_mutex.
 */
function tmpOps(ft: FtraceRuntime, op: OpsRec): OpsRec {
  let tmp = ft.directTmpOps;
  if (tmp === null) {
    tmp = opsRecOf(
      ft,
      {
        func: function ftrace_stub() {
          // the list function skips a STUB ops; the fast path calls this and nothing happens
        },
        label: 'tmp_ops',
      },
      'stub',
    );
    ft.directTmpOps = tmp;
  }
  tmp.setHashes(op.filterList, op.notraceList);
  return tmp;
}
