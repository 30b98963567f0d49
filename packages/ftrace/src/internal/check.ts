import type { InvariantCheck, KernelState } from '@tracelab/core';
import type { FtraceOpsState, FtraceReport, FtraceState, FtraceTarget, ResolvedFtraceOptions } from '../events.js';
import { IDLE_FUNCTIONS, type Registry } from './registry.js';

const sliceOf = (s: KernelState): FtraceState | undefined => s.plugins.ftrace;

function describeReport(r: FtraceReport): string {
  const who = r.task.startsWith('swapper/') ? `the idle task of cpu ${r.task.slice('swapper/'.length)}` : `pid ${r.task}`;
  switch (r.kind) {
    case 'freed-in-use':
      return `${r.direct === true ? 'direct trampoline' : 'trampoline'} #${r.tramp} was freed while ${who} was executing it (it resumes on freed code)${r.direct === true ? ': its owner freed it without waiting for RCU-tasks' : ''}`;
    case 'use-after-free':
      return `${who} ${r.at === 'entry' ? 'jumped into' : 'resumed on'} ${r.direct === true ? 'direct trampoline' : 'trampoline'} #${r.tramp} (from ${r.ip}) after it was freed`;
    case 'op-mismatch':
      return `${who}, in ftrace_caller for ${r.ip}, called ops ${r.ops}'s callback with ops ${r.op ?? 'none'} as function_trace_op: ftrace_trace_function and function_trace_op were read from different updates`;
    case 'recursion':
      return `${who} re-entered ops ${r.ops}'s callback ${r.depth} deep through ${r.ip}: the ops does not set FTRACE_OPS_FL_RECURSION (so its callback must protect itself) and its callback does not: its trampoline calls it with no guard`;
    case 'recursion-lost':
      return `ops ${r.ops}'s recursion guard refused ${r.ip} called from ${describeContext(r.context)}, which was not recursion: the guard bit was held by ${describeContext(r.holder)} (a guard per task, not per context), so the interrupt's event is lost`;
    case 'ops-use-after-free':
      return `${who}, walking the ops list for ${r.ip}, reached ops ${r.ops} after its owner freed it (unregister returned before the walkers that could hold it were done)`;
    case 'fgraph-use-after-free':
      return `${who} returned from ${r.ip} through return_to_handler and called the return handler of fgraph ops ${r.gops}, which its owner had freed after unregistering it (the shadow-stack frame held the ops itself, not its fgraph_array slot)`;
    case 'ipmodify-bypassed':
      return `${who}'s call of ${r.ip} ran ${r.body === r.ip ? 'its original body' : `${r.body}'s body`}, though an IPMODIFY callback redirected it to ${r.redirect}${r.tramp !== null ? `: direct trampoline #${r.tramp} called the function through orig_call, not through the saved ip (it was never told to share the function with the IPMODIFY ops)` : ''}`;
    case 'wrong-function':
      return `trampoline #${r.tramp} called the callback of ops ${r.ops} for ${r.ip}, which that ops does not trace (${who})`;
  }
}

/** `12:irq` as "pid 12's hard interrupt context". */
function describeContext(context: string): string {
  const [task = context, level] = context.split(':');
  const who = task.startsWith('swapper/') ? `the idle task of cpu ${task.slice('swapper/'.length)}` : `pid ${task}`;
  return level === 'irq' ? `a hard interrupt on ${who}` : level === 'nmi' ? `an NMI on ${who}` : `${who}'s task context`;
}

/** Fails on the first report of one of `kinds` (the reducers file them as they happen). */
export function reportInvariant(kinds: ReadonlyArray<FtraceReport['kind']>): InvariantCheck {
  return (s) => {
    const r = sliceOf(s)?.reports.find((x) => kinds.includes(x.kind));
    return r !== undefined && describeReport(r);
  };
}

/** One ops as the refcount invariant last saw it: its state entry and its hashes as sets. */
interface OpView {
  readonly entry: FtraceOpsState;
  readonly registered: boolean;
  /** null: an empty filter (every function). */
  readonly filter: ReadonlySet<string> | null;
  readonly notrace: ReadonlySet<string> | null;
}

function viewOf(entry: FtraceOpsState): OpView {
  return {
    entry,
    registered: entry.state === 'registered',
    filter: entry.filter.length === 0 ? null : new Set(entry.filter),
    notrace: entry.notrace.length === 0 ? null : new Set(entry.notrace),
  };
}

const admits = (v: OpView, ip: string): boolean => (v.filter === null || v.filter.has(ip)) && (v.notrace === null || !v.notrace.has(ip));

/** Keys of `next` whose value is not the same object as in `prev` (immer keeps unchanged entries' identity). */
function changedKeys<V>(prev: Readonly<Record<string, V>> | null, next: Readonly<Record<string, V>>, out: (key: string) => void): void {
  for (const key in next) if (prev === null || prev[key] !== next[key]) out(key);
}

