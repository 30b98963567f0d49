/**
 * The core's `tstop:<pid>` footprint object (docs/explore.md §4a, thirteenth pass), which the
 * stopped and flags checks declare as their reads of task records: every step that changes
 * whether a task is stopped, traced, has SIGKILL pending or has exited, or that removes its
 * record, must write it, or DPOR could skip a state those checks fail in. The catalog's audit
 * (scenarios dpor-declared-reads.test.ts) sees exits and reaps only; here a job-control stop, its
 * conversion to TASK_TRACED by an engine, a SIGCONT held, a SIGKILL to the stopped task and one to
 * a running task, each in recorded steps.
 */
import { describe, expect, test } from 'vitest';
import { SIGCONT, SIGKILL, intMapValues, type Kernel, type KernelState, type Program, type StepFootprint } from '@tracelab/core';
import { UTRACE_EVENT_QUIESCE, UTRACE_STOP, utrace } from '@tracelab/utrace';
import { kernelWith } from '@tracelab/testing';
import { attachWith, call, selfStopper, sender } from './helpers.js';

const PARTS = ['stopped', 'traced', 'SIGKILL pending', 'exited'] as const;

/** What `tstop` names, per task with a record. */
function stopView(s: KernelState): Map<number, string> {
  const out = new Map<number, string>();
  for (const t of intMapValues(s.tasks))
    out.set(t.pid, [t.state === 'stopped', t.traced === true, t.pendingSignals.includes(SIGKILL), t.exitState !== null].map(Number).join(''));
  return out;
}

/**
 * Records, step by step, how each task's `tstop` projection changed: `missed` the changes whose
 * step did not write `tstop:<pid>`, `alone` the parts that changed without any other part of the
 * same task in some step (so a part the core failed to compare would be caught there), `seen`
 * every part that changed, records removed included. `host(fn)` runs a host call (a spawn is no
 * step's) and starts the comparison again after it.
 */
function audit(k: Kernel): { missed: string[]; alone: Set<string>; seen: Set<string>; host<T>(fn: () => T): T } {
  let before = stopView(k.state);
  const missed: string[] = [];
  const alone = new Set<string>();
  const seen = new Set<string>();
  k.recordFootprints((f: StepFootprint) => {
    const after = stopView(k.state);
    for (const pid of new Set([...before.keys(), ...after.keys()])) {
      const b = before.get(pid);
      const a = after.get(pid);
      if (a === b) continue;
      // A record that appears: the host's `k.call` spawns its task outside any step (a fork's
      // child, made in a step, is the catalog audit's case).
      if (b === undefined) continue;
      if (a === undefined) seen.add('record removed');
      else {
        const parts = PARTS.filter((_, i) => a[i] !== b[i]);
        for (const part of parts) seen.add(part);
        if (parts.length === 1) alone.add(parts[0]!);
      }
      if (!f.writes.includes(`tstop:${pid}`)) missed.push(`pid ${pid}: ${b ?? 'no record'} -> ${a ?? 'no record'}`);
    }
    before = after;
  });
  return {
    missed,
    alone,
    seen,
    host<T>(fn: () => T): T {
      const r = fn();
      before = stopView(k.state);
      return r;
    },
  };
}

/** Makes system calls in a loop (running when a signal comes), then exits. */
const busy: Program = function* busy(u) {
  for (let i = 0; i < 40; i++) yield u.syscall('getpid');
  yield u.exit(0);
};

describe('tstop:<pid> in the steps of a stop, a conversion to TASK_TRACED, a SIGCONT and a SIGKILL', () => {
  test('every change of a recorded task’s stop state, and every record removed, is written in its step; each part changes alone somewhere', () => {
    const alone = new Set<string>();
    for (const seed of [1, 2, 3, 4]) {
      const k = kernelWith({ plugins: [utrace()], seed });
      const a = audit(k);
      const pid = a.host(() => k.spawn(selfStopper, { comm: 'stopper' }));
      k.run();
      const u = k.api.utrace;
      const e = a.host(() => call(k, attachWith(u, pid, { name: 'tstop' }, UTRACE_EVENT_QUIESCE)));
      expect(a.host(() => call(k, u.control(pid, e, UTRACE_STOP)))).toBe(0);
      a.host(() => k.spawn(sender(pid, SIGCONT), { comm: 'cont' }));
      k.run();
      a.host(() => k.spawn(sender(pid, SIGKILL), { comm: 'kill' }));
      k.run();
      // A SIGKILL to a task that is running: the step that makes it pending changes only that.
      const victim = a.host(() => k.spawn(busy, { comm: 'busy' }));
      a.host(() => k.spawn(sender(victim, SIGKILL), { comm: 'kill2' }));
      k.run();
      expect(a.missed, `seed ${seed}`).toEqual([]);
      expect([...a.seen].sort()).toEqual([...PARTS, 'record removed'].sort());
      for (const part of a.alone) alone.add(part);
    }
    expect([...alone].sort()).toEqual([...PARTS].sort());
  });
});
