import { describe, expect, it } from 'vitest';
import { intMapEmpty, intMapGet, intMapNextKey, intMapValues, intMapWith, type IntMap } from '@tracelab/core';

describe('IntMap', () => {
  it('intMapWith returns a new map and leaves the old one as it was, growing past its capacity', () => {
    let m: IntMap<string> = intMapEmpty();
    const keys = [0, 5, 31, 32, 1023, 1024, 40_000, 100_001];
    const versions: IntMap<string>[] = [];
    for (const k of keys) {
      versions.push(m);
      m = intMapWith(m, k, `v${k}`);
    }
    expect(m.size).toBe(keys.length);
    for (const k of keys) expect(intMapGet(m, k)).toBe(`v${k}`);
    expect(intMapGet(versions[3]!, 31)).toBe('v31');
    expect(intMapGet(versions[3]!, 32)).toBeUndefined();
    expect([...intMapValues(m)]).toEqual(keys.map((k) => `v${k}`));
    expect(Object.isFrozen(m) && Object.isFrozen(m.root)).toBe(true);
  });

  it('removes with null, and intMapNextKey walks the keys in order', () => {
    let m: IntMap<number> = intMapEmpty();
    for (const k of [3, 70, 2000, 2001]) m = intMapWith(m, k, k);
    const without = intMapWith(m, 70, null);
    expect(without.size).toBe(3);
    expect(intMapGet(without, 70)).toBeUndefined();
    expect(intMapGet(m, 70)).toBe(70);
    const walk: number[] = [];
    for (let k = intMapNextKey(without, -1); k !== -1; k = intMapNextKey(without, k)) walk.push(k);
    expect(walk).toEqual([3, 2000, 2001]);
    expect(intMapWith(without, 5_000_000, null)).toBe(without);
  });
});
