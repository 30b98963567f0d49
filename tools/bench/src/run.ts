/**
 * tracelab's benchmarks, each figure side by side with its peer measured in the same run.
 * `npm run bench` runs them all; `npm run bench -- fold` only those whose name contains "fold".
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configureStore, createSlice, type PayloadAction } from '@reduxjs/toolkit';
import { explore } from '@tracelab/explore';
import { ktrace } from '@tracelab/ktrace';
import { memoryModel } from '@tracelab/memory-model';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { catalog } from '@tracelab/scenarios';
import { utrace } from '@tracelab/utrace';
import { buildWorkload, defaultScenario } from '@tracelab/cli';
import { createKernel, current, emit, getState, intMapGet, replay, schedPoint, type Kernel, type KPath, type TaskState } from '@tracelab/core';
import { ftraceBench } from './ftrace.js';
import { exploreBench, exploreDporBench } from './explore.js';
import { dporFloorsBench } from './dpor-floors.js';
import { tortureBench } from './torture.js';
import { exploreQueueBench } from './explore-queue.js';
import { memoryModelBench } from './memory-model.js';
import { ktraceBench } from './ktrace.js';
import { markersBench } from './markers.js';
import { utraceBench } from './utrace.js';
import { rcuTasksBench } from './rcu-tasks.js';
import { ringBufferBench } from './ring-buffer.js';
import { ctfReaderBench } from './ctf-reader.js';
import { ctfConvertBench } from './ctf-convert.js';
import { filterFromArgv, measure, report, row, runBenchmarks, timeOnce, type Benchmark, type Row } from './harness.js';

// ---- 1. core fold ------------------------------------------------------------------------

const FOLD_SIZES = [100, 10_000, 100_000] as const;
/** Consecutive events hit pids this far apart in the table (a prime: every pid gets its turn). */
const STRIDE = 7919;
const FLAG = 'TIF_BENCH';
/** task/flags events per kernel.call; the call's own spawn/exit events are under 0.3% of them. */
const EVENTS_PER_CALL = 10_000;
/** A kernel path must reach a scheduling point well before 1,000,000 commands (soft lockup). */
const POINT_EVERY = 1000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type PlainTask = Mutable<Omit<TaskState, 'flags'>> & { flags: Record<string, true> };

/** A task object with the same fields as the core's TaskState (as fork/dup leaves it). */
function plainTask(pid: number, parent: number): PlainTask {
  return {
    pid,
    tgid: pid,
    parent,
    children: [],
    comm: 'bench',
    kthread: true,
    state: 'new',
    mode: 'kernel',
    cpu: -1,
    flags: {},
    nvcsw: 0,
    nivcsw: 0,
    listed: false,
    waitingOn: null,
    wakeAt: null,
    syscall: null,
    pendingSignals: [],
    exitCode: null,
    exitState: null,
    nextFd: 3,
  };
}

function plainTable(n: number): Record<number, PlainTask> {
  const tasks: Record<number, PlainTask> = {};
  for (let i = 0; i < n; i++) tasks[i + 2] = plainTask(i + 2, 1);
  return tasks;
}

/** Walks pids base..base+n-1 in a stride order, toggling one flag on each; the same walk for every contender. */
class Toggler {
  private idx = 0;
  private readonly on: Uint8Array;
  constructor(private readonly n: number) {
    this.on = new Uint8Array(n);
  }
  isOn(idx: number): boolean {
    return this.on[idx] === 1;
  }
  /** The next table index and whether its flag is now set. */
  next(): { idx: number; set: boolean } {
    this.idx = (this.idx + STRIDE) % this.n;
    const set = this.on[this.idx] !== 1;
    this.on[this.idx] = set ? 1 : 0;
    return { idx: this.idx, set };
  }
}

/**
 * Builds a kernel whose task table holds `n` tasks, through the real event path: a kernel
 * thread emits one core `fork/dup` event per task (dup_task_struct: the child exists, not yet
 * linked or runnable), so the tasks sit in the state without being scheduled.
 */
