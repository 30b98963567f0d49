import { describe, expect, it } from 'vitest';
import { EBUSY, ENOENT, TracelabError, createKernel, type Kernel } from '@tracelab/core';
import { ftrace, type FtraceOps } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { counter, ftraceStack, noop, worker } from './helpers.js';

const dyn = (func: FtraceOps['func'], filter: string[], label: string, notrace: string[] = []): FtraceOps => ({
  func,
  filter,
  notrace,
  flags: ['DYNAMIC'],
  label,
});

describe('records and sites through every transition', () => {
  it('nop → trampoline → list → trampoline → nop, with the fast path calling exactly the tracing ops', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const a = counter();
    const b = counter();
    const A = dyn(a.func, ['sys_getpid'], 'A');
    const B = dyn(b.func, ['sys_getpid', 'sys_getppid'], 'B');
    expect(api.site('sys_getpid')).toBeUndefined(); // not an mcount site yet: nobody defined or called it

    // nop → trampoline: one ops with a trampoline.
    expect(k.call(api.registerFtraceFunction(A))).toBe(0);
    const site = api.site('sys_getpid')!;
    const tA = site.trampoline!;
    expect(site.target).toBe('trampoline');
    expect(api.record('sys_getpid')).toEqual({ refcount: 1, tramp: tA, target: tA });
    site.call('');
    expect([a.total(), b.total()]).toEqual([1, 0]);

    // trampoline → list: a second ops on the same function.
    expect(k.call(api.registerFtraceFunction(B))).toBe(0);
    expect(api.record('sys_getpid')).toEqual({ refcount: 2, tramp: null, target: 'list' });
    expect(site.target).toBe('list');
    // B alone on sys_getppid: its own trampoline, not A's.
    const tB = api.site('sys_getppid')!.trampoline!;
    expect(api.record('sys_getppid')).toEqual({ refcount: 1, tramp: tB, target: tB });
    expect(tB).not.toBe(tA);
    site.call('');
    expect([a.total(), b.total()]).toEqual([2, 1]); // the list caller called both
    api.site('sys_getppid')!.call('');
    expect([a.total(), b.total()]).toEqual([2, 2]); // B's trampoline called B only

    // list → trampoline: back to one ops, which still has its trampoline (reused, same id).
    expect(k.call(api.unregisterFtraceFunction(B))).toBe(0);
    expect(api.record('sys_getpid')).toEqual({ refcount: 1, tramp: tA, target: tA });
    expect(api.record('sys_getppid')).toEqual({ refcount: 0, tramp: null, target: 'nop' }); // trampoline → nop
    expect(k.state.plugins.ftrace!.trampolines[tB]!.state).toBe('freed');
    site.call('');
    expect([a.total(), b.total()]).toEqual([3, 2]);

    // trampoline → nop, and the trampoline is freed.
    expect(k.call(api.unregisterFtraceFunction(A))).toBe(0);
    expect(api.record('sys_getpid')).toEqual({ refcount: 0, tramp: null, target: 'nop' });
    expect(site.target).toBe('nop');
    expect(k.state.plugins.ftrace!.trampolines[tA]!.state).toBe('freed');
    site.call('');
    expect([a.total(), b.total()]).toEqual([3, 2]);

    // The log shows each site transition in order.
    const patches = eventsOf(k, 'ftrace/site-patched')
      .filter((e) => e.ip === 'sys_getpid')
      .map((e) => `${e.from}→${e.to}`);
    expect(patches).toEqual([`nop→${tA}`, `${tA}→list`, `list→${tA}`, `${tA}→nop`]);
    k.run();
    expectClean(k);
  });

  it('nop → list → list → nop when the ops get no trampoline (dynamicTrampolines: false), N → N-1 on the list', () => {
    const k = kernelWith({ plugins: ftraceStack({ dynamicTrampolines: false }) });
    const api = k.api.ftrace;
    const cs = [counter(), counter(), counter()];
    const ops = cs.map((c, i) => dyn(c.func, ['do_exit'], `o${i}`));
    expect(k.call(api.registerFtraceFunction(ops[0]!))).toBe(0);
    expect(api.record('do_exit')).toEqual({ refcount: 1, tramp: null, target: 'list' });
    expect(eventsOf(k, 'ftrace/tramp-none').map((e) => e.reason)).toEqual(['dynamic-off']);
    for (const o of ops.slice(1)) expect(k.call(api.registerFtraceFunction(o))).toBe(0);
    expect(api.record('do_exit')!.refcount).toBe(3);
    expect(k.call(api.unregisterFtraceFunction(ops[1]!))).toBe(0);
    expect(api.record('do_exit')).toEqual({ refcount: 2, tramp: null, target: 'list' });
    // (The kcall threads' own do_exit already went through the list: count from here.)
    const before = cs.map((c) => c.total());
    api.site('do_exit')!.call('sys_exit_group');
    expect(cs.map((c, i) => c.total() - before[i]!)).toEqual([1, 0, 1]);
    for (const o of [ops[0]!, ops[2]!]) expect(k.call(api.unregisterFtraceFunction(o))).toBe(0);
    expect(api.record('do_exit')).toEqual({ refcount: 0, tramp: null, target: 'nop' });
    expect(eventsOf(k, 'ftrace/site-patched').map((e) => `${e.from}→${e.to}`)).toEqual(['nop→list', 'list→nop']);
    k.run();
    expectClean(k);
  });

  it('filter and notrace hashes: an empty filter traces every known function except the notrace ones', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const c = counter();
    const all: FtraceOps = { func: c.func, notrace: ['do_exit'], flags: ['DYNAMIC'], label: 'all' };
    expect(k.call(api.registerFtraceFunction(all))).toBe(0);
    const t = k.state.plugins.ftrace!.ops[api.opsId(all)!]!.trampoline!;
    for (const f of ['copy_process', 'release_task', 'handle_mm_fault']) expect(api.record(f)).toEqual({ refcount: 1, tramp: t, target: t });
    expect(api.record('do_exit')).toBeUndefined();
    expect(api.site('do_exit')!.target).toBe('nop');
    // A second ops on one of them: that one goes to the list, the others stay on the trampoline.
    const one = counter();
    const O = dyn(one.func, ['copy_process'], 'one');
    expect(k.call(api.registerFtraceFunction(O))).toBe(0);
    expect(api.record('copy_process')).toEqual({ refcount: 2, tramp: null, target: 'list' });
    expect(api.record('release_task')).toEqual({ refcount: 1, tramp: t, target: t });
    api.site('copy_process')!.call('sys_clone');
    api.site('release_task')!.call('do_exit');
    expect([...c.calls.entries()]).toEqual([
      ['copy_process', 1],
      ['release_task', 1],
    ]);
    expect(one.total()).toBe(1);
    k.run();
    expectClean(k);
  });

  it('the simulated path: traced syscalls call the callbacks with ip and parentIp, through the trampoline and through the list', () => {
    const k = kernelWith({ plugins: ftraceStack(), seed: 3 });
    const api = k.api.ftrace;
    const seen: Array<[string, string]> = [];
    const A = dyn(
      (ip, parentIp) => {
        seen.push([ip, parentIp]);
      },
      ['sys_getpid'],
      'A',
    );
    expect(k.call(api.registerFtraceFunction(A))).toBe(0);
    k.spawn(worker(6), { comm: 'w' });
    expectClean(k, k.run());
    expect(seen).toEqual([
      ['sys_getpid', ''],
      ['sys_getpid', ''],
      ['sys_getpid', ''],
    ]);
    expect(eventsOf(k, 'ftrace/tramp-enter')).toHaveLength(3);
    expect(eventsOf(k, 'ftrace/tramp-exit')).toHaveLength(3);
    const B = dyn(noop, ['sys_getpid'], 'B');
    expect(k.call(api.registerFtraceFunction(B))).toBe(0);
    k.spawn(worker(2), { comm: 'w2' });
    expectClean(k, k.run());
    expect(seen).toHaveLength(4);
    const list = eventsOf(k, 'ftrace/list-call');
    expect(list.map((e) => [e.ip, e.ops])).toEqual([['sys_getpid', [api.opsId(A)!, api.opsId(B)!]]]);
    expect(k.state.plugins.ftrace!.onTrampoline).toEqual({});
  });

  it('a failed trampoline allocation leaves the ops on the list caller (failslab)', () => {
    // Fault injection answers every shouldFailAlloc through the strategy; find a seed that fails it.
    let found = false;
    for (let seed = 1; seed <= 40 && !found; seed++) {
      const k = createKernel({ cpus: 1, seed, faultInjection: true, plugins: [rcuTasks(), ftrace()] });
      const A = dyn(noop, ['sys_getpid'], 'A');
      expect(k.call(k.api.ftrace.registerFtraceFunction(A))).toBe(0);
      if (eventsOf(k, 'ftrace/tramp-none').some((e) => e.reason === 'enomem')) {
        found = true;
        expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 1, tramp: null, target: 'list' });
        expect(eventsOf(k, 'ftrace/tramp-alloc')).toHaveLength(0);
      }
    }
    expect(found).toBe(true);
  });
});

