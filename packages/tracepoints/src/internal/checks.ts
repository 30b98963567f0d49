import type { KernelState, PluginContext } from '@tracelab/core';
import type { TracepointsState } from '../events.js';
import type { TracepointEnv, TracepointsInvariantKey } from '../tracepoint.js';
import { liveFuncs, tpStubFunc, type Registry } from './registry.js';

/** The invariants, by what they check (SEMANTICS.md 2.2(d)). */
export const TRACEPOINTS_INVARIANTS = Object.freeze({
  /** No call site reads an entry of a freed probe array. */
  freedArray: 'tracepoints/freed-array',
  /** A call site never calls probe F with data D unless (F, D) was registered during its read section (the static call / data pairing). */
  registeredDuringCall: 'tracepoints/registered-during-call',
  /** Every published array is ordered by non-increasing priority, with no duplicate live (probe, data). */
  arrayOrder: 'tracepoints/array-order',
  /** funcs == NULL exactly when the static key is off; the static call is the single probe exactly when one entry is published. */
  keyMatchesFuncs: 'tracepoints/key-matches-funcs',
  /** An old array is freed only after the grace period recorded at its retirement. */
  freedAfterGracePeriod: 'tracepoints/freed-after-grace-period',
  /** The hot table and the folded state agree. */
  registryMatchesState: 'tracepoints/registry-matches-state',
});

type Problems = Partial<Record<TracepointsInvariantKey, string>>;

/** Registers the invariants. Those over the hot table share one computation per change (memo in `env.checked`). */
export function registerInvariants(ctx: PluginContext<TracepointsState>, env: TracepointEnv): void {
  ctx.invariant(TRACEPOINTS_INVARIANTS.freedArray, (s) => {
    const r = s.plugins.tracepoints?.reports.find((x) => x.kind === 'freed-array');
    return (
      r !== undefined && `pid ${r.pid} read probe ${r.probe} (data ${r.data}) of tracepoint ${r.tracepoint} from probe array #${r.array}, which had been freed`
    );
  });
  ctx.invariant(TRACEPOINTS_INVARIANTS.registeredDuringCall, (s) => {
    const r = s.plugins.tracepoints?.reports.find((x) => x.kind === 'unregistered-probe');
    return (
      r !== undefined &&
      `pid ${r.pid} called probe ${r.probe} with data ${r.data} on tracepoint ${r.tracepoint}, a pair not registered at any moment of its read section (a static call reached with another probe's data)`
    );
  });
  ctx.invariant(TRACEPOINTS_INVARIANTS.freedAfterGracePeriod, (s) => {
    const f = s.plugins.tracepoints?.earlyFrees[0];
    return (
      f !== undefined &&
      `probe array #${f.array} of tracepoint ${f.tracepoint} was freed with ${f.completed} ${f.flavour} grace periods completed, needing grace period ${String(f.gp)}`
    );
  });
  // The hot table is checked when it or the slice changed since the last check.
  const check = (key: TracepointsInvariantKey) => (s: KernelState) => {
    const slice = s.plugins.tracepoints;
    if (slice === undefined) return null;
    const memo = env.checked;
    if (slice !== memo.slice || env.reg.hotVersion !== memo.hot) {
      memo.problems = problems(env.reg, slice);
      memo.slice = slice;
      memo.hot = env.reg.hotVersion;
    }
    return memo.problems[key] ?? null;
  };
  ctx.invariant(TRACEPOINTS_INVARIANTS.arrayOrder, check('arrayOrder'));
  ctx.invariant(TRACEPOINTS_INVARIANTS.keyMatchesFuncs, check('keyMatchesFuncs'));
  ctx.invariant(TRACEPOINTS_INVARIANTS.registryMatchesState, check('registryMatchesState'));
}

/** What the hot table breaks of the three invariants computed from it, by key. */
function problems(reg: Registry, slice: TracepointsState): Problems {
  const out: Problems = {};
  for (const tp of reg.tracepoints.values()) {
    const funcs = tp.funcs;
    if ((funcs === null) === tp.key)
      out.keyMatchesFuncs ??= `tracepoint ${tp.name}: static key ${tp.key ? 'on' : 'off'} with funcs ${funcs === null ? 'NULL' : `#${funcs.id}`}`;
    // The static call goes straight to a probe only while that probe is the one entry
    // published (the iterator is always correct: it re-reads funcs, and handles NULL).
    const call = tp.staticCall;
    if (call !== null && (funcs === null || funcs.funcs.length !== 1 || funcs.funcs[0]!.func !== call.func))
      out.keyMatchesFuncs ??= `tracepoint ${tp.name}: the static call targets ${call.label} but the published array is ${funcs === null ? 'NULL' : `#${funcs.id} with ${funcs.funcs.length} entries`}`;
    if (funcs !== null) {
      if (!Object.isFrozen(funcs.funcs) || funcs.freed)
        out.arrayOrder ??= `tracepoint ${tp.name}: published array #${funcs.id} is ${funcs.freed ? 'freed' : 'mutable'}`;
      const live = liveFuncs(funcs);
      for (let i = 1; i < live.length; i++) {
        if (live[i - 1]!.prio < live[i]!.prio)
          out.arrayOrder ??= `tracepoint ${tp.name}: array #${funcs.id} has prio ${live[i - 1]!.prio} before ${live[i]!.prio} (must be non-increasing)`;
      }
      const seen = new Set<string>();
      for (const f of live) {
        const key = `${f.probeLabel}|${f.dataLabel}`;
        if (seen.has(key)) out.arrayOrder ??= `tracepoint ${tp.name}: array #${funcs.id} has probe ${f.probeLabel} with data ${f.dataLabel} twice`;
        seen.add(key);
      }
    }
    const st = slice.tracepoints[tp.name];
    if (st === undefined) {
      if (funcs !== null || tp.key) out.registryMatchesState ??= `tracepoint ${tp.name} has probes but is not in the state`;
      continue;
    }
    if (st.enabled !== tp.key) out.registryMatchesState ??= `tracepoint ${tp.name}: key ${tp.key} in the table, ${st.enabled} in the state`;
    if (st.array !== (funcs?.id ?? null))
      out.registryMatchesState ??= `tracepoint ${tp.name}: array ${funcs?.id ?? null} in the table, ${st.array} in the state`;
    const hot = (funcs?.funcs ?? []).map((f) => `${f.func === tpStubFunc ? 'stub:' : ''}${f.probeLabel}/${f.dataLabel}`).join(',');
    const folded = st.probes.map((p) => `${p.stub ? 'stub:' : ''}${p.probe}/${p.data}`).join(',');
    if (hot !== folded) out.registryMatchesState ??= `tracepoint ${tp.name}: the table has [${hot}], the state [${folded}]`;
  }
  for (const name of Object.keys(slice.tracepoints)) {
    if (!reg.tracepoints.has(name)) out.registryMatchesState ??= `tracepoint ${name} is in the state but not in the table`;
  }
  return out;
}
