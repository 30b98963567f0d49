import { describe, expect, it } from 'vitest';
import type { FtraceOptions, FtraceOps } from '@tracelab/ftrace';
import { FTRACE_INVARIANTS, IDLE_FUNCTIONS } from '@tracelab/ftrace';
import type { Kernel, Program } from '@tracelab/core';
import { SEEDS, eventsOf, expectClean, explore, kernelWith, session, noop } from './helpers.js';

/** Seeds explored (measured over seeds 1..60: 35 fail with 'allow', every one with an idle task as the victim). */
const N = 30;

/** Tasks that sleep often, so the CPUs keep going idle and being pulled out of it. */
const napper: Program = function* napper(u) {
  for (let i = 0; i < 10; i++) {
    yield u.syscall('getpid');
    yield u.sleep(4);
  }
};

/** A kprobe-like DYNAMIC ops on the idle loop's default_idle, registered and unregistered while tasks come and go. */
function idleKernel(seed: number, options: FtraceOptions): Kernel {
  const k = kernelWith({ seed, options: { traceIdle: true, ...options } });
  for (let i = 0; i < 2; i++) k.spawn(napper, { comm: `n${i}` });
  const ops: FtraceOps = { func: noop, filter: ['default_idle', 'sys_getpid'], flags: ['DYNAMIC'], label: 'idleprobe' };
  k.spawnKthread(session(k.api.ftrace, ops, 2, 10), { comm: 'tracer' });
  return k;
}

describe('an ops in the idle loop', () => {
  it(`idleTrampolines: 'allow' frees the trampoline under an idle task: RCU-tasks never waits for it (found in ${N} seeds)`, () => {
    const found = explore(N, (seed) => idleKernel(seed, { idleTrampolines: 'allow' }));
    expect(found.failing.length).toBeGreaterThanOrEqual(5);
    let idleVictims = 0;
    for (const f of found.failing) {
      const v = f.result.violations[0]!;
      expect(v.name).toBe(FTRACE_INVARIANTS.useAfterFree);
      if (!/the idle task of cpu \d/.test(v.message)) continue;
      idleVictims++;
      // The grace period that allowed the free never had the idle task as a holdout: idle tasks
      // are not on the task list at all, and the idle loop counts as a quiescent state.
      for (const h of eventsOf(f.kernel, 'rcu-tasks/holdouts')) expect(h.pids).not.toContain(0);
      expect(eventsOf(f.kernel, 'rcu-tasks/gp-end').length).toBeGreaterThan(0);
      // The default_idle site did target the trampoline.
      expect(eventsOf(f.kernel, 'ftrace/site-patched').some((e) => e.ip === 'default_idle' && typeof e.to === 'number')).toBe(true);
    }
    expect(idleVictims).toBeGreaterThan(0);
  });

  it(`idleTrampolines: 'refuse' (the default) keeps the idle loop's sites on the list caller: clean over the same ${N} seeds`, () => {
    expect([...IDLE_FUNCTIONS]).toEqual(['default_idle']);
    let idleCalls = 0;
    for (const seed of SEEDS(N)) {
      const k = idleKernel(seed, {});
      const result = k.run({ maxSteps: 200_000 });
      expectClean(k, result);
      // The ops still got a trampoline for its other site; default_idle went to the list caller.
      const patched = eventsOf(k, 'ftrace/site-patched');
      expect(patched.filter((e) => e.ip === 'default_idle').map((e) => e.to)).toEqual(['list', 'nop']);
      expect(patched.find((e) => e.ip === 'sys_getpid')!.to).toBe(1);
      idleCalls += eventsOf(k, 'ftrace/list-call').filter((e) => e.ip === 'default_idle' && e.pid === 0).length;
    }
    // The idle tasks really ran the traced function, through the list caller.
    expect(idleCalls).toBeGreaterThan(N);
  });
});
