import { describe, expect, it } from 'vitest';
import { EEXIST, ENOENT, TracelabError, schedPoint, type KPath } from '@tracelab/core';
import type { ModuleTracepointSpec } from '@tracelab/tracepoints';
import { eventsOf, expectClean, kernelWith, recorder } from './helpers.js';

describe('module tracepoints (SEMANTICS.md 2.2: module unload)', () => {
  it('item 23: a module brings its tracepoints at load; at unload the going notifier removes the probes left, the array goes through call_rcu, and the tracepoints are gone', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    expect(k.call(api.loadModule('kvm', [{ name: 'kvm_entry' }, { name: 'kvm_exit', faultable: true }]))).toBe(0);
    expect(api.tracepoints().map((t) => [t.name, t.module, t.faultable])).toEqual([
      ['kvm_entry', 'kvm', false],
      ['kvm_exit', 'kvm', true],
    ]);
    const calls: unknown[][] = [];
    const a = recorder(calls, 'a');
    expect(k.call(api.probeRegister('kvm_entry', a, 1))).toBe(0);
    expect(k.call(api.probeRegister('kvm_exit', a, 2))).toBe(0);
    k.call(api.trace('kvm_entry', 'x'));
    expect(calls).toEqual([['a', 1, 'x']]);
    expect(k.call(api.unloadModule('kvm'))).toBe(0);
    k.run();
    expectClean(k);
    expect(eventsOf(k, 'tracepoints/module-probes-removed').map((e) => [e.name, e.probes])).toEqual([
      ['kvm_entry', 1],
      ['kvm_exit', 1],
    ]);
    // kvm_exit is faultable: its array waits for Tasks-Trace readers.
    expect(eventsOf(k, 'tracepoints/array-retired').map((e) => [e.name, e.flavour])).toEqual([
      ['kvm_entry', 'rcu-sched'],
      ['kvm_exit', 'tasks-trace'],
    ]);
    expect(eventsOf(k, 'tracepoints/array-freed').length).toBe(2);
    expect(eventsOf(k, 'tracepoints/removed').map((e) => e.name)).toEqual(['kvm_entry', 'kvm_exit']);
    expect(api.tracepoints()).toEqual([]);
    expect(k.state.plugins.tracepoints?.tracepoints).toEqual({});
    expect(k.call(api.probeRegister('kvm_entry', a, 1))).toBe(-ENOENT);
    expect(k.call(api.unloadModule('kvm'))).toBe(-ENOENT);
  });

  it('a module tracepoint whose name is taken is skipped with a printk; loading a module twice is -EEXIST', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('sched_switch');
    expect(k.call(api.loadModule('m', [{ name: 'sched_switch' }, { name: 'm_ev' }]))).toBe(0);
    expect(k.call(api.loadModule('m', [{ name: 'm_ev' }]))).toBe(-EEXIST);
    expect(api.tracepoints().map((t) => [t.name, t.module])).toEqual([
      ['sched_switch', null],
      ['m_ev', 'm'],
    ]);
    expect(eventsOf(k, 'kernel/printk').some((e) => /sched_switch is already defined/.test(e.text))).toBe(true);
    k.run();
    expectClean(k);
  });

  it('a faultable module tracepoint without rcu-tasks in the stack is skipped; loadModule checks its input', () => {
    const k = kernelWith({}, { rcuTasks: false });
    const api = k.api.tracepoints;
    k.call(api.loadModule('m', [{ name: 'sys_m', faultable: true }]));
    expect(api.tracepoints()).toEqual([]);
    expect(() => api.loadModule('m2', [{ name: 'not an identifier' }])).toThrow(TracelabError);
    expect(() => api.loadModule('m2', 'x' as unknown as ModuleTracepointSpec[])).toThrow(/tracepoints.loadModule\(m2\): tracepoints must be an array/);
  });
});

describe('module going with readers in flight', () => {
  it('item 23: a reader inside a module tracepoint while the module goes finishes on the old array, which is freed after its grace period', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const k = kernelWith({}, { seed });
      const api = k.api.tracepoints;
      const a = recorder([], 'a');
      const b = recorder([], 'b');
      k.spawnKthread(function* loader(): KPath<void> {
        yield* api.loadModule('m', [{ name: 'm_ev' }]);
        yield* api.probeRegister('m_ev', a, 1);
        yield* api.probeRegister('m_ev', b, 2);
        yield* schedPoint();
        yield* api.unloadModule('m');
      });
      k.spawnKthread(function* reader(): KPath<void> {
        for (let i = 0; i < 20; i++) {
          // The module's call sites exist only while it is loaded.
          if (api.tracepoints().some((t) => t.name === 'm_ev')) yield* api.trace('m_ev', i);
          yield* schedPoint();
        }
      });
      k.run();
      expectClean(k);
      expect(eventsOf(k, 'tracepoints/removed').length).toBe(1);
    }
  });
});
