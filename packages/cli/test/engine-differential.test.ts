import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalog } from '@tracelab/scenarios';
import { engineDigests, type Digests } from './differential/digests.js';

/**
 * The engine against itself before issue 14's rewrite: 200 seeds of every catalog variant and
 * of the default workload reach the same final state and the same violations as the recorded
 * engine (differential/engine-digests.json, written by `npm run record:engine-digests` on the
 * commit it names). A fold, a derived field or a scheduling change that alters any run fails
 * here with the scenario and the seeds that differ.
 */
const recorded = JSON.parse(readFileSync(new URL('./differential/engine-digests.json', import.meta.url), 'utf8')) as { seeds: number; digests: Digests };

const keys = [...[...catalog.values()].flatMap((s) => s.variants.map((v) => `${s.name}/${v.name}`)), 'default'];

describe('engine differential (issue 14)', () => {
  it('the fixture covers every catalog variant and the default workload', () => {
    expect(Object.keys(recorded.digests).sort()).toEqual([...keys].sort());
  });
  for (const key of keys) {
    it(`${key}: ${recorded.seeds} seeds reach the recorded final states and violations`, () => {
      const now = engineDigests(recorded.seeds, (k) => k === key)[key]!;
      const want = recorded.digests[key]!;
      const differ = now.flatMap((d, i) => (d === want[i] ? [] : [i + 1]));
      expect(differ, `seeds whose final state or violations differ`).toEqual([]);
    }, 600_000); // 200 runs of the default workload take ~20 s alone, minutes on a loaded machine
  }
});
