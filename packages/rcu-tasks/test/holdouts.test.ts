import { describe, expect, test } from 'vitest';
import { definePlugin, msleep, schedPoint, type Kernel, type KernelEvent, type KPath, type Program } from '@tracelab/core';
import type { HoldoutDropReason } from '@tracelab/rcu-tasks';
import { eventsOf, expectClean, seeds } from '@tracelab/testing';
import { kernelSection, rcuTasksKernel, userLoad } from './helpers.js';

/** A user task: syscalls that stay `n` points in the kernel, with user-mode work between. */
const busyUser: Program = function* busyUser(u) {
  for (let i = 0; i < 3; i++) {
    yield u.syscall('busy', { n: 25 });
    yield u.compute(10);
  }
};

/** Readers of every kind beside an updater that runs three RCU-tasks grace periods. */
function holdoutWorkload(k: Kernel): void {
  for (let i = 0; i < 2; i++) k.spawn(busyUser, { comm: 'busyuser' });
  for (let i = 0; i < 2; i++) {
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let j = 0; j < 3; j++) yield* kernelSection(30, 2);
      })(),
      { comm: 'reader' },
    );
  }
  k.spawnKthread(kernelSection(40, 0), { comm: 'exiter' });
  k.spawnKthread(
    (function* (): KPath<void> {
      for (let j = 0; j < 3; j++) {
        yield* k.api['rcu-tasks'].synchronizeRcuTasks();
        yield* msleep(3);
      }
    })(),
    { comm: 'updater' },
  );
}

/** Does the log between seqs (a, b] show the quiescent state `why` for `pid`? */
function justified(log: readonly KernelEvent[], pid: number, a: number, b: number, why: HoldoutDropReason): boolean {
  for (let i = a + 1; i <= b; i++) {
    const e = log[i]!;
    switch (why) {
      case 'voluntary':
      case 'off-rq':
        if (e.type === 'sched/switch' && e.prev === pid && !e.preempted) return true;
        break;
      case 'exited':
        if (
          (e.type === 'sched/switch' && e.prev === pid && (e.prevState === 'zombie' || e.prevState === 'dead')) ||
          (e.type === 'task/zombie' && e.pid === pid)
        )
          return true;
        break;
      case 'user':
        if ((e.type === 'syscall/exit' || (e.type === 'fault/resolved' && e.user)) && e.pid === pid) return true;
        break;
      default:
        return false;
    }
  }
  return false;
}

