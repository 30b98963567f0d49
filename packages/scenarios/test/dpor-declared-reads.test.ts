import { describe, expect, it } from 'vitest';
import { SIGKILL, createKernel, definePlugin, intMapValues, preemptDisable, randomStrategy, type KernelState, type StepFootprint } from '@tracelab/core';
import { auditReduction } from '@tracelab/explore';
import { catalog, detachDuringCallback, forkFlagRace, type Scenario } from '../src/index.js';

/**
 * Checks that declare their reads (core `InvariantOptions.reads`; docs/explore.md §4a, twelfth
 * pass). ktrace's flag check declares `tflags:*` (every task's flags and list membership) where
 * the recording view saw it read the whole task table, so DPOR no longer orders every write of
 * a task record behind it. Two things make that sound, and each is tested here: the core writes
 * `tflags:<pid>` in every step that changes what it names, and the reduced search still reaches
 * what the unreduced one does.
 */

/** What `tflags` names: the listed tasks, each with its flags (an unlisted or absent task is not in it). */
function flagView(s: KernelState): Map<number, string> {
  const out = new Map<number, string>();
  for (const t of intMapValues(s.tasks)) if (t.listed) out.set(t.pid, Object.keys(t.flags).sort().join(','));
  return out;
}

/** What `tstop` names, per task with a record: stopped, traced, SIGKILL pending, exited. */
function stopView(s: KernelState): Map<number, string> {
  const out = new Map<number, string>();
  for (const t of intMapValues(s.tasks))
    out.set(t.pid, [t.state === 'stopped', t.traced === true, t.pendingSignals.includes(SIGKILL), t.exitState !== null].map(Number).join(''));
  return out;
}

/**
 * The audit of a footprint object that stands for a view of the task records: over every variant
 * of catalog scenario `s`, 6 random schedules each, every step that changes a task's entry in
 * `view` (one appearing or going included) must write `<family>:<pid>` or `<family>:*`. The
 * host's spawns in setup are no step's: the audit starts after them. Returns the changes seen.
 */
function auditTaskView(s: Scenario, family: string, view: (s: KernelState) => Map<number, string>, absent: string): number {
  let changes = 0;
  for (const v of s.variants) {
    for (let seed = 1; seed <= 6; seed++) {
      const k = createKernel({ cpus: s.cpus, seed, strategy: randomStrategy(), plugins: s.plugins(v.name) });
      s.setup(k, { variant: v.name, scale: s.scale?.default ?? 0 });
      let before = view(k.state);
      const missed: string[] = [];
      k.recordFootprints((f: StepFootprint) => {
        const after = view(k.state);
        for (const pid of new Set([...before.keys(), ...after.keys()])) {
          if (before.get(pid) === after.get(pid)) continue;
          changes++;
          if (!f.writes.includes(`${family}:${pid}`) && !f.writes.includes(`${family}:*`))
            missed.push(`pid ${pid}: ${before.get(pid) ?? absent} -> ${after.get(pid) ?? absent}`);
        }
        before = after;
      });
      k.run({ maxSteps: s.maxSteps });
      expect(missed, `${s.name}/${v.name} seed ${seed}`).toEqual([]);
    }
  }
  return changes;
}

describe('tflags:<pid> is written by every step that lists or unlists a task or changes a listed task’s flags', () => {
  // An audit over the catalog: any event added later that changes those fields without naming
  // `tflags` in the core's write table fails here.
  for (const s of catalog.values()) {
    it(`${s.name}: every variant, 6 random schedules each`, () => {
      // Every scenario forks or spawns tasks: the audit saw changes to check.
      expect(auditTaskView(s, 'tflags', flagView, 'not listed')).toBeGreaterThan(0);
    }, 120_000);
  }
});

