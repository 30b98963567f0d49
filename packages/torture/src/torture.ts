import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { TracelabError } from '@tracelab/core';
import { MECHANISM_NAMES, MECHANISMS, type MechanismName, type UnsafeOption } from './internal/mechanisms.js';
import { PIPE_LEN } from './internal/rig.js';
import { runSeed, shrinkSeed, unsafeOption, type SeedResult, type Shrunk } from './internal/run.js';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /** `torture({ unsafe })` / `--unsafe` names no known unsafe option (the message lists them). */
    UNKNOWN_UNSAFE_OPTION: true;
  }
}

export interface TortureOptions {
  /** One mechanism, or every one (default; with `unsafe`, the option's own mechanism). */
  readonly mechanism?: MechanismName;
  /** Seeds per mechanism: `firstSeed .. firstSeed + seeds - 1`. Default 300. */
  readonly seeds?: number;
  readonly firstSeed?: number;
  /** Worker threads (needs the built packages). Default 1: this thread. Capped at the machine's CPUs. */
  readonly workers?: number;
  /** Run a known-broken option instead of the safe configuration; the run stops at the first seed that catches it. */
  readonly unsafe?: string;
  /** Failing seeds shrunk per mechanism (default 3; the others keep their unshrunk replay string). */
  readonly shrinkFailures?: number;
  /** Re-runs per shrink (default 300). */
  readonly shrinkRuns?: number;
  /** Called after each chunk of seeds. */
  readonly progress?: (p: { readonly mechanism: MechanismName; readonly seeds: number; readonly of: number }) => void;
}

/** One violation: the seed, what broke, and the replay strings that show it. */
export interface TortureViolation {
  readonly seed: number;
  readonly invariant: string;
  readonly message: string;
  /** The failing run as found: `tracelab torture --replay '<string>'` re-runs it. */
  readonly replay: string;
  /** The shrunk counterexample, for the first `shrinkFailures` violations. */
  readonly shrunk: Shrunk | null;
}

export interface MechanismSummary {
  readonly mechanism: MechanismName;
  /** `safe`, or the unsafe option run. */
  readonly variant: string;
  /** Seeds run (with `unsafe`: up to and including the first that caught it). */
  readonly seeds: number;
  readonly firstSeed: number;
  readonly steps: number;
  /** Seeds cut at the mechanism's step limit before every task exited. */
  readonly cut: number;
  /** Liveness alarms dropped as unfair (a random walk that starved a CPU). */
  readonly unfair: number;
  /** Operations done over every seed, by kind. */
  readonly ops: Readonly<Record<string, number>>;
  /** Grace periods completed over every seed, by flavour. */
  readonly gracePeriods: Readonly<Record<string, number>>;
  /** rcutorture's Reader Pipe: `readerPipe[i]` reads saw an object i grace periods past its removal (the last slot: PIPE_LEN or more). Nonzero past slot 1 is a failure. */
  readonly readerPipe: readonly number[];
  /** Seeds by CPU count (1..8) and how many seeds turned each operation kind on. */
  readonly swarm: { readonly cpus: readonly number[]; readonly kinds: Readonly<Record<string, number>> };
  readonly violations: readonly TortureViolation[];
  /** With `unsafe`: the seed that caught it (how many seeds it took is `caughtAt - firstSeed + 1`), or null. */
  readonly caughtAt: number | null;
}

export interface TortureResult {
  readonly unsafe: UnsafeOption | null;
  readonly workers: number;
  readonly mechanisms: readonly MechanismSummary[];
  /** Violations over every mechanism. Safe: 0 is the pass; unsafe: at least 1 is. */
  readonly violations: number;
  /** Whether the run passed: no violation in a safe run, the option caught in an unsafe one. */
  readonly ok: boolean;
}

