import { describe, expect, it } from 'vitest';
import { createKernel } from '@tracelab/core';

describe('smoke', () => {
  it('runs a forking program to completion', () => {
    const k = createKernel({ cpus: 2, seed: 7 });
    k.spawn(function* shell(u) {
      const child = yield u.fork(function* (u2) {
        yield u2.syscall('open', { path: '/etc/passwd', flags: 0 });
        yield u2.compute(3);
        yield u2.exit(3);
      });
      expect(child).toBeGreaterThan(1);
      const r = yield u.wait();
      expect(r).toEqual({ pid: child, status: 3 });
      yield u.exit(0);
    });
    const res = k.run();
    expect(res.violations).toEqual([]);
    expect(res.done).toBe(true);
    console.log(res.steps, k.log.length, k.schedule.length);
  });
});
