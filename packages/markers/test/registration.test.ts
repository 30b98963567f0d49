import { describe, expect, it } from 'vitest';
import { EBUSY, ENOENT, ENOMEM, EPERM, EEXIST, canonicalJson, createKernel, definePlugin, replay } from '@tracelab/core';
import { MARKERS_MUTEX, markers, type MarkerProbe } from '@tracelab/markers';
import { eventsOf, expectClean, failAllocs, kernelWith, recorder, nop } from './helpers.js';

const FMT = 'value %d name %s';

describe('probeRegister / probeUnregister: transitions', () => {
  it('walks 0->1, 1->2, N->N+1, N->N-1, N->1 and 1->0, publishing a new immutable array each time one is needed', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((t) => recorder(calls, t)) as [MarkerProbe, MarkerProbe, MarkerProbe];
    const seen: Array<{ ret: number; probes: string[]; armed: boolean }> = [];
    const step = (ret: number) => {
      seen.push({ ret, probes: api.probes('ev').map((p) => p.probePrivate as string), armed: site.armed });
    };
    step(k.call(api.probeRegister('ev', FMT, a, 'pa')));
    step(k.call(api.probeRegister('ev', FMT, b, 'pb')));
    step(k.call(api.probeRegister('ev', FMT, c, 'pc')));
    step(k.call(api.probeUnregister('ev', b, 'pb')));
    step(k.call(api.probeUnregister('ev', a, 'pa')));
    step(k.call(api.probeUnregister('ev', c, 'pc')));
    expectClean(k);
    expect(seen).toEqual([
      { ret: 0, probes: ['pa'], armed: true },
      { ret: 0, probes: ['pa', 'pb'], armed: true },
      { ret: 0, probes: ['pa', 'pb', 'pc'], armed: true },
      { ret: 0, probes: ['pa', 'pc'], armed: true },
      { ret: 0, probes: ['pc'], armed: true },
      { ret: 0, probes: [], armed: false },
    ]);
    const reg = eventsOf(k, 'markers/probe-registered');
    const unreg = eventsOf(k, 'markers/probe-unregistered');
    expect(reg.map((e) => [e.transition, e.probes, e.array === null])).toEqual([
      ['0->1', 1, true],
      ['1->2', 2, false],
      ['N->N+1', 3, false],
    ]);
    expect(unreg.map((e) => [e.transition, e.probes, e.array === null])).toEqual([
      ['N->N-1', 2, false],
      ['N->1', 1, true],
      ['1->0', 0, true],
    ]);
    // Every array is new: 1->2, N->N+1 and N->N-1 each published a fresh one.
    const arrays = [reg[1]!.array, reg[2]!.array, unreg[0]!.array];
    expect(new Set(arrays).size).toBe(3);
    // Each replaced array was retired, and all of them are freed by now; the last probe gone drops the entry.
    expect(
      eventsOf(k, 'markers/array-retired')
        .filter((e) => e.array !== null)
        .map((e) => e.array),
    ).toEqual(arrays);
    expect(
      eventsOf(k, 'markers/array-freed')
        .filter((e) => e.array !== null)
        .map((e) => e.array),
    ).toEqual(arrays);
    expect(k.state.plugins.markers!.entries).toEqual({});
    expect(k.state.plugins.markers!.arrays).toEqual({});
    expect(eventsOf(k, 'markers/entry-removed').map((e) => e.name)).toEqual(['ev']);
  });

  it('keeps the state slice in step with the registry: probes, published array, rcu_pending', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const a = recorder([], 'a');
    const b = recorder([], 'b');
    k.call(api.probeRegister('ev', FMT, a, 1));
    k.call(api.probeRegister('ev', FMT, b, { x: 1 }));
    const e = k.state.plugins.markers!.entries['ev']!;
    expect(e.probes).toEqual([
      { probe: expect.stringMatching(/^a#\d+$/), private: 'n:1', prio: 10 },
      { probe: expect.stringMatching(/^b#\d+$/), private: expect.stringMatching(/^obj#\d+$/), prio: 10 },
    ]);
    expect(e.format).toBe(FMT);
    expect(e.array).not.toBeNull();
    expect(k.state.plugins.markers!.arrays[String(e.array)]).toMatchObject({ name: 'ev', probes: 2, state: 'published' });
    // The 1->2 change handed its old slot to call_rcu_sched: pending until a grace period ends.
    expect(e.rcuPending).toBe(true);
    expect(e.inFlight).toBe(1);
    k.run();
    expect(k.state.plugins.markers!.entries['ev']!.rcuPending).toBe(false);
    expectClean(k);
  });
});

describe('priorities (SEMANTICS.md 2.2)', () => {
  it('calls higher priorities first and keeps registration order among equals, in mark, site.call and the state', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const p = recorder(calls, 'p');
    k.call(api.probeRegister('ev', FMT, p, 'a')); // 10
    k.call(api.probeRegister('ev', FMT, p, 'b', 5));
    k.call(api.probeRegister('ev', FMT, p, 'c', 20));
    k.call(api.probeRegister('ev', FMT, p, 'd')); // 10, after a
    k.call(api.probeRegister('ev', FMT, p, 'e', 5)); // after b
    const order = ['c', 'a', 'd', 'b', 'e'];
    expect(api.probes('ev').map((x) => x.probePrivate)).toEqual(order);
    site.call(null, 1, 'x');
    k.call(api.mark('ev', null, 2, 'y'));
    expect(calls.map((c) => c[1])).toEqual([...order, ...order]);
    expect(k.state.plugins.markers!.entries['ev']!.probes.map((x) => [x.private, x.prio])).toEqual([
      ['s:"c"', 20],
      ['s:"a"', 10],
      ['s:"d"', 10],
      ['s:"b"', 5],
      ['s:"e"', 5],
    ]);
    k.run();
    expectClean(k);
  });
});

describe('error codes', () => {
  it('-EBUSY for the same probe and private twice; the same probe with other private data is another probe', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    const priv = { id: 1 };
    expect(k.call(api.probeRegister('ev', FMT, p, priv))).toBe(0);
    expect(k.call(api.probeRegister('ev', FMT, p, priv))).toBe(-EBUSY);
    expect(k.call(api.probeRegister('ev', FMT, p, { id: 1 }))).toBe(0);
    expect(k.call(api.probeRegister('ev', FMT, p, priv))).toBe(-EBUSY); // N probes: the array is searched too
    expect(api.probes('ev')).toHaveLength(2);
    expect(eventsOf(k, 'markers/probe-registered')).toHaveLength(2);
    expectClean(k);
  });

  it("-EPERM when the format differs from the site's or from the earlier probes'; a null format is not checked", () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    expect(k.call(api.probeRegister('ev', 'other %d', p))).toBe(-EPERM);
    expect(k.state.plugins.markers!.entries['ev']).toBeUndefined(); // refused before anything was created
    expect(k.call(api.probeRegister('ev', null, p))).toBe(0);
    expect(k.state.plugins.markers!.entries['ev']!.format).toBe(FMT); // took the site's format
    expect(k.call(api.probeRegister('ev', 'other %d', p, 2))).toBe(-EPERM);
    // No site yet: the first probe's format becomes the marker's; later ones must agree.
    expect(k.call(api.probeRegister('later', 'x %d', p))).toBe(0);
    expect(k.call(api.probeRegister('later', 'y %d', p, 2))).toBe(-EPERM);
    expect(k.call(api.probeRegister('later', 'x %d', p, 2))).toBe(0);
    // A marker registered with a null format adopts the first format given.
    expect(k.call(api.probeRegister('free', null, p))).toBe(0);
    expect(k.state.plugins.markers!.entries['free']!.format).toBeNull();
    expect(k.call(api.probeRegister('free', 'f %s', p, 2))).toBe(0);
    expect(k.state.plugins.markers!.entries['free']!.format).toBe('f %s');
    expect(k.call(api.probeRegister('free', 'g %s', p, 3))).toBe(-EPERM);
    expectClean(k);
  });

  it('-ENOENT for an unknown name; 0 and no change for a probe that is not connected', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    const q: MarkerProbe = nop();
    expect(k.call(api.probeUnregister('ev', p))).toBe(-ENOENT); // a site but no registered probe: no entry
    expect(k.call(api.probeUnregister('nothing', p))).toBe(-ENOENT);
    k.call(api.probeRegister('ev', FMT, p, 'x'));
    k.run(); // let the registration's pending free (its NULL oldptr) run first
    const before = k.log.length;
    expect(k.call(api.probeUnregister('ev', q, 'x'))).toBe(0);
    expect(k.call(api.probeUnregister('ev', p, 'other'))).toBe(0);
    expect(k.log.slice(before).filter((e) => e.type.startsWith('markers/'))).toEqual([]);
    expect(api.probes('ev')).toHaveLength(1);
    expectClean(k);
  });

  it('-ENOMEM when allocation-failure injection fails the entry, the 1->2 array or the N->N-1 array', () => {
    const p: MarkerProbe = nop();
    const q: MarkerProbe = nop();
    const r: MarkerProbe = nop();
    // Allocation 1: the entry itself.
    const k1 = kernelWith({}, { faultInjection: true, strategy: failAllocs(1) });
    const a1 = k1.api.markers;
    a1.defineMarker('ev', FMT);
    expect(k1.call(a1.probeRegister('ev', FMT, p))).toBe(-ENOMEM);
    expect(k1.state.plugins.markers!.entries).toEqual({});
    expect(a1.site('ev')!.armed).toBe(false);
    expect(k1.call(a1.probeRegister('ev', FMT, p))).toBe(0); // allocation 2 succeeds
    expectClean(k1);
    // Allocations: 1 entry, 2 the 1->2 array (fails), 3 the 1->2 array again, 4 the 2->3 array, 5 the 3->2 array (fails).
    const k2 = kernelWith({}, { faultInjection: true, strategy: failAllocs(2, 5) });
    const a2 = k2.api.markers;
    a2.defineMarker('ev', FMT);
    expect(k2.call(a2.probeRegister('ev', FMT, p))).toBe(0);
    expect(k2.call(a2.probeRegister('ev', FMT, q))).toBe(-ENOMEM);
    expect(a2.probes('ev').map((c) => c.probe)).toEqual([p]);
    expect(k2.call(a2.probeRegister('ev', FMT, q))).toBe(0);
    expect(k2.call(a2.probeRegister('ev', FMT, r))).toBe(0);
    expect(k2.call(a2.probeUnregister('ev', q))).toBe(-ENOMEM);
    expect(a2.probes('ev').map((c) => c.probe)).toEqual([p, q, r]); // the probe stays connected
    expect(k2.call(a2.probeUnregister('ev', r))).toBe(0); // 3->2 again: allocation 6
    expect(a2.probes('ev').map((c) => c.probe)).toEqual([p, q]);
    expectClean(k2);
  });

  it('releases markers_mutex on every return, error or not (one exit), and leaves it free', () => {
    // Allocations: 1 the entry of 'ev' (fails), 2 the entry again, 3 the 1->2 array (fails).
    const k = kernelWith({}, { faultInjection: true, strategy: failAllocs(1, 3) });
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    const q: MarkerProbe = nop();
    const results: Array<{ what: string; ret: number; acquired: number; released: number }> = [];
    const call = (what: string, path: Parameters<typeof k.call>[0]): void => {
      const before = k.log.length;
      const ret = k.call(path) as number;
      const mine = k.log.slice(before).filter((e) => (e.type === 'lock/acquired' || e.type === 'lock/released') && e.lock === MARKERS_MUTEX);
      results.push({
        what,
        ret,
        acquired: mine.filter((e) => e.type === 'lock/acquired').length,
        released: mine.filter((e) => e.type === 'lock/released').length,
      });
    };
    call('entry allocation fails', api.probeRegister('ev', FMT, p));
    call('format differs', api.probeRegister('ev', 'other %d', p));
    call('registered', api.probeRegister('ev', FMT, p));
    call('same probe again', api.probeRegister('ev', FMT, p));
    call('array allocation fails', api.probeRegister('ev', FMT, q));
    call('no such marker', api.probeUnregister('nothing', p));
    call('probe not connected', api.probeUnregister('ev', q));
    call('unregistered', api.probeUnregister('ev', p));
    expect(results.map((r) => [r.what, r.ret])).toEqual([
      ['entry allocation fails', -ENOMEM],
      ['format differs', -EPERM],
      ['registered', 0],
      ['same probe again', -EBUSY],
      ['array allocation fails', -ENOMEM],
      ['no such marker', -ENOENT],
      ['probe not connected', 0],
      ['unregistered', 0],
    ]);
    for (const r of results) {
      expect(r.acquired, r.what).toBeGreaterThan(0);
      expect(r.released, r.what).toBe(r.acquired);
    }
    const lock = k.state.locks[MARKERS_MUTEX];
    expect(lock?.kind === 'mutex' ? [lock.owner, lock.waiters] : lock).toEqual([null, []]);
    expectClean(k);
  });

  it('refuses host misuse synchronously with INVALID_OPTION', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return undefined;
    };
    expect(code(() => api.probeRegister('ev', FMT, 'nope' as unknown as MarkerProbe))).toBe('INVALID_OPTION');
    expect(code(() => api.probeRegister('', FMT, nop()))).toBe('INVALID_OPTION');
    expect(code(() => api.defineMarker('bad name', FMT))).toBe('INVALID_OPTION');
    api.defineMarker('ev', FMT);
    expect(code(() => api.defineMarker('ev', 'other'))).toBe('INVALID_OPTION');
    expect(code(() => api.loadModule('m', [{ name: 'x', format: 3 as unknown as string }]))).toBe('INVALID_OPTION');
    expect(code(() => markers({ freeOldArray: 'never' as 'immediately' }))).toBe('INVALID_OPTION');
  });
});

