import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { torture } from '@tracelab/torture';

// Worker threads load the built packages (they cannot load TypeScript): build them first, so
// the workers run the same code as this test (tsc -b is incremental: fast when up to date).
beforeAll(() => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'packages/torture/tsconfig.lib.json'], { cwd: root, stdio: 'inherit' });
}, 180_000);

describe('worker threads', () => {
  it('give the same summary as one thread (counts, histogram, violations in seed order)', () => {
    const one = torture({ mechanism: 'utrace', seeds: 40, shrinkFailures: 0 });
    const two = torture({ mechanism: 'utrace', seeds: 40, shrinkFailures: 0, workers: 2 });
    expect(two.workers).toBe(2);
    expect(two.mechanisms).toEqual(one.mechanisms);
  });

  it('stop an unsafe run at the same first seed as one thread', () => {
    // quiescent-on-preempt is caught past the first chunks of 8 seeds (seed 17 on 2026-12-05),
    // so the workers hand out several chunks before one of them catches it.
    const one = torture({ unsafe: 'quiescent-on-preempt', shrinkRuns: 0 });
    const two = torture({ unsafe: 'quiescent-on-preempt', shrinkRuns: 0, workers: 2 });
    expect(one.mechanisms[0]!.caughtAt).toBeGreaterThan(8);
    expect(two.mechanisms).toEqual(one.mechanisms);
  });
});
