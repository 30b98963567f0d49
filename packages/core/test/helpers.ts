import type { Kernel, KernelEvent, KPath, Program } from '@tracelab/core';
import { printk, schedPoint } from '@tracelab/core';

/** printk texts in log order, with the seq each was logged at. */
export function printks(k: Kernel): Array<{ seq: number; text: string; pid: number; cpu: number }> {
  return k.log.filter((e): e is KernelEvent<'kernel/printk'> => e.type === 'kernel/printk').map((e) => ({ seq: e.seq, text: e.text, pid: e.pid, cpu: e.cpu }));
}

export function* points(n: number): KPath<void> {
  for (let i = 0; i < n; i++) yield* schedPoint();
}

export function* say(text: string): KPath<void> {
  yield* printk(text);
}

/** A small compiler-like workload: a shell forking children that open, read, write, compute. */
export const shell: Program = function* shell(u) {
  const kids: number[] = [];
  for (let i = 0; i < 3; i++) {
    kids.push(
      yield u.fork(function* cc(u2) {
        yield u2.syscall('open', { path: `/src/file${i}.c`, flags: 0 });
        yield u2.syscall('read', { fd: 3, buf: 0x20000, count: 512 });
        yield u2.compute(4 + i);
        yield u2.syscall('write', { fd: 1, buf: 0x20000, count: 64 });
        yield u2.exit(i);
      }),
    );
    yield u.compute(2);
  }
  for (let i = 0; i < kids.length; i++) yield u.wait();
  yield u.exit(0);
};

export const SEEDS = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** The run had no violation and no oops: every test of a mechanism that must work asks this. */
export function expectClean(k: Kernel, result: { violations: readonly unknown[] }): void {
  const oopses = k.log.filter((e) => e.type === 'kernel/oops');
  if (oopses.length > 0) throw new Error(`unexpected oops: ${JSON.stringify(oopses[0])}`);
  if (result.violations.length > 0) throw new Error(`unexpected violation: ${JSON.stringify(result.violations[0])}`);
}
