import { describe, expect, it } from 'vitest';
import { TASKLIST_LOCK, type KernelEvent } from '@tracelab/core';
import { TIF_KERNEL_TRACE, type KtraceOptions } from '@tracelab/ktrace';
import { eventsOf, expectClean, seeds } from '@tracelab/testing';
import { everFlagged, explore, forksDuringWalk, raceKernel, replayRace } from './helpers.js';

/** Seeds explored per variant (each run is ~5 ms: 200 seeds take about a second). */
const N = 200;

/**
 * The re-copy of the flag into a child at copy_process's link stage: the first `task/flags`
 * for the child after its `fork/link`, before the parent's tasklist write unlock. Found by
 * position in that window, not as the event right after the link, so another link-stage
 * handler logging first does not hide it. Undefined when the re-copy stored nothing.
 */
function recopyOf(k: { log: readonly KernelEvent[] }, f: { child: number; link: number }): KernelEvent<'task/flags'> | undefined {
  const link = k.log[f.link] as KernelEvent<'fork/link'>;
  for (let i = f.link + 1; i < k.log.length; i++) {
    const e = k.log[i]!;
    if (e.type === 'lock/released' && e.lock === TASKLIST_LOCK && e.write && e.pid === link.parent) return undefined;
    if (e.type === 'task/flags' && e.pid === f.child) return e;
  }
  return undefined;
}

describe('forks during the walk, default options (tasklist read lock + re-copy at link)', () => {
  it('every child forked while the walk ran ends up flagged, over every seed', () => {
    let overlapping = 0;
    let savedByRecopy = 0;
    for (const seed of seeds(N)) {
      const k = raceKernel({ seed });
      const result = k.run();
      expectClean(k, result);
      const setReturned = eventsOf(k, 'ktrace/return').find((e) => e.op === 'set')!;
      const walkEnd = eventsOf(k, 'ktrace/walk-end').find((e) => e.op === 'set')!;
      for (const f of forksDuringWalk(k)) {
        overlapping++;
        // The child has the flag by the time both the walk and its own link are done: the walk
        // set it (linked first) or the re-copy under the tasklist write lock did (walk first) ...
        const recopy = recopyOf(k, f);
        const flaggedBy = k.log.find(
          (e) =>
            (e.type === 'fork/dup' && e.child === f.child && e.flags.includes(TIF_KERNEL_TRACE)) ||
            (e.type === 'task/flags' && e.pid === f.child && e.set.includes(TIF_KERNEL_TRACE)),
        );
        expect(flaggedBy, `seed ${seed}: child ${f.child} forked during the walk never got the flag`).toBeDefined();
        expect(flaggedBy!.seq).toBeLessThanOrEqual(Math.max(walkEnd.seq, recopy?.seq ?? -1));
        // ... and it is never cleared again (the tracer keeps it set).
        expect(k.log.some((e) => e.type === 'task/flags' && e.pid === f.child && e.clear.includes(TIF_KERNEL_TRACE))).toBe(false);
        // Flagged by the re-copy under the write lock: its dup copy came from an unflagged parent.
        const dup = k.log[f.dup]!;
        if (dup.type === 'fork/dup' && !dup.flags.includes(TIF_KERNEL_TRACE) && recopy !== undefined && flaggedBy!.seq === recopy.seq) savedByRecopy++;
      }
      // Every syscall a task enters after the set returned is traced.
      const after = k.log.filter((e) => e.seq > setReturned.seq);
      const entered = after.filter((e) => e.type === 'syscall/enter').length;
      const traced = after.filter((e) => e.type === 'ktrace/syscall-entry').length;
      expect(traced, `seed ${seed}`).toBe(entered);
    }
    // The seeds really exercise the race, and the re-copy is what closes it.
    expect(overlapping).toBeGreaterThan(N / 4);
    expect(savedByRecopy).toBeGreaterThan(10);
  });
});

describe.each<[string, KtraceOptions]>([
  ['forkRecopy: false', { forkRecopy: false }],
  ["walk: 'rcu'", { walk: 'rcu' }],
])('%s', (_name, options) => {
  it(`a schedule exists where a child forked during the walk misses the flag for its whole life; found in ${N} seeds, replayable`, () => {
    const found = explore(N, options);
    // The default is clean over the very same seeds (previous test); this variant is not.
    expect(found.failing.length, `no failing seed in ${found.seeds} seeds (${found.ms.toFixed(0)} ms)`).toBeGreaterThan(0);
    const missed = found.failing.find((f) => /without TIF_KERNEL_TRACE/.test(f.result.violations[0]!.message))!;
    expect(missed).toBeDefined();
    const v = missed.result.violations[0]!;
    expect(v.name).toBe('ktrace/flag');
    const pid = Number(/pid (\d+)/.exec(v.message)![1]);
    expect(forksDuringWalk(missed.kernel).map((f) => f.child)).toContain(pid);

    // The schedule string alone reproduces it.
    const again = replayRace(missed.seed, options, v.schedule);
    const rerun = again.run();
    expect(rerun.violations[0]).toMatchObject({ name: v.name, message: v.message });
    expect(again.logHash()).toBe(missed.kernel.logHash());

    // With the checks off, the same schedule runs on: the child lives and dies untraced while
    // the refcount stays 1, every one of its syscalls lost.
    const watched = replayRace(missed.seed, { ...options, checks: false }, v.schedule);
    const end = watched.run();
    expect(end.done).toBe(true);
    expect(watched.api.ktrace.refcount()).toBe(1);
    expect(everFlagged(watched, pid)).toBe(false);
    const setReturned = eventsOf(watched, 'ktrace/return').find((e) => e.op === 'set')!;
    const lost = eventsOf(watched, 'syscall/enter').filter((e) => e.pid === pid && e.seq > setReturned.seq);
    expect(lost.length).toBeGreaterThan(0);
    expect(eventsOf(watched, 'ktrace/syscall-entry').filter((e) => e.pid === pid)).toEqual([]);
    expect(eventsOf(watched, 'task/exit').some((e) => e.pid === pid)).toBe(true);
    process.stdout.write(
      `${JSON.stringify(options)}: ${found.failing.length}/${found.seeds} seeds fail (${found.ms.toFixed(0)} ms); first: seed ${found.failing[0]!.seed}; child ${pid} lost with seed ${missed.seed}, replay ${v.schedule}\n`,
    );
  });
});
