import { definePlugin, type PluginContext, type TracelabPlugin } from '@tracelab/core';
import type { ResolvedTracepointsOptions, TracepointsApi, TracepointsOptions, TracepointsState } from '../events.js';
import { tracepointModuleComing, tracepointModuleGoing, type TracepointEnv } from '../tracepoint.js';
import { tracepointsApi } from './api.js';
import { registerInvariants } from './checks.js';
import { setUpBootProbes } from './boot.js';
import { isModuleSpec, resolveOptions } from './options.js';
import { PLUGIN_NAME, registerReducers } from './reducers.js';
import { Registry } from './registry.js';

export { TRACEPOINTS_INVARIANTS } from './checks.js';

export const TRACEPOINTS_VERSION = '0.1.0';

/**
 * The tracepoints plugin: kernel/tracepoint.c's registration, probe arrays, transitions and
 * their waits, and the call site of include/linux/tracepoint.h. `rcu-tasks` is optional: with
 * it, faultable tracepoints (Tasks-Trace readers) can be defined.
 */
export function tracepoints(options?: TracepointsOptions): TracelabPlugin<TracepointsApi, TracepointsState> {
  const opts = resolveOptions(options);
  return definePlugin<TracepointsApi, TracepointsState>({
    name: PLUGIN_NAME,
    version: TRACEPOINTS_VERSION,
    core: '^0.1.0',
    optionalDependsOn: { 'rcu-tasks': '^0.1.0' },
    options: opts,
    register: (ctx) => registerTracepoints(ctx, opts),
  });
}

/**
 * Wiring only: the slice and its reducers, the plugin instance's state, the module hooks, the
 * invariants, the reset and the API. The kernel paths are in tracepoint.ts and call-site.ts.
 */
function registerTracepoints(ctx: PluginContext<TracepointsState>, opts: ResolvedTracepointsOptions): TracepointsApi {
  registerReducers(ctx);
  const env: TracepointEnv = { reg: new Registry(), opts, rcuTasks: ctx.optionalApi('rcu-tasks'), checked: { slice: undefined, hot: -1, problems: {} } };
  // Probes dependent plugins connect from their own register(ctx), before any task runs.
  const boot = setUpBootProbes(ctx, env.reg);

  // Modules: tracepoints come with the module and go with it.
  ctx.tap('moduleLoad', function* ({ module, data }) {
    const raw = (data as { tracepoints?: unknown } | undefined)?.tracepoints;
    if (!Array.isArray(raw)) return;
    yield* tracepointModuleComing(env, module, (raw as unknown[]).filter(isModuleSpec));
  });
  ctx.tap('moduleUnload', function* ({ module }) {
    yield* tracepointModuleGoing(env, module);
  });

  registerInvariants(ctx, env);

  // kernel.reset: the table as registration left it, and the consistency check's memo cleared.
  const restoreTable = env.reg.mark();
  ctx.onReset(() => {
    restoreTable();
    boot.rearm();
    env.checked.slice = undefined;
    env.checked.hot = -1;
    env.checked.problems = {};
  });

  return tracepointsApi(ctx, env, boot);
}
