import { definePlugin, type TracelabPlugin } from '@tracelab/core';
import type { SrcuApi, SrcuOptions } from '../events.js';
import { initialSrcuState, type SrcuState } from '../state.js';
import { resolveOptions } from './options.js';
import { SRCU_INVARIANTS, registerReducers } from './reducers.js';
import { callSrcu, cleanupSrcuStruct, initSrcuStruct, slice, srcuBarrier, srcuReadLock, srcuReadUnlock, synchronizeSrcu, type SrcuEnv } from './srcutree.js';

export const SRCU_VERSION = '0.1.0';

/**
 * The plugin factory: `createKernel({ plugins: [srcu()] })`, then
 * `kernel.call(kernel.api.srcu.initSrcuStruct('ss'))`. `srcu({ unsafe: 'single-scan' })` is an
 * unsafe variant (README, "Variants"). Throws `INVALID_OPTION` for an unknown option, an unknown
 * variant, or a `retryDelay` out of range.
 */
export function srcu(options: SrcuOptions = {}): TracelabPlugin<SrcuApi, SrcuState> {
  const opts = resolveOptions(options);
  return definePlugin<SrcuApi, SrcuState>({
    name: 'srcu',
    version: SRCU_VERSION,
    core: '^0.1.0',
    options: opts,
    register(ctx) {
      ctx.initSlice(initialSrcuState(opts.staticDomains, ctx.cpus));
      registerReducers(ctx);
      const env: SrcuEnv = { opts, closures: new Map() };
      // The callbacks' closures are all the plugin keeps outside its slice.
      ctx.onReset(() => env.closures.clear());
      for (const name of Object.values(SRCU_INVARIANTS)) {
        ctx.invariant(name, (s) => {
          const v = s.plugins.srcu?.violation ?? null;
          return v !== null && v.invariant === name ? v.message : null;
        });
      }
      return {
        options: opts,
        initSrcuStruct: (domain) => initSrcuStruct(env, domain),
        cleanupSrcuStruct: (domain) => cleanupSrcuStruct(env, domain),
        srcuReadLock: (domain) => srcuReadLock(env, domain),
        srcuReadUnlock: (domain, idx) => srcuReadUnlock(env, domain, idx),
        synchronizeSrcu: (domain) => synchronizeSrcu(env, domain),
        callSrcu: (domain, fn, label) => callSrcu(env, domain, fn, label),
        srcuBarrier: (domain) => srcuBarrier(env, domain),
        completed: (domain) => slice(ctx.state()).domains[domain]?.completed ?? 0,
        gpInProgress: (domain) => (slice(ctx.state()).domains[domain]?.gp ?? null) !== null,
        readers: (domain) =>
          Object.values(slice(ctx.state()).readers)
            .filter((r) => r.domain === domain)
            .map((r) => r.pid),
      };
    },
  });
}