function kernelWithTasks(n: number): { kernel: Kernel; base: number } {
  const kernel = createKernel({ cpus: 1 });
  const base = kernel.call(
    (function* (): KPath<number> {
      const me = yield* current();
      const first = (yield* getState()).kernel.nextPid;
      for (let i = 0; i < n; i++) {
        yield* emit({ type: 'fork/dup', parent: me.pid, child: first + i, comm: 'bench', flags: [] });
        if (i % POINT_EVERY === POINT_EVERY - 1) yield* schedPoint();
      }
      return first;
    })(),
    { comm: 'bench-setup' },
  );
  return { kernel, base };
}

function* toggleFlags(toggler: Toggler, base: number, events: number): KPath<void> {
  for (let e = 0; e < events; e++) {
    const { idx, set } = toggler.next();
    yield* emit({ type: 'task/flags', pid: base + idx, set: set ? [FLAG] : [], clear: set ? [] : [FLAG] });
    if (e % POINT_EVERY === POINT_EVERY - 1) yield* schedPoint();
  }
}

function foldOurs(n: number): number {
  const setup = timeOnce(() => kernelWithTasks(n));
  const { kernel, base } = setup.value;
  process.stderr.write(`  ${n} tasks: table built with ${n} fork/dup events in ${(setup.ns / 1e6).toFixed(0)} ms\n`);
  const toggler = new Toggler(n);
  const ns = measure(() => kernel.call(toggleFlags(toggler, base, EVENTS_PER_CALL), { comm: 'bench-flags' }), {
    iterations: 1,
    samples: 5,
    warmup: 1,
    opsPerCall: EVENTS_PER_CALL,
  });
  if (kernel.violations.length > 0) throw new Error(`core fold: the kernel reported ${kernel.violations[0]!.message}`);
  // The fold really applied every event: each task's flag is where the walk left it.
  for (let i = 0; i < n; i++) {
    const task = intMapGet(kernel.state.tasks, base + i);
    if (task === undefined || (task.flags[FLAG] === true) !== toggler.isOn(i)) throw new Error(`core fold: pid ${base + i} has the wrong flags`);
  }
  return ns;
}

function foldRedux(n: number): number {
  const slice = createSlice({
    name: 'kernel',
    initialState: { tasks: plainTable(n) },
    reducers: {
      toggleFlag(state, action: PayloadAction<{ pid: number; set: boolean }>) {
        const flags = state.tasks[action.payload.pid]!.flags;
        if (action.payload.set) flags[FLAG] = true;
        else delete flags[FLAG];
      },
    },
  });
  const store = configureStore({
    reducer: slice.reducer,
    middleware: (getDefault) => getDefault({ immutableCheck: false, serializableCheck: false }),
  });
  const toggler = new Toggler(n);
  // One dispatch copies the whole tasks record: ~20 us at 100 tasks, ~30 ms at 100,000.
  const iterations = Math.max(5, Math.round(200_000 / n));
  return measure(
    () => {
      const { idx, set } = toggler.next();
      store.dispatch(slice.actions.toggleFlag({ pid: idx + 2, set }));
    },
    { iterations, samples: 5 },
  );
}

function foldPlain(n: number): number {
  const tasks = plainTable(n);
  const toggler = new Toggler(n);
  return measure(
    () => {
      const { idx, set } = toggler.next();
      const flags = tasks[idx + 2]!.flags;
      if (set) flags[FLAG] = true;
      else delete flags[FLAG];
    },
    { iterations: 1_000_000, samples: 5 },
  );
}

const fold: Benchmark = {
  name: 'core fold',
  run(): Row[] {
    const rows: Row[] = [];
    const ours = new Map<number, number>();
    for (const n of FOLD_SIZES) {
      const o = foldOurs(n);
      ours.set(n, o);
      const name = `core fold, ${n} tasks`;
      rows.push(row(name, 'ns/event', o, foldRedux(n), 'Redux Toolkit store.dispatch'));
      rows.push(row(name, 'ns/event', o, foldPlain(n), 'plain mutable update'));
    }
    const small = FOLD_SIZES[0];
    const large = FOLD_SIZES[FOLD_SIZES.length - 1]!;
    const ratio = ours.get(large)! / ours.get(small)!;
    rows.push({ name: `core fold flatness, ${large} / ${small} tasks`, unit: 'ratio', ours: ratio, peer: 2, peerName: 'target', speedup: 2 / ratio });
    return rows;
  },
};

