import { describe, expect, it } from 'vitest';
import { TracelabError, callRcu, createKernel, definePlugin, emit, fn, synchronizeRcu, type KernelEvent, type Program } from '@tracelab/core';
import { points, printks } from './helpers.js';

declare module '@tracelab/core' {
  interface EventMap {
    'plain/seen': { what: string };
  }
}

/**
 * Issue 13 §3: callbacks written as plain functions, as kernel C code is, are accepted wherever
 * the core takes one (generators stay possible); what cannot be accepted is refused when it is
 * handed over, with a coded error naming what is wrong.
 */
const execer: Program = function* execer(u) {
  yield u.syscall('answer');
  yield u.exec('ls', function* (u2) {
    const r = (yield u2.syscall('answer')) as number;
    yield u2.exit(r === 42 ? 0 : 1);
  });
};

describe('plain-function callbacks', () => {
  it('hook handlers, mcount handlers, syscall bodies and RCU callbacks may be plain functions', () => {
    const seen: string[] = [];
    let freed = 0;
    const plain = definePlugin({
      name: 'plain',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.declareEvents(['plain/seen']);
        ctx.tap('exec', ({ pid, comm }) => {
          seen.push(`exec ${pid} ${comm}`);
        });
        ctx.defineSyscall('answer', () => 42);
        ctx.patchFunction('sys_answer', (ip, parentIp) => {
          seen.push(`mcount ${ip} from ${parentIp || '-'}`);
        });
        // A generator handler beside them still works as before.
        ctx.tap('exit', function* ({ pid }) {
          yield* emit({ type: 'plain/seen', what: `exit ${pid}` });
        });
      },
    });
    const k = createKernel({ cpus: 2, plugins: [plain] });
    const pid = k.spawn(execer, { comm: 'sh' });
    k.spawnKthread(
      (function* () {
        yield* points(2);
        yield* callRcu(() => {
          freed++;
        }, 'plain-free');
        yield* synchronizeRcu();
      })(),
    );
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(k.log.filter((e) => e.type === 'kernel/oops')).toEqual([]);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    expect(seen).toEqual([`mcount sys_answer from -`, `exec ${pid} ls`, `mcount sys_answer from -`]);
    expect(k.log.find((e): e is KernelEvent<'task/exit'> => e.type === 'task/exit' && e.pid === pid)!.code).toBe(0);
    expect(k.log.some((e) => e.type === 'plain/seen' && e.what === `exit ${pid}`)).toBe(true);
    expect(freed).toBe(1);
    expect(k.log.some((e) => e.type === 'rcu/callback-invoked' && e.label === 'plain-free')).toBe(true);
  });

  it('a plain signal handler returns its disposition; a plain handler that throws is contained and names its plugin', () => {
    const k = createKernel({
      cpus: 1,
      plugins: [
        definePlugin({
          name: 'ignorer',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            ctx.tap('signal', () => 'ignore');
          },
        }),
        definePlugin({
          name: 'thrower',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            ctx.tap('exec', () => {
              throw new Error('plain boom');
            });
          },
        }),
      ],
    });
    const pid = k.spawn(function* self(u) {
      const me = (yield u.syscall('getpid')) as number;
      yield u.kill(me, 15);
      yield u.exec('ls', function* (u2) {
        yield u2.exit(3);
      });
    });
    k.run();
    expect(k.log.find((e) => e.type === 'signal/deliver')).toMatchObject({ pid, sig: 15, action: 'ignore' });
    expect(k.log.find((e) => e.type === 'kernel/oops')).toMatchObject({
      plugin: 'thrower',
      where: 'hook exec',
      message: expect.stringContaining('plain boom'),
    });
    expect(k.state.kernel.disabledPlugins).toHaveProperty('thrower');
    expect(k.log.find((e): e is KernelEvent<'task/exit'> => e.type === 'task/exit' && e.pid === pid)!.code).toBe(3);
  });

  it('kernel.call and spawnKthread take a path, a generator function or a plain function', () => {
    const k = createKernel({ cpus: 2 });
    expect(k.call(() => 5)).toBe(5);
    expect(
      k.call(function* () {
        yield* points(2);
        return 'gen';
      }),
    ).toBe('gen');
    expect(
      k.call(
        fn(
          'my_fn',
          (function* () {
            yield* points(1);
            return 1;
          })(),
        ),
      ),
    ).toBe(1);
    let ran = false;
    k.spawnKthread(() => {
      ran = true;
    });
    expect(k.run().done).toBe(true);
    expect(ran).toBe(true);
    // What a plain function throws kills its thread, as any kernel code's exception does.
    expect(() =>
      k.call(() => {
        throw new Error('nope');
      }),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS', message: expect.stringContaining('nope') }));
    for (const bad of [42, null, 'x']) {
      expect(() => k.call(bad as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/call: path must be a generator object or a function/) }),
      );
      expect(() => k.spawnKthread(bad as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/spawnKthread: path must be/) }),
      );
    }
  });

  it('refuses what is not a function when it is handed over, naming it', () => {
    const withTap = (handler: unknown) =>
      definePlugin({
        name: 'badtap',
        version: '1.0.0',
        core: '^0.1.0',
        register(ctx) {
          ctx.tap('exec', handler as never);
        },
      });
    expect(() => createKernel({ plugins: [withTap(42)] })).toThrow(
      expect.objectContaining({ code: 'PLUGIN_INVALID', message: 'plugin badtap: the exec handler must be a function (plain or generator), got number' }),
    );
    const withSyscall = definePlugin({
      name: 'badsys',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.defineSyscall('x', 'nope' as never);
      },
    });
    expect(() => createKernel({ plugins: [withSyscall] })).toThrow(
      expect.objectContaining({ code: 'PLUGIN_INVALID', message: expect.stringMatching(/syscall x must be a function/) }),
    );
    const withPatch = definePlugin({
      name: 'badpatch',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.patchFunction('f', {} as never);
      },
    });
    expect(() => createKernel({ plugins: [withPatch] })).toThrow(
      expect.objectContaining({ code: 'PLUGIN_INVALID', message: expect.stringMatching(/mcount handler for f must be a function/) }),
    );
    // callRcu with something else: the coded error goes into the calling path, which oopses.
    const k = createKernel({ cpus: 1 });
    expect(() =>
      k.call(
        (function* () {
          yield* callRcu(7 as never, 'seven');
        })(),
      ),
    ).toThrow(expect.objectContaining({ code: 'CALL_OOPS', message: expect.stringMatching(/callRcu\("seven"\): the callback must be a function/) }));
  });
});

