import { describe, expect, it } from 'vitest';
import { option, pluginOptions, TracelabError } from '@tracelab/core';

const resolve = pluginOptions('demo', {
  on: option.boolean(true),
  hz: option.integer(10, 1, 1000),
  walk: option.oneOf('tasklist', ['tasklist', 'rcu']),
  mode: option.oneOf('a', ['a', 'b', 'c']),
  unsafe: option.listOf(['x', 'y']),
  size: option.custom(128, 'a power of two >= 128', (v) => (typeof v === 'number' && v >= 128 && (v & (v - 1)) === 0 ? v : undefined)),
});

function thrown(f: () => unknown): TracelabError {
  try {
    f();
  } catch (err) {
    if (err instanceof TracelabError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('pluginOptions', () => {
  it('fills every key with its default, keeps given values, and freezes the result', () => {
    const d = resolve(undefined);
    expect(d).toEqual({ on: true, hz: 10, walk: 'tasklist', mode: 'a', unsafe: [], size: 128 });
    expect(Object.isFrozen(d)).toBe(true);
    const g = resolve({ on: false, hz: 1000, walk: 'rcu', mode: 'c', unsafe: ['y', 'x'], size: 4096 });
    expect(g).toEqual({ on: false, hz: 1000, walk: 'rcu', mode: 'c', unsafe: ['y', 'x'], size: 4096 });
    expect(Object.isFrozen(g.unsafe)).toBe(true);
  });

  it('refuses a value its spec does not accept, naming the plugin, the key, what is accepted and what was given', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ on: 1 }, /^demo: option on must be a boolean, got 1$/],
      [{ hz: 0 }, /^demo: option hz must be an integer from 1 to 1000, got 0$/],
      [{ hz: 2.5 }, /hz must be an integer/],
      [{ walk: 'RCU' }, /^demo: option walk must be 'tasklist' or 'rcu', got "RCU"$/],
      [{ mode: 'd' }, /^demo: option mode must be one of 'a', 'b', 'c', got "d"$/],
      [{ unsafe: ['x', 'x'] }, /unsafe must be an array of 'x' or 'y', each at most once, got \["x","x"\]/],
      [{ unsafe: 'x' }, /unsafe must be an array/],
      [{ size: 100 }, /^demo: option size must be a power of two >= 128, got 100$/],
    ];
    for (const [given, message] of cases) {
      const err = thrown(() => resolve(given));
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toMatch(message);
      expect(err.detail).toMatchObject({ plugin: 'demo', option: Object.keys(given)[0] });
    }
  });

  it('refuses an unknown key (a typo) with the known ones, and options that are not an object', () => {
    const typo = thrown(() => resolve({ hz: 5, walks: 'rcu' }));
    expect(typo.message).toBe('demo: unknown option "walks" (known options: on, hz, walk, mode, unsafe, size)');
    expect(typo.detail).toMatchObject({ plugin: 'demo', option: 'walks', known: ['on', 'hz', 'walk', 'mode', 'unsafe', 'size'] });
    expect(thrown(() => resolve(null)).message).toBe('demo: options must be an object, got null');
    expect(thrown(() => resolve([])).message).toBe('demo: options must be an object, got an array');
    expect(thrown(() => resolve('x')).message).toBe('demo: options must be an object, got string');
    // An inherited key is not an option.
    expect(() => resolve(Object.create({ on: 'no' }))).not.toThrow();
  });
});

