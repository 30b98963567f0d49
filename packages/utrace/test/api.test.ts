/* eslint-disable @typescript-eslint/no-explicit-any -- engine data of any shape in tests */
/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { describe, expect, test } from 'vitest';
import { EAGAIN, EALREADY, EEXIST, EINPROGRESS, EINVAL, ENOENT, ENOMEM, EPERM, ESRCH, getState, msleep, type KPath, type Strategy } from '@tracelab/core';
import {
  EOPNOTSUPP,
  UTRACE_ATTACH_CREATE,
  UTRACE_ATTACH_EXCLUSIVE,
  UTRACE_ATTACH_MATCH_OPS,
  UTRACE_DETACH,
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_INTERRUPT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_RESUME_MAX,
  UTRACE_SINGLESTEP,
  UTRACE_STOP,
  type UtraceEngine,
  type UtraceEngineOps,
  utrace,
} from '@tracelab/utrace';
import { kernelWith, eventsOf } from '@tracelab/testing';
import { call, recorder, sleeper } from './helpers.js';

const calls: string[] = [];
const OPS = recorder('a', calls);

function attach(k: ReturnType<typeof kernelWith>, pid: number, flags = UTRACE_ATTACH_CREATE, ops: UtraceEngineOps<any> | null = OPS): UtraceEngine | number {
  return call(k, k.api.utrace.attachTask(pid, flags, ops, { name: 'a' }));
}

/** Waits (polling) until `pred` holds on the state. */
function* until(pred: (s: any) => boolean): KPath<void> {
  while (!pred(yield* getState())) yield* msleep(1);
}

describe('utrace_attach_task', () => {
  test('errors: no task, no ops, kthread, exclusive, lookup without a match, allocation failure', () => {
    const k = kernelWith([utrace()]);
    const pid = k.spawn(sleeper);
    const kt = k.spawnKthread(
      (function* () {
        yield* msleep(50);
      })(),
    );
    expect(attach(k, 999)).toBe(-ESRCH);
    expect(attach(k, pid, UTRACE_ATTACH_CREATE, null)).toBe(-EINVAL);
    expect(attach(k, kt)).toBe(-EPERM);
    expect(attach(k, pid, UTRACE_ATTACH_MATCH_OPS)).toBe(-ENOENT);
    const e = attach(k, pid) as UtraceEngine;
    expect(e.id).toBeGreaterThan(0);
    expect(attach(k, pid, UTRACE_ATTACH_CREATE | UTRACE_ATTACH_EXCLUSIVE | UTRACE_ATTACH_MATCH_OPS)).toBe(-EEXIST);
    // A different ops vector does not match: exclusive attach succeeds.
    expect(typeof attach(k, pid, UTRACE_ATTACH_CREATE | UTRACE_ATTACH_EXCLUSIVE | UTRACE_ATTACH_MATCH_OPS, recorder('b', []))).toBe('object');
    // Lookup takes a reference.
    const found = attach(k, pid, UTRACE_ATTACH_MATCH_OPS) as UtraceEngine;
    expect(found.id).toBe(e.id);
    expect(k.api.utrace.engineState(e)!.refs).toBe(2);
    call(k, k.api.utrace.enginePut(found));
    expect(k.api.utrace.engineState(e)!.refs).toBe(1);

    const failAlloc: Strategy = { name: 'fail-alloc', create: () => ({ choose: (kind) => (kind === 'fault' ? 1 : 0) }) };
    const k2 = kernelWith({ plugins: [utrace()], strategy: failAlloc, faultInjection: true });
    const p2 = k2.spawn(sleeper);
    expect(attach(k2, p2)).toBe(-ENOMEM);
  });

  test('an engine attached gets no events until setEvents, and is spliced at the next pass', () => {
    const k = kernelWith([utrace()]);
    const pid = k.spawn(sleeper);
    const e = attach(k, pid) as UtraceEngine;
    expect(k.api.utrace.taskState(pid)!.attaching).toEqual([e.id]);
    expect(call(k, k.api.utrace.setEvents(pid, e, UTRACE_EVENT_SYSCALL_ENTRY))).toBe(0);
    k.run({ maxSteps: 40 });
    expect(k.api.utrace.taskState(pid)!.attached).toEqual([e.id]);
  });
});