describe('RCU-deferred free and rcu_pending', () => {
  it('frees each old array only after a grace period that began after it was retired', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const ps: MarkerProbe[] = [0, 1, 2, 3].map(() => nop());
    for (const p of ps) k.call(api.probeRegister('ev', FMT, p));
    for (const p of ps) k.call(api.probeUnregister('ev', p));
    k.run();
    expectClean(k);
    const retired = eventsOf(k, 'markers/array-retired');
    expect(retired.length).toBe(8); // one call_rcu_sched per change, NULL oldptr included
    for (const r of retired) {
      expect(r.deferred).toBe(true);
      const queued = k.log.find((e) => e.type === 'rcu/callback-queued' && e.id === r.callback) as { seq: number; gp: number } | undefined;
      expect(queued!.seq).toBeLessThan(r.seq);
      expect(queued).toBeDefined();
      const freed = eventsOf(k, 'markers/array-freed').find((e) => e.seq > r.seq && e.array === r.array && e.name === r.name)!;
      // The grace period recorded at retirement is the one the callback waits for, and it had
      // completed at the free (markers/freed-after-grace-period).
      expect(r.gp).toBe(queued!.gp);
      expect(freed.completed).toBeGreaterThanOrEqual(r.gp);
      const gpStart = k.log.find((e) => e.type === 'rcu/gp-start' && e.gp === queued!.gp)!;
      const gpEnd = k.log.find((e) => e.type === 'rcu/gp-end' && e.gp === queued!.gp)!;
      // The grace period the free waits for starts after the hand-off, and ends before the free.
      expect(gpStart.seq).toBeGreaterThan((queued as { seq: number }).seq);
      expect(gpEnd.seq).toBeLessThan(freed.seq);
      expect(freed.seq).toBeGreaterThan(r.seq);
    }
  });

  it('waits for the pending free before the next change on the same marker (one rcu_head per entry)', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const a: MarkerProbe = nop();
    const b: MarkerProbe = nop();
    // Two registrations back to back in one thread: the second one must see the first one's free run first.
    const r = k.call(
      (function* () {
        const x = yield* api.probeRegister('ev', FMT, a);
        const y = yield* api.probeRegister('ev', FMT, b);
        return [x, y];
      })(),
    );
    expect(r).toEqual([0, 0]);
    const firstRetire = eventsOf(k, 'markers/array-retired')[0]!;
    const firstFree = eventsOf(k, 'markers/array-freed')[0]!;
    const secondRegistration = eventsOf(k, 'markers/probe-registered')[1]!;
    expect(firstRetire.seq).toBeLessThan(firstFree.seq);
    expect(firstFree.seq).toBeLessThan(secondRegistration.seq);
    // The second registration slept on the barrier (the pending free), holding markers_mutex.
    expect(k.log.some((e) => e.type === 'task/sleep' && e.on === 'markers-rcu:ev' && e.seq > firstRetire.seq && e.seq < firstFree.seq)).toBe(true);
    k.run();
    expectClean(k);
  });

  it('unsafe freeOldArray: "immediately" frees in the same step, with no RCU callback and no rcu_pending, and markers/freed-after-grace-period fires', () => {
    const k = kernelWith({ freeOldArray: 'immediately' });
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const a: MarkerProbe = nop();
    const b: MarkerProbe = nop();
    k.call(api.probeRegister('ev', FMT, a));
    k.call(api.probeRegister('ev', FMT, b));
    // The early free halts the run at the end of its step: no reader is needed.
    expect(() => k.call(api.probeUnregister('ev', b))).toThrow(
      /invariant markers\/freed-after-grace-period violated: probe array #1 of marker ev was freed with 0 RCU-sched grace periods completed, but was retired needing grace period 1/,
    );
    expect(k.violations.map((v) => v.name)).toEqual(['markers/freed-after-grace-period']);
    const retired = eventsOf(k, 'markers/array-retired');
    expect(retired).toHaveLength(1); // only a real array (1->2 had none to free)
    expect(retired[0]).toMatchObject({ array: 1, deferred: false, callback: null, gp: 1 });
    const freed = eventsOf(k, 'markers/array-freed')[0]!;
    expect(freed.seq).toBe(retired[0]!.seq + 1);
    expect(freed.completed).toBe(0);
    expect(k.log.some((e) => e.type === 'rcu/callback-queued')).toBe(false);
    expect(k.state.plugins.markers!.entries['ev']!.rcuPending).toBe(false);
    expect(k.state.plugins.markers!.earlyFrees).toEqual([{ name: 'ev', array: 1, gp: 1, completed: 0 }]);
  });
});

