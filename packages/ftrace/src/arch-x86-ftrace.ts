import { current, emit, schedPoint, shouldFailAlloc, type KPath, type McountHandler } from '@tracelab/core';
import type { FtraceDirectTrampoline, FtraceTarget } from './events.js';
import { ftraceGraphCaller } from './fgraph.js';
import { opsTraces, Trampoline, type OpsRec, type Site } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';
import { guardedCallback } from './trace-recursion.js';
import { describe } from './internal/options.js';
import { CallRegs, resumeAt } from './internal/regs.js';

/**
 * The architecture side of dynamic ftrace, after arch/x86/kernel/ftrace.c: patching a call
 * site (ftrace_modify_code through text_poke), allocating an ops' trampoline
 * (arch_ftrace_update_trampoline, create_trampoline), and the trampoline's own code, a copy of
 * ftrace_caller whose call goes straight to its ops' callback.
 */

/**
 * Patches one site (the kernel's int3 text_poke of the call instruction, as one store): the
 * fast path and the core's mcount handler both switch to `to`, and the log says so.
 * The caller holds ftrace_lock.
 */
export function* patchSite(ft: FtraceRuntime, site: Site, to: 'nop' | 'list' | Trampoline): KPath<void> {
  const from: FtraceTarget = site.targetId;
  ft.reg.setFastTarget(site, to);
  // ftrace_check_record: FTRACE_FL_DIRECT_EN follows the record as the site is enabled. A
  // direct ops that is the site's only tracer is called directly (no ftrace trampoline); with
  // any other tracer the site goes through the list function and the flag is cleared.
  site.directEn = to !== 'nop' && site.direct && site.refcount === 1;
  ft.ctx.patchFunction(site.ip, siteHandler(ft, site));
  yield* emit({ type: 'ftrace/site-patched', ip: site.ip, from, to: site.targetId, ...(site.directEn ? { directEn: true as const } : {}) });
}

/**
 * What the core calls at `site`'s mcount: nothing (null), ftrace_caller or its trampoline and,
 * where the graph caller is enabled, ftrace_graph_caller after it (ftrace_graph_call in the
 * ftrace_caller template), whose path returns the return hook.
 */
export function siteHandler(ft: FtraceRuntime, site: Site): McountHandler | null {
  const to = site.targetRef;
  const inner = to === 'nop' ? null : to === 'list' ? ft.listHandler : trampolineHandler(ft, to);
  if (!site.graph) return inner;
  return (ip, parentIp) => ftraceGraphCaller(ft, inner, ip, parentIp);
}

/**
 * arch_ftrace_update_trampoline for an ops that has none: create_trampoline, which may fail
 * (failslab). A failure is not an error: the ops goes through the list caller. The caller
 * holds ftrace_lock.
 */
export function* archFtraceUpdateTrampoline(ft: FtraceRuntime, op: OpsRec): KPath<void> {
  if (yield* shouldFailAlloc()) {
    // create_trampoline failed: the ops simply goes through the list caller.
    yield* emit({ type: 'ftrace/tramp-none', ops: op.id, reason: 'enomem' });
    return;
  }
  const t = new Trampoline(ft.reg.nextTrampId++, op);
  ft.reg.trampolines.set(t.id, t);
  op.trampoline = t;
  yield* emit({ type: 'ftrace/tramp-alloc', tramp: t.id, ops: op.id });
}

/** The mcount handler of a site patched to trampoline `t` (one per trampoline). */
export function trampolineHandler(ft: FtraceRuntime, t: Trampoline): McountHandler {
  let h = ft.trampHandlers.get(t);
  if (h === undefined) {
    h = (ip, parentIp) => trampolinePath(ft, t, ip, parentIp);
    ft.trampHandlers.set(t, h);
  }
  return h;
}

