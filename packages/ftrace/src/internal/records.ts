import type { FtraceDirectOps, FtraceOps } from '../events.js';
import { expandFilter } from './glob.js';
import { IDLE_FUNCTIONS, OpsRec, opsTraces, type Site, type Trampoline } from './registry.js';
import type { FtraceRuntime } from './runtime.js';

/**
 * Host-side plumbing of the update paths (ftrace.ts): which functions are new to ftrace, which
 * sites an ops' hashes admit, where a record says its site must call, and ftrace's own record
 * of an ops object. Called with ftrace_lock held, except declareSites' host-side callers.
 */

/**
 * The functions the kernel has defined since the last update (in definition order), now
 * known to ftrace: the update brings their records up to date before anything else. Whether
 * a host read or an unregistered ops' filter created their Site object already does not
 * matter: "known" is `ft.reg.syncedNames`, not `ft.reg.sites`.
 */
export function syncSites(ft: FtraceRuntime): Site[] {
  const fresh: Site[] = [];
  const names = Object.keys(ft.ctx.state().functions);
  for (let i = ft.reg.synced.length; i < names.length; i++) {
    const name = names[i]!;
    if (ft.reg.syncedNames.has(name)) continue;
    const site = ft.reg.site(name);
    ft.reg.synced.push(site);
    ft.reg.syncedNames.add(name);
    fresh.push(site);
  }
  return fresh;
}

/** The sites an ops' hashes admit (every known function for an empty filter, in definition order). */
export function sitesOf(ft: FtraceRuntime, op: OpsRec): Site[] {
  const out: Site[] = [];
  if (op.filter === null) {
    for (const s of ft.reg.synced) if (opsTraces(op, s.ip)) out.push(s);
  } else {
    for (const ip of op.filter) if (opsTraces(op, ip)) out.push(ft.reg.site(ip));
  }
  return out;
}

/** Whether `site` may call trampoline `t` at all (the idle-loop rule). */
export function trampolineAllowed(ft: FtraceRuntime, site: Site, t: Trampoline): boolean {
  return !(t.ops.dynamic && ft.options.idleTrampolines === 'refuse' && IDLE_FUNCTIONS.has(site.ip));
}

/**
 * ftrace_get_addr_new: where the record says its site must call. Direct calls take precedence:
 * a site whose one tracing ops is a direct ops calls its direct_functions trampoline itself.
 */
export function wantedTarget(ft: FtraceRuntime, site: Site): 'nop' | 'list' | Trampoline {
  if (site.refcount === 0) return 'nop';
  if (site.direct && site.refcount === 1) {
    const d = ft.reg.directFunctions.get(site.ip);
    if (d !== undefined) return d;
  }
  if (site.tramp !== null && trampolineAllowed(ft, site, site.tramp)) return site.tramp;
  return 'list';
}

/** ftrace's record of an ops object: made (id, label, expanded hashes) the first time the object is seen, then the same. */
export function opsRecOf(ft: FtraceRuntime, ops: FtraceOps, kind: 'ops' | 'direct' | 'stub' = 'ops'): OpsRec {
  let op = ft.reg.byOps.get(ops);
  if (op === undefined) {
    const id = ft.reg.nextOpsId++;
    const label = `${ops.label ?? (ops.func.name !== '' ? ops.func.name : 'ops')}#${id}`;
    op = new OpsRec(id, ops, label, ops.flags?.includes('DYNAMIC') ?? false, kind !== 'ops', kind === 'stub');
    // Patterns in the ops' own lists are expanded against the functions defined now; one that
    // matches nothing makes the registration fail with -EINVAL (see registerFtraceFunction).
    const known = Object.keys(ft.ctx.state().functions);
    const f = expandFilter(ops.filter ?? [], known);
    const n = expandFilter(ops.notrace ?? [], known);
    op.unmatched = 'unmatched' in f ? f.unmatched : 'unmatched' in n ? n.unmatched : null;
    op.setHashes('names' in f ? f.names : [], 'names' in n ? n.names : []);
    ft.reg.byOps.set(ops, op);
    ft.reg.opsById.set(id, op);
  }
  return op;
}

/** Declares the mcount sites of plain function names (an ops' filter) and makes their Site objects. */
export function declareSites(ft: FtraceRuntime, names: readonly string[]): void {
  for (const name of names) {
    ft.ctx.defineFunction(name);
    ft.reg.site(name);
  }
}

/**
 * ftrace's record of a direct ops object (register_ftrace_direct sets its func and flags): the
 * ops it registers is one whose func is call_direct_funcs, which on the fast path calls the
 * ops' direct_call image right away (the simulated path jumps to it after the list walk).
 */
export function directOpsRecOf(ft: FtraceRuntime, dops: FtraceDirectOps): OpsRec {
  const known = ft.reg.byOps.get(dops as unknown as FtraceOps);
  if (known !== undefined) return known;
  let rec: OpsRec | null = null;
  const ops: FtraceOps = {
    func: function call_direct_funcs(ip, parentIp) {
      const t = rec?.directCall ?? null;
      if (t !== null && t.image !== null) void t.image.func(ip, parentIp);
    },
    filter: dops.filter,
    flags: dops.flags ?? [],
    label: dops.label ?? 'direct',
  };
  rec = opsRecOf(ft, ops, 'direct');
  rec.opsFunc = dops.opsFunc ?? null;
  // Known by the caller's object from now on.
  ft.reg.byOps.delete(ops);
  ft.reg.byOps.set(dops as unknown as FtraceOps, rec);
  return rec;
}
