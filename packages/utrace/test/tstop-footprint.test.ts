/**
 * The core's `tstop:<pid>` footprint object (docs/explore.md §4a, thirteenth pass), which the
 * stopped and flags checks declare as their reads of task records: every step that changes
 * whether a task is stopped, traced, has SIGKILL pending or has exited, or that removes its
 * record, must write it, or DPOR could skip a state those checks fail in. The catalog's audit
 * (scenarios dpor-declared-reads.test.ts) sees exits and reaps only; here a job-control stop, its
 * conversion to TASK_TRACED by an engine, a SIGCONT held and a SIGKILL, each in recorded steps.
 */
import { describe, expect, test } from 'vitest';
import { SIGCONT, SIGKILL, intMapValues, type KernelState, type StepFootprint } from '@tracelab/core';
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

describe('tstop:<pid> in the steps of a stop, a conversion to TASK_TRACED, a SIGCONT and a SIGKILL', () => {
  test('every change of a recorded task’s stop state, and every record removed, is written in its step', () => {
    for (const seed of [1, 2, 3, 4]) {
      const k = kernelWith({ plugins: [utrace()], seed });
      // The host's spawns are no step's: `before` is taken again after each host call, and a
      // record the host made is compared from the first step that sees it.
      let before = stopView(k.state);
      const missed: string[] = [];
      const seen = new Set<string>();
      k.recordFootprints((f: StepFootprint) => {
        const after = stopView(k.state);
        for (const [pid, b] of before) {
          const a = after.get(pid);
          if (a === b) continue;
          if (a === undefined) seen.add('record removed');
          else for (let i = 0; i < PARTS.length; i++) if (a[i] !== b[i]) seen.add(PARTS[i]!);
          if (!f.writes.includes(`tstop:${pid}`)) missed.push(`seed ${seed} pid ${pid}: ${b} -> ${a ?? 'no record'}`);
        }
        before = after;
      });
      const host = <T>(fn: () => T): T => {
        const r = fn();
        before = stopView(k.state);
        return r;
      };
      const pid = host(() => k.spawn(selfStopper, { comm: 'stopper' }));
      k.run();
      const u = k.api.utrace;
      const e = call(k, attachWith(u, pid, { name: 'tstop' }, UTRACE_EVENT_QUIESCE));
      before = stopView(k.state);
      expect(call(k, u.control(pid, e, UTRACE_STOP))).toBe(0);
      before = stopView(k.state);
      host(() => k.spawn(sender(pid, SIGCONT), { comm: 'cont' }));
      k.run();
      host(() => k.spawn(sender(pid, SIGKILL), { comm: 'kill' }));
      k.run();
      expect(missed).toEqual([]);
      // Each part of the projection changed in a recorded step at least once.
      expect([...seen].sort()).toEqual([...PARTS, 'record removed'].sort());
    }
  });
});
