import { describe, expect, it } from 'vitest';
import { createKernel, replay, type Program } from '@tracelab/core';
import { formatKtraceSummary, ktrace, summarizeKtrace, traceWhileRunning } from '@tracelab/ktrace';
import { eventsOf, expectClean } from '@tracelab/testing';
import { forker } from './helpers.js';

const worker: Program = function* worker(u) {
  yield u.sleep(30);
  yield u.syscall('read', { fd: 3, buf: 0x2000, count: 64 });
  yield u.syscall('close', { fd: 3 });
  yield u.fork(function* kid(u2) {
    yield u2.syscall('getpid');
  });
  yield u.wait();
  yield u.sleep(200);
  yield u.syscall('getppid');
};

describe('the syscall slow path', () => {
  it('a flagged thread reports entry (name, arguments) and exit (return value); an unflagged one reports nothing', () => {
    const k = createKernel({ cpus: 2, seed: 11, plugins: [ktrace()] });
    const traced = k.spawn(worker, { comm: 'traced' });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    // What ktrace promises about tasks that appear after the set: a forked child inherits the
    // flag (checked below). A task the host starts now (kernel.spawn) would not be flagged, but
    // only because the core runs no fork hook for host spawns (docs/ktrace.md, "Host-started
    // tasks"): a core limitation, not ktrace behaviour, so this test does not assert it.
    // Clear after the fork and the wait, while it sleeps before the last getppid.
    k.run({ until: () => eventsOf(k, 'syscall/enter').filter((e) => e.pid === traced && e.name === 'nanosleep').length === 2 });
    k.call(k.api.ktrace.clearKernelTraceFlagAllTasks());
    // Started with the refcount back at 0: ktrace promises it is not traced.
    const untraced = k.spawn(worker, { comm: 'untraced' });
    expectClean(k, k.run());

    const entries = eventsOf(k, 'ktrace/syscall-entry');
    const exits = eventsOf(k, 'ktrace/syscall-exit');
    expect(eventsOf(k, 'syscall/enter').some((e) => e.pid === untraced)).toBe(true);
    expect(entries.some((e) => e.pid === untraced) || exits.some((e) => e.pid === untraced)).toBe(false);
    const names = entries.filter((e) => e.pid === traced).map((e) => e.name);
    expect(names.filter((n) => n !== 'nanosleep')).toEqual(['read', 'close', 'clone', 'wait4']);
    expect(entries.find((e) => e.name === 'read')!.args).toEqual({ fd: 3, buf: 0x2000, count: 64 });
    const readExit = exits.find((e) => e.pid === traced && e.name === 'read')!;
    const coreExit = eventsOf(k, 'syscall/exit').find((e) => e.pid === traced && e.name === 'read')!;
    expect(readExit.ret).toBe(coreExit.ret);
    // The child inherits the flag: its clone returns 0 on the slow path, then getpid.
    const child = eventsOf(k, 'fork/dup').find((e) => e.parent === traced)!.child;
    expect(exits.filter((e) => e.pid === child).map((e) => [e.name, e.ret])).toEqual([
      ['clone', 0],
      ['getpid', child],
    ]);
    // After the clear: the last getppid is not traced.
    expect(names).not.toContain('getppid');
    expect(eventsOf(k, 'syscall/enter').some((e) => e.pid === traced && e.name === 'getppid')).toBe(true);
  });

  it('replays: the log folds back to the same state and hash with the same stack', () => {
    const k = createKernel({ cpus: 2, seed: 4, plugins: [ktrace({ walk: 'rcu' })] });
    k.spawn(forker(3), { comm: 'sh' });
    k.spawnKthread(traceWhileRunning(k.api.ktrace, { after: 2, duration: 10 }), { comm: 'tracer' });
    k.run();
    const r = replay(k.log, { plugins: [ktrace({ walk: 'rcu' })] });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state.plugins.ktrace).toEqual(k.state.plugins.ktrace);
  });
});

describe('traceWhileRunning and summarizeKtrace', () => {
  it('a tracer session beside a forking workload: the summary shows the walks and the traced syscalls per task', () => {
    const k = createKernel({ cpus: 2, seed: 2, plugins: [ktrace()] });
    k.spawn(forker(4), { comm: 'sh' });
    k.spawnKthread(traceWhileRunning(k.api.ktrace, { after: 3, duration: 25 }), { comm: 'tracer' });
    expectClean(k, k.run());
    const s = summarizeKtrace(k.log);
    expect(s.walks.map((w) => [w.op, w.via])).toEqual([
      ['set', 'tasklist'],
      ['clear', 'tasklist'],
    ]);
    expect(s.walks.every((w) => w.end !== null && w.end >= w.start && w.visited >= 2)).toBe(true);
    expect(s.traced.entries).toBe(eventsOf(k, 'ktrace/syscall-entry').length);
    expect(s.traced.entries).toBeGreaterThan(0);
    expect(s.traced.entries).toBeLessThan(s.syscalls);
    expect(s.byTask.reduce((n, t) => n + t.entries, 0)).toBe(s.traced.entries);
    expect(s.byTask.every((t) => t.entries <= t.syscalls)).toBe(true);
    expect(s.byTask.map((t) => t.comm)).toContain('sh');
    const text = formatKtraceSummary(s).join('\n');
    expect(text).toMatch(/ktrace: \d+ of \d+ syscalls traced/);
    expect(text).toMatch(/set walk \(tasklist\)/);
  });
});
