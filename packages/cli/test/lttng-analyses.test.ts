import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCtfTrace } from '@tracelab/formats';
import { main } from '@tracelab/cli';

/*
 * LTTng's own analyses (Debian's python3-lttnganalyses, on babeltrace 1's Python bindings) run
 * on the default run's kernel trace, and their numbers must be tracelab's: CPU time per task
 * (lttng-cputop) and returning syscalls per task (lttng-syscallstats) against the summary,
 * which counts them from the event log, not from the CTF. CI installs the package (.ci/run);
 * elsewhere the suite is skipped when the tools are absent.
 */
const HAVE = spawnSync('lttng-cputop-mi', ['--help'], { stdio: 'ignore' }).status === 0;
const REQUIRED = process.env['CI'] !== undefined;

interface MiValue {
  readonly class: string | { readonly title?: string };
  readonly value?: number;
  readonly name?: string;
  readonly tid?: number;
}
interface MiResult {
  readonly class: MiValue['class'];
  readonly 'time-range': { readonly begin: { readonly value: number }; readonly end: { readonly value: number } };
  readonly data: readonly (readonly MiValue[])[];
}

function mi(tool: string, dir: string, ...args: string[]): MiResult[] {
  const out = execFileSync(tool, [...args, dir], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  return (JSON.parse(out) as { results: MiResult[] }).results;
}

function text(tool: string, dir: string): string {
  return execFileSync(tool, [dir], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
}

interface TaskSummary {
  readonly pid: number;
  readonly comm: string;
  readonly cpuTicks: number;
  readonly syscalls: number;
  readonly syscallsReturned: number;
}

describe.skipIf(!HAVE && !REQUIRED)('LTTng analyses on the default trace', () => {
  let ctf = '';
  let perTask = new Map<number, TaskSummary>();

  beforeAll(() => {
    const cwd = mkdtempSync(join(tmpdir(), 'tracelab-lttng-'));
    const noop = (): void => undefined;
    expect(main(['run'], { cwd, out: noop, err: noop })).toBe(0);
    ctf = join(cwd, 'tracelab-out', 'ctf');
    const summary = JSON.parse(readFileSync(join(cwd, 'tracelab-out', 'summary.json'), 'utf8')) as { perTask: TaskSummary[] };
    perTask = new Map(summary.perTask.map((t) => [t.pid, t]));
  }, 120_000);

  it('lttng-cputop: every task that left its CPU for good inside the trace used the CPU time the log says', () => {
    const [r] = mi('lttng-cputop-mi', ctf, '--limit', '1000');
    const span = r!['time-range'].end.value - r!['time-range'].begin.value;
    // The tasks whose whole life is in the trace: forked in it (cputop starts its range where
    // every CPU's stream has begun, after the first tasks started) and gone for good in it (a
    // task still on a CPU when the session stopped is charged to the trace's end by cputop).
    const forked = new Set<number>();
    const gone = new Set<number>();
    for (const e of readCtfTrace(ctf).events) {
      if (e.name === 'sched_process_fork') forked.add(Number(e.fields['child_tid']));
      // prev_state EXIT_DEAD (16) or EXIT_ZOMBIE (32).
      if (e.name === 'sched_switch' && [16, 32].includes(Number(e.fields['prev_state']))) gone.add(Number(e.fields['prev_tid']));
    }
    let compared = 0;
    for (const row of r!.data) {
      const proc = row[0]!;
      if (!gone.has(proc.tid!) || !forked.has(proc.tid!)) continue;
      const ns = row[3]!.value! * span;
      // One tick is 1000 ns in the CTF clock; records sharing a tick are 1 ns apart.
      expect({ tid: proc.tid, ticks: Math.round(ns / 1000) }).toEqual({ tid: proc.tid, ticks: perTask.get(proc.tid!)?.cpuTicks });
      compared++;
    }
    // The 6 compiler drivers and their 6 assemblers.
    expect(compared).toBe(12);
  });

  it('lttng-syscallstats: each task made the syscalls the log says (those that return)', () => {
    let compared = 0;
    for (const r of mi('lttng-syscallstats-mi', ctf)) {
      const title = typeof r.class === 'string' ? r.class : (r.class.title ?? '');
      const m = /TID: (\d+)/.exec(title);
      if (m === null) continue;
      const tid = Number(m[1]);
      const count = r.data.reduce((a, row) => a + row[1]!.value!, 0);
      expect({ tid, count }).toEqual({ tid, count: perTask.get(tid)?.syscallsReturned });
      compared++;
    }
    // sh and its 6 compiler drivers and 6 assemblers.
    expect(compared).toBe(13);
  });

  it('lttng-schedlog and lttng-iolatencytop read the wakeups and the file I/O', () => {
    const sched = text('lttng-schedlog', ctf);
    // A wakeup-to-switch latency line per switch-in of a woken task: cc1 waking sh, and so on.
    expect(sched.match(/^\[\d\d:\d\d:\d\d\.\d{9}, \d\d:\d\d:\d\d\.\d{9}\]/gm)?.length ?? 0).toBeGreaterThan(50);
    const io = text('lttng-iolatencytop', ctf);
    // open's `filename` is what names the files read: the sources the drivers opened.
    expect(io).toMatch(/read .* cc1 .* \/src\/unit\d\/file\d\.c \(fd=\d\)/);
  });
});
