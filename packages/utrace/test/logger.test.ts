import { describe, expect, test } from 'vitest';
import { attachSyscallLogger, summarizeUtrace, TIF_SYSCALL_TRACE, utrace } from '@tracelab/utrace';
import { intMapGet, replay } from '@tracelab/core';
import { expectClean, kernelWith } from '@tracelab/testing';
import { call, worker } from './helpers.js';

describe('the syscall logger engine', () => {
  test('logs every syscall of a real workload with its string arguments read from user memory', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 3 });
    const pid = k.spawn(worker(3), { comm: 'w' });
    const e = call(k, attachSyscallLogger(k.api.utrace, pid));
    expect(typeof e).toBe('object');
    expect(intMapGet(k.state.tasks, pid)!.flags[TIF_SYSCALL_TRACE]).toBe(true);
    const r = k.run();
    expectClean(k, r);
    const lines = summarizeUtrace(k.log).lines;
    expect(lines).toContain(`[pid ${pid}] open("/etc/file0", flags=0) = 3`);
    expect(lines.filter((l) => l.includes('getpid()')).length).toBe(3);
    // The log folds back to the same state and hash (the hand-written reducers included).
    const again = replay(k.log, { plugins: [utrace()] });
    expect(again.logHash()).toBe(k.logHash());
    expect(again.state.plugins.utrace).toEqual(k.state.plugins.utrace);
    expect(summarizeUtrace(again.log)).toEqual(summarizeUtrace(k.log));
  });
});

describe('the hot path', () => {
  test('a task with no engine never enters utrace: no slow-path flag, no utrace event; detaching clears the flag', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 4 });
    const traced = k.spawn(worker(4), { comm: 'traced' });
    const plain = k.spawn(worker(4), { comm: 'plain' });
    const e = call(k, attachSyscallLogger(k.api.utrace, traced));
    const r = k.run();
    expectClean(k, r);
    const touching = k.log.filter((ev) => ev.type.startsWith('utrace/') && 'pid' in ev && (ev as { pid: number }).pid === plain);
    expect(touching).toEqual([]);
    expect(k.log.some((ev) => ev.type === 'task/flags' && ev.pid === plain)).toBe(false);
    expect(typeof e).toBe('object');
  });
});