// ---- 2. simulation -------------------------------------------------------------------------

const SIM_WORKLOAD = { jobs: 200, files: 10 } as const;
/** The build the default-stack row runs (smaller: the stack's steps cost ~2x). */
const SIM_STACK_WORKLOAD = { jobs: 60, files: 10 } as const;

/** The interrupt sources of the simulation's second row (issue 18): a tick and an NMI per CPU, no handler tapped. */
const SIM_INTERRUPTS = { timer: true, nmi: true } as const;

function runBuild(options: { jobs: number; files: number }, interrupts?: typeof SIM_INTERRUPTS, stack = false): { kernel: Kernel; steps: number; ns: number } {
  const kernel = createKernel({
    cpus: 2,
    seed: 1,
    ...(interrupts !== undefined ? { interrupts } : {}),
    ...(stack ? { plugins: defaultScenario.plugins() } : {}),
  });
  kernel.spawn(buildWorkload(options), { comm: 'sh' });
  const { value: result, ns } = timeOnce(() => kernel.run());
  if (!result.done || result.violations.length > 0) {
    throw new Error(`build workload ${JSON.stringify(options)} did not finish cleanly: ${result.violations[0]?.message ?? 'not done'}`);
  }
  return { kernel, steps: result.steps, ns };
}

/** The floor for a generator-based simulator: round-robin resumes of generators that only yield. */
function bareRoundRobin(generators: number, resumes: number): void {
  const gens: Generator<void, void, void>[] = [];
  for (let i = 0; i < generators; i++) {
    gens.push(
      (function* () {
        for (;;) yield;
      })(),
    );
  }
  for (let r = 0, j = 0; r < resumes; r++) {
    gens[j]!.next();
    if (++j === generators) j = 0;
  }
}

const simulation: Benchmark = {
  name: 'simulation',
  run(): Row[] {
    const runs = [runBuild(SIM_WORKLOAD), runBuild(SIM_WORKLOAD), runBuild(SIM_WORKLOAD)];
    const rates = runs.map((r) => r.steps / (r.ns / 1e9)).sort((a, b) => a - b);
    const ours = rates[1]!;
    const { kernel, steps } = runs[0]!;
    const hash = kernel.logHash();
    for (const r of runs) {
      if (r.steps !== steps || r.kernel.logHash() !== hash) throw new Error('simulation: three runs with seed 1 wrote different logs');
    }
    const tasks = kernel.state.kernel.nextPid - 1;
    process.stderr.write(`  ${steps} steps, ${kernel.log.length} events, ${tasks} tasks per run\n`);
    const nsPerResume = measure(() => bareRoundRobin(tasks, steps), { iterations: 1, samples: 5, warmup: 2, opsPerCall: steps });
    const peer = 1e9 / nsPerResume;
    // The same build with interrupt sources: each step asks the nmi/irq choices, and the ticks
    // and NMIs that arrive take steps of their own (handler frames, irq/entry and irq/exit), so
    // the row compares the time to finish the build, not steps/s.
    const irqRuns = [runBuild(SIM_WORKLOAD, SIM_INTERRUPTS), runBuild(SIM_WORKLOAD, SIM_INTERRUPTS), runBuild(SIM_WORKLOAD, SIM_INTERRUPTS)];
    const msOf = (rs: ReadonlyArray<{ ns: number }>): number => rs.map((r) => r.ns / 1e6).sort((a, b) => a - b)[1]!;
    process.stderr.write(
      `  with interrupts: ${irqRuns[0]!.steps} steps, ${irqRuns[0]!.kernel.log.filter((e) => e.type === 'irq/entry').length} interrupts per run\n`,
    );
    // The CLI's default stack on a smaller build (issue 14, sixth session): hooks, probes and
    // invariants run, and code reads the state, so steps end with snapshots.
    const stackRuns = [
      runBuild(SIM_STACK_WORKLOAD, undefined, true),
      runBuild(SIM_STACK_WORKLOAD, undefined, true),
      runBuild(SIM_STACK_WORKLOAD, undefined, true),
    ];
    const stackRate = stackRuns.map((r) => r.steps / (r.ns / 1e9)).sort((a, b) => a - b)[1]!;
    return [
      row(`simulation, build jobs=${SIM_WORKLOAD.jobs} files=${SIM_WORKLOAD.files}, log on`, 'steps/s', ours, peer, `bare round-robin of ${tasks} generators`),
      row(`simulation, build jobs=${SIM_STACK_WORKLOAD.jobs}, the CLI's default stack`, 'steps/s', stackRate, ours, 'the build with no plugins'),
      row('simulation, the same build with interrupts (timer, nmi, random 0.1)', 'ms', msOf(irqRuns), msOf(runs), 'the same build without interrupts'),
    ];
  },
};