/**
 * A dynamic trampoline: the copy of ftrace_caller that calls its ops' callback directly. It
 * is preemptible (the thread's "set up regs for function call. <interrupt>
 * preempt_schedule()"): a scheduling point before the call and one after it, and the task is
 * on the trampoline in between. After each point it reads `freed`: a task that resumes on
 * freed memory is the use-after-free (reported, and it stops executing it). `stackIp`: for a
 * direct trampoline, the return address it was entered with (the saved ip after the list
 * function's callbacks; `ip` when its site calls it directly).
 */
export function* trampolinePath(ft: FtraceRuntime, t: Trampoline, ip: string, parentIp: string, stackIp: string = ip): KPath<void> {
  const me = yield* current();
  if (t.freed) {
    yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'entry' });
    return;
  }
  // A direct trampoline has no hashes: whoever jumps to it (its site, or ftrace_regs_caller
  // returning into it) was sent there by direct_functions or by a direct ops' direct_call.
  const traced = t.image !== null || opsTraces(t.ops, ip);
  yield* emit({ type: 'ftrace/tramp-enter', tramp: t.id, ops: t.ops.id, ip, pid: me.pid, traced });
  yield* schedPoint();
  if (t.freed) {
    yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'resume' });
    return;
  }
  const regs = new CallRegs(stackIp);
  if (t.image !== null) {
    // The direct trampoline's own code (the BPF programs of the image).
    yield* directImageCall(t, t.image, ip, parentIp, me.pid);
  } else {
    // With FTRACE_OPS_FL_RECURSION or FTRACE_OPS_FL_RCU the trampoline calls the assist
    // function, which takes the guard and tests rcu_is_watching (ftrace_ops_get_func); without
    // either, the callback itself.
    const flags = t.ops.ops.flags;
    yield* guardedCallback(ft, t.ops, ip, parentIp, me.pid, flags?.includes('RECURSION') === true || flags?.includes('RCU') === true, regs);
  }
  yield* schedPoint();
  if (t.freed) {
    yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'resume' });
    return;
  }
  if (t.image?.callOrig === true) yield* origCall(t, ip, stackIp, me.pid);
  yield* emit({ type: 'ftrace/tramp-exit', tramp: t.id, pid: me.pid });
  // Without a call of its own, the trampoline returns to the address it was entered with: a
  // direct one to the saved ip, an ftrace trampoline to what its callback left in the regs.
  if (t.image === null) yield* resumeAt(regs, me.pid);
  else if (t.image.callOrig !== true && stackIp !== ip)
    yield* emit({ type: 'ftrace/call-body', ip, body: stackIp, redirect: stackIp, via: 'return', tramp: t.id, pid: me.pid });
}

/**
 * A direct trampoline's call of the traced function (BPF_TRAMP_F_CALL_ORIG, for its fexit and
 * fmod_ret programs): through the return address on its stack with BPF_TRAMP_F_ORIG_STACK (the
 * saved ip, a live patch's body if an IPMODIFY callback moved it), else `orig_call`, the traced
 * function's own body just past its fentry. It returns to the traced function's caller
 * (BPF_TRAMP_F_SKIP_FRAME), so this is the one body the call runs.
 */
function* origCall(t: Trampoline, ip: string, stackIp: string, pid: number): KPath<void> {
  const body = t.image!.origStack === true ? stackIp : ip;
  yield* emit({ type: 'ftrace/call-body', ip, body, redirect: stackIp !== ip ? stackIp : null, via: 'orig-call', tramp: t.id, pid });
}

/** A direct trampoline's code: the image's function; a throw is reported (against the direct ops) and skipped. */
function* directImageCall(t: Trampoline, image: FtraceDirectTrampoline, ip: string, parentIp: string, pid: number): KPath<void> {
  let fault: unknown;
  let faulted = false;
  try {
    const path: unknown = image.func(ip, parentIp);
    if (typeof path === 'object' && path !== null && typeof (path as KPath<void>).next === 'function') yield* path as KPath<void>;
  } catch (err) {
    fault = err;
    faulted = true;
  }
  if (faulted) {
    const message = fault instanceof Error ? `${fault.name}: ${fault.message}` : describe(fault);
    yield* emit({ type: 'ftrace/callback-fault', ops: t.ops.id, ip, pid, message });
  }
}
