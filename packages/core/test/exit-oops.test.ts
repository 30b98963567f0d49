/**
 * An oops on a task's exit path once it is past exit_signals (PF_EXITING): make_task_dead's
 * recursive fault. The task is never released. Upstream it stays as EXIT_DEAD on the task list
 * and its parent's children, and no wait reaps it (wait_consider_task skips EXIT_DEAD): a parent
 * with no other child gets -ECHILD. Before, the core dropped the record at the task's last switch
 * and left its pid in the parent's children, whose wait then slept for ever. docs/core.md
 * decision 23.
 */
import { describe, expect, it } from 'vitest';
import { createKernel, current, definePlugin, intMapGet, type HookName, type KPath, type Program, type StepFootprint } from '../src/index.js';

/**
 * A plugin whose `hook`, for the task named `comm`, loops without a scheduling point and swallows
 * the soft-lockup error thrown into it: nothing can be done for the task but to kill it.
 */
const looper = (comm: string, hook: HookName) =>
  definePlugin<Record<string, never>, null>({
    name: 'looper',
    version: '0.0.0',
    core: '*',
    register(ctx) {
      ctx.tap(hook, function* ({ pid }: { pid: number }): KPath<void> {
        if (intMapGet(ctx.state().tasks, pid)?.comm !== comm) return;
        for (;;) {
          try {
            yield* current();
          } catch {
            // the soft lockup, swallowed
          }
        }
      } as never);
      return {};
    },
  });

/** A parent that forks the victim, optionally sleeps first, then waits; what its wait returned. */
function run(hook: HookName, sleepFirst: number, steps?: StepFootprint[]) {
  let waited: unknown = 'never returned';
  const parent: Program = function* (u) {
    yield u.fork(function* (u2) {
      yield u2.exec('victim', function* (u3) {
        yield u3.compute(1);
        yield u3.exit(0);
      });
    });
    if (sleepFirst > 0) yield u.sleep(sleepFirst);
    waited = yield u.wait();
    yield u.exit(0);
  };
  const k = createKernel({ cpus: 1, seed: 1, plugins: [looper('victim', hook)] });
  const ppid = k.spawn(parent, { comm: 'parent' });
  if (steps !== undefined) k.recordFootprints((f) => steps.push(f));
  const r = k.run({ maxSteps: 2_000 });
  const oopses = k.log.filter((e) => e.type === 'kernel/oops') as unknown as Array<{ killed: number | null; message: string }>;
  const victim = oopses[0]?.killed ?? -1;
  const exits = k.log.filter((e) => e.type === 'task/exit' && (e as unknown as { pid: number }).pid === victim).length;
  return { k, r, waited, oopses, ppid, victim, exits };
}

describe('an oops past PF_EXITING (the `death` hook, after exit_notify): the recursive fault', () => {
  it('leaves the task EXIT_DEAD at once: do_exit is not run again, the record is kept, listed, never released', () => {
    const { k, oopses, victim, exits } = run('death', 20);
    expect(oopses).toHaveLength(1);
    expect(oopses[0]!.killed).toBe(victim);
    expect(oopses[0]!.message).toMatch(/soft lockup/);
    expect(exits).toBe(1);
    const t = intMapGet(k.state.tasks, victim)!;
    expect(t).toBeDefined();
    expect(t.exitState).toBe('dead');
    expect(t.state).toBe('dead');
    expect(t.listed).toBe(true);
    expect(k.log.some((e) => e.type === 'task/released' && (e as unknown as { pid: number }).pid === victim)).toBe(false);
  });

  it('a parent that waits afterwards gets -ECHILD: no wait reaps an EXIT_DEAD child', () => {
    const { r, waited } = run('death', 20);
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    expect(waited).toBe(-10);
  });

  it('a parent already asleep in wait is woken (exit_notify told it) and gets -ECHILD too', () => {
    const { r, waited } = run('death', 0);
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    expect(waited).toBe(-10);
  });

  it('the step that leaves it EXIT_DEAD writes its stop state (`tstop`), not its list membership (`tflags`)', () => {
    const steps: StepFootprint[] = [];
    const { victim } = run('death', 20, steps);
    const last = steps.filter((f) => f.writes.includes(`tstop:${victim}`)).at(-1)!;
    expect(last).toBeDefined();
    expect(last.writes).toContain(`task:${victim}`);
    // Still listed, with the same flags: nothing a flag check reads changed there.
    expect(last.writes).not.toContain(`tflags:${victim}`);
  });
});

describe('oopses before PF_EXITING (the `exit` hook, tracehook_report_exit): do_exit again, then the limit', () => {
  it('the first sends the task through do_exit again; the second, still before exit_notify, leaves it EXIT_DEAD', () => {
    const { k, oopses, victim, exits } = run('exit', 20);
    expect(oopses).toHaveLength(2);
    expect(oopses.every((o) => o.killed === victim)).toBe(true);
    // It never got past the hook: no task/exit, no zombie.
    expect(exits).toBe(0);
    expect(intMapGet(k.state.tasks, victim)?.exitState).toBe('dead');
  });

  it('a parent already asleep in wait was never told (no exit_notify): the kernel reports it stuck', () => {
    const { k, r, victim, ppid } = run('exit', 0);
    expect(r.violations.map((v) => v.name)).toEqual(['kernel/stuck']);
    expect(r.violations[0]!.message).toMatch(/parent\) sleeping on wait:/);
    expect(intMapGet(k.state.tasks, ppid)!.children).toContain(victim);
  });
});
