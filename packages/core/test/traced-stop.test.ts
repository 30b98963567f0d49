import { describe, expect, it } from 'vitest';
import { createKernel, current, emit, intMapGet, msleep, replay, schedule, SIGCONT, SIGKILL, SIGSTOP, wakeUp, type Kernel, type Program } from '@tracelab/core';
import { SEEDS } from './helpers.js';

/**
 * The two kinds of stop (issue 22, utrace §3): a job-control stop (TASK_STOPPED) ends at SIGCONT
 * or SIGKILL; a tracer's stop (TASK_TRACED, `TaskState.traced`) only at SIGKILL, the SIGCONT
 * staying pending. `task/traced` turns one into the other without waking the task.
 */
describe('TASK_STOPPED and TASK_TRACED', () => {
  const selfStopper: Program = function* stopper(u) {
    const me = (yield u.syscall('getpid')) as number;
    yield u.kill(me, SIGSTOP);
    yield u.syscall('getppid');
    yield u.exit(0);
  };
  const sender = (pid: number, sig: number): Program =>
    function* sender(u) {
      yield u.kill(pid, sig);
      yield u.exit(0);
    };
  const setTraced = (k: Kernel, pid: number, traced: boolean): void => {
    k.call(
      (function* () {
        yield* emit({ type: 'task/traced', pid, traced });
      })(),
    );
  };
  const exited = (k: Kernel, pid: number): boolean => k.log.some((e) => e.type === 'task/exit' && e.pid === pid);

  /** A kernel whose one task is in its job-control stop. */
  function stopped(seed: number): { k: Kernel; pid: number } {
    const k = createKernel({ cpus: 2, seed });
    const pid = k.spawn(selfStopper, { comm: 'stopper' });
    expect(k.run().done).toBe(false);
    const t = intMapGet(k.state.tasks, pid)!;
    expect(t.state).toBe('stopped');
    // A job-control stop is not traced: the field is absent, not false.
    expect('traced' in t).toBe(false);
    return { k, pid };
  }

  it('a SIGCONT does not wake a traced stop; once the tracer hands it back (traced: false) a SIGCONT does', () => {
    for (const seed of SEEDS(5)) {
      const { k, pid } = stopped(seed);
      setTraced(k, pid, true);
      expect(intMapGet(k.state.tasks, pid)).toMatchObject({ state: 'stopped', traced: true });
      k.spawn(sender(pid, SIGCONT));
      const r = k.run();
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(false);
      expect(intMapGet(k.state.tasks, pid)).toMatchObject({ state: 'stopped', traced: true });
      expect(intMapGet(k.state.tasks, pid)!.pendingSignals).toContain(SIGCONT);
      expect(exited(k, pid)).toBe(false);
      // Handed back to job control: still stopped, the pending SIGCONT woke nobody.
      setTraced(k, pid, false);
      expect(k.run().done).toBe(false);
      expect('traced' in intMapGet(k.state.tasks, pid)!).toBe(false);
      k.spawn(sender(pid, SIGCONT));
      const r2 = k.run();
      expect(r2.violations).toEqual([]);
      expect(r2.done).toBe(true);
      expect(exited(k, pid)).toBe(true);
      // The kind of stop is in the log: a replay rebuilds the same state.
      expect(replay(k.log, { plugins: [] }).logHash()).toBe(k.logHash());
    }
  });

  it('SIGKILL ends a traced stop, and the woken task is no longer traced', () => {
    for (const seed of SEEDS(5)) {
      const { k, pid } = stopped(seed);
      setTraced(k, pid, true);
      k.spawn(sender(pid, SIGKILL));
      const r = k.run();
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(true);
      expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 128 + SIGKILL });
      const woke = k.log.findIndex((e) => e.type === 'sched/wakeup' && e.pid === pid);
      expect(woke).toBeGreaterThan(0);
    }
  });

  it('a task/sleep with traced: true stops the task as traced; its wakeup clears it', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    const pid = k.spawnKthread(
      (function* () {
        const me = yield* current();
        yield* emit({ type: 'task/sleep', pid: me.pid, on: 'held', until: null, state: 'stopped', traced: true });
        yield* schedule();
        yield* msleep(1);
      })(),
      { comm: 'held' },
    );
    expect(k.run().done).toBe(false);
    expect(intMapGet(k.state.tasks, pid)).toMatchObject({ state: 'stopped', waitingOn: 'held', traced: true });
    k.call(
      (function* () {
        yield* wakeUp('held');
      })(),
    );
    expect(k.run().done).toBe(true);
    const wake = k.log.findIndex((e) => e.type === 'sched/wakeup' && e.pid === pid);
    expect(wake).toBeGreaterThan(0);
    // Its later timed sleep is a plain one: no trace of the stop's kind.
    expect(k.log.filter((e) => e.type === 'task/sleep' && e.pid === pid).map((e) => (e as { traced?: true }).traced ?? null)).toEqual([true, null]);
  });
});
