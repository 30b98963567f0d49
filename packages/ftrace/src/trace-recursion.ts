import { current, emit, inIrqCount, inNmiCount, rcuIsWatching, type KPath } from '@tracelab/core';
import { RECURSION_LIMIT } from './internal/constants.js';
import { describe } from './internal/options.js';
import type { CallRegs } from './internal/regs.js';
import type { OpsRec } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';

/**
 * The recursion protection of ftrace callbacks, after include/linux/trace_recursion.h
 * (trace_test_and_set_recursion, the per-context bits of current->trace_recursion) and
 * kernel/trace/ftrace.c's ftrace_ops_assist_func, which takes the guard for an ops with
 * FTRACE_OPS_FL_RECURSION or FTRACE_OPS_FL_RCU.
 */

/**
 * The recursion context of the running code: the task (an idle task is one per CPU, all pid
 * 0), and `:irq`/`:nmi` inside a handler; and the key its guard bit is under.
 */
export function* recursionContext(ft: FtraceRuntime): KPath<{ readonly context: string; readonly key: string }> {
  const me = yield* current();
  const task = me.pid === 0 ? `swapper/${me.cpu}` : String(me.pid);
  const context = inNmiCount(me.preemptCount) ? `${task}:nmi` : inIrqCount(me.preemptCount) ? `${task}:irq` : task;
  return { context, key: ft.options.recursionGuard === 'per-task' ? task : context };
}

/**
 * Calls one ops' callback under the recursion guard that the list function takes, and that
 * the assist function (ftrace_ops_assist_func) takes for an ops with FTRACE_OPS_FL_RECURSION
 * (Linux 5.11 on: the flag asks ftrace for protection): a callback that reaches traced code
 * again from the same context is not called again. `guard` false: a trampoline calling an
 * ops without RECURSION directly; the callback must protect itself, and runaway nesting is
 * reported once it passes RECURSION_LIMIT (the kernel would overflow its stack).
 */
export function* guardedCallback(ft: FtraceRuntime, op: OpsRec, ip: string, parentIp: string, pid: number, guard: boolean, regs?: CallRegs): KPath<void> {
  const { context, key } = yield* recursionContext(ft);
  if (guard) {
    const holder = ft.guarded.get(key);
    if (holder !== undefined) {
      // The bit is set: bail out, as trace_test_and_set_recursion does, and say so. Refused
      // from another context than the one holding the bit, the call was not recursion (an
      // interrupt inside the callback) and its event is lost.
      if (holder === context) yield* emit({ type: 'ftrace/recursion-refused', ops: op.id, ip, pid });
      else yield* emit({ type: 'ftrace/recursion-lost', ops: op.id, ip, pid, context, holder });
      return;
    }
    ft.guarded.set(key, context);
    try {
      // FTRACE_OPS_FL_RCU: a callback that uses RCU is skipped where RCU is not watching (the
      // idle loop between rcu_idle_enter and rcu_idle_exit), in the list and assist functions.
      if (op.ops.flags?.includes('RCU') === true && !(yield* rcuIsWatching())) yield* emit({ type: 'ftrace/rcu-skip', ops: op.id, ip, pid });
      else yield* callback(op, ip, parentIp, pid, regs);
    } finally {
      ft.guarded.delete(key);
    }
    return;
  }
  const depth = (ft.unguardedDepth.get(context) ?? 0) + 1;
  if (depth > RECURSION_LIMIT) {
    yield* emit({ type: 'ftrace/recursion', ops: op.id, ip, pid, depth });
    return;
  }
  ft.unguardedDepth.set(context, depth);
  try {
    yield* callback(op, ip, parentIp, pid, regs);
  } finally {
    if (depth === 1) ft.unguardedDepth.delete(context);
    else ft.unguardedDepth.set(context, depth - 1);
  }
}

/**
 * Calls one ops' callback with the call's saved registers; a throwing callback is reported and
 * skipped, never fatal. An IPMODIFY callback that moved the saved ip is logged (`ftrace/ip-modified`).
 */
export function* callback(op: OpsRec, ip: string, parentIp: string, pid: number, regs?: CallRegs): KPath<void> {
  let fault: unknown;
  let faulted = false;
  const before = regs?.ip;
  try {
    if (regs !== undefined) regs.running = op;
    // A plain callback's return value (often an arrow's expression) is ignored; a kernel path is run.
    const path: unknown = op.func(ip, parentIp, op.ops, regs);
    if (typeof path === 'object' && path !== null && typeof (path as KPath<void>).next === 'function') yield* path as KPath<void>;
  } catch (err) {
    fault = err;
    faulted = true;
  } finally {
    if (regs !== undefined) regs.running = null;
  }
  if (regs !== undefined && regs.ip !== before) yield* emit({ type: 'ftrace/ip-modified', ops: op.id, ip, to: regs.ip, pid });
  if (faulted)
    yield* emit({
      type: 'ftrace/callback-fault',
      ops: op.id,
      ip,
      pid,
      message: fault instanceof Error ? `${fault.name}: ${fault.message}` : describe(fault),
    });
}
