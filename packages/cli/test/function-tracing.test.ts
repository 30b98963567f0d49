import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKernel, type KernelEvent, type Program } from '@tracelab/core';
import { ftrace, functionTracer } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { finishRingBuffer, ringBuffer, writeRingBufferCtf } from '@tracelab/ring-buffer';
import { readCtfTrace } from '@tracelab/formats';

/** A task calling getpid and read in a loop: both are instrumented functions (sys_getpid, sys_read). */
const caller: Program = function* loop(u) {
  for (let i = 0; i < 60; i++) {
    yield u.syscall('getpid');
    yield u.syscall('read', { fd: 0, buf: 0x1000, count: 8 });
    yield u.compute(2);
  }
};

describe('function tracing into the trace', () => {
  it("an ftrace ops whose callback is the ring buffer's functionEntry writes one func_entry per traced call into the CTF", () => {
    for (const seed of [1, 2, 3]) {
      const k = createKernel({ cpus: 2, seed, plugins: [rcuTasks(), ftrace(), tracepoints(), ringBuffer({ numSubbuf: 8 })] });
      k.spawn(caller, { comm: 'loop' });
      k.spawnKthread(
        functionTracer(k.api.ftrace, { functions: ['sys_getpid', 'sys_read'], after: 1, duration: 100, func: k.api['ring-buffer'].functionEntry }),
        {
          comm: 'ftrace',
        },
      );
      k.run();
      finishRingBuffer(k);
      expect(k.violations).toEqual([]);
      const dir = mkdtempSync(join(tmpdir(), 'tracelab-func-'));
      writeRingBufferCtf(k, dir);
      const entries = readCtfTrace(dir).events.filter((e) => e.name === 'func_entry');
      // What the callback was called for, from the log: the trampoline's entries and the list caller's.
      const called: string[] = [];
      for (const e of k.log) {
        if (e.type === 'ftrace/tramp-enter' && (e as KernelEvent<'ftrace/tramp-enter'>).traced) called.push((e as KernelEvent<'ftrace/tramp-enter'>).ip);
        if (e.type === 'ftrace/list-call' && (e as KernelEvent<'ftrace/list-call'>).ops.length > 0) called.push((e as KernelEvent<'ftrace/list-call'>).ip);
      }
      expect(called.length).toBeGreaterThan(5);
      expect(entries.map((e) => e.fields['ip']).sort()).toEqual(called.sort());
      expect(new Set(entries.map((e) => e.fields['ip']))).toEqual(new Set(['sys_getpid', 'sys_read']));
      for (const e of entries) expect(Object.keys(e.fields)).toEqual(['ip', 'parent_ip']);
    }
  });
});
