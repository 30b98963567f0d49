import { describe, expect, it } from 'vitest';
import type { Violation } from '@tracelab/core';
import { auditReduction, explore, FAIRNESS_WINDOW, isFailure, runSchedule, starvedAtAlarm, type Choice, type Picker } from '@tracelab/explore';
import { alarmStarve, gpHog } from './fixtures.js';

/**
 * Liveness alarms a schedule makes (docs/explore.md §7). The core alarms once a monitor has been
 * hot past its bound while every runnable task ran and every eligible CPU was stepped at least
 * once; a schedule that holds a CPU off for most of the stretch and steps it at the end passes
 * that test. `isFailure` drops such an alarm: over the alarm's hot stretch (`hotSince`), no CPU
 * may be passed over at FAIRNESS_WINDOW choices in a row.
 */
describe('liveness alarms of schedules that starve a CPU', () => {
  // Into the read section on CPU 0 (the default runs the reader first), then CPU 1 for `hold`
  // choices, then CPU 0 once it is offered: the reader's raise and unlock end the section.
  const holdReader = (hold: number): Picker => {
    let held = 0;
    return {
      pick(p) {
        if (p.kind !== 'cpu' || p.cpus === undefined) return 0;
        if (!(p.state.plugins as { alarmflag: { entered: boolean } }).alarmflag.entered) return Math.max(0, p.same);
        return Math.max(0, p.cpus.indexOf(held++ < hold ? 1 : 0));
      },
    };
  };

  it('a CPU held off through most of the stretch and stepped at the alarm: the core alarms, explore drops it as unfair', () => {
    const o = runSchedule(alarmStarve, 'any', 0, holdReader(105));
    expect(o.violation?.name).toBe('explore/grace-period-ends');
    expect(o.violation?.message).toMatch(/hot for \d+ steps while every runnable task ran\)$/);
    const since = o.violation!.hotSince!;
    expect(since).toBeGreaterThan(0);
    expect(since).toBeLessThan(o.choices.length);
    // The alarm fell on the reader's own step: CPU 0 was picked at the last choice, so the look
    // at the last window alone (the rule before this one) calls the schedule fair.
    const last = o.choices.filter((c) => c.kind === 'cpu').at(-1)!;
    expect(last.cpus![last.value]).toBe(0);
    const starved = starvedAtAlarm(o);
    expect(starved.map((s) => s.cpu)).toEqual([0]);
    const wait = starved[0]!.passedOver;
    expect(wait.length).toBeGreaterThanOrEqual(FAIRNESS_WINDOW);
    for (const i of wait) {
      const c = o.choices[i]!;
      expect(i).toBeGreaterThanOrEqual(since);
      expect(c.cpus).toContain(0);
      expect(c.cpus![c.value]).toBe(1);
    }
    expect(isFailure(o)).toBe(false);
  });

  it('held off for less than the window, the reader leaves its section in time: no alarm comes', () => {
    const o = runSchedule(alarmStarve, 'any', 0, holdReader(FAIRNESS_WINDOW - 1));
    expect(o.violation).toBeNull();
    expect(o.done).toBe(true);
    expect(starvedAtAlarm(o)).toEqual([]);
  });

  it('the bounded DFS raises no false alarm on the safe variant and finds the unsafe one', () => {
    // Before the stretch rule, the bound-2 tree of `any` failed with grace-period-ends on the
    // schedule of the first test's shape (23 schedules in).
    const clean = explore(alarmStarve, { variant: 'any', strategy: 'dfs', bound: 2, budget: 10_000 });
    expect(clean.complete).toBe(true);
    expect(clean.found).toBe(false);
    expect(clean.unfair).toBeGreaterThan(0);
    const found = explore(alarmStarve, { variant: 'three-looks', strategy: 'dfs', bound: 2, budget: 10_000, shrink: false });
    expect(found.failure?.invariant).toBe('alarmflag/not-after-three-misses');
  });

  it('DPOR branches on the starved CPU of an unfair alarm, agrees with the DFS at bound 2, and verifies the safe variant', () => {
    const bounded = explore(alarmStarve, { variant: 'any', strategy: 'dpor', bound: 2, budget: 10_000 });
    expect(bounded.complete).toBe(true);
    expect(bounded.found).toBe(false);
    expect(bounded.dpor!.backtrackReasons.starved).toBeGreaterThan(0);
    const audit = auditReduction(alarmStarve, { variant: 'any', bound: 2 });
    expect(audit.agrees).toBe(true);
    const unbounded = explore(alarmStarve, { variant: 'any', strategy: 'dpor', budget: 20_000 });
    expect(unbounded.complete).toBe(true);
    expect(unbounded.found).toBe(false);
    expect(unbounded.unfair).toBeGreaterThan(0);
    const found = explore(alarmStarve, { variant: 'three-looks', strategy: 'dpor', budget: 20_000, shrink: false });
    expect(found.failure?.invariant).toBe('alarmflag/not-after-three-misses');
  });

  // Hand-built: an alarm whose stretch starts at choice 0, two busy CPUs, CPU 1 picked `before`
  // times, then CPU 0 passed over `held` times, then picked once, then `after` choices that
  // alternate (CPU 1 first).
  const alarm: Violation = {
    name: 'test/monitor',
    message: 'never cools (hot for 999 steps while every runnable task ran)',
    schedule: '',
    seq: 0,
    time: 0,
    hotSince: 0,
  };
  const cpuChoice = (to: number): Choice => ({ kind: 'cpu', n: 2, value: to, dflt: 0, logAt: 0, cpus: [0, 1] });
  const handBuilt = (held: number, after: number) => ({
    choices: [...Array.from({ length: held }, () => cpuChoice(1)), cpuChoice(0), ...Array.from({ length: after }, (_, i) => cpuChoice(i % 2 === 0 ? 1 : 0))],
    violation: alarm,
    busy: [0, 1],
  });

  it('the stretch rule starts at FAIRNESS_WINDOW passes in a row', () => {
    expect(starvedAtAlarm(handBuilt(FAIRNESS_WINDOW - 1, 0))).toEqual([]);
    const at = starvedAtAlarm(handBuilt(FAIRNESS_WINDOW, 0));
    expect(at.map((s) => s.cpu)).toEqual([0]);
    expect(at[0]!.passedOver).toEqual(Array.from({ length: FAIRNESS_WINDOW }, (_, i) => i));
    // Not offered at a choice (one CPU eligible): the wait goes on through it.
    const gap = handBuilt(FAIRNESS_WINDOW - 1, 0);
    gap.choices.splice(10, 0, { kind: 'cpu', n: 1, value: 0, dflt: 0, logAt: 0, cpus: [1] }, { kind: 'preempt', n: 2, value: 0, dflt: 0, logAt: 0 });
    expect(starvedAtAlarm(gap)).toEqual([]);
    // Choices before hotSince do not count.
    expect(starvedAtAlarm({ ...handBuilt(FAIRNESS_WINDOW, 0), violation: { ...alarm, hotSince: 1 } })).toEqual([]);
    // Not an alarm: nothing to judge.
    const { hotSince: _dropped, ...notAlarm } = alarm;
    expect(starvedAtAlarm({ ...handBuilt(FAIRNESS_WINDOW, 0), violation: { ...notAlarm, message: 'x' } })).toEqual([]);
  });

  it('a wait let go a full window before the alarm does not count: the monitor stayed hot through fair choices', () => {
    // Let go, then FAIRNESS_WINDOW - 1 choices: the release is inside the last window.
    expect(starvedAtAlarm(handBuilt(60, FAIRNESS_WINDOW - 1)).map((s) => s.cpu)).toEqual([0]);
    // Then a whole window of alternating choices: the alarm is the monitor's.
    expect(starvedAtAlarm(handBuilt(60, FAIRNESS_WINDOW))).toEqual([]);
  });

  it('an alarm on a schedule fair through its stretch is still a failure (a hog inside a read section)', () => {
    // Round robin over the eligible CPUs, counted over `cpu` choices, and every preemption taken
    // (the user tasks take turns on the other CPU): no CPU and no task waits long.
    let turn = 0;
    const fair: Picker = { pick: (p) => (p.kind === 'cpu' ? turn++ % p.n : p.kind === 'preempt' ? 1 : 0) };
    const o = runSchedule(gpHog, 'stuck-reader', 0, fair);
    expect(o.violation?.name).toBe('explore/grace-period-ends');
    expect(starvedAtAlarm(o)).toEqual([]);
    expect(isFailure(o)).toBe(true);
  });
});
