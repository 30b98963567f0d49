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

/** A two-CPU kernel with a kernel thread spinning through scheduling points on each CPU. */
function spinning(strategy: Strategy) {
  const k = createKernel({ cpus: 2, seed: 1, strategy });
  for (let i = 0; i < 2; i++) {
    k.spawnKthread(
      (function* () {
        for (;;) yield* schedPoint();
      })(),
      { comm: `spin${i}` },
    );
  }
  return k;
}

function spinners(strategy: Strategy) {
  const k = spinning(strategy);
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

describe('a liveness alarm says where its hot stretch began (hotSince)', () => {
  /**
   * Two spinners on two CPUs under a round robin; the monitor is hot while a flag the host sets
   * is up, and its bound is 20. A strategy that logs the schedule index of each choice with the
   * step it was made in gives the expected value: the first choice of the step that turned the
   * monitor hot.
   */
  function run(hotWhen: (step: number) => boolean) {
    let step = 0;
    let i = 0;
    const choiceStep: number[] = [];
    const strategy: Strategy = {
      name: 'round-robin-logged',
      create: () => ({
        choose: (kind, n) => {
          choiceStep.push(step);
          return kind === 'cpu' ? i++ % n : 0;
        },
      }),
    };
    const k = spinning(strategy);
    // The monitor's look runs at the end of each step: `step` counts the steps looked at so far.
    k.liveness('test/flag', {
      hot: () => (hotWhen(step++) ? 'flag up' : null),
      bound: 20,
    });
    const r = k.run({ maxSteps: 300 });
    return { r, choiceStep };
  }

  it('is the first choice of the step the monitor went hot at, also after it cooled once', () => {
    // Hot at steps 10..14, cold, hot again from step 40 for good.
    const { r, choiceStep } = run((s) => (s >= 10 && s < 15) || s >= 40);
    expect(r.violations.map((v) => v.name)).toEqual(['test/flag']);
    const v = r.violations[0]!;
    expect(v.message).toMatch(/hot for 21 steps/);
    expect(v.hotSince).toBe(choiceStep.indexOf(40));
    expect(v.hotSince).toBeGreaterThan(choiceStep.indexOf(10));
  });

  it('is absent from every other violation', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    k.invariant('test/never', () => 'always wrong');
    expect(k.violations[0]?.name).toBe('test/never');
    expect(k.violations[0]!.hotSince).toBeUndefined();
  });
});
