import { describe, expect, it } from 'vitest';
import { priorityIndex, withProbe } from '@tracelab/core';

const p = (name: string, prio: number) => ({ name, prio });

describe('probe arrays ordered by priority (func_add, marker_entry_add_probe)', () => {
  it('a probe goes before the first entry of strictly lower priority; equal priorities keep registration order', () => {
    const arr = [p('a', 20), p('b', 10), p('c', 10), p('d', 0)];
    expect(priorityIndex(arr, 30)).toBe(0);
    expect(priorityIndex(arr, 20)).toBe(1);
    expect(priorityIndex(arr, 10)).toBe(3);
    expect(priorityIndex(arr, 5)).toBe(3);
    expect(priorityIndex(arr, -1)).toBe(4);
    expect(priorityIndex([], 10)).toBe(0);
  });

  it('withProbe builds a new array and leaves the one readers may hold untouched', () => {
    const arr = Object.freeze([p('a', 10), p('b', 0)]);
    const r = withProbe(arr, p('x', 10));
    expect(r.at).toBe(1);
    expect(r.entries.map((e) => e.name)).toEqual(['a', 'x', 'b']);
    expect(r.entries).not.toBe(arr);
    expect(arr.map((e) => e.name)).toEqual(['a', 'b']);
    expect(withProbe([], p('only', 3))).toEqual({ at: 0, entries: [p('only', 3)] });
  });
});
