import { describe, expect, it } from 'vitest';
import { createKernel, schedPoint, type Strategy } from '@tracelab/core';

/** A strategy that always takes the last option: with two busy CPUs it never steps the first. */
const lastOption: Strategy = { name: 'last', create: () => ({ choose: (_kind, n) => n - 1 }) };
/** Round-robin over the options of each choice kind: every CPU is stepped in turn. */
function roundRobin(): Strategy {
  return {
    name: 'round-robin',
    create: () => {
      let i = 0;
      return { choose: (kind, n) => (kind === 'cpu' ? i++ % n : 0) };
    },
  };
}

function spinners(strategy: Strategy) {
  const k = createKernel({ cpus: 2, seed: 1, strategy });
  for (let i = 0; i < 2; i++) {
    k.spawnKthread(
      (function* () {
        for (;;) yield* schedPoint();
      })(),
      { comm: `spin${i}` },
    );
  }
  // Hot for ever: only the schedule's fairness decides whether it is reported.
  k.liveness('test/always-hot', { hot: () => 'never cools', bound: 50 });
  return k.run({ maxSteps: 500 });
}

describe('liveness fairness', () => {
  it('a monitor that stays hot is reported when every CPU with work was stepped', () => {
    const r = spinners(roundRobin());
    expect(r.violations.map((v) => v.name)).toEqual(['test/always-hot']);
  });

  it('is not reported when the strategy never steps one busy CPU (its task is starved, not slow)', () => {
    const r = spinners(lastOption);
    expect(r.violations).toEqual([]);
    expect(r.steps).toBe(500);
  });
});
