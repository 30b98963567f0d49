import { describe, expect, it } from 'vitest';
import { TracelabError, createKernel, replay, schedPoint, type Kernel, type KPath } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints, type TracepointProbe, type TracepointSpec, type TracepointsOptions, type TracepointsUnsafe } from '@tracelab/tracepoints';
import { expectClean, kernelWith, recorder } from './helpers.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof TracelabError ? e.code : `not a TracelabError: ${String(e)}`;
  }
  return undefined;
}

describe('bad input: coded errors naming what is wrong and where', () => {
  it('options: unknown keys, unknown unsafe variants and wrong types are INVALID_OPTION', () => {
    expect(() => tracepoints({ unsafe: 'nope' as TracepointsUnsafe })).toThrow(
      /^tracepoints: option unsafe must be one of 'free-immediately', 'free-with-call-rcu', .* or an array of them, got "nope"$/,
    );
    expect(() => tracepoints({ typo: true } as TracepointsOptions)).toThrow(/unknown option "typo"/);
    expect(() => tracepoints({ logProbeCalls: 1 } as unknown as TracepointsOptions)).toThrow(/logProbeCalls must be a boolean, got 1/);
    expect(codeOf(() => tracepoints(null as unknown as TracepointsOptions))).toBe('INVALID_OPTION');
    expect(tracepoints({ unsafe: ['no-transition-sync', 'free-immediately', 'free-immediately'] }).options).toEqual({
      unsafe: ['free-immediately', 'no-transition-sync'],
      logProbeCalls: false,
    });
  });

  it('defineTracepoint: a bad name, a duplicate, a bad spec, a faultable one without rcu-tasks', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    expect(() => api.defineTracepoint('tp')).toThrow(/tracepoints.defineTracepoint\(tp\): tracepoint tp is already defined/);
    expect(() => api.defineTracepoint('1bad')).toThrow(/name must be a C identifier/);
    expect(() => api.defineTracepoint('x', null as unknown as TracepointSpec)).toThrow(/spec must be an object/);
    expect(() => api.defineTracepoint('x', { regfunc: 3 } as unknown as TracepointSpec)).toThrow(/defineTracepoint\(x\): regfunc must be a function/);
    expect(() => api.defineTracepoint('x', { faultable: 'yes' } as unknown as TracepointSpec)).toThrow(/faultable must be a boolean/);
    const bare = kernelWith({}, { rcuTasks: false });
    expect(() => bare.api.tracepoints.defineTracepoint('sys_enter', { faultable: true })).toThrow(/needs the rcu-tasks plugin in the stack/);
    expect(codeOf(() => bare.api.tracepoints.defineTracepoint('sys_enter', { faultable: true }))).toBe('INVALID_OPTION');
  });

  it('probeRegisterPrio: a prio that is not an integer, a name that is not a string', () => {
    const k = kernelWith();
    const api = k.api.tracepoints;
    api.defineTracepoint('tp');
    const a = recorder([], 'a');
    expect(() => api.probeRegisterPrio('tp', a, 1, 1.5)).toThrow(/tracepoints.probeRegisterPrio\(tp\): prio must be an integer, got 1.5/);
    expect(() => api.probeRegister(7 as unknown as string, a)).toThrow(/tracepoints.probeRegister: name must be a non-empty string, got 7/);
    expect(() => api.probeUnregister('', a)).toThrow(/probeUnregister: name must be a non-empty string/);
  });
});

describe('determinism', () => {
  const stack = (): ReturnType<typeof tracepoints | typeof rcuTasks>[] => [rcuTasks(), tracepoints()];

  function workload(k: Kernel): void {
    const api = k.api.tracepoints;
    const a: TracepointProbe = recorder([], 'a');
    const b: TracepointProbe = recorder([], 'b');
    k.spawnKthread(function* updater(): KPath<void> {
      for (let i = 0; i < 4; i++) {
        yield* api.probeRegister('tp', a, 1);
        yield* api.probeRegister('tp', b, 2);
        yield* api.probeUnregister('tp', a, 1);
        yield* api.probeUnregister('tp', b, 2);
      }
    });
    k.spawnKthread(function* reader(): KPath<void> {
      for (let i = 0; i < 20; i++) {
        yield* api.trace('tp', i);
        yield* schedPoint();
      }
    });
    k.run();
    expectClean(k);
  }

  it('replay(log) rebuilds the same state and hash; reset() gives the same run as a new kernel', () => {
    const k = createKernel({ cpus: 2, seed: 5, plugins: stack() });
    k.api.tracepoints.defineTracepoint('tp');
    workload(k);
    const r = replay(k.log, { plugins: stack() });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state.plugins.tracepoints).toEqual(k.state.plugins.tracepoints);
    const first = k.logHash();
    k.reset();
    k.api.tracepoints.defineTracepoint('tp');
    workload(k);
    expect(k.logHash()).toBe(first);
  });
});
