import { describe, expect, it } from 'vitest';
import { createKernel } from '@tracelab/core';
import { gracePeriodEnds } from '@tracelab/explore';

describe('gracePeriodEnds counts a stall per grace period', () => {
  it('is cold the first step it sees a grace period, so a new one starting as the last ends restarts the count', () => {
    const k = createKernel({ cpus: 1 });
    const base = k.state;
    const withGp = (seq: number) => ({ ...base, runqueue: [], rcu: { ...base.rcu, gp: { seq, start: 0, pending: [0] } } }) as typeof base;
    const m = gracePeriodEnds();
    expect(m.hot(withGp(1))).toBeNull();
    expect(m.hot(withGp(1))).toMatch(/grace period 1 .* has not ended/);
    expect(m.hot(withGp(1))).not.toBeNull();
    // GP 1 ended and GP 2 started within one step: progress.
    expect(m.hot(withGp(2))).toBeNull();
    expect(m.hot(withGp(2))).toMatch(/grace period 2 /);
  });
});
