import { describe, expect, it } from 'vitest';
import { EBUSY, TracelabError, getState, msleep, schedPoint, type Kernel, type KPath, type Strategy } from '@tracelab/core';
import { eventsOf, expectClean, kernelWith, overSeeds } from '@tracelab/testing';
import { explore, replay } from '@tracelab/explore';
import { SRCU_INVARIANTS, UNSAFE_VARIANTS, srcu, type SrcuOptions } from '../src/index.js';
import { scenario } from '../src/scenario.js';

/** A kernel with the srcu plugin and the static domains `a` and `b`. */
function kernel(options: SrcuOptions = {}, seed = 1, strategy?: Strategy): Kernel {
  return kernelWith({ plugins: [srcu({ staticDomains: ['a', 'b'], ...options })], seed, strategy });
}

/** Runs the kernel until some reader of `domain` is inside its section. */
function untilInside(k: Kernel, domain: string): void {
  k.run({ until: (s) => Object.values(s.plugins.srcu!.readers).some((r) => r.domain === domain) });
}

/** Runs `path` in a kernel thread to its end. */
function call<T>(k: Kernel, path: KPath<T>): T {
  return k.call(path);
}

describe('init_srcu_struct and cleanup_srcu_struct', () => {
  it('a new domain starts at index 0 with every per-CPU counter 0; cleanup frees it', () => {
    const k = kernel();
    expect(call(k, k.api.srcu.initSrcuStruct('c'))).toBe(0);
    const d = k.state.plugins.srcu!.domains['c']!;
    expect(d.idx).toBe(0);
    expect(d.lockCount).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(d.unlockCount).toEqual(d.lockCount);
    expect(call(k, k.api.srcu.cleanupSrcuStruct('c'))).toBe(0);
    expect(k.state.plugins.srcu!.domains['c']).toBeUndefined();
    expect(eventsOf(k, 'srcu/cleanup')).toHaveLength(1);
  });

  it('cleanup with a reader inside WARNs, leaks the domain and returns -EBUSY', () => {
    const k = kernel();
    const api = k.api.srcu;
    k.spawnKthread(
      function* () {
        const idx = yield* api.srcuReadLock('a');
        yield* msleep(50);
        yield* api.srcuReadUnlock('a', idx);
      },
      { comm: 'reader' },
    );
    untilInside(k, 'a');
    expect(api.readers('a')).toHaveLength(1);
    expect(call(k, api.cleanupSrcuStruct('a'))).toBe(-EBUSY);
    const warns = eventsOf(k, 'srcu/warn');
    expect(warns.map((w) => w.reason)).toEqual(['cleanup-readers-active']);
    expect(k.state.plugins.srcu!.domains['a']).toBeDefined();
    expectClean(k, k.run());
    // Once the reader is out, cleanup succeeds.
    expect(call(k, api.cleanupSrcuStruct('a'))).toBe(0);
  });

  it('cleanup with a grace period pending WARNs and returns -EBUSY', () => {
    const k = kernel();
    const api = k.api.srcu;
    const r = call(
      k,
      (function* () {
        yield* api.callSrcu('a', () => undefined, 'late');
        return yield* api.cleanupSrcuStruct('a');
      })(),
    );
    expect(r).toBe(-EBUSY);
    expect(eventsOf(k, 'srcu/warn').map((w) => w.reason)).toEqual(['cleanup-gp-pending']);
  });

  it('cleanup right after srcu_barrier stops the worker, waits for its exit and succeeds: torture srcu seed 292', () => {
    // The barrier returns while the worker that ran its callback is still there (between its
    // last callback and its idle wait, or idle); the cleanup stops it (kthread_stop) and waits.
    // Before that wait, the cleanup found the worker there and leaked the domain (-EBUSY).
    let workerStillThere = 0;
    overSeeds(
      30,
      (seed) => {
        const k = kernel({}, seed);
        const api = k.api.srcu;
        k.spawnKthread(
          function* () {
            yield* api.initSrcuStruct('d');
            yield* api.callSrcu('d', () => undefined, 'cb');
            yield* api.srcuBarrier('d');
            if ((yield* getState()).plugins.srcu!.domains['d']!.kthread !== null) workerStillThere++;
            const r = yield* api.cleanupSrcuStruct('d');
            if (r !== 0) throw new Error(`cleanup returned ${r}`);
          },
          { comm: 'owner' },
        );
        return k;
      },
      (k, r) => {
        expectClean(k, r);
        expect(eventsOf(k, 'srcu/warn')).toEqual([]);
        expect(k.state.plugins.srcu!.domains['d']).toBeUndefined();
        // The cleanup came after the worker's exit.
        const order = k.log.filter((e) => e.type === 'srcu/kthread-exit' || e.type === 'srcu/cleanup').map((e) => e.type);
        expect(order.slice(-2)).toEqual(['srcu/kthread-exit', 'srcu/cleanup']);
      },
    );
    // The case the flush is for came up.
    expect(workerStillThere).toBeGreaterThan(0);
  });

  it('refuses a duplicate domain, an empty name, and any use of a domain not initialized, with INVALID_OPTION', () => {
    const k = kernel();
    const api = k.api.srcu;
    const oops = (path: KPath<unknown>) => {
      try {
        k.call(path);
      } catch (err) {
        return err as TracelabError;
      }
      throw new Error('expected the call to fail');
    };
    expect(oops(api.initSrcuStruct('a')).message).toMatch(/srcu domain "a" is already initialized/);
    const k2 = kernel();
    expect(() => k2.call(k2.api.srcu.srcuReadLock('nope'))).toThrow(/srcu domain "nope" is not initialized/);
    const k3 = kernel();
    expect(() => k3.call(k3.api.srcu.initSrcuStruct(''))).toThrow(/the domain must be a non-empty string/);
    const oopses = eventsOf(k2, 'kernel/oops');
    expect(oopses[0]!.message).toMatch(/INVALID|not initialized/);
  });
});

