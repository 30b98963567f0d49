/**
 * The reporting pass of utrace_get_signal for a real signal (SEMANTICS.md 3; docs/utrace.md,
 * "The signal pass"). Upstream's signal pass is not the generic REPORT_CALLBACKS pass: an engine
 * that wants the signal's event or QUIESCE gets exactly one callback, its report_signal if its
 * ops have one, else report_quiesce(aggregate, event) (whose return is or'd with the signal
 * action); a REPORT or INTERRUPT returned there counts as RESUME. After the pass a signal that
 * acts acts at once (a STOP becomes a pending REPORT), under the number `info` names. utrace_get_signal steals no signal unless
 * some engine wants a signal event (utrace_flags & UTRACE_EVENT_SIGNAL_ALL), and makes no pass
 * unless some engine wants the signal's event or QUIESCE. return_ka starts as the signal's real
 * k_sigaction (SIG_DFL: the core has no handlers), and the UTRACE_SIGNAL_REPORT pass after a stop
 * starts from a zeroed one.
 */
import { describe, expect, test } from 'vitest';
import { SIGCHLD, SIGTERM, SIGUSR1, type Kernel } from '@tracelab/core';
import {
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SIGNAL_ALL,
  UTRACE_EVENT_SIGNAL_IGN,
  UTRACE_EVENT_SIGNAL_STOP,
  UTRACE_EVENT_SIGNAL_TERM,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_HOLD,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_REPORT,
  UTRACE_SIGNAL_TERM,
  UTRACE_STOP,
  utrace,
  utraceSignalAction,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call } from './helpers.js';

/**
 * A tracee that sleeps first (the engines attach meanwhile), then makes syscalls for a while
 * (signals are taken on the way out of them), and a sender of `sigs`, 10 ticks apart from tick 20.
 */
function setup(seed: number, sigs: readonly number[]): { k: Kernel; tracee: number } {
  const k = kernelWith({ plugins: [utrace()], seed });
  const tracee = k.spawn(
    function* tracee(u) {
      yield u.sleep(10);
      for (let i = 0; i < 40; i++) {
        yield u.syscall('getpid');
        yield u.sleep(1);
      }
    },
    { comm: 'tracee' },
  );
  k.spawn(
    function* sender(u) {
      yield u.sleep(10);
      for (const sig of sigs) {
        yield u.sleep(10);
        yield u.kill(tracee, sig);
      }
    },
    { comm: 'sender' },
  );
  return { k, tracee };
}

/** Ops that record every report_signal (`signal(signo)`) and report_quiesce (`quiesce(event)`); `withSignal` false: no report_signal. */
function recording(calls: string[], withSignal: boolean, quiesceRet = UTRACE_RESUME, signalRet = UTRACE_RESUME | UTRACE_SIGNAL_IGN): UtraceEngineOps<unknown> {
  const ops: UtraceEngineOps<unknown> = {
    name: 'recording',
    reportQuiesce(action, _engine, event) {
      calls.push(`quiesce(${event}) action ${action}`);
      return quiesceRet;
    },
  };
  if (withSignal) {
    ops.reportSignal = (action, _engine, _regs, info, origKa) => {
      calls.push(
        `signal(${info.signo}) ${utraceSignalAction(action) === UTRACE_SIGNAL_TERM ? 'TERM' : utraceSignalAction(action)} ka ${origKa === null ? 'null' : 'set'}`,
      );
      return signalRet;
    };
  }
  return ops;
}

/** The calls, less the death pass's report_quiesce (DEATH events include QUIESCE). */
const beforeDeath = (calls: readonly string[]): string[] => calls.filter((c) => !c.startsWith(`quiesce(${UTRACE_EVENT_DEATH})`));

const exitCode = (k: Kernel, pid: number): number | undefined => eventsOf(k, 'task/exit').find((x) => x.pid === pid)?.code;

