/* eslint-disable @typescript-eslint/no-explicit-any -- engine data of any shape in tests */
/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { describe, expect, test } from 'vitest';
import { EAGAIN, EINPROGRESS, ESRCH, SIGKILL, SIGUSR1, intMapGet, msleep } from '@tracelab/core';
import {
  ERESTARTSYS,
  UTRACE_ATTACH_CREATE,
  UTRACE_DETACH,
  UTRACE_EVENT_EXIT,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_STOP,
  type UtraceEngineOps,
  type UtraceExaminer,
  utrace,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call, holdOps, recorder } from './helpers.js';

describe('actions', () => {
  test('REPORT: a report_quiesce pass (event 0) on the way back to user mode, and nothing else', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 3 });
    const u = k.api.utrace;
    const calls: string[] = [];
    const pid = k.spawn(function* w(u2) {
      yield u2.sleep(10);
      for (let i = 0; i < 10; i++) yield u2.syscall('getpid');
    });
    const e = call(k, attachWith(u, pid, recorder('q', calls), UTRACE_EVENT_QUIESCE));
    // QUIESCE alone makes no pass at any event (the tracehooks test the event bits only).
    const getpids = (): number => eventsOf(k, 'syscall/enter', (ev) => ev.pid === pid && ev.name === 'getpid').length;
    k.run({ until: () => getpids() >= 3 });
    expect(calls).toEqual([]);
    expect(call(k, u.control(pid, e, UTRACE_REPORT))).toBe(0);
    expectClean(k, k.run());
    // Then the death pass: _UTRACE_DEATH_EVENTS includes QUIESCE (event 32 = DEATH).
    expect(calls).toEqual(['q:quiesce(0)', 'q:quiesce(32)']);
    expect(eventsOf(k, 'utrace/report').map((r) => r.event)).toEqual(['QUIESCE(0)', 'DEATH']);
  });

  test('report_exit may STOP the task: it is held in do_exit before it exits, and exits once released', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 2 });
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) {
      yield u2.sleep(3);
      yield u2.exit(4);
    });
    const ops: UtraceEngineOps<any> = {
      name: 'exit-stop',
      *reportExit() {
        return UTRACE_STOP;
      },
    };
    const e = call(k, attachWith(u, pid, ops, UTRACE_EVENT_EXIT));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(eventsOf(k, 'task/exit').filter((x) => x.pid === pid)).toEqual([]);
    expect(call(k, u.control(pid, e, UTRACE_DETACH))).toBe(0);
    expectClean(k, k.run());
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === pid)?.code).toBe(4);
  });

  test("STOP on a task already stopped says 0 (not -EINPROGRESS); a second engine's RESUME does not wake it", () => {
    const k = kernelWith({ plugins: [utrace()], seed: 6 });
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) {
      for (let i = 0; i < 20; i++) yield u2.syscall('getpid');
    });
    const a = call(k, attachWith(u, pid, holdOps, UTRACE_EVENT_QUIESCE));
    const b = call(
      k,
      attachWith(
        u,
        pid,
        {
          name: 'b',
          *reportQuiesce() {
            return UTRACE_RESUME;
          },
        },
        UTRACE_EVENT_QUIESCE,
      ),
    );
    expect(call(k, u.control(pid, a, UTRACE_STOP))).toBe(-EINPROGRESS);
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(call(k, u.control(pid, b, UTRACE_STOP))).toBe(0);
    expect(call(k, u.control(pid, b, UTRACE_RESUME))).toBe(0);
    expect(u.taskState(pid)!.stopped).toBe(true);
    expect(call(k, u.control(pid, a, UTRACE_DETACH))).toBe(0);
    expect(u.taskState(pid)!.stopped).toBe(false);
    expectClean(k, k.run());
  });
});

