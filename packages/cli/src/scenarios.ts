import { join } from 'node:path';
import type { Kernel, PluginStack } from '@tracelab/core';
import { formatFtraceSummary, ftrace, functionTracer, summarizeFtrace } from '@tracelab/ftrace';
import { formatKtraceSummary, ktrace, summarizeKtrace, SYSCALL_MARKERS, traceWhileRunning } from '@tracelab/ktrace';
import { markers, schedProbes, statsProbe, type SchedProbes, type StatsProbe } from '@tracelab/markers';
import { formatRcuTasksSummary, rcuTasks, summarizeRcuTasks } from '@tracelab/rcu-tasks';
import { finishRingBuffer, formatRingBufferSummary, ringBuffer, summarizeRingBuffer, writeRingBufferCtf } from '@tracelab/ring-buffer';
import { formatUtraceSummary, summarizeUtrace, traceFirstComm, utrace } from '@tracelab/utrace';
import { buildWorkload } from './workloads.js';

/** What a scenario adds to the run's summary: JSON for summary.json, lines for the terminal. */
export interface ScenarioReport {
  readonly json: Readonly<Record<string, unknown>>;
  readonly lines: readonly string[];
  /** `{ delivered, lost, perCpu }` of the ring buffer, for summary.json's `ringBuffer`. */
  readonly ringBuffer?: object;
}

/**
 * A scenario the CLI can run: a plugin stack, a setup that spawns the workload and the
 * tracers, and what it adds to the summary. `setup` and `report` are called once per kernel
 * (a run, and again for the re-run of `tracelab replay`). The catalog of the source threads'
 * races moves to @tracelab/scenarios; until then the CLI ships the default scenario.
 */
export interface CliScenario {
  readonly name: string;
  readonly description: string;
  plugins(): PluginStack;
  setup(kernel: Kernel): void;
  /**
   * Ends the session after the workload finished (flushing buffers) by running the kernel on,
   * for at most `maxSteps` steps; returns the steps it took. Part of the run's schedule, so
   * `replay` calls it too, with the same budget.
   */
  finish?(kernel: Kernel, maxSteps: number): number;
  report?(kernel: Kernel): ScenarioReport;
  /** Writes the scenario's own outputs into the run folder; returns what it wrote (relative names). */
  outputs?(kernel: Kernel, dir: string): readonly string[];
}

/** The probes the default scenario connects, per kernel: they live outside the state. */
interface DefaultProbes {
  readonly sched: SchedProbes;
  readonly syscalls: StatsProbe;
}

const probesOf = new WeakMap<Kernel, DefaultProbes>();

/**
 * The default stack composes the plugins the way the threads argue for: markers carry the
 * probes (a statistics probe and a tracing probe on the scheduler marker, a statistics probe on
 * the syscall entry marker), and ktrace decides which threads take the syscall slow path that
 * fires that marker. The tracer sets the flag while the shell is forking its compilers, so the
 * forks race the walk. A function tracer puts a DYNAMIC ftrace ops on a few syscall functions
 * and unregisters it mid-run, so its trampoline is freed after an RCU-tasks grace period. The
 * ring buffer records the core tracepoints (scheduler switch, fork, exit, syscall entry with
 * the user strings of its arguments) into per-CPU buffers that the consumer writes out as CTF.
 * A utrace syscall-logger engine (strace) follows the first compiler driver.
 */
export const defaultScenario: CliScenario = {
  name: 'default',
  description:
    'a build (a shell forks compiler drivers that read sources, compute, fork an assembler, write objects, exit), traced by markers (scheduler and syscall probes) and ktrace (the trace flag set while the shell forks)',
  plugins: () => [markers(), ktrace(), rcuTasks(), ftrace(), ringBuffer(), utrace()],
  setup(kernel) {
    const sched = schedProbes();
    const syscalls = statsProbe((args) => String(args[1]));
    probesOf.set(kernel, { sched, syscalls });
    const api = kernel.api.markers;
    kernel.call(
      (function* connectProbes() {
        const r = yield* sched.register(api);
        if (r !== 0) return r;
        return yield* api.probeRegister(SYSCALL_MARKERS.entry.name, SYSCALL_MARKERS.entry.format, syscalls.probe, syscalls.private);
      })(),
      { comm: 'insmod-probes' },
    );
    kernel.spawn(buildWorkload(), { comm: 'sh' });
    kernel.spawnKthread(traceWhileRunning(kernel.api.ktrace, { after: 20 }), { comm: 'lttng-sessiond' });
    kernel.spawnKthread(functionTracer(kernel.api.ftrace, { after: 5, duration: 40 }), { comm: 'ftrace' });
    kernel.spawnKthread(traceFirstComm(kernel.api.utrace, 'cc1'), { comm: 'strace' });
  },
  finish(kernel, maxSteps) {
    const before = kernel.steps;
    finishRingBuffer(kernel, { maxSteps });
    return kernel.steps - before;
  },
  outputs(kernel, dir) {
    writeRingBufferCtf(kernel, join(dir, 'ctf'));
    return ['ctf/'];
  },
  report(kernel) {
    const probes = probesOf.get(kernel);
    if (probes === undefined) throw new Error('default scenario: report() before setup()');
    const kt = summarizeKtrace(kernel.log);
    const ft = summarizeFtrace(kernel.log);
    const rt = summarizeRcuTasks(kernel.log);
    const rb = summarizeRingBuffer(kernel);
    const ut = summarizeUtrace(kernel.log);
    const bySyscall = Object.fromEntries([...probes.syscalls.byKey].sort(([a], [b]) => a.localeCompare(b)));
    return {
      json: {
        markers: { sched: probes.sched.summary(), syscallEntry: { marker: SYSCALL_MARKERS.entry.name, calls: probes.syscalls.calls, bySyscall } },
        ktrace: kt,
        ftrace: ft,
        rcuTasks: rt,
        utrace: ut,
      },
      ringBuffer: rb,
      lines: [
        probes.sched.formatSummary(),
        `    statistics probe on ${SYSCALL_MARKERS.entry.name}: ${probes.syscalls.calls} traced syscalls (${Object.entries(bySyscall).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`,
        ...formatKtraceSummary(kt),
        ...formatFtraceSummary(ft),
        ...formatRcuTasksSummary(rt),
        ...formatRingBufferSummary(rb).map((l) => `  ${l}`),
        ...formatUtraceSummary(ut),
      ],
    };
  },
};

export const scenarios: ReadonlyMap<string, CliScenario> = new Map([[defaultScenario.name, defaultScenario]]);
