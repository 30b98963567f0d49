/**
 * Schedule exploration: schedules per second on each scenario (beside the same kernels run by
 * the core's own random strategy with no recording), schedules and time to find each unsafe
 * variant over 100 seeds, the bounded DFS (preemption bound 2) on each fixed variant, and the
 * speed-up of 2 worker threads over 1 on the same schedules.
 */
import { createKernel, randomStrategy } from '@tracelab/core';
import { explore, EXPLORE_KERNEL_SEED, type ExploreResult, type Scenario } from '@tracelab/explore';
import { catalog } from '@tracelab/scenarios';
import { median, row, timeOnce, timeOnceWall, type Benchmark, type Row } from './harness.js';

const RATE_SCHEDULES = 2000;
const FIND_SEEDS = 100;

/**
 * `TRACELAB_EXPLORE_SCENARIOS=a,b` benches only those catalog scenarios (and skips the worker
 * row unless fork-flag-race is among them); unset, the whole catalog. The DFS rows of the bigger
 * scenarios take minutes (trampoline-free/fixed: 66,038 schedules at bound 2, about a minute).
 */
function selected(): Scenario[] {
  const only = process.env['TRACELAB_EXPLORE_SCENARIOS'];
  if (only === undefined || only === '') return [...catalog.values()];
  const names = only.split(',').map((x) => x.trim());
  for (const n of names) if (!catalog.has(n)) throw new Error(`explore bench: no scenario ${n}; catalog: ${[...catalog.keys()].join(', ')}`);
  return names.map((n) => catalog.get(n)!);
}

/** The peer: the same scenario kernels, created and run with the core's random strategy. */
function bareRate(s: Scenario, variant: string, n: number): number {
  const { ns } = timeOnce(() => {
    for (let i = 0; i < n; i++) {
      const k = createKernel({ cpus: s.cpus, seed: i + 1, strategy: randomStrategy(), plugins: s.plugins(variant) });
      s.setup(k, { variant, scale: s.scale?.default ?? 0 });
      k.run({ maxSteps: s.maxSteps });
    }
  });
  return n / (ns / 1e9);
}

