import type { PluginContext } from '@tracelab/core';
import type { ModuleTracepointSpec, TracepointProbe, TracepointSpec, TracepointsApi, TracepointsState } from '../events.js';
import { hostCall, traceCall } from '../call-site.js';
import {
  TRACEPOINT_DEFAULT_PRIO,
  tracepointProbeRegisterPrio,
  tracepointProbeUnregister,
  tracepointSynchronizeUnregister,
  type TracepointEnv,
} from '../tracepoint.js';
import type { BootProbes } from './boot.js';
import { bad, checkName, checkPrio, describeValue, isCIdentifier, isModuleSpec } from './options.js';
import { Tracepoint, tpStubFunc } from './registry.js';

/** defineTracepoint: a core tracepoint joins the table, host-side (not logged until its first registration). */
function defineTracepoint(env: TracepointEnv, name: string, spec: TracepointSpec = {}): void {
  if (!isCIdentifier(name)) bad('defineTracepoint', `name must be a C identifier such as sched_switch, got ${describeValue(name)}`);
  if (typeof spec !== 'object' || spec === null)
    bad(`defineTracepoint(${name})`, `spec must be an object { faultable?, regfunc?, unregfunc?, bootRegfunc? }, got ${describeValue(spec)}`);
  const { faultable = false, regfunc, unregfunc, bootRegfunc } = spec;
  if (typeof faultable !== 'boolean') bad(`defineTracepoint(${name})`, `faultable must be a boolean, got ${describeValue(faultable)}`);
  if (regfunc !== undefined && typeof regfunc !== 'function') bad(`defineTracepoint(${name})`, `regfunc must be a function`);
  if (unregfunc !== undefined && typeof unregfunc !== 'function') bad(`defineTracepoint(${name})`, `unregfunc must be a function`);
  if (bootRegfunc !== undefined && typeof bootRegfunc !== 'function') bad(`defineTracepoint(${name})`, `bootRegfunc must be a function`);
  if (bootRegfunc !== undefined && regfunc === undefined) bad(`defineTracepoint(${name})`, `bootRegfunc is regfunc's boot form: give a regfunc too`);
  if (faultable && env.rcuTasks === undefined)
    bad(`defineTracepoint(${name})`, `a faultable tracepoint needs the rcu-tasks plugin in the stack (Tasks-Trace readers and call_rcu_tasks_trace)`);
  if (env.reg.tracepoints.has(name)) bad(`defineTracepoint(${name})`, `tracepoint ${name} is already defined`);
  env.reg.tracepoints.set(name, new Tracepoint(name, null, faultable, regfunc ?? null, unregfunc ?? null, bootRegfunc ?? null));
  env.reg.touch();
}

/**
 * `kernel.api.tracepoints`: the host's arguments checked (a bad one throws `INVALID_OPTION`
 * naming it), then the kernel paths of tracepoint.ts and call-site.ts.
 */
export function tracepointsApi(ctx: PluginContext<TracepointsState>, env: TracepointEnv, boot: BootProbes): TracepointsApi {
  const reg = env.reg;
  return {
    options: env.opts,
    defineTracepoint: (name: string, spec?: TracepointSpec) => defineTracepoint(env, name, spec),
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
}
