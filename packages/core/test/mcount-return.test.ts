import { describe, expect, it } from 'vitest';
import { createKernel, current, definePlugin, fn, msleep, type KPath, type Program } from '@tracelab/core';

/** A plugin whose mcount handler on `name` hooks the return (as a function graph tracer does), logging into `order`. */
function retprobe(order: string[], name = 'traced') {
  return definePlugin({
    name: 'retprobe',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.defineFunction(name);
      ctx.patchFunction(name, function* entry(ip): KPath<KPath<void>> {
        yield* current();
        order.push(`entry ${ip}`);
        return (function* onReturn(): KPath<void> {
          yield* current();
          order.push(`return ${ip}`);
        })();
      });
    },
  });
}

describe('fn: a return hook from the mcount handler', () => {
  it('runs when the body returns, after a sleep in it, and before fn gives the body value back', () => {
    const order: string[] = [];
    const k = createKernel({ plugins: [retprobe(order)] });
    const v = k.call(
      (function* caller(): KPath<number> {
        const r = yield* fn(
          'traced',
          (function* body(): KPath<number> {
            order.push('body');
            yield* msleep(2);
            return 7;
          })(),
        );
        order.push(`fn returned ${r}`);
        return r;
      })(),
    );
    expect(v).toBe(7);
    expect(order).toEqual(['entry traced', 'body', 'return traced', 'fn returned 7']);
  });

  it('never runs for a body that does not return (do_exit)', () => {
    const order: string[] = [];
    const k = createKernel({ plugins: [retprobe(order, 'do_exit')] });
    const sh: Program = function* sh(u) {
      yield u.exit(0);
    };
    k.spawn(sh);
    k.run();
    expect(order).toEqual(['entry do_exit']);
  });
});