const CHUNK = 8;

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < min || v > max)
    throw new TracelabError('INVALID_OPTION', `torture: ${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/** The worker script: the built one beside this file, or the package's dist/ when run from sources. */
function workerFile(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/worker.js', here) : new URL('./worker.js', here);
  const file = fileURLToPath(url);
  if (!existsSync(file))
    throw new TracelabError(
      'INVALID_OPTION',
      `torture: workers run the built package, and ${file} does not exist; build it first (npx tsc -b packages/torture/tsconfig.lib.json)`,
    );
  return file;
}

interface Job {
  readonly mechanism: MechanismName;
  readonly variant: string;
  readonly start: number;
  readonly end: number;
}

type WorkerMessage = { type: 'ready' } | { type: 'result'; results: SeedResult[] } | { type: 'error'; message: string };

/**
 * Runs the seeds `first..first+count-1` of one mechanism, in chunks, in this thread or in a
 * pool of workers. Results come back per seed and are put in seed order, so the summary does
 * not depend on the number of workers. `stopAtFailure` (unsafe runs): no chunk above the lowest
 * failing seed is handed out, and every chunk below it is finished, so the first failing seed
 * is the one one thread would find.
 */
class SeedRunner {
  private pool: Array<{ worker: Worker; port: MessagePort; busy: boolean }> = [];
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));

  constructor(readonly workers: number) {
    if (workers <= 1) return;
    const file = workerFile();
    for (let i = 0; i < workers; i++) {
      const { port1, port2 } = new MessageChannel();
      // No inherited flags: a test runner's --conditions would send the worker to TypeScript sources.
      const worker = new Worker(file, { workerData: { port: port2, signal: this.signal }, transferList: [port2], execArgv: [] });
      worker.unref();
      this.pool.push({ worker, port: port1, busy: false });
    }
  }

  run(mechanism: MechanismName, variant: string, first: number, count: number, stopAtFailure: boolean, progress: TortureOptions['progress']): SeedResult[] {
    const results: SeedResult[] = [];
    const end = first + count;
    let lowestFail = Infinity;
    const note = (rs: readonly SeedResult[]): void => {
      for (const r of rs) {
        results.push(r);
        if (r.failure !== null) lowestFail = Math.min(lowestFail, r.seed);
      }
      progress?.({ mechanism, seeds: results.length, of: count });
    };
    if (this.pool.length === 0) {
      for (let s = first; s < end; s += CHUNK) {
        const rs: SeedResult[] = [];
        for (let seed = s; seed < Math.min(end, s + CHUNK); seed++) {
          const r = runSeed(mechanism, seed, variant);
          rs.push(r);
          if (stopAtFailure && r.failure !== null) break;
        }
        note(rs);
        if (stopAtFailure && lowestFail < Infinity) break;
      }
    } else {
      let next = first;
      const hand = (w: (typeof this.pool)[number]): void => {
        if (next >= end || (stopAtFailure && next > lowestFail)) return;
        const job: Job = { mechanism, variant, start: next, end: Math.min(end, next + CHUNK) };
        w.port.postMessage({ type: 'job', job, stopAtFailure });
        w.busy = true;
        next += CHUNK;
      };
      for (const w of this.pool) hand(w);
      while (this.pool.some((w) => w.busy)) {
        const seen = Atomics.load(this.signal, 0);
        let got = false;
        for (const w of this.pool) {
          for (let m = receiveMessageOnPort(w.port); m !== undefined; m = receiveMessageOnPort(w.port)) {
            got = true;
            const msg = m.message as WorkerMessage;
            if (msg.type === 'error') throw new TracelabError('INVALID_OPTION', `torture worker: ${msg.message}`);
            if (msg.type !== 'result') continue;
            w.busy = false;
            note(msg.results);
            hand(w);
          }
        }
        if (!got && Atomics.wait(this.signal, 0, seen, 120_000) === 'timed-out') {
          throw new TracelabError('INVALID_OPTION', 'torture: no worker answered for 120 s (a worker that died before it could report? try workers: 1)');
        }
      }
    }
    results.sort((a, b) => a.seed - b.seed);
    return stopAtFailure && lowestFail < Infinity ? results.filter((r) => r.seed <= lowestFail) : results;
  }

  close(): void {
    for (const w of this.pool) {
      w.port.postMessage({ type: 'stop' });
      w.port.close();
      void w.worker.terminate();
    }
    this.pool = [];
  }
}

function summarize(
  mechanism: MechanismName,
  variant: string,
  first: number,
  results: readonly SeedResult[],
  shrinkFailures: number,
  shrinkRuns: number,
): MechanismSummary {
  const ops: Record<string, number> = {};
  const gps: Record<string, number> = {};
  const pipe = new Array<number>(PIPE_LEN + 1).fill(0);
  const cpus = new Array<number>(9).fill(0);
  const kinds: Record<string, number> = {};
  let steps = 0;
  let cut = 0;
  let unfair = 0;
  const violations: TortureViolation[] = [];
  for (const r of results) {
    steps += r.steps;
    if (!r.done && r.failure === null && !r.unfair) cut++;
    if (r.unfair) unfair++;
    for (const [k, v] of Object.entries(r.ops)) ops[k] = (ops[k] ?? 0) + v;
    for (const f of MECHANISMS[mechanism].flavours) gps[f] = (gps[f] ?? 0) + (r.gps[f] ?? 0);
    r.pipe.forEach((n, i) => (pipe[i] = (pipe[i] ?? 0) + n));
    cpus[r.cpus]!++;
    for (const k of r.kinds) kinds[k] = (kinds[k] ?? 0) + 1;
    if (r.failure !== null) {
      const shrunk = violations.length < shrinkFailures ? shrinkSeed(mechanism, r.seed, variant, shrinkRuns) : null;
      violations.push({ seed: r.seed, invariant: r.failure.invariant, message: r.failure.message, replay: r.failure.replay, shrunk });
    }
  }
  const sortedOps = Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    mechanism,
    variant,
    seeds: results.length,
    firstSeed: first,
    steps,
    cut,
    unfair,
    ops: sortedOps,
    gracePeriods: gps,
    readerPipe: pipe,
    swarm: { cpus: cpus.slice(1), kinds },
    violations,
    caughtAt: variant === 'safe' ? null : (violations[0]?.seed ?? null),
  };
}

/**
 * rcutorture for tracers. For each mechanism (or the one asked), runs `seeds` seeds: each draws
 * a swarm workload (CPUs, the operation kinds it uses, shells that fork, exec, exit, sleep,
 * fault and make syscalls), starts the mechanism's tracer-side churn from kernel threads, and
 * runs one random-walk schedule with every invariant and liveness monitor on, counting what
 * readers saw in the Reader Pipe histogram. Violations come with their replay strings, the
 * first few shrunk. With `unsafe`, runs that known-broken option and stops at the first seed
 * that catches it; a run that does not catch it is a failed run (`ok: false`).
 * Synchronous, also with workers.
 */
export function torture(options: TortureOptions = {}): TortureResult {
  const unsafe = options.unsafe === undefined ? null : unsafeOption(options.unsafe);
  if (options.mechanism !== undefined && !MECHANISM_NAMES.includes(options.mechanism)) {
    throw new TracelabError('INVALID_OPTION', `torture: unknown mechanism ${JSON.stringify(options.mechanism)}; mechanisms: ${MECHANISM_NAMES.join(', ')}`);
  }
  if (unsafe !== null && options.mechanism !== undefined && options.mechanism !== unsafe.mechanism) {
    throw new TracelabError('INVALID_OPTION', `torture: unsafe option ${unsafe.name} belongs to ${unsafe.mechanism}, not ${options.mechanism}`);
  }
  const seeds = checkInt('seeds', options.seeds ?? (unsafe === null ? 300 : 2000), 1);
  const first = checkInt('firstSeed', options.firstSeed ?? 1, 0, 0xffffffff - seeds + 1);
  const workers = Math.min(checkInt('workers', options.workers ?? 1, 1), availableParallelism());
  const shrinkFailures = checkInt('shrinkFailures', options.shrinkFailures ?? 3, 0);
  const shrinkRuns = checkInt('shrinkRuns', options.shrinkRuns ?? 300, 0);
  const mechanisms: readonly MechanismName[] = unsafe !== null ? [unsafe.mechanism] : options.mechanism !== undefined ? [options.mechanism] : MECHANISM_NAMES;
  const variant = unsafe?.name ?? 'safe';
  const runner = new SeedRunner(workers);
  const out: MechanismSummary[] = [];
  try {
    for (const m of mechanisms) {
      const results = runner.run(m, variant, first, seeds, unsafe !== null, options.progress);
      out.push(summarize(m, variant, first, results, unsafe !== null ? 1 : shrinkFailures, shrinkRuns));
    }
  } finally {
    runner.close();
  }
  const violations = out.reduce((n, m) => n + m.violations.length, 0);
  return { unsafe, workers, mechanisms: out, violations, ok: unsafe === null ? violations === 0 : violations > 0 };
}
