import { describe, expect, it } from 'vitest';
import { EEXIST, EINVAL, createKernel, definePlugin, replay, type Kernel, type KPath, type PluginStack } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints, type TracepointProbe, type TracepointsApi } from '@tracelab/tracepoints';
import { eventsOf, expectClean, recorder } from './helpers.js';

/**
 * A dependent plugin whose session exists before the workload: it defines its tracepoints and
 * connects its probes from its own register(ctx), as the ring buffer's `enableAll` does.
 */
function tracer(setup: (tp: TracepointsApi) => void) {
  return definePlugin<Record<string, never>, undefined>({
    name: 'boot-tracer',
    version: '0.1.0',
    core: '^0.1.0',
    dependsOn: { tracepoints: '^0.1.0' },
    register(ctx) {
      setup(ctx.api('tracepoints'));
      ctx.onReset();
      return {};
    },
  });
}

function stack(setup: (tp: TracepointsApi) => void): PluginStack {
  return [rcuTasks(), tracepoints(), tracer(setup)];
}

/** Two call sites in two threads on two CPUs. */
function workload(k: Kernel, name: string): void {
  const api = k.api.tracepoints;
  for (let t = 0; t < 2; t++) {
    k.spawnKthread(function* caller(): KPath<void> {
      for (let i = 0; i < 3; i++) yield* api.trace(name, t, i);
    });
  }
  k.run();
}

