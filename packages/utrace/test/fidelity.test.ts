/* eslint-disable @typescript-eslint/no-explicit-any -- engine data of any shape in tests */
/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
/**
 * Issue 22: the utrace semantics of SEMANTICS.md 3 that had no test, and the `stopped` and
 * `flags` invariants seen firing. Each test names its section.
 */
import { describe, expect, test } from 'vitest';
import { EINPROGRESS, SIGUSR1, createKernel, msleep, type Kernel, type KPath } from '@tracelab/core';
import {
  ERESTARTNOINTR,
  UTRACE_ATTACH_CREATE,
  UTRACE_DETACH,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_REAP,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_INVARIANTS,
  UTRACE_RESUME,
  UTRACE_STOP,
  utrace,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { withFaults, type UtraceFaults } from '../src/internal/faults.js';
import { attachWith, call, holdOps } from './helpers.js';

function kernel(seed: number, faults: UtraceFaults = {}): Kernel {
  return createKernel({ cpus: 2, seed, plugins: [utrace(withFaults({}, faults))] });
}

describe('SEMANTICS.md 3(d) invariants seen firing on a broken utrace', () => {
  /** Stops a looping task with one engine, then resumes it with control(RESUME). */
  function stopThenResume(faults: UtraceFaults): Kernel {
    const k = kernel(6, faults);
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) {
      for (let i = 0; i < 20; i++) yield u2.syscall('getpid');
    });
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

  test("utrace/flags: set_events that leaves utrace_flags behind the engine's new mask is found", () => {
    const run = (faults: UtraceFaults): Kernel => {
      const k = kernel(2, faults);
      const u = k.api.utrace;
      const pid = k.spawn(function* w(u2) {
        yield u2.sleep(5);
        for (let i = 0; i < 5; i++) yield u2.syscall('getpid');
      });
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
      const parent = k.spawn(
        function* p(u2) {
          yield u2.sleep(14);
          yield u2.fork(function* c(u3) {
            yield u3.exit(0);
          });
          yield u2.wait();
        },
        { comm: 'parent' },
      );
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
      const tracer = k.spawn(
        function* t(u2) {
          yield u2.sleep(10);
          yield u2.syscall('getppid');
          yield u2.sleep(60);
        },
        { comm: 'tracer' },
      );
      call(k, attachWith(u, tracer, tracerOps, UTRACE_EVENT_SYSCALL_ENTRY));
      if (signal)
        k.spawn(
          function* s(u2) {
            yield u2.sleep(30);
            yield u2.kill(tracer, SIGUSR1);
          },
          { comm: 'sender' },
        );
      const r = k.run({ until: () => results.length > 0, maxSteps: 50_000 });
      expect(k.violations).toEqual([]);
      if (results.length === 0) throw new Error(`no attach result: ${JSON.stringify(r)}, child ${child}`);
      expect(results.length).toBe(1);
      return results[0]!;
    };
    expect(run(true)).toBe(-ERESTARTNOINTR);
    expect(run(false)).toBe(0);
  });
});

describe('SEMANTICS.md 3(e) engine->release at the last reference (releaseAt: last-kref), and the tracer-data race without it', () => {
  test('a tracer that puts its last reference and leaves its engine attached: with last-kref the data lives until report_reap has run, then release runs once', () => {
    const k = createKernel({ cpus: 2, seed: 1, plugins: [utrace({ releaseAt: 'last-kref' })] });
    const u = k.api.utrace;
    const log: string[] = [];
    const data = { freed: false };
    const ops: UtraceEngineOps<typeof data> = {
      name: 'forgetful',
      *reportReap(engine, task) {
        log.push(engine.data.freed ? `reap ${task} on freed data` : `reap ${task}`);
      },
      release(d) {
        d.freed = true;
        log.push('release');
      },
    };
    const pid = k.spawn(
      function* w(u2) {
        yield u2.sleep(10);
      },
      { comm: 'w' },
    );
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, ops, data)) as UtraceEngine<typeof data>;
    expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_REAP))).toBe(0);
    call(k, u.enginePut(e));
    // The tracer's references are gone, the list's is not: nothing is freed yet.
    expect(u.engineState(e)).toMatchObject({ refs: 0, freed: false, listed: true });
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(log).toEqual([`reap ${pid}`, 'release']);
  });

  test("a detach that says -EINPROGRESS, then the tracer's put with no barrier: with tracer-put the callback uses freed data (utrace/lifetime); with last-kref it cannot", () => {
    const run = (releaseAt: 'tracer-put' | 'last-kref') => {
      const k = createKernel({ cpus: 2, seed: 3, plugins: [utrace({ releaseAt })] });
      const u = k.api.utrace;
      const ops: UtraceEngineOps<null> = {
        name: 'slow',
        *reportSyscallEntry() {
          yield* msleep(20); // inside the callback while the tracer detaches and puts
          return UTRACE_RESUME;
        },
      };
      const pid = k.spawn(
        function* w(u2) {
          yield u2.sleep(2);
          yield u2.syscall('getpid');
          yield u2.sleep(40);
        },
        { comm: 'w' },
      );
      const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_SYSCALL_ENTRY));
      const rets: number[] = [];
      k.spawnKthread(
        (function* tracer(): KPath<void> {
          while (u.taskState(pid)?.reporting !== e.id) yield* msleep(1);
          rets.push(yield* u.control(pid, e, UTRACE_DETACH));
          yield* u.enginePut(e); // no utrace_barrier
        })(),
        { comm: 'tracer' },
      );
      const r = k.run({ maxSteps: 50_000 });
      return { r, rets };
    };
    const put = run('tracer-put');
    expect(put.rets).toEqual([-EINPROGRESS]);
    expect(put.r.violations[0]?.name).toBe(UTRACE_INVARIANTS.lifetime);
    const kref = run('last-kref');
    expect(kref.rets).toEqual([-EINPROGRESS]);
    expect(kref.r.violations).toEqual([]);
  });
});
