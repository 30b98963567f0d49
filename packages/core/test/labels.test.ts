import { describe, expect, it } from 'vitest';
import { ValueLabels } from '@tracelab/core';

describe('ValueLabels', () => {
  it('names a function by its name, an object or anonymous function by the fallback, each with an id in labelling order; primitives by value', () => {
    const l = new ValueLabels();
    function probe(): number {
      return 1;
    }
    const data = {};
    expect(l.label(probe, 'probe')).toBe('probe#1');
    expect(l.label(data, 'obj')).toBe('obj#2');
    expect(l.label(probe, 'probe')).toBe('probe#1');
    expect(l.label(() => undefined, 'probe')).toBe('probe#3');
    expect([l.label(5, 'x'), l.label('a"b', 'x'), l.label(7n, 'x'), l.label(true, 'x'), l.label(Symbol('t'), 'x'), l.label(null, 'x')]).toEqual([
      'n:5',
      's:"a\\"b"',
      'b:7',
      'bool:true',
      'sym:t',
      'null',
    ]);
  });

  it('mark: a reset keeps the labels given before it and forgets later ones; ids count on from the mark', () => {
    const l = new ValueLabels();
    const early = {};
    const late = {};
    expect(l.label(early, 'obj')).toBe('obj#1');
    const restore = l.mark();
    expect(l.label(late, 'obj')).toBe('obj#2');
    restore();
    expect(l.label(early, 'obj')).toBe('obj#1');
    // `late` is new again: it gets the next id after the mark, as in a fresh run.
    expect(l.label({}, 'obj')).toBe('obj#2');
    expect(l.label(late, 'obj')).toBe('obj#3');
  });
});
