import { describe, expect, it } from 'vitest';
import { createKernel, drive, emit, msleep, printk, schedPoint, type KPath } from '@tracelab/core';
import { printks } from './helpers.js';

function* work(tag: string): KPath<number> {
  yield* printk(`${tag} one`);
  yield* msleep(2);
  yield* printk(`${tag} two`);
  return 7;
}

describe('drive', () => {
  it('runs a path exactly as yield* does: the same log, the same result', () => {
    const direct = createKernel({ cpus: 1, seed: 1 });
    const driven = createKernel({ cpus: 1, seed: 1 });
    expect(direct.call(work('x'))).toBe(7);
    expect(driven.call(drive(work('x')))).toBe(7);
    expect(driven.logHash()).toBe(direct.logHash());
  });

  it('returns failed(err) for an exception escaping the path, and rethrows without failed', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    function* boom(): KPath<number> {
      yield* printk('before');
      throw new Error('boom');
    }
    expect(k.call(drive(boom(), { failed: (err) => `caught ${(err as Error).message}` }))).toBe('caught boom');
    expect(() => k.call(drive(boom()))).toThrow(/boom/);
  });

  it('passes an error the runtime throws back into the path, which may handle it', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    function* undeclared(): KPath<string> {
      try {
        yield* emit({ type: 'nobody/declared-this' } as never);
      } catch (err) {
        return `handled: ${(err as Error).message.slice(0, 20)}`;
      }
      return 'not thrown';
    }
    expect(k.call(drive(undeclared()))).toMatch(/^handled: /);
  });

  it('atomic: the first scheduling command abandons the path (its finally runs) and returns atomic(cmd)', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    const seen: string[] = [];
    function* blocks(): KPath<string> {
      try {
        yield* printk('ran');
        yield* schedPoint();
        seen.push('after the point');
        return 'finished';
      } finally {
        seen.push('finally');
      }
    }
    expect(k.call(drive(blocks(), { atomic: (cmd) => `refused ${cmd.op}` }))).toBe('refused point');
    expect(seen).toEqual(['finally']);
    expect(printks(k).map((p) => p.text)).toEqual(['ran']);
    // A path that never blocks runs to its end under atomic.
    function* quick(): KPath<string> {
      yield* printk('quick');
      return 'done';
    }
    expect(k.call(drive(quick(), { atomic: () => 'refused' }))).toBe('done');
  });

  it('beforeFirstCommand runs once, before the first command, and never for a path that issues none', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    let calls = 0;
    const before = function* (): KPath<void> {
      calls++;
      yield* printk('before first');
    };
    k.call(drive(work('w'), { beforeFirstCommand: before }));
    expect(calls).toBe(1);
    expect(printks(k).map((p) => p.text)).toEqual(['before first', 'w one', 'w two']);
    // eslint-disable-next-line require-yield -- a path that returns at once
    function* none(): KPath<number> {
      return 3;
    }
    expect(k.call(drive(none(), { beforeFirstCommand: before }))).toBe(3);
    expect(calls).toBe(1);
  });
});
