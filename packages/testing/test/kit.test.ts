import { describe, expect, it } from 'vitest';
import { createKernel, replaySchedule, shouldFailAlloc, TracelabError, type Kernel, type KernelEvent, type KPath, type Strategy } from '@tracelab/core';
import { eventsOf, expectClean, expectReplayIdentity, failAllocs, findUnsafe, forgeEvent, kernelWith, overSeeds, seeds } from '@tracelab/testing';
import { LOST_UPDATE, tally } from './tally.js';

/** Three kernel threads incrementing the tally three times each. */
function race({ seed, locked, strategy }: { seed: number; locked: boolean; strategy?: Strategy | undefined }): Kernel {
  const k = kernelWith({ plugins: [tally({ locked })], seed, strategy });
  for (let t = 0; t < 3; t++) {
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < 3; i++) yield* k.api.tally.increment();
      })(),
      { comm: `inc${t}` },
    );
  }
  return k;
}

/** The code of what `f` throws (undefined when it throws none, or not a TracelabError). */
function codeOf(f: () => unknown): { code: string; message: string } | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof TracelabError) return { code: err.code, message: err.message };
    throw err;
  }
  return undefined;
}

/** The message of the assertion `f` fails with. */
function failure(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).not.toBeInstanceOf(TracelabError);
    return (err as Error).message;
  }
  throw new Error('expected an assertion failure, none came');
}

describe('kernelWith', () => {
  it('takes a bare stack, or createKernel options with undefined meaning the default, and logs what createKernel does', () => {
    const a = kernelWith([tally({ locked: true })]);
    const b = kernelWith({ plugins: [tally({ locked: true })], seed: undefined, cpus: undefined, strategy: undefined });
    const c = createKernel({ plugins: [tally({ locked: true })] });
    expect(a.logHash()).toBe(c.logHash());
    expect(b.logHash()).toBe(c.logHash());
    const d = kernelWith({ plugins: [tally({ locked: true })], seed: 7, cpus: 3, interrupts: { timer: true }, faultInjection: true, reclaim: true });
    expect(d.state.kernel.seed).toBe(7);
    expect(d.state.cpus).toHaveLength(3);
    expect(d.api.tally.value()).toBe(0);
  });

  it('refuses bad input with INVALID_OPTION naming what is wrong', () => {
    expect(codeOf(() => kernelWith(null as never))).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/^kernelWith: .*got null/) });
    expect(codeOf(() => kernelWith({ seed: 1 } as never))).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/plugins must be an array.*undefined/),
    });
    expect(codeOf(() => kernelWith({ plugins: [], cpu: 4 } as never))).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/unknown option "cpu" \(options: plugins, cpus, seed/),
    });
    // Values are the core's to check.
    expect(codeOf(() => kernelWith({ plugins: [], cpus: 0 }))?.code).toBe('INVALID_OPTION');
  });
});

describe('eventsOf', () => {
  it('gives the events of one type in log order, typed, from a kernel or a log, filtered by pred', () => {
    const k = race({ seed: 1, locked: true });
    k.run();
    const writes = eventsOf(k, 'tally/write');
    expect(writes.map((e) => e.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(writes.every((e, i) => i === 0 || e.seq > writes[i - 1]!.seq)).toBe(true);
    expect(eventsOf(k.log, 'tally/write')).toEqual(writes);
    expect(eventsOf(k, 'tally/write', (e) => e.value % 2 === 0).map((e) => e.value)).toEqual([2, 4, 6, 8]);
    const spawned: Array<KernelEvent<'task/spawned'>> = eventsOf(k, 'task/spawned');
    expect(spawned.map((e) => e.comm)).toEqual(['inc0', 'inc1', 'inc2']);
    expect(eventsOf(k, 'kernel/oops')).toEqual([]);
  });

  it('refuses bad input with INVALID_OPTION', () => {
    expect(codeOf(() => eventsOf({} as never, 'task/exit'))).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/^eventsOf: /) });
    expect(codeOf(() => eventsOf([], 3 as never))).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/type must be/) });
    expect(codeOf(() => eventsOf([], 'task/exit', 'x' as never))).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/pred must be a function/),
    });
  });
});

