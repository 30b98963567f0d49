import { TracelabError, emit, type KPath } from '@tracelab/core';
import type { FtraceRegs } from '../events.js';
import { describe, isFunctionName } from './options.js';
import type { OpsRec } from './registry.js';

/**
 * The saved registers of one simulated mcount call (`struct ftrace_regs`), reduced to the
 * instruction pointer the call resumes at. One per call, made by the list function, a
 * trampoline or ftrace_caller, and written only by the callbacks that call runs (one task, in
 * order): an IPMODIFY ops' callback may point it at another function's body.
 */
export class CallRegs implements FtraceRegs {
  #ip: string;
  /** The ops whose callback runs now (set around each call by `callback`): only an IPMODIFY one may call setIp. */
  running: OpsRec | null = null;

  constructor(readonly traced: string) {
    this.#ip = traced;
  }

  get ip(): string {
    return this.#ip;
  }

  /**
   * ftrace_regs_set_instruction_pointer. Throws TracelabError FTRACE_SET_IP_INVALID (naming the
   * ops, the traced function and the target) when no IPMODIFY ops' callback is running now (an
   * ops without IPMODIFY, or host code holding the regs after its callback returned) or `name`
   * is not a function name. Inside a callback the list function or trampoline catches it as a
   * callback fault; from host code it reaches the caller.
   */
  setIp(name: string): void {
    const op = this.running;
    const target = describe(name);
    const detail = { ops: op?.id ?? null, label: op?.label ?? null, ip: this.traced, target: name };
    if (op === null)
      throw new TracelabError(
        'FTRACE_SET_IP_INVALID',
        `ftrace_regs_set_instruction_pointer(${target}) on the saved registers of a call of ${this.traced} outside any callback: only an IPMODIFY ops' callback, while it runs, may redirect a call`,
        detail,
      );
    if (op.ops.flags?.includes('IPMODIFY') !== true)
      throw new TracelabError(
        'FTRACE_SET_IP_INVALID',
        `ftrace_regs_set_instruction_pointer(${target}) from ops ${op.label} in a call of ${this.traced}: the ops does not set FTRACE_OPS_FL_IPMODIFY, and only an IPMODIFY ops may redirect a call`,
        detail,
      );
    if (!isFunctionName(name))
      throw new TracelabError(
        'FTRACE_SET_IP_INVALID',
        `ftrace_regs_set_instruction_pointer(${target}) from ops ${op.label} in a call of ${this.traced}: the target is not a function name`,
        detail,
      );
    this.#ip = name;
  }

  /** Whether a callback moved the call to another body. */
  get redirected(): boolean {
    return this.#ip !== this.traced;
  }
}

/**
 * Where a call resumes after its callbacks when no direct trampoline takes it: the saved ip. A
 * redirected call runs the other body (the live patch's), and the log says so.
 */
export function* resumeAt(regs: CallRegs, pid: number): KPath<void> {
  if (!regs.redirected) return;
  yield* emit({ type: 'ftrace/call-body', ip: regs.traced, body: regs.ip, redirect: regs.ip, via: 'return', tramp: null, pid });
}