describe('examine and SIGKILL', () => {
  test('SIGKILL breaks a stop: finish_examine says -EAGAIN, and prepare_examine on the dead task -ESRCH', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const u = k.api.utrace;
    const kid = { pid: 0 };
    k.spawn(function* parent(u2) {
      kid.pid = yield u2.fork(function* c(u3) {
        for (let i = 0; i < 30; i++) yield u3.syscall('getpid');
      });
      yield u2.sleep(200);
      yield u2.wait();
    });
    k.run({ until: () => kid.pid !== 0 });
    const e = call(k, attachWith(u, kid.pid, holdOps, UTRACE_EVENT_QUIESCE));
    call(k, u.control(kid.pid, e, UTRACE_STOP));
    // A tracer retries on -EAGAIN (the target may still be getting off its CPU).
    const exam = call(
      k,
      (function* () {
        for (;;) {
          if ((yield* u.waitForStop(kid.pid)) !== 0) throw new Error('not stopped');
          const ex = yield* u.prepareExamine(kid.pid, e);
          if (ex !== -EAGAIN) return ex;
          yield* msleep(1);
        }
      })(),
    ) as UtraceExaminer;
    expect(exam.state).toBe('stopped');
    expect(call(k, u.finishExamine(kid.pid, e, exam))).toBe(0);
    k.spawn(function* killer(u2) {
      yield u2.kill(kid.pid, SIGKILL);
    });
    k.run({ until: (s) => intMapGet(s.tasks, kid.pid)?.exitState === 'zombie' });
    // The engine still holds ENGINE_STOP (nobody resumed it): only the task moved.
    expect(u.engineState(e)!.stop).toBe(true);
    expect(call(k, u.finishExamine(kid.pid, e, exam))).toBe(-EAGAIN);
    expect(call(k, u.prepareExamine(kid.pid, e))).toBe(-ESRCH);
    expect(eventsOf(k, 'utrace/woken').find((w) => w.pid === kid.pid)?.reason).toBe('sigkill');
    expectClean(k, k.run());
  });

  test('waitForStop on a task that dies instead of stopping returns -ESRCH (it is woken at the death)', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 2 });
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) {
      yield u2.sleep(8);
      yield u2.exit(0);
    });
    call(k, attachWith(u, pid, recorder('idle', []), 0));
    expect(call(k, u.waitForStop(pid))).toBe(-ESRCH);
    expectClean(k, k.run());
  });
});

describe('utrace_barrier', () => {
  test('-ERESTARTSYS when a signal comes for the waiting task; -ESRCH once the engine is fully detached', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 3 });
    const u = k.api.utrace;
    const slow: UtraceEngineOps<any> = {
      name: 'slow',
      *reportSyscallEntry(_a, _e, regs) {
        if (regs.syscall === 'getpid') yield* msleep(40);
        return UTRACE_RESUME;
      },
    };
    const t1 = k.spawn(
      function* t1(u2) {
        yield u2.sleep(2);
        yield u2.syscall('getpid');
        yield u2.sleep(20);
      },
      { comm: 't1' },
    );
    const e1 = call(k, attachWith(u, t1, slow, UTRACE_EVENT_SYSCALL_ENTRY));
    // t2's own engine waits for t1's callback from inside t2's syscall entry (a kernel path in a user task).
    const results: number[] = [];
    const waiter: UtraceEngineOps<any> = {
      name: 'waiter',
      *reportSyscallEntry(_a, _e, regs) {
        if (regs.syscall === 'getppid') results.push(yield* u.barrier(t1, e1));
        return UTRACE_RESUME;
      },
    };
    const t2 = k.spawn(
      function* t2(u2) {
        yield u2.sleep(6);
        yield u2.syscall('getppid');
        yield u2.sleep(100);
      },
      { comm: 't2' },
    );
    call(k, attachWith(u, t2, waiter, UTRACE_EVENT_SYSCALL_ENTRY));
    k.spawn(
      function* sender(u2) {
        yield u2.sleep(16);
        yield u2.kill(t2, SIGUSR1);
      },
      { comm: 'sender' },
    );
    k.run({ until: () => results.length > 0 });
    expect(results).toEqual([-ERESTARTSYS]);
    // t1 was still inside the slow callback: the barrier did not return early.
    expect(u.taskState(t1)!.reporting).toBe(e1.id);
    expectClean(k, k.run());
    // After the detach (on the now-finished task's engine) and the last put, the engine is gone.
    expect(call(k, u.barrier(t1, e1))).toBe(-ESRCH);
  });

  test('barrier returns 0 at once for the task itself, and once the callback is over', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 4 });
    const u = k.api.utrace;
    const out: number[] = [];
    const self: UtraceEngineOps<any> = {
      name: 'self',
      *reportSyscallEntry(_a, engine) {
        out.push(yield* u.barrier(engine.target, engine));
        return UTRACE_RESUME;
      },
    };
    const pid = k.spawn(function* w(u2) {
      yield u2.sleep(2);
      yield u2.syscall('getpid');
    });
    const e = call(k, attachWith(u, pid, self, UTRACE_EVENT_SYSCALL_ENTRY));
    expectClean(k, k.run({ until: () => out.length > 0 }), { requireDone: false });
    expect(out).toEqual([0]);
    expect(call(k, u.barrier(pid, e))).toBe(0);
    expectClean(k, k.run());
  });
});

