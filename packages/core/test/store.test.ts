import { describe, expect, it } from 'vitest';
import { createKernel, intMapValues, type KernelState } from '@tracelab/core';
import { EventStore } from '../src/internal/store.js';
import { expectClean, shell } from './helpers.js';

/** Every object reachable from `v` that is not frozen, as paths. */
function unfrozen(v: unknown, path = 'state', out: string[] = [], seen = new Set<object>()): string[] {
  if (typeof v !== 'object' || v === null || seen.has(v)) return out;
  seen.add(v);
  if (!Object.isFrozen(v)) out.push(path);
  for (const [k, child] of Object.entries(v)) unfrozen(child, `${path}.${k}`, out, seen);
  return out;
}

describe('the copy-on-write fold', () => {
  it('leaves every state deeply frozen and every earlier state untouched', () => {
    const k = createKernel({ cpus: 2, seed: 9 });
    k.spawn(shell);
    const before: KernelState[] = [];
    k.state$.subscribe((s) => before.push(s));
    const json = (s: KernelState) => JSON.stringify(s);
    expectClean(k, k.run({ maxSteps: 40 }));
    const early = before.map(json);
    expectClean(k, k.run());
    expect(unfrozen(k.state)).toEqual([]);
    expect(before.slice(0, early.length).map(json)).toEqual(early);
    for (const s of before.slice(0, 5)) expect(unfrozen(s)).toEqual([]);
    // Untouched slices are shared, not copied: structural sharing is what keeps an event cheap.
    expect(k.stateAt(5).modules).toBe(k.state.modules);
    expect(k.stateAt(k.log.length - 2).rcu).toBe(k.state.rcu);
    expect([...intMapValues(k.state.tasks)]).toEqual([]);
  });
});

describe('snapshots', () => {
  it('thin out as the log grows, and stateAt still gives the state after any event', () => {
    const store = new EventStore({ every: 4, max: 4 });
    const states: KernelState[] = [];
    for (let i = 0; i < 100; i++) {
      store.append({ type: 'kernel/function-defined', name: `f${i}` }, i, 0);
      states.push(store.state);
    }
    for (let seq = 0; seq < 100; seq++) {
      expect(store.stateAt(seq)).toEqual(states[seq]);
      expect(Object.keys(store.stateAt(seq).functions)).toHaveLength(seq + 1);
    }
    // Bounded: at most `max` snapshots whatever the length of the log.
    expect((store as unknown as { snapshots: unknown[] }).snapshots.length).toBeLessThanOrEqual(4);
  });
});
