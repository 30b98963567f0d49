import { TracelabError, definePlugin, describeValue, type TracelabPlugin } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import { UNSAFE_VARIANTS, type KprobesApi, type KprobesOptions, type KprobesUnsafe, type ResolvedKprobesOptions } from '../events.js';
import { INITIAL_KPROBES_STATE, type KprobesState } from '../state.js';
import { callFunction, registerKprobe, slice, unregisterKprobe, type KprobesEnv } from './kprobes.js';
import { KPROBES_INVARIANTS, registerReducers } from './reducers.js';

export const KPROBES_VERSION = '0.1.0';

function resolveOptions(options: unknown): ResolvedKprobesOptions {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `kprobes: ${what}`, { plugin: 'kprobes' });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) bad(`options must be an object, got ${describeValue(options)}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (key !== 'unsafe') bad(`unknown option ${JSON.stringify(key)} (known options: unsafe)`);
  const raw = o['unsafe'] ?? [];
  const unsafe: KprobesUnsafe[] = [];
  for (const v of Array.isArray(raw) ? (raw as unknown[]) : [raw]) {
    if (!(UNSAFE_VARIANTS as readonly unknown[]).includes(v)) bad(`unsafe: unknown variant ${describeValue(v)} (variants: ${UNSAFE_VARIANTS.join(', ')})`);
    if (!unsafe.includes(v as KprobesUnsafe)) unsafe.push(v as KprobesUnsafe);
  }
  return { unsafe };
}

/**
 * The plugin factory: `createKernel({ plugins: [rcuTasks(), kprobes()] })`. Needs `rcu-tasks`
 * (the free waits for synchronize_rcu_tasks). Throws `INVALID_OPTION` for an unknown option or
 * variant.
 */
export function kprobes(options: KprobesOptions = {}): TracelabPlugin<KprobesApi, KprobesState> {
  const opts = resolveOptions(options);
  return definePlugin<KprobesApi, KprobesState>({
    name: 'kprobes',
    version: KPROBES_VERSION,
    core: '^0.1.0',
    dependsOn: { 'rcu-tasks': '^0.1.0' },
    options: opts,
    register(ctx) {
      ctx.initSlice(INITIAL_KPROBES_STATE);
      registerReducers(ctx);
      const env: KprobesEnv = { opts, rcuTasks: ctx.api('rcu-tasks') as RcuTasksApi, handlers: new Map() };
      ctx.onReset(() => env.handlers.clear());
      ctx.invariant(KPROBES_INVARIANTS.noDetourUseAfterFree, (s) => s.plugins.kprobes?.violation?.message ?? null);
      return {
        options: opts,
        registerKprobe: (fn, handler = () => undefined) => registerKprobe(env, fn, handler),
        unregisterKprobe: (fn) => unregisterKprobe(env, fn),
        callFunction: (fn, work = 1) => callFunction(env, fn, work),
        probed: (fn) => slice(ctx.state()).probes[fn] !== undefined,
        hits: () => slice(ctx.state()).hits,
      };
    },
  });
}