describe('control(STOP) on a task already stopped', () => {
  test('runs no utrace_reset (utrace_control sets reset = false for STOP): an engine attached meanwhile stays on `attaching`, utrace_flags keep their bits; the next reset does both', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 6 });
    const u = k.api.utrace;
    const pid = k.spawn(function* w(u2) {
      for (let i = 0; i < 20; i++) yield u2.syscall('getpid');
    });
    const calls: string[] = [];
    const a = call(k, attachWith(u, pid, holdOps, UTRACE_EVENT_QUIESCE));
    const b = call(k, attachWith(u, pid, recorder('b', calls), UTRACE_EVENT_QUIESCE | UTRACE_EVENT_SYSCALL_ENTRY));
    // holdOps stops it at its first pass, which may come before this control.
    expect([0, -EINPROGRESS]).toContain(call(k, u.control(pid, a, UTRACE_STOP)));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    // While it is stopped: b drops SYSCALL_ENTRY (utrace_flags keep it: only utrace_reset
    // shrinks them), and a third engine attaches (queued on `attaching`).
    expect(call(k, u.setEvents(pid, b, UTRACE_EVENT_QUIESCE))).toBe(0);
    const c = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, recorder('c', calls), null));
    expect(typeof c).toBe('object');
    const before = u.taskState(pid)!;
    expect(before.attaching).toHaveLength(1);
    expect(before.flags & UTRACE_EVENT_SYSCALL_ENTRY).not.toBe(0);
    const mark = k.log.length;
    expect(call(k, u.control(pid, b, UTRACE_STOP))).toBe(0);
    const after = u.taskState(pid)!;
    expect(after.stopped).toBe(true);
    expect(after.attaching).toEqual(before.attaching);
    expect(after.attached).toEqual(before.attached);
    expect(after.flags).toBe(before.flags | 0);
    const since = k.log.slice(mark);
    expect(since.filter((e) => e.type === 'utrace/reset' || e.type === 'utrace/splice')).toEqual([]);
    // b's RESUME is a control on a stopped task that does run utrace_reset: both show now.
    expect(call(k, u.control(pid, b, UTRACE_RESUME))).toBe(0);
    const reset = u.taskState(pid)!;
    expect(reset.attaching).toEqual([]);
    expect(reset.flags & UTRACE_EVENT_SYSCALL_ENTRY).toBe(0);
    expect(reset.stopped).toBe(true);
    expect(call(k, u.control(pid, a, UTRACE_DETACH))).toBe(0);
    expectClean(k, k.run());
  });
});
