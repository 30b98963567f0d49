import { describe, expect, it } from 'vitest';
import { createKernel, type Program } from '@tracelab/core';
import { formatMarker, markers, schedProbes, statsProbe, traceProbe } from '@tracelab/markers';
import { eventsOf, expectClean, kernelWith } from './helpers.js';

describe('ready-made probes', () => {
  it('formatMarker renders printf-style conversions in order', () => {
    expect(formatMarker('prev_pid %d next_pid %d state %ld name %s ip %p x %x %%', [1, 2, 3, 'sh', 255, 10])).toBe(
      'prev_pid 1 next_pid 2 state 3 name sh ip 0xff x a %',
    );
  });

  it("a statistics probe and a tracing probe share one site (the thread's multi-probe case)", () => {
    const k = kernelWith();
    const api = k.api.markers;
    const site = api.defineMarker('ev', 'n %d');
    const stats = statsProbe((args) => ((args[0] as number) % 2 === 0 ? 'even' : 'odd'));
    const trace = traceProbe(3);
    expect(k.call(api.probeRegister('ev', 'n %d', stats.probe, stats.private))).toBe(0);
    expect(k.call(api.probeRegister('ev', 'n %d', trace.probe, trace.private))).toBe(0);
    for (let i = 0; i < 5; i++) site.call(null, i);
    expect(stats.calls).toBe(5);
    expect([...stats.byKey]).toEqual([
      ['even', 3],
      ['odd', 2],
    ]);
    // Overwrite mode: the last 3 kept, 2 lost.
    expect(trace.written).toBe(5);
    expect(trace.overwritten).toBe(2);
    expect(trace.records().map((r) => r.text)).toEqual(['n 2', 'n 3', 'n 4']);
    // A second statistics probe is the same function with other private data: not -EBUSY.
    const stats2 = statsProbe();
    expect(stats2.probe).toBe(stats.probe);
    expect(k.call(api.probeRegister('ev', 'n %d', stats2.probe, stats2.private))).toBe(0);
    site.call(null, 9);
    expect([stats.calls, stats2.calls]).toEqual([6, 1]);
    expectClean(k);
  });
});

describe('the default run stack: schedProbes', () => {
  const build: Program = function* sh(u) {
    for (let i = 0; i < 3; i++) {
      yield u.fork(function* cc(u2) {
        yield u2.syscall('read', { fd: 3, buf: 0x1000, count: 64 });
        yield u2.compute(3 + i);
        yield u2.exit(0);
      });
    }
    for (let i = 0; i < 3; i++) yield u.wait();
    yield u.exit(0);
  };

  it('puts a statistics probe and a tracing probe on kernel_sched_schedule and summarizes both', () => {
    const k = createKernel({ cpus: 2, seed: 1, plugins: [markers()] });
    const probes = schedProbes();
    expect(k.call(probes.register(k.api.markers))).toBe(0);
    expect(k.api.markers.probes('kernel_sched_schedule')).toHaveLength(2);
    k.spawn(build, { comm: 'sh' });
    const r = k.run();
    expect(r.done).toBe(true);
    expectClean(k);
    const s = probes.summary();
    expect(s.stats.calls).toBeGreaterThan(5);
    expect(s.stats.voluntary + s.stats.preempted).toBe(s.stats.calls);
    // Both probes saw the site's calls once both were connected (the statistics probe, first in,
    // also saw the switches while the second registration waited for the grace period).
    expect(s.trace.written).toBeGreaterThan(5);
    expect(s.trace.written).toBeLessThanOrEqual(s.stats.calls);
    expect(s.trace.last.at(-1)).toMatch(/^prev_pid \d+ next_pid \d+ cpu [01] preempted [01]$/);
    // Each call corresponds to a logged switch.
    expect(s.stats.calls).toBeLessThanOrEqual(eventsOf(k, 'sched/switch').length);
    expect(probes.formatSummary()).toMatch(/markers: kernel_sched_schedule with 2 probes\n {4}statistics probe: \d+ calls/);
  });
});