describe('utrace_set_events and utrace_control errors', () => {
  test('-ESRCH after detach; -EINVAL for bad actions; -EOPNOTSUPP for steps; -EINPROGRESS for STOP on a running task', () => {
    const k = kernelWith([utrace()]);
    // Asleep (not quiescent for utrace) through every call below: its REPORT pass, whose
    // report_quiesce would clear the STOP, comes only when it wakes.
    const pid = k.spawn(function* longSleeper(u2) {
      yield u2.sleep(400);
    });
    const u = k.api.utrace;
    const e = attach(k, pid) as UtraceEngine;
    expect(call(k, u.control(pid, e, UTRACE_RESUME_MAX))).toBe(-EINVAL);
    expect(call(k, u.control(pid, e, -1))).toBe(-EINVAL);
    expect(call(k, u.control(pid, e, UTRACE_REPORT))).toBe(-EINVAL); // no QUIESCE
    expect(call(k, u.control(pid, e, UTRACE_INTERRUPT))).toBe(-EINVAL);
    expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_QUIESCE))).toBe(0);
    expect(call(k, u.control(pid, e, UTRACE_SINGLESTEP))).toBe(-EOPNOTSUPP);
    expect(call(k, u.control(pid, e, UTRACE_REPORT))).toBe(0);
    expect(call(k, u.control(pid, e, UTRACE_STOP))).toBe(-EINPROGRESS);
    expect(u.engineState(e)!.stop).toBe(true);
    expect(call(k, u.control(pid, e, UTRACE_DETACH))).toBe(0);
    expect(call(k, u.control(pid, e, UTRACE_RESUME))).toBe(-ESRCH);
    expect(call(k, u.setEvents(pid, e, 0))).toBe(-ESRCH);
    // An engine of another task is not this task's.
    const other = k.spawn(sleeper);
    const e2 = attach(k, other) as UtraceEngine;
    expect(call(k, u.control(pid, e2, UTRACE_RESUME))).toBe(-ESRCH);
  });

  test("-EINPROGRESS: clearing bits or detaching while the engine's callback runs; barrier waits it out", () => {
    const k = kernelWith({ plugins: [utrace()], seed: 2 });
    const u = k.api.utrace;
    const slow: UtraceEngineOps<null> = {
      name: 'slow',
      *reportSyscallEntry() {
        yield* msleep(6);
        return UTRACE_RESUME;
      },
    };
    const pid = k.spawn(function* w(u2) {
      yield u2.sleep(3);
      yield u2.syscall('getpid');
      yield u2.syscall('getpid');
    });
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, slow, null)) as UtraceEngine;
    call(k, u.setEvents(pid, e, UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_QUIESCE));
    const out = call(
      k,
      (function* () {
        yield* until((s) => s.plugins.utrace?.tasks[pid]?.reporting === e.id);
        const clear = yield* u.setEvents(pid, e, UTRACE_EVENT_QUIESCE);
        const detach = yield* u.control(pid, e, UTRACE_DETACH);
        const stillReporting = (yield* getState()).plugins.utrace!.tasks[pid]!.reporting === e.id;
        const barrier = yield* u.barrier(pid, e);
        const after = (yield* getState()).plugins.utrace!.tasks[pid]!.reporting;
        yield* u.enginePut(e);
        return { clear, detach, stillReporting, barrier, after };
      })(),
    );
    expect(out.clear).toBe(-EINPROGRESS);
    expect(out.detach).toBe(-EINPROGRESS);
    expect(out.stillReporting).toBe(true);
    expect([0, -ESRCH]).toContain(out.barrier);
    expect(out.after).toBe(null);
    const r = k.run();
    expect(r.violations).toEqual([]);
    // The second getpid gets no callback: the engine was detached.
    expect(eventsOf(k, 'utrace/callback', (ev) => ev.engine === e.id).length).toBe(1);
  });
});