/** A map of sets, for reverse indexes (trampoline id -> ips). */
function indexMove(index: Map<number, Set<string>>, ip: string, from: number | null, to: number | null): void {
  if (from === to) return;
  if (from !== null) index.get(from)?.delete(ip);
  if (to !== null) {
    let set = index.get(to);
    if (set === undefined) index.set(to, (set = new Set()));
    set.add(ip);
  }
}

/**
 * SEMANTICS.md 4.2(d): every record's refcount equals the number of registered ops whose hashes
 * admit its ip, and TRAMP implies refcount 1 with the trampoline belonging to that one ops and
 * still allocated. The ops list and the records change in the same step, so this holds after
 * every step, mid-update included.
 *
 * Incremental: the expected refcounts are kept per ip and adjusted by the ops entries that
 * changed (identity), and only the records that changed, or whose expectation or TRAMP
 * trampoline changed, are re-checked. An ops with an empty filter counts for every record
 * (a registration or removal of one re-checks them all, once).
 */
export function recRefcountInvariant(): InvariantCheck {
  let prevOps: FtraceState['ops'] | null = null;
  let prevRecords: FtraceState['records'] | null = null;
  let prevTramps: FtraceState['trampolines'] | null = null;
  const views = new Map<number, OpView>();
  /** Registered ops with a non-empty filter that admit the ip. */
  const perIp = new Map<string, number>();
  /** Registered ops with an empty filter, and how many of them exclude each ip by notrace. */
  let allCount = 0;
  const allExcluded = new Map<string, number>();
  /** Records with TRAMP, by trampoline id (to re-check them when the trampoline changes). */
  const trampIps = new Map<number, Set<string>>();
  const recTramp = new Map<string, number>();

  const bump = (m: Map<string, number>, ip: string, d: number): void => {
    const v = (m.get(ip) ?? 0) + d;
    if (v === 0) m.delete(ip);
    else m.set(ip, v);
  };
  const expected = (ip: string): number => (perIp.get(ip) ?? 0) + allCount - (allExcluded.get(ip) ?? 0);

  return (s) => {
    const f = sliceOf(s);
    if (f === undefined || (f.ops === prevOps && f.records === prevRecords && f.trampolines === prevTramps)) return false;
    const dirty = new Set<string>();
    let all = false;
    const contribute = (v: OpView, d: number): void => {
      if (v.filter === null) {
        allCount += d;
        all = true;
        if (v.notrace !== null) for (const ip of v.notrace) bump(allExcluded, ip, d);
      } else {
        for (const ip of v.filter) {
          if (v.notrace !== null && v.notrace.has(ip)) continue;
          bump(perIp, ip, d);
          dirty.add(ip);
        }
      }
    };
    if (f.ops !== prevOps) {
      changedKeys(prevOps, f.ops, (key) => {
        const id = Number(key);
        const entry = f.ops[id]!;
        const old = views.get(id);
        const registered = entry.state === 'registered';
        if (old !== undefined && old.registered === registered && old.entry.filter === entry.filter && old.entry.notrace === entry.notrace) {
          views.set(id, { ...old, entry });
          return;
        }
        if (old?.registered === true) contribute(old, -1);
        const v = viewOf(entry);
        views.set(id, v);
        if (v.registered) contribute(v, +1);
        // A change of state (registered -> removing) matters to the records it has TRAMP on.
        if (v.entry.trampoline !== null) for (const ip of trampIps.get(v.entry.trampoline) ?? []) dirty.add(ip);
      });
    }
    if (f.records !== prevRecords) changedKeys(prevRecords, f.records, (ip) => dirty.add(ip));
    if (f.trampolines !== prevTramps) {
      changedKeys(prevTramps, f.trampolines, (key) => {
        for (const ip of trampIps.get(Number(key)) ?? []) dirty.add(ip);
      });
    }
    prevOps = f.ops;
    prevRecords = f.records;
    prevTramps = f.trampolines;
    const check = (ip: string): string | null => {
      const rec = f.records[ip];
      const t = rec?.tramp ?? null;
      indexMove(trampIps, ip, recTramp.get(ip) ?? null, t);
      if (t === null) recTramp.delete(ip);
      else recTramp.set(ip, t);
      const want = expected(ip);
      if (rec === undefined) {
        // An empty-filter ops traces the functions known at its updates (docs/ftrace.md, decision 8);
        // an ops that names a function must have raised its record.
        return (perIp.get(ip) ?? 0) > 0 ? `an ops traces ${ip} by its filter, but ${ip} has no record (refcount 0)` : null;
      }
      if (rec.refcount !== want) {
        const tracers = [...views.values()].filter((v) => v.registered && admits(v, ip)).map((v) => v.entry.label);
        return `record ${ip} has refcount ${rec.refcount}, but ${want} registered ops trace it${tracers.length > 0 ? ` (${tracers.join(', ')})` : ''}`;
      }
      if (t !== null) {
        const tr = f.trampolines[t];
        const owner = tr === undefined ? undefined : views.get(tr.ops);
        if (rec.refcount !== 1 || tr === undefined || tr.state !== 'allocated' || owner === undefined || !owner.registered || !admits(owner, ip)) {
          return `record ${ip} has TRAMP (trampoline #${t}) with refcount ${rec.refcount}; TRAMP needs exactly one tracing ops owning an allocated trampoline`;
        }
      }
      return null;
    };
    if (all) for (const ip in f.records) dirty.add(ip);
    for (const ip of dirty) {
      const why = check(ip);
      if (why !== null) return why;
    }
    return false;
  };
}