describe('errors', () => {
  it('-EBUSY for an ops already registered, -ENOENT for one that is not', () => {
    const k = kernelWith(ftraceStack());
    const A = dyn(noop, ['sys_getpid'], 'A');
    expect(k.call(k.api.ftrace.unregisterFtraceFunction(A))).toBe(-ENOENT);
    expect(k.call(k.api.ftrace.registerFtraceFunction(A))).toBe(0);
    expect(k.call(k.api.ftrace.registerFtraceFunction(A))).toBe(-EBUSY);
    expect(k.api.ftrace.record('sys_getpid')!.refcount).toBe(1);
    expect(k.call(k.api.ftrace.unregisterFtraceFunction(A))).toBe(0);
    expect(k.call(k.api.ftrace.unregisterFtraceFunction(A))).toBe(-ENOENT);
  });

  it('bad ops and bad options throw INVALID_OPTION naming what to fix', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof TracelabError ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    expect(code(() => api.registerFtraceFunction({ func: 3 } as never))).toMatch(/INVALID_OPTION: .*ops.func must be a function/);
    expect(code(() => api.registerFtraceFunction({ func: noop, filter: ['not a name'] }))).toMatch(/INVALID_OPTION: .*ops.filter/);
    expect(code(() => api.registerFtraceFunction({ func: noop, flags: ['STUB'] } as never))).toMatch(/INVALID_OPTION: .*ops.flags/);
    expect(code(() => api.registerFtraceFunction({ func: noop, filters: [] } as never))).toMatch(/INVALID_OPTION: .*unknown ops field "filters"/);
    expect(code(() => ftrace({ freeTrampolineAfter: 'rcu' } as never))).toMatch(/INVALID_OPTION: .*freeTrampolineAfter/);
    expect(code(() => ftrace({ traceIdel: true } as never))).toMatch(/INVALID_OPTION: .*unknown option "traceIdel"/);
    expect(code(() => ftrace(null as never))).toMatch(/INVALID_OPTION/);
    expect(code(() => createKernel({ plugins: [ftrace()] }))).toMatch(/PLUGIN_MISSING_DEPENDENCY/);
  });
});

