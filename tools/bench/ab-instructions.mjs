#!/usr/bin/env node
/**
 * A/B of the engine between two built trees by instructions executed, not time (second wave,
 * thirteenth session). On a shared machine the interleaved timings of ab-engine.mjs spread from
 * 0.7 to 1.4 when anything else runs; the instructions a workload executes do not depend on the
 * load. Each run is one process under valgrind's cachegrind (`--cache-sim=no`: it only counts),
 * with node's `--single-threaded` (no concurrent compiler or GC threads, whose timing moves the
 * count by up to 10% from run to run; with it, repeated runs agree within about 0.3%).
 *
 *   node tools/bench/ab-instructions.mjs <treeA> <treeB> <workload> [pairs]
 *
 * workload: `sim` / `sim-stack` (as ab-engine.mjs), `dfs:<scenario>[:bound]` and
 * `dpor:<scenario>[:bound]` (the fixed variant's tree, bound 1 unless given), `explore:<scenario>`
 * (200 portfolio schedules). Each tree also runs the workload's baseline (the same process
 * cut to one schedule, or one step: module loading, compilation, setup), and the figure
 * compared is the difference, the workload's own instructions. The two trees' runs must agree
 * (log hash, or schedule and step counts), or the script stops.
 *
 * Instructions are a proxy: they do not see cache misses or memory bandwidth, so a change that
 * allocates less usually gains more time than instructions. Needs valgrind (Debian: `valgrind`).
 * Under valgrind a run takes about 50 times as long: keep workloads to a few seconds natively.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--run') {
  // The measured process: one workload on one tree, its check string on stdout.
  const [, , , tree, workload, mode] = process.argv;
  process.stdout.write(`${await runOnce(tree, workload, mode === 'baseline')}\n`);
  process.exit(0);
}

const [treeA, treeB, workload = 'sim', pairsArg = '2'] = process.argv.slice(2);
if (treeA === undefined || treeB === undefined) {
  process.stderr.write(
    'usage: ab-instructions.mjs <treeA> <treeB> <sim|sim-stack|dfs:<scenario>[:bound]|dpor:<scenario>[:bound]|explore:<scenario>> [pairs]\n',
  );
  process.exit(2);
}

/** Runs one measurement and parses "I refs" from cachegrind's summary. */
function count(tree, baseline) {
  const args = ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, '--single-threaded', self, '--run', tree, workload];
  if (baseline) args.push('baseline');
  const r = spawnSyncChecked(args);
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (m === null) throw new Error(`no instruction count in valgrind's output:\n${r.stderr.slice(-2000)}`);
  return { instructions: Number(m[1].replaceAll(',', '')), check: r.stdout.trim() };
}

function spawnSyncChecked(args) {
  const r = spawnSync('valgrind', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error !== undefined) {
    if (r.error.code === 'ENOENT') throw new Error('valgrind is not installed (Debian: apt-get install -y valgrind)');
    throw r.error;
  }
  if (r.status !== 0) throw new Error(`the run under valgrind failed (status ${r.status}):\n${r.stderr.slice(-2000)}`);
  return r;
}

async function runOnce(tree, workload, baseline) {
  const imp = (pkg) => import(pathToFileURL(join(tree, 'packages', pkg, 'dist', 'index.js')).href);
  const core = await imp('core');
  if (workload === 'sim' || workload === 'sim-stack') {
    const cli = await imp('cli');
    const plugins = workload === 'sim-stack' ? cli.defaultScenario.plugins() : [];
    const k = core.createKernel({ cpus: 2, seed: 1, plugins });
    k.spawn(cli.buildWorkload({ jobs: workload === 'sim' ? 200 : 60, files: 10 }), { comm: 'sh' });
    const r = k.run(baseline ? { maxSteps: 1 } : {});
    if (!baseline && !r.done) throw new Error('run did not finish');
    return k.logHash();
  }
  const [kind, name, boundArg] = workload.split(':');
  if (!['dfs', 'dpor', 'explore'].includes(kind) || name === undefined) throw new Error(`unknown workload ${workload}`);
  const explore = await imp('explore');
  const scenarios = await imp('scenarios');
  const s = scenarios.catalog.get(name);
  if (s === undefined) throw new Error(`no scenario ${name}`);
  const fixed = s.variants.find((v) => v.safe).name;
  const budget = baseline ? 1 : kind === 'explore' ? 200 : 1_000_000;
  const options =
    kind === 'explore'
      ? { variant: fixed, budget, strategy: 'portfolio', selfCheckEvery: 0 }
      : { variant: fixed, strategy: kind, bound: Number(boundArg ?? 1), budget, selfCheckEvery: 0, shrink: false };
  const r = explore.explore(s, options);
  return `${r.schedules}/${r.steps}`;
}

const results = { A: [], B: [] };
for (let p = 0; p < Number(pairsArg); p++) {
  for (const [label, tree] of p % 2 === 0
    ? [
        ['A', treeA],
        ['B', treeB],
      ]
    : [
        ['B', treeB],
        ['A', treeA],
      ]) {
    const full = count(tree, false);
    const base = count(tree, true);
    results[label].push({ full, base });
  }
  const a = results.A[p];
  const b = results.B[p];
  if (a.full.check !== b.full.check) throw new Error(`A and B differ: ${a.full.check} vs ${b.full.check}`);
  // A baseline is the same work every time, yet one in a few reads about 1G more (seen: 2.68G
  // and 3.66G for one tree in one session): each tree's net is taken against the least of its
  // baselines so far, the least disturbed, and the totals' ratio is printed beside it.
  const least = (label) => Math.min(...results[label].map((r) => r.base.instructions));
  const netA = a.full.instructions - least('A');
  const netB = b.full.instructions - least('B');
  const g = (x) => (x / 1e9).toFixed(3);
  process.stdout.write(
    `${workload} pair ${p + 1}: A ${g(netA)}G net (${g(a.full.instructions)}G, baseline ${g(a.base.instructions)}G), ` +
      `B ${g(netB)}G net (${g(b.full.instructions)}G, baseline ${g(b.base.instructions)}G); ` +
      `B/A net ${(netB / netA).toFixed(3)}, total ${(b.full.instructions / a.full.instructions).toFixed(3)} [${a.full.check}]\n`,
  );
}
