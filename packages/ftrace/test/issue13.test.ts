import { describe, expect, it } from 'vitest';
import type { FtraceFunc } from '@tracelab/ftrace';
import { kernelWith } from '@tracelab/testing';
import { ftraceStack } from './helpers.js';

describe('issue 13: an ops func written as a generator function', () => {
  it('is refused at register with a coded error naming it: ftrace calls its callbacks synchronously', () => {
    const k = kernelWith(ftraceStack());
    // eslint-disable-next-line require-yield -- the mistake under test
    function* genFunc(): Generator<never, void> {
      throw new Error('never runs');
    }
    expect(() => k.api.ftrace.registerFtraceFunction({ func: genFunc as unknown as FtraceFunc, filter: ['sys_getpid'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/ftrace\.registerFtraceFunction: ops\.func is a generator function/) }),
    );
    expect(k.log.some((e) => e.type === 'ftrace/ops-registered')).toBe(false);
  });
});
