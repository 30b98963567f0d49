import { describe, expect, test } from 'vitest';
import { UTRACE_ATTACH_CREATE, UTRACE_EVENT_SYSCALL_ENTRY, UTRACE_RESUME, UTRACE_STOP, type UtraceEngine, type UtraceEngineOps } from '@tracelab/utrace';
import { call, eventsOf, expectClean, kernelWith, worker } from './helpers.js';

/** Issue 13 §3: tasks stopped by an engine the host controls, and callbacks written as plain functions. */
describe('every task stopped by an engine the host controls', () => {
  test('run returns done: false with each task stopped, and the host resumes them with control(RESUME)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const k = kernelWith({ seed });
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