export const exploreBench: Benchmark = {
  name: 'explore',
  run(): Row[] {
    const rows: Row[] = [];
    const scenarios = selected();
    for (const s of scenarios) {
      const fixed = s.variants.find((v) => v.safe)!.name;
      explore(s, { variant: fixed, budget: 200, strategy: 'random' }); // warm-up
      const t = timeOnce(() => explore(s, { variant: fixed, budget: RATE_SCHEDULES, strategy: 'portfolio', selfCheckEvery: 0 }));
      const rate = RATE_SCHEDULES / (t.ns / 1e9);
      process.stderr.write(`  ${s.name}/${fixed}: ${(t.value.steps / RATE_SCHEDULES).toFixed(1)} steps per schedule\n`);
      rows.push(row(`explore ${s.name}/${fixed}, portfolio`, 'schedules/s', rate, bareRate(s, fixed, RATE_SCHEDULES), 'core randomStrategy, no recording'));
      rows.push(row(`explore ${s.name}/${fixed}, portfolio`, 'schedules/s', rate, 10_000, 'target'));

      for (const v of s.variants.filter((x) => !x.safe)) {
        const counts: number[] = [];
        const times: number[] = [];
        for (let seed = 1; seed <= FIND_SEEDS; seed++) {
          const r = timeOnce(() => explore(s, { variant: v.name, seed, budget: 5000, shrink: false, selfCheckEvery: 0 }));
          if (!r.value.found) throw new Error(`explore bench: ${s.name}/${v.name} not found with seed ${seed} in 5000 schedules`);
          counts.push(r.value.schedules);
          times.push(r.ns / 1e6);
        }
        const name = `find ${s.name}/${v.name} over ${FIND_SEEDS} seeds`;
        rows.push(row(`${name}, median`, 'schedules', median(counts), 300, 'target'));
        rows.push(row(`${name}, worst`, 'schedules', Math.max(...counts), 300, 'target'));
        rows.push(row(`${name}, median`, 'ms', median(times), 1000, 'target'));
        rows.push(row(`${name}, worst`, 'ms', Math.max(...times), 1000, 'target'));
        const shrunk = timeOnce(() => explore(s, { variant: v.name, seed: 1, budget: 5000 }));
        const f = shrunk.value.failure!;
        process.stderr.write(
          `  ${s.name}/${v.name}: shrunk ${f.replay} (${f.preemptions} preemptions, ${f.steps} steps; found with ${f.original.preemptions} preemptions, ${f.original.steps} steps)\n`,
        );
        rows.push(row(`shrink ${s.name}/${v.name}, replay string`, 'chars', f.replay.length, 100, 'target'));
        rows.push(row(`shrink ${s.name}/${v.name}, steps of the counterexample`, 'steps', f.steps, f.original.steps, 'the schedule as found'));
      }

      for (const variant of s.variants.filter((x) => x.safe)) {
        const d = timeOnce(() => explore(s, { variant: variant.name, strategy: 'dfs', bound: 2, budget: 200_000, selfCheckEvery: 0 }));
        // A fixed variant that fails is a bug: stop. One whose tree outgrows the budget is a
        // figure (optprobe-free's bound-2 tree does since the optimizer waits for Tasks RCU).
        if (d.value.found) throw new Error(`explore bench: DFS bound 2 on ${s.name}/${variant.name} found a violation`);
        const how = d.value.complete ? 'complete and clean' : `cut at ${d.value.schedules.toLocaleString('en-US')} schedules, clean so far`;
        process.stderr.write(
          `  DFS bound 2 on ${s.name}/${variant.name}: ${d.value.schedules} schedules (per bound ${d.value.dfs!.perBound.join(', ')}), every alternative tried, ${how}\n`,
        );
        rows.push(row(`DFS bound 2, ${s.name}/${variant.name}, ${how} (${d.value.schedules} schedules)`, 'ms', d.ns / 1e6, 60_000, 'target'));
      }
    }
    // Parallel: the same schedules with 1 and 2 workers.
    if (!scenarios.some((x) => x.name === 'fork-flag-race')) return rows;
    const s = catalog.get('fork-flag-race')!;
    const budget = 4000;
    explore(s, { variant: 'fixed', budget: 64, workers: 2 }); // warm the worker path
    // Wall clock: the workers' time is not the main thread's CPU time.
    const one = timeOnceWall(() => explore(s, { variant: 'fixed', budget, selfCheckEvery: 0 }));
    const two = timeOnceWall(() => explore(s, { variant: 'fixed', budget, workers: 2, selfCheckEvery: 0 }));
    if (one.value.steps !== two.value.steps) throw new Error('explore bench: 1 and 2 workers ran different schedules');
    rows.push(
      row(`explore fork-flag-race/fixed, ${budget} schedules, 2 workers (target speed-up 1.8)`, 'ms', two.ns / 1e6, one.ns / 1e6, '1 worker, same schedules'),
    );
    process.stderr.write(`  kernel seed in every explored run: ${EXPLORE_KERNEL_SEED}\n`);
    return rows;
  },
};

/** Schedules a bound-2 dpor row may run before it stops (the row then says the search did not complete). */
const DPOR_CAP = 30_000;
/**
 * The same for the unbounded search at the smallest scale: enough for the nine variants that
 * complete (fork-flag-race/lttng-order, the largest, in 317,372 traces; detach-during-callback
 * no longer completes since the starved rule searches its cut runs' continuations within the
 * window, docs/explore.md §4a, sixteenth pass).
 */
const DPOR_UNBOUNDED_CAP = 400_000;
/**
 * And the wall time a dpor search may take (`timeLimitMs`): the variants whose searches do not
 * complete would otherwise run to their caps, 10 to 16 minutes apiece for trampoline-free's long
 * schedules. Every search that completes takes under it on this machine alone (the longest,
 * fork-flag-race/lttng-order, 139 s; marker-array-free about 40 s).
 */
