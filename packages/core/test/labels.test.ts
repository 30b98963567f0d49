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

describe('trackComm', () => {
  it('names tasks as the log does: spawn, the child of a fork, exec renames; other events change nothing', async () => {
    const { createKernel, trackComm } = await import('@tracelab/core');
    const k = createKernel({ cpus: 2, seed: 3 });
    k.spawn(
      function* (u) {
        yield u.fork(function* (c) {
          yield c.exec('cc1', function* (x) {
            yield x.exit(0);
          });
        });
        yield u.wait();
        yield u.exit(0);
      },
      { comm: 'make' },
    );
    k.run({ maxSteps: 10_000 });
    const comm = new Map<number, string>();
    for (const e of k.log) trackComm(comm, e);
    const child = k.log.find((e) => e.type === 'fork/dup')!;
    expect(child.type === 'fork/dup' && comm.get(child.child)).toBe('cc1');
    expect(comm.get(child.type === 'fork/dup' ? child.parent : -1)).toBe('make');
    // Every name the map holds is one the state gave that pid while it lived.
    for (const [pid, name] of comm)
      expect(k.log.some((e) => (e.type === 'task/spawned' || e.type === 'task/exec') && e.pid === pid && e.comm === name)).toBe(true);
  });
});