describe('functions first seen after an update', () => {
  /** An empty-filter ops, then a function the kernel first calls later, then an unrelated update. */
  function lateFunction(read: (k: Kernel) => void) {
    const k = kernelWith({ plugins: ftraceStack(), seed: 5 });
    const all: FtraceOps = { func: noop, flags: ['DYNAMIC'], label: 'all' };
    expect(k.call(k.api.ftrace.registerFtraceFunction(all))).toBe(0);
    k.spawn(worker(2), { comm: 'w' }); // defines sys_getpid and sys_getppid: not traced yet (decision 8)
    expectClean(k, k.run());
    expect(k.api.ftrace.record('sys_getpid')).toBeUndefined();
    read(k);
    expect(k.call(k.api.ftrace.registerFtraceFunction(dyn(noop, ['sys_read'], 'B')))).toBe(0);
    expectClean(k, k.run());
    return k;
  }

  it('join the empty-filter ops at the next update, whatever the host read in between (a read changes nothing)', () => {
    const plain = lateFunction(() => undefined);
    // A host-side read of the site (which creates its Site object), and an unregistered ops whose
    // filter names a new function, before the update.
    const read = lateFunction((k) => {
      expect(k.api.ftrace.site('sys_getpid')!.target).toBe('nop');
    });
    for (const k of [plain, read]) {
      const t = k.state.plugins.ftrace!.ops[1]!.trampoline!;
      expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 1, tramp: t, target: t });
      expect(k.api.ftrace.record('sys_getppid')).toEqual({ refcount: 1, tramp: t, target: t });
    }
    expect(read.logHash()).toBe(plain.logHash());
  });

  it('a filter set on an unregistered ops declares its functions without hiding them from the ops already registered', () => {
    const k = lateFunction((kk) => {
      expect(kk.call(kk.api.ftrace.ftraceSetFilter(dyn(noop, [], 'C'), ['brand_new_fn']))).toBe(0);
    });
    const t = k.state.plugins.ftrace!.ops[1]!.trampoline!;
    expect(k.api.ftrace.record('brand_new_fn')).toEqual({ refcount: 1, tramp: t, target: t });
  });
});
