import { describe, expect, it } from 'vitest';
import type { Strategy } from '@tracelab/core';
import { explore } from '@tracelab/explore';
import { eventsOf, expectClean, expectReplayIdentity, findUnsafe, kernelWith, overSeeds } from '@tracelab/testing';
import { SRCU_NO_LOST_UPDATE, srcu, scenario } from '../src/index.js';

/** Three kernel threads incrementing twice each, with or without the mutex. */
function race({ seed, lock, strategy }: { seed: number; lock: boolean; strategy?: Strategy }) {
  const k = kernelWith({ plugins: [srcu({ lock })], seed, strategy });
  for (let t = 0; t < 3; t++) {
    k.spawnKthread(
      function* () {
        for (let i = 0; i < 2; i++) yield* k.api.srcu.increment();
      },
      { comm: `inc${t}` },
    );
  }
  return k;
}

describe('srcu', () => {
  it('the mutex closes the race: clean over 40 seeds', () => {
    overSeeds(40, (seed) => race({ seed, lock: true }));
  });

  it('every update is stored, in order', () => {
    const k = race({ seed: 1, lock: true });
    expectClean(k, k.run());
    expect(eventsOf(k, 'srcu/stored').map((e) => e.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(k.api.srcu.value()).toBe(6);
  });

  it('without it an update is lost, and the schedule string replays the loss', () => {
    const found = findUnsafe(100, (seed) => race({ seed, lock: false }), SRCU_NO_LOST_UPDATE);
    expect(found.violation.name).toBe(SRCU_NO_LOST_UPDATE);
    expectReplayIdentity(found.kernel, ({ seed, strategy }) => race({ seed, lock: false, strategy }));
  });

  it('explore finds the race in the unsafe variant and none in the fixed one', () => {
    const unsafe = explore(scenario, { variant: 'unsafe', budget: 300 });
    expect(unsafe.found).toBe(true);
    expect(unsafe.failure?.invariant).toBe(SRCU_NO_LOST_UPDATE);
    const fixed = explore(scenario, { variant: 'fixed', budget: 300 });
    expect(fixed.found).toBe(false);
  });
});