describe('expectClean', () => {
  it('passes a clean, finished run', () => {
    const k = race({ seed: 1, locked: true });
    const r = k.run();
    expectClean(k, r);
    expectClean(k);
  });

  it('fails on a violation, listing it with its schedule string', () => {
    const k = race({ seed: 1, locked: false });
    const r = k.run();
    expect(r.violations).toHaveLength(1);
    const message = failure(() => expectClean(k, r));
    expect(message).toContain(`violation ${LOST_UPDATE} at seq`);
    expect(message).toContain(r.violations[0]!.message);
    expect(message).toContain(`replay: ${r.violations[0]!.schedule}`);
    // Without the result too: the kernel's own violations are read.
    expect(failure(() => expectClean(k))).toContain(LOST_UPDATE);
  });

  it('fails on an oops, naming the path that died', () => {
    const k = kernelWith([tally({ locked: true })]);
    k.spawnKthread(
      // eslint-disable-next-line require-yield -- a kernel path that dies before its first command
      function* broken(): KPath<void> {
        throw new Error('exploded on purpose');
      },
      { comm: 'broken' },
    );
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(failure(() => expectClean(k, r))).toMatch(/oops at seq \d+ in the core .*exploded on purpose/);
  });

  it('fails on a run that did not finish, unless told that is the point', () => {
    const k = race({ seed: 1, locked: true });
    const r = k.run({ maxSteps: 3 });
    expect(r.done).toBe(false);
    expect(failure(() => expectClean(k, r))).toMatch(/the run did not finish \(3 steps\)\n {4}replay: S/);
    expectClean(k, r, { requireDone: false });
  });

  it('refuses what is not a kernel or a result with INVALID_OPTION', () => {
    expect(codeOf(() => expectClean({} as never))?.code).toBe('INVALID_OPTION');
    expect(codeOf(() => expectClean(kernelWith([]), 'done' as never))?.code).toBe('INVALID_OPTION');
  });
});

describe('seeds', () => {
  it('counts from 1, or from where told', () => {
    expect(seeds(3)).toEqual([1, 2, 3]);
    expect(seeds(2, 10)).toEqual([10, 11]);
    expect(seeds(0)).toEqual([]);
  });

  it('refuses counts and seeds createKernel would not take', () => {
    for (const n of [-1, 1.5, Number.NaN, '3']) expect(codeOf(() => seeds(n as number))?.code, String(n)).toBe('INVALID_OPTION');
    expect(codeOf(() => seeds(3, -1))?.message).toMatch(/from must be an integer seed/);
    expect(codeOf(() => seeds(2, 0xffff_ffff))?.message).toMatch(/the last seed/);
  });
});

describe('overSeeds', () => {
  it('runs the check on every seed, the kit running bare kernels; by default the check is expectClean', () => {
    const seen: number[] = [];
    overSeeds(
      5,
      (seed) => race({ seed, locked: true }),
      (k, r, seed) => {
        expectClean(k, r);
        expect(k.state.kernel.seed).toBe(seed);
        seen.push(seed);
      },
    );
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    overSeeds([4, 9], (seed) => race({ seed, locked: true }));
    // A run the test drove itself.
    overSeeds(2, (seed) => {
      const kernel = race({ seed, locked: true });
      return { kernel, result: kernel.run() };
    });
  });

  it('reports the failing seed and its schedule string', () => {
    let failedOn = 0;
    let schedule = '';
    const message = failure(() =>
      overSeeds(
        seeds(20, 1),
        (seed) => race({ seed, locked: false }),
        (k, r, seed) => {
          failedOn = seed;
          schedule = k.schedule;
          expectClean(k, r);
        },
      ),
    );
    expect(message.startsWith(`seed ${failedOn} (replay: ${schedule}): expectClean: the run is not clean`)).toBe(true);
    expect(message).toContain(LOST_UPDATE);
  });

  it('refuses bad seeds, options and makes with INVALID_OPTION', () => {
    const make = (seed: number) => race({ seed, locked: true });
    expect(codeOf(() => overSeeds(-2, make))?.code).toBe('INVALID_OPTION');
    expect(codeOf(() => overSeeds(2, 'make' as never))?.message).toMatch(/^overSeeds: make must be a function/);
    expect(codeOf(() => overSeeds(2, make, undefined, { maxStep: 5 } as never))?.message).toMatch(/unknown option "maxStep"/);
    expect(codeOf(() => overSeeds([1], make, undefined, { from: 3 }))?.message).toMatch(/from goes with a count/);
    const wrapped = codeOf(() => overSeeds(2, () => 42 as never));
    expect(wrapped).toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/^seed 1 \(making or running its kernel\): overSeeds: make must return a kernel/),
    });
  });
});

