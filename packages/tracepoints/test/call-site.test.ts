import { describe, expect, it } from 'vitest';
import { copyFromUser, current, type KPath } from '@tracelab/core';
import type { TracepointProbe } from '@tracelab/tracepoints';
import { eventsOf, expectClean, kernelWith, recorder } from './helpers.js';

describe('the call site (SEMANTICS.md 2.2 fast path)', () => {
  it('item 1: with the static key off the call site only tests the key: no command, no step, no event', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const before = k.log.length;
    const g = api.trace('tp', 1, 2, 3);
    expect(g.next().done).toBe(true);
    expect(k.log.length).toBe(before);
    // Also after a probe came and went.
    const a = recorder([], 'a');
    k.call(api.probeRegister('tp', a, 1));
    k.call(api.probeUnregister('tp', a, 1));
    expect(api.enabled('tp')).toBe(false);
    expect(api.trace('tp').next().done).toBe(true);
    k.run();
    expectClean(k);
  });

  it('item 3/22: one probe is called through the static call with funcs[0].data; several through the iterator, each with its own data, in order', () => {
    const k = kernelWith({ logProbeCalls: true });
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const calls: unknown[][] = [];
    const a = recorder(calls, 'a');
    const b = recorder(calls, 'b');
    k.call(api.probeRegister('tp', a, 'da'));
    expect(k.state.plugins.tracepoints?.tracepoints['tp']?.staticCall).toMatch(/^a#/);
    k.call(api.trace('tp', 1));
    k.call(api.probeRegister('tp', b, 'db'));
    expect(k.state.plugins.tracepoints?.tracepoints['tp']?.staticCall).toBe('iterator');
    k.call(api.trace('tp', 2));
    expect(calls).toEqual([
      ['a', 'da', 1],
      ['a', 'da', 2],
      ['b', 'db', 2],
    ]);
    expect(eventsOf(k, 'tracepoints/probe-call').map((e) => [e.probe.split('#')[0], e.data])).toEqual([
      ['a', 's:"da"'],
      ['a', 's:"da"'],
      ['b', 's:"db"'],
    ]);
    k.run();
    expectClean(k);
  });

  it('item 21: an ordinary tracepoint calls its probes with preemption off; a faultable one in a Tasks-Trace reader with preemption on, where a probe may fault on user memory', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('sched_switch');
    api.defineTracepoint('sys_enter', { faultable: true });
    const seen: Array<[string, number, number]> = [];
    const probe = function* look(tag: unknown): KPath<void> {
      const me = yield* current();
      seen.push([tag as string, me.preemptCount, k.api['rcu-tasks'].traceNesting(me.pid)]);
    };
    k.call(api.probeRegister('sched_switch', probe, 'plain'));
    k.call(api.probeRegister('sys_enter', probe, 'faultable'));
    let copied = -1;
    const reads: TracepointProbe = function* reads(_d: unknown, addr: unknown): KPath<void> {
      // copy_from_user from a kernel thread: nothing mapped, so nothing is copied; the point is
      // that the call is allowed here (preemption on), as it is in a syscall probe.
      copied = (yield* copyFromUser(addr as number, 8)).notCopied;
    };
    k.call(api.probeRegister('sys_enter', reads, null));
    k.call(function* () {
      yield* api.trace('sched_switch');
      yield* api.trace('sys_enter', 0x10000);
    });
    expect(seen).toEqual([
      ['plain', 1, 0],
      ['faultable', 0, 1],
    ]);
    expect(copied).toBe(8);
    k.run();
    expectClean(k);
  });

  it('a call site of a name never defined throws INVALID_OPTION into the path, naming it', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    expect(() => k.call(api.trace('nope'))).toThrow(/tracepoints.trace: no tracepoint named "nope" \(defined: tp\)/);
  });
});

describe('the host-side site (the real fast path)', () => {
  it('item 1/22: site.call reads the same key, array and static call as trace: nothing when disarmed, the single probe directly, then the iterator', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const site = api.site('tp')!;
    const calls: unknown[][] = [];
    const a = recorder(calls, 'a');
    const b = recorder(calls, 'b');
    site.call(0);
    expect(site.enabled).toBe(false);
    k.call(api.probeRegister('tp', a, 'da'));
    site.call(1);
    k.call(api.probeRegisterPrio('tp', b, 'db', 20));
    site.call(2);
    expect(calls).toEqual([
      ['a', 'da', 1],
      ['b', 'db', 2],
      ['a', 'da', 2],
    ]);
    expect(site.enabled).toBe(true);
    expect(api.site('nope')).toBeUndefined();
    const gen: TracepointProbe = function* g(): KPath<void> {
      yield* current();
    };
    k.call(api.probeRegister('tp', gen, null));
    expect(() => site.call(3)).toThrow(/probe g#\d+ returned a kernel path/);
    k.run();
    expectClean(k);
  });
});
