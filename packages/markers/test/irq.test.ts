import { describe, expect, it } from 'vitest';
import { createKernel, msleep, type Kernel, type KernelEvent } from '@tracelab/core';
import { CORE_MARKERS, TIMER_IRQ, markers, type MarkerProbe, type MarkersOptions } from '@tracelab/markers';
import { eventsOf } from './helpers.js';

/**
 * Issue 18: probes fire from interrupt handlers. The timer tick's handler marks
 * `kernel_irq_entry` and `kernel_irq_exit`; a probe connected to them runs in hard-interrupt
 * context, inside whatever the CPU was doing. The handler is an RCU-sched reader, so the
 * grace period the markers wait before freeing an old probe array covers it as it covers a task.
 */
const ENTRY = CORE_MARKERS.irqEntry;
const EXIT = CORE_MARKERS.irqExit;

function kernel(seed: number, options: MarkersOptions = {}): Kernel {
  return createKernel({ cpus: 2, seed, interrupts: { timer: { period: 3 } }, plugins: [markers({ logProbeCalls: true, ...options })] });
}

/** For each probe call, whether its CPU was inside an interrupt handler (between irq/entry and irq/exit). */
function inHandler(k: Kernel): Array<{ call: KernelEvent<'markers/probe-call'>; irq: boolean }> {
  const depth = new Map<number, number>();
  const out: Array<{ call: KernelEvent<'markers/probe-call'>; irq: boolean }> = [];
  for (const e of k.log) {
    if (e.type === 'irq/entry') depth.set(e.cpu, (depth.get(e.cpu) ?? 0) + 1);
    else if (e.type === 'irq/exit') depth.set(e.cpu, (depth.get(e.cpu) ?? 1) - 1);
    else if (e.type === 'markers/probe-call') out.push({ call: e, irq: (depth.get(e.cpu) ?? 0) > 0 });
  }
  return out;
}

/** Two user tasks computing, so ticks land in user and kernel mode alike. */
function load(k: Kernel, ticks: number): void {
  for (let i = 0; i < 2; i++) {
    k.spawn(
      function* busy(u) {
        for (let j = 0; j < ticks; j++) {
          yield u.syscall('getpid');
          yield u.compute(2);
        }
      },
      { comm: `load${i}` },
    );
  }
}

describe('markers fired from the timer interrupt', () => {
  it('a probe on kernel_irq_entry runs inside the handler, with the irq id and the interrupted mode; kernel_irq_exit after it', () => {
    const k = kernel(1);
    const seen: unknown[][] = [];
    const probe: MarkerProbe = (_p, _c, _f, args) => void seen.push([...args]);
    expect(k.call(k.api.markers.probeRegister(ENTRY.name, ENTRY.format, probe, 'entry'))).toBe(0);
    expect(k.call(k.api.markers.probeRegister(EXIT.name, EXIT.format, probe, 'exit'))).toBe(0);
    load(k, 10);
    const r = k.run({ maxSteps: 20_000 });
    expect(r.violations).toEqual([]);
    const calls = inHandler(k);
    const ticks = eventsOf(k, 'irq/entry').filter((e) => e.name === 'timer').length;
    expect(ticks).toBeGreaterThan(5);
    // One entry and one exit call per tick, each inside its handler, entry first.
    expect(calls.filter((c) => c.call.name === ENTRY.name)).toHaveLength(ticks);
    expect(calls.filter((c) => c.call.name === EXIT.name)).toHaveLength(ticks);
    expect(calls.every((c) => c.irq)).toBe(true);
    expect(seen.filter((a) => a.length === 2).every((a) => a[0] === TIMER_IRQ && (a[1] === 0 || a[1] === 1))).toBe(true);
    // Ticks land in user mode (computing) and in the kernel (getpid, the idle task).
    const modes = new Set(seen.filter((a) => a.length === 2).map((a) => a[1]));
    expect(modes).toEqual(new Set([0, 1]));
  });

  it('with no probe connected the tick marks nothing and takes no step of its own; connected, the handler spans the walk', () => {
    /** For each timer tick, the steps between its irq/entry and irq/exit (by time). */
    const spans = (k: Kernel): number[] => {
      const open = new Map<number, number>();
      const out: number[] = [];
      for (const e of k.log) {
        if (e.type === 'irq/entry' && e.name === 'timer') open.set(e.cpu, e.time);
        else if (e.type === 'irq/exit' && e.name === 'timer') out.push(e.time - open.get(e.cpu)!);
      }
      return out;
    };
    const idle = kernel(3);
    load(idle, 30);
    idle.run({ maxSteps: 20_000 });
    expect(spans(idle).length).toBeGreaterThan(3);
    expect(spans(idle).every((n) => n === 0)).toBe(true);
    expect(eventsOf(idle, 'markers/probe-call')).toEqual([]);
    const armed = kernel(3);
    expect(armed.call(armed.api.markers.probeRegister(ENTRY.name, ENTRY.format, () => undefined, 'p'))).toBe(0);
    load(armed, 30);
    armed.run({ maxSteps: 20_000 });
    expect(spans(armed).length).toBeGreaterThan(3);
    expect(spans(armed).every((n) => n > 0)).toBe(true);
  });

  /**
   * A writer swaps probes on kernel_irq_entry (each change retires the old array) while ticks
   * call through it: the tick's read of the array and its calls span scheduling points, so the
   * other CPU can retire and free the array in between.
   */
  function swap(seed: number, freeOldArray: NonNullable<MarkersOptions['freeOldArray']>): Kernel {
    const k = kernel(seed, { freeOldArray });
    const api = k.api.markers;
    const probes = ['a', 'b', 'c'].map((label) => ({ label, fn: ((): void => undefined) as MarkerProbe }));
    expect(k.call(api.probeRegister(ENTRY.name, ENTRY.format, probes[0]!.fn, 'a'))).toBe(0);
    expect(k.call(api.probeRegister(ENTRY.name, ENTRY.format, probes[1]!.fn, 'b'))).toBe(0);
    k.spawnKthread(
      (function* writer() {
        for (let i = 0; i < 6; i++) {
          yield* api.probeRegister(ENTRY.name, ENTRY.format, probes[2]!.fn, 'c');
          yield* api.probeUnregister(ENTRY.name, probes[2]!.fn, 'c');
          yield* msleep(1);
        }
      })(),
      { comm: 'writer' },
    );
    load(k, 8);
    k.run({ maxSteps: 50_000 });
    return k;
  }

  it('the grace period covers a tick inside the array walk: no freed array is called through, over 40 seeds (the default RCU-sched free)', () => {
    let retiredUnderTick = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const k = swap(seed, 'after-grace-period');
      expect(k.violations).toEqual([]);
      // A tick called through an array that was retired before the call (it read the array first).
      const retired = new Map<number, number>();
      for (const e of k.log) {
        if (e.type === 'markers/array-retired' && e.array !== null) retired.set(e.array, e.seq);
        if (e.type === 'markers/probe-call' && e.array !== null && retired.has(e.array)) {
          retiredUnderTick++;
          break;
        }
      }
    }
    expect(retiredUnderTick).toBeGreaterThan(3);
  });

  it("'immediately' (no grace period) is caught: an array freed while a tick walks it", () => {
    let caught = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const k = swap(seed, 'immediately');
      if (k.violations.length > 0) {
        caught++;
        expect(k.violations[0]!.name).toMatch(/^markers\/(freed-after-grace-period|no-use-after-free)$/);
      }
    }
    expect(caught).toBeGreaterThan(20);
  });
});
