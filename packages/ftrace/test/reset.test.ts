import { describe, expect, it } from 'vitest';
import { randomStrategy, type Kernel, type Program, type Strategy } from '@tracelab/core';
import { functionTracer, type FtraceOps } from '@tracelab/ftrace';
import { kernelWith } from '@tracelab/testing';
import { ftraceStack, noop } from './helpers.js';

/** Syscalls the tracers below trace (sys_getpid, sys_read, sys_open), from two forked children. */
const shell: Program = function* sh(u) {
  for (let i = 0; i < 2; i++) {
    yield u.fork(function* child(c) {
      for (let j = 0; j < 6; j++) {
        yield c.syscall('getpid', {});
        yield c.syscall('open', { path: '/etc/passwd' });
        yield c.sleep(1);
      }
      yield c.exit(0);
    });
  }
  for (let i = 0; i < 2; i++) yield u.wait();
  yield u.exit(0);
};

/** The ops the second tracer registers (one object for every kernel: ops are known by identity). */
const listOps: FtraceOps = { func: noop, filter: ['sys_getpid'], label: 'list' };

function runOnce(k: Kernel): { hash: string; events: number } {
  k.spawn(shell, { comm: 'sh' });
  // A DYNAMIC ops (a trampoline, freed after an RCU-tasks grace period) and a list ops, churned.
  k.spawnKthread(functionTracer(k.api.ftrace, { after: 3, duration: 12, func: noop }), { comm: 'ftrace' });
  k.spawnKthread(
    (function* listTracer() {
      yield* k.api.ftrace.registerFtraceFunction(listOps);
      yield* k.api.ftrace.unregisterFtraceFunction(listOps);
    })(),
    { comm: 'list' },
  );
  const r = k.run({ maxSteps: 200_000 });
  expect(r.violations).toEqual([]);
  expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(false);
  return { hash: k.logHash(), events: k.log.length };
}

describe('kernel.reset with ftrace (ctx.onReset)', () => {
  it('a reset kernel runs each schedule exactly as a fresh one: records, ops, trampolines, ids and the checks back to registration', () => {
    const k = kernelWith({ plugins: ftraceStack(), seed: 4 });
    runOnce(k);
    for (const seed of [1, 2, 3]) {
      const strategy: Strategy = randomStrategy({ preemptProbability: 0.15 * seed });
      const fresh = runOnce(kernelWith({ plugins: ftraceStack(), seed: 4, strategy }));
      k.reset({ strategy });
      expect(runOnce(k)).toEqual(fresh);
    }
  });
});
