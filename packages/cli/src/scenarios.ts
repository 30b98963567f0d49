import { join } from 'node:path';
import { getState, msleep, type Kernel, type KPath, type PluginStack, type Program } from '@tracelab/core';
import { formatFtraceSummary, ftrace, functionTracer, summarizeFtrace, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';
import { formatKtraceSummary, ktrace, summarizeKtrace, SYSCALL_MARKERS, traceWhileRunning, type KtraceOptions } from '@tracelab/ktrace';
import { markers, schedProbes, statsProbe, type MarkersOptions, type SchedProbes, type StatsProbe } from '@tracelab/markers';
import { formatRcuTasksSummary, rcuTasks, summarizeRcuTasks, type RcuTasksOptions } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { finishRingBuffer, formatRingBufferSummary, ringBuffer, summarizeRingBuffer, writeRingBufferCtf, type RingBufferOptions } from '@tracelab/ring-buffer';
import { formatUtraceSummary, summarizeUtrace, traceFirstComm, utrace, type UtraceOptions } from '@tracelab/utrace';
import { buildWorkload } from './workloads.js';
import type { TimelineStep } from './config.js';

/** What a scenario adds to the run's summary: JSON for summary.json, lines for the terminal. */
export interface ScenarioReport {
  readonly json: Readonly<Record<string, unknown>>;
  readonly lines: readonly string[];
  /** `{ delivered, lost, perCpu }` of the ring buffer, for summary.json's `ringBuffer`. */
  readonly ringBuffer?: object;
}

/**
 * A session the CLI can run (`tracelab run default`, or what a config file describes): a plugin
 * stack, a setup that spawns the workload and the tracers, and what it adds to the summary. A
 * race with fixed and unsafe variants is a `Scenario` (`@tracelab/scenarios`), which `run`,
 * `explore` and `replay` all take. `setup` and `report` are called once per kernel
 * (a run, and again for the re-run of `tracelab replay`). The catalog of the source threads'
 * races moves to @tracelab/scenarios; until then the CLI ships the default scenario.
 */
export interface Session {
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
  /** Whether the run writes trace.json (Chrome/Perfetto). Default true. */
  readonly chromeTrace?: boolean;
}

/** The probes the default scenario connects, per kernel: they live outside the state. */
interface DefaultProbes {
  readonly sched: SchedProbes;
  readonly syscalls: StatsProbe;
}

const probesOf = new WeakMap<Kernel, DefaultProbes>();

/**
 * What a session is made of: the stack's options, the workload, the tracing activities, the
 * timeline and the outputs. `DEFAULT_COMPOSITION` is the default session; a config file
 * (config.ts) is checked into one of these.
 */
export interface Composition {
  /** Each built-in plugin's options, or false to leave it out. */
  readonly plugins: {
    readonly markers: MarkersOptions | false;
    readonly ktrace: KtraceOptions | false;
    readonly rcuTasks: RcuTasksOptions | false;
    readonly ftrace: FtraceOptions | false;
    readonly ringBuffer: RingBufferOptions | false;
    readonly utrace: UtraceOptions | false;
  };
  readonly extraPlugins: PluginStack;
  /** The workload's program (run as `sh`), or null for the build. */
  readonly workload: Program | null;
  readonly tracers: { readonly markerProbes: boolean; readonly ktraceSession: boolean; readonly functionTracer: boolean; readonly strace: boolean };
  /** Ring-buffer events enabled or disabled at ticks, by a kernel thread `lttng-timeline`. */
  readonly timeline: readonly TimelineStep[];
  readonly outputs: { readonly ctf: boolean; readonly chrome: boolean };
}

export const DEFAULT_COMPOSITION: Composition = {
  plugins: { markers: {}, ktrace: {}, rcuTasks: {}, ftrace: {}, ringBuffer: {}, utrace: {} },
  extraPlugins: [],
  workload: null,
  tracers: { markerProbes: true, ktraceSession: true, functionTracer: true, strace: true },
  timeline: [],
  outputs: { ctf: true, chrome: true },
};

/** `*` any run of characters, `?` one: the names of `names` a glob selects. */
function selectEvents(glob: string, names: readonly string[]): string[] {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return names.filter((n) => re.test(n));
}

/**
 * The session timeline as a kernel thread: sleeps until each step's tick, then enables and
 * disables the ring-buffer events its globs select (`lttng enable-event` mid-session). A glob
 * that selects nothing, or an event already in that state, is logged by the ring buffer's
 * own result (printk), not an error of the run.
 */
function* sessionTimeline(kernel: Kernel, steps: Composition['timeline']): KPath<void> {
  const rb = kernel.api['ring-buffer'];
  const names: string[] = rb === undefined ? [] : rb.tracepoints().map((t: { name: string }) => t.name);
  // The ops this timeline registered, by label: written only by this thread.
  const registered = new Map<string, FtraceOps>();
  const noop = (): void => undefined;
  for (const step of [...steps].sort((a, b) => a.at - b.at)) {
    const now = (yield* getState()).clock.now;
    if (step.at > now) yield* msleep(step.at - now);
    for (const g of step.disable ?? []) for (const n of selectEvents(g, names)) yield* rb.disableEvent(n);
    for (const g of step.enable ?? []) for (const n of selectEvents(g, names)) yield* rb.enableEvent(n);
    const f = step.ftrace;
    if (f === undefined) continue;
    if ('register' in f) {
      const label = f.label ?? 'timeline';
      const ops: FtraceOps = { func: rb !== undefined ? rb.functionEntry : noop, filter: [...f.register], flags: ['DYNAMIC'], label };
      // The ops is kept whatever the result: an unregister of one that failed gives its -errno.
      registered.set(label, ops);
      yield* kernel.api.ftrace.registerFtraceFunction(ops);
    } else {
      const ops = registered.get(f.unregister === true ? 'timeline' : f.unregister);
      if (ops !== undefined) yield* kernel.api.ftrace.unregisterFtraceFunction(ops);
    }
  }
}

/**
 * A session from its composition. With `DEFAULT_COMPOSITION` it is the default scenario: the
 * default stack composes the plugins the way the threads argue for: markers carry the probes
 * (a statistics probe and a tracing probe on the scheduler marker, a statistics probe on the
 * syscall entry marker), and ktrace decides which threads take the syscall slow path that
 * fires that marker. The tracer sets the flag while the shell is forking its compilers, so the
 * forks race the walk. A function tracer puts a DYNAMIC ftrace ops on a few syscall functions
 * and unregisters it mid-run, so its trampoline is freed after an RCU-tasks grace period. The
 * ring buffer records the core tracepoints (scheduler switch, fork, exit, syscall entry with
 * the user strings of its arguments) into per-CPU buffers that the consumer writes out as CTF.
 * A utrace syscall-logger engine (strace) follows the first compiler driver.
 */
export function composeScenario(name: string, description: string, c: Composition): Session {
  const p = c.plugins;
  return {
    name,
    description,
    chromeTrace: c.outputs.chrome,
    plugins: () => [
      p.markers !== false && markers(p.markers),
      p.ktrace !== false && ktrace(p.ktrace),
      p.rcuTasks !== false && rcuTasks(p.rcuTasks),
      p.ftrace !== false && ftrace(p.ftrace),
      // The ring buffer's tracepoints live in the tracepoints plugin (kernel/tracepoint.c).
      p.ringBuffer !== false && tracepoints(),
      p.ringBuffer !== false && ringBuffer(p.ringBuffer),
      p.utrace !== false && utrace(p.utrace),
      ...c.extraPlugins,
    ],
    setup(kernel) {
      if (c.tracers.markerProbes) {
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
      }
      kernel.spawn(c.workload ?? buildWorkload(), { comm: 'sh' });
      if (c.tracers.ktraceSession) kernel.spawnKthread(traceWhileRunning(kernel.api.ktrace, { after: 20 }), { comm: 'lttng-sessiond' });
      // The function tracer's callback writes each traced entry into the ring buffer (func_entry).
      if (c.tracers.functionTracer)
        kernel.spawnKthread(functionTracer(kernel.api.ftrace, { after: 5, duration: 40, func: kernel.api['ring-buffer'].functionEntry }), { comm: 'ftrace' });
      if (c.tracers.strace) kernel.spawnKthread(traceFirstComm(kernel.api.utrace, 'cc1'), { comm: 'strace' });
      if (c.timeline.length > 0) kernel.spawnKthread(sessionTimeline(kernel, c.timeline), { comm: 'lttng-timeline' });
    },
    ...(p.ringBuffer !== false
      ? {
          finish(kernel: Kernel, maxSteps: number) {
            const before = kernel.steps;
            finishRingBuffer(kernel, { maxSteps });
            return kernel.steps - before;
          },
        }
      : {}),
    outputs(kernel, dir) {
      if (p.ringBuffer === false || !c.outputs.ctf) return [];
      writeRingBufferCtf(kernel, join(dir, 'ctf'));
      return ['ctf/'];
    },
    report(kernel) {
      const probes = probesOf.get(kernel);
      const kt = summarizeKtrace(kernel.log);
      const ft = summarizeFtrace(kernel.log);
      const rt = summarizeRcuTasks(kernel.log);
      const rb = p.ringBuffer !== false ? summarizeRingBuffer(kernel) : undefined;
      const ut = summarizeUtrace(kernel.log);
      const bySyscall = probes === undefined ? {} : Object.fromEntries([...probes.syscalls.byKey].sort(([a], [b]) => a.localeCompare(b)));
      return {
        json: {
          markers:
            probes === undefined
              ? null
              : { sched: probes.sched.summary(), syscallEntry: { marker: SYSCALL_MARKERS.entry.name, calls: probes.syscalls.calls, bySyscall } },
          ktrace: kt,
          ftrace: ft,
          rcuTasks: rt,
          utrace: ut,
        },
        ...(rb !== undefined ? { ringBuffer: rb } : {}),
        lines: [
          ...(probes === undefined
            ? []
            : [
                probes.sched.formatSummary(),
                `    statistics probe on ${SYSCALL_MARKERS.entry.name}: ${probes.syscalls.calls} traced syscalls (${
                  Object.entries(bySyscall)
                    .map(([k, n]) => `${k} ${n}`)
                    .join(', ') || 'none'
                })`,
              ]),
          ...formatKtraceSummary(kt),
          ...formatFtraceSummary(ft),
          ...formatRcuTasksSummary(rt),
          ...(rb !== undefined ? formatRingBufferSummary(rb).map((l) => `  ${l}`) : []),
          ...formatUtraceSummary(ut),
        ],
      };
    },
  };
}

export const defaultScenario: Session = composeScenario(
  'default',
  'a build (a shell forks compiler drivers that read sources, compute, fork an assembler, write objects, exit), traced by markers (scheduler and syscall probes) and ktrace (the trace flag set while the shell forks)',
  DEFAULT_COMPOSITION,
);

export const scenarios: ReadonlyMap<string, Session> = new Map([[defaultScenario.name, defaultScenario]]);
