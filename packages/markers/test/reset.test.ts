import { describe, expect, it } from 'vitest';
import { createKernel, msleep, randomStrategy, type Kernel, type KPath, type Program, type Strategy } from '@tracelab/core';
import { markers, type MarkersApi, type MarkerProbe } from '@tracelab/markers';
import { expectClean, nop } from './helpers.js';

/** A shell that forks and execs: the core markers (schedule, fork, exec, exit) fire throughout. */
const shell: Program = function* sh(u) {
  for (let i = 0; i < 3; i++) {
    yield u.fork(function* child(c) {
      yield c.syscall('getpid', {});
      yield c.exec('/bin/true', function* t(v) {
        yield v.syscall('getpid', {});
        yield v.exit(0);
      });
    });
  }
  for (let i = 0; i < 3; i++) yield u.wait();
  yield u.exit(0);
};

/**
 * Tracer-side churn on a core marker: probes connected and disconnected while the shell runs,
 * through the 0→1→N→1→0 transitions (each old array freed after a grace period).
 */
function* churn(api: MarkersApi, probes: readonly MarkerProbe[]): KPath<void> {
  for (const p of probes) {
    yield* api.probeRegister('kernel_sched_schedule', null, p, null);
    yield* msleep(1);
  }
  for (const p of probes) {
    yield* api.probeUnregister('kernel_sched_schedule', p, null);
    yield* msleep(1);
  }
}

/** The same probes for every kernel (labels name them by identity, so they must be the same objects). */
const probes = [nop(), nop(), nop()];

function runOnce(k: Kernel): { hash: string; events: number } {
  k.spawn(shell, { comm: 'sh' });
  k.spawnKthread(churn(k.api.markers, probes), { comm: 'tracer' });
  expectClean(k);
  const r = k.run({ maxSteps: 200_000 });
  expect(r.violations).toEqual([]);
  expectClean(k);
  return { hash: k.logHash(), events: k.log.length };
}

describe('kernel.reset with markers (ctx.onReset)', () => {
  it('a reset kernel runs each schedule exactly as a fresh one: registry, sites, arrays, ids and labels back to registration', () => {
    const k = createKernel({ cpus: 2, seed: 9, plugins: [markers()] });
    // A first run that leaves probes connected, arrays freed and ids counted up.
    k.spawnKthread(
      (function* leftover() {
        yield* k.api.markers.probeRegister('kernel_process_fork', null, nop(), null);
        yield* k.api.markers.probeRegister('kernel_process_fork', null, nop(), null);
      })(),
      { comm: 'leftover' },
    );
    runOnce(k);
    for (const seed of [1, 2, 3]) {
      const strategy: Strategy = randomStrategy({ preemptProbability: 0.2 * seed });
      const fresh = runOnce(createKernel({ cpus: 2, seed: 9, plugins: [markers()], strategy }));
      k.reset({ strategy });
      expect(runOnce(k)).toEqual(fresh);
    }
  });
});
