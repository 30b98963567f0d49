import { describe, expect, it } from 'vitest';
import { eventsOf, expectClean } from '@tracelab/testing';
import { msleep } from '@tracelab/core';
import { makeKernel, workload } from './helpers.js';

/**
 * Issue 13's second user report: `disableEvent('sched_switch')` then `enableEvent` mid-run.
 * sched_switch's probes run in the context-switch hook with preemption off, often on an idle CPU
 * or in a task returning to user mode. Before RCU-sched counted such a CPU as quiescent only
 * outside read-side sections, the probe array retired by the toggle was freed under that walk
 * (`ring-buffer/commit`: probe array used after its free) on 1 to 26 of 40 seeds.
 */
describe('issue 13: toggling sched_switch mid-run', () => {
  for (const [tasks, opens, cpus] of [
    [4, 6, 2],
    [3, 10, 3],
  ] as const) {
    it(`uses no freed probe array, over 40 seeds (${tasks} tasks x ${opens} opens on ${cpus} CPUs)`, () => {
      const bad: string[] = [];
      let retired = 0;
      for (let seed = 1; seed <= 40; seed++) {
        const k = makeKernel(seed, {}, cpus);
        for (const p of workload(tasks, opens)) k.spawn(p);
        const api = k.api['ring-buffer'];
        k.spawnKthread(
          (function* () {
            for (let i = 0; i < 6; i++) {
              yield* msleep(2);
              expect(yield* api.disableEvent('sched_switch')).toBe(0);
              yield* msleep(2);
              expect(yield* api.enableEvent('sched_switch')).toBe(0);
            }
          })(),
          { comm: 'toggler' },
        );
        const r = k.run({ maxSteps: 300_000 });
        retired += eventsOf(k, 'tracepoints/array-retired').filter((e) => e.name === 'sched_switch').length;
        expect(k.log.find((e) => e.type === 'kernel/oops')).toBeUndefined();
        if (r.violations.length > 0) bad.push(`seed ${seed}: ${r.violations[0]!.name}`);
        else expect(r.done).toBe(true);
      }
      expect(bad).toEqual([]);
      // One retired array per disable at least.
      expect(retired).toBeGreaterThanOrEqual(40 * 6);
    });
  }
});

describe('issue 13: a tracepoint probe written as a plain function', () => {
  it('is registered and called with the event fields, beside the channel probe', () => {
    const k = makeKernel(3);
    for (const p of workload(2, 2)) k.spawn(p);
    const api = k.api['ring-buffer'];
    const forks: Array<Readonly<Record<string, unknown>>> = [];
    const probe = (fields: Readonly<Record<string, unknown>>): void => {
      forks.push({ ...fields });
    };
    expect(k.call(api.tracepointProbeRegister('sched_process_fork', probe, null))).toBe(0);
    const r = k.run();
    expectClean(k, r);
    // One call per fork of the workload (each worker forks one child).
    expect(forks).toHaveLength(2);
    for (const f of forks) expect(f['child_tid']).toEqual(expect.any(Number));
    expect(k.call(api.tracepointProbeUnregister('sched_process_fork', probe, null))).toBe(0);
  });
});