describe('module markers', () => {
  it("arms a module's sites at load with the probes already registered for their names, and drops them at unload", () => {
    const k = kernelWith();
    const api = k.api.markers;
    const calls: unknown[][] = [];
    const p = recorder(calls, 'p');
    expect(k.call(api.probeRegister('mod_ev', 'm %d', p, 'pp'))).toBe(0);
    expect(
      k.call(
        api.loadModule('mod', [
          { name: 'mod_ev', format: 'm %d' },
          { name: 'mod_quiet', format: 'q' },
        ]),
      ),
    ).toBe(0);
    const site = api.site('mod_ev', 'mod')!;
    expect(site.module).toBe('mod');
    expect(site.armed).toBe(true);
    expect(api.site('mod_quiet', 'mod')!.armed).toBe(false);
    expect(eventsOf(k, 'markers/site-armed').map((e) => [e.name, e.module, e.armed])).toEqual([['mod_ev', 'mod', true]]);
    k.call(api.mark('mod_ev', 'cp', 7));
    site.call('fast', 8);
    expect(calls).toEqual([
      ['p', 'pp', 'cp', 'm %d', [7]],
      ['p', 'pp', 'fast', 'm %d', [8]],
    ]);
    // A probe registered after the load arms the live module's site too.
    const q = recorder(calls, 'q');
    expect(k.call(api.probeRegister('mod_quiet', 'q', q))).toBe(0);
    expect(api.site('mod_quiet', 'mod')!.armed).toBe(true);
    expect(k.call(api.loadModule('mod', []))).toBe(-EEXIST);
    expect(k.call(api.unloadModule('mod'))).toBe(0);
    expect(site.armed).toBe(false);
    expect(api.site('mod_ev', 'mod')).toBeUndefined();
    expect(
      eventsOf(k, 'markers/site-armed')
        .filter((e) => !e.armed)
        .map((e) => e.name)
        .sort(),
    ).toEqual(['mod_ev', 'mod_quiet']);
    calls.length = 0;
    k.call(api.mark('mod_ev', 'cp', 9));
    site.call('fast', 10);
    expect(calls).toEqual([]);
    // The probes stay registered by name: a reload arms the site again.
    expect(k.call(api.loadModule('mod', [{ name: 'mod_ev', format: 'm %d' }]))).toBe(0);
    expect(api.site('mod_ev', 'mod')!.armed).toBe(true);
    expect(k.call(api.unloadModule('nope'))).toBe(-ENOENT);
    k.run();
    expectClean(k);
  });

  it("leaves a module site whose format differs from its marker's disarmed, with a printk", () => {
    const k = kernelWith();
    const api = k.api.markers;
    const p: MarkerProbe = nop();
    k.call(api.probeRegister('ev', 'a %d', p));
    k.call(api.loadModule('m', [{ name: 'ev', format: 'b %s' }]));
    expect(api.site('ev', 'm')!.armed).toBe(false);
    expect(k.log.some((e) => e.type === 'kernel/printk' && e.text === 'Format mismatch for probe ev (a %d), marker (b %s)')).toBe(true);
    k.run();
    expectClean(k);
  });

  it('arms core and module sites of the same name together', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const core = api.defineMarker('ev', FMT);
    k.call(api.loadModule('m', [{ name: 'ev', format: FMT }]));
    const p: MarkerProbe = nop();
    k.call(api.probeRegister('ev', FMT, p));
    expect(core.armed).toBe(true);
    expect(api.site('ev', 'm')!.armed).toBe(true);
    expect(api.sites().map((s) => [s.name, s.module])).toEqual([
      ['ev', null],
      ['ev', 'm'],
    ]);
    k.call(api.probeUnregister('ev', p));
    expect(core.armed || api.site('ev', 'm')!.armed).toBe(false);
    k.run();
    expectClean(k);
  });
});