describe('the signal pass: one callback per engine that wants the event or QUIESCE', () => {
  test('an engine wanting the signal events and QUIESCE gets report_signal alone, once per signal (no report_quiesce before it)', () => {
    for (const seed of [1, 2, 3]) {
      const { k, tracee } = setup(seed, [SIGUSR1, SIGUSR1]);
      const calls: string[] = [];
      call(k, attachWith(k.api.utrace, tracee, recording(calls, true), UTRACE_EVENT_SIGNAL_ALL | UTRACE_EVENT_QUIESCE));
      expectClean(k, k.run());
      expect(beforeDeath(calls)).toEqual(['signal(10) TERM ka set', 'signal(10) TERM ka set']);
      // Both ignored by the engine: the tracee runs to its end.
      expect(exitCode(k, tracee)).toBe(0);
      expect(eventsOf(k, 'utrace/report', (ev) => ev.pid === tracee && ev.event === 'SIGNAL')).toHaveLength(2);
    }
  });

  test("an engine wanting QUIESCE but not the signal's event gets report_signal when it has one (another engine's signal bit lets utrace steal the signal)", () => {
    for (const seed of [1, 2]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const calls: string[] = [];
      const other: string[] = [];
      const u = k.api.utrace;
      call(
        k,
        (function* attach() {
          yield* attachWith(u, tracee, recording(calls, true), UTRACE_EVENT_QUIESCE);
          // Wants stop signals only: not SIGUSR1's SIGNAL_TERM, so it gets nothing here.
          yield* attachWith(u, tracee, recording(other, true), UTRACE_EVENT_SIGNAL_STOP);
        })(),
      );
      expectClean(k, k.run());
      expect(beforeDeath(calls)).toEqual(['signal(10) TERM ka set']);
      expect(other).toEqual([]);
      expect(exitCode(k, tracee)).toBe(0);
    }
  });

  test("one without report_signal gets report_quiesce(aggregate, the signal's event) once; its REPORT counts as RESUME, and the signal keeps its action", () => {
    for (const seed of [1, 2]) {
      // SIGCHLD: ignored by default (SIGNAL_IGN), so the tracee lives on to show what the REPORT did.
      const { k, tracee } = setup(seed, [SIGCHLD]);
      const calls: string[] = [];
      const u = k.api.utrace;
      call(
        k,
        (function* attach() {
          yield* attachWith(u, tracee, recording(calls, false, UTRACE_REPORT), UTRACE_EVENT_QUIESCE);
          yield* attachWith(u, tracee, recording([], true), UTRACE_EVENT_SIGNAL_STOP);
        })(),
      );
      const r = k.run();
      // One call, and no report_quiesce(0) pass after it: the REPORT was tamed to RESUME.
      expect(beforeDeath(calls)).toEqual([`quiesce(${UTRACE_EVENT_SIGNAL_IGN}) action ${UTRACE_RESUME}`]);
      expectClean(k, r);
      expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGCHLD, action: 'ignore' }]);
      expect(exitCode(k, tracee)).toBe(0);
    }
  });

  test("with a report_quiesce only engine on a fatal signal, the signal keeps its TERM action: the next engine's report_signal gets SIGNAL_TERM", () => {
    for (const seed of [4, 5]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const calls: string[] = [];
      const later: string[] = [];
      const u = k.api.utrace;
      call(
        k,
        (function* attach() {
          yield* attachWith(u, tracee, recording(calls, false), UTRACE_EVENT_QUIESCE | UTRACE_EVENT_SIGNAL_TERM);
          // Attached after it: its action argument is what the report_quiesce left.
          yield* attachWith(u, tracee, recording(later, true, UTRACE_RESUME, UTRACE_RESUME | UTRACE_SIGNAL_TERM), UTRACE_EVENT_SIGNAL_TERM);
        })(),
      );
      expectClean(k, k.run());
      expect(beforeDeath(calls)).toEqual([`quiesce(${UTRACE_EVENT_SIGNAL_TERM}) action ${UTRACE_RESUME}`]);
      expect(later).toEqual(['signal(10) TERM ka set']);
      expect(exitCode(k, tracee)).toBe(128 + SIGUSR1);
    }
  });

  test("report_quiesce's return is or'd with the signal action: a HOLD it returns holds the signal, and a HOLD before it survives", () => {
    for (const seed of [1, 2]) {
      // SIGCHLD (SIGNAL_IGN): held once, taken again, then ignored; the tracee lives.
      const { k, tracee } = setup(seed, [SIGCHLD]);
      const calls: string[] = [];
      let holds = 1;
      const ops: UtraceEngineOps<unknown> = {
        name: 'quiesce-hold',
        reportQuiesce(action, _engine, event) {
          calls.push(`quiesce(${event})`);
          return event === UTRACE_EVENT_SIGNAL_IGN && holds-- > 0 ? UTRACE_RESUME | UTRACE_SIGNAL_HOLD : UTRACE_RESUME;
        },
      };
      call(k, attachWith(k.api.utrace, tracee, ops, UTRACE_EVENT_QUIESCE | UTRACE_EVENT_SIGNAL_IGN));
      expectClean(k, k.run());
      // Two passes: the HOLD kept SIGCHLD queued, and the core took it again.
      expect(beforeDeath(calls)).toEqual([`quiesce(${UTRACE_EVENT_SIGNAL_IGN})`, `quiesce(${UTRACE_EVENT_SIGNAL_IGN})`]);
      expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGCHLD, action: 'ignore' }]);
      expect(exitCode(k, tracee)).toBe(0);
    }
    for (const seed of [1, 2]) {
      // A report_signal's HOLD, then a report_quiesce only engine returning plain RESUME: still held.
      const { k, tracee } = setup(seed, [SIGCHLD]);
      const seen: number[] = [];
      let holds = 1;
      const holder: UtraceEngineOps<unknown> = {
        name: 'signal-hold',
        reportSignal(_action, _engine, _regs, info) {
          seen.push(info.signo);
          return UTRACE_RESUME | UTRACE_SIGNAL_IGN | (holds-- > 0 ? UTRACE_SIGNAL_HOLD : 0);
        },
      };
      const u = k.api.utrace;
      call(
        k,
        (function* attach() {
          yield* attachWith(u, tracee, holder, UTRACE_EVENT_SIGNAL_IGN);
          yield* attachWith(u, tracee, recording([], false), UTRACE_EVENT_QUIESCE);
        })(),
      );
      expectClean(k, k.run());
      expect(seen).toEqual([SIGCHLD, SIGCHLD]);
      expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGCHLD, action: 'ignore' }]);
    }
  });
});

