import { describe, expect, it } from 'vitest';
import { EEXIST, ENOENT, msleep, type Kernel, type TracelabError } from '@tracelab/core';
import { explore, replay } from '@tracelab/explore';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { eventsOf, expectClean, kernelWith, overSeeds } from '@tracelab/testing';
import { KPROBES_INVARIANTS, kprobes, type KprobesOptions } from '../src/index.js';
import { scenario } from '../src/scenario.js';

function kernel(options: KprobesOptions = {}, seed = 1): Kernel {
  return kernelWith({ plugins: [rcuTasks(), kprobes(options)], seed });
}

/** A tracer that probes do_sys_open for two ticks while three kernel threads call it. */
function race(seed: number, options: KprobesOptions = {}): Kernel {
  const k = kernel(options, seed);
  const api = k.api.kprobes;
  k.spawnKthread(
    function* () {
      yield* api.registerKprobe('do_sys_open');
      yield* msleep(2);
      yield* api.unregisterKprobe('do_sys_open');
    },
    { comm: 'tracer' },
  );
  for (let i = 0; i < 3; i++) {
    k.spawnKthread(
      function* () {
        for (let c = 0; c < 3; c++) {
          yield* api.callFunction('do_sys_open');
          yield* msleep(1);
        }
      },
      { comm: `caller${i}` },
    );
  }
  return k;
}

describe('register_kprobe and unregister_kprobe', () => {
  it('optimizes the probe into a detour buffer, runs the handler from it, and frees it after a Tasks grace period on unregister', () => {
    const k = kernel();
    const api = k.api.kprobes;
    const seen: string[] = [];
    expect(k.call(api.registerKprobe('do_sys_open', (fn) => void seen.push(fn)))).toBe(0);
    expect(k.state.plugins.kprobes!.probes['do_sys_open']).toEqual({ fn: 'do_sys_open', buffer: 1, armed: true, optimized: true });
    // The jump is written after a Tasks grace period that began after the probe was armed.
    const reg = eventsOf(k, 'kprobes/registered')[0]!;
    const opt = eventsOf(k, 'kprobes/optimized')[0]!;
    expect(opt.waited).toBe('rcu-tasks');
    const gpStart = eventsOf(k, 'rcu-tasks/gp-start').find((e) => e.seq > reg.seq)!;
    const gpEndBeforeJump = eventsOf(k, 'rcu-tasks/gp-end').find((e) => e.seq > gpStart.seq)!;
    expect(gpEndBeforeJump.seq).toBeLessThan(opt.seq);
    k.call(api.callFunction('do_sys_open'));
    expect(seen).toEqual(['do_sys_open']);
    expect(api.hits()).toBe(1);
    expect(eventsOf(k, 'kprobes/detour-enter')).toHaveLength(1);
    expect(eventsOf(k, 'kprobes/detour-exit')).toHaveLength(1);
    expect(k.call(api.unregisterKprobe('do_sys_open'))).toBe(0);
    const freed = eventsOf(k, 'kprobes/buffer-freed');
    expect(freed.map((f) => f.waited)).toEqual(['rcu-tasks']);
    // The free comes after the unoptimize and after a Tasks grace period that began after it.
    const unopt = eventsOf(k, 'kprobes/unoptimized')[0]!;
    const gpEnd = eventsOf(k, 'rcu-tasks/gp-end').find((e) => e.seq > unopt.seq);
    expect(gpEnd).toBeDefined();
    expect(freed[0]!.seq).toBeGreaterThan(gpEnd!.seq);
    expect(k.state.plugins.kprobes!.buffers['1']!.state).toBe('freed');
    expect(api.probed('do_sys_open')).toBe(false);
    // Calls after the unoptimize run the original instructions: no jump into the buffer.
    k.call(api.callFunction('do_sys_open'));
    expect(eventsOf(k, 'kprobes/detour-enter')).toHaveLength(1);
    expect(api.hits()).toBe(1);
  });

  it('returns -EEXIST for a second probe on the same function and -ENOENT to unregister one that is not there', () => {
    const k = kernel();
    const api = k.api.kprobes;
    expect(k.call(api.registerKprobe('f'))).toBe(0);
    expect(k.call(api.registerKprobe('f'))).toBe(-EEXIST);
    expect(k.call(api.unregisterKprobe('g'))).toBe(-ENOENT);
    expect(k.call(api.unregisterKprobe('f'))).toBe(0);
    expect(k.call(api.unregisterKprobe('f'))).toBe(-ENOENT);
  });

  it('refuses bad input with INVALID_OPTION', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return [(err as TracelabError).code, (err as Error).message];
      }
      return null;
    };
    expect(code(() => kprobes({ unsafe: 'nope' as never }))).toEqual([
      'INVALID_OPTION',
      "kprobes: option unsafe must be 'free-after-rcu-sched' or 'optimize-without-wait', or an array of them, got \"nope\"",
    ]);
    expect(code(() => kprobes({ x: 1 } as KprobesOptions))).toEqual(['INVALID_OPTION', expect.stringMatching(/unknown option "x"/)]);
    const k = kernel();
    expect(() => k.call(k.api.kprobes.registerKprobe(''))).toThrow(/the function must be a non-empty string/);
    const k2 = kernel();
    expect(() => k2.call(k2.api.kprobes.registerKprobe('f', 3 as never))).toThrow(/the handler must be a function/);
  });

  it('needs rcu-tasks in the stack', () => {
    expect(() => kernelWith([kprobes()])).toThrow(expect.objectContaining({ code: 'PLUGIN_MISSING_DEPENDENCY' }));
  });
});