describe('the holdout rules', () => {
  test('every holdout is dropped only for a voluntary switch, user mode, leaving the runqueue or exiting; preemption keeps it', () => {
    const reasons = new Set<HoldoutDropReason>();
    let keptAfterPreemption = 0;
    for (const seed of seeds(25)) {
      const k = rcuTasksKernel({ seed });
      holdoutWorkload(k);
      const r = k.run();
      expectClean(k, r);
      const log = k.log;
      for (const h of eventsOf(k, 'rcu-tasks/holdouts')) {
        expect(h.pids).not.toContain(0);
        const rescans = eventsOf(k, 'rcu-tasks/rescan').filter((e) => e.gp === h.gp);
        for (const pid of h.pids) {
          const drop = rescans.find((e) => e.dropped.some((d) => d.pid === pid));
          expect(drop, `holdout ${pid} of GP ${h.gp} (seed ${seed}) never dropped`).toBeDefined();
          const why = drop!.dropped.find((d) => d.pid === pid)!.why;
          reasons.add(why);
          expect(justified(log, pid, h.seq, drop!.seq, why), `seed ${seed}: pid ${pid} dropped as ${why} without it`).toBe(true);
          // Preempted after the scan, and still a holdout at a later rescan: preemption did not end it.
          const preempted = log.findIndex((e, i) => i > h.seq && i < drop!.seq && e.type === 'sched/switch' && e.prev === pid && e.preempted);
          if (preempted !== -1 && rescans.some((e) => e.seq > preempted && e.seq < drop!.seq)) keptAfterPreemption++;
        }
        // The GP ended only once no holdout remained.
        const end = eventsOf(k, 'rcu-tasks/gp-end').find((e) => e.gp === h.gp)!;
        const last = rescans.filter((e) => e.seq < end.seq).at(-1);
        if (h.pids.length > 0) expect(last!.remaining).toBe(0);
      }
    }
    expect([...reasons].sort()).toEqual(['exited', 'off-rq', 'user', 'voluntary']);
    expect(keptAfterPreemption).toBeGreaterThan(0);
  });

  test('a task in a syscall is a holdout until it returns to user mode', () => {
    const k = rcuTasksKernel({ seed: 2 });
    const pid = k.spawn(
      function* (u) {
        yield u.syscall('busy', { n: 60 });
        yield u.compute(200);
      },
      { comm: 'sys' },
    );
    userLoad(k, 2, 150);
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* msleep(3);
        yield* k.api['rcu-tasks'].synchronizeRcuTasks();
      })(),
      { comm: 'updater' },
    );
    const r = k.run();
    expectClean(k, r);
    const h = eventsOf(k, 'rcu-tasks/holdouts')[0]!;
    expect(h.pids).toContain(pid);
    const drop = eventsOf(k, 'rcu-tasks/rescan').find((e) => e.dropped.some((d) => d.pid === pid))!;
    expect(drop.dropped.find((d) => d.pid === pid)!.why).toBe('user');
    const sysExit = k.log.find((e) => e.type === 'syscall/exit' && e.pid === pid && e.name === 'busy')!;
    expect(sysExit.seq).toBeLessThan(drop.seq);
    // It stayed a holdout at every rescan before its return to user mode.
    for (const e of eventsOf(k, 'rcu-tasks/rescan').filter((e) => e.seq < sysExit.seq)) expect(e.dropped.map((d) => d.pid)).not.toContain(pid);
  });

  test('tasks in user mode, asleep, or not yet woken are not holdouts; the GP kthread is never its own holdout', () => {
    const k = rcuTasksKernel({ seed: 4, cpus: 2 });
    const user = k.spawn(
      function* (u) {
        yield u.compute(100);
      },
      { comm: 'user' },
    );
    const sleeper = k.spawnKthread(msleep(500) as KPath<void>, { comm: 'sleeper' });
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* msleep(5);
        yield* k.api['rcu-tasks'].synchronizeRcuTasks();
      })(),
      { comm: 'updater' },
    );
    const r = k.run();
    expectClean(k, r);
    const h = eventsOf(k, 'rcu-tasks/holdouts')[0]!;
    const gpKthread = eventsOf(k, 'rcu-tasks/kthread-start')[0]!.pid;
    expect(h.pids).not.toContain(user);
    expect(h.pids).not.toContain(sleeper);
    expect(h.pids).not.toContain(gpKthread);
    expect(h.scanned).toBeGreaterThanOrEqual(4);
  });

  test('the idle tasks are never holdouts, even when their idle loops run kernel code at every step', () => {
    const idleTap = definePlugin({
      name: 'idletap',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('idle', function* () {
          // work in the idle loop
        });
        return {};
      },
    });
    const k = rcuTasksKernel({ seed: 1, cpus: 4, extra: [idleTap] });
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < 3; i++) yield* k.api['rcu-tasks'].synchronizeRcuTasks();
      })(),
      { comm: 'updater' },
    );
    // The idle tap keeps idle CPUs eligible, so run until the updater is done.
    const r = k.run({ until: (s) => (s.plugins['rcu-tasks']?.tasks.completed ?? 0) >= 3, maxSteps: 20_000 });
    expect(r.violations).toEqual([]);
    expect(k.api['rcu-tasks'].completed()).toBe(3);
    for (const h of eventsOf(k, 'rcu-tasks/holdouts')) expect(h.pids).toEqual([]);
  });
});

