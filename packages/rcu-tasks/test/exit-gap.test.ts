import { describe, expect, test } from 'vitest';
import { definePlugin, getState, intMapGet, msleep, preemptDisable, preemptEnable, schedPoint, type KPath } from '@tracelab/core';
import { RCU_TASKS_INVARIANTS, type RcuTasksOptions } from '@tracelab/rcu-tasks';
import { expectClean, seeds } from '@tracelab/testing';
import { rcuTasksKernel, userLoad } from './helpers.js';

/** A dynamic trampoline: freed memory must not be executed. */
interface Trampoline {
  readonly id: number;
  freed: boolean;
}

/** The exit-gap workload's knobs: a final preempt-disabled region, and the trampoline stretches' length in steps. */
interface Workload {
  readonly finalRegion?: boolean;
  readonly steps?: number;
  /** The updater's patch / unpatch / synchronize rounds, and the ticks each patch stays. */
  readonly rounds?: number;
  readonly patchTicks?: number;
  readonly cpus?: number;
}

/**
 * SEMANTICS.md 4.1 tasks_rcu_exit_srcu / synchronize_srcu(exit): upstream covers a task that
 * left the task list but still runs do_exit (the scan, for_each_process_thread, cannot see it).
 * Here the scan walks every task still in the state, unlisted ones included, so such a task is
 * a holdout until its final switch (docs/rcu-tasks.md 3.4). A forked child runs on the
 * trampoline from its `death` hook (after exit_notify, when its parent may already reap it);
 * the updater unpatches, waits for an RCU-tasks grace period and frees.
 */
function exitRun(seed: number, options: RcuTasksOptions = {}, { finalRegion = false, steps = 12, rounds = 4, patchTicks = 5, cpus = 2 }: Workload = {}) {
  // Host memory shared by the test's kernel paths; the runtime's single thread orders it.
  const run = {
    patched: null as Trampoline | null,
    useAfterFree: 0,
    unlistedHoldout: 0,
    unlistedOnTrampoline: 0,
    /** Trampoline accesses in the final preempt-disabled region by a task already released. */
    unlistedInFinalRegion: 0,
    /** Use-after-free in the final preempt-disabled region. */
    finalUseAfterFree: 0,
    children: new Set<number>(),
    /** The trampoline each child entered in its death hook (the final region goes on running it). */
    entered: new Map<number, Trampoline>(),
  };
  const deathOnTrampoline = definePlugin({
    name: 'exitgap',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.tap('death', function* onTrampoline({ pid }): KPath<void> {
        if (!run.children.has(pid)) return;
        const t = run.patched;
        if (t === null) return;
        run.entered.set(pid, t);
        for (let i = 0; i < steps; i++) {
          if (t.freed) run.useAfterFree++;
          const me = intMapGet((yield* getState()).tasks, pid);
          if (me !== undefined && !me.listed) {
            run.unlistedOnTrampoline++;
            if (k.api['rcu-tasks'].holdouts().includes(pid)) run.unlistedHoldout++;
          }
          yield* schedPoint();
        }
      });
      if (finalRegion) {
        // After exit_tasks_rcu_finish (rcu-tasks' own death handler runs at priority -1000 under
        // 'exit-srcu'): the task's last stretch before its final switch, preemption off, still
        // executing trampoline text (upstream: do_exit's end up to do_task_dead).
        ctx.tap(
          'death',
          function* finalRegionOnTrampoline({ pid }): KPath<void> {
            // The trampoline the task entered in its exit path: it is still executing its text.
            const t = run.entered.get(pid);
            if (t === undefined) return;
            yield* preemptDisable();
            for (let i = 0; i < steps; i++) {
              if (t.freed) run.finalUseAfterFree++;
              const me = intMapGet((yield* getState()).tasks, pid);
              if (me !== undefined && !me.listed) run.unlistedInFinalRegion++;
              yield* schedPoint();
            }
            yield* preemptEnable();
          },
          { priority: -2000 },
        );
      }
      return {};
    },
  });
  const k = rcuTasksKernel({ seed, cpus, extra: [deathOnTrampoline], options });
  for (let p = 0; p < 2; p++) {
    k.spawn(
      function* parent(u) {
        for (let c = 0; c < 6; c++) {
          const child = (yield u.fork(function* child(v) {
            yield v.compute(2);
            yield v.exit(0);
          })) as number;
          run.children.add(child);
          yield u.compute(2);
          yield u.wait();
        }
      },
      { comm: `parent${p}` },
    );
  }
  userLoad(k, 2, 40);
  k.spawnKthread(
    (function* updater(): KPath<void> {
      for (let i = 0; i < rounds; i++) {
        run.patched = { id: i, freed: false };
        yield* msleep(patchTicks);
        const old = run.patched;
        run.patched = null;
        yield* k.api['rcu-tasks'].synchronizeRcuTasks();
        old.freed = true;
      }
    })(),
    { comm: 'ftrace' },
  );
  return { k, run };
}

describe('SEMANTICS.md 4.1 tasks_rcu_exit_srcu: an exiting task the list no longer has', () => {
  test('a child reaped while on the trampoline in its death hook stays a holdout: no use-after-free over 40 seeds, and the gap is reached', () => {
    let reached = 0;
    let heldOut = 0;
    for (const seed of seeds(40)) {
      const { k, run } = exitRun(seed);
      const r = k.run();
      expectClean(k, r);
      expect(run.useAfterFree, `seed ${seed}`).toBe(0);
      if (run.unlistedOnTrampoline > 0) reached++;
      if (run.unlistedHoldout > 0) heldOut++;
    }
    // The window upstream needs tasks_rcu_exit_srcu for was met, and a grace period held the
    // unlisted task as a holdout there (a scan of listed tasks only would have skipped it).
    expect(reached).toBeGreaterThan(0);
    expect(heldOut).toBeGreaterThan(0);
  });
});

