import type { Kernel, KernelEvent } from '@tracelab/core';
import type { ScenarioReport } from '../scenarios.js';

export interface RunSummary {
  readonly scenario: string;
  /** The config file the run came from (absolute), when it came from one. */
  readonly config?: string;
  readonly seed: number;
  readonly cpus: number;
  readonly steps: number;
  readonly events: number;
  readonly eventsByType: Readonly<Record<string, number>>;
  readonly tasks: { readonly started: number; readonly exited: number; readonly byComm: Readonly<Record<string, number>> };
  readonly syscalls: number;
  /**
   * Per task, from the log: CPU time in ticks (from its switch-in to its switch-out, per CPU)
   * and syscalls entered (`returned`: those that came back, so without exit_group).
   */
  readonly perTask: readonly TaskSummary[];
  readonly pageFaults: number;
  readonly contextSwitches: { readonly voluntary: number; readonly preempted: number };
  readonly gracePeriods: { readonly count: number; readonly meanTicks: number; readonly maxTicks: number };
  readonly oopses: readonly string[];
  readonly violations: readonly { readonly name: string; readonly message: string }[];
  /** What the scenario's tracer stack reports (markers probes, ktrace walks and traced syscalls...). */
  readonly stack: Readonly<Record<string, unknown>>;
  /** Events the ring buffer delivered into the CTF trace and lost, per CPU (when the stack has one). */
  readonly ringBuffer?: object;
  readonly logHash: string;
  readonly schedule: string;
  /** The step bound the run was given (`--max-steps`, default 50,000,000); replay uses it. */
  readonly maxSteps?: number;
  /** The bound stopped the run before every task exited (and before the session's end). */
  readonly cut?: boolean;
}

export interface TaskSummary {
  readonly pid: number;
  readonly comm: string;
  readonly cpuTicks: number;
  readonly syscalls: number;
  readonly syscallsReturned: number;
}

/**
 * The core part of the summary is counted from the log, so a replayed log summarizes the same;
 * `report` is the scenario's own part (its probes' counters live outside the log).
 */
export function summarize(
  kernel: Kernel,
  scenario: string,
  steps: number,
  report?: ScenarioReport,
  bound?: { readonly maxSteps: number; readonly cut: boolean },
): RunSummary {
  const byType: Record<string, number> = {};
  const byComm: Record<string, number> = {};
  const gpStart = new Map<number, number>();
  const gpLatency: number[] = [];
  let started = 0;
  let exited = 0;
  let voluntary = 0;
  let preempted = 0;
  const oopses: string[] = [];
  const perTask = new Map<number, { pid: number; comm: string; cpuTicks: number; syscalls: number; syscallsReturned: number }>();
  const task = (pid: number): { pid: number; comm: string; cpuTicks: number; syscalls: number; syscallsReturned: number } => {
    let t = perTask.get(pid);
    if (t === undefined) perTask.set(pid, (t = { pid, comm: '', cpuTicks: 0, syscalls: 0, syscallsReturned: 0 }));
    return t;
  };
  // Per CPU: the task running since which tick.
  const onCpu = new Map<number, { pid: number; since: number }>();
  for (const e of kernel.log) {
    byType[e.type] = (byType[e.type] ?? 0) + 1;
    switch (e.type) {
      case 'task/spawned':
        started++;
        byComm[e.comm] = (byComm[e.comm] ?? 0) + 1;
        task(e.pid).comm = e.comm;
        break;
      case 'fork/dup':
        started++;
        task(e.child).comm = e.comm;
        break;
      case 'task/exec':
        byComm[e.comm] = (byComm[e.comm] ?? 0) + 1;
        task(e.pid).comm = e.comm;
        break;
      case 'syscall/enter': {
        const t = task(e.pid);
        t.syscalls++;
        if (e.name !== 'exit_group') t.syscallsReturned++;
        break;
      }
      case 'task/exit':
        exited++;
        break;
      case 'sched/switch': {
        const was = onCpu.get(e.cpu);
        if (was !== undefined && was.pid !== 0) task(was.pid).cpuTicks += e.time - was.since;
        onCpu.set(e.cpu, { pid: e.next, since: e.time });
        if (e.prev !== 0) {
          if (e.preempted) preempted++;
          else voluntary++;
        }
        break;
      }
      case 'rcu/gp-start':
        gpStart.set(e.gp, e.time);
        break;
      case 'rcu/gp-end':
        gpLatency.push(e.time - (gpStart.get(e.gp) ?? e.time));
        break;
      case 'kernel/oops':
        oopses.push(`${(e as KernelEvent<'kernel/oops'>).where}: ${e.message}`);
        break;
      default:
        break;
    }
  }
  const sortedTypes = Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b)));
  return {
    scenario,
    seed: kernel.state.kernel.seed,
    cpus: kernel.state.kernel.cpus,
    steps,
    events: kernel.log.length,
    eventsByType: sortedTypes,
    tasks: { started, exited, byComm },
    syscalls: byType['syscall/enter'] ?? 0,
    perTask: [...perTask.values()].sort((a, b) => a.pid - b.pid),
    pageFaults: byType['fault/page'] ?? 0,
    contextSwitches: { voluntary, preempted },
    gracePeriods: {
      count: gpLatency.length,
      meanTicks: gpLatency.length === 0 ? 0 : Math.round((gpLatency.reduce((a, b) => a + b, 0) / gpLatency.length) * 10) / 10,
      maxTicks: gpLatency.length === 0 ? 0 : Math.max(...gpLatency),
    },
    oopses,
    violations: kernel.violations.map((v) => ({ name: v.name, message: v.message })),
    stack: report?.json ?? {},
    ...(report?.ringBuffer !== undefined ? { ringBuffer: report.ringBuffer } : {}),
    logHash: kernel.logHash(),
    schedule: kernel.schedule,
    ...(bound !== undefined ? { maxSteps: bound.maxSteps, cut: bound.cut } : {}),
  };
}