describe('the grace-period worker', () => {
  /** Two synchronize_srcu calls `gap` ticks apart on domain a; returns the kernel, run to its end. */
  function twoGracePeriods(options: SrcuOptions, gap: number): Kernel {
    const k = kernel(options);
    const api = k.api.srcu;
    k.spawnKthread(
      function* () {
        yield* api.synchronizeSrcu('a');
        yield* msleep(gap);
        yield* api.synchronizeSrcu('a');
      },
      { comm: 'updater' },
    );
    expectClean(k, k.run());
    return k;
  }

  it('one worker serves grace periods that come within workerIdle ticks of each other, then exits idle', () => {
    const k = twoGracePeriods({ workerIdle: 20 }, 5);
    expect(eventsOf(k, 'srcu/kthread-start')).toHaveLength(1);
    expect(eventsOf(k, 'srcu/gp-end')).toHaveLength(2);
    expect(eventsOf(k, 'srcu/kthread-exit').map((e) => e.reason)).toEqual(['idle']);
    expect(k.state.plugins.srcu!.domains['a']!.kthread).toBeNull();
  });

  it('a gap longer than workerIdle, or workerIdle 0, gets a new worker per grace period', () => {
    for (const k of [twoGracePeriods({ workerIdle: 3 }, 10), twoGracePeriods({ workerIdle: 0 }, 10)]) {
      expect(eventsOf(k, 'srcu/kthread-start')).toHaveLength(2);
      expect(eventsOf(k, 'srcu/kthread-exit').map((e) => e.reason)).toEqual(['idle', 'idle']);
      expect(eventsOf(k, 'srcu/gp-end')).toHaveLength(2);
    }
  });

  it('cleanup stops an idle worker (kthread_stop) before it frees the domain', () => {
    const k = kernel();
    const api = k.api.srcu;
    const r = call(
      k,
      (function* () {
        yield* api.initSrcuStruct('c');
        yield* api.synchronizeSrcu('c');
        return yield* api.cleanupSrcuStruct('c');
      })(),
    );
    expect(r).toBe(0);
    const order = k.log.filter((e) => e.type.startsWith('srcu/kthread') || e.type === 'srcu/cleanup').map((e) => e.type);
    expect(order).toEqual(['srcu/kthread-start', 'srcu/kthread-stop', 'srcu/kthread-exit', 'srcu/cleanup']);
    expect(eventsOf(k, 'srcu/kthread-exit').map((e) => e.reason)).toEqual(['stop']);
  });

  it('refuses a workerIdle out of range with INVALID_OPTION', () => {
    expect(() => srcu({ workerIdle: -1 })).toThrow(/workerIdle/);
    expect(() => srcu({ workerIdle: 1.5 })).toThrow(/workerIdle/);
  });
});

