import { TracelabError, describeError } from '../errors.js';
import { HARDIRQ_OFFSET, NMI_OFFSET, inIrqCount, inNmiCount, type Command, type KPath, type SmpCallFunction } from '../paths.js';
import type { Runtime, TaskRt } from './runtime.js';

/**
 * Hard interrupts and NMIs as nested contexts on a CPU (kernel/irq, kernel/softirq.c's
 * irq_enter/irq_exit, include/linux/preempt.h's count layout).
 *
 * The preempt count carries the kernel's parts: bits 0-7 preemption, 16-19 hardirq nesting,
 * 20-23 NMI nesting. Kernel code that tests `preemptCount > 0` (scheduling while atomic, the
 * page-fault rule, RCU-sched's read side) therefore treats an interrupt handler as atomic and
 * as a reader, as the kernel does: an interrupt is not a quiescent state.
 */

/** The interrupt sources a kernel may be given (`createKernel({ interrupts })`). */
export interface InterruptOptions {
  /**
   * The per-CPU timer tick: deliverable on a CPU with interrupts enabled once `period` ticks
   * have passed since its last one (default 10). Its handler runs the `irq` hook
   * (`name: 'timer'`) and scheduler_tick, which asks for a reschedule when a task waits.
   */
  readonly timer?: boolean | { readonly period?: number };
  /**
   * A sampling NMI (perf): deliverable at any point, interrupts disabled or not, inside a hard
   * interrupt too, but not inside another NMI, once `period` ticks have passed since the CPU's
   * last one (default 25). Its handler runs the `nmi` hook.
   */
  readonly nmi?: boolean | { readonly period?: number };
}

export interface ResolvedInterrupts {
  /** Tick period, or 0 for no timer interrupt. */
  readonly timer: number;
  /** NMI period, or 0 for none. */
  readonly nmi: number;
}

const INTERRUPT_KEYS = ['timer', 'nmi'] as const;

