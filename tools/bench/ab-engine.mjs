#!/usr/bin/env node
/**
 * Interleaved A/B of the engine between two built trees, in one process (issue 14, sixth
 * session). Each tree's packages resolve their own `@tracelab/*` (npm workspace links), so the
 * two engines are two module graphs side by side. Usage:
 *
 *   node tools/bench/ab-engine.mjs <treeA> <treeB> <workload> [pairs]
 *
 * workload: `sim` (the simulation bench's build, jobs=200 files=10, no plugins),
 * `sim-stack` (the same build on the CLI's default plugin stack, hooks run), or
 * `explore:<scenario>` (500 portfolio schedules of the fixed variant), or `dpor:<scenario>` (the
 * fixed variant's bound-1 DPOR tree, footprints recorded: the recording path). Each pair runs A then B
 * (the order alternates each pair), timed with process CPU time (user + system), and prints the
 * B/A rate ratio; the logs' hashes (sim), the explored step counts (explore) or the tree's
 * schedule and step counts (dpor) must agree, or
 * the script stops: a change that alters what runs is not a speed-up.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [treeA, treeB, workload = 'sim', pairsArg = '7'] = process.argv.slice(2);
if (treeA === undefined || treeB === undefined) {
  process.stderr.write('usage: ab-engine.mjs <treeA> <treeB> <sim|sim-stack|explore:<scenario>|dpor:<scenario>> [pairs]\n');
  process.exit(2);
}
const pairs = Number(pairsArg);

async function load(tree) {
  const imp = (pkg) => import(pathToFileURL(join(tree, 'packages', pkg, 'dist', 'index.js')).href);
  const core = await imp('core');
  const cli = await imp('cli');
  if (workload.startsWith('explore:') || workload.startsWith('dpor:')) {
    const explore = await imp('explore');
    const scenarios = await imp('scenarios');
    return { core, cli, explore, scenarios };
  }
  return { core, cli };
}

function cpuNs() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** One timed run: { ops, ns, check } (check must agree between the trees). */
function runOnce(m) {
  if (workload === 'sim' || workload === 'sim-stack') {
    const plugins = workload === 'sim-stack' ? m.cli.defaultScenario.plugins() : [];
    const k = m.core.createKernel({ cpus: 2, seed: 1, plugins });
    k.spawn(m.cli.buildWorkload({ jobs: workload === 'sim' ? 200 : 60, files: 10 }), { comm: 'sh' });
    const t0 = cpuNs();
    const r = k.run();
    const ns = cpuNs() - t0;
    if (!r.done) throw new Error('run did not finish');
    return { ops: r.steps, ns, check: k.logHash() };
  }
  const name = workload.slice(workload.indexOf(':') + 1);
  const s = m.scenarios.catalog.get(name);
  if (s === undefined) throw new Error(`no scenario ${name}`);
  const fixed = s.variants.find((v) => v.safe).name;
  if (workload.startsWith('dpor:')) {
    const t0 = cpuNs();
    const r = m.explore.explore(s, { variant: fixed, strategy: 'dpor', bound: 1, budget: 100_000, selfCheckEvery: 0, shrink: false });
    const ns = cpuNs() - t0;
    return { ops: r.schedules, ns, check: `${r.schedules}/${r.steps}` };
  }
  const n = 500;
  const t0 = cpuNs();
  const r = m.explore.explore(s, { variant: fixed, budget: n, strategy: 'portfolio', selfCheckEvery: 0 });
  const ns = cpuNs() - t0;
  return { ops: n, ns, check: `${r.steps}` };
}

const a = await load(treeA);
const b = await load(treeB);
// Warm-up: two runs each.
for (let i = 0; i < 2; i++) {
  const ra = runOnce(a);
  const rb = runOnce(b);
  if (ra.check !== rb.check) throw new Error(`A and B differ: ${ra.check} vs ${rb.check}`);
}
const ratios = [];
const rateA = [];
const rateB = [];
for (let p = 0; p < pairs; p++) {
  const first = p % 2 === 0 ? a : b;
  const second = p % 2 === 0 ? b : a;
  const r1 = runOnce(first);
  const r2 = runOnce(second);
  const [ra, rb] = p % 2 === 0 ? [r1, r2] : [r2, r1];
  if (ra.check !== rb.check) throw new Error(`A and B differ: ${ra.check} vs ${rb.check}`);
  const qa = ra.ops / (ra.ns / 1e9);
  const qb = rb.ops / (rb.ns / 1e9);
  rateA.push(qa);
  rateB.push(qb);
  ratios.push(qb / qa);
}
const med = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const unit = workload.startsWith('explore:') || workload.startsWith('dpor:') ? 'schedules/s' : 'steps/s';
process.stdout.write(
  `${workload}: ${pairs} pairs; A median ${med(rateA).toFixed(0)} ${unit}, B median ${med(rateB).toFixed(0)}; ` +
    `B/A ratios ${ratios.map((r) => r.toFixed(3)).join(' ')}; median ${med(ratios).toFixed(3)}\n`,
);
