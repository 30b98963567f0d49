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