const DPOR_TIME_LIMIT_MS = 180_000;

/** How a dpor search that did not complete stopped, for its row. */
function cutBy(r: ExploreResult, cap: number): string {
  return r.stoppedBy === 'time' ? `cut at ${DPOR_TIME_LIMIT_MS / 1000} s (${r.schedules} schedules)` : `cut at ${cap} schedules`;
}

/**
 * `explore dpor`: for each fixed variant (of `TRACELAB_EXPLORE_SCENARIOS`, else the catalog), the
 * bound-2 DPOR search beside the bound-2 DFS: schedules (aim: at most 10% of the DFS's) and time
 * (aim: under 5 s); then the unbounded DPOR search at the scenario's smallest scale, and whether
 * it completed within DPOR_UNBOUNDED_CAP schedules. Minutes per scenario: filter it.
 */
export const exploreDporBench: Benchmark = {
  name: 'explore dpor',
  run(): Row[] {
    const rows: Row[] = [];
    for (const s of selected()) {
      for (const variant of s.variants.filter((x) => x.safe)) {
        const name = `${s.name}/${variant.name}`;
        // The peer is the DFS the aims were stated against: with the visible-step
        // reduction, which explore's default no longer applies (the `explore` bench's DFS rows
        // are the default, every alternative tried; docs/explore.md §4).
        const dfs = timeOnce(() =>
          explore(s, { variant: variant.name, strategy: 'dfs', bound: 2, budget: 200_000, selfCheckEvery: 0, reduction: 'visible-steps' }),
        );
        const dpor = timeOnce(() =>
          explore(s, {
            variant: variant.name,
            strategy: 'dpor',
            bound: 2,
            budget: DPOR_CAP,
            timeLimitMs: DPOR_TIME_LIMIT_MS,
            selfCheckEvery: 0,
            shrink: false,
          }),
        );
        if (dpor.value.found) throw new Error(`explore dpor bench: ${name} failed under dpor: ${dpor.value.failure!.invariant}`);
        const done = dpor.value.complete ? 'complete, clean' : cutBy(dpor.value, DPOR_CAP);
        process.stderr.write(
          `  ${name}: dpor bound 2 ${dpor.value.schedules} schedules (${dpor.value.dpor!.traces} traces, ${done}, ${(dpor.ns / 1e9).toFixed(1)} s); dfs ${dfs.value.schedules} (${(dfs.ns / 1e9).toFixed(1)} s)\n`,
        );
        rows.push(
          row(
            `dpor bound 2, ${name}, ${done}`,
            'schedules',
            dpor.value.schedules,
            dfs.value.schedules,
            "DFS bound 2, visible-step reduction (the aims' baseline)",
          ),
        );
        rows.push(row(`dpor bound 2, ${name}, ${done}`, 'ms', dpor.ns / 1e6, dfs.ns / 1e6, "DFS bound 2, visible-step reduction (the aims' baseline)"));
        rows.push(row(`dpor bound 2, ${name}`, 'ms', dpor.ns / 1e6, 5000, 'target'));
        const scale = s.scale?.min;
        const un = timeOnce(() =>
          explore(s, {
            variant: variant.name,
            strategy: 'dpor',
            budget: DPOR_UNBOUNDED_CAP,
            timeLimitMs: DPOR_TIME_LIMIT_MS,
            selfCheckEvery: 0,
            shrink: false,
            ...(scale !== undefined ? { scale } : {}),
          }),
        );
        const unDone = un.value.complete ? `verified, ${un.value.dpor!.traces} traces` : `not complete, ${cutBy(un.value, DPOR_UNBOUNDED_CAP)}`;
        process.stderr.write(
          `  ${name}: dpor unbounded at scale ${scale ?? '-'}: ${un.value.schedules} schedules, ${unDone} (${(un.ns / 1e9).toFixed(1)} s)\n`,
        );
        rows.push(row(`dpor unbounded, ${name} at its smallest scale, ${unDone}`, 'ms', un.ns / 1e6, 5000, 'target'));
      }
    }
    return rows;
  },
};