describe('a STOP on a signal that acts: finish_report (a pending REPORT), and the signal acts at once', () => {
  const stopThen = (signalAction: number): UtraceEngineOps<unknown> => ({
    name: 'stop-and-act',
    reportSignal: () => UTRACE_STOP | signalAction,
  });

  test('STOP|SIGNAL_TERM or STOP|DELIVER for SIGUSR1: the tracee dies of it at once, never stopped; the STOP is left as a pending REPORT', () => {
    for (const signalAction of [UTRACE_SIGNAL_TERM, UTRACE_SIGNAL_DELIVER]) {
      for (const seed of [1, 2, 3]) {
        const { k, tracee } = setup(seed, [SIGUSR1]);
        call(k, attachWith(k.api.utrace, tracee, stopThen(signalAction), UTRACE_EVENT_SIGNAL_ALL));
        expectClean(k, k.run());
        expect(eventsOf(k, 'utrace/stopped', (ev) => ev.pid === tracee)).toHaveLength(0);
        const report = eventsOf(k, 'utrace/report', (ev) => ev.pid === tracee && ev.event === 'SIGNAL');
        expect(report).toMatchObject([{ action: UTRACE_STOP }]);
        // finish_report(will_not_stop): utrace->resume = REPORT, right after the pass.
        const pending = eventsOf(k, 'utrace/resume', (ev) => ev.pid === tracee && ev.seq > report[0]!.seq);
        expect(pending[0]).toMatchObject({ resume: UTRACE_REPORT });
        expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGUSR1, action: 'terminate' }]);
        expect(exitCode(k, tracee)).toBe(128 + SIGUSR1);
      }
    }
  });

  test('a report_quiesce only engine returning STOP on a fatal signal: the tracee dies at once, never stopped', () => {
    for (const seed of [1, 2]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      call(k, attachWith(k.api.utrace, tracee, recording([], false, UTRACE_STOP), UTRACE_EVENT_QUIESCE | UTRACE_EVENT_SIGNAL_TERM));
      expectClean(k, k.run());
      expect(eventsOf(k, 'utrace/stopped', (ev) => ev.pid === tracee)).toHaveLength(0);
      expect(exitCode(k, tracee)).toBe(128 + SIGUSR1);
    }
  });
});

