import type { Kernel, PluginStack } from '@tracelab/core';
import { formatKtraceSummary, ktrace, summarizeKtrace, SYSCALL_MARKERS, traceWhileRunning } from '@tracelab/ktrace';
import { markers, schedProbes, statsProbe, type SchedProbes, type StatsProbe } from '@tracelab/markers';
import { buildWorkload } from './workloads.js';

/** What a scenario adds to the run's summary: JSON for summary.json, lines for the terminal. */
export interface ScenarioReport {
  readonly json: Readonly<Record<string, unknown>>;
  readonly lines: readonly string[];
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
  report?(kernel: Kernel): ScenarioReport;
}

/** The probes the default scenario connects, per kernel: they live outside the state. */
interface DefaultProbes {
  readonly sched: SchedProbes;
  readonly syscalls: StatsProbe;
}

const probesOf = new WeakMap<Kernel, DefaultProbes>();

/**
 * The default stack composes both plugins the way the threads argue for: markers carry the
 * probes (a statistics probe and a tracing probe on the scheduler marker, a statistics probe on
 * the syscall entry marker), and ktrace decides which threads take the syscall slow path that
 * fires that marker. The tracer sets the flag while the shell is forking its compilers, so the
 * forks race the walk.
 */
export const defaultScenario: CliScenario = {
  name: 'default',
  description:
    'a build (a shell forks compiler drivers that read sources, compute, fork an assembler, write objects, exit), traced by markers (scheduler and syscall probes) and ktrace (the trace flag set while the shell forks)',
  plugins: () => [markers(), ktrace()],
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
  },
  report(kernel) {
    const probes = probesOf.get(kernel);
    if (probes === undefined) throw new Error('default scenario: report() before setup()');
    const kt = summarizeKtrace(kernel.log);
    const bySyscall = Object.fromEntries([...probes.syscalls.byKey].sort(([a], [b]) => a.localeCompare(b)));
    return {
      json: {
        markers: { sched: probes.sched.summary(), syscallEntry: { marker: SYSCALL_MARKERS.entry.name, calls: probes.syscalls.calls, bySyscall } },
        ktrace: kt,
      },
      lines: [
        probes.sched.formatSummary(),
        `    statistics probe on ${SYSCALL_MARKERS.entry.name}: ${probes.syscalls.calls} traced syscalls (${Object.entries(bySyscall).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`,
        ...formatKtraceSummary(kt),
      ],
    };
  },
};

export const scenarios: ReadonlyMap<string, CliScenario> = new Map([[defaultScenario.name, defaultScenario]]);
