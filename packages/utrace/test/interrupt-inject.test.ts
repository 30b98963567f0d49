/**
 * SEMANTICS.md 3, utrace_get_signal's no-signal pass (UTRACE_INTERRUPT with nothing queued):
 * what the engines' signal action and `info` decide there. Upstream, after the
 * UTRACE_SIGNAL_REPORT pass utrace_get_signal acts on the last signal action: TERM, CORE, STOP
 * and TSTP through a representative signal (SIGTERM, SIGQUIT, SIGSTOP, SIGTSTP) whose default
 * action does it, reported as `info->si_signo` (0 when no engine wrote one: the stand-in);
 * DELIVER delivers `info->si_signo` (its default action with the zeroed return_ka, or the
 * handler an engine put there), and nothing when si_signo is 0 or the signal is ignored;
 * IGN/REPORT deliver nothing; HOLD pushes `info` back into the queue. `info` and the action are
 * shared by the whole pass, so a later engine sees what an earlier one left.
 */
import { describe, expect, test } from 'vitest';
import { SIGCONT, SIGSTOP, SIGTRAP, SIGUSR1, intMapGet, type Kernel, type Program } from '@tracelab/core';
import {
  CLD_STOPPED,
  UTRACE_EVENT_JCTL,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SIGNAL_ALL,
  UTRACE_INTERRUPT,
  UTRACE_RESUME,
  UTRACE_SIGNAL_CORE,
  UTRACE_SIGNAL_DELIVER,
  UTRACE_SIGNAL_HOLD,
  UTRACE_SIGNAL_IGN,
  UTRACE_SIGNAL_REPORT,
  UTRACE_SIGNAL_STOP,
  UTRACE_SIGNAL_TERM,
  UTRACE_SIGNAL_TSTP,
  UTRACE_STOP,
  ptraceAttach,
  ptraceCont,
  utrace,
  utraceSignalAction,
  type UtraceEngineOps,
  type UtraceSigAction,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call, sender } from './helpers.js';

const SIGUSR2 = 12;
const SIGCHLD = 17;
const SIGTSTP = 20;

/** Sleeps 200 ticks, makes one getpid, exits 0. */
const napper: Program = function* napper(u) {
  yield u.sleep(200);
  yield u.syscall('getpid');
  yield u.exit(0);
};

/** What one report_signal saw. */
interface Seen {
  readonly engine: string;
  readonly signal: number;
  readonly signo: number;
}

/**
 * An engine whose report_signal, in the no-signal pass, writes `signo` into `info` (unless
 * undefined), may set returnKa's handler, and returns `ret`; in a pass for a real signal (one with an original sigaction) it
 * returns UTRACE_SIGNAL_DELIVER (the signal's own disposition). Every call is recorded.
 */
function injector(
  name: string,
  seen: Seen[],
  ret: number | ((action: number) => number),
  signo?: number,
  handler?: UtraceSigAction['handler'],
): UtraceEngineOps<unknown> {
  return {
    name,
    reportSignal(action, _engine, _regs, info, origKa, returnKa) {
      seen.push({ engine: name, signal: utraceSignalAction(action), signo: info.signo });
      // A real signal's pass has its original sigaction; the no-signal pass has none.
      if (origKa !== null) return UTRACE_RESUME | UTRACE_SIGNAL_DELIVER;
      if (signo !== undefined) info.signo = signo;
      if (handler !== undefined) returnKa.handler = handler;
      return typeof ret === 'number' ? ret : ret(action);
    },
  };
}

/**
 * The napper asleep with the engines attached (QUIESCE, plus `extra` events), then
 * control(UTRACE_INTERRUPT) from the first engine: the task wakes and makes the no-signal pass.
 * Runs until idle or done.
 */
function interrupted(seed: number, engines: Array<UtraceEngineOps<unknown>>, extra = 0): { k: Kernel; pid: number } {
  const k = kernelWith({ plugins: [utrace()], seed });
  const pid = k.spawn(napper, { comm: 'napper' });
  const u = k.api.utrace;
  const attached = engines.map((ops) => call(k, attachWith(u, pid, ops, UTRACE_EVENT_QUIESCE | extra)));
  k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
  expect(call(k, u.control(pid, attached[0]!, UTRACE_INTERRUPT))).toBe(0);
  const r = k.run();
  expect(r.violations).toEqual([]);
  expect(eventsOf(k, 'kernel/oops')).toEqual([]);
  return { k, pid };
}