/** Checks `createKernel`'s `interrupts` option; null when no source is configured. */
export function resolveInterrupts(v: unknown): ResolvedInterrupts | null {
  if (v === undefined || v === false || v === null) return null;
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `createKernel: interrupts${what}`);
  };
  if (typeof v !== 'object' || Array.isArray(v)) bad(` must be an object { timer?, nmi? }, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(INTERRUPT_KEYS as readonly string[]).includes(k)) bad(`: unknown source "${k}" (sources: ${INTERRUPT_KEYS.join(', ')})`);
  const period = (key: string, dflt: number): number => {
    const s = o[key];
    if (s === undefined || s === false) return 0;
    if (s === true) return dflt;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return bad(`.${key} must be true, false or { period }, got ${JSON.stringify(s)}`);
    for (const k of Object.keys(s)) if (k !== 'period') bad(`.${key}: unknown option "${k}" (options: period)`);
    const p = (s as { period?: unknown }).period ?? dflt;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1) bad(`.${key}.period must be a positive integer, got ${JSON.stringify(p)}`);
    return p as number;
  };
  const r = { timer: period('timer', 10), nmi: period('nmi', 25) };
  return r.timer === 0 && r.nmi === 0 ? null : r;
}

/** What a delivered interrupt is. */
type Source = 'timer' | 'nmi' | 'ipi';

/** One smp_call_function_single request (a call_single_data): what to run, and whether it has. */
interface IpiCall {
  readonly fn: SmpCallFunction;
  done: boolean;
}

/** The interrupted context, restored when the handler returns (irq_exit's return path). */
interface Saved {
  readonly src: Source;
  readonly atPoint: boolean;
  readonly resume: unknown;
  readonly pendingThrow: unknown;
}

/** The command an interrupt frame ends with: the runtime pops it and restores the context. */
export const IRQ_RETURN: Command = Object.freeze({ op: 'irq-return' }) as Command;

/** The preempt count's hardirq and NMI parts together: at or above it, the CPU is in interrupt context. */
const INTERRUPT_MASK = 0xff << 16;

/** Whether `count` has a hardirq or NMI part (in_interrupt(), no softirq here). */
export function inInterruptCount(count: number): boolean {
  return (count & INTERRUPT_MASK) !== 0;
}

/** The context a preempt count says code runs in, for a BUG message: '' outside interrupts. */
export function contextOf(count: number): string {
  return inNmiCount(count) ? ' (in NMI context)' : inIrqCount(count) ? ' (in hard interrupt context)' : '';
}

/** What a chooser that ignores `pids` is given. */
const NO_PIDS: readonly number[] = Object.freeze([]);

/**
 * The interrupt state of each CPU. Who writes what (all inside a step, on the kernel's one
 * thread): `irqOff` by the stepping CPU's `local_irq_*` commands and by the handler frames
 * (journalled: a rolled-back segment takes its change back), by oops restores and by `reset`;
 * `nextTick`, `nextNmi`, `needResched` and `saved` by delivery, the handlers' return, context
 * switches and `reset`. Deliveries are never rolled back: they happen at the start of a step,
 * before any checkpoint a later failure returns to, except the step's own, whose oops
 * (`oopsTask`) throws the interrupted task's frames away, the handler frame with them.
 */
export class Interrupts {
  /** local_irq_disable'd: no hard interrupt is delivered on the CPU. */
  readonly irqOff: boolean[];
  private readonly nextTick: number[];
  private readonly nextNmi: number[];
  /** TIF_NEED_RESCHED as the tick sets it: preempt on the way out of the interrupt. */
  private readonly needResched: boolean[];
  /** Each handler frame under way: what it interrupted. */
  private readonly saved = new Map<KPath<unknown>, Saved>();
  /** Each CPU's queued smp_call_function_single requests (its call_single_queue), oldest first. */
  private readonly ipiQueues: IpiCall[][];
  /** Requests queued on every CPU together: 0 keeps kernels that send none off every IPI path. */
  ipiPending = 0;
  /**
   * The tick from which no tick or NMI falls due: the one at which the kernel's last task was
   * gone (the run loop's drain, docs/core.md decision 22), Infinity while any task lives. An
   * interrupt due by then is still taken. Written by `Runtime.drain` (the run loop, between
   * steps), by `Runtime.addTask` (back to Infinity) and by `reset`.
   */
  quietAfter = Infinity;

  constructor(
    private readonly rt: Runtime,
    readonly sources: ResolvedInterrupts | null,
    cpus: number,
  ) {
    this.irqOff = new Array<boolean>(cpus).fill(false);
    this.nextTick = new Array<number>(cpus).fill(0);
    this.nextNmi = new Array<number>(cpus).fill(0);
    this.needResched = new Array<boolean>(cpus).fill(false);
    this.ipiQueues = Array.from({ length: cpus }, () => []);
  }

  /** Back to no interrupt pending, interrupts enabled on every CPU (`kernel.reset`). */
  reset(): void {
    this.irqOff.fill(false);
    this.nextTick.fill(0);
    this.nextNmi.fill(0);
    this.needResched.fill(false);
    this.saved.clear();
    for (const q of this.ipiQueues) q.length = 0;
    this.ipiPending = 0;
    this.quietAfter = Infinity;
  }

  /** Whether a source whose next interrupt is at `next` is due now (none falls due after `quietAfter`). */
  private due(next: number): boolean {
    return this.rt.now >= next && next <= this.quietAfter;
  }

  /**
   * Whether an interrupt source is due on `cpu`, halted in its idle loop (runtime.idleHalt):
   * its NMI, or with interrupts enabled its tick. Such a CPU may step, and the step delivers it.
   */
  dueOnIdle(cpu: number): boolean {
    const s = this.sources;
    if (s === null) return false;
    if (s.nmi > 0 && this.due(this.nextNmi[cpu]!)) return true;
    return s.timer > 0 && !this.irqOff[cpu] && this.due(this.nextTick[cpu]!);
  }

  /** Whether an IPI is pending for `cpu` (an idle CPU is then stepped, as the IPI wakes it). */
  hasIpi(cpu: number): boolean {
    return this.ipiQueues[cpu]!.length > 0;
  }

  /**
   * The `smp-call` command, on `from` (the caller's CPU): null when `to` is `from` (the caller
   * runs the function itself), else the request queued on `to`, whose `done` the caller spins
   * on. A rolled-back segment takes its request back (journalled).
   */
  smpCall(from: number, to: number, fn: SmpCallFunction): IpiCall | null {
    if (from < 0) throw new TracelabError('KERNEL_BUG', 'BUG: smp_call_function_single outside any CPU');
    if (!Number.isInteger(to) || to < 0 || to >= this.ipiQueues.length)
      throw new TracelabError('INVALID_OPTION', `smpCallFunctionSingle: cpu must be an integer from 0 to ${this.ipiQueues.length - 1}, got ${String(to)}`);
    if (typeof fn !== 'function')
      throw new TracelabError('INVALID_OPTION', `smpCallFunctionSingle: fn must be a function (plain or generator), got ${typeof fn}`);
    const count = this.rt.preemptCount(from);
    // smp_call_function_single's WARN_ON_ONCE: with interrupts off (a handler included) a
    // caller that waits can deadlock against a CPU doing the same to it.
    if (this.irqOff[from] || inInterruptCount(count))
      throw new TracelabError('KERNEL_BUG', `BUG: smp_call_function_single on cpu ${from} with interrupts disabled${contextOf(count)}`);
    if (to === from) return null;
    const call: IpiCall = { fn, done: false };
    const q = this.ipiQueues[to]!;
    q.push(call);
    this.ipiPending++;
    this.rt.journal(() => {
      const i = q.indexOf(call);
      if (i >= 0) {
        q.splice(i, 1);
        this.ipiPending--;
      }
    });
    return call;
  }

  /** Sets `cpu`'s local_irq state; a rolled-back segment takes the change back (the runtime's journal). */
  setIrqOff(cpu: number, off: boolean): void {
    const was = this.irqOff[cpu]!;
    if (was === off) return;
    this.irqOff[cpu] = off;
    this.rt.journal(() => {
      this.irqOff[cpu] = was;
    });
  }

  /**
   * At the start of a step of `cpu` (whose context is `t`): asks the strategy whether an
   * interrupt arrives now. An NMI is asked first (`nmi`: 0 no, 1 yes) when one is due and the
   * CPU is not in an NMI already; then, if none arrived, a hard interrupt (`irq`: 0 no, 1 the
   * timer tick) when one is due, interrupts are enabled and the CPU is not in interrupt context.
   * A delivered interrupt's handler frame is pushed on `t` and the caller runs it. Only called
   * with sources configured.
   */
  arrive(cpu: number, t: TaskRt, wake = false): boolean {
    // A CPU busy-waiting for a lock is not stepped (eligibleCpus): nothing is delivered to it.
    if (t.spinning !== null) return false;
    const s = this.sources;
    const rt = this.rt;
    const count = rt.preemptCount(cpu);
    const now = rt.now;
    const hardOk = !this.irqOff[cpu] && !inInterruptCount(count);
    let src: Source | null = null;
    if (wake) {
      // A halted idle CPU stepped to be woken (dueOnIdle): the interrupt that wakes it arrives
      // now, asked of no one (stepping the CPU was the choice), the NMI first, as below.
      if (s !== null && s.nmi > 0 && this.due(this.nextNmi[cpu]!)) src = 'nmi';
      else if (hardOk && this.ipiQueues[cpu]!.length > 0) src = 'ipi';
      else if (s !== null && s.timer > 0 && hardOk && this.due(this.nextTick[cpu]!)) src = 'timer';
    } else if (
      s !== null &&
      s.nmi > 0 &&
      !inNmiCount(count) &&
      this.due(this.nextNmi[cpu]!) &&
      rt.choose('nmi', 2, rt.chooserWantsPids ? [t.pid] : NO_PIDS) === 1
    )
      src = 'nmi';
    else if (hardOk && this.ipiQueues[cpu]!.length > 0 && rt.choose('ipi', 2, rt.chooserWantsPids ? [t.pid] : NO_PIDS) === 1) src = 'ipi';
    else if (s !== null && s.timer > 0 && hardOk && this.due(this.nextTick[cpu]!) && rt.choose('irq', 2, rt.chooserWantsPids ? [t.pid] : NO_PIDS) === 1)
      src = 'timer';
    if (src === null) return false;
    if (src === 'nmi') this.nextNmi[cpu] = now + s!.nmi;
    else if (src === 'timer') this.nextTick[cpu] = now + s!.timer;
    // An interrupt wakes a halted idle CPU: once the handler returns, its loop runs another pass.
    // One that arrives inside a pass (a frame pushed during it included) makes that pass end in
    // no halt.
    if (t.pid === 0) rt.wokenIdle(cpu);
    const frame = this.handlerFrame(cpu, src, t);
    this.saved.set(frame, { src, atPoint: t.atPoint, resume: t.resume, pendingThrow: t.pendingThrow });
    t.atPoint = false;
    t.resume = undefined;
    t.pendingThrow = undefined;
    t.frames.push(frame);
    return true;
  }

  /**
   * The interrupt's code, on the interrupted context's stack: irq_enter (or nmi_enter), the
   * handlers, irq_exit, and the return. The handlers are contained like any hook; one that
   * sleeps hits "scheduling while atomic" (the hardirq part of the count) and is oopsed.
   */
  private *handlerFrame(cpu: number, src: Source, t: TaskRt): KPath<void> {
    const offset = src === 'nmi' ? NMI_OFFSET : HARDIRQ_OFFSET;
    const rt = this.rt;
    // irq_enter / nmi_enter: the count's part rises. RCU watches the CPU from here
    // (rcu_irq_enter, ct_irq_enter on an idle CPU): the runtime's quiescent rule sees the count.
    rt.addPreempt(cpu, offset);
    // Handlers run with interrupts off; the interrupted context's state comes back at the return.
    const irqWasOff = this.irqOff[cpu]!;
    this.setIrqOff(cpu, true);
    try {
      yield { op: 'emit', event: { type: 'irq/entry', name: src, pid: t.pid } } as Command;
      if (src === 'nmi') yield* rt.runHook('nmi', { cpu });
      else if (src === 'ipi') {
        // generic_smp_call_function_single_interrupt: every request queued so far, in order,
        // each contained (one that fails, or sleeps, is an oops naming no plugin).
        const q = this.ipiQueues[cpu]!;
        const calls = q.splice(0, q.length);
        this.ipiPending -= calls.length;
        for (const call of calls) {
          yield* rt.contained(null, `smp_call_function_single on cpu ${cpu}`, call.fn);
          call.done = true;
        }
      } else {
        yield* rt.runHook('irq', { cpu, name: src });
        // scheduler_tick: a task waits for the CPU, so the one running has had its turn.
        if (rt.hasRunnableOn(cpu)) this.needResched[cpu] = true;
      }
      yield { op: 'emit', event: { type: 'irq/exit', name: src, pid: t.pid } } as Command;
    } catch (err) {
      // Outside any handler's containment (a core failure): logged, and the interrupt returns.
      yield {
        op: 'emit',
        event: {
          type: 'kernel/oops',
          plugin: null,
          where: `${src} interrupt on cpu ${cpu}`,
          message: describeError(err),
          pid: t.pid,
          killed: null,
          preemptCount: null,
        },
      } as Command;
    }
    // irq_exit / nmi_exit
    this.setIrqOff(cpu, irqWasOff);
    rt.addPreempt(cpu, -offset);
    yield IRQ_RETURN;
  }

  /**
   * The frame on top of `t` executed its return: pop it, restore the interrupted context, and
   * say whether to preempt on the way out: a hard interrupt's return, the tick asked for a
   * reschedule, and the interrupted context is preemptible (preempt count 0, interrupts on,
   * not the idle task, which schedules from its loop; an IPI's return too). An NMI's return never preempts
   * (irqentry_nmi_exit). The runtime switches when the runqueue still has a task.
   */
  irqReturn(cpu: number, t: TaskRt): boolean {
    const frame = t.frames.pop()!;
    const s = this.saved.get(frame)!;
    this.saved.delete(frame);
    t.atPoint = s.atPoint;
    t.resume = s.resume;
    t.pendingThrow = s.pendingThrow;
    if (s.src === 'nmi' || !this.needResched[cpu]) return false;
    if (t.pid === 0 || this.irqOff[cpu] || this.rt.preemptCount(cpu) !== 0) return false;
    this.needResched[cpu] = false;
    return true;
  }

  /** A context switch on `cpu` satisfies any pending reschedule. */
  switched(cpu: number): void {
    this.needResched[cpu] = false;
  }

  /** local_irq_disable / enable / save / restore. */
  command(cpu: number, action: 'disable' | 'enable' | 'save' | 'restore' | 'query', flags: boolean | undefined): unknown {
    if (cpu < 0) throw new TracelabError('KERNEL_BUG', 'BUG: local_irq_* outside any CPU');
    const was = this.irqOff[cpu]!;
    switch (action) {
      case 'query':
        return was;
      case 'disable':
        this.setIrqOff(cpu, true);
        return undefined;
      case 'enable':
        if (inIrqCount(this.rt.preemptCount(cpu)) || inNmiCount(this.rt.preemptCount(cpu))) {
          throw new TracelabError('KERNEL_BUG', `BUG: local_irq_enable in interrupt context on cpu ${cpu}`);
        }
        this.setIrqOff(cpu, false);
        return undefined;
      case 'save':
        this.setIrqOff(cpu, true);
        return was;
      case 'restore':
        if (typeof flags !== 'boolean') throw new TracelabError('KERNEL_BUG', `BUG: local_irq_restore with flags ${String(flags)} (not from local_irq_save)`);
        if (!flags && inInterruptCount(this.rt.preemptCount(cpu)))
          throw new TracelabError('KERNEL_BUG', `BUG: local_irq_restore enabling interrupts in interrupt context on cpu ${cpu}`);
        this.setIrqOff(cpu, flags);
        return undefined;
    }
  }
}
