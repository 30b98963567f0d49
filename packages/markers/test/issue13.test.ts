import { describe, expect, it } from 'vitest';
import { createKernel, msleep, type Program } from '@tracelab/core';
import { markers, type MarkerProbe } from '@tracelab/markers';
import { nop } from './helpers.js';

/**
 * Issue 13's first user report: a probe registered and unregistered on `kernel_sched_schedule`
 * while a shell forks and execs. The site fires from the context-switch hook, in the incoming
 * task with preemption off, often on an idle CPU or in a task in user mode; before RCU-sched
 * counted such a CPU as quiescent only outside read-side sections, 40 of these 60 seeds freed a
 * probe array under that walk (`markers/no-use-after-free`).
 */
const FMT = 'prev_pid %d next_pid %d cpu %d preempted %d';

const child: Program = function* (u) {
  yield u.compute(2);
  yield u.exec('ls', function* (u2) {
    yield u2.syscall('getpid');
    yield u2.compute(3);
    yield u2.exit(0);
  });
};

const shell: Program = function* (u) {
  for (let i = 0; i < 4; i++) {
    yield u.fork(child);
    yield u.compute(2);
    yield u.wait();
  }
  yield u.exit(0);
};

describe('issue 13: toggling a probe on kernel_sched_schedule while a shell forks and execs', () => {
  it('frees no probe array under a walk, over 60 seeds', () => {
    const bad: string[] = [];
    let freed = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const k = createKernel({ cpus: 2, seed, plugins: [markers()] });
      const api = k.api.markers;
      const stay: MarkerProbe = nop();
      k.call(api.probeRegister('kernel_sched_schedule', FMT, stay, 'stay'));
      k.spawn(shell, { comm: 'sh' });
      k.spawnKthread(
        (function* () {
          for (let i = 0; i < 6; i++) {
            const p = nop();
            yield* api.probeRegister('kernel_sched_schedule', FMT, p, `p${i}`);
            yield* msleep(2);
            yield* api.probeUnregister('kernel_sched_schedule', p, `p${i}`);
            yield* msleep(1);
          }
        })(),
        { comm: 'toggler' },
      );
      const r = k.run({ maxSteps: 200_000 });
      freed += k.log.filter((e) => e.type === 'markers/array-freed').length;
      expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(false);
      if (r.violations.length > 0) bad.push(`seed ${seed}: ${r.violations[0]!.name}`);
      else expect(r.done).toBe(true);
    }
    expect(bad).toEqual([]);
    // The churn really happened: arrays were retired and freed after grace periods.
    expect(freed).toBeGreaterThan(60 * 6);
  });
});

describe('issue 13: a probe written as a generator function', () => {
  it('is refused at probeRegister with a coded error naming it: its body would never run on the fast path', () => {
    const k = createKernel({ cpus: 1, plugins: [markers({ coreMarkers: false })] });
    const api = k.api.markers;
    api.defineMarker('m', 'v %d');
    // eslint-disable-next-line require-yield -- the mistake under test
    function* genProbe(): Generator<never, void> {
      throw new Error('never runs');
    }
    expect(() => api.probeRegister('m', 'v %d', genProbe as unknown as MarkerProbe)).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/markers\.probeRegister\(m\): probe genProbe is a generator function/),
      }),
    );
    expect(api.probes('m')).toEqual([]);
  });
});