describe('srcu_read_lock and srcu_read_unlock', () => {
  it('count the lock on the CPU the lock ran on and the unlock on the CPU the unlock ran on, in the slot the lock returned', () => {
    // Over seeds, a reader that sleeps inside sometimes wakes on the other CPU: the per-CPU
    // counts then differ, while the sums balance.
    let migrated = 0;
    overSeeds(30, (seed) => {
      const k = kernel({}, seed);
      const api = k.api.srcu;
      k.spawnKthread(
        function* () {
          for (let i = 0; i < 3; i++) {
            const idx = yield* api.srcuReadLock('a');
            expect(idx).toBe(0);
            yield* msleep(2);
            yield* api.srcuReadUnlock('a', idx);
          }
        },
        { comm: 'reader' },
      );
      k.spawnKthread(
        function* () {
          for (let i = 0; i < 6; i++) yield* schedPoint();
        },
        { comm: 'busy' },
      );
      const result = k.run();
      expectClean(k, result);
      const locks = eventsOf(k, 'srcu/lock');
      const unlocks = eventsOf(k, 'srcu/unlock');
      expect(locks).toHaveLength(3);
      expect(unlocks).toHaveLength(3);
      const d = k.state.plugins.srcu!.domains['a']!;
      const per = (ev: readonly { onCpu: number }[], cpu: number) => ev.filter((e) => e.onCpu === cpu).length;
      expect(d.lockCount[0]).toEqual([per(locks, 0), per(locks, 1)]);
      expect(d.unlockCount[0]).toEqual([per(unlocks, 0), per(unlocks, 1)]);
      expect(d.lockCount[1]).toEqual([0, 0]);
      if (locks.some((l, i) => l.onCpu !== unlocks[i]!.onCpu)) migrated++;
      return { kernel: k, result };
    });
    expect(migrated).toBeGreaterThan(0);
  });

  it('an unlock with the other slot WARNs and counts where the kernel would: the slots no longer balance', () => {
    const k = kernel();
    const api = k.api.srcu;
    call(
      k,
      (function* () {
        const idx = yield* api.srcuReadLock('a');
        yield* api.srcuReadUnlock('a', 1 - idx);
      })(),
    );
    expect(eventsOf(k, 'srcu/warn').map((w) => w.reason)).toEqual(['unlock-index-mismatch']);
    const d = k.state.plugins.srcu!.domains['a']!;
    expect(d.lockCount[0]!.reduce((x, y) => x + y)).toBe(1);
    expect(d.unlockCount[1]!.reduce((x, y) => x + y)).toBe(1);
    expect(api.readers('a')).toEqual([]);
  });

  it('an unlock with an index that is not 0 or 1 WARNs and touches no counter; one with no lock held WARNs', () => {
    const k = kernel();
    const api = k.api.srcu;
    call(
      k,
      (function* () {
        const idx = yield* api.srcuReadLock('a');
        yield* api.srcuReadUnlock('a', idx + 2);
        yield* api.srcuReadUnlock('b', 0);
      })(),
    );
    expect(eventsOf(k, 'srcu/warn').map((w) => w.reason)).toEqual(['bad-index', 'unlock-without-lock']);
    const a = k.state.plugins.srcu!.domains['a']!;
    expect(a.unlockCount).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(eventsOf(k, 'srcu/unlock')[0]!.counted).toBe(false);
  });
});

