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

describe('event stamping', () => {
  /** The event as the spread made it before stampers: the header, then the payload's own keys in order. */
  const spread = (input: object, seq: number, time: number, cpu: number) => ({ seq, time, cpu, ...input });

  it('gives the spread event, key for key and frozen, for every payload shape of a type', () => {
    const store = new EventStore();
    store.declareEvent('test/shape', 'test');
    // Six shapes of one type (more than a type's compiled stampers), each seen twice, interleaved.
    const payloads: Array<Record<string, unknown>> = [
      { type: 'test/shape', a: 1 },
      { type: 'test/shape', a: 2, b: 'x' },
      { type: 'test/shape', b: 'y', a: 3 },
      { a: 4, type: 'test/shape' },
      { type: 'test/shape' },
      { type: 'test/shape', a: 5, b: 'z', c: [1, 2] },
      { type: 'test/shape', a: 6, __proto__: { inherited: true } },
    ];
    let seq = 0;
    for (let round = 0; round < 2; round++) {
      for (const p of payloads) {
        const e = store.append(p as never, 7, 1);
        const want = spread(p, seq++, 7, 1);
        expect(Object.keys(e)).toEqual(Object.keys(want));
        expect(e).toEqual(want);
        expect(Object.isFrozen(e)).toBe(true);
      }
    }
  });

  it('still refuses a header field in a payload of a shape it has compiled a stamper for', () => {
    const store = new EventStore();
    store.append({ type: 'kernel/function-defined', name: 'f' }, 0, 0);
    let err: unknown;
    try {
      store.append({ type: 'kernel/function-defined', name: 'g', time: 3 } as never, 1, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_EVENT', message: expect.stringContaining('"time"') });
  });
});
