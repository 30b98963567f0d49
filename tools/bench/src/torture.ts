/**
 * Torture figures beside their targets (issue 13): seeds per second per mechanism (the CI
 * budget: 300 seeds of each of the 9 mechanisms in about 3 minutes of CPU is 15 seeds/s), the
 * violations of the safe configurations over the seeds run (target 0; the issue's target is
 * 0 over 10,000 seeds, which `npm run torture -- --seeds 10000` runs), and the seeds each
 * unsafe option took to be caught (target: within 2,000). The rate is on the harness's clock:
 * `TRACELAB_BENCH_CLOCK=cpu` counts the CPU of every thread (workers included), which is what
 * the CI budget is about and what a loaded shared machine does not distort.
 */
import { MECHANISM_NAMES, torture, UNSAFE_OPTIONS, type MechanismName } from '@tracelab/torture';
import { CLOCK_NAME, row, timeOnce, type Benchmark, type Row } from './harness.js';

/** Seeds per mechanism in the bench (`TRACELAB_TORTURE_SEEDS`; default 100 keeps the bench near a minute). */
function benchSeeds(): number {
  const v = Number(process.env['TRACELAB_TORTURE_SEEDS'] ?? 100);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`TRACELAB_TORTURE_SEEDS must be a positive integer, got ${process.env['TRACELAB_TORTURE_SEEDS']}`);
  return v;
}

/** The CI budget as a rate: 300 seeds x 9 mechanisms in 180 s. */
export const CI_SEEDS_PER_SECOND = (300 * MECHANISM_NAMES.length) / 180;

export interface TortureFigures {
  readonly rows: Row[];
  /** Mechanisms with a violation in their safe configuration, with the first replay string. */
  readonly dirty: string[];
  /** Unsafe options not caught. */
  readonly missed: string[];
}

/** Runs every mechanism's safe configuration over `seeds` seeds and every unsafe option until caught (at most 2,000 seeds). */
export function tortureFigures(seeds: number, workers: number, mechanisms: readonly MechanismName[] = MECHANISM_NAMES): TortureFigures {
  const rows: Row[] = [];
  const dirty: string[] = [];
  const missed: string[] = [];
  for (const mechanism of mechanisms) {
    const t = timeOnce(() => torture({ mechanism, seeds, workers, shrinkFailures: 1, shrinkRuns: 200 }));
    const m = t.value.mechanisms[0]!;
    const rate = seeds / (t.ns / 1e9);
    process.stderr.write(
      `  ${mechanism}: ${seeds} seeds, ${(m.steps / seeds).toFixed(0)} steps/seed, ${m.violations.length} violation(s), Reader Pipe ${m.readerPipe.join(' ')}\n`,
    );
    rows.push(
      row(
        `torture ${mechanism} safe, ${seeds} seeds, ${workers} worker(s), ${CLOCK_NAME}`,
        'seeds/s',
        rate,
        CI_SEEDS_PER_SECOND,
        'target (CI: 300 seeds x 9 mechanisms in 3 min)',
      ),
    );
    // 0 of 0 is the target met (1x); any violation misses it (0x).
    rows.push({
      ...row(`torture ${mechanism} safe, violations over ${seeds} seeds`, 'violations', m.violations.length, 0, 'target'),
      speedup: m.violations.length === 0 ? 1 : 0,
    });
    if (m.violations.length > 0)
      dirty.push(
        `${mechanism}: ${m.violations.length} violation(s), first ${m.violations[0]!.shrunk?.replay ?? m.violations[0]!.replay} (${m.violations[0]!.invariant})`,
      );
  }
  for (const u of UNSAFE_OPTIONS) {
    if (!mechanisms.includes(u.mechanism)) continue;
    const r = torture({ unsafe: u.name, seeds: 2000, workers, shrinkRuns: 0 });
    const m = r.mechanisms[0]!;
    const took = m.caughtAt === null ? Infinity : m.caughtAt - m.firstSeed + 1;
    process.stderr.write(
      `  unsafe ${u.name}: ${m.caughtAt === null ? 'NOT caught in 2000 seeds' : `caught at seed ${m.caughtAt} by ${m.violations[0]!.invariant}`}\n`,
    );
    rows.push(row(`torture --unsafe ${u.name} (${u.mechanism}), seeds to catch`, 'seeds', took, 2000, 'target'));
    if (m.caughtAt === null) missed.push(u.name);
  }
  return { rows, dirty, missed };
}

export const tortureBench: Benchmark = {
  name: 'torture',
  run: () => tortureFigures(benchSeeds(), 1).rows,
};