describe('the detour buffer is freed only when no task can be inside it', () => {
  it('with synchronize_rcu_tasks: over 60 seeds, every task inside the buffer at the unoptimize jumps back before the free', () => {
    let preemptedInside = 0;
    overSeeds(60, (seed) => {
      const k = race(seed);
      const result = k.run();
      expectClean(k, result);
      const unopt = eventsOf(k, 'kprobes/unoptimized')[0]!;
      const freed = eventsOf(k, 'kprobes/buffer-freed')[0]!;
      const inside = new Set<number>();
      for (const e of k.log) {
        if (e.seq > unopt.seq) break;
        if (e.type === 'kprobes/detour-enter') inside.add(e.pid);
        if (e.type === 'kprobes/detour-exit') inside.delete(e.pid);
      }
      for (const pid of inside) {
        const exit = eventsOf(k, 'kprobes/detour-exit').find((e) => e.pid === pid && e.seq > unopt.seq)!;
        expect(exit.seq).toBeLessThan(freed.seq);
      }
      if (inside.size > 0) preemptedInside++;
      return { kernel: k, result };
    });
    // The seeds do put tasks inside the buffer when it is unoptimized, so the check above bites.
    expect(preemptedInside).toBeGreaterThan(0);
  });

  it('with synchronize_sched instead (free-after-rcu-sched), a task preempted inside resumes in freed memory', () => {
    const r = explore(scenario, { variant: 'free-after-rcu-sched', budget: 300 });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe(KPROBES_INVARIANTS.noDetourUseAfterFree);
    expect(r.failure!.message).toMatch(/freed \(after rcu-sched\) while pid \d+ is inside it/);
    const again = replay(scenario, r.failure!.replay);
    expect(again.logHash).toBe(r.failure!.logHash);
  });

  it('the fixed variant is clean under the same search', () => {
    const r = explore(scenario, { variant: 'fixed', budget: 300 });
    expect(r.found).toBe(false);
    expect(r.schedules).toBe(300);
  });
});

describe('the jump is written only when no task can be between the instructions it covers', () => {
  it('with synchronize_rcu_tasks: over 60 seeds, every task between them at the arming leaves them before the jump, and later calls take the int3 into the buffer', () => {
    let insideAtArming = 0;
    let viaInt3 = 0;
    overSeeds(60, (seed) => {
      const k = race(seed);
      const result = k.run();
      expectClean(k, result);
      const armed = eventsOf(k, 'kprobes/registered')[0]!;
      const jump = eventsOf(k, 'kprobes/optimized')[0]!;
      expect(jump.waited).toBe('rcu-tasks');
      const inside = new Set<number>();
      for (const e of k.log) {
        if (e.seq > armed.seq) break;
        if (e.type === 'kprobes/region-enter') inside.add(e.pid);
        if (e.type === 'kprobes/region-exit') inside.delete(e.pid);
      }
      for (const pid of inside) {
        const exit = eventsOf(k, 'kprobes/region-exit').find((e) => e.pid === pid && e.seq > armed.seq)!;
        expect(exit.seq).toBeLessThan(jump.seq);
      }
      if (inside.size > 0) insideAtArming++;
      // Between the arming and the jump nobody starts the covered instructions: the int3 runs
      // the handler and sends the task into the buffer's copied instructions.
      const between = k.log.filter((e) => e.seq > armed.seq && e.seq < jump.seq);
      expect(between.filter((e) => e.type === 'kprobes/region-enter')).toEqual([]);
      for (const enter of between.filter((e) => e.type === 'kprobes/detour-enter')) {
        const hit = eventsOf(k, 'kprobes/hit')
          .filter((h) => h.pid === enter.pid && h.seq < enter.seq)
          .at(-1);
        expect(hit, `pid ${enter.pid} ran the handler in the int3 before it entered the buffer`).toBeDefined();
        viaInt3++;
      }
      return { kernel: k, result };
    });
    // The seeds do leave tasks between the instructions at the arming, and do take the int3, so the checks bite.
    expect(insideAtArming).toBeGreaterThan(0);
    expect(viaInt3).toBeGreaterThan(0);
  });

  it('without the wait (optimize-without-wait), a task preempted between them resumes inside the jump', () => {
    const r = explore(scenario, { variant: 'optimize-without-wait', budget: 300 });
    expect(r.found).toBe(true);
    expect(r.failure!.invariant).toBe(KPROBES_INVARIANTS.noResumeInsideJump);
    expect(r.failure!.message).toMatch(/pid \d+ resumed inside the first instructions of do_sys_open, which the optimizer overwrote with a jump/);
    const again = replay(scenario, r.failure!.replay);
    expect(again.logHash).toBe(r.failure!.logHash);
    const jump = r.failure!.log.find((e) => e.type === 'kprobes/optimized');
    expect(jump).toMatchObject({ waited: 'none' });
  });
});