describe('defineMarker', () => {
  it('returns the same site for the same name and format, and arms a site defined while probes are connected', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const s1 = api.defineMarker('ev', FMT);
    expect(api.defineMarker('ev', FMT)).toBe(s1);
    const calls: unknown[][] = [];
    k.call(api.probeRegister('late', 'l %d', recorder(calls, 'p'), 1));
    const late = api.defineMarker('late', 'l %d');
    expect(late.armed).toBe(true);
    late.call(null, 5);
    expect(calls).toEqual([['p', 1, null, 'l %d', [5]]]);
  });

  it("can be called from another plugin's register (a plugin that depends on markers)", () => {
    const user = definePlugin({
      name: 'syscalls-user',
      version: '1.0.0',
      core: '^0.1.0',
      dependsOn: { markers: '^0.1.0' },
      register(ctx) {
        const site = ctx.api('markers').defineMarker('kernel_syscall_entry', 'ip %p syscall %d');
        return { site };
      },
    });
    const k = createKernel({ plugins: [user, markers()] });
    expect(k.api.markers.site('kernel_syscall_entry')!.format).toBe('ip %p syscall %d');
  });
});

describe('log and replay', () => {
  it('replays a run with registrations, modules and marks to the same state and hash', () => {
    const k = kernelWith({ logProbeCalls: true }, { seed: 5 });
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const a: MarkerProbe = nop();
    const b: MarkerProbe = nop();
    k.call(api.probeRegister('ev', FMT, a, 'x'));
    k.call(api.probeRegister('ev', FMT, b, 'y'));
    k.call(api.loadModule('m', [{ name: 'ev', format: FMT }]));
    k.call(api.mark('ev', null, 1, 'one'));
    k.call(api.probeUnregister('ev', a, 'x'));
    k.run();
    expectClean(k);
    const text = k.log.map((e) => canonicalJson(e)).join('\n') + '\n';
    const r = replay(text, { plugins: [markers({ coreMarkers: false, logProbeCalls: true })] });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state).toEqual(k.state);
  });
});