const exitCode = (k: Kernel, pid: number): number | undefined => eventsOf(k, 'task/exit', (ev) => ev.pid === pid)[0]?.code;
const getpids = (k: Kernel, pid: number): number => eventsOf(k, 'syscall/exit', (ev) => ev.pid === pid && ev.name === 'getpid').length;
const delivered = (k: Kernel, pid: number) => eventsOf(k, 'signal/deliver', (ev) => ev.pid === pid);
const queued = (k: Kernel, pid: number) => eventsOf(k, 'signal/generate', (ev) => ev.pid === pid);

describe("SEMANTICS.md 3: the no-signal pass after UTRACE_INTERRUPT acts on the engines' signal action", () => {
  test('DELIVER with info.signo set injects that signal: SIGUSR1 with SIG_DFL kills the task (128 + 10), never queued, never reported again', () => {
    for (const seed of [1, 2, 3]) {
      const seen: Seen[] = [];
      const { k, pid } = interrupted(seed, [injector('inj', seen, UTRACE_RESUME | UTRACE_SIGNAL_DELIVER, SIGUSR1)]);
      expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: SIGUSR1, action: 'terminate', injected: true })]);
      expect(exitCode(k, pid)).toBe(128 + SIGUSR1);
      expect(getpids(k, pid)).toBe(0);
      expect(queued(k, pid)).toEqual([]);
      expect(seen).toEqual([{ engine: 'inj', signal: UTRACE_SIGNAL_REPORT, signo: 0 }]);
    }
  });

  test('DELIVER of a stop signal with SIG_DFL is a job-control stop (report_jctl CLD_STOPPED); a SIGCONT ends it and the task goes on', () => {
    const seen: Seen[] = [];
    const jctl: number[] = [];
    const ops: UtraceEngineOps<unknown> = {
      ...injector('inj', seen, UTRACE_RESUME | UTRACE_SIGNAL_DELIVER, SIGTSTP),
      reportJctl(_action, _engine, type) {
        jctl.push(type);
        return UTRACE_RESUME;
      },
    };
    const { k, pid } = interrupted(1, [ops], UTRACE_EVENT_JCTL);
    expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: SIGTSTP, action: 'stop', injected: true })]);
    expect(intMapGet(k.state.tasks, pid)).toMatchObject({ state: 'stopped', waitingOn: `stopped:${pid}` });
    expect(jctl).toEqual([CLD_STOPPED]);
    k.spawn(sender(pid, SIGCONT), { comm: 'kill' });
    expectClean(k, k.run());
    expect(getpids(k, pid)).toBe(1);
    expect(exitCode(k, pid)).toBe(0);
  });

  test('DELIVER with a handler in returnKa: the handler\'s disposition, not the default (SIGUSR1 to a "stop" handler stops; to SIG_IGN nothing)', () => {
    const seen: Seen[] = [];
    const stopper = interrupted(2, [injector('inj', seen, UTRACE_RESUME | UTRACE_SIGNAL_DELIVER, SIGUSR1, 'stop')]);
    expect(delivered(stopper.k, stopper.pid)).toEqual([expect.objectContaining({ sig: SIGUSR1, action: 'stop', injected: true })]);
    expect(intMapGet(stopper.k.state.tasks, stopper.pid)?.state).toBe('stopped');
    const ignorer = interrupted(2, [injector('inj', seen, UTRACE_RESUME | UTRACE_SIGNAL_DELIVER, SIGUSR1, 'ignore')]);
    expect(delivered(ignorer.k, ignorer.pid)).toEqual([]);
    expect(exitCode(ignorer.k, ignorer.pid)).toBe(0);
  });

  test('DELIVER with no signal written (si_signo 0), or of a signal ignored by default (SIGCHLD), delivers nothing', () => {
    for (const signo of [undefined, SIGCHLD]) {
      const { k, pid } = interrupted(3, [injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_DELIVER, signo)]);
      expect(delivered(k, pid)).toEqual([]);
      expect(getpids(k, pid)).toBe(1);
      expect(exitCode(k, pid)).toBe(0);
    }
  });

  test('TERM kills through the representative SIGTERM, reported as si_signo: the stand-in 0 exits 128 + 0, a written SIGSTOP 128 + 19 (still a kill, not a stop)', () => {
    for (const [signo, code] of [
      [undefined, 128],
      [SIGSTOP, 128 + SIGSTOP],
    ] as const) {
      const { k, pid } = interrupted(1, [injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_TERM, signo)]);
      expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: signo ?? 0, action: 'terminate', injected: true })]);
      expect(exitCode(k, pid)).toBe(code);
      expect(getpids(k, pid)).toBe(0);
    }
  });

  test('CORE kills as a core signal does here (the core has no dump: terminate), with the stand-in 0 or the written signal', () => {
    for (const [signo, code] of [
      [undefined, 128],
      [SIGUSR2, 128 + SIGUSR2],
    ] as const) {
      const { k, pid } = interrupted(2, [injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_CORE, signo)]);
      expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: signo ?? 0, action: 'terminate', injected: true })]);
      expect(exitCode(k, pid)).toBe(code);
    }
  });

  test('STOP and TSTP with the stand-in (si_signo 0) are a job-control stop: TASK_STOPPED, not traced, report_jctl CLD_STOPPED; SIGCONT resumes it', () => {
    for (const sa of [UTRACE_SIGNAL_STOP, UTRACE_SIGNAL_TSTP]) {
      const jctl: number[] = [];
      const ops: UtraceEngineOps<unknown> = {
        ...injector('inj', [], UTRACE_RESUME | sa),
        reportJctl(_action, _engine, type) {
          jctl.push(type);
          return UTRACE_RESUME;
        },
      };
      const { k, pid } = interrupted(3, [ops], UTRACE_EVENT_JCTL);
      expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: 0, action: 'stop', injected: true })]);
      const t = intMapGet(k.state.tasks, pid);
      expect(t).toMatchObject({ state: 'stopped', waitingOn: `stopped:${pid}` });
      expect(t?.traced).toBeUndefined();
      expect(jctl).toEqual([CLD_STOPPED]);
      expect(getpids(k, pid)).toBe(0);
      k.spawn(sender(pid, SIGCONT), { comm: 'kill' });
      expectClean(k, k.run());
      expect(getpids(k, pid)).toBe(1);
      expect(exitCode(k, pid)).toBe(0);
    }
  });

  test('IGN (and REPORT) deliver nothing, even with a signal written into info', () => {
    for (const sa of [UTRACE_SIGNAL_IGN, UTRACE_SIGNAL_REPORT]) {
      const { k, pid } = interrupted(1, [injector('inj', [], UTRACE_RESUME | sa, SIGUSR1)]);
      expect(delivered(k, pid)).toEqual([]);
      expect(queued(k, pid)).toEqual([]);
      expect(getpids(k, pid)).toBe(1);
      expect(exitCode(k, pid)).toBe(0);
    }
  });

  test('UTRACE_STOP with IGN stops the task in the signal path (finish_resume_report); with TERM it dies (the STOP only becomes a pending REPORT)', () => {
    const ign = interrupted(2, [injector('inj', [], UTRACE_STOP | UTRACE_SIGNAL_IGN, SIGUSR1)]);
    expect(intMapGet(ign.k.state.tasks, ign.pid)).toMatchObject({ state: 'stopped', traced: true });
    expect(delivered(ign.k, ign.pid)).toEqual([]);
    const term = interrupted(2, [injector('inj', [], UTRACE_STOP | UTRACE_SIGNAL_TERM, SIGUSR1)]);
    expect(exitCode(term.k, term.pid)).toBe(128 + SIGUSR1);
  });

  test("a later engine sees the earlier one's action and info: it may keep them (the task dies) or override them (the last action wins)", () => {
    const keep: Seen[] = [];
    const passOn = interrupted(1, [
      injector('first', keep, UTRACE_RESUME | UTRACE_SIGNAL_TERM, SIGUSR1),
      injector('second', keep, (action) => UTRACE_RESUME | utraceSignalAction(action)),
    ]);
    expect(keep).toEqual([
      { engine: 'first', signal: UTRACE_SIGNAL_REPORT, signo: 0 },
      { engine: 'second', signal: UTRACE_SIGNAL_TERM, signo: SIGUSR1 },
    ]);
    expect(exitCode(passOn.k, passOn.pid)).toBe(128 + SIGUSR1);
    const over: Seen[] = [];
    const overridden = interrupted(1, [
      injector('first', over, UTRACE_RESUME | UTRACE_SIGNAL_TERM, SIGUSR1),
      injector('second', over, UTRACE_RESUME | UTRACE_SIGNAL_IGN),
    ]);
    expect(over[1]).toEqual({ engine: 'second', signal: UTRACE_SIGNAL_TERM, signo: SIGUSR1 });
    expect(delivered(overridden.k, overridden.pid)).toEqual([]);
    expect(exitCode(overridden.k, overridden.pid)).toBe(0);
  });

  test('HOLD pushes a written signal back into the queue (then reported as a real signal); with si_signo 0 it queues nothing', () => {
    const seen: Seen[] = [];
    const { k, pid } = interrupted(2, [injector('inj', seen, UTRACE_RESUME | UTRACE_SIGNAL_IGN | UTRACE_SIGNAL_HOLD, SIGUSR1)], UTRACE_EVENT_SIGNAL_ALL);
    expect(queued(k, pid)).toEqual([expect.objectContaining({ sig: SIGUSR1, from: pid })]);
    // Taken at once by the signal path, reported to the engine with the signal, delivered (default: kill).
    expect(seen.map((x) => [x.signal, x.signo])).toEqual([
      [UTRACE_SIGNAL_REPORT, 0],
      [UTRACE_SIGNAL_TERM, SIGUSR1],
    ]);
    expect(delivered(k, pid)).toEqual([{ ...delivered(k, pid)[0], sig: SIGUSR1, action: 'terminate' }]);
    expect(delivered(k, pid)[0]).not.toHaveProperty('injected');
    expect(exitCode(k, pid)).toBe(128 + SIGUSR1);
    const none = interrupted(2, [injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_IGN | UTRACE_SIGNAL_HOLD)]);
    expect(queued(none.k, none.pid)).toEqual([]);
    expect(exitCode(none.k, none.pid)).toBe(0);
  });

  test('a si_signo with bit 0x80 set ("bogus") is reported as SIGTRAP on the fatal path', () => {
    const { k, pid } = interrupted(1, [injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_TERM, 0x80 | SIGUSR1)]);
    expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: SIGTRAP, action: 'terminate', injected: true })]);
    expect(exitCode(k, pid)).toBe(128 + SIGTRAP);
  });

  test('an info.signo that is not an integer is an oops of utrace (UTRACE_SIGINFO_INVALID) naming the task and the value; nothing is delivered', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const pid = k.spawn(napper, { comm: 'napper' });
    const u = k.api.utrace;
    const e = call(k, attachWith(u, pid, injector('inj', [], UTRACE_RESUME | UTRACE_SIGNAL_TERM, 1.5), UTRACE_EVENT_QUIESCE));
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(0);
    k.run();
    const oops = eventsOf(k, 'kernel/oops');
    expect(oops).toHaveLength(1);
    expect(oops[0]).toMatchObject({ plugin: 'utrace', pid });
    expect(oops[0]!.message).toContain('info.signo 1.5');
    expect(oops[0]!.message).toContain(`pid ${pid}`);
    expect(oops[0]!.message).toContain('1.5');
    expect(eventsOf(k, 'signal/deliver')).toEqual([]);
  });

  test('PTRACE_CONT(sig) on a tracee not in a signal stop injects sig through this pass (the ptrace engine writes info.signo): the tracee dies of SIGUSR1', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const pid = k.spawn(napper, { comm: 'napper' });
    const u = k.api.utrace;
    const e = call(k, ptraceAttach(u, pid));
    if (typeof e === 'number') throw new Error(`ptraceAttach: ${e}`);
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    expect(call(k, ptraceCont(u, pid, e, SIGUSR1))).toBe(0);
    expectClean(k, k.run());
    expect(delivered(k, pid)).toEqual([expect.objectContaining({ sig: SIGUSR1, action: 'terminate', injected: true })]);
    expect(exitCode(k, pid)).toBe(128 + SIGUSR1);
    expect(e.data.stops).toBe(0);
  });
});