describe('option combinators for what plugins need beyond the basic kinds', () => {
  it('integer with no max reads "an integer >= min"', () => {
    const r = pluginOptions('demo', { ticks: option.integer(0, 0) });
    expect(r({ ticks: 2 ** 40 }).ticks).toBe(2 ** 40);
    const err = thrown(() => r({ ticks: -1 }));
    expect(err.message).toBe('demo: option ticks must be an integer >= 0, got -1');
    expect(err.detail).toMatchObject({ plugin: 'demo', option: 'ticks' });
  });

  it('setOf takes one name or an array, counts a repeat once, keeps the order given or sorts', () => {
    const r = pluginOptions('demo', { unsafe: option.setOf(['b', 'a', 'c']), sortedSet: option.setOf(['b', 'a', 'c'], { sorted: true }) });
    expect(r({})).toEqual({ unsafe: [], sortedSet: [] });
    expect(r({ unsafe: 'c', sortedSet: 'c' })).toEqual({ unsafe: ['c'], sortedSet: ['c'] });
    const g = r({ unsafe: ['c', 'a', 'c'], sortedSet: ['c', 'a', 'c'] });
    expect(g).toEqual({ unsafe: ['c', 'a'], sortedSet: ['a', 'c'] });
    expect(Object.isFrozen(g.unsafe)).toBe(true);
    for (const bad of ['d', ['a', 'd'], 3]) {
      const err = thrown(() => r({ unsafe: bad }));
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toBe(`demo: option unsafe must be one of 'b', 'a', 'c', or an array of them, got ${JSON.stringify(bad)}`);
      expect(err.detail).toMatchObject({ plugin: 'demo', option: 'unsafe' });
    }
  });

  it('arrayOf checks every element, refuses repeats when distinct, and copies', () => {
    const nonEmpty = (x: unknown): boolean => typeof x === 'string' && x.length > 0;
    const r = pluginOptions('demo', {
      names: option.arrayOf<string>([], 'non-empty names', nonEmpty, { distinct: true }),
      globs: option.arrayOf(['*'], 'globs', nonEmpty),
    });
    expect(r(undefined)).toEqual({ names: [], globs: ['*'] });
    const given = ['a', 'b'];
    const g = r({ names: given, globs: ['x', 'x'] });
    expect(g).toEqual({ names: ['a', 'b'], globs: ['x', 'x'] });
    expect(g.names).not.toBe(given);
    expect(Object.isFrozen(g.names)).toBe(true);
    expect(thrown(() => r({ names: ['a', 'a'] })).message).toBe('demo: option names must be an array of non-empty names, each at most once, got ["a","a"]');
    expect(thrown(() => r({ names: [''] })).message).toBe('demo: option names must be an array of non-empty names, each at most once, got [""]');
    expect(thrown(() => r({ globs: 'x' })).message).toBe('demo: option globs must be an array of globs, got "x"');
  });

  it('defaultFrom computes a default from the options before it; a given value is checked as usual', () => {
    const r = pluginOptions('demo', {
      hz: option.integer(10, 1, 1000),
      timeout: option.defaultFrom(option.integer(6000, 0), (o: { hz: number }) => 600 * o.hz),
    });
    expect(r({})).toEqual({ hz: 10, timeout: 6000 });
    expect(r({ hz: 100 })).toEqual({ hz: 100, timeout: 60_000 });
    expect(r({ hz: 100, timeout: 5 })).toEqual({ hz: 100, timeout: 5 });
    expect(thrown(() => r({ timeout: -1 })).message).toBe('demo: option timeout must be an integer >= 0, got -1');
  });

  it('map turns the accepted value, given or default, using the options before it', () => {
    const r = pluginOptions('demo', {
      all: option.boolean(true),
      dump: option.map(option.boolean(true), (v, o: { all: boolean }) => v && o.all),
    });
    expect(r({})).toEqual({ all: true, dump: true });
    expect(r({ all: false })).toEqual({ all: false, dump: false });
    expect(r({ dump: false })).toEqual({ all: true, dump: false });
    expect(thrown(() => r({ all: false, dump: 'no' })).message).toBe('demo: option dump must be a boolean, got "no"');
  });

  it('rules check across options once every key is resolved, naming the keys', () => {
    const r = pluginOptions('demo', { mode: option.oneOf('discard', ['discard', 'overwrite']), snapshot: option.boolean(false) }, [
      {
        options: ['snapshot', 'mode'],
        check: (o) => (o.snapshot && o.mode !== 'overwrite' ? `snapshot needs mode 'overwrite', got mode '${o.mode}'` : undefined),
      },
    ]);
    expect(r({ snapshot: true, mode: 'overwrite' })).toEqual({ mode: 'overwrite', snapshot: true });
    const err = thrown(() => r({ snapshot: true }));
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message).toBe("demo: snapshot needs mode 'overwrite', got mode 'discard'");
    expect(err.detail).toMatchObject({ plugin: 'demo', option: 'snapshot', options: ['snapshot', 'mode'] });
    // A value its spec refuses is reported before any rule runs.
    expect(thrown(() => r({ snapshot: 1 })).message).toBe('demo: option snapshot must be a boolean, got 1');
  });

  it('null is a value, not an absent option: refused unless the spec accepts it', () => {
    const r = pluginOptions('demo', {
      on: option.boolean(true),
      uuid: option.custom<string | null>(null, 'a uuid or null', (v) => (v === null || typeof v === 'string' ? v : undefined)),
    });
    expect(thrown(() => r({ on: null })).message).toBe('demo: option on must be a boolean, got null');
    expect(r({ uuid: null, on: undefined })).toEqual({ on: true, uuid: null });
  });
});
