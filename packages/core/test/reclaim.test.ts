import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  MADV_PAGEOUT,
  TracelabError,
  createKernel,
  randomStrategy,
  replaySchedule,
  type ChoiceKind,
  type Kernel,
  type KernelEvent,
  type Program,
  type Strategy,
} from '@tracelab/core';

/**
 * Pages that can be evicted (issue 18): `madvise(MADV_PAGEOUT)` from a program, and memory
 * pressure (`createKernel({ reclaim: true })`) as the strategy's `evict` choice. An evicted
 * page keeps its data and faults back in at the next access.
 */

/** The user-data area's first address (every address space's brk starts there). */
const USER_DATA = 0x10000;

/** Opens a path, pages the whole data area out, and opens the same path again. */
const pager: Program = function* pager(u) {
  const first = yield u.syscall('open', { path: '/etc/motd', flags: 0 });
  const advised = yield u.syscall('madvise', { addr: USER_DATA, len: 0x10000, advice: MADV_PAGEOUT });
  const again = yield u.syscall('open', { path: '/etc/motd', flags: 0 });
  const unaligned = yield u.syscall('madvise', { addr: USER_DATA + 1, len: 10, advice: MADV_PAGEOUT });
  const dontneed = yield u.syscall('madvise', { addr: USER_DATA, len: 4096, advice: 4 });
  yield u.exit(first >= 0 && advised === 0 && again >= 0 && unaligned === -EINVAL && dontneed === -EINVAL ? 0 : 1);
};

/** A strategy that records the kinds it is asked, answering as the random one would. */
function recording(kinds: ChoiceKind[], inner: Strategy = randomStrategy()): Strategy {
  return {
    name: 'recording',
    create(seed) {
      const c = inner.create(seed);
      return {
        choose(kind, n, pids, state) {
          kinds.push(kind);
          return c.choose(kind, n, pids, state);
        },
      };
    },
  };
}

function faultsOf(k: Kernel, pid: number): number[] {
  return k.log.flatMap((e) => (e.type === 'fault/page' && e.pid === pid ? [e.page] : []));
}

describe('madvise(MADV_PAGEOUT)', () => {
  it('evicts the resident pages of the range; the next read faults the page back in and finds the same data', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    const pid = k.spawn(pager);
    k.run();
    const exit = k.log.find((e) => e.type === 'task/exit' && e.pid === pid);
    expect(exit).toMatchObject({ code: 0 });
    const evicted = k.log.filter((e) => e.type === 'mm/evicted');
    expect(evicted.length).toBeGreaterThan(0);
    expect(evicted.every((e) => e.by === 'madvise' && e.tgid === pid)).toBe(true);
    // The path's page faulted in for the first open, was evicted, and faulted in again.
    const faults = faultsOf(k, pid);
    const page = evicted[0]!.page;
    expect(faults.filter((p) => p === page).length).toBe(2);
    // Same data: both opens read the same path.
    const opens = k.log.filter((e): e is KernelEvent<'fs/open'> => e.type === 'fs/open' && e.pid === pid).map((e) => e.path);
    expect(opens).toEqual(['/etc/motd', '/etc/motd']);
  });
});

describe('reclaim: memory pressure as the evict choice', () => {
  /** Four openers, each touching its own paths, on two CPUs. */
  function kernel(seed: number, strategy: Strategy, reclaim?: boolean): Kernel {
    const k = createKernel({ cpus: 2, seed, strategy, ...(reclaim !== undefined ? { reclaim } : {}) });
    for (let i = 0; i < 4; i++)
      k.spawn(function* opener(u) {
        for (let j = 0; j < 4; j++) {
          yield u.syscall('open', { path: `/srv/w${i}/f${j % 2}`, flags: 0 });
          yield u.compute(1);
        }
      });
    return k;
  }

  it('without it no evict choice is ever asked and no page is evicted; with it pages are evicted and fault back in, over 20 seeds', () => {
    let evictions = 0;
    let refaults = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const off: ChoiceKind[] = [];
      const k0 = kernel(seed, recording(off));
      k0.run();
      expect(off).not.toContain('evict');
      expect(k0.log.some((e) => e.type === 'mm/evicted')).toBe(false);
      expect(k0.log[0]).not.toHaveProperty('reclaim');

      const on: ChoiceKind[] = [];
      const k = kernel(seed, recording(on), true);
      const r = k.run();
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(true);
      expect(k.log[0]).toMatchObject({ type: 'kernel/created', reclaim: true });
      expect(on).toContain('evict');
      const evicted = k.log.filter((e) => e.type === 'mm/evicted');
      evictions += evicted.length;
      for (const e of evicted) {
        expect(e.by).toBe('reclaim');
        // A page faults in again only after an eviction: count the refaults it caused.
        if (k.log.some((f) => f.type === 'fault/page' && f.seq > e.seq && f.page === e.page && f.pid === e.tgid)) refaults++;
      }
      // Every open still read its path.
      expect(k.log.filter((e) => e.type === 'fs/open').every((e) => /^\/srv\/w\d\/f\d$/.test(e.path))).toBe(true);
    }
    expect(evictions).toBeGreaterThan(20);
    expect(refaults).toBeGreaterThan(5);
  });

  it('is in the schedule: replaying a run with evictions gives the same log', () => {
    const k = kernel(7, randomStrategy({ faultProbability: 0.3 }), true);
    k.run();
    expect(k.log.some((e) => e.type === 'mm/evicted')).toBe(true);
    const again = kernel(7, replaySchedule(k.schedule), true);
    again.run();
    expect(again.logHash()).toBe(k.logHash());
  });

  it('a non-boolean reclaim is INVALID_OPTION', () => {
    expect(() => createKernel({ reclaim: 'yes' as unknown as boolean })).toThrow(TracelabError);
    expect(() => createKernel({ reclaim: 1 as unknown as boolean })).toThrow(/createKernel: reclaim must be a boolean, got number/);
  });
});