describe('the signal acted on is the one info names, not the stolen one', () => {
  test("stolen SIGUSR1, an engine writes SIGTERM into info with DELIVER: SIGTERM's default, exit status 143; SIGUSR1 leaves the queue", () => {
    for (const seed of [1, 2, 3]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const ops: UtraceEngineOps<unknown> = {
        name: 'to-sigterm',
        reportSignal(_action, _engine, _regs, info) {
          info.signo = SIGTERM;
          return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
        },
      };
      call(k, attachWith(k.api.utrace, tracee, ops, UTRACE_EVENT_SIGNAL_ALL));
      expectClean(k, k.run());
      expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGTERM, action: 'terminate', dequeued: SIGUSR1 }]);
      expect(exitCode(k, tracee)).toBe(128 + SIGTERM);
    }
  });

  test('SIGNAL_TERM with SIGTERM written into info: the representative signal acts, reported as si_signo (143)', () => {
    const { k, tracee } = setup(1, [SIGUSR1]);
    const ops: UtraceEngineOps<unknown> = {
      name: 'term-as-sigterm',
      reportSignal(_action, _engine, _regs, info) {
        info.signo = SIGTERM;
        return UTRACE_RESUME | UTRACE_SIGNAL_TERM;
      },
    };
    call(k, attachWith(k.api.utrace, tracee, ops, UTRACE_EVENT_SIGNAL_ALL));
    expectClean(k, k.run());
    expect(exitCode(k, tracee)).toBe(128 + SIGTERM);
  });

  test('a stop in report_signal, then (PTRACE_CONT with another signal) SIGTERM written in the UTRACE_SIGNAL_REPORT pass: exit status 143', () => {
    for (const seed of [1, 2, 3]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const ops: UtraceEngineOps<unknown> = {
        name: 'stop-then-sigterm',
        reportSignal(action, _engine, _regs, info) {
          if (utraceSignalAction(action) !== UTRACE_SIGNAL_REPORT) return UTRACE_STOP | UTRACE_SIGNAL_IGN;
          info.signo = SIGTERM;
          return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
        },
      };
      const u = k.api.utrace;
      const e = call(k, attachWith(u, tracee, ops, UTRACE_EVENT_SIGNAL_ALL | UTRACE_EVENT_QUIESCE)) as UtraceEngine;
      expect(call(k, u.waitForStop(tracee))).toBe(0);
      expect(call(k, u.control(tracee, e, UTRACE_INTERRUPT))).toBe(0);
      expectClean(k, k.run());
      expect(eventsOf(k, 'signal/deliver', (ev) => ev.pid === tracee)).toMatchObject([{ sig: SIGTERM, action: 'terminate', dequeued: SIGUSR1 }]);
      expect(exitCode(k, tracee)).toBe(128 + SIGTERM);
    }
  });
});

