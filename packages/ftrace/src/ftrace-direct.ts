import { EBUSY, EINVAL, current, emit, isKPath, mutexLock, mutexUnlock, printk, type KPath } from '@tracelab/core';
import type { FtraceDirectOps, FtraceDirectTrampoline, FtraceOps, FtraceOpsCmd } from './events.js';
import { ftraceStartup, unregisterOps } from './ftrace.js';
import { DIRECT_MUTEX, FTRACE_LOCK } from './internal/constants.js';
import { declareSites, directOpsRecOf, opsRecOf, sitesOf } from './internal/records.js';
import { describe } from './internal/options.js';
import { opsTraces, Trampoline, type OpsRec } from './internal/registry.js';
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
    return yield* registerFtraceDirectLocked(ft, dops, image);
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/**
 * register_ftrace_direct's body; the caller holds direct_mutex. A function an IPMODIFY ops
 * already traces is shared only if the ops' ops_func agrees (ENABLE_SHARE_IPMODIFY_SELF, from
 * ftrace_startup's ftrace_hash_ipmodify_enable); otherwise its error (-EBUSY without an
 * ops_func) is returned and the direct_functions entries are taken back (reset_direct), so the
 * caller may try again. The model asks before the ops goes on the list; upstream asks after
 * __register_ftrace_function has listed it, and takes it off again on failure
 * (docs/ftrace.md, decision 12).
 */
