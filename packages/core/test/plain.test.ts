import { describe, expect, it } from 'vitest';
import { appended, copyObject, withField, withKey, without, withoutField, withoutKey } from '@tracelab/core';

// The helpers for plain reducers: a change makes a copy, in the key order an assignment would
// leave; no change gives the input itself (its identity is what checks memoise on).
describe('plain reducer helpers', () => {
  const frozen = <T>(v: T): T => Object.freeze(v);

  it('withField: a copy with the field set (its place kept, a new one last); the input when it holds the value', () => {
    const o = frozen({ a: 1, b: 2, c: undefined as number | undefined });
    const set = withField(o, 'a', 5);
    expect(set).toEqual({ a: 5, b: 2, c: undefined });
    expect(Object.keys(set)).toEqual(['a', 'b', 'c']);
    expect(set).not.toBe(o);
    expect(o.a).toBe(1);
    expect(withField(o, 'b', 2)).toBe(o);
    // A key present with the value undefined holds it; an absent key does not.
    expect(withField(o, 'c', undefined)).toBe(o);
    const sparse = frozen({ a: 1 } as { a: number; z?: number });
    const added = withField(sparse, 'z', undefined);
    expect(added).not.toBe(sparse);
    expect(Object.keys(added)).toEqual(['a', 'z']);
  });

  it('withoutField and withoutKey: a copy without the key, in order; the input when it is absent', () => {
    const o = frozen({ a: 1, b: 2, c: 3 } as { a: number; b?: number; c: number });
    expect(Object.keys(withoutField(o, 'b'))).toEqual(['a', 'c']);
    const none = frozen({ a: 1 } as { a: number; b?: number });
    expect(withoutField(none, 'b')).toBe(none);
    const rec = frozen({ 3: 'x', 7: 'y' } as Record<number, string>);
    expect(withoutKey(rec, 3)).toEqual({ 7: 'y' });
    expect(withoutKey(rec, '7')).toEqual({ 3: 'x' });
    expect(withoutKey(rec, 9)).toBe(rec);
  });

  it('withKey: a copy with the key set; the input when it holds the value already', () => {
    const child = frozen({ n: 1 });
    const rec = frozen({ a: child } as Record<string, { n: number }>);
    expect(withKey(rec, 'a', child)).toBe(rec);
    const next = withKey(rec, 'b', frozen({ n: 2 }));
    expect(Object.keys(next)).toEqual(['a', 'b']);
    expect(next['a']).toBe(child);
    expect(rec['b']).toBeUndefined();
  });

  it('appended and without: new lists; without an index it does not have, the list itself', () => {
    const list = frozen([1, 2, 3]);
    expect(appended(list, 4)).toEqual([1, 2, 3, 4]);
    expect(without(list, 0)).toEqual([2, 3]);
    expect(without(list, 1)).toEqual([1, 3]);
    expect(without(list, 2)).toEqual([1, 2]);
    expect(without(list, -1)).toBe(list);
    expect(without(list, 3)).toBe(list);
    expect(without(frozen([] as number[]), -1)).toEqual([]);
    expect(list).toEqual([1, 2, 3]);
  });

  it('copyObject: a writable copy with the same keys in the same order', () => {
    const o = frozen({ z: 1, a: undefined as number | undefined, m: frozen([1]) });
    const c = copyObject(o);
    expect(Object.keys(c)).toEqual(['z', 'a', 'm']);
    expect(c.m).toBe(o.m);
    c.z = 2;
    expect(o.z).toBe(1);
  });
});
