import { describe, expect, it } from 'vitest';
import { canonicalEqual, canonicalJson, createKernel, mutexLock, mutexUnlock, schedPoint } from '@tracelab/core';

/** Values whose canonical texts collide and differ in every way the text allows. */
function corpus(): unknown[] {
  const f = (): number => 1;
  const leaves: unknown[] = [0, -0, 1, 1.5, NaN, Infinity, -Infinity, null, undefined, '', '0', 'a', 'null', true, false, f];
  const out: unknown[] = [...leaves];
  out.push([], [undefined], [null], [f], [0], [0, 1], [1, 0], [[0]], [{}]);
  out.push({}, { a: undefined }, { a: f }, { a: null }, { a: 0 }, { a: -0 }, { a: '0' }, { a: [0] }, { a: { b: 1 } });
  out.push({ a: 1, b: 2 }, { b: 2, a: 1 }, { a: 1, b: 2, c: undefined }, { a: 1 }, { b: 2 }, { a: 1, b: 3 });
  out.push({ a: { b: 1, c: [1, { d: undefined }] } }, { a: { c: [1, {}], b: 1 } }, { a: { c: [1, { d: null }], b: 1 } });
  // An object with a key that the other holds only through its prototype.
  out.push({ constructor: 1 }, { toString: 'x' });
  out.push(Object.freeze({ cpu: 0, pending: [1, 0] }), { pending: [1, 0], cpu: 0 }, { cpu: 1, pending: [0, 1] });
  return out;
}

describe('canonicalEqual', () => {
  it('says two values are equal exactly when their canonical JSON is', () => {
    const values = corpus();
    let equalPairs = 0;
    for (const a of values) {
      for (const b of values) {
        const want = canonicalJson(a) === canonicalJson(b);
        if (want) equalPairs++;
        expect(canonicalEqual(a, b), `${canonicalJson(a)} against ${canonicalJson(b)}`).toBe(want);
      }
    }
    // The corpus has equal pairs beyond the diagonal (key order, undefined members, -0, NaN/null).
    expect(equalPairs).toBeGreaterThan(values.length + 10);
  });

  it("compares `a`'s members as the map gives them, at every depth, and leaves array elements alone", () => {
    // The reference: `a` rewritten member by member, then compared as text.
    const mapA = (key: string, v: unknown): unknown => (key === 'cpu' && typeof v === 'number' ? 1 - v : v);
    const rewrite = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(rewrite);
      if (v === null || typeof v !== 'object') return v;
      return Object.fromEntries(Object.entries(v).map(([k, w]) => [k, rewrite(mapA(k, w))]));
    };
    const values: unknown[] = [...corpus(), { cpu: 0 }, { cpu: 1 }, { e: [{ cpu: 0 }] }, { e: [{ cpu: 1 }] }, [0], [1], { cpu: [0] }];
    let mapped = 0;
    for (const a of values) {
      for (const b of values) {
        const want = canonicalJson(rewrite(a)) === canonicalJson(b);
        if (want && canonicalJson(a) !== canonicalJson(b)) mapped++;
        expect(canonicalEqual(a, b, mapA), `${canonicalJson(a)} mapped, against ${canonicalJson(b)}`).toBe(want);
      }
    }
    expect(mapped).toBeGreaterThan(3);
  });

  it("agrees with the text on a real log's events, each against the next and against a copy with its keys reversed", () => {
    const k = createKernel({ cpus: 2, seed: 7 });
    for (let t = 0; t < 3; t++) {
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 3; i++) {
            yield* mutexLock('m');
            yield* schedPoint();
            yield* mutexUnlock('m');
          }
        })(),
        { comm: `w${t}` },
      );
    }
    k.run();
    const log = k.log;
    expect(log.length).toBeGreaterThan(20);
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([a, w]) => [a, reversed(w)]),
            )
          : v;
    for (let i = 0; i < log.length; i++) {
      expect(canonicalEqual(log[i], reversed(log[i]))).toBe(true);
      if (i + 1 < log.length) expect(canonicalEqual(log[i], log[i + 1])).toBe(canonicalJson(log[i]) === canonicalJson(log[i + 1]));
    }
  });
});
