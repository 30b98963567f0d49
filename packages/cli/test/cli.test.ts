import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCtfTrace, validateChromeTrace } from '@tracelab/formats';
import { main } from '@tracelab/cli';

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-cli-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

describe('tracelab run', () => {
  it('runs the default scenario and writes a replayable log, a Chrome trace and a summary', () => {
    const t = io();
    expect(main(['run', '--seed', '3', '--cpus', '3'], t.io)).toBe(0);
    const dir = join(t.cwd, 'tracelab-out');
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8');
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    // The file is the canonical log: its SHA-256 is the run's hash.
    expect(createHash('sha256').update(log).digest('hex')).toBe(summary.logHash);
    expect(summary).toMatchObject({ scenario: 'default', seed: 3, cpus: 3, violations: [], oopses: [] });
    expect(summary.tasks.started).toBe(summary.tasks.exited);
    expect(summary.tasks.byComm).toMatchObject({ sh: 1, cc1: 6 });
    expect(summary.syscalls).toBeGreaterThan(100);
    expect(summary.events).toBe(log.trim().split('\n').length);
    const chrome = JSON.parse(readFileSync(join(dir, 'trace.json'), 'utf8')) as {
      traceEvents: { name: string; ph: string; ts?: number; args?: Record<string, number> }[];
    };
    expect(validateChromeTrace(chrome)).toEqual([]);
    // The ring buffer's fill per CPU: sub-buffers delivered and not yet consumed, back to 0 at the end.
    const fill = chrome.traceEvents.filter((e) => e.ph === 'C' && e.name === 'ring-buffer sub-buffers full');
    expect(fill.length).toBe(2 * log.split('"type":"ring-buffer/subbuf-consumed"').length - 2);
    expect(Math.max(...fill.flatMap((e) => Object.values(e.args!)))).toBeGreaterThan(0);
    expect(fill.at(-1)!.args).toEqual({ 'cpu 0': 0, 'cpu 1': 0, 'cpu 2': 0 });
    // The first screen: what ran, a tick said once, a headline per tracer, invariants, lost
    // events, and each output with the command that opens it; no details.
    const printed = t.out.join('\n');
    expect(printed.split('\n').length).toBeLessThanOrEqual(24);
    expect(printed).toMatch(/^tracelab run default: 3 CPUs, seed 3, \d+ steps, \d+ events\n {2}\(times are in ticks: /);
    expect(printed.match(/ticks: the simulated clock/g)).toHaveLength(1);
    expect(printed).toMatch(/^ {4}ring buffer: \d+ events delivered, 0 lost$/m);
    expect(printed).toMatch(/^ {2}invariants: all held; oopses: none$/m);
    expect(printed).toMatch(/^ {2}lost events: 0 of \d+/m);
    expect(printed).toContain(summary.logHash.slice(0, 16));
    expect(printed).toContain(`tracelab replay ${dir}`);
    expect(printed).toContain(`babeltrace2 ${dir}/ctf`);
    expect(printed).toContain('https://ui.perfetto.dev');
    expect(printed).toContain(`tracelab view ${dir}`);
    expect(printed).not.toContain('syscall/enter');
    // -v: every detail (the events by type, the whole hash and replay string).
    const v = io();
    expect(main(['run', '--seed', '3', '--cpus', '3', '-v'], v.io)).toBe(0);
    const verbose = v.out.join('\n');
    expect(verbose).toContain(summary.logHash);
    expect(verbose).toContain('syscall/enter');
    expect(verbose).toMatch(/replay string S2:/);
  });

  it('runs the default tracer stack: markers probes on the scheduler and syscall markers, ktrace deciding who is traced', () => {
    const t = io();
    expect(main(['run', '--seed', '2'], t.io)).toBe(0);
    const dir = join(t.cwd, 'tracelab-out');
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const { sched, syscallEntry } = summary.stack.markers;
    const switches = log.filter((e) => e.type === 'sched/switch').length;
    // Both probes sit on the same site: every call reaches both (the statistics probe was
    // connected first, so it may have seen a few more), and no call comes from nowhere.
    expect(sched.stats.calls).toBeGreaterThan(0);
    expect(sched.stats.calls).toBeLessThanOrEqual(switches);
    expect(sched.stats.voluntary + sched.stats.preempted).toBe(sched.stats.calls);
    expect(sched.trace.written).toBeGreaterThan(sched.stats.calls - 5);
    expect(sched.trace.written).toBeLessThanOrEqual(sched.stats.calls);
    // ktrace set the flag while the shell forked; every traced syscall entry fired the marker.
    const kt = summary.stack.ktrace;
    expect(kt.walks).toHaveLength(1);
    expect(kt.walks[0]).toMatchObject({ op: 'set', via: 'tasklist' });
    expect(kt.traced.entries).toBe(log.filter((e) => e.type === 'ktrace/syscall-entry').length);
    expect(syscallEntry.calls).toBe(kt.traced.entries);
    expect(kt.traced.entries).toBeGreaterThan(summary.syscalls / 2);
    expect(kt.traced.entries).toBeLessThan(summary.syscalls);
    const cc1 = kt.byTask.filter((r: { comm: string }) => r.comm === 'cc1');
    expect(cc1.length).toBeGreaterThanOrEqual(6);
    for (const r of kt.byTask) expect(r.entries).toBeLessThanOrEqual(r.syscalls);
    const printed = t.out.join('\n');
    expect(printed).toMatch(/markers: kernel_sched_schedule with 2 probes/);
    // A headline per tracer on the first screen; the per-task table is a detail (-v).
    expect(printed).not.toMatch(/traced syscalls per task/);
  });

  it('replay folds the log and re-runs the schedule to the logged hash', () => {
    const t = io();
    expect(main(['run', '--out', 'o', '--seed', '8'], t.io)).toBe(0);
    t.out.length = 0;
    expect(main(['replay', 'o'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/fold .* ok[\s\S]*re-run .* ok/);
  });

  it('replay refuses a corrupt log with the line, and a tampered one with MISMATCH', () => {
    const t = io();
    main(['run', '--out', 'o'], t.io);
    const path = join(t.cwd, 'o', 'events.ndjson');
    const lines = readFileSync(path, 'utf8').split('\n');
    const tampered = [...lines];
    tampered[30] = tampered[30]!.replace(/"time":(\d+)/, (_, n: string) => `"time":${Number(n) + 1}`);
    writeFileSync(path, tampered.join('\n'));
    expect(main(['replay', 'o'], t.io)).toBe(1);
    expect(t.out.join('\n')).toContain('MISMATCH');
    const corrupt = [...lines];
    corrupt[30] = '{"type":';
    writeFileSync(path, corrupt.join('\n'));
    expect(main(['replay', 'o'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/line 31 is not valid JSON/);
  });

  it('names what is wrong with its arguments', () => {
    const t = io();
    expect(main(['run', 'nope'], t.io)).toBe(2);
    expect(main(['run', '--cpus', '0'], t.io)).toBe(2);
    expect(main(['replay', 'missing'], t.io)).toBe(2);
    expect(main(['frobnicate'], t.io)).toBe(2);
    // An empty value is not seed 0 (Number('') is 0).
    expect(main(['run', '--seed', ''], t.io)).toBe(2);
    expect(t.err.at(-1)).toMatch(/--seed must be an integer from 0 to 4294967295, got ""/);
    expect(t.err.join('\n')).toMatch(/unknown scenario "nope"[\s\S]*--cpus must be an integer from 1 to 64[\s\S]*does not exist[\s\S]*unknown command/);
  });
});

describe('tracelab run: the ftrace, RCU-tasks and ring-buffer part of the default stack', () => {
  it('writes a CTF trace whose events are the ones the ring buffer says it delivered, and reports the trampoline grace period', () => {
    const t = io();
    expect(main(['run', '--seed', '5'], t.io)).toBe(0);
    const dir = join(t.cwd, 'tracelab-out');
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The CTF trace: metadata plus one stream per CPU, read back with the formats reader.
    const trace = readCtfTrace(join(dir, 'ctf'));
    expect(trace.events.length).toBe(summary.ringBuffer.delivered);
    expect(summary.ringBuffer.perCpu).toHaveLength(2);
    expect(summary.ringBuffer.perCpu.reduce((n: number, c: { delivered: number }) => n + c.delivered, 0)).toBe(summary.ringBuffer.delivered);
    // Every context switch of the workload went through the sched_switch tracepoint unless it
    // was counted as lost; the session ends at the flush, whose own switches are not recorded.
    const flushSeq = log.find((e) => e.type === 'task/spawned' && e.comm === 'lttng-flush').seq;
    const key = (cpu: number, prev: number, next: number) => `${cpu}:${prev}>${next}`;
    const logged = log.filter((e) => e.type === 'sched/switch');
    const recorded = trace.events.filter((e) => e.name === 'sched_switch').map((e) => key(Number(e.cpu), Number(e.fields.prev_tid), Number(e.fields.next_tid)));
    // The consumer is not traced by its own session: switches to or from it are not recorded.
    const consumers = new Set(log.filter((e) => e.type === 'task/spawned' && e.comm === 'lttng-consumerd').map((e) => e.pid));
    const before = logged.filter((e) => e.seq < flushSeq && !consumers.has(e.prev) && !consumers.has(e.next)).map((e) => key(e.cpu, e.prev, e.next));
    const remaining = new Map<string, number>();
    for (const k of logged.map((e) => key(e.cpu, e.prev, e.next))) remaining.set(k, (remaining.get(k) ?? 0) + 1);
    for (const k of recorded) {
      expect(remaining.get(k) ?? 0, `recorded switch ${k} was never logged`).toBeGreaterThan(0);
      remaining.set(k, remaining.get(k)! - 1);
    }
    expect(recorded.length + summary.ringBuffer.lost).toBeGreaterThanOrEqual(before.length);
    // The function tracer's trampoline was freed only after an RCU-tasks grace period ended.
    const ops = summary.stack.ftrace.ops[0];
    expect(ops).toMatchObject({ wait: 'rcu-tasks' });
    expect(ops.freedAt).toBeGreaterThan(ops.retiredAt);
    expect(ops.gracePeriod).toBe(ops.freedAt - ops.retiredAt);
    expect(summary.stack.ftrace.useAfterFree).toBe(0);
    const gpEnds = log.filter((e) => e.type === 'rcu-tasks/gp-end').map((e) => e.time);
    expect(gpEnds.some((time: number) => time <= ops.freedAt && time >= ops.retiredAt)).toBe(true);
    expect(summary.stack.rcuTasks.tasks.completed).toBe(gpEnds.length);
    expect(summary.stack.rcuTasks.tasks.completed).toBeGreaterThan(0);
    expect(t.out.join('\n')).toMatch(/ring buffer: \d+ events delivered, \d+ lost/);
  });

  it('replays a run whose session ends by flushing the ring buffer', () => {
    const t = io();
    expect(main(['run', '--seed', '9', '--out', 'r'], t.io)).toBe(0);
    expect(main(['replay', 'r'], t.io)).toBe(0);
    expect(t.out.join('\n')).not.toContain('MISMATCH');
  });
});

describe('tracelab run: the utrace syscall logger in the default stack', () => {
  it('follows one compiler driver: every syscall it completed after the attach is logged, with its return value, and nothing of other tasks', () => {
    const t = io();
    expect(main(['run', '--seed', '4'], t.io)).toBe(0);
    const dir = join(t.cwd, 'tracelab-out');
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const ut = summary.stack.utrace;
    expect(ut.engines.attached).toBe(1);
    const attached = log.find((e) => e.type === 'utrace/engine-attached');
    const pid = attached.pid ?? attached.target;
    expect(log.find((e) => e.type === 'task/exec' && e.pid === pid)?.comm ?? log.find((e) => e.type === 'fork/dup' && e.child === pid)?.comm).toBe('cc1');
    // Each syscall the task finished after the engine asked for syscall reports
    // (utrace_set_events, which may come well after the attach), in order, with its result.
    const armed = log.find((e) => e.type === 'utrace/events-set' && e.pid === pid);
    const exits = log.filter((e) => e.type === 'syscall/exit' && e.pid === pid && e.seq > armed.seq && e.name !== 'exit_group');
    expect(ut.lines).toHaveLength(exits.length);
    exits.forEach((e, i) => expect(ut.lines[i]).toMatch(new RegExp(`^\\[pid ${pid}\\] ${e.name}\\(.*\\) = ${e.ret}$`)));
    expect(ut.lines.every((l: string) => l.startsWith(`[pid ${pid}]`))).toBe(true);
  });
});

describe('tracelab list', () => {
  const list = (...args: string[]) => {
    const t = io();
    const code = main(['list', ...args], t.io);
    return { code, out: t.out.join('\n'), err: t.err.join('\n') };
  };

  it('lists what can be traced: tracepoints with their lttng-modules fields, syscalls, functions, markers, scenarios', () => {
    expect(list('--tracepoints').out).toMatch(
      /^sched_switch +\(prev_comm: char\[16\], prev_tid: int32, prev_prio: int32, prev_state: int64, next_comm: char\[16\], next_tid: int32, next_prio: int32\)$/m,
    );
    expect(list('--tracepoints').out).toMatch(/^syscall_entry_open +\(filename: string \(user\), flags: int32, mode: uint16\) faultable$/m);
    expect(list('--tracepoints').out).toMatch(/^func_entry +\(ip: string, parent_ip: string\)$/m);
    expect(list('--syscalls').out).toMatch(/^stat +syscall_entry_newstat\(filename\), syscall_exit_newstat\(ret, statbuf\)$/m);
    expect(list('--syscalls').out).toMatch(/^exit_group +syscall_entry_exit_group\(error_code\)$/m);
    const functions = list('--functions').out.split('\n');
    expect(functions).toEqual(expect.arrayContaining(['sys_open', 'sys_read', 'copy_process', 'do_exit']));
    expect(list('--markers').out).toMatch(/^kernel_sched_schedule +prev_pid %d next_pid %d cpu %d preempted %d$/m);
    const scenariosOut = list().out;
    expect(scenariosOut).toMatch(/^default +tracelab run default: /m);
    expect(scenariosOut).toMatch(/^fork-flag-race +tracelab explore fork-flag-race --variant fixed\|/m);
    expect(JSON.parse(list('--tracepoints', '--json').out).map((r: { name: string }) => r.name)).toContain('sched_waking');
  });

  it('an unknown flag is bad usage (2), naming it', () => {
    expect(list('--bogus')).toMatchObject({ code: 2, err: expect.stringMatching(/list: unknown argument --bogus/) });
  });
});
