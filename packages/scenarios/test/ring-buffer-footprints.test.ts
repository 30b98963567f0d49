/**
 * The ring buffer's data outside the state (its buffers: offsets, commit counters, what was
 * delivered and consumed) is in DPOR's footprints: every step that changes a buffer writes
 * `@ring-buffer:*`, events or not (the plugin runs every path of its code under
 * `ctx.touching`; docs/explore.md §4a, "The ring buffer's gap"). An audit over the catalog's
 * ring-buffer scenarios, as the tflags and tstop audits are for the core's task views, and the
 * race of `commit-after-migration/local-only` whose two steps shared no object before.
 */
import { describe, expect, it } from 'vitest';
import { createKernel, decodeSchedule, footprintsConflict, randomStrategy, type Kernel, type StepFootprint } from '@tracelab/core';
import { KernelPool, decodeReplay, replayContext, runSchedule } from '@tracelab/explore';
import { commitAfterMigration, irqNestedCommit, type Scenario } from '../src/index.js';

/** What a step may change of the buffers, per CPU buffer. */
function buffers(k: Kernel): string[] {
  return k.api['ring-buffer']
    .buffers()
    .map((b) => JSON.stringify([b.offset, b.consumed, [...b.ccLocal], [...b.ccRemote], [...b.ccSb], [...b.ghostCommitted], [...b.deliveredLaps]]));
}

describe("every step that changes a ring buffer writes the plugin's outside data", () => {
  for (const s of [commitAfterMigration, irqNestedCommit] as Scenario[]) {
    it(`${s.name}: every variant, 6 random schedules each`, () => {
      let changes = 0;
      for (const v of s.variants) {
        for (let seed = 1; seed <= 6; seed++) {
          const k = createKernel({ cpus: s.cpus, seed, strategy: randomStrategy(), plugins: s.plugins(v.name) });
          s.setup(k, { variant: v.name, scale: s.scale?.default ?? 0 });
          let before = buffers(k);
          const missed: string[] = [];
          k.recordFootprints((f: StepFootprint) => {
            const after = buffers(k);
            after.forEach((a, cpu) => {
              if (a === before[cpu]) return;
              changes++;
              if (!f.writes.includes('@ring-buffer:*')) missed.push(`cpu ${f.cpu} step changed buffer ${cpu} and wrote ${f.writes.join(', ') || 'nothing'}`);
            });
            before = after;
          });
          k.run({ maxSteps: s.maxSteps });
          expect(missed.slice(0, 3), `${s.name}/${v.name} seed ${seed}`).toEqual([]);
        }
      }
      expect(changes).toBeGreaterThan(0);
    }, 120_000);
  }

  it('local-only: the steps of two CPUs that write one buffer’s commit counter conflict (the lost update DPOR could not see)', () => {
    const str = 'local-only:S2:55.84:0{3}10{3}1101101001101{7}0{4}1001011010011010110{5}11:1uchr6u';
    const d = decodeReplay(commitAfterMigration, str);
    const values = decodeSchedule(d.schedule, { context: replayContext(commitAfterMigration, d.variant, d.scale) });
    let kernel: Kernel | null = null;
    class Catch extends KernelPool {
      override take(...a: Parameters<KernelPool['take']>): Kernel | undefined {
        const k = super.take(...a);
        kernel = k ?? null;
        return k;
      }
    }
    const steps: Array<{ f: StepFootprint; changed: number[] }> = [];
    let before: string[] | null = null;
    const o = runSchedule(commitAfterMigration, d.variant, d.scale, { pick: (p) => values[p.index] ?? 0 }, new Catch(), (f) => {
      const after = kernel === null ? [] : kernel.api['ring-buffer'].buffers().map((b) => [...b.ccLocal].join(','));
      const changed = before === null ? [] : after.flatMap((a, cpu) => (a === before![cpu] ? [] : [cpu]));
      steps.push({ f, changed });
      before = after;
    });
    expect(o.violation?.name).toBe('ring-buffer/delivery');
    let pairs = 0;
    for (let i = 0; i < steps.length; i++)
      for (let j = i + 1; j < steps.length; j++) {
        const [a, b] = [steps[i]!, steps[j]!];
        if (a.f.cpu === b.f.cpu || !a.changed.some((c) => b.changed.includes(c))) continue;
        pairs++;
        expect(footprintsConflict(a.f, b.f), `steps ${i} (cpu ${a.f.cpu}) and ${j} (cpu ${b.f.cpu})`).toBe(true);
      }
    expect(pairs).toBeGreaterThan(10);
  });
});
