import { current, emit, preemptDisable, preemptEnable, schedPoint, type KPath } from '@tracelab/core';
import { trampolinePath } from './arch-x86-ftrace.js';
import { CallRegs, resumeAt } from './internal/regs.js';
import { opsTraces, type OpsRec, type Trampoline } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';
import { guardedCallback } from './trace-recursion.js';

/**
 * The mcount call-site dispatch: what a patched site calls when it does not target a
 * trampoline. arch/x86/kernel/ftrace_64.S's ftrace_caller (static kernel text, never freed)
 * and kernel/trace/ftrace.c's list function, ftrace_ops_list_func. A site that targets a
 * trampoline calls arch-x86-ftrace.ts's trampolinePath instead.
 */

/**
 * ftrace_caller. Without `directCaller` it calls the list function. With it: load
 * function_trace_op, then (another step: other CPUs act) ftrace_trace_function, and call it
 * with that op, preemption off throughout; a null function is the list function.
 */
export function* ftraceCaller(ft: FtraceRuntime, ip: string, parentIp: string): KPath<void> {
  if (!ft.options.directCaller) return yield* listCaller(ft, ip, parentIp);
  yield* preemptDisable();
  const op = ft.traceOp;
  yield* schedPoint();
  const func = ft.traceFunction;
  if (func === null) {
    yield* preemptEnable();
    return yield* listCaller(ft, ip, parentIp);
  }
  const me = yield* current();
  let direct: Trampoline | null = null;
  const regs = new CallRegs(ip);
  try {
    if (op !== func) yield* emit({ type: 'ftrace/op-mismatch', ops: func.id, op: op?.id ?? null, ip, pid: me.pid });
    else if (func.direct) direct = callDirectFuncs(func, ip);
    else if (opsTraces(func, ip)) yield* guardedCallback(ft, func, ip, parentIp, me.pid, true, regs);
  } finally {
    yield* preemptEnable();
  }
  yield* afterCallbacks(ft, direct, regs, parentIp, me.pid);
}

/**
 * The end of ftrace_regs_caller: return into the direct trampoline a direct ops asked for (its
 * stack holds the saved ip, which an IPMODIFY callback may have changed), or resume at the saved ip.
 */
function* afterCallbacks(ft: FtraceRuntime, direct: Trampoline | null, regs: CallRegs, parentIp: string, pid: number): KPath<void> {
  if (direct !== null) yield* trampolinePath(ft, direct, regs.traced, parentIp, regs.ip);
  else yield* resumeAt(regs, pid);
}

/**
 * call_direct_funcs, a direct ops' func: the direct trampoline the caller must return into
 * (arch_ftrace_set_direct_caller stores it in the saved regs; ftrace_regs_caller's epilogue
 * jumps there instead of returning to the traced function), or null. A STUB ops (modify's
 * temporary ops) is skipped by the list function and sets nothing.
 */
function callDirectFuncs(op: OpsRec, ip: string): Trampoline | null {
  if (op.stub || !opsTraces(op, ip)) return null;
  return op.directCall;
}

/**
 * ftrace_caller + ftrace_ops_list_func. The caller is static kernel text (never freed), and
 * preemptible while it saves registers. The walk reads the list once and runs with
 * preemption off in the kernel (preempt_disable_notrace); here it takes no scheduling point,
 * so no unregister can interleave with it (`listWalk: 'steps'` walks as listCallerSteps).
 */
export function* listCaller(ft: FtraceRuntime, ip: string, parentIp: string): KPath<void> {
  yield* schedPoint();
  if (ft.options.listWalk === 'steps') return yield* listCallerSteps(ft, ip, parentIp);
  const me = yield* current();
  const list = ft.reg.list;
  const called: number[] = [];
  let direct: Trampoline | null = null;
  const regs = new CallRegs(ip);
  for (const op of list) {
    if (!opsTraces(op, ip) || op.stub) continue;
    called.push(op.id);
    if (op.direct) direct = callDirectFuncs(op, ip);
    else yield* guardedCallback(ft, op, ip, parentIp, me.pid, true, regs);
  }
  yield* emit({ type: 'ftrace/list-call', ip, pid: me.pid, ops: called });
  // ftrace_regs_caller returns into the direct trampoline a direct ops asked for.
  yield* afterCallbacks(ft, direct, regs, parentIp, me.pid);
}

/**
 * ftrace_ops_list_func as the kernel runs it: preempt_disable_notrace, then
 * do_for_each_ftrace_op (an RCU-sched walk of ftrace_ops_list: the list head read once, each
 * ->next read as it goes), the hash test and the call per ops, preempt_enable_notrace. A
 * scheduling point between one ops and the next lets other CPUs unregister meanwhile; only
 * the RCU-sched wait in ftrace_shutdown keeps an ops this walk still holds from being freed.
 */
export function* listCallerSteps(ft: FtraceRuntime, ip: string, parentIp: string): KPath<void> {
  yield* preemptDisable();
  const me = yield* current();
  const list = ft.reg.list;
  const called: number[] = [];
  let direct: Trampoline | null = null;
  const regs = new CallRegs(ip);
  try {
    for (const op of list) {
      if (op.freedByOwner) {
        yield* emit({ type: 'ftrace/ops-use-after-free', ops: op.id, ip, pid: me.pid });
        return;
      }
      if (opsTraces(op, ip) && !op.stub) {
        called.push(op.id);
        if (op.direct) direct = callDirectFuncs(op, ip);
        else yield* guardedCallback(ft, op, ip, parentIp, me.pid, true, regs);
      }
      yield* schedPoint();
    }
    yield* emit({ type: 'ftrace/list-call', ip, pid: me.pid, ops: called });
  } finally {
    yield* preemptEnable();
  }
  yield* afterCallbacks(ft, direct, regs, parentIp, me.pid);
}