// ---- 2b. kernel creation --------------------------------------------------------------------

/**
 * createKernel with the CLI's default stack (six plugins), and with none: what exploring one
 * schedule pays before its first step. Issue 14's aim: 10 us per schedule, amortised.
 */
const kernelCreation: Benchmark = {
  name: 'kernel creation',
  run(): Row[] {
    const stack = defaultScenario.plugins;
    const full = measure(() => createKernel({ cpus: 2, seed: 1, plugins: stack() }), { iterations: 200, samples: 5, warmup: 50 });
    const bare = measure(() => createKernel({ cpus: 2, seed: 1 }), { iterations: 500, samples: 5, warmup: 50 });
    // kernel.reset (issue 14): the stacks whose plugins can all be reset (ctx.onReset).
    const resettable = () => [ktrace(), rcuTasks(), utrace(), memoryModel()];
    const created = measure(() => createKernel({ cpus: 2, seed: 1, plugins: resettable() }), { iterations: 200, samples: 5, warmup: 50 });
    const k = createKernel({ cpus: 2, seed: 1, plugins: resettable() });
    const reset = measure(() => k.reset(), { iterations: 2000, samples: 5, warmup: 200 });
    // The same after a run: what an explorer's worker pays between two schedules.
    const ran = measure(
      () => {
        k.reset();
        k.spawn(buildWorkload({ jobs: 1, files: 1 }), { comm: 'sh' });
        k.run();
      },
      { iterations: 100, samples: 5, warmup: 300 },
    );
    const fresh = measure(
      () => {
        const f = createKernel({ cpus: 2, seed: 1, plugins: resettable() });
        f.spawn(buildWorkload({ jobs: 1, files: 1 }), { comm: 'sh' });
        f.run();
      },
      { iterations: 100, samples: 5, warmup: 300 },
    );
    return [
      row('kernel creation, default stack (6 plugins)', 'us', full / 1e3, 10, 'target per schedule'),
      row('kernel creation, no plugins', 'us', bare / 1e3, 10, 'target per schedule'),
      row('kernel.reset, ktrace + rcu-tasks + utrace + memory-model', 'us', reset / 1e3, created / 1e3, 'createKernel, same stack'),
      row('kernel.reset, ktrace + rcu-tasks + utrace + memory-model', 'us', reset / 1e3, 10, 'target per schedule'),
      row('reset + a 1-job build run, same stack', 'us', ran / 1e3, fresh / 1e3, 'createKernel + the same run'),
    ];
  },
};

// ---- 2c. a long run: the log streamed to disk ---------------------------------------------------

/**
 * A 10,000,000-event run with the log streamed to a file (`logFile`), in a child process of its
 * own so that its peak RSS is its own: the simulation benchmark's build, ~180 times in a row.
 * A minute of CPU or more, so it is its own benchmark (`npm run bench -- "long run"`), run with
 * nice, once. `TRACELAB_LONG_RUN_EVENTS` scales it (the number of builds is derived from it).
 */
