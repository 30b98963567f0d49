import { describe, expect, it } from 'vitest';
import { defineScenario, unsafeOptionVariants, variantOf } from '@tracelab/explore';

describe('unsafeOptionVariants', () => {
  const v = unsafeOptionVariants('the upstream design', {
    'single-scan': { description: 'one scan', expect: ['x/one'] },
    'no-sync': { description: 'no wait', expect: ['x/two', 'x/three'] },
  });

  it('lists fixed (safe) first, then each unsafe option value as an unsafe variant with its invariants, in order', () => {
    expect(v.variants).toEqual([
      { name: 'fixed', description: 'the upstream design', safe: true },
      { name: 'single-scan', description: 'one scan', safe: false, expect: ['x/one'] },
      { name: 'no-sync', description: 'no wait', safe: false, expect: ['x/two', 'x/three'] },
    ]);
  });

  it('gives each unsafe variant its own option value and fixed (or a name it does not list) none', () => {
    expect(v.options('single-scan')).toEqual({ unsafe: 'single-scan' });
    expect(v.options('no-sync')).toEqual({ unsafe: 'no-sync' });
    expect(v.options('fixed')).toEqual({});
    expect(v.options('toString')).toEqual({});
  });

  it('makes variants defineScenario accepts', () => {
    const s = defineScenario({
      name: 'demo-unsafe',
      description: 'd',
      source: 's',
      cpus: 1,
      maxSteps: 10,
      variants: v.variants,
      plugins: () => [],
      setup: () => undefined,
    });
    expect(variantOf(s, 'no-sync').safe).toBe(false);
  });
});
