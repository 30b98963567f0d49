import type { PluginContext } from '@tracelab/core';
import type { MarkersState } from '../types.js';
import type { MarkersInstance } from './instance.js';
import { closuresOf, type Registry } from './registry.js';

/**
 * The invariants (README "Invariants"). Those over reports and early frees read the slice
 * only; `rcu-pending` and `registry-matches-state` hold the hot registry to it.
 */
export function registerInvariants(ctx: PluginContext<MarkersState>, m: MarkersInstance): void {
  ctx.invariant('markers/no-use-after-free', (s) => {
    const r = s.plugins.markers?.reports.find((x) => x.kind === 'use-after-free');
    return (
      r !== undefined && `pid ${r.pid} called probe ${r.probe} (private ${r.private}) of marker ${r.name} through probe array #${r.array}, which had been freed`
    );
  });
  ctx.invariant('markers/freed-after-grace-period', (s) => {
    const f = s.plugins.markers?.earlyFrees[0];
    return (
      f !== undefined &&
      `probe array #${f.array} of marker ${f.name} was freed with ${f.completed} RCU-sched grace periods completed, but was retired needing grace period ${f.gp} (one that began after its retirement) to complete first`
    );
  });
  // SEMANTICS.md 2.1(d): rcu_pending <=> exactly one old array in flight on the entry's rcu_head.
  ctx.invariant('markers/rcu-pending', (s) => {
    const slice = s.plugins.markers;
    return slice === undefined ? false : rcuPendingProblem(m.reg, slice);
  });
  ctx.invariant('markers/probe-registered-during-call', (s) => {
    const r = s.plugins.markers?.reports.find((x) => x.kind === 'unregistered-probe');
    return (
      r !== undefined &&
      `pid ${r.pid} called probe ${r.probe} (private ${r.private}) of marker ${r.name}, which was not registered at any moment of its read section`
    );
  });
  ctx.invariant('markers/registry-matches-state', (s) => {
    const slice = s.plugins.markers;
    if (slice === undefined || (slice === m.checked.slice && m.reg.hotVersion === m.checked.hot)) return undefined;
    const problem = registryProblem(m.reg, slice);
    if (problem === null) {
      m.checked.slice = slice;
      m.checked.hot = m.reg.hotVersion;
      return undefined;
    }
    return problem;
  });
}

/** What breaks `markers/rcu-pending` (rcu_pending set exactly when one free is in flight), or false. */
function rcuPendingProblem(reg: Registry, slice: MarkersState): string | false {
  for (const [name, entry] of reg.entries) {
    const n = slice.entries[name]?.inFlight ?? 0;
    if (n > 1) return `marker ${name}: ${n} frees in flight on its one rcu_head (rcu_pending must mean exactly one)`;
    if (entry.rcuPending && n === 0) return `marker ${name}: rcu_pending is set with no free in flight (the next change would wait for it forever)`;
    if (!entry.rcuPending && n === 1) return `marker ${name}: rcu_pending is clear with a free in flight (the next change would reuse its rcu_head)`;
  }
  return false;
}

/** What the hot registry and the folded state disagree on, or null. */
function registryProblem(reg: Registry, slice: MarkersState): string | null {
  for (const [name, entry] of reg.entries) {
    const se = slice.entries[name];
    if (se === undefined) return `marker ${name} is in the registry but not in the state`;
    const hot = closuresOf(entry).map((c) => `${c.probeLabel}/${c.privateLabel}`);
    const folded = se.probes.map((p) => `${p.probe}/${p.private}`);
    if (hot.join(',') !== folded.join(',')) return `marker ${name}: the registry has probes [${hot.join(', ')}], the state [${folded.join(', ')}]`;
    if (entry.refcount !== hot.length) return `marker ${name}: refcount ${entry.refcount} with ${hot.length} probes`;
    const arrayId = entry.ptype === 1 ? entry.multi!.id : null;
    if (arrayId !== se.array) return `marker ${name}: the registry publishes array ${arrayId}, the state ${se.array}`;
    if (entry.multi !== null && (entry.multi.freed || !Object.isFrozen(entry.multi.closures)))
      return `marker ${name}: published array #${entry.multi.id} is ${entry.multi.freed ? 'freed' : 'mutable'}`;
    if (entry.format !== se.format) return `marker ${name}: format ${JSON.stringify(entry.format)} in the registry, ${JSON.stringify(se.format)} in the state`;
    if (entry.rcuPending !== se.rcuPending) return `marker ${name}: rcu_pending is ${entry.rcuPending} in the registry, ${se.rcuPending} in the state`;
    if (se.inFlight > 1) return `marker ${name}: ${se.inFlight} frees in flight on one rcu_head (rcu_pending must mean exactly one)`;
  }
  for (const name of Object.keys(slice.entries)) {
    if (!reg.entries.has(name)) return `marker ${name} is in the state but not in the registry`;
  }
  for (const site of reg.allSites()) {
    const entry = reg.entries.get(site.name);
    const shouldArm = entry !== undefined && entry.refcount > 0 && entry.format === site.format;
    const where = `site ${site.name}${site.module === null ? '' : ` of module ${site.module}`}`;
    if (site.armed !== shouldArm)
      return `${where} is ${site.armed ? 'armed' : 'disarmed'} but its marker has ${entry?.refcount ?? 0} probes${entry !== undefined && entry.format !== site.format ? ' and another format' : ''}`;
    if (shouldArm && (site.ptype !== entry.ptype || site.single !== entry.single || site.multi !== entry.multi))
      return `${where} calls other probes than its marker has`;
  }
  return null;
}
