import type { KernelEvent, KernelState, PluginContext } from '@tracelab/core';
import type { ProbeRef, TracepointState, TracepointsState } from '../events.js';
import { appended, copyObject, withField, withKey, withoutKey, type Mutable } from '@tracelab/core';

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

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the core's copies: `withField`, `withKey`, ...), or the slice itself when the event changes nothing; no
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part"). A copy made by
// a reducer is written in place until the reducer returns it (it is its alone).

type Stats = TracepointsState['stats'];

/**
 * Into the slice copy `out`, with the tracepoint `name` now `tp` (a copy the caller is writing): its
 * array changes from its previous one to `next`, and the previous leaves the published state.
 */
function replaceArray(out: Mutable<TracepointsState>, name: string, tp: Mutable<TracepointState>, next: number | null, probes: number): void {
  const prev = tp.array;
  if (prev !== null && prev !== next) {
    const a = out.arrays[String(prev)];
    if (a !== undefined) out.arrays = withKey(out.arrays, String(prev), withField(a, 'state', 'retired'));
  }
  if (next !== null && next !== prev)
    out.arrays = withKey(out.arrays, String(next), { id: next, tracepoint: name, probes, state: 'published', flavour: null, freeAfterGp: null });
  tp.array = next;
}

/** `stats` with `counter` raised by `by` (the same object for 0). */
function counted(stats: Stats, counter: keyof Stats, by: number): Stats {
  return withField(stats, counter, stats[counter] + by);
}

/** The slice with tracepoint `name`'s field `key` set (it must exist). */
function withTpField<K extends keyof TracepointState>(s: TracepointsState, name: string, key: K, value: TracepointState[K]): TracepointsState {
  return withField(s, 'tracepoints', withKey(s.tracepoints, name, withField(s.tracepoints[name]!, key, value)));
}

function registered(s: TracepointsState, e: KernelEvent<'tracepoints/registered'>): TracepointsState {
  const out = copyObject(s);
  const tp = copyObject(s.tracepoints[e.name]!);
  // The new array drops the stubs (func_add purges them) and inserts the probe at `index`.
  const probes = tp.probes.filter((p) => !p.stub);
  probes.splice(e.index, 0, { probe: e.probe, data: e.data, prio: e.prio, stub: false });
  tp.probes = probes;
  replaceArray(out, e.name, tp, e.array, e.probes);
  out.tracepoints = withKey(s.tracepoints, e.name, tp);
  out.version = s.version + 1;
  out.stats = counted(s.stats, 'registered', 1);
  return out;
}

function unregistered(s: TracepointsState, e: KernelEvent<'tracepoints/unregistered'>): TracepointsState {
  const out = copyObject(s);
  const tp = copyObject(s.tracepoints[e.name]!);
  // What leaves: the pair, and every stub; with NULL published, every entry (the going
  // notifier removes all of a module's probes at once, `probe: '*'`).
  const goes = (p: { probe: string; data: string; stub: boolean }): boolean => e.array === null || p.stub || (p.probe === e.probe && p.data === e.data);
  out.version = s.version + 1;
  for (const p of tp.probes) if (!p.stub && goes(p)) out.unregisteredAt = withKey(out.unregisteredAt, pairKey(e.name, p.probe, p.data), out.version);
  tp.probes = tp.probes.filter((p) => !goes(p));
  replaceArray(out, e.name, tp, e.array, e.probes);
  out.tracepoints = withKey(s.tracepoints, e.name, tp);
  out.stats = counted(s.stats, 'unregistered', e.removed);
  return out;
}

function stubInstalled(s: TracepointsState, e: KernelEvent<'tracepoints/stub-installed'>): TracepointsState {
  const out = copyObject(s);
  const tp = s.tracepoints[e.name]!;
  let probes: ProbeRef[] | null = null;
  tp.probes.forEach((p, i) => {
    if (p.probe === e.probe && p.data === e.data && !p.stub) (probes ??= tp.probes.slice())[i] = withField(p, 'stub', true);
  });
  if (probes !== null) out.tracepoints = withKey(s.tracepoints, e.name, withField(tp, 'probes', probes));
  out.version = s.version + 1;
  out.unregisteredAt = withKey(s.unregisteredAt, pairKey(e.name, e.probe, e.data), out.version);
  out.stats = counted(counted(s.stats, 'unregistered', 1), 'stubs', e.stubs);
  return out;
}

