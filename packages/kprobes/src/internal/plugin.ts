import { definePlugin, option, pluginOptions, type TracelabPlugin } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import { UNSAFE_VARIANTS, type KprobesApi, type KprobesOptions, type ResolvedKprobesOptions } from '../events.js';
import { INITIAL_KPROBES_STATE, type KprobesState } from '../state.js';
import { callFunction, registerKprobe, slice, unregisterKprobe, type KprobesEnv } from './kprobes.js';
import { KPROBES_INVARIANTS, registerReducers } from './reducers.js';

export const KPROBES_VERSION = '0.1.0';

/** `kprobes(options)` resolved: an unknown key or variant throws `INVALID_OPTION` naming it and what is accepted. */
const resolveOptions: (options: unknown) => ResolvedKprobesOptions = pluginOptions('kprobes', { unsafe: option.setOf(UNSAFE_VARIANTS) });

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
      for (const name of Object.values(KPROBES_INVARIANTS)) {
        ctx.invariant(name, (s) => {
          const v = s.plugins.kprobes?.violation;
          return v?.invariant === name ? v.message : null;
        });
      }
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
