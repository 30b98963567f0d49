import { describe, expect, it } from 'vitest';
import type { Strategy } from '@tracelab/core';
import { eventsOf, expectClean, expectReplayIdentity, findUnsafe, kernelWith, overSeeds } from '@tracelab/testing';
import { tally } from './tally.js';

// The README's example, as written there.

/** Three kernel threads incrementing three times each. */
function race({ seed, locked, strategy }: { seed: number; locked: boolean; strategy?: Strategy }) {
  const k = kernelWith({ plugins: [tally({ locked })], seed, strategy }); // strategy may be undefined
  for (let t = 0; t < 3; t++)
    k.spawnKthread(
      function* () {
        for (let i = 0; i < 3; i++) yield* k.api.tally.increment();
      },
      { comm: `inc${t}` },
    );
  return k;
}

describe('tally (the README example)', () => {
  it('the mutex closes the race: clean over 40 seeds', () => {
    overSeeds(40, (seed) => race({ seed, locked: true }));
  });

  it('every increment is logged, in order', () => {
    const k = race({ seed: 1, locked: true });
    expectClean(k, k.run());
    expect(eventsOf(k, 'tally/write').map((e) => e.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('without it an update is lost, and the schedule string replays the loss', () => {
    const found = findUnsafe(50, (seed) => race({ seed, locked: false }), 'tally/lost-update');
    expect(found.violation.schedule).toMatch(/^S2:/);
    expectReplayIdentity(found.kernel, ({ seed, strategy }) => race({ seed, locked: false, strategy }));
    try {
      expectClean(found.kernel);
    } catch (err) {
      process.stdout.write(`${(err as Error).message}\n`);
    }
  });
});
