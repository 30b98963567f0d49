import type { KernelEvent, PluginContext } from '@tracelab/core';
import type { MarkersState } from '../types.js';

export function initialMarkersState(): MarkersState {
  return {
    entries: {},
    arrays: {},
    version: 0,
    unregisteredAt: {},
    reports: [],
    earlyFrees: [],
    stats: { registered: 0, unregistered: 0, retired: 0, freed: 0, armings: 0, probeFaults: 0 },
  };
}

/** The immer draft of the slice that reducers receive. */
type Slice = Parameters<Parameters<PluginContext<MarkersState>['on']>[1]>[0];

/** The entry's previous array leaves the published state when a registration replaces it. */
function replaceArray(s: Slice, name: string, next: number | null, probes: number): void {
  const entry = s.entries[name]!;
  const prev = entry.array;
  if (prev !== null && prev !== next) {
    const a = s.arrays[String(prev)];
    if (a !== undefined) a.state = 'retired';
  }
  if (next !== null && next !== prev) s.arrays[String(next)] = { id: next, name, probes, state: 'published', freeAfterGp: null };
  entry.array = next;
}

/** Declares the plugin's events with their reducers: the slice is a fold of them, nothing else. */
export function registerReducers(ctx: PluginContext<MarkersState>): void {
  ctx.initSlice(initialMarkersState());
  ctx.on('markers/entry-created', (s, e) => {
    s.entries[e.name] = { name: e.name, format: e.format, probes: [], array: null, rcuPending: false, inFlight: 0 };
  });
  ctx.on('markers/format-set', (s, e) => {
    s.entries[e.name]!.format = e.format;
  });
  ctx.on('markers/entry-removed', (s, e) => {
    delete s.entries[e.name];
  });
  ctx.on('markers/probe-registered', (s, e: KernelEvent<'markers/probe-registered'>) => {
    s.entries[e.name]!.probes.splice(e.index, 0, { probe: e.probe, private: e.private, prio: e.prio });
    replaceArray(s, e.name, e.array, e.probes);
    s.version += 1;
    s.stats.registered += 1;
  });
  ctx.on('markers/probe-unregistered', (s, e) => {
    const entry = s.entries[e.name]!;
    const i = entry.probes.findIndex((p) => p.probe === e.probe && p.private === e.private);
    if (i >= 0) entry.probes.splice(i, 1);
    replaceArray(s, e.name, e.array, e.probes);
    s.version += 1;
    s.unregisteredAt[`${e.name}|${e.probe}|${e.private}`] = s.version;
    s.stats.unregistered += 1;
  });
  ctx.on('markers/array-retired', (s, e) => {
    // The array already left the published state with the registration that replaced it; this
    // is the hand-off to the allocator (at once) or to call_rcu_sched (rcu_pending = 1).
    if (e.array !== null) {
      const a = s.arrays[String(e.array)];
      if (a !== undefined) a.freeAfterGp = e.gp;
    }
    const entry = s.entries[e.name];
    if (e.deferred && entry !== undefined) {
      entry.rcuPending = true;
      entry.inFlight += 1;
    }
    s.stats.retired += 1;
  });
  ctx.on('markers/array-freed', (s, e) => {
    if (e.array !== null) {
      // SEMANTICS 2.1(d): freed only once the grace period recorded at its retirement completed.
      const need = s.arrays[String(e.array)]?.freeAfterGp ?? null;
      if (need === null || e.completed < need) s.earlyFrees.push({ name: e.name, array: e.array, gp: need, completed: e.completed });
      delete s.arrays[String(e.array)];
    }
    const entry = s.entries[e.name];
    if (e.deferred && entry !== undefined) {
      entry.rcuPending = false;
      entry.inFlight -= 1;
    }
    s.stats.freed += 1;
  });
  ctx.on('markers/site-armed', (s) => {
    s.stats.armings += 1;
  });
  ctx.on('markers/use-after-free', (s, e) => {
    s.reports.push({ kind: 'use-after-free', name: e.name, array: e.array, probe: e.probe, private: e.private, pid: e.pid });
  });
  ctx.on('markers/unregistered-probe-call', (s, e) => {
    s.reports.push({ kind: 'unregistered-probe', name: e.name, array: e.array, probe: e.probe, private: e.private, pid: e.pid });
  });
  ctx.on('markers/probe-fault', (s) => {
    s.stats.probeFaults += 1;
  });
  ctx.declareEvents(['markers/probe-call']);
}