export function* registerFtraceDirectLocked(ft: FtraceRuntime, dops: FtraceDirectOps, image: FtraceDirectTrampoline): KPath<number> {
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
  let err = 0;
  yield* mutexLock(FTRACE_LOCK);
  try {
    err = yield* shareIpmodifySelf(ft, op, ips);
    if (err === 0) {
      op.freedByOwner = false;
      yield* ftraceStartup(ft, op);
    }
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
  if (err !== 0) yield* resetDirect(ft, op, ips);
  return err;
}

/**
 * reset_direct after a failed registration (upstream since "ftrace: Fix BPF fexit with
 * livepatch", 2025): the entries this ops added leave direct_functions and its direct_call is
 * cleared, so a retry (BPF's, after -EAGAIN) finds the functions free. The caller holds direct_mutex.
 */
function* resetDirect(ft: FtraceRuntime, op: OpsRec, ips: readonly string[]): KPath<void> {
  const mine = ips.filter((ip) => ft.reg.directFunctions.get(ip) === op.directCall);
  for (const ip of mine) ft.reg.directFunctions.delete(ip);
  op.directCall = null;
  yield* emit({ type: 'ftrace/direct-functions', op: 'remove', ops: op.id, ips: mine, tramp: null });
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
    return yield* unregisterFtraceDirectLocked(ft, dops);
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/** unregister_ftrace_direct's body; the caller holds direct_mutex. */
export function* unregisterFtraceDirectLocked(ft: FtraceRuntime, dops: FtraceDirectOps): KPath<number> {
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
}

/**
 * modify_ftrace_direct (__modify_ftrace_direct). Under direct_mutex:
 * 1. register the temporary ops (a STUB ops on the same functions): every site now has two
 *    tracers, so each is patched to the list function, which calls call_direct_funcs and reads
 *    the ops' direct_call at every call;
 * 1a. for each of its functions an IPMODIFY ops traces, ENABLE_SHARE_IPMODIFY_SELF again (the
 *    new trampoline may call the function in another way); an error unregisters the temporary
 *    ops and is returned, nothing moved. Under direct_mutex only, not ftrace_lock, as
 *    upstream. `ipmodifyShare: 'register-only'` skips this step (mainline 6.0 to 6.17; see that
 *    option for what else differed);
 * 2. under ftrace_lock, in one step, point the direct_functions entries and direct_call at
 *    `image` ("we can safely change the direct functions attached to each entry");
 * 3. unregister the temporary ops: each site is patched to `image` itself.
 * It does not wait: a task that entered the old trampoline may still be on it, so the caller
 * frees the old one through bpfTrampImagePut. Returns 0, -EINVAL (not a registered direct
 * ops, or a freed trampoline), or the ops_func's error.
 */
export function* modifyFtraceDirect(ft: FtraceRuntime, dops: FtraceDirectOps, image: FtraceDirectTrampoline): KPath<number> {
  yield* mutexLock(DIRECT_MUTEX);
  try {
    return yield* modifyFtraceDirectLocked(ft, dops, image);
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}

/** modify_ftrace_direct_nolock: __modify_ftrace_direct's body; the caller holds direct_mutex (BPF's ops_func rebuilds its trampoline through it). */
export function* modifyFtraceDirectLocked(ft: FtraceRuntime, dops: FtraceDirectOps, image: FtraceDirectTrampoline): KPath<number> {
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
  // The new trampoline may call the function differently: ask again, as a registration does
  // (__ftrace_hash_update_ipmodify with update_target, upstream since 6.18). On an error
  // nothing has moved: the temporary ops goes and the error is returned.
  if (ft.options.ipmodifyShare === 'ops-func') {
    const err = yield* shareIpmodifySelf(
      ft,
      op,
      sitesOf(ft, op).map((s) => s.ip),
    );
    if (err !== 0) {
      yield* unregisterOps(ft, () => tmp);
      return err;
    }
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

// ---- sharing a function with an IPMODIFY ops (ops_func) ---------------------------------------

/** The registered direct ops (not modify's stub) that traces `ip`: ops_references_ip over ftrace_ops_list. */
function directOpsOn(ft: FtraceRuntime, ip: string): OpsRec | undefined {
  return ft.reg.list.find((o) => o.direct && !o.stub && opsTraces(o, ip));
}

/** Whether a registered IPMODIFY ops traces `ip` (its record's FTRACE_FL_IPMODIFY). */
function ipmodifyTraces(ft: FtraceRuntime, ip: string): boolean {
  return ft.reg.list.some((o) => o.ops.flags?.includes('IPMODIFY') === true && opsTraces(o, ip));
}

/**
 * Sends `cmd` for `ip` to direct ops `op` through its ops_func and returns what it returns. A
 * direct ops without one cannot share: -EBUSY (for the optional disable, 0 and nothing sent).
 * The answer must be 0 or a negative errno (an integer <= 0): an ops_func that throws, or
 * answers anything else (undefined, 1, 'ok', 0.5), is reported as a callback fault naming the
 * ops, the command and the function, and counts as -EINVAL, so no caller ever returns a value
 * that is not an errno. The caller holds direct_mutex (and ftrace_lock for `-self` on register;
 * on modify, direct_mutex only, as upstream's __modify_ftrace_direct).
 */
function* callOpsFunc(ft: FtraceRuntime, op: OpsRec, cmd: FtraceOpsCmd, ip: string): KPath<number> {
  const f = op.opsFunc;
  if (f === null) {
    if (cmd === 'disable-share-ipmodify-peer') return 0;
    yield* printk(`ftrace: ${op.label} has no ops_func: it cannot share ${ip} with an IPMODIFY ops: -EBUSY`);
    yield* emit({ type: 'ftrace/ops-func', ops: op.id, ip, cmd, ret: -EBUSY, missing: true });
    return -EBUSY;
  }
  let answer: unknown;
  let fault: string | null = null;
  try {
    const r: unknown = f(cmd, ip);
    answer = isKPath(r) ? yield* r as KPath<unknown> : r;
  } catch (err) {
    fault = `threw ${err instanceof Error ? `${err.name}: ${err.message}` : describe(err)}`;
  }
  if (fault === null && !isErrno(answer)) fault = `returned ${describe(answer)}, not 0 or a negative errno`;
  let ret = answer as number;
  if (fault !== null) {
    const message = `ops_func of ${op.label} for ${cmd} on ${ip} ${fault}: counted as -EINVAL`;
    yield* emit({ type: 'ftrace/callback-fault', ops: op.id, ip, pid: yield* currentPid(), message });
    ret = -EINVAL;
  }
  yield* emit({ type: 'ftrace/ops-func', ops: op.id, ip, cmd, ret });
  return ret;
}

/** What an ops_func may answer: 0 or a negative errno, an integer <= 0. */
function isErrno(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v <= 0;
}

function* currentPid(): KPath<number> {
  return (yield* current()).pid;
}

/**
 * __ftrace_hash_update_ipmodify for a direct ops being registered: for each of its functions
 * that an IPMODIFY ops already traces, ENABLE_SHARE_IPMODIFY_SELF. Returns 0, or the first
 * error (the registration fails with it). `ipmodifyShare: 'skip'` asks nothing. The caller
 * holds direct_mutex, and ftrace_lock on register (registerFtraceDirectLocked); on modify
 * (modifyFtraceDirectLocked) direct_mutex only, as upstream's __modify_ftrace_direct.
 */
function* shareIpmodifySelf(ft: FtraceRuntime, op: OpsRec, ips: readonly string[]): KPath<number> {
  if (ft.options.ipmodifyShare === 'skip') return 0;
  for (const ip of ips) {
    if (!ipmodifyTraces(ft, ip)) continue;
    const ret = yield* callOpsFunc(ft, op, 'enable-share-ipmodify-self', ip);
    if (ret !== 0) return ret;
  }
  return 0;
}

/**
 * prepare_direct_functions_for_ipmodify: before IPMODIFY ops `op` registers, each direct ops on
 * one of its filter's functions is told ENABLE_SHARE_IPMODIFY_PEER (once per function). Returns
 * 0, or the first error, which the registration returns (-EBUSY for a direct ops without
 * ops_func); commands already sent are not taken back, as upstream. The caller holds
 * direct_mutex, which keeps the direct ops on the list as they are (upstream also takes
 * ftrace_lock around each walk of the list; here a walk is one step).
 */
export function* prepareDirectFunctionsForIpmodify(ft: FtraceRuntime, op: OpsRec): KPath<number> {
  if (ft.options.ipmodifyShare === 'skip') return 0;
  for (const ip of op.filterList) {
    const d = directOpsOn(ft, ip);
    if (d === undefined) continue;
    const ret = yield* callOpsFunc(ft, d, 'enable-share-ipmodify-peer', ip);
    if (ret !== 0) return ret;
  }
  return 0;
}

/**
 * cleanup_direct_functions_after_ipmodify: after IPMODIFY ops `op` is unregistered, under
 * direct_mutex, each direct ops on one of its filter's functions is told
 * DISABLE_SHARE_IPMODIFY_PEER; errors are ignored (the cleanup is optional).
 */
export function* cleanupDirectFunctionsAfterIpmodify(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  if (ft.options.ipmodifyShare === 'skip') return;
  yield* mutexLock(DIRECT_MUTEX);
  try {
    for (const ip of op.filterList) {
      const d = directOpsOn(ft, ip);
      if (d !== undefined) yield* callOpsFunc(ft, d, 'disable-share-ipmodify-peer', ip);
    }
  } finally {
    yield* mutexUnlock(DIRECT_MUTEX);
  }
}
