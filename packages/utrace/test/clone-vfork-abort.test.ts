/* eslint-disable @typescript-eslint/no-explicit-any -- engine data of any shape in tests */
/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { describe, expect, test } from 'vitest';
import { CLONE_VFORK, ENOSYS, SIGKILL, getState, intMapGet, msleep, type Kernel, type Program } from '@tracelab/core';
import {
  UTRACE_DETACH,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_REPORT,
  UTRACE_RESUME,
  UTRACE_STOP,
  UTRACE_SYSCALL_ABORT,
  UTRACE_SYSCALL_MASK,
  UTRACE_SYSCALL_RESUMED,
  UTRACE_SYSCALL_RUN,
  attachSyscallLogger,
  summarizeUtrace,
  type UtraceEngine,
  type UtraceEngineOps,
  utrace,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { attachWith, call } from './helpers.js';

/** Index in the log of the first event matching `pred` (-1 if none). */
function seqOf(k: Kernel, pred: (e: any) => boolean): number {
  return k.log.findIndex(pred);
}

describe('report_clone (tracehook_report_clone)', () => {
  test('runs in the parent with the child linked but not runnable; an engine attached to the child there gets its first event', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 3 });
    const u = k.api.utrace;
    const seen: Array<{ child: number; listed: boolean; state: string; onRunqueue: boolean; cloning: number | null }> = [];
    const childCalls: string[] = [];
    const childOps: UtraceEngineOps<any> = {
      name: 'child-watch',
      *reportSyscallEntry(_a, _e, regs) {
        childCalls.push(`entry:${regs.syscall}`);
        return UTRACE_RESUME;
      },
      *reportSyscallExit(_a, _e, regs) {
        childCalls.push(`exit:${regs.syscall}=${regs.ret}`);
        return UTRACE_RESUME;
      },
    };
    const parentOps: UtraceEngineOps<any> = {
      name: 'parent',
      *reportClone(_a, engine, cloneFlags, child) {
        const s = yield* getState();
        const t = intMapGet(s.tasks, child)!;
        seen.push({
          child,
          listed: t.listed,
          state: t.state,
          onRunqueue: s.runqueue.includes(child),
          cloning: s.plugins.utrace!.tasks[engine.target]!.cloning,
        });
        expect(cloneFlags & CLONE_VFORK).toBe(0);
        yield* attachWith(u, child, childOps, UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT);
        return UTRACE_RESUME;
      },
    };
    const pid = k.spawn(function* sh(u2) {
      yield u2.sleep(3);
      yield u2.fork(function* cc(u3) {
        yield u3.syscall('getpid');
        yield u3.exit(0);
      });
      yield u2.wait();
    });
    call(k, attachWith(u, pid, parentOps, UTRACE_EVENT_CLONE));
    expectClean(k, k.run());
    expect(seen).toHaveLength(1);
    const { child } = seen[0]!;
    // copy_process has linked it (fork/link, under the tasklist lock) but not woken it.
    expect(seen[0]).toEqual({ child, listed: true, state: 'new', onRunqueue: false, cloning: child });
    expect(seqOf(k, (e) => e.type === 'fork/link' && e.child === child)).toBeLessThan(
      seqOf(k, (e) => e.type === 'utrace/callback' && e.callback === 'reportClone'),
    );
    // The child's very first event is its return from clone() (0, in ret_from_fork): nothing missed.
    expect(childCalls).toEqual(['exit:clone=0', 'entry:getpid', `exit:getpid=${child}`, 'entry:exit_group']);
    // utrace->cloning is cleared when report_clone is over.
    expect(eventsOf(k, 'utrace/cloning').map((c) => c.child)).toEqual([child, null]);
  });

  test('the syscall logger with follow traces a fork/vfork/exec workload (strace -f)', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 5 });
    const pid = k.spawn(
      function* make(u2) {
        yield u2.sleep(4);
        yield u2.fork(function* cc(u3) {
          yield u3.syscall('open', { path: '/src/a.c', flags: 0 });
          yield u3.exit(0);
        });
        yield u2.vfork(function* ld(u3) {
          yield u3.exec('/usr/bin/ld', function* ldMain(u4) {
            yield u4.syscall('open', { path: '/tmp/a.o', flags: 0 });
          });
        });
        yield u2.wait();
        yield u2.wait();
      },
      { comm: 'make' },
    );
    call(k, attachSyscallLogger(k.api.utrace, pid, { follow: true }));
    expectClean(k, k.run());
    const lines = summarizeUtrace(k.log).lines;
    const kids = eventsOf(k, 'fork/dup').map((d) => d.child);
    expect(kids).toHaveLength(2);
    const [cc, ld] = kids as [number, number];
    expect(lines).toContain(`[pid ${pid}] clone() = ${cc}`);
    expect(lines).toContain(`[pid ${pid}] clone(flags=${CLONE_VFORK}) = ${ld}`);
    expect(lines.filter((l) => l.startsWith(`[pid ${cc}]`))).toEqual([`[pid ${cc}] clone() = 0`, `[pid ${cc}] open("/src/a.c", flags=0) = 3`]);
    expect(lines.filter((l) => l.startsWith(`[pid ${ld}]`))).toEqual([
      `[pid ${ld}] clone() = 0`,
      `[pid ${ld}] execve("/usr/bin/ld") = 0`,
      `[pid ${ld}] open("/tmp/a.o", flags=0) = 3`,
    ]);
    // Every engine the logger attached to a child was put at the child's reap.
    const attached = eventsOf(k, 'utrace/engine-attached').map((a) => a.engine);
    const freed = eventsOf(k, 'utrace/engine-freed').map((f) => f.engine);
    expect(attached).toHaveLength(3);
    expect(freed.sort()).toEqual(attached.slice(1).sort());
  });
});

