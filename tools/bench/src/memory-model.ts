/**
 * The memory model: the cost of having the plugin in a stack that does not use it (model
 * off is leaving it out, which is today's kernel by construction), exploration of the barrier
 * scenarios with the weak model beside the same scenarios under a sequentially consistent
 * memory, and the litmus checker over the project's litmus directory beside herd7's
 * published time for one test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorkload } from '@tracelab/cli';
import { createKernel } from '@tracelab/core';
import { explore, type Scenario } from '@tracelab/explore';
import { memoryModel, parseLitmus, runLitmus } from '@tracelab/memory-model';
import { scenario } from '@tracelab/scenarios';
import { median, row, timeOnce, type Benchmark, type Row } from './harness.js';

const SCHEDULES = 2000;
const SIM = { jobs: 200, files: 10 } as const;
const SCENARIOS = ['utrace-exit-flags', 'marker-publish', 'subbuf-commit-order'] as const;

/** Build-workload steps/s without and with the plugin, runs interleaved (so JIT warm-up and machine load fall on both), medians of 5. */
function simRates(): { off: number; on: number } {
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < 10; i++) {
    const withPlugin = i % 2 === 1;
    const kernel = createKernel({ cpus: 2, seed: 1, plugins: withPlugin ? [memoryModel()] : [] });
    kernel.spawn(buildWorkload(SIM), { comm: 'sh' });
    const { value, ns } = timeOnce(() => kernel.run());
    if (!value.done) throw new Error('memory-model bench: the build workload did not finish');
    (withPlugin ? on : off).push(value.steps / (ns / 1e9));
  }
  return { off: median(off), on: median(on) };
}

function exploreRate(s: Scenario, variant: string): number {
  explore(s, { variant, budget: 1000, strategy: 'portfolio', selfCheckEvery: 0 }); // warm-up: JIT and the scenario's first kernels
  const t = timeOnce(() => explore(s, { variant, budget: SCHEDULES, strategy: 'portfolio', selfCheckEvery: 0 }));
  if (t.value.found) throw new Error(`memory-model bench: ${s.name}/${variant} failed`);
  return SCHEDULES / (t.ns / 1e9);
}

const LITMUS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'memory-model', 'litmus');

export const memoryModelBench: Benchmark = {
  name: 'memory-model',
  run(): Row[] {
    const rows: Row[] = [];
    const { off, on } = simRates();
    rows.push(
      row(`simulation, build jobs=${SIM.jobs}, memory-model plugin in the stack but unused`, 'steps/s', on, off, "no plugin (model off: today's kernel)"),
    );

    for (const name of SCENARIOS) {
      const s = scenario(name);
      const weak = exploreRate(s, 'fixed');
      const sc = exploreRate({ ...s, plugins: () => [memoryModel({ model: 'sc' })] }, 'fixed');
      rows.push(row(`explore ${name}/fixed, portfolio, weak memory`, 'schedules/s', weak, sc, "the same with memoryModel({ model: 'sc' })"));
      rows.push(row(`explore ${name}/fixed, portfolio, weak memory`, 'schedules/s', weak, 2000, 'target'));
    }

    const files = readdirSync(LITMUS)
      .filter((f) => f.endsWith('.litmus'))
      .sort();
    const texts = files.map((f) => readFileSync(join(LITMUS, f), 'utf8'));
    runLitmus(parseLitmus(texts[0]!)); // warm-up
    const all = timeOnce(() => texts.map((t) => runLitmus(parseLitmus(t))));
    rows.push(row(`litmus, the whole directory (${files.length} tests, parse and every candidate execution)`, 'ms', all.ns / 1e6, 30_000, 'target'));
    const sb = texts[files.indexOf('sb-mb-mb.litmus')]!;
    const one = timeOnce(() => {
      for (let i = 0; i < 100; i++) runLitmus(parseLitmus(sb));
    });
    rows.push(
      row("litmus sb-mb-mb (the kernel's SB+fencembonceonces)", 'ms', one.ns / 1e6 / 100, 10, 'herd7, published (tools/memory-model/README: Time 0.01 s)'),
    );
    return rows;
  },
};
