import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalCond, parseLitmus, runLitmus, runLitmusOnKernel, type LitmusTest } from '@tracelab/memory-model';

/**
 * The operational plugin against the axiomatic checker: every litmus file runs on the
 * simulated kernel (random walks) and what it reaches must be allowed by LKMM; the weak
 * behaviours the plugin claims (docs/memory-model.md, "Allowed") must really be reached.
 */
const DIR = join(import.meta.dirname, '..', 'litmus');
const SEEDS = 100;

/** Shapes LKMM allows that the plugin cannot reach: loads never read stores that have not executed. */
const OUT_OF_REACH = new Set(['lb', 'lb-mb-po', '2+2w', 's', 's-release-po', 'rcu-2rs-1gp', 'mp-lock-islocked']);

const tests: LitmusTest[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.litmus'))
  .sort()
  .map((f) => parseLitmus(readFileSync(join(DIR, f), 'utf8'), f))
  .filter((t) => t.unsupported === null);

function reached(t: LitmusTest): number {
  let hits = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runLitmusOnKernel(t, { seed });
    expect(r.done, `${t.name} seed ${seed} ran to the end`).toBe(true);
    if ((t.filter === null || evalCond(t.filter, r.regs, r.mem)) && evalCond(t.cond, r.regs, r.mem)) hits++;
  }
  return hits;
}

describe('the plugin on the kernel never goes beyond LKMM, and reaches what it claims', () => {
  const verdicts = new Map(tests.map((t) => [t.name, runLitmus(t).result]));
  for (const t of tests) {
    const lkmm = verdicts.get(t.name)!;
    if (lkmm === 'Never') {
      it(`${t.name}: LKMM Never, never reached in ${SEEDS} random walks`, () => {
        expect(reached(t)).toBe(0);
      });
    } else if (!OUT_OF_REACH.has(t.name)) {
      it(`${t.name}: LKMM ${lkmm}, reached`, () => {
        expect(reached(t)).toBeGreaterThan(0);
      });
    } else {
      it(`${t.name}: LKMM ${lkmm}, out of the operational model's reach`, () => {
        expect(reached(t)).toBe(0);
      });
    }
  }
});