describe('synchronize_srcu, call_srcu, srcu_barrier', () => {
  /** A reader of `domain` that holds its section `ticks` ticks, then records when it left. */
  function holder(k: Kernel, domain: string, ticks: number, out: { unlockedAt: number }) {
    const api = k.api.srcu;
    k.spawnKthread(
      function* () {
        const idx = yield* api.srcuReadLock(domain);
        yield* msleep(ticks);
        yield* api.srcuReadUnlock(domain, idx);
        out.unlockedAt = k.log.length;
      },
      { comm: `hold-${domain}` },
    );
  }

  it('synchronize_srcu waits for a reader of its domain that locked before it, through a flip and two drained scans', () => {
    overSeeds(30, (seed) => {
      const k = kernel({}, seed);
      const out = { unlockedAt: -1 };
      holder(k, 'a', 20, out);
      untilInside(k, 'a');
      expect(k.api.srcu.readers('a')).toHaveLength(1);
      call(k, k.api.srcu.synchronizeSrcu('a'));
      expect(out.unlockedAt).toBeGreaterThan(0);
      const ends = eventsOf(k, 'srcu/gp-end');
      expect(ends).toHaveLength(1);
      expect(ends[0]!.seq).toBeGreaterThan(out.unlockedAt - 1);
      const scans = eventsOf(k, 'srcu/scan').filter((s) => s.drained);
      expect(scans.map((s) => s.phase)).toEqual([1, 2]);
      // SCAN1 looks at the slot readers are not using, SCAN2 at the one they left.
      expect(scans.map((s) => s.idx)).toEqual([1, 0]);
      expect(eventsOf(k, 'srcu/flip').map((f) => f.idx)).toEqual([1]);
      return { kernel: k, result: k.run() };
    });
  });

  it('domains are independent: a reader of b does not hold a grace period of a', () => {
    const k = kernel();
    const out = { unlockedAt: -1 };
    holder(k, 'b', 200, out);
    untilInside(k, 'b');
    expect(k.api.srcu.readers('b')).toHaveLength(1);
    call(k, k.api.srcu.synchronizeSrcu('a'));
    expect(k.api.srcu.completed('a')).toBe(1);
    expect(k.api.srcu.readers('b')).toHaveLength(1);
    expect(out.unlockedAt).toBe(-1);
    expect(k.api.srcu.completed('b')).toBe(0);
    expectClean(k, k.run());
  });

  it('call_srcu runs callbacks after a grace period that began after the call, in queue order; srcu_barrier waits for them', () => {
    const k = kernel();
    const api = k.api.srcu;
    const ran: string[] = [];
    call(
      k,
      (function* () {
        yield* api.callSrcu('a', () => void ran.push('one'), 'one');
        yield* api.callSrcu('a', () => void ran.push('two'), 'two');
        yield* api.srcuBarrier('a');
      })(),
    );
    expect(ran).toEqual(['one', 'two']);
    const invoked = eventsOf(k, 'srcu/callback-invoked').map((e) => e.label);
    expect(invoked.slice(0, 2)).toEqual(['one', 'two']);
    const start = eventsOf(k, 'srcu/gp-start')[0]!;
    const queued = eventsOf(k, 'srcu/callback-queued');
    expect(queued[0]!.seq).toBeLessThan(start.seq);
    expectClean(k, k.run());
  });

  it('a callback that throws is logged as failed and the next one still runs', () => {
    const k = kernel();
    const api = k.api.srcu;
    const ran: string[] = [];
    call(
      k,
      (function* () {
        yield* api.callSrcu(
          'a',
          () => {
            throw new Error('boom');
          },
          'bad',
        );
        yield* api.callSrcu('a', () => void ran.push('good'), 'good');
        yield* api.srcuBarrier('a');
      })(),
    );
    expect(eventsOf(k, 'srcu/callback-failed').map((e) => [e.label, e.message])).toEqual([['bad', 'boom']]);
    expect(ran).toEqual(['good']);
  });

  it('synchronize_srcu inside a reader of the same domain is a BUG; inside a reader of another domain it is fine', () => {
    const k = kernel();
    const api = k.api.srcu;
    expect(() =>
      k.call(
        (function* () {
          yield* api.srcuReadLock('a');
          yield* api.synchronizeSrcu('a');
        })(),
      ),
    ).toThrow(/BUG: synchronize_srcu\(a\) by pid \d+ inside its own srcu read-side critical section/);
    expect(eventsOf(k, 'kernel/oops').at(-1)!.message).toMatch(/inside its own srcu read-side critical section/);
    const k2 = kernel();
    const api2 = k2.api.srcu;
    call(
      k2,
      (function* () {
        const idx = yield* api2.srcuReadLock('b');
        yield* api2.synchronizeSrcu('a');
        yield* api2.srcuReadUnlock('b', idx);
      })(),
    );
    expect(api2.completed('a')).toBe(1);
  });
});

