import { appended, withKey, without, withoutKey, type KernelEvent, type Mutable, type PluginContext } from '@tracelab/core';
import type { MarkerEntryState, MarkersState, ProbeArrayState, ProbeRef } from '../types.js';

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

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the same object when nothing changed), which the core freezes. No
// immer draft: the fold of a marker event was most of its cost (docs/benchmarks.md, "Plugin
// slices without drafts"). Copies are written field by field, not spread: spreading a frozen
// object leaves V8's fast clone path on Node 20 (docs/benchmarks.md, "No spreads of frozen
// objects"). A new object is written in place until the reducer returns it (it is its alone). The
// generic copies (`withKey`, `withoutKey`, `appended`, `without`) are the core's.

type Stats = MarkersState['stats'];

function copySlice(s: MarkersState): Mutable<MarkersState> {
  return {
    entries: s.entries,
    arrays: s.arrays,
    version: s.version,
    unregisteredAt: s.unregisteredAt,
    reports: s.reports,
    earlyFrees: s.earlyFrees,
    stats: s.stats,
  };
}

function copyStats(t: Stats): Mutable<Stats> {
  return { registered: t.registered, unregistered: t.unregistered, retired: t.retired, freed: t.freed, armings: t.armings, probeFaults: t.probeFaults };
}

function copyEntry(e: MarkerEntryState): Mutable<MarkerEntryState> {
  return { name: e.name, format: e.format, probes: e.probes, array: e.array, rcuPending: e.rcuPending, inFlight: e.inFlight };
}

function copyArray(a: ProbeArrayState): Mutable<ProbeArrayState> {
  return { id: a.id, name: a.name, probes: a.probes, state: a.state, freeAfterGp: a.freeAfterGp };
}

/** `list` with `item` inserted at `i`, as `splice(i, 0, item)` would (past the end appends, a negative index counts from the end). */
function inserted<T>(list: readonly T[], i: number, item: T): T[] {
  const at = i < 0 ? Math.max(list.length + i, 0) : Math.min(i, list.length);
  const next = new Array<T>(list.length + 1);
  for (let j = 0; j < at; j++) next[j] = list[j]!;
  next[at] = item;
  for (let j = at; j < list.length; j++) next[j + 1] = list[j]!;
  return next;
}

/**
 * Into the slice copy `out`, with the entry `name` now `entry` (a copy the caller is writing):
 * the entry's previous array leaves the published state when a registration replaces it, and
 * the new one (if any) is published.
 */
function replaceArray(out: Mutable<MarkersState>, entry: Mutable<MarkerEntryState>, next: number | null, probes: number): void {
  const prev = entry.array;
  let arrays = out.arrays;
  if (prev !== null && prev !== next) {
    const a = arrays[String(prev)];
    if (a !== undefined && a.state !== 'retired') {
      const c = copyArray(a);
      c.state = 'retired';
      arrays = withKey(arrays, String(prev), c);
    }
  }
  if (next !== null && next !== prev) arrays = withKey(arrays, String(next), { id: next, name: entry.name, probes, state: 'published', freeAfterGp: null });
  out.arrays = arrays;
  entry.array = next;
}

function probeRegistered(s: MarkersState, e: KernelEvent<'markers/probe-registered'>): MarkersState {
  const out = copySlice(s);
  const entry = copyEntry(s.entries[e.name]!);
  const ref: ProbeRef = { probe: e.probe, private: e.private, prio: e.prio };
  entry.probes = inserted(entry.probes, e.index, ref);
  replaceArray(out, entry, e.array, e.probes);
  out.entries = withKey(s.entries, e.name, entry);
  out.version = s.version + 1;
  const stats = copyStats(s.stats);
  stats.registered += 1;
  out.stats = stats;
  return out;
}

function probeUnregistered(s: MarkersState, e: KernelEvent<'markers/probe-unregistered'>): MarkersState {
  const out = copySlice(s);
  const entry = copyEntry(s.entries[e.name]!);
  const i = entry.probes.findIndex((p) => p.probe === e.probe && p.private === e.private);
  if (i >= 0) entry.probes = without(entry.probes, i);
  replaceArray(out, entry, e.array, e.probes);
  out.entries = withKey(s.entries, e.name, entry);
  out.version = s.version + 1;
  out.unregisteredAt = withKey(s.unregisteredAt, `${e.name}|${e.probe}|${e.private}`, out.version);
  const stats = copyStats(s.stats);
  stats.unregistered += 1;
  out.stats = stats;
  return out;
}

