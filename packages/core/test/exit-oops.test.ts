/**
 * An oops on a task's exit path after an earlier oops (make_task_dead's recursive fault): the
 * task is never released. Upstream it stays as EXIT_DEAD on the task list and its parent's
 * children, and no wait reaps it (wait_consider_task skips EXIT_DEAD), so a parent with no other
 * child gets -ECHILD. Before, the core dropped the record at the task's last switch and left its
 * pid in the parent's children, whose wait then slept for ever.
 */
import { describe, expect, it } from 'vitest';
import { createKernel, current, definePlugin, intMapGet, type KPath, type Program, type StepFootprint } from '../src/index.js';

/**
 * A plugin whose `exit` hook, for the task named `comm`, loops without a scheduling point and
 * swallows the soft-lockup error thrown into it: nothing can be done for the task but to kill it,
 * in do_exit (a first oops, which sends it through do_exit again), then again there (the second).
 */
const looper = (comm: string) =>
  definePlugin<Record<string, never>, null>({
    name: 'looper',
    version: '0.0.0',
    core: '*',
    register(ctx) {
      ctx.tap('exit', function* ({ pid }): KPath<void> {
        if (intMapGet(ctx.state().tasks, pid)?.comm !== comm) return;
        for (;;) {
          try {
            yield* current();
          } catch {
            // the soft lockup, swallowed
          }
        }
      });
      return {};
    },
  });

/** A parent that forks the victim, optionally sleeps first, then waits; what its wait returned. */
function run(sleepFirst: number, steps?: StepFootprint[]) {
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
  const k = createKernel({ cpus: 1, seed: 1, plugins: [looper('victim')] });
  const ppid = k.spawn(parent, { comm: 'parent' });
  if (steps !== undefined) k.recordFootprints((f) => steps.push(f));
  const r = k.run({ maxSteps: 2_000 });
  const oopses = k.log.filter((e) => e.type === 'kernel/oops') as unknown as Array<{ killed: number | null; message: string }>;
  return { k, r, waited, oopses, ppid, victim: oopses[0]?.killed ?? -1 };
}

describe('a second oops on the exit path (the recursive fault)', () => {
  it('leaves the task EXIT_DEAD: its record kept, listed, still its parent’s child, never released', () => {
    const { k, oopses, victim } = run(20);
    // Two oopses kill the victim: the first sends it back through do_exit, the second is the recursive fault.
    expect(oopses).toHaveLength(2);
    expect(oopses.every((o) => o.killed === victim && /soft lockup/.test(o.message))).toBe(true);
    const t = intMapGet(k.state.tasks, victim)!;
    expect(t).toBeDefined();
    expect(t.exitState).toBe('dead');
    expect(t.state).toBe('dead');
    expect(t.listed).toBe(true);
    expect(k.log.some((e) => e.type === 'task/released' && (e as unknown as { pid: number }).pid === victim)).toBe(false);
  });

  it('the step that leaves it EXIT_DEAD writes its stop state (`tstop`), not its list membership (`tflags`)', () => {
    const steps: StepFootprint[] = [];
    const { victim } = run(20, steps);
    const last = steps.filter((f) => f.writes.includes(`tstop:${victim}`)).at(-1)!;
    expect(last).toBeDefined();
    expect(last.writes).toContain(`task:${victim}`);
    // Still listed, with the same flags: nothing a flag check reads changed there.
    expect(last.writes).not.toContain(`tflags:${victim}`);
  });

  it('a parent that waits afterwards gets -ECHILD: no wait reaps an EXIT_DEAD child', () => {
    const { r, waited } = run(20);
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    expect(waited).toBe(-10);
  });

  it('a parent already asleep in wait is never woken: the kernel reports it stuck, as the real one would hang', () => {
    const { k, r, victim, ppid } = run(0);
    expect(r.violations.map((v) => v.name)).toEqual(['kernel/stuck']);
    expect(intMapGet(k.state.tasks, ppid)!.children).toContain(victim);
    expect(r.violations[0]!.message).toMatch(/parent\) sleeping on wait:/);
    expect(intMapGet(k.state.tasks, victim)?.exitState).toBe('dead');
  });
});