describe('vfork: the parent stops before its wait for the child (vfork_stop, utrace_finish_vfork)', () => {
  /** A vfork parent traced by an engine whose report_clone says STOP for a vfork. */
  function vforkSetup(seed: number, childDelay: number): { k: Kernel; parent: number; child: () => number; engine: UtraceEngine } {
    const k = kernelWith({ plugins: [utrace()], seed });
    const u = k.api.utrace;
    let child = 0;
    const holder: UtraceEngineOps<any> = {
      name: 'vfork-holder',
      *reportClone(_a, _e, cloneFlags, c) {
        child = c;
        return (cloneFlags & CLONE_VFORK) !== 0 ? UTRACE_STOP : UTRACE_RESUME;
      },
    };
    const parent = k.spawn(function* sh(u2) {
      yield u2.sleep(3);
      yield u2.vfork(function* kid(u3) {
        yield u3.sleep(childDelay);
        yield u3.exec('/bin/true', function* t(u4) {
          yield u4.syscall('getpid');
        });
      });
      yield u2.syscall('getppid');
      yield u2.wait();
    });
    const engine = call(k, attachWith(u, parent, holder, UTRACE_EVENT_CLONE));
    return { k, parent, child: () => child, engine };
  }

  test('a STOP from report_clone holds the parent in TASK_TRACED, not in the vfork wait, while the child runs and execs', () => {
    const { k, parent, child, engine } = vforkSetup(1, 4);
    const u = k.api.utrace;
    expect(call(k, u.waitForStop(parent))).toBe(0);
    const kid = child();
    const p = intMapGet(k.state.tasks, parent)!;
    expect(p.state).toBe('stopped');
    expect(p.waitingOn).toBe(`stopped:${parent}`);
    // Not in wait_for_completion: it never slept on the vfork channel, and the clone has not returned.
    expect(seqOf(k, (e) => e.type === 'task/sleep' && e.pid === parent && e.on === `vfork:${kid}`)).toBe(-1);
    expect(seqOf(k, (e) => e.type === 'fork/vfork-done')).toBe(-1);
    // The stop came after the child was woken (cloneComplete), as utrace_finish_vfork does.
    expect(seqOf(k, (e) => e.type === 'sched/wakeup' && e.pid === kid)).toBeLessThan(seqOf(k, (e) => e.type === 'utrace/stopped' && e.pid === parent));
    // The tracer keeps it stopped while the child runs to its exec.
    call(
      k,
      (function* () {
        yield* msleep(30);
      })(),
    );
    expect(seqOf(k, (e) => e.type === 'task/exec' && e.pid === kid)).toBeGreaterThan(0);
    expect(u.taskState(parent)!.stopped).toBe(true);
    expect(intMapGet(k.state.tasks, parent)!.waitingOn).toBe(`stopped:${parent}`);
    expect(call(k, u.control(parent, engine, UTRACE_RESUME))).toBe(0);
    expectClean(k, k.run());
    const stopped = seqOf(k, (e) => e.type === 'utrace/stopped' && e.pid === parent);
    const exec = seqOf(k, (e) => e.type === 'task/exec' && e.pid === kid);
    const woken = seqOf(k, (e) => e.type === 'utrace/woken' && e.pid === parent);
    // clone() returns in the parent only once released (the core logs no fork/vfork-done when the
    // child completed the vfork before the parent reached its wait: see docs/utrace.md).
    const returned = seqOf(k, (e) => e.type === 'syscall/exit' && e.pid === parent && e.name === 'clone');
    expect(stopped < exec && exec < woken && woken < returned).toBe(true);
    // The child had already execed: released, the parent found the completion done and never slept on it.
    expect(seqOf(k, (e) => e.type === 'task/sleep' && e.pid === parent && e.on === `vfork:${kid}`)).toBe(-1);
    // One stop only: the STOP was kept for the vfork, not also turned into a stop at the return to user mode.
    expect(eventsOf(k, 'utrace/stopped').filter((e) => e.pid === parent)).toHaveLength(1);
  });

  test('released before the child execs, the parent then waits for it as usual', () => {
    const { k, parent, child, engine } = vforkSetup(2, 40);
    const u = k.api.utrace;
    expect(call(k, u.waitForStop(parent))).toBe(0);
    expect(call(k, u.control(parent, engine, UTRACE_DETACH))).toBe(0);
    expectClean(k, k.run());
    const kid = child();
    const woken = seqOf(k, (e) => e.type === 'utrace/woken' && e.pid === parent);
    const waits = seqOf(k, (e) => e.type === 'task/sleep' && e.pid === parent && e.on === `vfork:${kid}`);
    const exec = seqOf(k, (e) => e.type === 'task/exec' && e.pid === kid);
    const done = seqOf(k, (e) => e.type === 'fork/vfork-done' && e.child === kid);
    expect(woken < waits && waits < exec && exec < done).toBe(true);
  });

  test('a plain fork with the same STOP stops the parent only on its way back to user mode', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const u = k.api.utrace;
    const holder: UtraceEngineOps<any> = {
      name: 'fork-holder',
      *reportClone() {
        return UTRACE_STOP;
      },
    };
    const parent = k.spawn(function* sh(u2) {
      yield u2.sleep(3);
      yield u2.fork(function* kid(u3) {
        yield u3.syscall('getpid');
      });
      yield u2.wait();
    });
    const e = call(k, attachWith(u, parent, holder, UTRACE_EVENT_CLONE));
    expect(call(k, u.waitForStop(parent))).toBe(0);
    // finish_report turned the STOP into REPORT: no vfork_stop, and the stop is in utrace_resume,
    // after clone returned in the parent's slow path (its syscall exit is not logged yet).
    expect(eventsOf(k, 'utrace/vfork-stop')).toEqual([]);
    expect(u.taskState(parent)!.resume).toBe(UTRACE_RESUME);
    expect(eventsOf(k, 'utrace/report').find((r) => r.pid === parent && r.event === 'QUIESCE(0)')?.action).toBe(UTRACE_STOP);
    call(k, u.control(parent, e, UTRACE_DETACH));
    expectClean(k, k.run());
  });
});