function arrayRetired(s: MarkersState, e: KernelEvent<'markers/array-retired'>): MarkersState {
  // The array already left the published state with the registration that replaced it; this
  // is the hand-off to the allocator (at once) or to call_rcu_sched (rcu_pending = 1).
  const out = copySlice(s);
  if (e.array !== null) {
    const a = s.arrays[String(e.array)];
    if (a !== undefined && a.freeAfterGp !== e.gp) {
      const c = copyArray(a);
      c.freeAfterGp = e.gp;
      out.arrays = withKey(s.arrays, String(e.array), c);
    }
  }
  const entry = s.entries[e.name];
  if (e.deferred && entry !== undefined) {
    const c = copyEntry(entry);
    c.rcuPending = true;
    c.inFlight += 1;
    out.entries = withKey(s.entries, e.name, c);
  }
  const stats = copyStats(s.stats);
  stats.retired += 1;
  out.stats = stats;
  return out;
}

function arrayFreed(s: MarkersState, e: KernelEvent<'markers/array-freed'>): MarkersState {
  const out = copySlice(s);
  if (e.array !== null) {
    const key = String(e.array);
    // SEMANTICS 2.1(d): freed only once the grace period recorded at its retirement completed.
    const need = s.arrays[key]?.freeAfterGp ?? null;
    if (need === null || e.completed < need) out.earlyFrees = appended(s.earlyFrees, { name: e.name, array: e.array, gp: need, completed: e.completed });
    if (key in s.arrays) out.arrays = withoutKey(s.arrays, key);
  }
  const entry = s.entries[e.name];
  if (e.deferred && entry !== undefined) {
    const c = copyEntry(entry);
    c.rcuPending = false;
    c.inFlight -= 1;
    out.entries = withKey(s.entries, e.name, c);
  }
  const stats = copyStats(s.stats);
  stats.freed += 1;
  out.stats = stats;
  return out;
}

/** The slice with one counter bumped. */
function bumped(s: MarkersState, counter: keyof Stats): MarkersState {
  const out = copySlice(s);
  const stats = copyStats(s.stats);
  stats[counter] += 1;
  out.stats = stats;
  return out;
}

/** Declares the plugin's events with their reducers: the slice is a fold of them, nothing else. */
export function registerReducers(ctx: PluginContext<MarkersState>): void {
  ctx.initSlice(initialMarkersState());
  ctx.onPlain('markers/entry-created', (s, e) => {
    const out = copySlice(s);
    out.entries = withKey(s.entries, e.name, { name: e.name, format: e.format, probes: [], array: null, rcuPending: false, inFlight: 0 });
    return out;
  });
  ctx.onPlain('markers/format-set', (s, e) => {
    const entry = s.entries[e.name]!;
    if (entry.format === e.format) return s;
    const c = copyEntry(entry);
    c.format = e.format;
    const out = copySlice(s);
    out.entries = withKey(s.entries, e.name, c);
    return out;
  });
  ctx.onPlain('markers/entry-removed', (s, e) => {
    if (!(e.name in s.entries)) return s;
    const out = copySlice(s);
    out.entries = withoutKey(s.entries, e.name);
    return out;
  });
  ctx.onPlain('markers/probe-registered', probeRegistered);
  ctx.onPlain('markers/probe-unregistered', probeUnregistered);
  ctx.onPlain('markers/array-retired', arrayRetired);
  ctx.onPlain('markers/array-freed', arrayFreed);
  ctx.onPlain('markers/site-armed', (s) => bumped(s, 'armings'));
  ctx.onPlain('markers/use-after-free', (s, e) => {
    const out = copySlice(s);
    out.reports = appended(s.reports, { kind: 'use-after-free', name: e.name, array: e.array, probe: e.probe, private: e.private, pid: e.pid });
    return out;
  });
  ctx.onPlain('markers/unregistered-probe-call', (s, e) => {
    const out = copySlice(s);
    out.reports = appended(s.reports, { kind: 'unregistered-probe', name: e.name, array: e.array, probe: e.probe, private: e.private, pid: e.pid });
    return out;
  });
  ctx.onPlain('markers/probe-fault', (s) => bumped(s, 'probeFaults'));
  ctx.declareEvents(['markers/probe-call']);
}