/** Runs `seeds` seeds of the exit-gap workload under `options`; per-seed outcomes summed. */
function exitSweep(n: number, options: RcuTasksOptions, workload: Workload = {}) {
  const sum = {
    seeds: 0,
    clean: 0,
    violations: 0,
    finalRegionViolations: 0,
    useAfterFree: 0,
    reached: 0,
    heldOut: 0,
    finalReached: 0,
    finalUseAfterFree: 0,
    exitSrcuWaits: 0,
  };
  for (const seed of seeds(n)) {
    const { k, run } = exitRun(seed, options, workload);
    const r = k.run();
    sum.seeds++;
    if (r.violations.length === 0 && run.useAfterFree === 0 && run.finalUseAfterFree === 0) sum.clean++;
    if (r.violations.length > 0) {
      expect(r.violations[0]!.name, `seed ${seed}`).toBe(RCU_TASKS_INVARIANTS.readers);
      sum.violations++;
      if (/exit_tasks_rcu_finish/.test(r.violations[0]!.message)) sum.finalRegionViolations++;
    }
    if (run.useAfterFree > 0) sum.useAfterFree++;
    if (run.finalUseAfterFree > 0) sum.finalUseAfterFree++;
    if (run.unlistedOnTrampoline > 0) sum.reached++;
    if (run.unlistedHoldout > 0) sum.heldOut++;
    if (run.unlistedInFinalRegion > 0) sum.finalReached++;
    for (const e of k.log) if (e.type === 'rcu-tasks/exit-srcu-wait' && e.pids.length > 0) sum.exitSrcuWaits++;
  }
  return sum;
}

/**
 * The workload the exitTasks variants are compared on: long stretches on the trampoline (60
 * steps), an updater that patches for a tick and then synchronizes, twelve times, on 3 CPUs
 * (so the GP kthread has a CPU while an exiting child runs with preemption off on another).
 */
const GAP: Workload = { steps: 60, rounds: 12, patchTicks: 1, cpus: 3 };
const FINAL: Workload = { ...GAP, finalRegion: true };

describe("exitTasks: upstream's tasks_rcu_exit_srcu, and the scan of listed tasks only", () => {
  test("'exit-srcu': the scan skips released tasks, the exit-SRCU wait covers them: clean over 40 seeds, and the wait waits for someone", () => {
    const sum = exitSweep(40, { exitTasks: 'exit-srcu' }, GAP);
    expect(sum.clean).toBe(40);
    // The gap was reached: a released child ran on the trampoline in its exit path.
    expect(sum.reached).toBeGreaterThan(0);
    // Some GP's synchronize_srcu found a task inside its exit path and waited for it.
    expect(sum.exitSrcuWaits).toBeGreaterThan(0);
  });

  test("'listed-only' (unsafe): a released child on the trampoline is not waited for: the readers invariant fires, and without checks it runs on a freed trampoline", () => {
    const checked = exitSweep(40, { exitTasks: 'listed-only' }, GAP);
    expect(checked.violations).toBeGreaterThan(0);
    const unchecked = exitSweep(40, { exitTasks: 'listed-only', checks: false }, GAP);
    expect(unchecked.useAfterFree).toBeGreaterThan(0);
    // The default, on the same workload, is clean.
    expect(exitSweep(40, {}, GAP).clean).toBe(40);
  });

  test("a final preempt-disabled region after exit_tasks_rcu_finish: 'exit-srcu' and the default are clean over 40 seeds, and released tasks reach the region", () => {
    const srcu = exitSweep(40, { exitTasks: 'exit-srcu' }, FINAL);
    expect(srcu.clean).toBe(40);
    expect(srcu.finalReached).toBeGreaterThan(0);
    expect(exitSweep(40, {}, FINAL).clean).toBe(40);
  });

  test("'exit-srcu' with skipSecondSync (unsafe): the final region runs on a freed trampoline: the second synchronize_rcu is needed", () => {
    const sum = exitSweep(40, { exitTasks: 'exit-srcu', skipSecondSync: true, checks: false }, FINAL);
    expect(sum.finalUseAfterFree).toBeGreaterThan(0);
    // Only the final region is unprotected: the exit-SRCU section itself still is.
    expect(sum.useAfterFree).toBe(0);
  });

  test("'exit-srcu' with skipSecondSync (unsafe): the readers invariant fires on the final preempt-disabled region, where 'exit-srcu' and the default are clean on the same seeds", () => {
    // exitSweep checks that each violation is rcu-tasks/readers.
    const unsafe = exitSweep(40, { exitTasks: 'exit-srcu', skipSecondSync: true }, FINAL);
    expect(unsafe.violations).toBeGreaterThan(0);
    // It names the final region (a task past exit_tasks_rcu_finish), not a task in its exit-SRCU section.
    expect(unsafe.finalRegionViolations).toBe(unsafe.violations);
    expect(exitSweep(40, { exitTasks: 'exit-srcu' }, FINAL).violations).toBe(0);
    expect(exitSweep(40, {}, FINAL).violations).toBe(0);
  });

  test('the default configuration logs its options as before (no exitTasks / skipSecondSync keys), the others name theirs', () => {
    const plain = exitRun(1).k;
    const reg = (k: typeof plain) => k.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'rcu-tasks');
    plain.run();
    expect(JSON.stringify(reg(plain))).not.toMatch(/exitTasks|skipSecondSync/);
    const srcu = exitRun(1, { exitTasks: 'exit-srcu', skipSecondSync: true }).k;
    srcu.run();
    expect(reg(srcu)).toMatchObject({ options: { exitTasks: 'exit-srcu', skipSecondSync: true } });
  });
});
