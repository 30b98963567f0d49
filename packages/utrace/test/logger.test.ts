import { describe, expect, test } from 'vitest';
import { attachSyscallLogger, summarizeUtrace, TIF_SYSCALL_TRACE } from '@tracelab/utrace';
import { intMapGet } from '@tracelab/core';
import { call, expectClean, kernelWith, worker } from './helpers.js';

describe('the syscall logger engine', () => {
  test('logs every syscall of a real workload with its string arguments read from user memory', () => {
    const k = kernelWith({ seed: 3 });
    const pid = k.spawn(worker(3), { comm: 'w' });
    const e = call(k, attachSyscallLogger(k.api.utrace, pid));
    expect(typeof e).toBe('object');
    expect(intMapGet(k.state.tasks, pid)!.flags[TIF_SYSCALL_TRACE]).toBe(true);
    const r = k.run();
    expectClean(k, r);
    const lines = summarizeUtrace(k.log).lines;
    expect(lines).toContain(`[pid ${pid}] open("/etc/file0", flags=0) = 3`);
    expect(lines.filter((l) => l.includes('getpid()')).length).toBe(3);
    console.log(lines);
  });
});