describe('UTRACE_SYSCALL_ABORT', () => {
  function opener(rets: number[]): Program {
    return function* opener(u2) {
      yield u2.sleep(3);
      rets.push(yield u2.syscall('open', { path: '/etc/shadow', flags: 0 }));
      rets.push(yield u2.syscall('open', { path: '/etc/hosts', flags: 0 }));
    };
  }

  test('report_syscall_entry returning ABORT skips the body: the task gets -ENOSYS and the call has no effect', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 2 });
    const rets: number[] = [];
    const exits: Array<number | null> = [];
    const pid = k.spawn(opener(rets));
    let aborts = 0;
    const seccomp: UtraceEngineOps<any> = {
      name: 'seccomp',
      *reportSyscallEntry(_a, _e, regs) {
        if (regs.syscall !== 'open' || aborts > 0) return UTRACE_RESUME;
        aborts++;
        return UTRACE_RESUME | UTRACE_SYSCALL_ABORT;
      },
      *reportSyscallExit(_a, _e, regs) {
        if (regs.syscall === 'open') exits.push(regs.ret);
        return UTRACE_RESUME;
      },
    };
    call(k, attachWith(k.api.utrace, pid, seccomp, UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT));
    expectClean(k, k.run());
    expect(rets).toEqual([-ENOSYS, 3]); // fd 3 was never taken by the aborted call
    expect(exits).toEqual([-ENOSYS, 3]);
    // The body never ran: one fs/open (the second call), one sys_open entry.
    expect(eventsOf(k, 'fs/open').map((o) => o.path)).toEqual(['/etc/hosts']);
  });

  test('several engines: entry runs in reverse and the last return decides; the action argument carries the earlier choice', () => {
    for (const keep of [true, false]) {
      const k = kernelWith({ plugins: [utrace()], seed: 2 });
      const rets: number[] = [];
      const pid = k.spawn(opener(rets));
      const seenByFirst: number[] = [];
      // Attached first, so called last for syscall entry: it has the final say.
      const first: UtraceEngineOps<any> = {
        name: 'first',
        *reportSyscallEntry(action, _e, regs) {
          if (regs.syscall !== 'open') return UTRACE_RESUME;
          seenByFirst.push(action & UTRACE_SYSCALL_MASK);
          return UTRACE_RESUME | (keep ? action & UTRACE_SYSCALL_MASK : UTRACE_SYSCALL_RUN);
        },
      };
      const second: UtraceEngineOps<any> = {
        name: 'second',
        *reportSyscallEntry(_a, _e, regs) {
          return regs.syscall === 'open' ? UTRACE_RESUME | UTRACE_SYSCALL_ABORT : UTRACE_RESUME;
        },
      };
      call(k, attachWith(k.api.utrace, pid, first, UTRACE_EVENT_SYSCALL_ENTRY));
      call(k, attachWith(k.api.utrace, pid, second, UTRACE_EVENT_SYSCALL_ENTRY));
      expectClean(k, k.run());
      expect(seenByFirst).toEqual([UTRACE_SYSCALL_ABORT, UTRACE_SYSCALL_ABORT]);
      expect(rets).toEqual(keep ? [-ENOSYS, -ENOSYS] : [3, 4]);
    }
  });

  test('SIGKILL ending a stop at syscall entry aborts the call: the body never runs', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 4 });
    const u = k.api.utrace;
    const rets: number[] = [];
    const pid = k.spawn(opener(rets));
    const stopper: UtraceEngineOps<any> = {
      name: 'stopper',
      *reportSyscallEntry(_a, _e, regs) {
        return regs.syscall === 'open' ? UTRACE_STOP : UTRACE_RESUME;
      },
    };
    call(k, attachWith(u, pid, stopper, UTRACE_EVENT_SYSCALL_ENTRY));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    k.spawn(function* killer(u2) {
      yield u2.kill(pid, SIGKILL);
    });
    expectClean(k, k.run());
    expect(eventsOf(k, 'fs/open')).toEqual([]);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === pid)?.code).toBe(128 + SIGKILL);
    expect(rets).toEqual([]);
  });

  test('resumed with REPORT after a stop at entry, every engine sees the entry again with UTRACE_SYSCALL_RESUMED', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 4 });
    const u = k.api.utrace;
    const rets: number[] = [];
    const pid = k.spawn(opener(rets));
    const actions: number[] = [];
    let stops = 0;
    const stopper: UtraceEngineOps<any> = {
      name: 'stopper',
      *reportQuiesce() {
        return UTRACE_RESUME;
      },
      *reportSyscallEntry(action, _e, regs) {
        if (regs.syscall !== 'open') return UTRACE_RESUME;
        actions.push(action);
        return stops++ === 0 ? UTRACE_STOP : UTRACE_RESUME;
      },
    };
    const e = call(k, attachWith(u, pid, stopper, UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_QUIESCE));
    expect(call(k, u.waitForStop(pid))).toBe(0);
    expect(call(k, u.control(pid, e, UTRACE_REPORT))).toBe(0);
    expectClean(k, k.run());
    // The first open: reported, stopped, reported again (RESUMED), then run; the second open once.
    expect(actions.map((a) => (a & UTRACE_SYSCALL_RESUMED) !== 0)).toEqual([false, true, false]);
    expect(rets).toEqual([3, 4]);
  });
});
