/*
 * Probes connected at boot: a dependent plugin (a tracer whose session exists before the
 * workload, as the ring buffer's `enableAll`) connects its probes from its own `register(ctx)`,
 * before any task runs, as the kernel's static probes of built-in tracepoints are. No kernel
 * path runs: nobody can be inside a call site yet, so there is no lock to take, no transition
 * to wait for and no old array to release.
 *
 * The hot table is written at the call. The state learns it through the caller's registration
 * event: the tracepoints reducer of `kernel/plugin-registered` for plugin X folds the slice
 * entries X's boot registrations left behind. They are recorded here as plain data at the call,
 * before X's registration event exists, and never change afterwards; a replay registers the
 * same stack in the same order, so it rebuilds the same records and folds them at the same
 * event (docs/tracepoints.md, "Probes connected at boot").
 */
import { EEXIST, EINVAL, TracelabError, withProbe, type PluginContext } from '@tracelab/core';
import type { ProbeRef, TracepointProbe, TracepointState, TracepointsState } from '../events.js';
import { withField, withKey, withoutKey } from '@tracelab/core';
import { liveFuncs, type Registry, type TpFunc, type Tracepoint } from './registry.js';

/** What one boot registration leaves in the slice: the tracepoint's entry and its published array. */
interface BootRecord {
  readonly name: string;
  readonly faultable: boolean;
  readonly probes: readonly ProbeRef[];
  readonly array: number;
  /** The array it replaced (an earlier boot registration's), dropped from `arrays`; null for the first. */
  readonly replaced: number | null;
  readonly staticCall: string;
}

/** The boot registrations of one plugin instance, and how to redo their hot writes after `kernel.reset`. */
export interface BootProbes {
  /**
   * Connects `probe` with `data` at `prio` on the core tracepoint `name`. Returns 0, `-EEXIST`
   * (the pair is connected) or `-EINVAL` (probe is not a function); throws `INVALID_OPTION` for
   * an owner whose registration is over, a name not defined, or a tracepoint with a
   * regfunc/unregfunc (kernel paths, which cannot run before the first task).
   */
  register(owner: string, name: string, probe: TracepointProbe, data: unknown, prio: number): number;
  /** kernel.reset: after the table was put back to the end of the tracepoints plugin's own registration, the boot probes again. */
  rearm(): void;
}

function bad(what: string, detail: Record<string, unknown>): never {
  throw new TracelabError('INVALID_OPTION', `tracepoints.bootProbeRegister: ${what}`, { plugin: 'tracepoints', ...detail });
}

/**
 * Sets up boot registration for one plugin instance: the reducer that folds an owner's records
 * at its `kernel/plugin-registered`, and the host-side register/rearm.
 */