describe('probes connected at boot (bootProbeRegister)', () => {
  it('arms the tracepoint before any step: call sites reach the probe; the state has it from the owner’s registration event; no registration path runs', () => {
    const calls: unknown[][] = [];
    const probe = recorder(calls, 'rb');
    const k = createKernel({
      cpus: 2,
      seed: 3,
      plugins: stack((tp) => {
        tp.defineTracepoint('sched_switch');
        expect(tp.bootProbeRegister('boot-tracer', 'sched_switch', probe, 'chan')).toBe(0);
      }),
    });
    const api = k.api.tracepoints;
    expect(api.enabled('sched_switch')).toBe(true);
    expect(api.probes('sched_switch')).toEqual([{ probe, data: 'chan', prio: 10, stub: false }]);
    const st = k.state.plugins.tracepoints!;
    expect(st.tracepoints['sched_switch']).toMatchObject({
      enabled: true,
      array: 1,
      staticCall: 'rb#1',
      probes: [{ probe: 'rb#1', data: 's:"chan"', prio: 10, stub: false }],
    });
    expect(st.arrays['1']).toMatchObject({ state: 'published', tracepoint: 'sched_switch', probes: 1 });
    // The slice entry appears exactly at the owner's registration event, not before.
    const at = k.log.find((e) => e.type === 'kernel/plugin-registered' && (e as { name?: string }).name === 'boot-tracer')!;
    expect(k.stateAt(at.seq - 1).plugins.tracepoints!.tracepoints['sched_switch']).toBeUndefined();
    expect(k.stateAt(at.seq).plugins.tracepoints!.tracepoints['sched_switch']?.enabled).toBe(true);
    workload(k, 'sched_switch');
    expect(calls).toHaveLength(6);
    expect(calls.every((c) => c[1] === 'chan')).toBe(true);
    for (const type of ['tracepoints/registered', 'tracepoints/key', 'tracepoints/static-call', 'tracepoints/regfunc'] as const)
      expect(eventsOf(k, type)).toEqual([]);
    expectClean(k);
  });

  it('keeps priority order across boot registrations (folded in call order at the owner’s event), and the static call goes to the iterator', () => {
    const calls: unknown[][] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((t) => recorder(calls, t)) as [TracepointProbe, TracepointProbe, TracepointProbe];
    const k = createKernel({
      cpus: 2,
      seed: 1,
      plugins: stack((tp) => {
        tp.defineTracepoint('sys_enter', { faultable: true });
        expect(tp.bootProbeRegister('boot-tracer', 'sys_enter', a, 1)).toBe(0);
        expect(tp.bootProbeRegister('boot-tracer', 'sys_enter', b, 2, 20)).toBe(0);
        expect(tp.bootProbeRegister('boot-tracer', 'sys_enter', c, 3, 5)).toBe(0);
      }),
    });
    const st = k.state.plugins.tracepoints!;
    expect(st.tracepoints['sys_enter']!.probes.map((p) => p.probe)).toEqual(['b#2', 'a#1', 'c#3']);
    expect(st.tracepoints['sys_enter']!.staticCall).toBe('iterator');
    expect(st.tracepoints['sys_enter']!.faultable).toBe(true);
    // Only the last array is published; the earlier boot arrays were never seen by a reader.
    expect(Object.keys(st.arrays)).toEqual(['3']);
    expect(st.stats.registered).toBe(3);
    k.call(k.api.tracepoints.trace('sys_enter', 'x'));
    expect(calls.map((x) => x[0])).toEqual(['b', 'a', 'c']);
    k.run();
    expectClean(k);
  });

  it('a boot probe leaves through the ordinary path: 1->0 publishes NULL and releases the boot array after a grace period', () => {
    const probe = recorder([], 'p');
    const k = createKernel({
      cpus: 2,
      seed: 1,
      plugins: stack((tp) => {
        tp.defineTracepoint('tp');
        tp.bootProbeRegister('boot-tracer', 'tp', probe, 'd');
      }),
    });
    const api = k.api.tracepoints;
    expect(k.call(api.probeUnregister('tp', probe, 'd'))).toBe(0);
    expect(api.enabled('tp')).toBe(false);
    expect(eventsOf(k, 'tracepoints/unregistered').map((e) => [e.transition, e.array])).toEqual([['1->0', null]]);
    expect(k.call(api.probeRegister('tp', probe, 'e'))).toBe(0);
    k.run();
    expect(eventsOf(k, 'tracepoints/array-freed').map((e) => e.array)).toContain(1);
    expectClean(k);
  });

  it('replay rebuilds the same state and hash; reset() re-arms the boot probes and gives the same run', () => {
    const calls: unknown[][] = [];
    const setup = (tp: TracepointsApi) => {
      tp.defineTracepoint('tp');
      tp.bootProbeRegister('boot-tracer', 'tp', recorder(calls, 'probe'), 7);
    };
    const k = createKernel({ cpus: 2, seed: 4, plugins: stack(setup) });
    workload(k, 'tp');
    const r = replay(k.log, { plugins: stack(setup) });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state.plugins.tracepoints).toEqual(k.state.plugins.tracepoints);
    const first = k.logHash();
    const state = k.state.plugins.tracepoints;
    k.reset();
    expect(k.api.tracepoints.enabled('tp')).toBe(true);
    calls.length = 0;
    workload(k, 'tp');
    expect(calls).toHaveLength(6);
    expect(k.logHash()).toBe(first);
    expect(k.state.plugins.tracepoints).toEqual(state);
    expectClean(k);
  });

  it('returns -EEXIST and -EINVAL as registration does, and throws INVALID_OPTION for misuse', () => {
    const seen: unknown[] = [];
    const probe = recorder([], 'p');
    const k = createKernel({
      cpus: 1,
      seed: 1,
      plugins: stack((tp) => {
        tp.defineTracepoint('tp');
        tp.defineTracepoint('with_reg', { regfunc: () => 0 });
        seen.push(tp.bootProbeRegister('boot-tracer', 'tp', probe, 1));
        seen.push(tp.bootProbeRegister('boot-tracer', 'tp', probe, 1));
        seen.push(tp.bootProbeRegister('boot-tracer', 'tp', 'x' as unknown as TracepointProbe, 1));
        for (const f of [
          () => tp.bootProbeRegister('boot-tracer', 'nope', probe),
          () => tp.bootProbeRegister('boot-tracer', 'with_reg', probe),
          () => tp.bootProbeRegister('boot-tracer', 'tp', probe, 2, 1.5),
          () => tp.bootProbeRegister('', 'tp', probe, 2),
        ]) {
          try {
            f();
            seen.push('no throw');
          } catch (err) {
            seen.push((err as { code?: string }).code);
          }
        }
      }),
    });
    expect(seen).toEqual([0, -EEXIST, -EINVAL, 'INVALID_OPTION', 'INVALID_OPTION', 'INVALID_OPTION', 'INVALID_OPTION']);
    // Once the owner is registered (the kernel is built), boot registration is over.
    expect(() => k.api.tracepoints.bootProbeRegister('boot-tracer', 'tp', recorder([], 'q'))).toThrow(/registered already/);
    expect(k.api.tracepoints.probes('tp')).toHaveLength(1);
    k.run();
    expectClean(k);
  });

  it('a tracepoint with a regfunc is armed at boot through its bootRegfunc: called for the first probe only, a negative return refuses; the last unregister runs the unregfunc', () => {
    let refcount = 0;
    const calls: string[] = [];
    const seen: unknown[] = [];
    const [p, q] = [recorder([], 'p'), recorder([], 'q')];
    const k = createKernel({
      cpus: 1,
      seed: 1,
      plugins: stack((tp) => {
        const spec = (name: string, boot: () => number | void) =>
          tp.defineTracepoint(name, {
            regfunc: () => {
              calls.push(`reg ${name}`);
              refcount++;
            },
            unregfunc: () => {
              calls.push(`unreg ${name}`);
              refcount--;
            },
            bootRegfunc: boot,
          });
        spec('sys_enter', () => {
          calls.push('boot sys_enter');
          refcount++;
        });
        spec('refused', () => -12);
        seen.push(tp.bootProbeRegister('boot-tracer', 'sys_enter', p, null));
        seen.push(tp.bootProbeRegister('boot-tracer', 'sys_enter', q, null));
        seen.push(tp.bootProbeRegister('boot-tracer', 'refused', p, null));
      }),
    });
    expect(seen).toEqual([0, 0, -12]);
    expect(calls).toEqual(['boot sys_enter']);
    expect(refcount).toBe(1);
    expect(k.api.tracepoints.enabled('sys_enter')).toBe(true);
    expect(k.api.tracepoints.enabled('refused')).toBe(false);
    expect(() => k.api.tracepoints.defineTracepoint('bad', { bootRegfunc: () => 0 })).toThrow(/bootRegfunc is regfunc's boot form/);
    k.call(
      (function* unregister(): KPath<void> {
        yield* k.api.tracepoints.probeUnregister('sys_enter', p, null);
        yield* k.api.tracepoints.probeUnregister('sys_enter', q, null);
      })(),
    );
    expect(calls).toEqual(['boot sys_enter', 'unreg sys_enter']);
    expect(refcount).toBe(0);
    k.run();
    expectClean(k);
  });
});
