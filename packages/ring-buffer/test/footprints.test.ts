/**
 * Explore's DPOR sees the ring buffer's data outside the state only through what its steps name:
 * every path of the plugin's code runs under `ctx.touching` and names `@ring-buffer:*`
 * (docs/explore.md §4a, "The ring buffer's gap, shown and closed"). The audit here: under a
 * matrix of options that take the plugin's other paths (the flush by IPI on the owner CPU, the
 * switch and read timers, snapshot mode, interleaved commits), every step that changes a buffer,
 * the nesting, the consumer's state or the snapshots writes `@ring-buffer:*`.
 */
import { describe, expect, it } from 'vitest';
import { randomStrategy, type Kernel, type StepFootprint } from '@tracelab/core';
import { kernelWith } from '@tracelab/testing';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { finishRingBuffer, ringBuffer, type RingBufferOptions } from '../src/index.js';
import { workload } from './helpers.js';

/** What a step may change of the plugin's outside data, as far as the API shows it. */
function outside(k: Kernel): string {
  const api = k.api['ring-buffer'];
  const bufs = api
    .buffers()
    .map((b) => [b.offset, b.consumed, b.finalized, b.disabled, [...b.ccLocal], [...b.ccRemote], [...b.ccSb], [...b.ghostCommitted], [...b.deliveredLaps]]);
  return JSON.stringify([bufs, api.nesting(), api.consumerRunning(), api.snapshots().length]);
}

const MATRIX: Array<[string, RingBufferOptions, number]> = [
  ['the flush switches each buffer on its owner, by IPI', { flushSwitch: 'ipi' }, 3],
  ['switch and read timers', { switchTimer: 3, readTimer: 4 }, 2],
  ['snapshot mode, overwrite', { snapshot: true, mode: 'overwrite' }, 2],
  ['interleaved commits, local-only counters', { interleave: true, commitCounters: 'local-only' }, 2],
];

describe("every step that changes the ring buffer's outside data names it", () => {
  for (const [what, options, cpus] of MATRIX) {
    it(
      what,
      () => {
        let changes = 0;
        for (let seed = 1; seed <= 4; seed++) {
          const k = kernelWith({
            cpus,
            seed,
            strategy: randomStrategy(),
            plugins: [rcuTasks(), tracepoints(), ringBuffer({ subbufSize: 4096, numSubbuf: 4, ...options })],
          });
          for (const p of workload(3, 4)) k.spawn(p);
          let before = outside(k);
          const missed: string[] = [];
          k.recordFootprints((f: StepFootprint) => {
            const after = outside(k);
            if (after !== before) {
              changes++;
              if (!f.writes.includes('@ring-buffer:*')) missed.push(`cpu ${f.cpu} pid ${f.pid}: wrote ${f.writes.join(', ') || 'nothing'}`);
            }
            before = after;
          });
          k.run();
          finishRingBuffer(k);
          expect(missed.slice(0, 3), `seed ${seed}`).toEqual([]);
        }
        expect(changes).toBeGreaterThan(0);
      },
      120_000,
    );
  }
});