describe('spawn', () => {
  it('refuses at spawn a program that gives no generator, with a coded error', () => {
    const k = createKernel();
    for (const [program, msg] of [
      [() => 5, /spawn: the program .* returned 5, not a generator/],
      [async () => undefined, /returned .*not a generator/],
      [null, /spawn: program must be a generator function, .*got null/],
      [{}, /got object/],
    ] as const) {
      let err: unknown;
      try {
        k.spawn(program as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TracelabError);
      expect(err).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(msg) });
    }
    // Nothing was spawned by the refused calls.
    expect(k.log.filter((e) => e.type === 'task/spawned')).toEqual([]);
  });

  it('accepts a plain function that returns a program generator (a wrapper)', () => {
    const k = createKernel();
    function* body(u: Parameters<Program>[0], code: number) {
      yield u.compute(1);
      yield u.exit(code);
    }
    const pid = k.spawn((u) => body(u, 7), { comm: 'wrapped' });
    expect(k.run().done).toBe(true);
    expect(k.log.find((e): e is KernelEvent<'task/exit'> => e.type === 'task/exit' && e.pid === pid)!.code).toBe(7);
  });

  it('a forked or execed program that gives no generator kills the task with a clear user fault', () => {
    const k = createKernel();
    const pid = k.spawn(function* sh(u) {
      yield u.exec('bad', (() => 1) as never);
    });
    k.run();
    expect(k.log.find((e) => e.type === 'task/user-fault')).toMatchObject({ pid, message: expect.stringMatching(/returned 1, not a generator/) });
    expect(printks(k)).toEqual([]);
  });
});
