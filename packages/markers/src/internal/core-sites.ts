import { current, getState, intMapGet, type PluginContext } from '@tracelab/core';
import type { MarkersState } from '../types.js';
import { markerProbeCb } from '../marker.js';
import type { MarkersInstance } from './instance.js';

/** The core kernel's own sites, fired from the core hooks (names and formats after LTTng 0.x). */
export const CORE_MARKERS = Object.freeze({
  /** contextSwitch hook, in the incoming task, preemption off. Args: prev, next, cpu, preempted (0/1). */
  schedSchedule: Object.freeze({ name: 'kernel_sched_schedule', format: 'prev_pid %d next_pid %d cpu %d preempted %d' }),
  /** fork hook at the `link` stage (the child is on the task list). Args: parent, child. */
  processFork: Object.freeze({ name: 'kernel_process_fork', format: 'parent_pid %d child_pid %d' }),
  /** exec hook, before task/exec. Args: pid, the new comm. */
  exec: Object.freeze({ name: 'fs_exec', format: 'pid %d filename %s' }),
  /** exit hook, in do_exit. Args: pid, code. */
  processExit: Object.freeze({ name: 'kernel_process_exit', format: 'pid %d code %d' }),
  /**
   * irq hook (a timer tick, with the core's `interrupts.timer`), first thing in the handler, in
   * hard-interrupt context. Args: irq id (0, the timer), kernel_mode (1 when the interrupted
   * task was in the kernel, 0 in user mode).
   */
  irqEntry: Object.freeze({ name: 'kernel_irq_entry', format: 'irq_id %u kernel_mode %u' }),
  /** irq hook, last thing in the handler. Args: irq id. */
  irqExit: Object.freeze({ name: 'kernel_irq_exit', format: 'irq_id %u' }),
});

/** The irq number the timer tick's markers carry (IRQ 0, the PC's timer). */
export const TIMER_IRQ = 0;

/**
 * Defines the core sites and taps the core hooks that fire them (option `coreMarkers`). Each
 * handler returns at once, with no step and no event, while its site is disarmed.
 */
export function tapCoreSites(ctx: PluginContext<MarkersState>, m: MarkersInstance): void {
  const define = (site: { readonly name: string; readonly format: string }) => m.reg.defineCore(site.name, site.format);
  const sched = define(CORE_MARKERS.schedSchedule);
  const fork = define(CORE_MARKERS.processFork);
  const exec = define(CORE_MARKERS.exec);
  const exit = define(CORE_MARKERS.processExit);
  ctx.tap('contextSwitch', function* ({ cpu, prev, next, preempted }) {
    if (sched.armed) yield* markerProbeCb(m, sched, undefined, [prev, next, cpu, preempted ? 1 : 0]);
  });
  ctx.tap(
    'fork',
    function* ({ parent, child }) {
      // Parent 0 is a host-started task's own fork tail, not a fork: kernel_process_fork stays quiet.
      if (fork.armed && parent !== 0) yield* markerProbeCb(m, fork, undefined, [parent, child]);
    },
    { stage: 'link' },
  );
  ctx.tap('exec', function* ({ pid, comm }) {
    if (exec.armed) yield* markerProbeCb(m, exec, undefined, [pid, comm]);
  });
  ctx.tap('exit', function* ({ pid, code }) {
    if (exit.armed) yield* markerProbeCb(m, exit, undefined, [pid, code]);
  });
  const irqEntry = define(CORE_MARKERS.irqEntry);
  const irqExit = define(CORE_MARKERS.irqExit);
  // Probes called from a hard interrupt: the handler is an RCU-sched reader (its preempt
  // count has the hardirq part), so the grace period before a free covers it like a task's.
  ctx.tap('irq', function* ({ name }) {
    if (name !== 'timer' || (!irqEntry.armed && !irqExit.armed)) return;
    if (irqEntry.armed) {
      const me = yield* current();
      const mode = me.pid === 0 ? 'kernel' : (intMapGet((yield* getState()).tasks, me.pid)?.mode ?? 'kernel');
      yield* markerProbeCb(m, irqEntry, undefined, [TIMER_IRQ, mode === 'user' ? 0 : 1]);
    }
    if (irqExit.armed) yield* markerProbeCb(m, irqExit, undefined, [TIMER_IRQ]);
  });
}