describe('the short-circuits before the signal pass', () => {
  // A regression test: the generic pass before the merge passed it too.
  test('no engine wants any signal event: utrace_get_signal steals nothing, even with a QUIESCE engine (no callback, no pass)', () => {
    for (const seed of [1, 2]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const calls: string[] = [];
      call(k, attachWith(k.api.utrace, tracee, recording(calls, true), UTRACE_EVENT_QUIESCE));
      expectClean(k, k.run());
      expect(beforeDeath(calls)).toEqual([]);
      expect(eventsOf(k, 'utrace/report', (ev) => ev.pid === tracee && ev.event.startsWith('SIGNAL'))).toHaveLength(0);
      expect(exitCode(k, tracee)).toBe(128 + SIGUSR1);
    }
  });

  test("no engine wants the signal's event or QUIESCE: no pass, the signal's default action", () => {
    const { k, tracee } = setup(1, [SIGUSR1]);
    const calls: string[] = [];
    call(k, attachWith(k.api.utrace, tracee, recording(calls, true), UTRACE_EVENT_SIGNAL_STOP | UTRACE_EVENT_SIGNAL_IGN));
    expectClean(k, k.run());
    expect(calls).toEqual([]);
    expect(eventsOf(k, 'utrace/report', (ev) => ev.pid === tracee && ev.event.startsWith('SIGNAL'))).toHaveLength(0);
    expect(exitCode(k, tracee)).toBe(128 + SIGUSR1);
  });
});

describe('return_ka: the real k_sigaction (SIG_DFL here), and a zeroed one in the UTRACE_SIGNAL_REPORT pass', () => {
  test("DELIVER of another signal written into info, return_ka untouched: that signal's default (SIGCHLD: ignored), not the stolen one's", () => {
    for (const seed of [1, 2]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const seen: string[] = [];
      const ops: UtraceEngineOps<unknown> = {
        name: 'redirect',
        reportSignal(_action, _engine, _regs, info, origKa, returnKa) {
          seen.push(`${origKa?.handler ?? 'null'}/${returnKa.handler}`);
          info.signo = SIGCHLD;
          return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
        },
      };
      call(k, attachWith(k.api.utrace, tracee, ops, UTRACE_EVENT_SIGNAL_ALL));
      expectClean(k, k.run());
      expect(seen).toEqual(['default/default']);
      expect(exitCode(k, tracee)).toBe(0);
    }
  });

  test('the pass after a stop in report_signal starts from a zeroed return_ka: what the first pass wrote there is gone', () => {
    for (const seed of [1, 2, 3]) {
      const { k, tracee } = setup(seed, [SIGUSR1]);
      const seen: string[] = [];
      const ops: UtraceEngineOps<unknown> = {
        name: 'stop-then-redirect',
        reportSignal(action, _engine, _regs, info, origKa, returnKa) {
          seen.push(
            `${utraceSignalAction(action) === UTRACE_SIGNAL_REPORT ? 'REPORT' : 'signal'} ${info.signo} ${origKa?.handler ?? 'null'}/${returnKa.handler}`,
          );
          if (utraceSignalAction(action) !== UTRACE_SIGNAL_REPORT) {
            returnKa.handler = 'terminate';
            return UTRACE_STOP | UTRACE_SIGNAL_IGN;
          }
          info.signo = SIGCHLD;
          return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
        },
      };
      const u = k.api.utrace;
      const e = call(k, attachWith(u, tracee, ops, UTRACE_EVENT_SIGNAL_ALL | UTRACE_EVENT_QUIESCE)) as UtraceEngine;
      expect(call(k, u.waitForStop(tracee))).toBe(0);
      expect(call(k, u.control(tracee, e, UTRACE_INTERRUPT))).toBe(0);
      expectClean(k, k.run());
      // The second pass: the same info (the stolen SIGUSR1), no original sigaction, SIG_DFL.
      expect(seen).toEqual(['signal 10 default/default', 'REPORT 10 null/default']);
      // SIGCHLD under SIG_DFL is ignored: the tracee lives.
      expect(exitCode(k, tracee)).toBe(0);
    }
  });
});
