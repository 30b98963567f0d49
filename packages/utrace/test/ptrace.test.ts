import { describe, expect, test } from 'vitest';
import { EEXIST, SIGUSR1, type Kernel } from '@tracelab/core';
import {
  ptraceAttach,
  ptraceCont,
  ptraceDetach,
  UTRACE_EVENT_SIGNAL_ALL,
  UTRACE_RESUME,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_HOLD,
  UTRACE_SIGNAL_IGN,
  type PtraceData,
  type UtraceEngine,
  utrace,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call } from './helpers.js';

/** A tracee that makes syscalls for a while (signals are delivered on the way out of them), and a sender. */
function setup(seed: number): { k: Kernel; tracee: number } {
  const k = kernelWith({ plugins: [utrace()], seed });
  const tracee = k.spawn(
    function* tracee(u) {
      for (let i = 0; i < 30; i++) {
        yield u.syscall('getpid');
        yield u.sleep(1);
      }
    },
    { comm: 'tracee' },
  );
  k.spawn(
    function* sender(u) {
      yield u.sleep(6);
      yield u.kill(tracee, SIGUSR1);
    },
    { comm: 'sender' },
  );
  return { k, tracee };
}

describe('the ptrace-like engine', () => {
  test('exclusive attach; a signal stops the tracee; PTRACE_CONT without the signal lets it run on', () => {
    const { k, tracee } = setup(1);
    const u = k.api.utrace;
    const e = call(k, ptraceAttach(u, tracee)) as UtraceEngine<PtraceData>;
    expect(call(k, ptraceAttach(u, tracee))).toBe(-EEXIST);
    expect(call(k, u.waitForStop(tracee))).toBe(0);
    expect(e.data.stopSig).toBe(SIGUSR1);
    expect(typeof call(k, u.prepareExamine(tracee, e))).toBe('object');
    expect(call(k, ptraceCont(u, tracee, e, 0))).toBe(0);
    expect(call(k, ptraceDetach(u, tracee, e))).toBe(0);
    const r = k.run();
    expectClean(k, r);
    expect(eventsOf(k, 'signal/deliver').find((d) => d.pid === tracee)!.action).toBe('ignore');
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(0);
  });

  test('PTRACE_CONT with the signal delivers it: the tracee dies of SIGUSR1', () => {
    const { k, tracee } = setup(2);
    const u = k.api.utrace;
    const e = call(k, ptraceAttach(u, tracee)) as UtraceEngine<PtraceData>;
    expect(call(k, u.waitForStop(tracee))).toBe(0);
    expect(call(k, ptraceCont(u, tracee, e, SIGUSR1))).toBe(0);
    const r = k.run();
    expectClean(k, r);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(128 + SIGUSR1);
    expect(eventsOf(k, 'utrace/ptrace-stop').length).toBe(1);
  });
});

describe('UTRACE_SIGNAL_HOLD (SEMANTICS §3: signal action flag HOLD 0x100, requeue the signal)', () => {
  test('a held signal stays queued, undelivered, and is reported again at the next return to user mode, where the engine lets it through', () => {
    const { k, tracee } = setup(3);
    const u = k.api.utrace;
    // Holds the first two reports (ignoring, with the HOLD flag), delivers on the third.
    const reports: Array<{ pending: boolean; syscalls: number }> = [];
    const syscallsOf = (): number => eventsOf(k, 'syscall/exit', (e) => e.pid === tracee).length;
    const ops = {
      name: 'holder',
      // eslint-disable-next-line require-yield -- a callback is a kernel path even when it takes no scheduling point
      *reportSignal(_action: number, _e: unknown, _regs: unknown, info: { signo: number }) {
        reports.push({ pending: true, syscalls: syscallsOf() });
        expect(info.signo).toBe(SIGUSR1);
        return reports.length <= 2 ? UTRACE_RESUME | UTRACE_SIGNAL_IGN | UTRACE_SIGNAL_HOLD : UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
      },
    };
    call(k, attachWith(u, tracee, ops, UTRACE_EVENT_SIGNAL_ALL));
    expectClean(k, k.run());
    expect(reports).toHaveLength(3);
    // Each report came at a later return to user mode: more syscalls had ended in between.
    expect(reports[1]!.syscalls).toBeGreaterThan(reports[0]!.syscalls);
    expect(reports[2]!.syscalls).toBeGreaterThan(reports[1]!.syscalls);
    // Delivered once, with the default action (SIGUSR1 terminates), after the two holds.
    expect(eventsOf(k, 'signal/deliver').filter((d) => d.pid === tracee)).toEqual([expect.objectContaining({ sig: SIGUSR1, action: 'terminate' })]);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(128 + SIGUSR1);
  });
});
