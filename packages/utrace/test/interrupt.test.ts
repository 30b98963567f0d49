/**
 * SEMANTICS.md 3, utrace_resume: control(UTRACE_INTERRUPT) with no signal pending. It wakes an
 * interruptible sleep as signal_wake_up does, and the task makes a report pass on its way back
 * to user mode. The model takes that pass as a report_quiesce(0) pass (the kernel's is
 * report_signal with UTRACE_SIGNAL_REPORT; docs/fidelity.md says why).
 */
import { describe, expect, test } from 'vitest';
import { intMapGet } from '@tracelab/core';
import { UTRACE_EVENT_QUIESCE, UTRACE_INTERRUPT, UTRACE_RESUME, utrace, type UtraceEngineOps } from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call } from './helpers.js';

describe('SEMANTICS.md 3: control(UTRACE_INTERRUPT) on a sleeping task, no signal pending', () => {
  test('the sleep ends early, and the task reports (event 0) before it returns to user mode', () => {
    for (const seed of [1, 2, 3, 4]) {
      const k = kernelWith({ plugins: [utrace()], seed });
      const pid = k.spawn(function* napper(u) {
        yield u.sleep(200);
        yield u.syscall('getpid');
      });
      const quiesced: number[] = [];
      const ops: UtraceEngineOps<unknown> = {
        name: 'interrupter',
        reportQuiesce(_action, _engine, event) {
          quiesced.push(event);
          return UTRACE_RESUME;
        },
      };
      const u = k.api.utrace;
      const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_QUIESCE));
      k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
      const asleep = k.state.clock.now;
      const before = k.log.length;
      quiesced.length = 0;
      expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(0);
      expectClean(k, k.run());
      // Woken long before its 200 ticks: the nanosleep returned early.
      const exit = eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'nanosleep');
      expect(exit).toHaveLength(1);
      expect(exit[0]!.time - asleep).toBeLessThan(100);
      // The pass on the way out (the task may make it before the tracer's control call has
      // returned): report_quiesce with event 0, logged as QUIESCE(0), before its next syscall.
      expect(quiesced[0]).toBe(0);
      const pass = eventsOf(k.log.slice(before), 'utrace/report', (ev) => ev.pid === pid && ev.event === 'QUIESCE(0)');
      expect(pass.length).toBeGreaterThan(0);
      const next = eventsOf(k, 'syscall/enter', (ev) => ev.pid === pid && ev.name === 'getpid');
      expect(pass[0]!.seq).toBeLessThan(next[0]!.seq);
    }
  });
});
