import { describe, expect, test } from 'vitest';
import { definePlugin, getState, intMapGet, msleep, schedPoint, type KPath } from '@tracelab/core';
import { expectClean, seeds } from '@tracelab/testing';
import { rcuTasksKernel, userLoad } from './helpers.js';

/** A dynamic trampoline: freed memory must not be executed. */
interface Trampoline {
  readonly id: number;
  freed: boolean;
}

/**
 * SEMANTICS.md 4.1 tasks_rcu_exit_srcu / synchronize_srcu(exit): upstream covers a task that
 * left the task list but still runs do_exit (the scan, for_each_process_thread, cannot see it).
 * Here the scan walks every task still in the state, unlisted ones included, so such a task is
 * a holdout until its final switch (docs/rcu-tasks.md 3.4). A forked child runs on the
 * trampoline from its `death` hook (after exit_notify, when its parent may already reap it);
 * the updater unpatches, waits for an RCU-tasks grace period and frees.
 */
function exitRun(seed: number) {
  // Host memory shared by the test's kernel paths; the runtime's single thread orders it.
  const run = { patched: null as Trampoline | null, useAfterFree: 0, unlistedHoldout: 0, unlistedOnTrampoline: 0, children: new Set<number>() };
  const deathOnTrampoline = definePlugin({
    name: 'exitgap',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.tap('death', function* onTrampoline({ pid }): KPath<void> {
        if (!run.children.has(pid)) return;
        const t = run.patched;
        if (t === null) return;
        for (let i = 0; i < 12; i++) {
          if (t.freed) run.useAfterFree++;
          const me = intMapGet((yield* getState()).tasks, pid);
          if (me !== undefined && !me.listed) {
            run.unlistedOnTrampoline++;
            if (k.api['rcu-tasks'].holdouts().includes(pid)) run.unlistedHoldout++;
          }
          yield* schedPoint();
        }
      });
      return {};
    },
  });
  const k = rcuTasksKernel({ seed, extra: [deathOnTrampoline] });
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
      for (let i = 0; i < 4; i++) {
        run.patched = { id: i, freed: false };
        yield* msleep(5);
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
