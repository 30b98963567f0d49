import { describe, expect, it } from 'vitest';
import { createKernel, definePlugin, emit, randomStrategy, replaySchedule, TracelabError, type Kernel, type KernelState, type Strategy } from '@tracelab/core';
import { expectClean, shell } from './helpers.js';

declare module '@tracelab/core' {
  interface EventMap {
    'counting/fork': { child: number };
    'thrower/half': { step: number };
  }
  interface PluginApis {
    counting: { readonly seen: () => number };
  }
}

/** A plugin with a slice, a reducer, a hook and a host-side counter that onReset restores. */
function counting(withReset: boolean) {
  let hostSide = 0;
  const plugin = definePlugin<{ readonly seen: () => number }, { forks: number }>({
    name: 'counting',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ forks: 0 });
      ctx.on('counting/fork', (s) => {
        s.forks += 1;
      });
      ctx.tap('fork', function* ({ child, stage }) {
        if (stage !== 'link') return;
        hostSide++;
        yield* emit({ type: 'counting/fork', child });
      });
      if (withReset) ctx.onReset(() => (hostSide = 0));
      return { seen: () => hostSide };
    },
  });
  return plugin;
}

function runShell(k: Kernel): { hash: string; log: number; state: string } {
  k.spawn(shell);
  expectClean(k, k.run());
  return { hash: k.logHash(), log: k.log.length, state: JSON.stringify(k.state) };
}

describe('kernel.reset', () => {
  it('runs the same schedule as a fresh kernel, for every seed, strategy and run before it', () => {
    const k = createKernel({ cpus: 2, seed: 5, plugins: [counting(true)] });
    const registered = k.log.length;
    for (const seed of [1, 2, 3, 4]) {
      const strategy: Strategy = randomStrategy({ preemptProbability: 0.3 + seed / 10 });
      // The header records the kernel's seed: the fresh peer has the same one, with the strategy seeded alike.
      const fresh = runShell(createKernel({ cpus: 2, seed: 5, plugins: [counting(true)], strategy }));
      k.reset({ strategy });
      expect(k.log.length).toBe(registered);
      expect(k.steps).toBe(0);
      expect(k.violations).toEqual([]);
      expect(k.api.counting.seen()).toBe(0);
      const again = runShell(k);
      expect(again).toEqual(fresh);
      // The shell and its three children: host spawns run the fork hooks too.
      expect(k.api.counting.seen()).toBe(4);
      expect((k.state.plugins['counting'] as { forks: number }).forks).toBe(4);
    }
    // A recorded schedule replays on the reset kernel too.
    const schedule = k.schedule;
    const hash = k.logHash();
    k.reset({ strategy: replaySchedule(schedule) });
    expect(runShell(k).hash).toBe(hash);
  });

  it('leaves what the previous run handed out alone, completes its streams and drops the host invariants', () => {
    const k = createKernel({ cpus: 2, seed: 3, plugins: [counting(true)] });
    const states: KernelState[] = [];
    let completed = 0;
    k.state$.subscribe({ next: (s) => states.push(s), complete: () => completed++ });
    k.events$.subscribe({ complete: () => completed++ });
    k.invariant('host/never', () => false);
    let checks = 0;
    k.invariant('host/count', () => {
      checks++;
      return false;
    });
    runShell(k);
    const held = JSON.stringify(states.at(-1));
    const final = k.state;
    const violations = k.violations;
    k.reset();
    expect(completed).toBe(2);
    expect(JSON.stringify(final)).toBe(held);
    expect(Object.isFrozen(final.tasks)).toBe(true);
    expect(violations).toEqual([]);
    const before = checks;
    runShell(k);
    // The invariants the host added after createKernel belong to that run.
    expect(checks).toBe(before);
    // New subscribers see the new run.
    const seen: string[] = [];
    k.reset();
    k.events$.subscribe((e) => seen.push(e.type));
    k.spawn(shell);
    k.run({ maxSteps: 3 });
    expect(seen[0]).toBe('task/spawned');
  });

  it('is refused, with a coded error naming the plugin, when a plugin did not say how to restore itself', () => {
    const k = createKernel({ plugins: [counting(false)] });
    runShell(k);
    let err: unknown;
    try {
      k.reset();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect((err as TracelabError).code).toBe('RESET_UNSUPPORTED');
    expect((err as TracelabError).message).toContain('counting');
    // The kernel it refused is untouched: its run is still there.
    expect(k.log.some((e) => e.type === 'task/exit')).toBe(true);
  });

  it('undoes an oopsed step the same way after a reset (the journal starts empty)', () => {
    const thrower = definePlugin({
      name: 'thrower',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.declareEvents(['thrower/half']);
        ctx.tap('fork', function* () {
          yield* emit({ type: 'thrower/half', step: 1 });
          throw new Error('probe bug');
        });
        ctx.onReset();
      },
    });
    const k = createKernel({ cpus: 2, seed: 2, plugins: [thrower] });
    const run = (): { hash: string; state: string } => {
      k.spawn(shell);
      k.run();
      return { hash: k.logHash(), state: JSON.stringify(k.state) };
    };
    const first = run();
    expect(k.log.filter((e) => e.type === 'kernel/oops')).toHaveLength(1);
    k.reset();
    // The oops disabled the plugin in the first run's state; the reset state has it enabled again.
    expect(k.state.kernel.disabledPlugins).toEqual({});
    const second = run();
    expect(second).toEqual(first);
    expect(k.log.some((e) => e.type === 'thrower/half')).toBe(false);
  });
});
