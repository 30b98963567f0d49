import { describe, expect, it } from 'vitest';
import { BoundedDfs, Dpor } from '@tracelab/explore';
import { trampolineFree } from '../src/index.js';
import { reach } from './reach.js';

describe('dpor on a catalog scenario with CPU bindings (docs/explore.md §4a, fourth pass)', () => {
  // trampoline-free binds a Tasks-Rude worker to each CPU, and its idle loop runs a traced
  // function for several steps: an idle CPU that finds nothing it may run reads only its own
  // predicate (`rq:nonempty:<cpu>`), so the other CPU's idle steps stop racing with every
  // switch-in. The reduced search must still reach every final state of the unreduced one.
  it('trampoline-free/fixed at 1 caller, bound 1: the final states of the unreduced DFS, in fewer schedules', () => {
    let fullDone = 0;
    let redDone = 0;
    const full = reach(trampolineFree, 'fixed', 1, new BoundedDfs(1, true, false), undefined, () => fullDone++);
    const d = new Dpor(1);
    const red = reach(
      trampolineFree,
      'fixed',
      1,
      d,
      () => d.footprintSink(),
      () => redDone++,
    );
    expect([...red.digests].sort()).toEqual([...full.digests].sort());
    expect(fullDone).toBe(full.runs);
    expect(redDone).toBe(red.runs);
    expect(red.failures).toEqual(new Set());
    expect(full.failures).toEqual(new Set());
    // Every finished run ends in the same state here. Until idle CPUs halted between passes
    // (docs/core.md decision 21) most runs were cut at maxSteps, and a search that let the idle
    // CPU's polling hide the other CPU's pending work finished none (docs/explore.md §4a,
    // fourth pass); now every run of both searches finishes.
    expect(full.digests.size).toBeGreaterThan(0);
    expect(red.runs).toBeLessThan(full.runs);
  }, 120_000);

  it('trampoline-free/no-rude at 1 caller, bound 1: the violations of the unreduced DFS', () => {
    const full = reach(trampolineFree, 'no-rude', 1, new BoundedDfs(1, true, false));
    const d = new Dpor(1);
    const red = reach(trampolineFree, 'no-rude', 1, d, () => d.footprintSink());
    expect(full.failures).toEqual(new Set(['ftrace/no-trampoline-use-after-free']));
    expect([...red.failures].sort()).toEqual([...full.failures].sort());
    expect([...red.digests].sort()).toEqual([...full.digests].sort());
  }, 120_000);
});
