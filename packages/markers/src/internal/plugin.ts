import { definePlugin, type PluginContext, type TracelabPlugin } from '@tracelab/core';
import type { MarkersApi, MarkersOptions, MarkersState } from '../types.js';
import { markerModuleComing, markerModuleGoing } from '../marker.js';
import { markersApi } from './api.js';
import { registerInvariants } from './checks.js';
import { tapCoreSites } from './core-sites.js';
import { faultsOf } from './faults.js';
import { createMarkersInstance, resetter, type MarkersInstance } from './instance.js';
import { recordedOptions, resolveOptions } from './options.js';
import { registerReducers } from './reducers.js';

export const MARKERS_VERSION = '0.1.0';

/**
 * The markers plugin: marker sites with a name and a format, probes connected by name with
 * private data, the 0/1/N transitions of kernel/marker.c, and old probe arrays freed after an
 * RCU-sched grace period. See docs/markers.md for the design and its decisions.
 */
export function markers(options?: MarkersOptions): TracelabPlugin<MarkersApi, MarkersState> {
  const resolved = resolveOptions(options);
  const faults = faultsOf(options);
  return definePlugin<MarkersApi, MarkersState>({
    name: 'markers',
    version: MARKERS_VERSION,
    core: '^0.1.0',
    options: recordedOptions(resolved),
    register: (ctx) => register(ctx, createMarkersInstance(resolved, faults)),
  });
}

/**
 * Wiring only: the slice and its reducers, the module hooks, the core sites, the invariants,
 * the reset and the API. The kernel paths are in marker.ts.
 */
function register(ctx: PluginContext<MarkersState>, m: MarkersInstance): MarkersApi {
  registerReducers(ctx);
  ctx.tap('moduleLoad', function* ({ module, data }) {
    yield* markerModuleComing(m, module, data);
  });
  ctx.tap('moduleUnload', function* ({ module }) {
    yield* markerModuleGoing(m, module);
  });
  if (m.options.coreMarkers) tapCoreSites(ctx, m);
  registerInvariants(ctx, m);
  // kernel.reset: the registry as registration left it (the core sites defined), the memo cleared.
  ctx.onReset(resetter(m));
  return markersApi(ctx, m);
}