describe('the return to user mode', () => {
  /**
   * Another plugin's return-to-user work that runs last (lowest priority): kernel code, with
   * preemption points and no voluntary switch, between the end of the syscall and user mode
   * (a traced function there would run on a trampoline).
   */
  function lateExitWork(inside: Map<number, number>) {
    let sections = 0;
    return definePlugin({
      name: 'lateexit',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap(
          'returnToUser',
          function* lateExit({ pid }) {
            inside.set(pid, ++sections);
            for (let i = 0; i < 30; i++) yield* schedPoint();
            inside.delete(pid);
          },
          { priority: -5000 },
        );
        return {};
      },
    });
  }

  test('is a quiescent state only once the task is in user mode: return-to-user hooks of any priority are still kernel code (30 seeds)', () => {
    let covered = 0;
    for (const seed of seeds(30)) {
      const inside = new Map<number, number>(); // pid -> the section it is in
      const k = rcuTasksKernel({ seed, extra: [lateExitWork(inside)] });
      for (let i = 0; i < 3; i++) {
        k.spawn(
          function* (u) {
            for (let j = 0; j < 4; j++) {
              yield u.syscall('getpid');
              yield u.compute(2);
            }
          },
          { comm: 'sys' },
        );
      }
      const late: Array<Array<[number, number]>> = [];
      k.spawnKthread(
        (function* (): KPath<void> {
          for (let j = 0; j < 6; j++) {
            yield* msleep(2);
            const before = [...inside];
            yield* k.api['rcu-tasks'].synchronizeRcuTasks();
            if (before.length > 0) covered++;
            late.push(before.filter(([pid, section]) => inside.get(pid) === section));
          }
        })(),
        { comm: 'updater' },
      );
      const r = k.run();
      expectClean(k, r);
      // synchronizeRcuTasks never returned while a task that was in that kernel code at the call
      // was still in that same section.
      expect(late.flat(), `seed ${seed}`).toEqual([]);
    }
    expect(covered).toBeGreaterThan(5);
  });
});

describe('stall warnings', () => {
  function stallKernel(stallTimeout: number) {
    const k = rcuTasksKernel({ seed: 5, options: { stallTimeout } });
    const hog = k.spawnKthread(kernelSection(150, 1), { comm: 'hog' });
    userLoad(k, 2, 400);
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* schedPoint();
        yield* k.api['rcu-tasks'].synchronizeRcuTasks();
      })(),
      { comm: 'updater' },
    );
    const r = k.run();
    expectClean(k, r);
    return { k, hog };
  }

  test('a GP held by a holdout for stallTimeout ticks logs a stall naming it, again every stallTimeout ticks, and still ends', () => {
    const { k, hog } = stallKernel(20);
    const stalls = eventsOf(k, 'rcu-tasks/stall');
    expect(stalls.length).toBeGreaterThanOrEqual(2);
    for (const s of stalls) {
      expect(s.holdouts).toEqual([hog]);
      expect(s.count).toBe(1);
      expect(s.gp).toBe(1);
    }
    expect(stalls[0]!.ticks).toBeGreaterThanOrEqual(20);
    for (let i = 1; i < stalls.length; i++) expect(Math.floor(stalls[i]!.ticks / 20)).toBeGreaterThan(Math.floor(stalls[i - 1]!.ticks / 20));
    const hogSleeps = k.log.find((e) => e.type === 'task/sleep' && e.pid === hog)!;
    const end = eventsOf(k, 'rcu-tasks/gp-end')[0]!;
    expect(end.seq).toBeGreaterThan(hogSleeps.seq);
    expect(stalls.every((s) => s.seq < hogSleeps.seq + 50)).toBe(true);
  });

  test('no stall warning with stallTimeout 0, nor with the default 10 simulated minutes', () => {
    expect(eventsOf(stallKernel(0).k, 'rcu-tasks/stall')).toEqual([]);
    const k = rcuTasksKernel({ seed: 5 });
    k.spawnKthread(kernelSection(150, 1), { comm: 'hog' });
    userLoad(k, 2, 400);
    k.spawnKthread(k.api['rcu-tasks'].synchronizeRcuTasks(), { comm: 'updater' });
    k.run();
    expect(eventsOf(k, 'rcu-tasks/stall')).toEqual([]);
  });
});