/**
 * What the sites call:
 * - always: no site targets a trampoline that is retired or freed;
 * - once no update is in progress (sites are patched one by one, with scheduling points, so
 *   mid-update a site may still call what its record no longer wants): every site calls what
 *   its record says (nop at refcount 0, its TRAMP trampoline, else the list caller), so a site
 *   that targets a trampoline has that trampoline's ops as its only tracer;
 * - always: the hot sites (what the fast path calls) agree with the folded records.
 *
 * Incremental: only records that changed (identity), records that target or have TRAMP on a
 * trampoline that changed, and the sites the registry marked dirty are re-checked; records
 * that changed during an update are checked against their wanted target when it ends.
 */
export function siteTargetInvariant(reg: Registry, options: ResolvedFtraceOptions): InvariantCheck {
  let prev: FtraceState | null = null;
  /** Records by the trampoline they target / have TRAMP on. */
  const targetIps = new Map<number, Set<string>>();
  const trampIps = new Map<number, Set<string>>();
  const recTarget = new Map<string, number>();
  const recTramp = new Map<string, number>();
  /** Records changed during the update in progress: checked against their wanted target when it ends. */
  const pending = new Set<string>();
  return (s) => {
    const f = sliceOf(s);
    if (f === undefined) return false;
    if (prev !== null && f.records === prev.records && f.updating === prev.updating && f.trampolines === prev.trampolines && reg.dirty.size === 0) return false;
    const dirty = new Set<string>();
    if (prev === null || f.records !== prev.records) changedKeys(prev?.records ?? null, f.records, (ip) => dirty.add(ip));
    if (prev === null || f.trampolines !== prev.trampolines) {
      changedKeys(prev?.trampolines ?? null, f.trampolines, (key) => {
        for (const ip of targetIps.get(Number(key)) ?? []) dirty.add(ip);
        for (const ip of trampIps.get(Number(key)) ?? []) dirty.add(ip);
      });
    }
    for (const site of reg.dirty) dirty.add(site.ip);
    reg.dirty.clear();
    prev = f;
    for (const ip of dirty) {
      const rec = f.records[ip];
      const target = typeof rec?.target === 'number' ? rec.target : null;
      indexMove(targetIps, ip, recTarget.get(ip) ?? null, target);
      if (target === null) recTarget.delete(ip);
      else recTarget.set(ip, target);
      const tramp = rec?.tramp ?? null;
      indexMove(trampIps, ip, recTramp.get(ip) ?? null, tramp);
      if (tramp === null) recTramp.delete(ip);
      else recTramp.set(ip, tramp);
      if (target !== null) {
        const t = f.trampolines[target];
        if (t === undefined || t.state !== 'allocated') return `site ${ip} calls trampoline #${target}, which is ${t?.state ?? 'unknown'}`;
      }
      const site = reg.sites.get(ip);
      const refcount = rec?.refcount ?? 0;
      const hotTarget: FtraceTarget = site?.targetId ?? 'nop';
      if ((site?.refcount ?? 0) !== refcount || (site?.tramp?.id ?? null) !== tramp || hotTarget !== (rec?.target ?? 'nop')) {
        return `site ${ip}: the registry has refcount ${site?.refcount ?? 0}, TRAMP ${site?.tramp?.id ?? 'none'}, target ${hotTarget}; the state has ${refcount}, ${tramp ?? 'none'}, ${rec?.target ?? 'nop'}`;
      }
      pending.add(ip);
    }
    if (f.updating !== null) return false;
    for (const ip of pending) {
      const rec = f.records[ip];
      if (rec === undefined) continue;
      let want: FtraceTarget = 'list';
      const directEntry = f.directFunctions?.[ip];
      if (rec.refcount === 0) want = 'nop';
      else if (rec.direct === true && rec.refcount === 1 && directEntry !== undefined) want = directEntry.tramp;
      else if (rec.tramp !== null) {
        const owner = f.ops[f.trampolines[rec.tramp]?.ops ?? -1];
        const refused = options.idleTrampolines === 'refuse' && IDLE_FUNCTIONS.has(ip) && owner?.flags.includes('DYNAMIC') === true;
        if (!refused) want = rec.tramp;
      }
      if (rec.target !== want) {
        if (typeof rec.target === 'number')
          return `site ${ip} calls trampoline #${rec.target} but has refcount ${rec.refcount}${rec.tramp === null ? ' without TRAMP' : ` and TRAMP #${rec.tramp}`}: a site on a trampoline must have that ops as its only tracer`;
        return `site ${ip} calls ${rec.target}, but its record (refcount ${rec.refcount}, TRAMP ${rec.tramp ?? 'none'}) wants ${want}`;
      }
    }
    pending.clear();
    return false;
  };
}

