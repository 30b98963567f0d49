import { describe, expect, test } from 'vitest';
import { EINVAL } from '@tracelab/core';
import {
  UTRACE_ATTACH_CREATE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_RESUME,
  UTRACE_STOP,
  type UtraceEngine,
  type UtraceEngineOps,
  utrace,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { call, worker } from './helpers.js';

/** Issue 13 §3: tasks stopped by an engine the host controls, and callbacks written as plain functions. */
describe('every task stopped by an engine the host controls', () => {
  test('run returns done: false with each task stopped, and the host resumes them with control(RESUME)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const k = kernelWith({ plugins: [utrace()], seed });
      const u = k.api.utrace;
      const pids = [k.spawn(worker(3), { comm: 'w0' }), k.spawn(worker(3), { comm: 'w1' })];
      // Stops each task at its first syscall entry, and holds it until the host says otherwise.
      const ops: UtraceEngineOps = {
        name: 'stop-at-entry',
        // eslint-disable-next-line require-yield -- a callback that takes no scheduling point
        *reportSyscallEntry() {
          return UTRACE_STOP;
        },
      };
      const engines = pids.map((pid) => {
        const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, ops, {})) as UtraceEngine;
        expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_SYSCALL_ENTRY))).toBe(0);
        return e;
      });
      const r = k.run();
      // Before: a sticky kernel/stuck violation, and every later call threw it.
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(false);
      expect(r.waiting.map((w) => [w.pid, w.state, w.on])).toEqual(pids.map((pid) => [pid, 'stopped', `stopped:${pid}`]));
      // The host is the tracer: it lets them go, once per stop, until they exit.
      let rounds = 0;
      for (let r2 = r; !r2.done; r2 = k.run()) {
        expect(r2.violations).toEqual([]);
        expect(++rounds).toBeLessThan(20);
        for (const w of r2.waiting) {
          const i = pids.indexOf(w.pid);
          expect(call(k, u.control(w.pid, engines[i]!, UTRACE_RESUME))).toBe(0);
        }
      }
      expectClean(k, { violations: k.violations });
      expect(eventsOf(k, 'task/exit').filter((x) => pids.includes(x.pid)).length).toBe(2);
      expect(rounds).toBeGreaterThan(1);
    }
  });
});

describe('engine callbacks written as plain functions', () => {
  test('are called like generator callbacks: STOP holds the task, the return values fold, the logger-like engine sees every syscall', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 3 });
    const u = k.api.utrace;
    const pid = k.spawn(worker(2), { comm: 'w' });
    const seen: string[] = [];
    let stops = 0;
    const ops: UtraceEngineOps = {
      name: 'plain',
      // Stop at the first open, resume everything else: as a C callback would be written.
      reportSyscallEntry: (_action, _engine, regs) => {
        seen.push(`entry ${regs.syscall}`);
        if (regs.syscall === 'open' && stops === 0) {
          stops++;
          return UTRACE_STOP;
        }
        return UTRACE_RESUME;
      },
      reportSyscallExit: (_action, _engine, regs) => {
        seen.push(`exit ${regs.syscall}`);
      },
    };
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, ops, {})) as UtraceEngine;
    expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT))).toBe(0);
    const r = k.run();
    // Held by the plain callback's STOP: waiting for the host, not an error.
    expect(r.violations).toEqual([]);
    expect(r.waiting.map((w) => [w.pid, w.state])).toEqual([[pid, 'stopped']]);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    expect(call(k, u.control(pid, e, UTRACE_RESUME))).toBe(0);
    const r2 = k.run();
    expectClean(k, r2);
    expect(r2.done).toBe(true);
    // Attached while the worker slept: its first report is that sleep's exit.
    expect(seen).toEqual([
      'exit nanosleep',
      'entry open',
      'exit open',
      'entry getpid',
      'exit getpid',
      'entry open',
      'exit open',
      'entry getpid',
      'exit getpid',
      'entry exit_group',
    ]);
    expect(eventsOf(k, 'utrace/callback').filter((c) => c.engine === e.id).length).toBe(seen.length);
  });

  test('an ops member that is not a function is refused at attach with -EINVAL, naming it', () => {
    const k = kernelWith([utrace()]);
    const u = k.api.utrace;
    const pid = k.spawn(worker(1), { comm: 'w' });
    const bad = { name: 'typo', reportSyscallEntry: UTRACE_STOP } as unknown as UtraceEngineOps;
    expect(call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, bad, {}))).toBe(-EINVAL);
    expect(
      k.log.some((e) => e.type === 'kernel/printk' && e.text === `utrace_attach_task(${pid}): ops typo.reportSyscallEntry is not a function: -EINVAL`),
    ).toBe(true);
    expect(u.engines(pid)).toEqual([]);
  });
});
