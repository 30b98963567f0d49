import { TracelabError, definePlugin, type PluginContext, type TracelabPlugin } from '@tracelab/core';
import type {
  ModuleTracepointSpec,
  ResolvedTracepointsOptions,
  TracepointProbe,
  TracepointSpec,
  TracepointsApi,
  TracepointsOptions,
  TracepointsState,
} from '../events.js';
import { setUpBootProbes } from './boot.js';
import { hostCall, traceCall } from './call-site.js';
import { describeValue, resolveOptions } from './options.js';
import { PLUGIN_NAME, registerReducers } from './reducers.js';
import { Registry, Tracepoint, liveFuncs, tpStubFunc } from './registry.js';
import {
  TRACEPOINT_DEFAULT_PRIO,
  tracepointModuleComing,
  tracepointModuleGoing,
  tracepointProbeRegisterPrio,
  tracepointProbeUnregister,
  tracepointSynchronizeUnregister,
  type TracepointEnv,
} from './tracepoint.js';

export const TRACEPOINTS_VERSION = '0.1.0';

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

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bad(where: string, what: string, detail: Record<string, unknown> = {}): never {
  throw new TracelabError('INVALID_OPTION', `tracepoints.${where}: ${what}`, { plugin: PLUGIN_NAME, ...detail });
}

function checkName(where: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) bad(where, `name must be a non-empty string, got ${describeValue(name)}`);
}

function isModuleSpec(x: unknown): x is ModuleTracepointSpec {
  if (typeof x !== 'object' || x === null) return false;
  const { name, faultable } = x as { name?: unknown; faultable?: unknown };
  return typeof name === 'string' && C_IDENTIFIER.test(name) && (faultable === undefined || typeof faultable === 'boolean');
}

/**
 * The tracepoints plugin: kernel/tracepoint.c's registration, probe arrays, transitions and
 * their waits, and the call site of include/linux/tracepoint.h. `rcu-tasks` is optional: with
 * it, faultable tracepoints (Tasks-Trace readers) can be defined.
 */
export function tracepoints(options?: TracepointsOptions): TracelabPlugin<TracepointsApi, TracepointsState> {
  const opts = resolveOptions(options);
  return definePlugin<TracepointsApi, TracepointsState>({
    name: PLUGIN_NAME,
    version: TRACEPOINTS_VERSION,
    core: '^0.1.0',
    optionalDependsOn: { 'rcu-tasks': '^0.1.0' },
    options: opts,
    register: (ctx) => registerTracepoints(ctx, opts),
  });
}