/**
 * The direct-call flags of each record against direct_functions (FTRACE_FL_DIRECT and
 * FTRACE_FL_DIRECT_EN):
 * - always: DIRECT iff the ip has a direct_functions entry whose direct ops is registered (the
 *   entry is added before that ops is registered and removed after it is unregistered, and the
 *   record follows the ops list in the step that changes it); every entry names an allocated
 *   direct trampoline; a site that calls a direct trampoline has DIRECT_EN;
 * - outside an update: DIRECT_EN iff the site calls the direct trampoline of its entry, which is
 *   exactly when DIRECT is set and the direct ops is the site's only tracer (with other tracers
 *   the site takes the list function, whose call_direct_funcs makes the caller jump to it).
 *
 * Re-checks the records that changed and, when direct_functions, the ops or the trampolines
 * changed, every record named by an entry or flagged DIRECT (few: direct calls name their
 * functions). Nothing to do in a stack that never used a direct call.
 */
export function directRecordInvariant(): InvariantCheck {
  let prev: FtraceState | null = null;
  /** Records flagged DIRECT or DIRECT_EN as last seen. */
  const flagged = new Set<string>();
  return (s) => {
    const f = sliceOf(s);
    if (f === undefined || f.directFunctions === undefined) return false;
    if (
      prev !== null &&
      f.records === prev.records &&
      f.directFunctions === prev.directFunctions &&
      f.ops === prev.ops &&
      f.trampolines === prev.trampolines &&
      f.updating === prev.updating
    )
      return false;
    const hash = f.directFunctions;
    const dirty = new Set<string>(flagged);
    changedKeys(prev?.records ?? null, f.records, (ip) => dirty.add(ip));
    for (const ip in hash) dirty.add(ip);
    prev = f;
    for (const ip of dirty) {
      const rec = f.records[ip];
      if (rec?.direct === true || rec?.directEn === true) flagged.add(ip);
      else flagged.delete(ip);
      const entry = hash[ip];
      const live = entry !== undefined && f.ops[entry.ops]?.state === 'registered';
      if (entry !== undefined) {
        const t = f.trampolines[entry.tramp];
        if (t === undefined || t.state !== 'allocated')
          return `direct_functions maps ${ip} to direct trampoline #${entry.tramp}, which is ${t?.state ?? 'unknown'}`;
      }
      if ((rec?.direct === true) !== live) {
        return rec?.direct === true
          ? `record ${ip} has FTRACE_FL_DIRECT, but ${entry === undefined ? 'direct_functions has no entry for it' : `its direct ops ${entry.ops} is not registered`}`
          : `direct_functions maps ${ip} to trampoline #${entry!.tramp} for registered direct ops ${entry!.ops}, but its record lacks FTRACE_FL_DIRECT`;
      }
      if (rec === undefined) continue;
      const onDirect = typeof rec.target === 'number' && f.trampolines[rec.target]?.direct === true;
      if (onDirect && rec.directEn !== true) return `site ${ip} calls direct trampoline #${String(rec.target)} without FTRACE_FL_DIRECT_EN`;
      if (f.updating !== null) continue;
      const wantEn = rec.direct === true && rec.refcount === 1 && entry !== undefined && rec.target === entry.tramp;
      const shouldBeOnIt = rec.direct === true && rec.refcount === 1;
      if ((rec.directEn === true) !== wantEn || shouldBeOnIt !== wantEn) {
        return `site ${ip}: FTRACE_FL_DIRECT_EN is ${rec.directEn === true ? 'set' : 'clear'} with refcount ${rec.refcount}, DIRECT ${rec.direct === true ? 'set' : 'clear'}, target ${String(rec.target)}${entry !== undefined ? ` and direct_functions entry #${entry.tramp}` : ''}: a site whose only tracer is a direct ops calls its direct trampoline, and only such a site has DIRECT_EN`;
      }
    }
    return false;
  };
}
