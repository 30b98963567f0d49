import { describe, expect, it } from 'vitest';
import { expectClean } from '@tracelab/testing';
import { createKernel, randomStrategy, type Kernel, type Strategy } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { finishRingBuffer, ringBuffer, type RingBufferOptions } from '../src/index.js';
import { workload } from './helpers.js';

/** The workload, a mid-run disable/enable of sched_switch, then the session's end (flush, consumer). */
function runOnce(k: Kernel): { hash: string; events: number; streams: string } {
  for (const p of workload(3, 5)) k.spawn(p);
  k.spawnKthread(
    (function* churn() {
      yield* k.api['ring-buffer'].disableEvent('sched_switch');
      yield* k.api['ring-buffer'].enableEvent('sched_switch');
    })(),
    { comm: 'lttng' },
  );
  k.run({ maxSteps: 500_000 });
  expectClean(k);
  finishRingBuffer(k);
  expectClean(k);
  // The consumer's output, byte for byte, per CPU.
  const streams = k.api['ring-buffer']
    .streams()
    .map((packets: readonly Uint8Array[]) => packets.map((p) => Buffer.from(p).toString('hex')).join('|'))
    .join('/');
  return { hash: k.logHash(), events: k.log.length, streams };
}

describe('kernel.reset with the ring buffer (ctx.onReset)', () => {
  for (const [label, options] of [
    ['discard, 512-byte sub-buffers', { subbufSize: 512 }],
    ['overwrite', { mode: 'overwrite', subbufSize: 256 }],
    ['interrupts (timer and NMI sources)', { interrupts: true, subbufSize: 512 }],
  ] as Array<[string, RingBufferOptions]>) {
    it(`${label}: a reset kernel runs each schedule exactly as a fresh one, its log and its CTF packets (tracepoints, buffers, consumer, checkers back to registration)`, () => {
      const make = (strategy?: Strategy): Kernel =>
        createKernel({
          cpus: 2,
          seed: 6,
          plugins: [rcuTasks(), tracepoints(), ringBuffer(options)],
          ...(options.interrupts === true ? { interrupts: { timer: { period: 7 }, nmi: { period: 11 } } } : {}),
          ...(strategy !== undefined ? { strategy } : {}),
        });
      const k = make();
      // A first run that defines a tracepoint of its own too (dropped by the reset).
      k.api['ring-buffer'].defineTracepoint({ name: 'my_event', fields: [{ name: 'x', type: { kind: 'integer', size: 32, signed: false } }] });
      runOnce(k);
      for (const seed of [1, 2]) {
        const strategy: Strategy = randomStrategy({ preemptProbability: 0.2 * seed, irqProbability: 0.3 });
        const fresh = runOnce(make(strategy));
        k.reset({ strategy });
        expect(runOnce(k)).toEqual(fresh);
      }
    });
  }
});