/** What a tick is: said once, on the summary's first screen. */
export const TICK_NOTE =
  'times are in ticks: the simulated clock advances one tick per scheduler step (and jumps over idle time); the CTF and Perfetto clocks show a tick as 1 us';

/**
 * The summary as a person reads it on a terminal. The first screen: what ran, the workload in
 * one line, a headline per tracer (the scenario's report lines indented by two; its deeper
 * lines are details), invariants, lost events, where the outputs are and the command that
 * opens each. `verbose` adds every detail: the tracers' deeper lines and the events by type.
 */
export function formatSummary(
  s: RunSummary,
  outDir: string | null,
  stackLines: readonly string[] = [],
  written: readonly string[] = [],
  opts: { readonly verbose?: boolean } = {},
): string {
  const verbose = opts.verbose === true;
  const lines: string[] = [];
  lines.push(`tracelab run ${s.scenario}: ${s.cpus} CPUs, seed ${s.seed}, ${s.steps} steps, ${s.events} events`);
  lines.push(`  (${TICK_NOTE})`);
  if (s.cut === true) lines.push(`  cut at --max-steps ${s.maxSteps}: the workload and the session had not ended (replay re-runs the same ${s.steps} steps)`);
  lines.push(
    `  workload: ${s.tasks.started} tasks started / ${s.tasks.exited} exited, ${s.syscalls} syscalls, ${s.pageFaults} page faults, ${s.contextSwitches.voluntary} voluntary / ${s.contextSwitches.preempted} preempted switches`,
  );
  lines.push(`  RCU-sched: ${s.gracePeriods.count} grace periods (mean ${s.gracePeriods.meanTicks} ticks, max ${s.gracePeriods.maxTicks})`);
  const all = stackLines.flatMap((l) => l.split('\n'));
  const tracers = verbose ? all : all.filter((l) => !l.startsWith('   '));
  if (tracers.length > 0) lines.push('  tracers:', ...tracers.map((l) => `  ${l}`));
  lines.push(
    `  invariants: ${s.violations.length === 0 ? 'all held' : s.violations.map((v) => `${v.name}: ${v.message}`).join('; ')}; oopses: ${s.oopses.length === 0 ? 'none' : s.oopses.join('; ')}`,
  );
  const rb = s.ringBuffer as { delivered?: number; lost?: number } | undefined;
  if (rb !== undefined && typeof rb.lost === 'number')
    lines.push(
      `  lost events: ${rb.lost} of ${(rb.delivered ?? 0) + rb.lost} (ring buffer${rb.lost === 0 ? ': none lost' : ': see ringBuffer.perCpu in summary.json'})`,
    );
  if (verbose) {
    lines.push('  events by type:');
    const entries = Object.entries(s.eventsByType).sort((a, b) => b[1] - a[1]);
    for (const [type, n] of entries) lines.push(`    ${String(n).padStart(8)}  ${type}`);
    lines.push(`  log hash ${s.logHash}`);
    const sched =
      s.schedule.length <= 120 ? s.schedule : `${s.schedule.slice(0, 60)}...${s.schedule.slice(-40)} (${s.schedule.length} chars, in full in summary.json)`;
    lines.push(`  replay string ${sched}`);
  } else {
    lines.push(`  log hash ${s.logHash.slice(0, 16)}... (tracelab run -v: every detail, the events by type, the replay string)`);
  }
  if (outDir === null) {
    lines.push('  wrote nothing');
  } else {
    lines.push(`  outputs in ${outDir}:`);
    lines.push(`    events.ndjson  the replayable log          tracelab replay ${outDir}`);
    lines.push(`    trace.json     Chrome/Perfetto JSON        open https://ui.perfetto.dev and drop the file in (or chrome://tracing)`);
    for (const w of written) {
      if (w.startsWith('ctf'))
        lines.push(`    ${w.padEnd(14)} CTF 1.8 kernel trace        babeltrace2 ${outDir}/ctf   (lttng-cputop ${outDir}/ctf, Trace Compass)`);
      else lines.push(`    ${w}`);
    }
    lines.push(`    summary.json   everything, as JSON         tracelab view ${outDir}   (the trace viewer: an HTML page)`);
  }
  return lines.join('\n');
}
