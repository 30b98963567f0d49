import { describe, expect, test } from 'vitest';
import { createKernel, msleep, replaySchedule, type Kernel, type KPath, type Program, type Strategy } from '@tracelab/core';
import { UTRACE_INVARIANTS, attachSyscallLogger, detachEngine, utrace, type UtraceApi } from '@tracelab/utrace';
import { eventsOf } from '@tracelab/testing';

/** A traced task that keeps making syscalls whose string arguments the logger reads (and faults on). */
const busy: Program = function* busy(u) {
  for (let i = 0; i < 12; i++) {
    yield u.syscall('open', { path: `/var/log/app${i}.log`, flags: 0 });
    yield u.compute(1);
  }
};

/** The tracer: attach the logger, let it log a while, then detach (with or without the barrier) and put. */
function* tracer(api: UtraceApi, pid: number, barrier: boolean, after: number): KPath<number> {
  const e = yield* attachSyscallLogger(api, pid);
  if (typeof e === 'number') return e;
  yield* msleep(after);
  return yield* detachEngine(api, pid, e, { barrier });
}

function raceKernel(seed: number, barrier: boolean, strategy?: Strategy): Kernel {
  const k = createKernel({ cpus: 2, seed, ...(strategy ? { strategy } : {}), plugins: [utrace()] });
  const pid = k.spawn(busy, { comm: 'busy' });
  k.spawnKthread(tracer(k.api.utrace, pid, barrier, 4 + (seed % 7)), { comm: 'tracer' });
  return k;
}

const SEEDS = 200;

function explore(barrier: boolean): { failing: number[]; einprogress: number; first?: { seed: number; schedule: string; message: string } } {
  const failing: number[] = [];
  let einprogress = 0;
  let first: { seed: number; schedule: string; message: string } | undefined;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const k = raceKernel(seed, barrier);
    const r = k.run();
    if (eventsOf(k, 'utrace/control').some((c) => c.ret === -115)) einprogress++;
    if (r.violations.length > 0) {
      const v = r.violations[0]!;
      if (v.name !== UTRACE_INVARIANTS.lifetime) throw new Error(`seed ${seed}: unexpected violation ${v.name}: ${v.message}`);
      failing.push(seed);
      first ??= { seed, schedule: v.schedule, message: v.message };
    } else if (!r.done) {
      throw new Error(`seed ${seed}: the run did not finish`);
    }
  }
  return { failing, einprogress, ...(first ? { first } : {}) };
}

describe('detach racing a running callback (utrace_barrier)', () => {
  test('without the barrier, the random strategy finds the use-after-free, and its schedule replays it', () => {
    const { failing, einprogress, first } = explore(false);
    console.log(`no-barrier: ${failing.length} of ${SEEDS} seeds find the use-after-free (first: seed ${failing[0]}); ${einprogress} seeds saw -EINPROGRESS`);
    expect(failing.length).toBeGreaterThan(0);
    expect(first!.message).toMatch(/use-after-free/);
    const again = raceKernel(first!.seed, false, replaySchedule(first!.schedule));
    const r = again.run();
    expect(r.violations[0]?.name).toBe(UTRACE_INVARIANTS.lifetime);
  });

  test('with the barrier, the same seeds find none, and the race window is really hit', () => {
    const { failing, einprogress } = explore(true);
    console.log(`barrier: ${failing.length} of ${SEEDS} seeds fail; ${einprogress} seeds detached during a callback (-EINPROGRESS) and waited`);
    expect(failing).toEqual([]);
    // The barrier was exercised: some detaches landed inside a callback.
    expect(einprogress).toBeGreaterThan(0);
  });
});