describe('tstop:<pid> is written by every step that makes or removes a task record or changes its stop state', () => {
  // utrace's stopped and flags checks declare `tstop:*`: the audit of the core's half, as for
  // tflags above. The catalog's tasks are made, exit and are reaped; stops, TASK_TRACED and
  // SIGKILL are audited in utrace's tstop-footprint.test.ts, which drives them.
  for (const s of catalog.values()) {
    it(`${s.name}: every variant, 6 random schedules each`, () => {
      // Every scenario's tasks exit (an exit state, then no record): the audit saw changes.
      expect(auditTaskView(s, 'tstop', stopView, 'no record')).toBeGreaterThan(0);
    }, 120_000);
  }
});

describe('tflags on the oops paths: a listed task switched out dead', () => {
  // The second review's case: a `death` tap that leaves preemption disabled makes the exiting
  // child's final switch oops ("scheduling while atomic") while it is still a listed zombie; the
  // parent then oopses twice in its own exit. Since 2026-12-07 such a task stays, listed, as
  // EXIT_DEAD (core exit-oops.test) instead of leaving the state in that switch; each listed task
  // that does leave the state must still write its tflags there.
  it('every listed record that is forgotten writes its tflags, on the exit path and through an oops', () => {
    const leak = definePlugin({
      name: 'leak',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.tap('death', function* () {
          yield* preemptDisable();
        });
        return {};
      },
    });
    for (const plugins of [[], [leak]]) {
      const k = createKernel({ cpus: 1, seed: 1, plugins });
      k.spawn(function* (u) {
        yield u.fork(function* (u2) {
          yield u2.exit(0);
        });
        yield u.compute(50);
      });
      let before = flagView(k.state);
      const missed: string[] = [];
      let gone = 0;
      k.recordFootprints((f: StepFootprint) => {
        const after = flagView(k.state);
        for (const pid of before.keys()) {
          if (after.has(pid)) continue;
          gone++;
          if (!f.writes.includes(`tflags:${pid}`)) missed.push(`pid ${pid} left the list with no tflags write`);
        }
        before = after;
      });
      k.run({ maxSteps: 500 });
      expect(missed).toEqual([]);
      expect(gone).toBeGreaterThan(0);
      if (plugins.length > 0) expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(true);
    }
  });
});

describe('fork-flag-race with the declared flag check: DPOR reaches what the unreduced DFS reaches', () => {
  for (const [variant, bound] of [
    ['fixed', 1],
    ['fixed', 2],
    ['no-recopy', 1],
    ['recopy-before-lock', 2],
    ['rcu-walk-live-lttng-order', 2],
  ] as const) {
    it(`${variant} at one child, bound ${bound}: the same final states and violations`, () => {
      const a = auditReduction(forkFlagRace, { variant, bound, scale: 1 });
      expect(a.missed).toEqual([]);
      expect(a.extra).toEqual([]);
      expect(a.agrees).toBe(true);
      expect(a.dpor.schedules).toBeLessThan(a.dfs.schedules);
    }, 300_000);
  }
});

describe("detach-during-callback with utrace's declared task reads (tstop:*): DPOR reaches what the unreduced DFS reaches", () => {
  for (const [variant, bound] of [
    ['fixed', 1],
    ['fixed', 2],
    ['no-barrier', 1],
    ['no-barrier', 2],
  ] as const) {
    it(`${variant} at one open, bound ${bound}: the same final states and violations`, () => {
      const a = auditReduction(detachDuringCallback, { variant, bound, scale: 1 });
      expect(a.missed).toEqual([]);
      expect(a.extra).toEqual([]);
      expect(a.agrees).toBe(true);
      if (variant === 'no-barrier') expect(a.dfs.violations.length).toBeGreaterThan(0);
      // At bound 1 the two trees are the same size; at bound 2 DPOR's is smaller.
      if (bound === 1) expect(a.dpor.schedules).toBeLessThanOrEqual(a.dfs.schedules);
      else expect(a.dpor.schedules).toBeLessThan(a.dfs.schedules);
    }, 300_000);
  }
});
