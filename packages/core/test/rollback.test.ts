import { describe, expect, it } from 'vitest';
import { TracelabError, createKernel, definePlugin, emit, kthreadRun, msleep, mutexLock, mutexUnlock, schedPoint, type KPath } from '@tracelab/core';

declare module '@tracelab/core' {
  interface EventMap {
    'patcher/hit': { ip: string };
  }
  interface PluginApis {
    patcher: { attach(): KPath<void> };
    registry: { add(item: string): KPath<void>; addFromHost(item: string): void; items(): readonly string[] };
  }
}

/** A plugin whose API path patches sys_getpid with a handler that logs each call. */
const patcher = definePlugin<{ attach(): KPath<void> }>({
  name: 'patcher',
  version: '1.0.0',
  core: '^0.1.0',
  register(ctx) {
    ctx.declareEvents(['patcher/hit']);
    return {
      // eslint-disable-next-line require-yield -- a kernel path that issues no command
      *attach() {
        ctx.patchFunction('sys_getpid', function* (ip) {
          yield* emit({ type: 'patcher/hit', ip });
        });
      },
    };
  },
});

/** A plugin that keeps a list outside the state, journalled with onRollback. */
const registry = definePlugin<{ add(item: string): KPath<void>; addFromHost(item: string): void; items(): readonly string[] }>({
  name: 'registry',
  version: '1.0.0',
  core: '^0.1.0',
  register(ctx) {
    // Plugin data outside the state: written only by add (inside steps) and addFromHost.
    const list: string[] = [];
    return {
      // eslint-disable-next-line require-yield -- a kernel path that issues no command
      *add(item) {
        list.push(item);
        ctx.onRollback(() => list.pop());
      },
      addFromHost(item) {
        list.push(item);
        ctx.onRollback(() => list.pop());
      },
      items: () => [...list],
    };
  },
});

const boom = (): never => {
  throw new Error('boom');
};

describe('an oopsed step takes back what it changed outside the state', () => {
  it('a kernel thread started in the step is gone with its task/spawned: the run still ends', () => {
    const k = createKernel({ cpus: 1 });
    expect(() =>
      k.call(function* starter() {
        yield* kthreadRun(
          (function* child(): KPath<void> {
            yield* msleep(1);
          })(),
          'child',
        );
        boom();
      }),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS' }));
    expect(k.log.some((e) => e.type === 'task/spawned' && e.comm === 'child')).toBe(false);
    const r = k.run();
    expect(r.waiting).toEqual([]);
    expect(r.done).toBe(true);
  });

  it("an oops inside a locked region leaves the lock held, as the kernel's does, even when the path unlocks in a finally block", () => {
    // The finally's unlock runs while the exception unwinds, in the step that oopses, and is
    // undone with the rest of that step: the lock stays with the dead task, and the next
    // locker waits for ever (the kernel's "task exited with locks held").
    const k = createKernel({ cpus: 1, seed: 1 });
    k.spawnKthread(
      (function* holder(): KPath<void> {
        yield* mutexLock('L');
        try {
          yield* schedPoint();
          boom();
        } finally {
          yield* mutexUnlock('L');
        }
      })(),
      { comm: 'holder' },
    );
    k.spawnKthread(
      (function* next(): KPath<void> {
        yield* schedPoint();
        yield* mutexLock('L');
        yield* mutexUnlock('L');
      })(),
      { comm: 'next' },
    );
    const r = k.run();
    expect(k.log.filter((e) => e.type === 'kernel/oops').map((e) => e.killed)).toEqual([1]);
    expect(k.log.some((e) => e.type === 'lock/released' && e.lock === 'L')).toBe(false);
    expect(k.state.locks['L']).toMatchObject({ owner: 1, waiters: [2] });
    expect(r.violations.map((v) => v.name)).toEqual(['kernel/stuck']);
  });

  it('a function patched in the step is unpatched again: its handler never runs', () => {
    const k = createKernel({ cpus: 1, plugins: [patcher] });
    expect(() =>
      k.call(function* attachThenFail() {
        yield* k.api.patcher.attach();
        boom();
      }),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS' }));
    // The task's own code failed, not the plugin: the plugin stays enabled.
    expect(k.state.kernel.disabledPlugins['patcher']).toBeUndefined();
    k.spawn(function* caller(u) {
      yield u.syscall('getpid');
    });
    expect(k.run().done).toBe(true);
    expect(k.log.some((e) => e.type === 'syscall/enter' && e.name === 'getpid')).toBe(true);
    expect(k.log.some((e) => e.type === 'patcher/hit')).toBe(false);

    // The same attach in a step that does not fail stays patched.
    k.call(k.api.patcher.attach());
    k.spawn(function* caller2(u) {
      yield u.syscall('getpid');
    });
    k.run();
    expect(k.log.filter((e) => e.type === 'patcher/hit')).toHaveLength(1);
  });

  it("a plugin's own data is restored through ctx.onRollback; host-side changes are never rolled back", () => {
    const k = createKernel({ cpus: 1, plugins: [registry] });
    expect(() =>
      k.call(function* addThenFail() {
        yield* k.api.registry.add('a');
        yield* k.api.registry.add('b');
        boom();
      }),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS' }));
    expect(k.api.registry.items()).toEqual([]);
    k.call(k.api.registry.add('kept'));
    k.api.registry.addFromHost('host');
    expect(() =>
      k.call(function* addOneThenFail() {
        yield* k.api.registry.add('lost');
        boom();
      }),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS' }));
    expect(k.api.registry.items()).toEqual(['kept', 'host']);
  });

  it('refuses an onRollback that is not a function, naming the plugin', () => {
    const bad = definePlugin({
      name: 'bad-undo',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.onRollback('undo' as never);
      },
    });
    let err: unknown;
    try {
      createKernel({ plugins: [bad] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect(err).toMatchObject({ code: 'PLUGIN_INVALID', message: expect.stringMatching(/bad-undo: onRollback takes a function/) });
  });
});
