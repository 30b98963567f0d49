import type { InvariantCheck, KernelState } from '@tracelab/core';
import type { FtraceOpsState, FtraceReport, FtraceState, FtraceTarget, ResolvedFtraceOptions } from '../events.js';
import { IDLE_FUNCTIONS, type Registry } from './registry.js';

const sliceOf = (s: KernelState): FtraceState | undefined => s.plugins.ftrace;

function describeReport(r: FtraceReport): string {
  const who = r.task.startsWith('swapper/') ? `the idle task of cpu ${r.task.slice('swapper/'.length)}` : `pid ${r.task}`;
  switch (r.kind) {
    case 'freed-in-use':
      return `trampoline #${r.tramp} was freed while ${who} was executing it (it resumes on freed code)`;
    case 'use-after-free':
      return `${who} ${r.at === 'entry' ? 'jumped into' : 'resumed on'} trampoline #${r.tramp} (from ${r.ip}) after it was freed`;
    case 'wrong-function':
      return `trampoline #${r.tramp} called the callback of ops ${r.ops} for ${r.ip}, which that ops does not trace (${who})`;
  }
}

/** Fails on the first report of one of `kinds` (the reducers file them as they happen). */
export function reportInvariant(kinds: ReadonlyArray<FtraceReport['kind']>): InvariantCheck {
  return (s) => {
    const r = sliceOf(s)?.reports.find((x) => kinds.includes(x.kind));
    return r !== undefined && describeReport(r);
  };
}

/** ftrace_ops_test over the state's copy of the hashes. */
interface Hashes {
  readonly id: number;
  readonly filter: ReadonlySet<string> | null;
  readonly notrace: ReadonlySet<string> | null;
  readonly op: FtraceOpsState;
}

function registeredHashes(f: FtraceState): Hashes[] {
  const out: Hashes[] = [];
  for (const [id, op] of Object.entries(f.ops)) {
    if (op.state !== 'registered') continue;
    out.push({ id: Number(id), op, filter: op.filter.length === 0 ? null : new Set(op.filter), notrace: op.notrace.length === 0 ? null : new Set(op.notrace) });
  }
  return out;
}

const admits = (h: Hashes, ip: string): boolean => (h.filter === null || h.filter.has(ip)) && (h.notrace === null || !h.notrace.has(ip));

/**
 * SEMANTICS.md 4.2(d): every record's refcount equals the number of registered ops whose hashes
 * admit its ip, and TRAMP implies refcount 1 with the trampoline belonging to that one ops and
 * still allocated. The ops list and the records change in the same step, so this holds after
 * every step, mid-update included. Re-checked only when the ops or records changed.
 */
export function recRefcountInvariant(): InvariantCheck {
  let checkedOps: FtraceState['ops'] | null = null;
  let checkedRecords: FtraceState['records'] | null = null;
  return (s) => {
    const f = sliceOf(s);
    if (f === undefined || (f.ops === checkedOps && f.records === checkedRecords)) return false;
    const regd = registeredHashes(f);
    for (const [ip, rec] of Object.entries(f.records)) {
      const tracers = regd.filter((h) => admits(h, ip));
      if (rec.refcount !== tracers.length) {
        return `record ${ip} has refcount ${rec.refcount}, but ${tracers.length} registered ops trace it${tracers.length > 0 ? ` (${tracers.map((h) => h.op.label).join(', ')})` : ''}`;
      }
      if (rec.tramp !== null) {
        const t = f.trampolines[rec.tramp];
        if (rec.refcount !== 1 || t === undefined || t.ops !== tracers[0]!.id || t.state !== 'allocated') {
          return `record ${ip} has TRAMP (trampoline #${rec.tramp}) with refcount ${rec.refcount}; TRAMP needs exactly one tracing ops owning an allocated trampoline`;
        }
      }
    }
    for (const h of regd) {
      if (h.filter === null) continue;
      for (const ip of h.filter) {
        if (admits(h, ip) && (f.records[ip]?.refcount ?? 0) < 1) return `ops ${h.op.label} traces ${ip}, whose record has refcount 0`;
      }
    }
    checkedOps = f.ops;
    checkedRecords = f.records;
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
 */
export function siteTargetInvariant(reg: Registry, options: ResolvedFtraceOptions): InvariantCheck {
  let checkedSlice: FtraceState | null = null;
  let checkedHot = -1;
  return (s) => {
    const f = sliceOf(s);
    if (f === undefined) return false;
    if (f.records === checkedSlice?.records && f.updating === checkedSlice.updating && f.trampolines === checkedSlice.trampolines && reg.hotVersion === checkedHot) return false;
    for (const [ip, rec] of Object.entries(f.records)) {
      if (typeof rec.target === 'number') {
        const t = f.trampolines[rec.target];
        if (t === undefined || t.state !== 'allocated') return `site ${ip} calls trampoline #${rec.target}, which is ${t?.state ?? 'unknown'}`;
      }
      if (f.updating !== null) continue;
      let want: FtraceTarget = 'list';
      if (rec.refcount === 0) want = 'nop';
      else if (rec.tramp !== null) {
        const owner = f.ops[f.trampolines[rec.tramp]?.ops ?? -1];
        const refused = options.idleTrampolines === 'refuse' && IDLE_FUNCTIONS.has(ip) && owner?.flags.includes('DYNAMIC') === true;
        if (!refused) want = rec.tramp;
      }
      if (rec.target !== want) {
        if (typeof rec.target === 'number') return `site ${ip} calls trampoline #${rec.target} but has refcount ${rec.refcount}${rec.tramp === null ? ' without TRAMP' : ` and TRAMP #${rec.tramp}`}: a site on a trampoline must have that ops as its only tracer`;
        return `site ${ip} calls ${rec.target}, but its record (refcount ${rec.refcount}, TRAMP ${rec.tramp ?? 'none'}) wants ${want}`;
      }
    }
    for (const site of reg.sites.values()) {
      const rec = f.records[site.ip];
      const refcount = rec?.refcount ?? 0;
      const tramp = rec?.tramp ?? null;
      const target = rec?.target ?? 'nop';
      if (site.refcount !== refcount || (site.tramp?.id ?? null) !== tramp || site.targetId !== target) {
        return `site ${site.ip}: the registry has refcount ${site.refcount}, TRAMP ${site.tramp?.id ?? 'none'}, target ${site.targetId}; the state has ${refcount}, ${tramp ?? 'none'}, ${target}`;
      }
    }
    checkedSlice = f;
    checkedHot = reg.hotVersion;
    return false;
  };
}