describe('findUnsafe', () => {
  it('returns the first seed whose run violates, with the violation and the run', () => {
    const found = findUnsafe(50, (seed) => race({ seed, locked: false }), LOST_UPDATE);
    expect(found.violation.name).toBe(LOST_UPDATE);
    expect(found.kernel.violations[0]).toBe(found.violation);
    expect(found.result.violations[0]).toBe(found.violation);
    expect(found.tried).toBe(found.seed);
    for (const seed of seeds(found.seed - 1)) expect(race({ seed, locked: false }).run().violations, `seed ${seed}`).toEqual([]);
    expect(findUnsafe(50, (seed) => race({ seed, locked: false }), /lost/).seed).toBe(found.seed);
    expect(findUnsafe(50, (seed) => race({ seed, locked: false })).seed).toBe(found.seed);
  });

  it('fails clearly when no seed violates within n', () => {
    const message = failure(() => findUnsafe(6, (seed) => race({ seed, locked: true }), LOST_UPDATE));
    expect(message).toBe(
      `findUnsafe: no run violated ${LOST_UPDATE} in seeds 1..6 (6 runs: 6 finished clean, 0 stopped unfinished, 0 with an oops); the variant looks safe on these seeds`,
    );
    expect(failure(() => findUnsafe(2, (seed) => race({ seed, locked: true }), undefined, { from: 5, maxSteps: 4 }))).toMatch(
      /no run violated any invariant in seeds 5\.\.6 \(2 runs: 0 finished clean, 2 stopped unfinished/,
    );
  });

  it('fails at once on a violation of another invariant than the expected one', () => {
    const message = failure(() => findUnsafe(50, (seed) => race({ seed, locked: false }), 'tally/something-else'));
    expect(message).toMatch(
      new RegExp(`^findUnsafe: seed \\d+ violated ${LOST_UPDATE}, not tally/something-else:\\n  violation ${LOST_UPDATE}.*\\n {4}replay: S`),
    );
  });

  it('refuses bad input with INVALID_OPTION', () => {
    expect(codeOf(() => findUnsafe(3, (seed) => race({ seed, locked: false }), 3 as never))?.message).toMatch(/expectInvariant must be/);
    expect(codeOf(() => findUnsafe(1.5, (seed) => race({ seed, locked: false })))?.code).toBe('INVALID_OPTION');
  });
});

describe('expectReplayIdentity', () => {
  it("re-runs a violation's schedule to the same log, and a clean run's schedule too", () => {
    const found = findUnsafe(50, (seed) => race({ seed, locked: false }), LOST_UPDATE);
    const again = expectReplayIdentity(found.kernel, ({ seed, strategy }) => race({ seed, locked: false, strategy }));
    expect(again.logHash()).toBe(found.kernel.logHash());
    expect(again.violations[0]).toMatchObject({ name: LOST_UPDATE, message: found.violation.message });

    const clean = race({ seed: 3, locked: true });
    clean.run();
    expectReplayIdentity(clean, (setup) => race({ ...setup, locked: true }));
    // A setup that drives its own run.
    expectReplayIdentity(clean, (setup) => {
      const kernel = race({ ...setup, locked: true });
      return { kernel, result: kernel.run() };
    });
    // A run stopped early replays for the same number of steps.
    const partial = race({ seed: 3, locked: true });
    partial.run({ maxSteps: 7 });
    expect(expectReplayIdentity(partial, (setup) => race({ ...setup, locked: true })).steps).toBe(7);
  });

  it('detects a setup that is not deterministic', () => {
    // The setup reads host state that changes between runs: each call names its threads anew.
    let made = 0;
    const drifting = ({ seed, strategy }: { seed: number; strategy?: Strategy }): Kernel => {
      made++;
      const k = kernelWith({ plugins: [tally({ locked: true })], seed, strategy });
      k.spawnKthread(k.api.tally.increment(), { comm: `inc-${made}` });
      return k;
    };
    const k = drifting({ seed: 1 });
    k.run();
    expectClean(k);
    const message = failure(() => expectReplayIdentity(k, drifting));
    expect(message).toMatch(/^expectReplayIdentity: the replay \(seed 1, replay S[^)]*\) logged something else; first difference at seq \d+:/);
    expect(message).toContain('"comm":"inc-1"');
    expect(message).toContain('"comm":"inc-2"');
  });

  it('detects a setup whose choices no longer fit the schedule', () => {
    // Recorded with one thread; the replay's setup spawns two, so the CPU choices differ.
    const k = race({ seed: 2, locked: false });
    k.run();
    const message = failure(() =>
      expectReplayIdentity(k, ({ seed, strategy }) => {
        const kk = kernelWith({ plugins: [tally({ locked: false })], seed, strategy, cpus: 1 });
        kk.spawnKthread(kk.api.tally.increment(), { comm: 'inc0' });
        return kk;
      }),
    );
    expect(message).toMatch(/^expectReplayIdentity: the replay \(seed 2, replay S[^)]*\) (left the recorded schedule|logged something else)/);
  });

  it('refuses bad input with INVALID_OPTION', () => {
    const k = race({ seed: 1, locked: true });
    k.run();
    expect(codeOf(() => expectReplayIdentity(k, 'make' as never))?.message).toMatch(/^expectReplayIdentity: make must be a function/);
    expect(codeOf(() => expectReplayIdentity(k, () => ({ kernel: k }) as never))?.message).toMatch(/without the result of its run/);
    expect(codeOf(() => expectReplayIdentity({} as never, () => k))?.code).toBe('INVALID_OPTION');
    // The schedule is the core's to check.
    expect(codeOf(() => expectReplayIdentity(k, () => k, { schedule: 'nonsense' }))?.code).toBe('SCHEDULE_INVALID');
  });
});

