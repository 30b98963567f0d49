import type { KernelState, PluginContext } from '@tracelab/core';
import type { TracepointsState } from '../events.js';

export const PLUGIN_NAME = 'tracepoints';

export function initialTracepointsState(): TracepointsState {
  return {
    tracepoints: {},
    arrays: {},
    snapshots: { '1-0-1': null, 'n-2-1': null },
    version: 0,
    unregisteredAt: {},
    reports: [],
    earlyFrees: [],
    stats: { registered: 0, unregistered: 0, stubs: 0, retired: 0, freed: 0, transitionWaits: 0 },
  };
}

/** The slice as kernel code reads it (the initial value before registration is applied). */
export function tracepointsSlice(s: KernelState): TracepointsState {
  return s.plugins.tracepoints ?? initialTracepointsState();
}

/** The key of a (tracepoint, probe, data) pair in `unregisteredAt`. */
export function pairKey(name: string, probe: string, data: string): string {
  return `${name}|${probe}|${data}`;
}

/** The immer draft of the slice that reducers receive. */
type Slice = Parameters<Parameters<PluginContext<TracepointsState>['on']>[1]>[0];

/** The tracepoint's array changes from its previous one to `next`: the previous leaves the published state. */
function replaceArray(s: Slice, name: string, next: number | null, probes: number): void {
  const tp = s.tracepoints[name]!;
  const prev = tp.array;
  if (prev !== null && prev !== next) {
    const a = s.arrays[String(prev)];
    if (a !== undefined) a.state = 'retired';
  }
  if (next !== null && next !== prev) s.arrays[String(next)] = { id: next, tracepoint: name, probes, state: 'published', flavour: null, freeAfterGp: null };
  tp.array = next;
}

/** Declares the plugin's events with their reducers: the slice is a fold of them. */
export function registerReducers(ctx: PluginContext<TracepointsState>): void {
  ctx.initSlice(initialTracepointsState());
  ctx.on('tracepoints/defined', (s, e) => {
    s.tracepoints[e.name] = { name: e.name, module: e.module, faultable: e.faultable, enabled: false, probes: [], array: null, staticCall: 'iterator' };
  });
  ctx.on('tracepoints/removed', (s, e) => {
    delete s.tracepoints[e.name];
  });
  ctx.on('tracepoints/registered', (s, e) => {
    const tp = s.tracepoints[e.name]!;
    // The new array drops the stubs (func_add purges them) and inserts the probe at `index`.
    tp.probes = tp.probes.filter((p) => !p.stub);
    tp.probes.splice(e.index, 0, { probe: e.probe, data: e.data, prio: e.prio, stub: false });
    replaceArray(s, e.name, e.array, e.probes);
    s.version += 1;
    s.stats.registered += 1;
  });
  ctx.on('tracepoints/unregistered', (s, e) => {
    const tp = s.tracepoints[e.name]!;
    // What leaves: the pair, and every stub; with NULL published, every entry (the going
    // notifier removes all of a module's probes at once, `probe: '*'`).
    const goes = (p: { probe: string; data: string; stub: boolean }): boolean => e.array === null || p.stub || (p.probe === e.probe && p.data === e.data);
    s.version += 1;
    for (const p of tp.probes) if (!p.stub && goes(p)) s.unregisteredAt[pairKey(e.name, p.probe, p.data)] = s.version;
    tp.probes = tp.probes.filter((p) => !goes(p));
    replaceArray(s, e.name, e.array, e.probes);
    s.stats.unregistered += e.removed;
  });
  ctx.on('tracepoints/stub-installed', (s, e) => {
    const tp = s.tracepoints[e.name]!;
    for (const p of tp.probes) if (p.probe === e.probe && p.data === e.data) p.stub = true;
    s.version += 1;
    s.unregisteredAt[pairKey(e.name, e.probe, e.data)] = s.version;
    s.stats.unregistered += 1;
    s.stats.stubs += e.stubs;
  });
  ctx.on('tracepoints/key', (s, e) => {
    s.tracepoints[e.name]!.enabled = e.enabled;
  });
  ctx.on('tracepoints/static-call', (s, e) => {
    s.tracepoints[e.name]!.staticCall = e.target;
  });
  ctx.on('tracepoints/snapshot', (s, e) => {
    s.snapshots[e.sync] = { rcu: e.rcu, trace: e.trace };
  });
  ctx.on('tracepoints/transition-sync', (s, e) => {
    if (e.skipped === null) s.snapshots[e.sync] = null;
    if (e.waited) s.stats.transitionWaits += 1;
  });
  ctx.on('tracepoints/array-retired', (s, e) => {
    const a = s.arrays[String(e.array)];
    if (a !== undefined) {
      a.state = 'retired';
      a.flavour = e.flavour;
      a.freeAfterGp = e.gp;
    }
    s.stats.retired += 1;
  });
  ctx.on('tracepoints/array-freed', (s, e) => {
    const a = s.arrays[String(e.array)];
    // SEMANTICS 2.2(d): freed only after a grace period of the readers' flavour that began after
    // the retirement. The unsafe immediate free ('none') is the variant's own choice: what it
    // breaks is caught at the call site (tracepoints/freed-array), not here.
    if (e.flavour !== 'none' && (a === undefined || a.freeAfterGp === null || e.completed < a.freeAfterGp))
      s.earlyFrees.push({ tracepoint: e.name, array: e.array, flavour: e.flavour, gp: a?.freeAfterGp ?? null, completed: e.completed });
    delete s.arrays[String(e.array)];
    s.stats.freed += 1;
  });
  ctx.on('tracepoints/freed-array-call', (s, e) => {
    s.reports.push({ kind: 'freed-array', tracepoint: e.name, array: e.array, probe: e.probe, data: e.data, pid: e.pid });
  });
  ctx.on('tracepoints/unregistered-probe-call', (s, e) => {
    s.reports.push({ kind: 'unregistered-probe', tracepoint: e.name, array: e.array, probe: e.probe, data: e.data, pid: e.pid });
  });
  ctx.declareEvents(['tracepoints/regfunc', 'tracepoints/unregfunc', 'tracepoints/module-probes-removed', 'tracepoints/probe-call']);
}
