/**
 * SEMANTICS.md 3, utrace_resume / UTRACE_INTERRUPT: control(UTRACE_INTERRUPT) with no signal
 * pending. It wakes an interruptible sleep and sets TIF_SIGPENDING, as signal_wake_up does; the
 * task takes the signal path on its way back to user mode with nothing queued, and
 * utrace_get_signal reports there: report_signal with UTRACE_SIGNAL_REPORT and no signal (or
 * report_quiesce(event 0) for an engine without report_signal).
 */
import { describe, expect, test } from 'vitest';
import { getState, intMapGet, TIF_SIGPENDING, type Kernel } from '@tracelab/core';
import {
  UTRACE_EVENT_QUIESCE,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_REPORT,
  UTRACE_STOP,
  utrace,
  utraceResumeAction,
  utraceSignalAction,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call } from './helpers.js';

/** A task asleep for 200 ticks, then one getpid; the kernel stopped while it sleeps. */
function napper(seed: number): { k: Kernel; pid: number } {
  const k = kernelWith({ plugins: [utrace()], seed });
  const pid = k.spawn(function* napper(u) {
    yield u.sleep(200);
    yield u.syscall('getpid');
  });
  return { k, pid };
}

const asleep = (k: Kernel, pid: number): void => {
  k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
};

describe('SEMANTICS.md 3: control(UTRACE_INTERRUPT) on a sleeping task, no signal pending', () => {
  test('the sleep ends early, and report_signal runs with UTRACE_SIGNAL_REPORT, no signal and no original sigaction, before the task returns to user mode', () => {
    for (const seed of [1, 2, 3, 4]) {
      const { k, pid } = napper(seed);
      const reports: Array<{ action: number; signo: number; origKa: unknown; sigpending: boolean }> = [];
      const ops: UtraceEngineOps<unknown> = {
        name: 'interrupter',
        *reportSignal(action, _engine, _regs, info, origKa) {
          const s = yield* getState();
          reports.push({ action, signo: info.signo, origKa, sigpending: intMapGet(s.tasks, pid)?.flags[TIF_SIGPENDING] === true });
          return UTRACE_RESUME | UTRACE_SIGNAL_IGN;
        },
      };
      const u = k.api.utrace;
      const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_QUIESCE));
      asleep(k, pid);
      const slept = k.state.clock.now;
      expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(0);
      expectClean(k, k.run());
      // Woken long before its 200 ticks: the nanosleep returned early.
      const exit = eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'nanosleep');
      expect(exit).toHaveLength(1);
      expect(exit[0]!.time - slept).toBeLessThan(100);
      // One report: the UTRACE_SIGNAL_REPORT pass, no signal, TIF_SIGPENDING already taken.
      expect(reports).toHaveLength(1);
      expect(utraceSignalAction(reports[0]!.action)).toBe(UTRACE_SIGNAL_REPORT);
      expect(utraceResumeAction(reports[0]!.action)).toBe(UTRACE_RESUME);
      expect(reports[0]).toMatchObject({ signo: 0, origKa: null, sigpending: false });
      // In the signal path on the way out of the nanosleep, before it returned to user mode.
      const pass = eventsOf(k, 'utrace/report', (ev) => ev.pid === pid && ev.event === 'SIGNAL_REPORT(0)');
      expect(pass).toHaveLength(1);
      expect(pass[0]!.seq).toBeLessThan(exit[0]!.seq);
      // Nothing is delivered; the INTERRUPT is consumed.
      expect(eventsOf(k, 'signal/deliver')).toHaveLength(0);
      expect(u.taskState(pid)?.resume ?? UTRACE_RESUME).toBe(UTRACE_RESUME);
    }
  });

  test('an engine without report_signal gets report_quiesce(event 0) in that pass', () => {
    for (const seed of [1, 2]) {
      const { k, pid } = napper(seed);
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
      asleep(k, pid);
      quiesced.length = 0;
      expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(0);
      expectClean(k, k.run());
      expect(quiesced[0]).toBe(0);
      const pass = eventsOf(k, 'utrace/report', (ev) => ev.pid === pid && ev.event === 'SIGNAL_REPORT(0)');
      expect(pass).toHaveLength(1);
      const exit = eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'nanosleep');
      expect(pass[0]!.seq).toBeLessThan(exit[0]!.seq);
    }
  });

  test('UTRACE_STOP from that report_signal stops the task there: the nanosleep returns to user mode only after the engine resumes it', () => {
    const { k, pid } = napper(3);
    let stopped = false;
    const ops: UtraceEngineOps<unknown> = {
      name: 'interrupter',
      reportSignal(action) {
        if (utraceSignalAction(action) !== UTRACE_SIGNAL_REPORT || stopped) return UTRACE_RESUME | UTRACE_SIGNAL_IGN;
        stopped = true;
        return UTRACE_STOP | UTRACE_SIGNAL_IGN;
      },
    };
    const u = k.api.utrace;
    const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_QUIESCE)) as UtraceEngine;
    asleep(k, pid);
    expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(0);
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(stopped).toBe(true);
    expect(eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'nanosleep')).toHaveLength(0);
    expect(call(k, u.control(pid, e, UTRACE_RESUME))).toBe(0);
    expectClean(k, k.run());
    const resumed = eventsOf(k, 'utrace/woken', (ev) => ev.pid === pid);
    const exit = eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'nanosleep');
    expect(exit).toHaveLength(1);
    expect(resumed[0]!.seq).toBeLessThan(exit[0]!.seq);
  });
});

describe("utrace_resume's report_quiesce(0) pass returning UTRACE_INTERRUPT", () => {
  test('the INTERRUPT is kept (finish_resume_report): TIF_SIGPENDING is set after the QUIESCE(0) pass, so the task takes the signal path', () => {
    for (const seed of [1, 2]) {
      const { k, pid } = napper(seed);
      let interrupts = 1;
      const ops: UtraceEngineOps<unknown> = {
        name: 'quiesce-interrupt',
        reportQuiesce(_action, _engine, event) {
          return event === 0 && interrupts-- > 0 ? UTRACE_INTERRUPT : UTRACE_RESUME;
        },
      };
      const u = k.api.utrace;
      const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_QUIESCE)) as UtraceEngine;
      asleep(k, pid);
      expect(call(k, u.control(pid, e, UTRACE_REPORT))).toBe(0);
      expectClean(k, k.run());
      const pass = eventsOf(k, 'utrace/report', (ev) => ev.pid === pid && ev.event === 'QUIESCE(0)');
      expect(pass).toMatchObject([{ action: UTRACE_INTERRUPT }]);
      const forced = eventsOf(k, 'task/flags', (ev) => ev.pid === pid && ev.set.includes(TIF_SIGPENDING) && ev.seq > pass[0]!.seq);
      expect(forced).toHaveLength(1);
    }
  });
});