const longRun: Benchmark = {
  name: 'long run',
  run(): Row[] {
    const events = Number(process.env['TRACELAB_LONG_RUN_EVENTS'] ?? 10_000_000);
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-long-'));
    try {
      const file = join(dir, 'run.ndjson');
      const script = fileURLToPath(new URL('./long-run.js', import.meta.url));
      const out = execFileSync(process.execPath, [script, file, String(events)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      const r = JSON.parse(out) as { events: number; steps: number; maxRssKiB: number; ms: number; bytes: number };
      process.stderr.write(
        `  ${r.events.toLocaleString('en-US')} events, ${r.steps.toLocaleString('en-US')} steps in ${(r.ms / 1e3).toFixed(1)} s, log ${(r.bytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB\n`,
      );
      const name = `run of ${(r.events / 1e6).toFixed(1)}M events, log streamed to disk`;
      return [
        row(`${name}: peak RSS`, 'MiB', r.maxRssKiB / 1024, r.bytes / 2 ** 20, 'its log on disk (MiB)'),
        row(`${name}: peak RSS`, 'MiB', r.maxRssKiB / 1024, 1536, 'target'),
        row(`${name}: simulation`, 'steps/s', r.steps / (r.ms / 1e3), 1_000_000, 'target'),
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

// ---- 2d. schedules per second on each catalog scenario -------------------------------------------

/** explore's rate on every catalog scenario's fixed variant, beside the target (the explore benchmark also finds, shrinks and runs DFS: minutes). */
const scheduleRate: Benchmark = {
  name: 'schedule rate',
  run(): Row[] {
    const rows: Row[] = [];
    const n = 1000;
    for (const s of catalog.values()) {
      const fixed = s.variants.find((v) => v.safe)!.name;
      explore(s, { variant: fixed, budget: 100, strategy: 'random', selfCheckEvery: 0 }); // warm-up
      const t = timeOnce(() => explore(s, { variant: fixed, budget: n, strategy: 'portfolio', selfCheckEvery: 0 }));
      rows.push(
        row(`explore ${s.name}/${fixed}, portfolio, ${(t.value.steps / n).toFixed(0)} steps per schedule`, 'schedules/s', n / (t.ns / 1e9), 10_000, 'target'),
      );
    }
    return rows;
  },
};

// ---- 3. replay -------------------------------------------------------------------------------

/** ~292 events per job (files: 10): 3500 jobs write just over 1,000,000 events. */
const REPLAY_WORKLOAD = { jobs: 3500, files: 10 } as const;

const replayBench: Benchmark = {
  name: 'replay',
  run(): Row[] {
    const { kernel, ns: runNs } = runBuild(REPLAY_WORKLOAD);
    const events = kernel.log.length;
    process.stderr.write(`  run of jobs=${REPLAY_WORKLOAD.jobs}: ${events} events in ${(runNs / 1e6).toFixed(0)} ms\n`);
    const { value: replayed, ns: replayNs } = timeOnce(() => replay(kernel.log));
    if (replayed.logHash() !== kernel.logHash()) throw new Error('replay: the replayed log hash differs from the original run');
    if (replayed.report.events !== events) throw new Error(`replay: folded ${replayed.report.events} of ${events} events`);
    return [row(`replay, ${events.toLocaleString('en-US')} events`, 'ms', replayNs / 1e6, runNs / 1e6, 'the run that wrote the log')];
  },
};

// ---- main ------------------------------------------------------------------------------------

try {
  report(
    await runBenchmarks(
      [
        fold,
        simulation,
        kernelCreation,
        scheduleRate,
        replayBench,
        ktraceBench,
        markersBench,
        ftraceBench,
        rcuTasksBench,
        ringBufferBench,
        utraceBench,
        ctfReaderBench,
        ctfConvertBench,
        exploreBench,
        exploreDporBench,
        dporFloorsBench,
        tortureBench,
        exploreQueueBench,
        memoryModelBench,
        longRun,
      ],
      filterFromArgv(),
    ),
  );
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
