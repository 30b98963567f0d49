import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A small benchmark harness. Wall-clock timing (process.hrtime.bigint) is fine here: the
 * benchmarks run outside the simulation and measure the host, not simulated time. On a machine
 * busy with other work, `TRACELAB_BENCH_CLOCK=cpu` times with the process's CPU time
 * (process.cpuUsage, user + system, microsecond resolution) instead: steadier under load, but it
 * also counts V8's helper threads (concurrent GC), and it is wrong for anything that runs on
 * worker threads, so the worker speed-up benchmark always uses the wall clock (`wallNow`).
 */

const CPU_CLOCK = process.env['TRACELAB_BENCH_CLOCK'] === 'cpu';

/** Nanoseconds on the wall clock. */
export function wallNow(): bigint {
  return process.hrtime.bigint();
}

/** Nanoseconds on the harness's clock (wall, or process CPU time with TRACELAB_BENCH_CLOCK=cpu). */
export function now(): bigint {
  if (!CPU_CLOCK) return process.hrtime.bigint();
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
}

/** The clock the figures were taken with, for the report. */
export const CLOCK_NAME = CPU_CLOCK ? 'process CPU time' : 'wall clock';

export interface MeasureOptions {
  /** Calls of `fn` per timed sample. */
  readonly iterations: number;
  /** Timed samples; the median is reported. */
  readonly samples: number;
  /** Operations one call of `fn` performs (the result is per operation). Default 1. */
  readonly opsPerCall?: number;
  /** Untimed calls of `fn` before the samples. Default `iterations`. */
  readonly warmup?: number;
}

/** Median nanoseconds per operation of `fn` over `samples` timed loops, after a warm-up. */
export function measure(fn: () => unknown, options: MeasureOptions): number {
  const { iterations, samples } = options;
  const ops = options.opsPerCall ?? 1;
  if (!(iterations >= 1 && samples >= 1 && ops > 0)) throw new RangeError('measure: iterations, samples and opsPerCall must be positive');
  for (let i = 0, n = options.warmup ?? iterations; i < n; i++) fn();
  const perOp: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = now();
    for (let i = 0; i < iterations; i++) fn();
    const t1 = now();
    perOp.push(Number(t1 - t0) / (iterations * ops));
  }
  return median(perOp);
}

/** Times one call of `fn`: its value and the elapsed nanoseconds. */
export function timeOnce<T>(fn: () => T): { value: T; ns: number } {
  const t0 = now();
  const value = fn();
  return { value, ns: Number(now() - t0) };
}

/**
 * Times one call on the wall clock whatever the harness's clock: for work done in other
 * processes (babeltrace2, LTTng) or worker threads, which process CPU time does not see.
 */
export function timeOnceWall<T>(fn: () => T): { value: T; ns: number } {
  const t0 = wallNow();
  const value = fn();
  return { value, ns: Number(wallNow() - t0) };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Row {
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  readonly peer: number;
  readonly peerName: string;
  /** How many times faster tracelab is than the peer (above 1: tracelab is faster). */
  readonly speedup: number;
}

/** Units where bigger is better; every other unit is a cost (time, ratio) where smaller is better. */
const RATE_UNITS = /\/s$/;

/** A row with its speedup: peer / ours for costs (ns/event, ms), ours / peer for rates (steps/s). */
export function row(name: string, unit: string, ours: number, peer: number, peerName: string): Row {
  const speedup = RATE_UNITS.test(unit) ? ours / peer : peer / ours;
  return { name, unit, ours, peer, peerName, speedup };
}

export interface Benchmark {
  readonly name: string;
  /** Synchronous, or a promise for benchmarks that drive other processes (the queue). */
  run(): Row[] | Promise<Row[]>;
}

/** The filter given on the command line (`npm run bench -- fold`): argv[2], or '' for all. */
export function filterFromArgv(argv: readonly string[] = process.argv): string {
  return argv[2] ?? '';
}

/** Runs the benchmarks whose name contains `filter` (case-insensitive), in order. */
export async function runBenchmarks(benchmarks: readonly Benchmark[], filter: string): Promise<Row[]> {
  const f = filter.toLowerCase();
  const chosen = benchmarks.filter((b) => b.name.toLowerCase().includes(f));
  if (chosen.length === 0) {
    throw new Error(`no benchmark name contains ${JSON.stringify(filter)}; benchmarks: ${benchmarks.map((b) => b.name).join(', ')}`);
  }
  const rows: Row[] = [];
  for (const b of chosen) {
    process.stderr.write(`running ${b.name} ...\n`);
    const t0 = process.hrtime.bigint();
    rows.push(...(await b.run()));
    process.stderr.write(`  ${b.name} done in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s\n`);
  }
  return rows;
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export function formatSpeedup(v: number): string {
  if (!Number.isFinite(v)) return `${v}x`;
  return v >= 1 ? `${v.toFixed(1)}x` : `${v.toPrecision(2)}x`;
}

export const RESULTS_FILE = fileURLToPath(new URL('../results/latest.json', import.meta.url));

/** Prints the rows as an aligned table and writes them to tools/bench/results/latest.json. */
export function report(rows: readonly Row[], file: string = RESULTS_FILE): void {
  const header = ['benchmark', 'unit', 'ours', 'peer', 'peer name', 'speedup'];
  const cells = rows.map((r) => [r.name, r.unit, formatNumber(r.ours), formatNumber(r.peer), r.peerName, formatSpeedup(r.speedup)]);
  const right = [false, false, true, true, false, true];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => (right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  process.stdout.write(`${out.join('\n')}\n`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
  process.stdout.write(`\nwrote ${file}\n`);
}
