import { describe, expect, it } from 'vitest';
import { TracelabError, createKernel, type Program } from '@tracelab/core';
import { CORE_MARKERS, markers, type MarkerProbe, type MarkersOptions } from '@tracelab/markers';
import { eventsOf, expectClean, kernelWith, nop, recorder } from './helpers.js';

const FMT = 'v %d';

function named(name: string, probe: MarkerProbe): MarkerProbe {
  Object.defineProperty(probe, 'name', { value: name });
  return probe;
}

const thrower = (): MarkerProbe =>
  named('boom', () => {
    throw new Error('probe exploded');
  });

function codeOf(f: () => unknown): { code: string | undefined; message: string } {
  try {
    f();
  } catch (err) {
    return { code: err instanceof TracelabError ? err.code : undefined, message: (err as Error).message };
  }
  return { code: undefined, message: '' };
}

describe('a probe that throws (markers/probe-fault)', () => {
  it('is caught by mark: reported, skipped for that call, the next probe runs, the plugin stays enabled', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const bad = thrower();
    expect(k.call(api.probeRegister('ev', FMT, bad, 'pbad', 20))).toBe(0); // higher prio: runs first
    expect(k.call(api.probeRegister('ev', FMT, recorder(calls, 'good'), 'pgood'))).toBe(0);
    k.call(api.mark('ev', 'cp', 1));
    k.call(api.mark('ev', 'cp', 2));
    // The good probe, after the throwing one, ran on both calls.
    expect(calls).toEqual([
      ['good', 'pgood', 'cp', FMT, [1]],
      ['good', 'pgood', 'cp', FMT, [2]],
    ]);
    const faults = eventsOf(k, 'markers/probe-fault');
    expect(faults).toHaveLength(2);
    expect(faults[0]).toMatchObject({
      name: 'ev',
      module: null,
      probe: expect.stringMatching(/^boom#\d+$/),
      private: 's:"pbad"',
      message: 'Error: probe exploded',
    });
    expect(faults[0]!.pid).toBeGreaterThan(0);
    expect(k.state.plugins.markers!.stats.probeFaults).toBe(2);
    // No oops, the plugin is not disabled, and its paths still work.
    expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(false);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    expect(k.call(api.probeRegister('ev', FMT, nop()))).toBe(0);
    expect(k.call(api.probeUnregister('ev', bad, 'pbad'))).toBe(0);
    k.run();
    expectClean(k);
  });

  it('is caught on a core site fired from the core hooks (kernel_sched_schedule)', () => {
    const k = createKernel({ cpus: 2, seed: 4, plugins: [markers()] });
    const api = k.api.markers;
    const { name, format } = CORE_MARKERS.schedSchedule;
    const calls: unknown[][] = [];
    expect(k.call(api.probeRegister(name, format, thrower(), 'x'))).toBe(0);
    expect(k.call(api.probeRegister(name, format, recorder(calls, 'good')))).toBe(0);
    const prog: Program = function* p(u) {
      yield u.compute(5);
      yield u.exit(0);
    };
    k.spawn(prog);
    k.spawn(prog);
    const r = k.run();
    expect(r.done).toBe(true);
    expectClean(k);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    const faults = eventsOf(k, 'markers/probe-fault');
    expect(faults.length).toBeGreaterThan(0);
    expect(faults.every((f) => f.name === name && f.probe.startsWith('boom#'))).toBe(true);
    expect(calls.length).toBeGreaterThan(0);
    expect(k.call(api.probeRegister(name, format, nop()))).toBe(0);
  });

  it('propagates from site.call, the host-side fast path, to its caller', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    k.call(api.probeRegister('ev', FMT, thrower()));
    expect(() => site.call(null, 1)).toThrow('probe exploded');
  });
});

describe('markers(options) validation', () => {
  it('rejects unknown keys, naming the key and the known ones', () => {
    const r = codeOf(() => markers({ freeOldArrays: 'immediately' } as unknown as MarkersOptions));
    expect(r.code).toBe('INVALID_OPTION');
    expect(r.message).toContain('freeOldArrays');
    for (const key of ['freeOldArray', 'logProbeCalls', 'coreMarkers']) expect(r.message).toContain(key);
  });

  it('rejects mistyped booleans and non-object options', () => {
    expect(codeOf(() => markers({ coreMarkers: 'no' } as unknown as MarkersOptions)).code).toBe('INVALID_OPTION');
    expect(codeOf(() => markers({ logProbeCalls: 1 } as unknown as MarkersOptions)).code).toBe('INVALID_OPTION');
    expect(codeOf(() => markers(null as unknown as MarkersOptions)).code).toBe('INVALID_OPTION');
    expect(codeOf(() => markers([] as unknown as MarkersOptions)).code).toBe('INVALID_OPTION');
    expect(codeOf(() => markers('x' as unknown as MarkersOptions)).code).toBe('INVALID_OPTION');
    // Valid ones still pass; an undefined value means the default.
    expect(markers({ coreMarkers: false, logProbeCalls: true, freeOldArray: undefined } as unknown as MarkersOptions).options).toEqual({
      freeOldArray: 'after-grace-period',
      logProbeCalls: true,
      coreMarkers: false,
    });
    expect(markers().options).toEqual({ freeOldArray: 'after-grace-period', logProbeCalls: false, coreMarkers: true });
  });
});

describe('moduleLoad with untrusted data.markers', () => {
  it('skips bad entries with a printk naming the module and the entry, and arms the good ones', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const calls: unknown[][] = [];
    k.call(api.probeRegister('ev', FMT, recorder(calls, 'p')));
    const bad = [null, 3, { name: 'bad name', format: FMT }, { name: 'ev' }, { name: 'ev', format: 7 }];
    expect(k.call(k.paths.loadModule('m', { markers: [bad[0], { name: 'ev', format: FMT }, ...bad.slice(1)] }))).toBe(0);
    expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(false);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    const printks = eventsOf(k, 'kernel/printk').map((e) => e.text);
    expect(printks).toHaveLength(bad.length);
    for (const [i, b] of bad.entries()) {
      expect(printks[i]).toContain('module m');
      expect(printks[i]).toContain(JSON.stringify(b));
    }
    // The good site is loaded and armed.
    expect(api.sites().map((s) => [s.name, s.module, s.armed])).toEqual([['ev', 'm', true]]);
    api.site('ev', 'm')!.call(null, 5);
    expect(calls).toEqual([['p', undefined, null, FMT, [5]]]);
    expect(k.call(api.unloadModule('m'))).toBe(0);
    // Not an array: one printk, nothing loaded, still no oops.
    expect(k.call(k.paths.loadModule('m2', { markers: 'ev' }))).toBe(0);
    expect(eventsOf(k, 'kernel/printk').at(-1)!.text).toContain('module m2');
    expect(api.sites()).toEqual([]);
    expect(k.call(api.probeRegister('ev2', FMT, nop()))).toBe(0);
    k.run();
    expectClean(k);
  });
});
