import { describe, expect, it } from 'vitest';
import type { FtraceOps } from '@tracelab/ftrace';
import type { Kernel, KPath } from '@tracelab/core';
import { msleep } from '@tracelab/core';
import { eventsOf, expectClean, kernelWith, seeds } from '@tracelab/testing';
import { counter, ftraceStack, noop, worker } from './helpers.js';

const trampOf = (k: Kernel, ops: FtraceOps): number | null => k.state.plugins.ftrace!.ops[k.api.ftrace.opsId(ops)!]!.trampoline;

describe('trampoline reuse (arch_ftrace_update_trampoline, ftrace_shutdown)', () => {
  it('a DYNAMIC ops gets a new trampoline each time it is registered: the old one was freed at unregister', () => {
    const k = kernelWith(ftraceStack());
    const A: FtraceOps = { func: noop, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'A' };
    k.call(k.api.ftrace.registerFtraceFunction(A));
    const first = trampOf(k, A)!;
    k.call(k.api.ftrace.unregisterFtraceFunction(A));
    expect(trampOf(k, A)).toBeNull();
    expect(k.state.plugins.ftrace!.trampolines[first]!.state).toBe('freed');
    k.call(k.api.ftrace.registerFtraceFunction(A));
    const second = trampOf(k, A)!;
    expect(second).not.toBe(first);
    expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 1, tramp: second, target: second });
    k.run();
    expectClean(k);
  });

  it('a static ops (not DYNAMIC) keeps its trampoline across unregister/register: never retired, never freed, reused', () => {
    const k = kernelWith(ftraceStack());
    const S: FtraceOps = { func: noop, filter: ['sys_getpid'], label: 'S' };
    k.call(k.api.ftrace.registerFtraceFunction(S));
    const t = trampOf(k, S)!;
    const unregistered = k.log.length;
    k.call(k.api.ftrace.unregisterFtraceFunction(S));
    // No grace period was waited for: nothing is freed.
    expect(k.log.slice(unregistered).some((e) => e.type === 'ftrace/tramp-retired' || e.type === 'ftrace/tramp-freed' || e.type === 'rcu-tasks/gp-start')).toBe(
      false,
    );
    expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 0, tramp: null, target: 'nop' });
    k.call(k.api.ftrace.registerFtraceFunction(S));
    expect(trampOf(k, S)).toBe(t);
    expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 1, tramp: t, target: t });
    expect(eventsOf(k, 'ftrace/tramp-alloc')).toHaveLength(1);
    k.run();
    expectClean(k);
  });

  it("changing a registered ops' filter reuses its trampoline; sites it drops go to the list caller before the hashes change", () => {
    const k = kernelWith(ftraceStack());
    const c = counter();
    const A: FtraceOps = { func: c.func, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'A' };
    k.call(k.api.ftrace.registerFtraceFunction(A));
    const t = trampOf(k, A)!;
    const from = k.log.length;
    expect(k.call(k.api.ftrace.ftraceSetFilter(A, ['sys_getppid']))).toBe(0);
    expect(trampOf(k, A)).toBe(t);
    expect(eventsOf(k, 'ftrace/tramp-alloc')).toHaveLength(1);
    expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 0, tramp: null, target: 'nop' });
    expect(k.api.ftrace.record('sys_getppid')).toEqual({ refcount: 1, tramp: t, target: t });
    // Order inside the transaction: getpid leaves the trampoline for the list, then the hashes
    // change, then getpid goes to nop and getppid onto the same trampoline.
    const steps = k.log
      .slice(from)
      .filter((e) => e.type === 'ftrace/site-patched' || e.type === 'ftrace/filter-set')
      .map((e) => (e.type === 'ftrace/site-patched' ? `${e.ip}:${e.from}→${e.to}` : 'filter-set'));
    // (The final patches of one transaction are in no particular order, as ftrace_replace_code's
    // record order is the kernel's text layout.)
    expect(steps.slice(0, 2)).toEqual([`sys_getpid:${t}→list`, 'filter-set']);
    expect(steps.slice(2).sort()).toEqual([`sys_getpid:list→nop`, `sys_getppid:nop→${t}`]);
    k.run();
    expectClean(k);
  });

  it('filter changes while tasks call both functions never make the trampoline call the callback for an untraced function (30 seeds)', () => {
    let viaTrampoline = 0;
    for (const seed of seeds(30)) {
      const k = kernelWith({ plugins: ftraceStack(), seed });
      const hits: string[] = [];
      const A: FtraceOps = {
        func: (ip) => {
          hits.push(ip);
        },
        filter: ['sys_getpid'],
        flags: ['DYNAMIC'],
        label: 'A',
      };
      const api = k.api.ftrace;
      for (let i = 0; i < 3; i++) k.spawn(worker(20), { comm: `w${i}` });
      k.spawnKthread(
        (function* flipper(): KPath<void> {
          yield* api.registerFtraceFunction(A);
          for (let i = 0; i < 4; i++) {
            yield* msleep(3);
            yield* api.ftraceSetFilter(A, i % 2 === 0 ? ['sys_getppid'] : ['sys_getpid']);
          }
          yield* api.unregisterFtraceFunction(A);
        })(),
        { comm: 'flipper' },
      );
      const result = k.run({ maxSteps: 200_000 });
      expectClean(k, result);
      viaTrampoline += eventsOf(k, 'ftrace/tramp-enter').length;
      // Every trampoline entry was for a function the ops traced at that moment (the reducer
      // files a 'wrong-function' report otherwise, which expectClean would have thrown on).
      expect(eventsOf(k, 'ftrace/tramp-enter').every((e) => e.traced)).toBe(true);
    }
    expect(viaTrampoline).toBeGreaterThan(30);
  });
});
