import { describe, expect, it } from 'vitest';
import { canonicalJson, type KernelEvent } from '@tracelab/core';
import { runSchedule } from '@tracelab/explore';
import { renamedEvent, sameRenamedEvent } from '../src/internal/mirror.js';
import { lostUpdate } from './fixtures.js';

const swap = (c: number): number => (c === 0 ? 1 : c === 1 ? 0 : c);
const same = (c: number): number => c;
/** The mirror check's rule as text: the event with its CPUs renamed, against the other as it is. */
const byText = (x: KernelEvent, y: KernelEvent): boolean => canonicalJson(renamedEvent(x, swap)) === canonicalJson(renamedEvent(y, same));

/** Events a log can hold, CPU ids under every name the check renames, and ones it must not. */
function synthetic(): KernelEvent[] {
  const e = (type: string, seq: number, cpu: number, payload: Record<string, unknown>): KernelEvent =>
    ({ seq, time: 3, cpu, type, ...payload }) as unknown as KernelEvent;
  return [
    e('kernel/created', 0, -1, { cpus: 2, seed: 1, coreVersion: '1' }),
    // A count of CPUs, not an id: never renamed.
    e('kernel/created', 0, -1, { cpus: 1, seed: 1, coreVersion: '1' }),
    e('rcu/gp-start', 1, 0, { gp: 1, pending: [0, 1] }),
    e('rcu/gp-start', 1, 1, { gp: 1, pending: [1] }),
    e('rcu/gp-start', 1, 1, { gp: 1, pending: [0] }),
    // A set: [1] renamed is [0], in any order.
    e('rcu/gp-start', 1, 0, { gp: 1, pending: [0] }),
    e('rcu/gp-start', 1, 0, { gp: 1, pending: [1, 0] }),
    e('demo/ipi', 2, 0, { target_cpu: 1, fromCpu: 0, cpus: [0, 1], note: 'cpu 0' }),
    e('demo/ipi', 2, 1, { target_cpu: 0, fromCpu: 1, cpus: [1, 0], note: 'cpu 0' }),
    e('demo/ipi', 2, 1, { target_cpu: 0, fromCpu: 1, cpus: [0, 1], note: 'cpu 0' }),
    e('demo/nested', 3, 0, { info: { cpu: 1, list: [{ cpu: 0 }, 5] }, when: undefined }),
    e('demo/nested', 3, 1, { info: { cpu: 0, list: [{ cpu: 1 }, 5] } }),
    e('demo/nested', 3, 1, { info: { cpu: 0, list: [{ cpu: 0 }, 5] } }),
    e('demo/idle', 4, 0, { cpu_hint: -1, count: 0 }),
    e('demo/idle', 4, 1, { cpu_hint: -1, count: 0 }),
    e('demo/idle', 4, 1, { cpu_hint: -1, count: -0 }),
  ];
}

describe('the mirror check compares events as their text would', () => {
  it('agrees with the renamed canonical text on every pair of a run, its mirror image and synthetic events', () => {
    const run = runSchedule(lostUpdate, 'fixed', 1, { pick: (p) => (p.kind === 'cpu' ? p.index % p.n : 0) });
    const log = run.kernel.log;
    expect(log.length).toBeGreaterThan(20);
    // The mirror images, as the check would find them in a run with the CPUs swapped.
    const images = log.map((x) => ({ ...(renamedEvent(x, swap) as object), seq: x.seq + 1 }) as unknown as KernelEvent);
    const events = [...log, ...images, ...synthetic()];
    let equal = 0;
    let differ = 0;
    for (const x of events) {
      for (const y of events) {
        const want = byText(x, y);
        if (want) equal++;
        else differ++;
        expect(sameRenamedEvent(x, y, swap), `${canonicalJson(x)} against ${canonicalJson(y)}`).toBe(want);
      }
    }
    // Each event meets its image, so the pairs that agree are at least the events.
    expect(equal).toBeGreaterThanOrEqual(log.length + 4);
    expect(differ).toBeGreaterThan(equal);
  });
});
