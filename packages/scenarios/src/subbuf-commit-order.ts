import type { KPath } from '@tracelab/core';
import { defineScenario } from '@tracelab/explore';
import { memoryModel, type MemoryModelApi } from '@tracelab/memory-model';

const COMMIT = 'subbuf0.commit_count';
const record = (i: number): string => `subbuf0.record${i}`;

/**
 * lib_ring_buffer_commit(), per record: the record's bytes are written into the reserved
 * slot, then (the fix) smp_wmb(), then the sub-buffer's commit count is updated.
 */
function* libRingBufferCommit(api: MemoryModelApi, wmb: boolean, records: number): KPath<void> {
  for (let i = 0; i < records; i++) {
    yield* api.writeOnce(record(i), 0x1000 + i);
    if (wmb) yield* api.smpWmb();
    yield* api.writeOnce(COMMIT, i + 1);
  }
}

/**
 * The consumer (lib_ring_buffer_get_subbuf and the read that follows): polls the commit
 * count; once the sub-buffer is fully committed, smp_rmb() (the pairing barrier), then reads
 * the records to deliver them. A record still 0 is bytes the consumer cannot see.
 */
function* libRingBufferGetSubbuf(api: MemoryModelApi, rmb: boolean, records: number, polls: number): KPath<void> {
  for (let p = 0; p < polls; p++) {
    const committed = yield* api.readOnce(COMMIT);
    if (committed !== records) continue;
    if (rmb) yield* api.smpRmb();
    for (let i = 0; i < records; i++) {
      const bytes = yield* api.readOnce(record(i));
      yield* api.warnOn(bytes === 0, `the consumer delivered sub-buffer 0 (commit count ${records}) with record ${i} whose bytes it cannot yet see`);
    }
    return;
  }
}

const BARRIERS: Readonly<Record<string, { wmb: boolean; rmb: boolean }>> = {
  fixed: { wmb: true, rmb: true },
  'no-wmb': { wmb: false, rmb: true },
  'no-rmb': { wmb: true, rmb: false },
};

/**
 * The commit count as the publication of a sub-buffer's records (thread 004, faultable
 * tracepoints and the LTTng ring buffer): the writer's write barrier before the commit count
 * pairs with the consumer's read barrier after reading it. Without the write barrier the
 * consumer can see the sub-buffer committed before its bytes. A self-contained model of the
 * pairing on the memory-model plugin (the ring-buffer plugin itself is not rewired).
 */
export const subbufCommitOrder = defineScenario({
  name: 'subbuf-commit-order',
  description: 'a writer commits records into a sub-buffer while the consumer delivers it once its commit count is full (memory-model)',
  source: 'shared/seeds/004_690fd12e3af7e5f1.txt: the ring buffer commit count and delivery',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 600,
  scale: { name: 'records', default: 2, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'subbufCommitOrder' },
  variants: [
    { name: 'fixed', description: 'smp_wmb() before the commit count, smp_rmb() after reading it', safe: true },
    {
      name: 'no-wmb',
      description: 'no write barrier before the commit count: the count can be seen before the bytes',
      safe: false,
      expect: ['memory-model/warn-on'],
    },
    {
      name: 'no-rmb',
      description: 'no read barrier in the consumer: its record reads can be satisfied before the count read',
      safe: false,
      expect: ['memory-model/warn-on'],
    },
  ],
  plugins: () => [memoryModel()],
  setup(kernel, { variant, scale }) {
    const api = kernel.api['memory-model'];
    const b = BARRIERS[variant] ?? BARRIERS.fixed!;
    kernel.spawnKthread(libRingBufferCommit(api, b.wmb, scale), { comm: 'writer' });
    kernel.spawnKthread(libRingBufferGetSubbuf(api, b.rmb, scale, 2 * scale + 4), { comm: 'consumerd' });
  },
});
