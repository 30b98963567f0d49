import { definePlugin, type PluginContext, type TracelabPlugin } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { FtraceApi, FtraceOps, FtraceState, ResolvedFtraceOptions } from '../events.js';
import { ftraceGraphExitTask, registerFtraceGraph, unregisterFtraceGraph } from '../fgraph.js';
import { bpfTrampImagePut, bpfTrampolineLink, bpfTrampolineUnlink } from '../bpf-trampoline.js';
import { ftraceSetFilter, registerFtraceFunction, unregisterFtraceFunction } from '../ftrace.js';
import { modifyFtraceDirect, registerFtraceDirect, unregisterFtraceDirect } from '../ftrace-direct.js';
import { defaultIdleHook } from '../idle.js';
import { updateProcessTimesHook } from '../timer.js';
import { FTRACE_VERSION, TICK_FUNCTION } from './constants.js';
import { registerInvariants } from './invariants.js';
import {
  checkBpfTrampoline,
  checkDirectOps,
  checkDirectTrampoline,
  checkGraphOps,
  checkNames,
  checkOps,
  recordedOptions,
  resolveOptions,
  type FtraceOptions,
} from './options.js';
import { registerFgraphReducers, registerReducers } from './reducers.js';
import { IDLE_FUNCTIONS } from './registry.js';
import { FtraceRuntime } from './runtime.js';

export { FTRACE_INVARIANTS, FTRACE_LOCK, FTRACE_VERSION, TICK_FUNCTION } from './constants.js';
export type { FtraceOptions } from './options.js';

/**
 * The ftrace plugin: mcount sites patched between the nop, the list caller and per-ops dynamic
 * trampolines; ops with filter/notrace hashes; record refcounts; a DYNAMIC ops' trampoline
 * freed after its sites are unpatched and an RCU-tasks grace period. See docs/ftrace.md.
 * Throws INVALID_OPTION for bad options.
 */
export function ftrace(options?: FtraceOptions): TracelabPlugin<FtraceApi, FtraceState> {
  const resolved = resolveOptions(options);
  return definePlugin<FtraceApi, FtraceState>({
    name: 'ftrace',
    version: FTRACE_VERSION,
    core: '^0.1.0',
    dependsOn: { 'rcu-tasks': '^0.1.0' },
    // Options added later are recorded only when set, so existing logs and digests stay as they were.
    options: recordedOptions(resolved),
    register: (ctx) => register(ctx, resolved),
  });
}

/**
 * The wiring: the slice and its reducers, the idle and tick taps the options ask for, the
 * invariants, the reset, and the API over the kernel paths of ftrace.ts.
 */
function register(ctx: PluginContext<FtraceState>, options: ResolvedFtraceOptions): FtraceApi {
  const tasksRcu: RcuTasksApi = ctx.api('rcu-tasks');
  const ft = new FtraceRuntime(ctx, options, tasksRcu);
  const { reg } = ft;
  registerReducers(ctx);
  registerFgraphReducers(ctx);
  if (options.traceIdle) {
    for (const name of IDLE_FUNCTIONS) ctx.defineFunction(name);
    ctx.tap('idle', defaultIdleHook);
  }
  if (options.traceTick) {
    ctx.defineFunction(TICK_FUNCTION);
    ctx.tap('irq', updateProcessTimesHook);
  }
  // ftrace_graph_exit_task: a task that exits inside graph-traced functions never returns from them.
  ctx.tap('exit', ({ pid }) => ftraceGraphExitTask(ft, pid));
  const resetChecks = registerInvariants(ft);
  // kernel.reset: the registry, the fast-path globals and the per-task guards as registration
  // left them.
  const restoreRegistry = reg.mark();
  ctx.onReset(() => {
    restoreRegistry();
    ft.guarded.clear();
    ft.unguardedDepth.clear();
    ft.traceFunction = null;
    ft.traceOp = null;
    ft.trampHandlers.clear();
    ft.directTmpOps = null;
    ft.bpfTrampolines.clear();
    ft.fgraph.reset();
    resetChecks();
  });
  return {
    options,
    registerFtraceFunction: (ops) => {
      checkOps('registerFtraceFunction', ops);
      return registerFtraceFunction(ft, ops);
    },
    unregisterFtraceFunction: (ops) => {
      checkOps('unregisterFtraceFunction', ops);
      return unregisterFtraceFunction(ft, ops);
    },
    ftraceSetFilter: (ops, filter, notrace = []) => {
      checkOps('ftraceSetFilter', ops);
      return ftraceSetFilter(ft, ops, checkNames('ftraceSetFilter', 'filter', filter), checkNames('ftraceSetFilter', 'notrace', notrace));
    },
    registerFtraceGraph: (gops) => {
      checkGraphOps('registerFtraceGraph', gops);
      return registerFtraceGraph(ft, gops);
    },
    unregisterFtraceGraph: (gops) => {
      checkGraphOps('unregisterFtraceGraph', gops);
      return unregisterFtraceGraph(ft, gops);
    },
    registerFtraceDirect: (ops, tramp) => {
      checkDirectOps('registerFtraceDirect', ops);
      checkDirectTrampoline('registerFtraceDirect', tramp);
      return registerFtraceDirect(ft, ops, tramp);
    },
    unregisterFtraceDirect: (ops) => {
      checkDirectOps('unregisterFtraceDirect', ops);
      return unregisterFtraceDirect(ft, ops);
    },
    modifyFtraceDirect: (ops, tramp) => {
      checkDirectOps('modifyFtraceDirect', ops);
      checkDirectTrampoline('modifyFtraceDirect', tramp);
      return modifyFtraceDirect(ft, ops, tramp);
    },
    bpfTrampImagePut: (tramp) => {
      checkDirectTrampoline('bpfTrampImagePut', tramp);
      return bpfTrampImagePut(ft, tramp);
    },
    bpfTrampolineLink: (tr) => {
      checkBpfTrampoline('bpfTrampolineLink', tr);
      return bpfTrampolineLink(ft, tr);
    },
    bpfTrampolineUnlink: (tr) => {
      checkBpfTrampoline('bpfTrampolineUnlink', tr);
      return bpfTrampolineUnlink(ft, tr);
    },
    site: (name) => {
      if (!reg.sites.has(name) && ctx.state().functions[name] === undefined) return undefined;
      return reg.site(name);
    },
    opsId: (ops) => reg.byOps.get(ops as FtraceOps)?.id,
    record: (name) => ctx.slice().records[name],
  };
}