describe('the invariant', () => {
  it(`${SRCU_INVARIANTS.gpWaitsForReaders} holds over 60 seeds of readers that sleep and migrate around back-to-back grace periods`, () => {
    overSeeds(60, (seed) => {
      const k = kernel({}, seed);
      const api = k.api.srcu;
      for (let r = 0; r < 3; r++) {
        k.spawnKthread(
          function* () {
            for (let i = 0; i < 3; i++) {
              const idx = yield* api.srcuReadLock('a');
              yield* msleep(1 + r);
              yield* api.srcuReadUnlock('a', idx);
            }
          },
          { comm: `reader${r}` },
        );
      }
      k.spawnKthread(
        function* () {
          for (let i = 0; i < 3; i++) yield* api.synchronizeSrcu('a');
        },
        { comm: 'updater' },
      );
      return k;
    });
  });
});

describe('options', () => {
  it('refuses unknown options, unknown variants, bad static domains and a bad retryDelay with INVALID_OPTION', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return [(err as TracelabError).code, (err as Error).message];
      }
      return null;
    };
    expect(code(() => srcu({ nope: 1 } as SrcuOptions))).toEqual(['INVALID_OPTION', expect.stringMatching(/unknown option "nope"/)]);
    expect(code(() => srcu({ unsafe: 'fast' as never }))).toEqual([
      'INVALID_OPTION',
      "srcu: option unsafe must be 'single-scan' or 'locks-before-unlocks', or an array of them, got \"fast\"",
    ]);
    const domains = 'srcu: option staticDomains must be an array of non-empty domain names, each at most once, got';
    expect(code(() => srcu({ staticDomains: ['a', 'a'] }))).toEqual(['INVALID_OPTION', `${domains} ["a","a"]`]);
    expect(code(() => srcu({ staticDomains: [''] }))).toEqual(['INVALID_OPTION', `${domains} [""]`]);
    expect(code(() => srcu({ staticDomains: 'a' as never }))).toEqual(['INVALID_OPTION', `${domains} "a"`]);
    expect(code(() => srcu({ retryDelay: 0 }))).toEqual(['INVALID_OPTION', expect.stringMatching(/retryDelay must be an integer from 1 to 1000/)]);
    expect(srcu({ unsafe: [...UNSAFE_VARIANTS] }).options).toMatchObject({ unsafe: UNSAFE_VARIANTS });
    // One name alone is a set of one; a repeat counts once; the order given is kept (the log records it).
    expect(srcu({ unsafe: 'single-scan' }).options).toMatchObject({ unsafe: ['single-scan'] });
    expect(srcu({ unsafe: ['locks-before-unlocks', 'single-scan', 'locks-before-unlocks'] }).options).toMatchObject({
      unsafe: ['locks-before-unlocks', 'single-scan'],
    });
  });
});

describe('the srcu-reader-drain scenario under explore', () => {
  it.each(UNSAFE_VARIANTS.map((v) => [v]))('finds %s (a grace period ending over a reader inside), and the failure replays to the same log', (variant) => {
    const r = explore(scenario, { variant, budget: 1000 });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe(SRCU_INVARIANTS.gpWaitsForReaders);
    const again = replay(scenario, r.failure!.replay);
    expect(again.violation?.message).toBe(r.failure!.message);
    expect(again.logHash).toBe(r.failure!.logHash);
  });

  it('the fixed variant is clean under the same search', () => {
    const r = explore(scenario, { variant: 'fixed', budget: 1000 });
    expect(r.found).toBe(false);
    expect(r.schedules).toBe(1000);
  });
});
