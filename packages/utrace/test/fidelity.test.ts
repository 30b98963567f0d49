/* eslint-disable @typescript-eslint/no-explicit-any -- engine data of any shape in tests */
/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
/**
 * Issue 22: the utrace semantics of SEMANTICS.md 3 that had no test, and the `stopped` and
 * `flags` invariants seen firing. Each test names its section.
 */
import { describe, expect, test } from 'vitest';
import { SIGUSR1, createKernel, msleep, type Kernel, type KPath } from '@tracelab/core';
import {
  ERESTARTNOINTR,
  UTRACE_ATTACH_CREATE,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_INVARIANTS,
  UTRACE_RESUME,
  UTRACE_STOP,
  utrace,
  type UtraceApi,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { withFaults, type UtraceFaults } from '../src/internal/faults.js';
import { call } from './helpers.js';

function kernel(seed: number, faults: UtraceFaults = {}): Kernel {
  return createKernel({ cpus: 2, seed, plugins: [utrace(withFaults({}, faults))] });
}

function* attachWith(api: UtraceApi, pid: number, ops: UtraceEngineOps<any>, mask: number): KPath<UtraceEngine> {
  const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, ops, null);
  if (typeof e === 'number') throw new Error(`attach failed: ${e}`);
  const r = yield* api.setEvents(pid, e, mask);
  if (r !== 0) throw new Error(`setEvents failed: ${r}`);
  return e;
}

const holdOps: UtraceEngineOps<any> = { name: 'hold', *reportQuiesce() { return UTRACE_STOP; } };

describe('SEMANTICS.md 3(d) invariants seen firing on a broken utrace', () => {
  /** Stops a looping task with one engine, then resumes it with control(RESUME). */
  function stopThenResume(faults: UtraceFaults): Kernel {
    const k = kernel(6, faults);
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) { for (let i = 0; i < 20; i++) yield u2.syscall('getpid'); });
    const e = call(k, attachWith(u, pid, holdOps, UTRACE_EVENT_QUIESCE));
    call(k, u.control(pid, e, UTRACE_STOP));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    try {
      call(k, u.control(pid, e, UTRACE_RESUME));
    } catch {
      // the violation halts the call; it is read from k.violations below
    }
    k.run({ maxSteps: 10_000 });
    return k;
  }

  test('utrace/stopped: control(RESUME) on a stopped task that skips utrace_reset leaves it in TASK_TRACED with no engine holding ENGINE_STOP', () => {
    const broken = stopThenResume({ controlSkipsReset: true });
    expect(broken.violations[0]?.name).toBe(UTRACE_INVARIANTS.stopped);
    expect(broken.violations[0]?.message).toMatch(/is stopped by utrace \(TASK_TRACED\) but no attached engine holds ENGINE_STOP/);
    const ok = stopThenResume({});
    expect(ok.violations).toEqual([]);
  });

  test('utrace/flags: set_events that leaves utrace_flags behind the engine\'s new mask is found', () => {
    const run = (faults: UtraceFaults): Kernel => {
      const k = kernel(2, faults);
      const u = k.api.utrace;
      const pid = k.spawn(function* w(u2) { yield u2.sleep(5); for (let i = 0; i < 5; i++) yield u2.syscall('getpid'); });
      try {
        // The attach's own set_events (QUIESCE) is the first that leaves utrace_flags behind.
        call(k, attachWith(u, pid, { name: 'q' }, UTRACE_EVENT_QUIESCE));
        k.run({ maxSteps: 10_000 });
      } catch {
        // halted by the violation, read from k.violations below
      }
      return k;
    };
    const broken = run({ setEventsSkipsFlags: true });
    expect(broken.violations[0]?.name).toBe(UTRACE_INVARIANTS.flags);
    expect(broken.violations[0]?.message).toMatch(/utrace_flags \d+ lacks bits of engine \d+'s \d+/);
    expect(run({}).violations).toEqual([]);
  });
});

describe('SEMANTICS.md 3(b) utrace_attach_task: -ERESTARTNOINTR from utrace_attach_delay', () => {
  test('a tracer waiting out a newborn target gives up with -ERESTARTNOINTR when a signal comes for it; without the signal it attaches once the child is past report_clone', () => {
    const run = (signal: boolean): number => {
      const k = kernel(4);
      const u = k.api.utrace;
      let child = 0;
      // The parent's engine holds the newborn in report_clone for a while (the child cannot run yet).
      const slowClone: UtraceEngineOps<any> = {
        name: 'slow-clone',
        *reportClone(_a, _e, _flags, c) {
          child = c;
          yield* msleep(30);
          return UTRACE_RESUME;
        },
      };
      const parent = k.spawn(function* p(u2) { yield u2.sleep(14); yield u2.fork(function* c(u3) { yield u3.exit(0); }); yield u2.wait(); }, { comm: 'parent' });
      call(k, attachWith(u, parent, slowClone, UTRACE_EVENT_CLONE));
      // The tracer: a user task whose own engine, at its getppid, attaches to the newborn.
      const results: number[] = [];
      const tracerOps: UtraceEngineOps<any> = {
        name: 'tracer',
        *reportSyscallEntry(_a, _e, regs) {
          if (regs.syscall !== 'getppid') return UTRACE_RESUME;
          while (child === 0) yield* msleep(1);
          const r = yield* u.attachTask(child, UTRACE_ATTACH_CREATE, { name: 'late' }, null);
          results.push(typeof r === 'number' ? r : 0);
          return UTRACE_RESUME;
        },
      };
      const tracer = k.spawn(function* t(u2) { yield u2.sleep(10); yield u2.syscall('getppid'); yield u2.sleep(60); }, { comm: 'tracer' });
      call(k, attachWith(u, tracer, tracerOps, UTRACE_EVENT_SYSCALL_ENTRY));
      if (signal) k.spawn(function* s(u2) { yield u2.sleep(30); yield u2.kill(tracer, SIGUSR1); }, { comm: 'sender' });
      const r = k.run({ until: () => results.length > 0, maxSteps: 50_000 });
      expect(k.violations).toEqual([]);
      if (results.length === 0) throw new Error(`no attach result: ${JSON.stringify(r)} child ${child} ${JSON.stringify(k.log.filter((e) => e.type.startsWith('utrace/report') || e.type === 'signal/generate' || e.type === 'task/forked').slice(0, 10))}`);
      expect(results.length).toBe(1);
      return results[0]!;
    };
    expect(run(true)).toBe(-ERESTARTNOINTR);
    expect(run(false)).toBe(0);
  });
});