describe('stop, resume, examine', () => {
  test('STOP stops the task before user mode; examine works while stopped; RESUME wakes it; examine then says -EAGAIN', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 5 });
    const u = k.api.utrace;
    // Only STOP is sticky: an engine that wants the task held returns STOP from report_quiesce.
    const hold = { on: true };
    const quiet: UtraceEngineOps<null> = {
      name: 'q',
      *reportQuiesce() {
        return hold.on ? UTRACE_STOP : UTRACE_RESUME;
      },
    };
    const pid = k.spawn(function* w(u2) {
      for (let i = 0; i < 20; i++) yield u2.syscall('getpid');
    });
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, quiet, null)) as UtraceEngine;
    expect(call(k, u.prepareExamine(pid, e))).toBe(-EINVAL); // not holding it stopped
    call(k, u.setEvents(pid, e, UTRACE_EVENT_QUIESCE));
    const stopRet = call(k, u.control(pid, e, UTRACE_STOP));
    expect([0, -EINPROGRESS]).toContain(stopRet);
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(k.state.tasks && u.taskState(pid)!.stopped).toBe(true);
    const syscallsAtStop = eventsOf(k, 'syscall/enter', (ev) => ev.pid === pid).length;
    call(
      k,
      (function* () {
        yield* msleep(30);
      })(),
    );
    expect(eventsOf(k, 'syscall/enter', (ev) => ev.pid === pid).length).toBe(syscallsAtStop);
    const exam = call(k, u.prepareExamine(pid, e));
    expect(typeof exam).toBe('object');
    expect(call(k, u.finishExamine(pid, e, exam as any))).toBe(0);
    hold.on = false;
    expect(call(k, u.control(pid, e, UTRACE_RESUME))).toBe(0);
    expect(u.taskState(pid)!.stopped).toBe(false);
    expect(call(k, u.finishExamine(pid, e, exam as any))).toBe(-EINVAL); // no longer holds it stopped
    // Stopped again: the switch count moved, so the old examiner is stale.
    hold.on = true;
    call(k, u.control(pid, e, UTRACE_STOP));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(call(k, u.finishExamine(pid, e, exam as any))).toBe(-EAGAIN);
    expect(call(k, u.control(pid, e, UTRACE_DETACH))).toBe(0);
    expect(u.taskState(pid)!.stopped).toBe(false);
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    expect(eventsOf(k, 'syscall/enter', (ev) => ev.pid === pid && ev.name === 'getpid').length).toBe(20);
  });

  test('dead targets: -ESRCH for control other than DETACH, -EALREADY during report_death, -EALREADY for new DEATH on an exiting task', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const u = k.api.utrace;
    const dying: UtraceEngineOps<null> = {
      name: 'dying',
      *reportDeath() {
        yield* msleep(8);
        return UTRACE_RESUME;
      },
    };
    const child = { pid: 0 };
    k.spawn(function* parent(u2) {
      child.pid = yield u2.fork(function* c(u3) {
        yield u3.sleep(4);
        yield u3.exit(3);
      });
      yield u2.sleep(40);
      yield u2.wait();
    });
    k.run({ until: () => child.pid !== 0 });
    const e = call(k, u.attachTask(child.pid, UTRACE_ATTACH_CREATE, dying, null)) as UtraceEngine;
    call(k, u.setEvents(child.pid, e, UTRACE_EVENT_DEATH));
    const late = call(k, u.attachTask(child.pid, UTRACE_ATTACH_CREATE, recorder('late', []), { name: 'late' })) as UtraceEngine;
    const out = call(
      k,
      (function* () {
        yield* until((s) => s.plugins.utrace.tasks[child.pid]?.death === true);
        return {
          resume: yield* u.control(child.pid, e, UTRACE_RESUME),
          detach: yield* u.control(child.pid, e, UTRACE_DETACH),
          newDeath: yield* u.setEvents(child.pid, late, UTRACE_EVENT_DEATH),
          clearDeath: yield* u.setEvents(child.pid, e, 0),
        };
      })(),
    );
    expect(out).toEqual({ resume: -ESRCH, detach: -EALREADY, newDeath: -EALREADY, clearDeath: -EALREADY });
    const r = k.run();
    expect(r.violations).toEqual([]);
    // After the reap every engine is detached: DETACH says -ESRCH.
    expect(call(k, u.control(child.pid, e, UTRACE_DETACH))).toBe(-ESRCH);
    expect(call(k, u.setEvents(child.pid, e, 0))).toBe(-ESRCH);
  });
});
