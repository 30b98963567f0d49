import { describe, expect, it } from 'vitest';
import { eventsOf, expectClean } from '@tracelab/testing';
import { type Kernel, type KernelEvent } from '@tracelab/core';
import { finishRingBuffer } from '../src/index.js';
import { runWorkload } from './helpers.js';

/**
 * Issue 18 (IPIs where the kernel uses them): the flush's switch of another CPU's buffer as
 * lttng-modules does it for per-CPU buffers, lib_ring_buffer_switch_remote through
 * smp_call_function_single, so the owner switches its own buffer in an IPI handler.
 */
function flushed(seed: number, flushSwitch: 'remote' | 'ipi', cpus = 3): { k: Kernel; remoteAdded: number } {
  const k = runWorkload(seed, { flushSwitch, subbufSize: 1024 }, 4, 4, cpus);
  const before = k.api['ring-buffer'].buffers().map((b) => b.ccRemote.reduce((a, c) => a + c, 0));
  const from = k.log.length;
  expect(finishRingBuffer(k)).toBe(true);
  const after = k.api['ring-buffer'].buffers().map((b) => b.ccRemote.reduce((a, c) => a + c, 0));
  const flushes = k.log.slice(from).filter((e): e is KernelEvent<'ring-buffer/flushed'> => e.type === 'ring-buffer/flushed');
  expect(flushes).toHaveLength(1);
  return { k, remoteAdded: after.reduce((a, c, i) => a + c - before[i]!, 0) };
}

describe("flushSwitch: 'ipi'", () => {
  it('each other CPU takes an IPI and switches its own buffer (no REMOTE add); every record is delivered; remote switches add to REMOTE instead', () => {
    let ipis = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const ipi = flushed(seed, 'ipi');
      expectClean(ipi.k);
      expect(ipi.k.api['ring-buffer'].checkAccounting()).toEqual([]);
      expect(ipi.remoteAdded).toBe(0);
      const entries = eventsOf(ipi.k, 'irq/entry', (e) => e.name === 'ipi');
      // One IPI per buffer that is not the flusher's own, each on that buffer's CPU.
      expect(entries.length).toBe(2);
      expect(new Set(entries.map((e) => e.cpu)).size).toBe(2);
      ipis += entries.length;
      const remote = flushed(seed, 'remote');
      expect(remote.k.api['ring-buffer'].checkAccounting()).toEqual([]);
      expect(remote.remoteAdded).toBeGreaterThan(0);
      expect(remote.k.log.some((e) => e.type === 'irq/entry')).toBe(false);
    }
    expect(ipis).toBe(16);
  });

  it("is recorded in the log header's plugin options only when set, and refused when misspelt", () => {
    const k = runWorkload(1, { flushSwitch: 'ipi' }, 1, 1);
    const reg = k.log.find((e): e is KernelEvent<'kernel/plugin-registered'> => e.type === 'kernel/plugin-registered' && e.name === 'ring-buffer')!;
    expect(reg.options).toMatchObject({ flushSwitch: 'ipi' });
    const d = runWorkload(1, {}, 1, 1);
    const dreg = d.log.find((e): e is KernelEvent<'kernel/plugin-registered'> => e.type === 'kernel/plugin-registered' && e.name === 'ring-buffer')!;
    expect(dreg.options).not.toHaveProperty('flushSwitch');
    expect(() => runWorkload(1, { flushSwitch: 'smp' as never }, 1, 1)).toThrow(/^ring-buffer: option flushSwitch must be 'remote' or 'ipi', got "smp"$/);
  });
});
