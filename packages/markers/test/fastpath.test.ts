import { describe, expect, it } from 'vitest';
import type { MarkerProbe } from '@tracelab/markers';
import { expectClean, kernelWith, recorder, nop } from './helpers.js';

const FMT = 'a %d b %s';

describe('site.call: the real fast path', () => {
  it('does nothing while disarmed', () => {
    const k = kernelWith();
    const site = k.api.markers.defineMarker('ev', FMT);
    expect(site.armed).toBe(false);
    expect(() => site.call(null, 1, 'x')).not.toThrow();
    expect(site.call.length).toBe(0); // the empty function: no parameters, no rest array built
  });

  it('calls one probe directly with its private data, the call-site private data, the format and the arguments', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const priv = { mine: true };
    const callPriv = { site: 'here' };
    k.call(api.probeRegister('ev', FMT, recorder(calls, 'p'), priv));
    site.call(callPriv, 1, 'x');
    expect(calls).toHaveLength(1);
    const [tag, pp, cp, fmt, args] = calls[0]!;
    expect(tag).toBe('p');
    expect(pp).toBe(priv); // the same object, not a copy
    expect(cp).toBe(callPriv);
    expect(fmt).toBe(FMT);
    expect(args).toEqual([1, 'x']);
    expectClean(k);
  });

  it('calls N probes in registration order, each with its own private data, and follows every transition', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((t) => recorder(calls, t)) as [MarkerProbe, MarkerProbe, MarkerProbe];
    const fire = (): string[] => {
      calls.length = 0;
      site.call('cp', 7, 's');
      return calls.map((x) => `${String(x[0])}:${String(x[1])}`);
    };
    k.call(api.probeRegister('ev', FMT, a, 1));
    const single = site.call;
    expect(fire()).toEqual(['a:1']);
    k.call(api.probeRegister('ev', FMT, b, 2));
    expect(fire()).toEqual(['a:1', 'b:2']);
    k.call(api.probeRegister('ev', FMT, c, 3));
    k.call(api.probeRegister('ev', FMT, a, 4)); // the same probe with other private data is a 4th probe
    expect(fire()).toEqual(['a:1', 'b:2', 'c:3', 'a:4']);
    expect(calls.every((x) => x[2] === 'cp' && x[3] === FMT)).toBe(true);
    k.call(api.probeUnregister('ev', b, 2));
    expect(fire()).toEqual(['a:1', 'c:3', 'a:4']);
    k.call(api.probeUnregister('ev', a, 1));
    k.call(api.probeUnregister('ev', a, 4));
    expect(fire()).toEqual(['c:3']);
    expect(site.call).not.toBe(single); // swapped whole at each publication
    k.call(api.probeUnregister('ev', c, 3));
    expect(fire()).toEqual([]);
    expect(site.armed).toBe(false);
    k.run();
    expectClean(k);
  });

  it('calls every probe in order at every size, unrolled (2 to 4) or looped (5 and more)', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    const calls: unknown[][] = [];
    const p = recorder(calls, 'p');
    for (let n = 1; n <= 7; n++) {
      expect(k.call(api.probeRegister('ev', FMT, p, n))).toBe(0);
      calls.length = 0;
      site.call('cp', n, 'x');
      expect(calls).toEqual(Array.from({ length: n }, (_, i) => ['p', i + 1, 'cp', FMT, [n, 'x']]));
    }
    for (let n = 7; n >= 1; n--) {
      expect(k.call(api.probeUnregister('ev', p, 1 + 7 - n))).toBe(0); // drop from the front
      calls.length = 0;
      site.call('cp', 0, '');
      expect(calls.map((c) => c[1])).toEqual(Array.from({ length: n - 1 }, (_, i) => 7 - n + 2 + i));
    }
    k.run();
    expectClean(k);
  });

  it('walks an immutable array: a probe array, once published, cannot be written', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const p: MarkerProbe = nop();
    const q: MarkerProbe = nop();
    k.call(api.probeRegister('ev', FMT, p));
    k.call(api.probeRegister('ev', FMT, q));
    const site = api.site('ev') as unknown as { multi: { closures: unknown[] } };
    expect(Object.isFrozen(site.multi.closures)).toBe(true);
    expect(() => site.multi.closures.push({})).toThrow(TypeError);
    expect(Object.isFrozen(site.multi.closures[0])).toBe(true);
  });

  it('works with probes that are called from outside the simulation, after it ran', () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', FMT);
    let total = 0;
    k.call(api.probeRegister('ev', FMT, (_p, _c, _f, args) => void (total += args[0] as number)));
    k.run();
    for (let i = 0; i < 1000; i++) site.call(undefined, i, '');
    expect(total).toBe(499_500);
  });
});
