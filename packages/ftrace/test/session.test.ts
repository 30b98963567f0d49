import { describe, expect, it } from 'vitest';
import { replay } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { DEFAULT_TRACED_FUNCTIONS, formatFtraceSummary, ftrace, functionTracer, summarizeFtrace } from '@tracelab/ftrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { ftraceStack, worker } from './helpers.js';

describe('functionTracer and summarizeFtrace (the default tracelab run stack)', () => {
  it('traces the syscall functions while registered and reports calls per function and the unregister→free latency', () => {
    const k = kernelWith({ plugins: ftraceStack(), seed: 7 });
    for (let i = 0; i < 3; i++) k.spawn(worker(30), { comm: `w${i}` });
    k.spawnKthread(functionTracer(k.api.ftrace, { after: 5, duration: 30 }), { comm: 'ftrace' });
    const result = k.run();
    expectClean(k, result);
    const s = summarizeFtrace(k.log);
    expect(s.ops).toHaveLength(1);
    const o = s.ops[0]!;
    expect(o.label).toBe('function#1');
    expect(o.trampoline).toBe(1);
    expect(o.wait).toBe('rcu-tasks');
    const freed = eventsOf(k, 'ftrace/tramp-freed')[0]!;
    const unreg = eventsOf(k, 'ftrace/update-start').find((e) => e.op === 'unregister')!;
    expect(o.freedAt).toBe(freed.time);
    expect(o.unregisterToFree).toBe(freed.time - unreg.time);
    expect(o.gracePeriod).toBe(freed.time - eventsOf(k, 'ftrace/tramp-retired')[0]!.time);
    expect(o.gracePeriod!).toBeGreaterThan(0);
    // Calls per function equal the trampoline entries the log shows (only getpid is traced of the two).
    const enters = eventsOf(k, 'ftrace/tramp-enter');
    expect(o.calls.map((c) => c.ip)).toEqual(['sys_getpid']);
    expect(o.calls[0]!.trampoline).toBe(enters.length);
    expect(enters.length).toBeGreaterThan(0);
    expect(s.trampolines).toEqual({ allocated: 1, freed: 1 });
    expect(s.useAfterFree).toBe(0);
    expect(DEFAULT_TRACED_FUNCTIONS).toContain('sys_getpid');
    const lines = formatFtraceSummary(s);
    expect(lines[0]).toBe('  ftrace: 1 ops registration(s), 1 trampoline(s) allocated, 1 freed, 0 use-after-free');
    expect(lines.join('\n')).toContain(`grace-period wait ${o.gracePeriod} ticks; unregister→free ${o.unregisterToFree} ticks`);

    // A replay of the log rebuilds the same state and the same summary.
    const r = replay(k.log, { plugins: [rcuTasks(), ftrace()] });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state.plugins.ftrace).toEqual(k.state.plugins.ftrace);
    expect(summarizeFtrace(r.log)).toEqual(s);
  });

  it('the same seed gives the same log', () => {
    const run = () => {
      const k = kernelWith({ plugins: ftraceStack(), seed: 11 });
      for (let i = 0; i < 3; i++) k.spawn(worker(10), { comm: `w${i}` });
      k.spawnKthread(functionTracer(k.api.ftrace, { after: 2, duration: 10 }), { comm: 'ftrace' });
      k.run();
      return k.logHash();
    };
    expect(run()).toBe(run());
  });
});