export function setUpBootProbes(ctx: PluginContext<TracepointsState>, reg: Registry): BootProbes {
  // Owner → its records, in call order. Written only by `register`, during the owner's
  // registration; read by the reducer below (frozen by then: the owner's registration is over).
  const records = new Map<string, BootRecord[]>();
  // The calls, in order, for `rearm`. Written only by `register`.
  const calls: { tp: Tracepoint; probe: TracepointProbe; data: unknown; prio: number }[] = [];

  // A plain reducer (`ctx.onPlain`): the slice with the owner's records folded in, or the slice
  // itself for a plugin that registered none.
  ctx.onPlain('kernel/plugin-registered', (s, e) => {
    let out = s;
    for (const r of records.get(e.name) ?? []) {
      if (r.replaced !== null) out = withField(out, 'arrays', withoutKey(out.arrays, String(r.replaced)));
      const tp: TracepointState = {
        name: r.name,
        module: null,
        faultable: r.faultable,
        enabled: true,
        probes: r.probes.map((p) => ({ ...p })),
        array: r.array,
        staticCall: r.staticCall,
      };
      out = withField(out, 'tracepoints', withKey(out.tracepoints, r.name, tp));
      out = withField(
        out,
        'arrays',
        withKey(out.arrays, String(r.array), {
          id: r.array,
          tracepoint: r.name,
          probes: r.probes.length,
          state: 'published',
          flavour: null,
          freeAfterGp: null,
        }),
      );
      out = withField(out, 'stats', withField(out.stats, 'registered', out.stats.registered + 1));
    }
    return out;
  });

  /** The hot writes of one boot registration: a new array with the probe in prio order, the static call, the key. */
  function arm(tp: Tracepoint, probe: TracepointProbe, data: unknown, prio: number): { replaced: number | null; entries: readonly TpFunc[]; id: number } {
    const live = liveFuncs(tp.funcs);
    const entry = reg.entry(probe, data, prio);
    const next = reg.newArray(tp.name, withProbe(live, entry).entries);
    const replaced = tp.funcs?.id ?? null;
    // No reader can hold the old array (no task has run): it is dropped, not released.
    if (tp.funcs !== null) tp.funcs.freed = true;
    tp.funcs = next;
    tp.staticCall = next.funcs.length === 1 ? { func: entry.func, label: entry.probeLabel } : null;
    tp.key = true;
    reg.touch();
    return { replaced, entries: next.funcs, id: next.id };
  }

  function lookup(owner: string, name: string): Tracepoint {
    const tp = reg.tracepoints.get(name);
    if (tp === undefined || tp.module !== null)
      bad(`no core tracepoint named ${JSON.stringify(name)} (defined: ${[...reg.tracepoints.keys()].join(', ') || 'none'})`, { owner, tracepoint: name });
    if ((tp.regfunc !== null || tp.unregfunc !== null) && tp.bootRegfunc === null)
      bad(
        `tracepoint ${name} has a regfunc/unregfunc, a kernel path that cannot run before the first task, and no bootRegfunc; connect its probes with probeRegister from a task`,
        {
          owner,
          tracepoint: name,
        },
      );
    return tp;
  }

  return {
    register(owner, name, probe, data, prio) {
      if (typeof owner !== 'string' || owner.length === 0) bad(`owner must be the calling plugin's name, got ${typeof owner}`, {});
      if (ctx.state().kernel.plugins.some((p) => p.name === owner))
        bad(`plugin ${owner} is registered already: boot probes are connected only from the owner's register(ctx), before the first step`, { owner });
      const tp = lookup(owner, name);
      if (typeof probe !== 'function') return -EINVAL;
      if (liveFuncs(tp.funcs).some((f) => f.func === probe && Object.is(f.data, data))) return -EEXIST;
      // regfunc's boot form, before the first probe (the key is still off). Not redone by
      // `rearm`: what it set up is its owner's to put back at kernel.reset.
      if (!tp.key && tp.bootRegfunc !== null) {
        const r = tp.bootRegfunc();
        if (typeof r === 'number' && r < 0) return r;
      }
      const { replaced, entries, id } = arm(tp, probe, data, prio);
      const list = records.get(owner) ?? [];
      list.push(
        Object.freeze({
          name,
          faultable: tp.faultable,
          probes: Object.freeze(entries.map((f) => Object.freeze({ probe: f.probeLabel, data: f.dataLabel, prio: f.prio, stub: false }))),
          array: id,
          replaced,
          staticCall: entries.length === 1 ? entries[0]!.probeLabel : 'iterator',
        }),
      );
      records.set(owner, list);
      calls.push({ tp, probe, data, prio });
      return 0;
    },
    rearm() {
      // The table was put back as the tracepoints plugin's registration left it: a tracepoint
      // the owner defined in its own register(ctx) is gone from it. Those with boot probes come
      // back, disarmed, then every call is redone in order (same array ids, same labels).
      for (const { tp } of calls) {
        if (reg.tracepoints.get(tp.name) === tp) continue;
        tp.key = false;
        tp.funcs = null;
        tp.staticCall = null;
        reg.tracepoints.set(tp.name, tp);
      }
      for (const c of calls) arm(c.tp, c.probe, c.data, c.prio);
    },
  };
}
