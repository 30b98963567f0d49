import { describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '@tracelab/core';
import { FTRACE_INVARIANTS, type FtraceOps } from '@tracelab/ftrace';
import { eventsOf, expectClean, expectReplayIdentity, findUnsafe, kernelWith, seeds } from '@tracelab/testing';
import { failingRuns, ftraceStack, noop, raceKernel } from './helpers.js';

/** Seeds explored per variant (a run is ~8 ms). */
const N = 100;

/** The tasks on the trampoline (by the log) when it was retired: its sites all unpatched. */
function onTrampolineAtRetire(k: Kernel): string[] {
  const retired = eventsOf(k, 'ftrace/tramp-retired')[0];
  if (retired === undefined) return [];
  const on = k.stateAt(retired.seq).plugins.ftrace!.onTrampoline;
  return Object.keys(on).filter((t) => on[t]!.includes(retired.tramp));
}

describe("freeTrampolineAfter: 'rcu-tasks' (the default)", () => {
  it(`never frees a trampoline a task is on, over ${N} seeds, although tasks are often preempted on it when it is retired`, () => {
    let caught = 0;
    for (const seed of seeds(N)) {
      const k = raceKernel(seed);
      const result = k.run({ maxSteps: 200_000 });
      expectClean(k, result);
      const retired = eventsOf(k, 'ftrace/tramp-retired')[0]!;
      const freed = eventsOf(k, 'ftrace/tramp-freed')[0]!;
      expect(freed.seq).toBeGreaterThan(retired.seq);
      const waitingFor = onTrampolineAtRetire(k);
      if (waitingFor.length > 0) {
        caught++;
        // Each task that was on it left it before the free: the RCU-tasks grace period waited.
        for (const task of waitingFor) {
          const exit = k.log.find(
            (e): e is KernelEvent<'ftrace/tramp-exit'> => e.type === 'ftrace/tramp-exit' && e.seq > retired.seq && String(e.pid) === task,
          );
          expect(exit, `seed ${seed}: pid ${task} never left the trampoline`).toBeDefined();
          expect(exit!.seq).toBeLessThan(freed.seq);
        }
      }
      // The callback never ran for a function its ops does not trace, and every record is back to 0.
      expect(k.api.ftrace.record('sys_getpid')).toEqual({ refcount: 0, tramp: null, target: 'nop' });
      expect(k.state.plugins.ftrace!.onTrampoline).toEqual({});
    }
    // The seeds do put tasks on the trampoline across its retirement (the race is exercised).
    expect(caught).toBeGreaterThan(N / 10);
  });
});

describe("freeTrampolineAfter: 'rcu-sched' (the unsafe variant)", () => {
  it(`frees the trampoline under a task preempted on it; found in ${N} seeds and replayable from the schedule string`, () => {
    const found = failingRuns(N, (seed) => raceKernel(seed, { freeTrampolineAfter: 'rcu-sched', cpuSync: 'rcu-sched' }));
    // Measured: 27 of seeds 1..100 fail (the first is seed 6). The default is clean on the same seeds.
    expect(found.length).toBeGreaterThanOrEqual(10);
    for (const f of found) {
      const v = f.result.violations[0]!;
      expect(v.name).toBe(FTRACE_INVARIANTS.useAfterFree);
      expect(v.message).toMatch(/^trampoline #1 was freed while pid \d+ was executing it/);
      // The victim was preempted on the trampoline (an involuntary switch after its tramp-enter),
      // and RCU-sched's grace period ended while it sat on the runqueue.
      const pid = Number(/pid (\d+)/.exec(v.message)![1]);
      const enter = f.kernel.log.findLast((e) => e.type === 'ftrace/tramp-enter' && e.pid === pid)!;
      const preempted = f.kernel.log.find((e) => e.type === 'sched/switch' && e.seq > enter.seq && e.prev === pid);
      expect(preempted).toMatchObject({ preempted: true });
      const gpEnd = f.kernel.log.findLast((e) => e.type === 'rcu/gp-end')!;
      expect(gpEnd.seq).toBeGreaterThan(preempted!.seq);
    }
    // The first failure replays from its schedule string: same log, same violation.
    expectReplayIdentity(found[0]!.kernel, ({ seed, strategy }) => raceKernel(seed, { freeTrampolineAfter: 'rcu-sched', cpuSync: 'rcu-sched' }, strategy));
  });

  it('with the checks off, the preempted task is seen resuming on the freed trampoline', () => {
    const { seed } = findUnsafe(20, (s) => raceKernel(s, { freeTrampolineAfter: 'rcu-sched', cpuSync: 'rcu-sched' }), FTRACE_INVARIANTS.useAfterFree, {
      maxSteps: 200_000,
    });
    const k = raceKernel(seed, { freeTrampolineAfter: 'rcu-sched', cpuSync: 'rcu-sched', checks: false });
    k.run({ maxSteps: 200_000 });
    const uaf = eventsOf(k, 'ftrace/use-after-free');
    expect(uaf.length).toBeGreaterThan(0);
    expect(uaf[0]).toMatchObject({ tramp: 1, ip: 'sys_getpid', at: 'resume' });
    expect(uaf[0]!.seq).toBeGreaterThan(eventsOf(k, 'ftrace/tramp-freed')[0]!.seq);
  });
});

describe("cpuSync: 'tasks-rude' without RCU-tasks", () => {
  it('does not cover a task preempted on the trampoline: the Rude wait needs only a switch on each CPU, and a preemption is one', () => {
    const found = failingRuns(N, (seed) => raceKernel(seed, { freeTrampolineAfter: 'rcu-sched' }));
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) {
      expect(f.result.violations[0]!.message).toMatch(/^trampoline #1 was freed while pid \d+ was executing it/);
      expect(eventsOf(f.kernel, 'rcu-tasks/rude-end').length).toBeGreaterThan(0);
    }
  });
});

describe('a DYNAMIC ops without a trampoline (ftrace_shutdown waits for every DYNAMIC ops)', () => {
  it('unregister returns only after a Tasks-Rude wait and then an RCU-tasks grace period, both begun after its sites were unpatched; a static ops does not wait', () => {
    for (const options of [{ dynamicTrampolines: false }, { traceIdle: false }] as const) {
      const k = kernelWith({ plugins: ftraceStack(options), seed: 2 });
      const D: FtraceOps = { func: noop, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'D' };
      const S: FtraceOps = { func: noop, filter: ['sys_getppid'], label: 'S' };
      // With trampolines on, failslab-free: D gets one; with them off it has none. Both wait.
      expect(k.call(k.api.ftrace.registerFtraceFunction(D))).toBe(0);
      expect(k.call(k.api.ftrace.registerFtraceFunction(S))).toBe(0);
      const from = k.log.length;
      expect(k.call(k.api.ftrace.unregisterFtraceFunction(D))).toBe(0);
      const log = k.log.slice(from);
      const unpatched = log.find((e) => e.type === 'ftrace/update-end')!.seq;
      const shutdown = log.find((e) => e.type === 'ftrace/ops-shutdown')!.seq;
      const gpBetween = (start: string, end: string) =>
        log.some(
          (s) =>
            s.type === start &&
            s.seq > unpatched &&
            log.some((e) => e.type === end && e.seq > s.seq && e.seq < shutdown && (e as { gp: number }).gp === (s as { gp: number }).gp),
        );
      // ftrace_shutdown: synchronize_rcu_tasks_rude (every CPU ran its worker), then synchronize_rcu_tasks.
      const rudeStart = log.find((e) => e.type === 'rcu-tasks/rude-start' && e.seq > unpatched)!;
      const rudeEnd = log.find((e) => e.type === 'rcu-tasks/rude-end' && e.seq > rudeStart.seq)!;
      expect(
        log
          .filter((e) => e.type === 'rcu-tasks/rude-cpu' && e.seq > rudeStart.seq && e.seq < rudeEnd.seq)
          .map((e) => e.cpu)
          .sort(),
      ).toEqual([0, 1]);
      const tasksStart = log.find((e) => e.type === 'rcu-tasks/gp-start' && e.seq > unpatched)!;
      expect(rudeEnd.seq).toBeLessThan(tasksStart.seq);
      expect(gpBetween('rcu-tasks/gp-start', 'rcu-tasks/gp-end'), JSON.stringify(options)).toBe(true);
      const hadTrampoline = log.some((e) => e.type === 'ftrace/tramp-freed');
      expect(hadTrampoline).toBe(options.dynamicTrampolines !== false);
      // A static ops is core kernel data: never freed, nothing to wait for.
      const before = k.log.length;
      expect(k.call(k.api.ftrace.unregisterFtraceFunction(S))).toBe(0);
      expect(k.log.slice(before).some((e) => e.type === 'rcu-tasks/gp-start' || e.type === 'rcu/gp-start' || e.type === 'rcu-tasks/rude-start')).toBe(false);
      expectClean(k, k.run());
    }
  });
});
