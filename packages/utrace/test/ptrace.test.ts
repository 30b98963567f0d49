import { describe, expect, test } from 'vitest';
import { EEXIST, SIGKILL, SIGUSR1, type Kernel } from '@tracelab/core';
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

/** Syscall exits of `pid` logged between log positions `from` and `to`. */
function syscallExitsBetween(k: Kernel, pid: number, from: number, to: number): number {
  return k.log.slice(from, to).filter((e) => e.type === 'syscall/exit' && e.pid === pid).length;
}

describe('UTRACE_SIGNAL_HOLD (SEMANTICS §3: signal action flag HOLD 0x100, requeue the signal)', () => {
  /** An engine that holds the signal (ignoring it, with the HOLD flag) while `hold(n)` says so for its n-th report, and lets it through after. */
  function holder(reports: number[], k: Kernel, hold: (n: number) => boolean) {
    return {
      name: 'holder',
      // eslint-disable-next-line require-yield -- a callback is a kernel path even when it takes no scheduling point
      *reportSignal(_action: number, _e: unknown, _regs: unknown, info: { signo: number }) {
        reports.push(k.log.length);
        expect(info.signo).toBe(SIGUSR1);
        return hold(reports.length) ? UTRACE_RESUME | UTRACE_SIGNAL_IGN | UTRACE_SIGNAL_HOLD : UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
      },
    };
  }

  test('a held signal stays queued and the signal path takes it again at once: reported again before the task returns to user mode, until the engine lets it through', () => {
    const { k, tracee } = setup(3);
    const u = k.api.utrace;
    const reports: number[] = [];
    call(
      k,
      attachWith(
        u,
        tracee,
        holder(reports, k, (n) => n <= 2),
        UTRACE_EVENT_SIGNAL_ALL,
      ),
    );
    expectClean(k, k.run());
    expect(reports).toHaveLength(3);
    // All three in one exit to user mode (get_signal's loop): no syscall of the tracee ended in between.
    expect(syscallExitsBetween(k, tracee, reports[0]!, reports[2]!)).toBe(0);
    // Delivered once, with the default action (SIGUSR1 terminates), after the two holds.
    expect(eventsOf(k, 'signal/deliver').filter((d) => d.pid === tracee)).toEqual([expect.objectContaining({ sig: SIGUSR1, action: 'terminate' })]);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(128 + SIGUSR1);
  });

  test('an engine that holds without ever stopping keeps the task in that loop (it never returns to user mode, other tasks run on); SIGKILL, never reported, ends it', () => {
    const { k, tracee } = setup(4);
    const u = k.api.utrace;
    const reports: number[] = [];
    call(
      k,
      attachWith(
        u,
        tracee,
        holder(reports, k, () => true),
        UTRACE_EVENT_SIGNAL_ALL,
      ),
    );
    const other = k.spawn(function* other(u2) {
      for (let i = 0; i < 40; i++) yield u2.syscall('getpid');
    });
    const r = k.run({ maxSteps: 4000 });
    expect(r.violations).toEqual([]);
    expect(eventsOf(k, 'kernel/oops')).toHaveLength(0);
    // The livelock is real: report after report, all in the same exit to user mode...
    expect(reports.length).toBeGreaterThan(100);
    expect(syscallExitsBetween(k, tracee, reports[0]!, k.log.length)).toBe(0);
    // ...and preemptible: the other task finished all its syscalls meanwhile.
    expect(eventsOf(k, 'syscall/exit', (e) => e.pid === other).length).toBe(40);
    const n = reports.length;
    k.spawn(function* killer(u2) {
      yield u2.kill(tracee, SIGKILL);
    });
    const r2 = k.run({ maxSteps: 4000 });
    expect(r2.violations).toEqual([]);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(128 + SIGKILL);
    // SIGKILL is taken before the held signal and never reported to the engine.
    expect(reports.length - n).toBeLessThan(5);
    expect(eventsOf(k, 'signal/deliver').filter((d) => d.pid === tracee)).toEqual([expect.objectContaining({ sig: SIGKILL, action: 'terminate' })]);
  });
});
