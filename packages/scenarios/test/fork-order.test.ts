/**
 * SEMANTICS.md §1(c) and §6 (first bullet): where the fork re-copies the flag (ktrace's
 * `forkRecopy`) against how the walk reads the list (`walk`, `rcuView`), on the
 * fork-flag-race scenario with one child. docs/ktrace.md §2.1.1 has the table.
 *
 * The claims about the RCU walk are checked under one search, the complete DFS tree with
 * preemption bound 3 (6,170 schedules for the clean one; 5,384 with the visible-step reduction,
 * the DFS's default until 2026-12-07): with the live view, upstream's order
 * (insert, then re-copy) is clean over all of it, and LTTng's order (re-copy, then insert) is
 * found; with the version view (the stand-in for a weakly ordered machine) upstream's order
 * is found too.
 */
import { describe, expect, it } from 'vitest';
import { explore } from '@tracelab/explore';
import { scenario } from '@tracelab/scenarios';

const s = scenario('fork-flag-race');
const DFS = { strategy: 'dfs', bound: 3, budget: 10_000, scale: 1 } as const;

describe('fork ordering against the walk (fork-flag-race, one child)', () => {
  it('RCU walk, live view, upstream order: no interleaving loses the child (the bound-3 DFS tree completes clean)', () => {
    const r = explore(s, { variant: 'rcu-walk-live', ...DFS });
    expect(r.found).toBe(false);
    expect(r.complete).toBe(true);
  }, 300_000);

  it("RCU walk, live view, LTTng's order (re-copy before the insertion): found, ktrace/flag", () => {
    const r = explore(s, { variant: 'rcu-walk-live-lttng-order', ...DFS });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe('ktrace/flag');
  }, 300_000);

  it('RCU walk, version view, upstream order: found under the same search (the stand-in for the store-buffering effect)', () => {
    const r = explore(s, { variant: 'rcu-walk', ...DFS });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe('ktrace/flag');
  }, 300_000);

  it("read-lock walk: LTTng's order is clean (the bound-2 DFS tree completes); the re-copy before write_lock is found", () => {
    const clean = explore(s, { variant: 'lttng-order', strategy: 'dfs', bound: 2, budget: 10_000, scale: 1 });
    expect(clean.found).toBe(false);
    expect(clean.complete).toBe(true);
    for (let seed = 1; seed <= 5; seed++) {
      const r = explore(s, { variant: 'recopy-before-lock', seed, budget: 300 });
      expect(r.found, `seed ${seed}`).toBe(true);
      expect(r.failure!.invariant).toBe('ktrace/flag');
    }
  }, 300_000);
});