function arrayFreed(s: TracepointsState, e: KernelEvent<'tracepoints/array-freed'>): TracepointsState {
  const out = copyObject(s);
  const a = s.arrays[String(e.array)];
  // SEMANTICS 2.2(d): freed only after a grace period of the readers' flavour that began after
  // the retirement. The unsafe immediate free ('none') is the variant's own choice: what it
  // breaks is caught at the call site (tracepoints/freed-array), not here.
  if (e.flavour !== 'none' && (a === undefined || a.freeAfterGp === null || e.completed < a.freeAfterGp))
    out.earlyFrees = appended(s.earlyFrees, { tracepoint: e.name, array: e.array, flavour: e.flavour, gp: a?.freeAfterGp ?? null, completed: e.completed });
  out.arrays = withoutKey(s.arrays, String(e.array));
  out.stats = counted(s.stats, 'freed', 1);
  return out;
}

/** Declares the plugin's events with their reducers: the slice is a fold of them. */
export function registerReducers(ctx: PluginContext<TracepointsState>): void {
  ctx.initSlice(initialTracepointsState());
  ctx.onPlain('tracepoints/defined', (s, e) =>
    withField(
      s,
      'tracepoints',
      withKey(s.tracepoints, e.name, {
        name: e.name,
        module: e.module,
        faultable: e.faultable,
        enabled: false,
        probes: [],
        array: null,
        staticCall: 'iterator',
      }),
    ),
  );
  ctx.onPlain('tracepoints/removed', (s, e) => withField(s, 'tracepoints', withoutKey(s.tracepoints, e.name)));
  ctx.onPlain('tracepoints/registered', registered);
  ctx.onPlain('tracepoints/unregistered', unregistered);
  ctx.onPlain('tracepoints/stub-installed', stubInstalled);
  ctx.onPlain('tracepoints/key', (s, e) => withTpField(s, e.name, 'enabled', e.enabled));
  ctx.onPlain('tracepoints/static-call', (s, e) => withTpField(s, e.name, 'staticCall', e.target));
  ctx.onPlain('tracepoints/snapshot', (s, e) =>
    withField(s, 'snapshots', withKey(s.snapshots, e.sync, { rcu: e.rcu, trace: e.trace }) as TracepointsState['snapshots']),
  );
  ctx.onPlain('tracepoints/transition-sync', (s, e) => {
    let out = s;
    if (e.skipped === null) out = withField(out, 'snapshots', withKey(out.snapshots, e.sync, null) as TracepointsState['snapshots']);
    if (e.waited) out = withField(out, 'stats', counted(out.stats, 'transitionWaits', 1));
    return out;
  });
  ctx.onPlain('tracepoints/array-retired', (s, e) => {
    const out = copyObject(s);
    const a = s.arrays[String(e.array)];
    if (a !== undefined)
      out.arrays = withKey(s.arrays, String(e.array), withField(withField(withField(a, 'state', 'retired'), 'flavour', e.flavour), 'freeAfterGp', e.gp));
    out.stats = counted(s.stats, 'retired', 1);
    return out;
  });
  ctx.onPlain('tracepoints/array-freed', arrayFreed);
  ctx.onPlain('tracepoints/freed-array-call', (s, e) =>
    withField(s, 'reports', appended(s.reports, { kind: 'freed-array', tracepoint: e.name, array: e.array, probe: e.probe, data: e.data, pid: e.pid })),
  );
  ctx.onPlain('tracepoints/unregistered-probe-call', (s, e) =>
    withField(s, 'reports', appended(s.reports, { kind: 'unregistered-probe', tracepoint: e.name, array: e.array, probe: e.probe, data: e.data, pid: e.pid })),
  );
  ctx.declareEvents(['tracepoints/regfunc', 'tracepoints/unregfunc', 'tracepoints/module-probes-removed', 'tracepoints/probe-call']);
}