// replaySchedule is what the kit hands make; a test may also build the replay by hand.
it('a found violation replays by hand with replaySchedule, as the kit does', () => {
  const found = findUnsafe(50, (seed) => race({ seed, locked: false }), LOST_UPDATE);
  const again = race({ seed: found.seed, locked: false, strategy: replaySchedule(found.violation.schedule) });
  again.run();
  expect(again.logHash()).toBe(found.kernel.logHash());
});

describe('failAllocs and forgeEvent', () => {
  /** Five allocations in a row; which of them failed. */
  function allocations(strategy: Strategy): boolean[] {
    const k = kernelWith({ plugins: [tally({ locked: true })], faultInjection: true, strategy });
    return k.call(
      (function* (): KPath<boolean[]> {
        const out: boolean[] = [];
        for (let i = 0; i < 5; i++) out.push(yield* shouldFailAlloc());
        return out;
      })(),
    );
  }

  it('failAllocs fails exactly the allocations it names, counted from 1, and no other', () => {
    expect(allocations(failAllocs(2, 4))).toEqual([false, true, false, true, false]);
    expect(allocations(failAllocs())).toEqual([false, false, false, false, false]);
  });

  it('failAllocs refuses an index that is not an integer from 1, naming it', () => {
    expect(() => failAllocs(0)).toThrow(/failAllocs: 0 is not an allocation index/);
    expect(() => failAllocs(1.5)).toThrow(TracelabError);
  });

  it('forgeEvent folds the event and keeps the violation it causes; other errors are thrown', () => {
    const k = kernelWith([tally({ locked: true })]);
    forgeEvent(k, { type: 'tally/write', value: 5 });
    expect(k.state.plugins['tally']).toEqual({ value: 5, writes: 1 });
    expect(k.violations.map((v) => v.name)).toEqual([LOST_UPDATE]);
    const fresh = kernelWith([tally({ locked: true })]);
    expect(() => forgeEvent(fresh, { type: 'nobody/declared' } as never)).toThrow(TracelabError);
  });
});