function registerTracepoints(ctx: PluginContext<TracepointsState>, opts: ResolvedTracepointsOptions): TracepointsApi {
  registerReducers(ctx);
  const env: TracepointEnv = { reg: new Registry(), opts, rcuTasks: ctx.optionalApi('rcuTasks') };
  const reg = env.reg;
  const boot = setUpBootProbes(ctx, reg);

  // ---- modules: tracepoints come with the module and go with it --------------------------------
  ctx.tap('moduleLoad', function* ({ module, data }) {
    const raw = (data as { tracepoints?: unknown } | undefined)?.tracepoints;
    if (!Array.isArray(raw)) return;
    yield* tracepointModuleComing(env, module, (raw as unknown[]).filter(isModuleSpec));
  });
  ctx.tap('moduleUnload', function* ({ module }) {
    yield* tracepointModuleGoing(env, module);
  });

  // ---- invariants ----------------------------------------------------------------------------------
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
  // The hot table is checked when it or the slice changed since the last check. A host-side
  // memo, written only by the invariant closures below (and cleared by reset).
  let checkedSlice: TracepointsState | undefined;
  let checkedHot = -1;
  const problems = (slice: TracepointsState): Partial<Record<keyof typeof TRACEPOINTS_INVARIANTS, string>> => {
    const out: Partial<Record<keyof typeof TRACEPOINTS_INVARIANTS, string>> = {};
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
  };
  let lastProblems: ReturnType<typeof problems> = {};
  const check = (key: 'arrayOrder' | 'keyMatchesFuncs' | 'registryMatchesState') => (s: Parameters<Parameters<PluginContext['invariant']>[1]>[0]) => {
    const slice = s.plugins.tracepoints;
    if (slice === undefined) return null;
    if (slice !== checkedSlice || reg.hotVersion !== checkedHot) {
      lastProblems = problems(slice);
      checkedSlice = slice;
      checkedHot = reg.hotVersion;
    }
    return lastProblems[key] ?? null;
  };
  ctx.invariant(TRACEPOINTS_INVARIANTS.arrayOrder, check('arrayOrder'));
  ctx.invariant(TRACEPOINTS_INVARIANTS.keyMatchesFuncs, check('keyMatchesFuncs'));
  ctx.invariant(TRACEPOINTS_INVARIANTS.registryMatchesState, check('registryMatchesState'));

  // ---- the API ---------------------------------------------------------------------------------------
  function defineTracepoint(name: string, spec: TracepointSpec = {}): void {
    if (typeof name !== 'string' || !C_IDENTIFIER.test(name))
      bad('defineTracepoint', `name must be a C identifier such as sched_switch, got ${describeValue(name)}`);
    if (typeof spec !== 'object' || spec === null)
      bad(`defineTracepoint(${name})`, `spec must be an object { faultable?, regfunc?, unregfunc? }, got ${describeValue(spec)}`);
    const { faultable = false, regfunc, unregfunc } = spec;
    if (typeof faultable !== 'boolean') bad(`defineTracepoint(${name})`, `faultable must be a boolean, got ${describeValue(faultable)}`);
    if (regfunc !== undefined && typeof regfunc !== 'function') bad(`defineTracepoint(${name})`, `regfunc must be a function`);
    if (unregfunc !== undefined && typeof unregfunc !== 'function') bad(`defineTracepoint(${name})`, `unregfunc must be a function`);
    if (faultable && env.rcuTasks === undefined)
      bad(`defineTracepoint(${name})`, `a faultable tracepoint needs the rcu-tasks plugin in the stack (Tasks-Trace readers and call_rcu_tasks_trace)`);
    if (reg.tracepoints.has(name)) bad(`defineTracepoint(${name})`, `tracepoint ${name} is already defined`);
    reg.tracepoints.set(name, new Tracepoint(name, null, faultable, regfunc ?? null, unregfunc ?? null));
    reg.hotVersion++;
  }
  function checkPrio(where: string, prio: unknown): asserts prio is number {
    if (typeof prio !== 'number' || !Number.isInteger(prio)) bad(where, `prio must be an integer, got ${describeValue(prio)}`);
  }

  // kernel.reset: the table as registration left it, and the consistency check's memo cleared.
  const restoreTable = reg.mark();
  ctx.onReset(() => {
    restoreTable();
    boot.rearm();
    checkedSlice = undefined;
    checkedHot = -1;
    lastProblems = {};
  });

  const api: TracepointsApi = {
    options: opts,
    defineTracepoint,
    probeRegister(name: string, probe: TracepointProbe, data?: unknown) {
      checkName('probeRegister', name);
      return tracepointProbeRegisterPrio(env, name, probe, data, TRACEPOINT_DEFAULT_PRIO);
    },
    probeRegisterPrio(name: string, probe: TracepointProbe, data: unknown, prio: number) {
      checkName('probeRegisterPrio', name);
      checkPrio(`probeRegisterPrio(${name})`, prio);
      return tracepointProbeRegisterPrio(env, name, probe, data, prio);
    },
    probeUnregister(name: string, probe: TracepointProbe, data?: unknown) {
      checkName('probeUnregister', name);
      return tracepointProbeUnregister(env, name, probe, data);
    },
    bootProbeRegister(owner: string, name: string, probe: TracepointProbe, data?: unknown, prio: number = TRACEPOINT_DEFAULT_PRIO) {
      checkName('bootProbeRegister', name);
      checkPrio(`bootProbeRegister(${name})`, prio);
      return boot.register(owner, name, probe, data, prio);
    },
    synchronizeUnregister: () => tracepointSynchronizeUnregister(env),
    trace: (name: string, ...args: unknown[]) => traceCall(env, name, args),
    site(name: string) {
      const tp = reg.tracepoints.get(name);
      if (tp === undefined) return undefined;
      return Object.freeze({
        name: tp.name,
        faultable: tp.faultable,
        get enabled() {
          return tp.key;
        },
        call: (...args: unknown[]) => hostCall(tp, args),
      });
    },
    probes(name: string) {
      const funcs = reg.tracepoints.get(name)?.funcs ?? null;
      return (funcs?.funcs ?? []).map((f) =>
        f.func === tpStubFunc ? { probe: null, data: f.data, prio: f.prio, stub: true } : { probe: f.func, data: f.data, prio: f.prio, stub: false },
      );
    },
    enabled: (name: string) => reg.tracepoints.get(name)?.key ?? false,
    tracepoints: () => [...reg.tracepoints.values()].map((tp) => ({ name: tp.name, module: tp.module, faultable: tp.faultable, enabled: tp.key })),
    loadModule(module: string, specs: readonly ModuleTracepointSpec[]) {
      checkName('loadModule', module);
      if (!Array.isArray(specs) || !specs.every((x) => isModuleSpec(x)))
        bad(`loadModule(${module})`, `tracepoints must be an array of { name: C identifier, faultable?: boolean }, got ${describeValue(specs)}`);
      return ctx.paths.loadModule(module, { tracepoints: specs.map((x) => ({ name: x.name, faultable: x.faultable === true })) });
    },
    unloadModule(module: string) {
      checkName('unloadModule', module);
      return ctx.paths.unloadModule(module);
    },
  };
  return api;
}
