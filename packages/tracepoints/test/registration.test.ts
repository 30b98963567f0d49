import { describe, expect, it } from 'vitest';
import { EEXIST, EINVAL, ENOENT, ENOMEM, msleep, type KPath } from '@tracelab/core';
import { TRACEPOINTS_MUTEX, type TracepointProbe } from '@tracelab/tracepoints';
import { eventsOf, expectClean, failAllocs, kernelWith, recorder } from './helpers.js';

const noop = (tag: string): TracepointProbe => recorder([], tag);

describe('registration (SEMANTICS.md 2.2(b))', () => {
  it('item 6/11: default prio 10; higher prio runs first, equal prios keep registration order', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const calls: unknown[][] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((t) => recorder(calls, t)) as [TracepointProbe, TracepointProbe, TracepointProbe, TracepointProbe];
    expect(k.call(api.probeRegister('tp', a, 1))).toBe(0);
    expect(k.call(api.probeRegisterPrio('tp', b, 2, 20))).toBe(0);
    expect(k.call(api.probeRegisterPrio('tp', c, 3, 10))).toBe(0);
    expect(k.call(api.probeRegisterPrio('tp', d, 4, 5))).toBe(0);
    expect(api.probes('tp').map((p) => [p.data, p.prio])).toEqual([
      [2, 20],
      [1, 10],
      [3, 10],
      [4, 5],
    ]);
    k.call(api.trace('tp', 'x'));
    expect(calls.map((c) => c[0])).toEqual(['b', 'a', 'c', 'd']);
    expect(eventsOf(k, 'tracepoints/registered').map((e) => e.index)).toEqual([0, 0, 2, 3]);
    k.run();
    expectClean(k);
  });

  it('item 9: the same probe with the same data is -EEXIST; with other data it is another entry', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const a = noop('a');
    expect(k.call(api.probeRegister('tp', a, 'x'))).toBe(0);
    expect(k.call(api.probeRegister('tp', a, 'x'))).toBe(-EEXIST);
    expect(k.call(api.probeRegisterPrio('tp', a, 'x', 99))).toBe(-EEXIST);
    expect(k.call(api.probeRegister('tp', a, 'y'))).toBe(0);
    expect(api.probes('tp').length).toBe(2);
    k.run();
    expectClean(k);
  });

  it('item 8: a null or non-function probe is -EINVAL (unregister too); an unknown tracepoint is -ENOENT', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    expect(k.call(api.probeRegister('tp', null as unknown as TracepointProbe, 1))).toBe(-EINVAL);
    expect(k.call(api.probeRegister('tp', 'probe' as unknown as TracepointProbe))).toBe(-EINVAL);
    expect(k.call(api.probeUnregister('tp', null as unknown as TracepointProbe))).toBe(-EINVAL);
    expect(k.call(api.probeRegister('nope', noop('a')))).toBe(-ENOENT);
    expect(api.enabled('tp')).toBe(false);
    k.run();
    expectClean(k);
  });

  it('item 10: an allocation failure at register is -ENOMEM and changes nothing', () => {
    const k = kernelWith({}, { faultInjection: true, strategy: failAllocs(2) });
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const a = noop('a');
    expect(k.call(api.probeRegister('tp', a, 1))).toBe(0);
    expect(k.call(api.probeRegister('tp', noop('b'), 2))).toBe(-ENOMEM);
    expect(api.probes('tp').map((p) => p.data)).toEqual([1]);
    expect(eventsOf(k, 'tracepoints/registered').length).toBe(1);
    k.run();
    expectClean(k);
  });

  it('item 17: unregister with no probe is -ENOENT; an absent pair while others are connected returns 0 (a fresh copy, N->N)', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const a = noop('a');
    expect(k.call(api.probeUnregister('tp', a, 1))).toBe(-ENOENT);
    expect(k.call(api.probeRegister('tp', a, 1))).toBe(0);
    expect(k.call(api.probeUnregister('tp', a, 2))).toBe(0);
    expect(api.probes('tp').map((p) => p.data)).toEqual([1]);
    const u = eventsOf(k, 'tracepoints/unregistered');
    expect(u.map((e) => [e.transition, e.removed])).toEqual([['N->N', 0]]);
    expect(k.call(api.probeUnregister('nope', a, 1))).toBe(-ENOENT);
    k.run();
    expectClean(k);
  });

  it('items 3/13/14/15/18/19: 0->1, 1->2, N->N+1, N->N-1, 2->1, 1->0 publish a new array each time, with the static call and key as upstream', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const [a, b, c] = ['a', 'b', 'c'].map(noop) as [TracepointProbe, TracepointProbe, TracepointProbe];
    const seen: Array<[boolean, string | undefined]> = [];
    const snap = () => seen.push([api.enabled('tp'), k.state.plugins.tracepoints?.tracepoints['tp']?.staticCall]);
    k.call(api.probeRegister('tp', a, 1));
    snap();
    k.call(api.probeRegister('tp', b, 2));
    snap();
    k.call(api.probeRegister('tp', c, 3));
    snap();
    k.call(api.probeUnregister('tp', b, 2));
    snap();
    k.call(api.probeUnregister('tp', a, 1));
    snap();
    k.call(api.probeUnregister('tp', c, 3));
    snap();
    k.run();
    expectClean(k);
    expect(eventsOf(k, 'tracepoints/registered').map((e) => e.transition)).toEqual(['0->1', '1->2', 'N->N+1']);
    expect(eventsOf(k, 'tracepoints/unregistered').map((e) => [e.transition, e.array === null])).toEqual([
      ['N->N-1', false],
      ['2->1', false],
      ['1->0', true],
    ]);
    expect(seen).toEqual([
      [true, 'a#1'],
      [true, 'iterator'],
      [true, 'iterator'],
      [true, 'iterator'],
      [true, expect.stringMatching(/^c#/)],
      [false, 'iterator'],
    ]);
    const arrays = [...eventsOf(k, 'tracepoints/registered').map((e) => e.array), ...eventsOf(k, 'tracepoints/unregistered').map((e) => e.array)];
    expect(new Set(arrays).size).toBe(6);
    // Every old array went through call_rcu and has been freed after its grace period.
    expect(eventsOf(k, 'tracepoints/array-retired').map((e) => e.flavour)).toEqual(Array(5).fill('rcu-sched'));
    expect(eventsOf(k, 'tracepoints/array-freed').length).toBe(5);
    expect(k.state.plugins.tracepoints?.earlyFrees).toEqual([]);
  });

  it('item 13/14: on 0->1 the static call is set before the array is published and the key enabled; on 1->2 the iterator goes in before the array', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    k.call(api.probeRegister('tp', noop('a'), 1));
    k.call(api.probeRegister('tp', noop('b'), 2));
    const order = k.log
      .filter((e) => e.type === 'tracepoints/static-call' || e.type === 'tracepoints/registered' || e.type === 'tracepoints/key')
      .map((e) => e.type.slice('tracepoints/'.length));
    expect(order).toEqual(['static-call', 'registered', 'key', 'static-call', 'registered']);
  });

  it('item 7/18: regfunc runs before the first probe and unregfunc after the last; a negative regfunc refuses the registration', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    // sys_enter and sys_exit share a refcount (upstream syscall_regfunc, SEMANTICS 6: R in 0..2).
    let refcount = 0;
    let refuse = false;
    const regfunc = (): number => {
      if (refuse) return -EINVAL;
      refcount++;
      return 0;
    };
    const unregfunc = (): void => {
      refcount--;
    };
    api.defineTracepoint('sys_enter', { regfunc, unregfunc });
    api.defineTracepoint('sys_exit', { regfunc, unregfunc });
    const a = noop('a');
    const b = noop('b');
    k.call(api.probeRegister('sys_enter', a, 1));
    expect(refcount).toBe(1);
    k.call(api.probeRegister('sys_enter', b, 1));
    expect(refcount).toBe(1); // the key was already on
    k.call(api.probeRegister('sys_exit', a, 1));
    expect(refcount).toBe(2);
    k.call(api.probeUnregister('sys_enter', a, 1));
    expect(refcount).toBe(2);
    k.call(api.probeUnregister('sys_enter', b, 1));
    k.call(api.probeUnregister('sys_exit', a, 1));
    expect(refcount).toBe(0);
    refuse = true;
    expect(k.call(api.probeRegister('sys_enter', a, 1))).toBe(-EINVAL);
    expect(api.enabled('sys_enter')).toBe(false);
    const order = k.log.filter((e) => e.type === 'tracepoints/regfunc' || e.type === 'tracepoints/registered').map((e) => e.type);
    expect(order.slice(0, 2)).toEqual(['tracepoints/regfunc', 'tracepoints/registered']);
    expect(eventsOf(k, 'tracepoints/unregfunc').length).toBe(2);
    k.run();
    expectClean(k);
  });

  describe('item 7/10: func_add failing after regfunc (SEMANTICS.md 1(e), upstream fad217e16fde)', () => {
    // Allocation 1 is the first probe's array: it fails, after regfunc already counted.
    function run(unsafe: boolean): { refcount: number; ret: number; regs: number; unregs: number; k: ReturnType<typeof kernelWith> } {
      const k = kernelWith(unsafe ? { unsafe: 'no-regfunc-undo' } : {}, { faultInjection: true, strategy: failAllocs(1) });
      const api = k.api.tracepoints;
      let refcount = 0;
      api.defineTracepoint('sys_enter', {
        regfunc: () => {
          refcount++;
          return 0;
        },
        unregfunc: () => {
          refcount--;
        },
      });
      const ret = k.call(api.probeRegister('sys_enter', noop('a'), 1));
      expect(api.enabled('sys_enter')).toBe(false);
      expect(api.probes('sys_enter')).toEqual([]);
      return { refcount, ret, regs: eventsOf(k, 'tracepoints/regfunc').length, unregs: eventsOf(k, 'tracepoints/unregfunc').length, k };
    }

    it('by default the -ENOMEM path runs unregfunc, so regfunc leaves nothing behind', () => {
      const r = run(false);
      expect(r.ret).toBe(-ENOMEM);
      expect([r.regs, r.unregs, r.refcount]).toEqual([1, 1, 0]);
      r.k.run();
      expectClean(r.k);
    });

    it('no-regfunc-undo returns -ENOMEM with regfunc not undone: the count it took leaks', () => {
      const r = run(true);
      expect(r.ret).toBe(-ENOMEM);
      expect([r.regs, r.unregs, r.refcount]).toEqual([1, 0, 1]);
    });
  });

  it('item 7: a regfunc may be a kernel path (it sleeps with tracepoints_mutex held)', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp', {
      *regfunc(): KPath<number> {
        yield* msleep(2);
        return 0;
      },
    });
    expect(k.call(api.probeRegister('tp', noop('a'), 1))).toBe(0);
    expect(eventsOf(k, 'lock/acquired').some((e) => e.lock === TRACEPOINTS_MUTEX)).toBe(true);
    k.run();
    expectClean(k);
  });

  it('item 20/12: an unregister that cannot allocate overwrites the entry with tp_stub_func, returns 0, frees nothing; the next change purges the stub', () => {
    // Allocations: 1 = a's array, 2 = b's array, 3 = the unregister of a (fails).
    const k = kernelWith({}, { faultInjection: true, strategy: failAllocs(3) });
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const calls: unknown[][] = [];
    const a = recorder(calls, 'a');
    const b = recorder(calls, 'b');
    k.call(api.probeRegister('tp', a, 1));
    k.call(api.probeRegister('tp', b, 2));
    const arraysBefore = eventsOf(k, 'tracepoints/array-retired').length;
    expect(k.call(api.probeUnregister('tp', a, 1))).toBe(0);
    expect(api.probes('tp').map((p) => [p.stub, p.data])).toEqual([
      [true, 1],
      [false, 2],
    ]);
    expect(eventsOf(k, 'tracepoints/stub-installed').length).toBe(1);
    expect(eventsOf(k, 'tracepoints/array-retired').length).toBe(arraysBefore);
    // The call site calls the stub (a no-op) and then b.
    k.call(api.trace('tp', 'v'));
    expect(calls).toEqual([['b', 2, 'v']]);
    // a can be registered again (the stub is not a live (a, 1)), and the new array drops the stub;
    // equal prios keep registration order, so a now runs after b.
    expect(k.call(api.probeRegister('tp', a, 1))).toBe(0);
    expect(api.probes('tp').map((p) => [p.stub, p.data])).toEqual([
      [false, 2],
      [false, 1],
    ]);
    expect(eventsOf(k, 'tracepoints/registered').at(-1)?.purged).toBe(1);
    k.run();
    expectClean(k);
  });

  it('item 20: unregistering the last live probe of an array with stubs needs no allocation: NULL is published (1->0)', () => {
    const k = kernelWith({}, { faultInjection: true, strategy: failAllocs(3) });
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const a = noop('a');
    const b = noop('b');
    k.call(api.probeRegister('tp', a, 1));
    k.call(api.probeRegister('tp', b, 2));
    k.call(api.probeUnregister('tp', a, 1)); // stubbed
    expect(k.call(api.probeUnregister('tp', b, 2))).toBe(0);
    expect(api.enabled('tp')).toBe(false);
    expect(eventsOf(k, 'tracepoints/unregistered').at(-1)?.transition).toBe('1->0');
    k.run();
    expectClean(k);
  });

  it('item 5: concurrent registrations serialise on tracepoints_mutex and all land', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const k = kernelWith({}, { seed });
      const api = k.api.tracepoints;
      api.defineTracepoint('tp');
      const probes = ['a', 'b', 'c', 'd'].map(noop);
      probes.forEach((p, i) => k.spawnKthread(api.probeRegisterPrio('tp', p, i, i % 2)));
      k.run();
      expectClean(k);
      expect(api.probes('tp').length).toBe(4);
      expect(eventsOf(k, 'lock/acquired').filter((e) => e.lock === TRACEPOINTS_MUTEX).length).toBeGreaterThanOrEqual(4);
    }
  });
});
