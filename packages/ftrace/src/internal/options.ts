import { TracelabError, isGeneratorFunction, option, pluginOptions } from '@tracelab/core';
import type { BpfTrampolineSpec, FgraphOps, FtraceDirectOps, FtraceDirectTrampoline, FtraceOps, FtraceOpsFlag, ResolvedFtraceOptions } from '../events.js';
import { isPattern } from './glob.js';

/**
 * The plugin's options and the validation of what a caller hands it (options, ops objects,
 * filter lists): host misuse throws TracelabError INVALID_OPTION naming what is wrong.
 */

export interface FtraceOptions {
  /**
   * What unregistering a DYNAMIC ops waits for, after unpatching its sites and a
   * synchronize_rcu (ftrace_sync), before it frees the trampoline. Default `'rcu-tasks'`
   * (synchronize_rcu_tasks: every task has since switched voluntarily, been in user mode or
   * idle). `'rcu-sched'` is the unsafe variant: nothing more, so a task preempted on the
   * trampoline (preemption is an RCU-sched quiescent state) resumes on freed code.
   */
  readonly freeTrampolineAfter?: 'rcu-tasks' | 'rcu-sched';
  /**
   * Give DYNAMIC ops trampolines. Default true (Linux 4.12+). `false` is the 3.18–4.11 PREEMPT
   * behaviour: DYNAMIC ops go through the list caller everywhere.
   */
  readonly dynamicTrampolines?: boolean;
  /**
   * Run an instrumented `default_idle` in every pass of each CPU's idle loop (a kprobe-like
   * site in the idle task). Default false: tapping the idle hook makes idle CPUs eligible at
   * every step, which lengthens every run.
   */
  readonly traceIdle?: boolean;
  /**
   * Call a traced `update_process_times` from each timer tick's handler (the core's
   * `interrupts.timer`), as the kernel's tick does: an mcount site in hard-interrupt context.
   * Default false.
   */
  readonly traceTick?: boolean;
  /**
   * Whether a site the idle loop calls may target a DYNAMIC ops' trampoline. Default
   * `'refuse'`: it uses the list caller (static text, never freed), the 2014 thread's answer
   * ("prohibited from putting kprobes in idle tasks"). `'allow'`: it may; RCU-tasks never waits
   * for an idle task, so only `cpuSync: 'tasks-rude'` keeps the trampoline from being freed
   * under an idle CPU (upstream's answer).
   */
  readonly idleTrampolines?: 'refuse' | 'allow';
  /**
   * How ftrace_shutdown makes sure no CPU still runs an old call target before it frees a
   * DYNAMIC ops' trampoline. `'tasks-rude'` (default, upstream since 5.8):
   * synchronize_rcu_tasks_rude, a per-CPU worker run on every CPU, so each has passed a context
   * switch, idle CPUs included; this covers an idle routine that runs the trampoline where RCU
   * is not watching. `'rcu-sched'` (synchronize_rcu) is the unsafe variant: the idle loop's
   * extended quiescent state satisfies it, so an idle CPU still inside such a routine is not
   * waited for.
   */
  readonly cpuSync?: 'tasks-rude' | 'rcu-sched';
  /** Register the invariants. Default true. */
  readonly checks?: boolean;
  /**
   * How the list caller (ftrace_ops_list_func) walks ftrace_ops_list. `'atomic'` (default):
   * in one step, which every recorded seed was found with. `'steps'`: as the kernel does it,
   * under preempt_disable_notrace with a scheduling point between one ops and the next, so an
   * unregistration on another CPU can interleave with a walk (docs/ftrace.md, "The list walk").
   */
  readonly listWalk?: 'atomic' | 'steps';
  /**
   * Which DYNAMIC ops ftrace_shutdown waits for before unregister returns. `'dynamic'`
   * (default, the kernel): every DYNAMIC ops, trampoline or not, since its owner may free it
   * once unregister returns and a list walker may still hold it. `'trampoline-only'` is the
   * unsafe variant: an ops with no trampoline (reached through the list caller) returns at
   * once, and with `listWalk: 'steps'` a walker can reach it after its owner freed it.
   */
  readonly shutdownWait?: 'dynamic' | 'trampoline-only';
  /**
   * Model `ftrace_caller` with its two globals: a site that does not target a trampoline calls
   * `ftrace_trace_function` (the lone registered ops' callback, or the list function when there
   * are several) with `function_trace_op`, loaded one after the other. Default false: such a
   * site calls the list function directly.
   */
  readonly directCaller?: boolean;
  /**
   * With `directCaller`: update_ftrace_function's coordination ("ftrace: Fix a slight race in
   * modifying what function callback gets traced"): switch ftrace_trace_function to the list
   * function, wait for every CPU, then set function_trace_op, then the new function. `false`
   * is the unsafe variant: the two are stored back to back, and a caller that loaded the old op
   * calls the new function with it.
   */
  readonly slightRaceFix?: boolean;
  /**
   * What the recursion guard (trace_test_and_set_recursion) keys on. `'per-context'` (default,
   * the kernel since the per-context bits of current->trace_recursion): the task and the level
   * it runs at (task, hard interrupt, NMI), so an interrupt arriving inside a guarded callback
   * is traced. `'per-task'` is the unsafe variant, one bit per task: the interrupt's traced
   * call finds the bit its interrupted task holds and is refused as if it were recursion, so
   * the interrupt's event is lost (`ftrace/recursion-guard-per-context` names it).
   */
  readonly recursionGuard?: 'per-context' | 'per-task';
  /**
   * Which ops a function graph return (return_to_handler) calls back. `'fgraph-array'`
   * (default, upstream since the multi-ops fgraph of 6.9): the shadow-stack frame holds the
   * ops' index, and the return calls whatever fgraph_array holds there, fgraph_stub after an
   * unregister, so a frame left by an unregistered ops is skipped. `'ret-stack-ops'` is the
   * unsafe variant: the frame holds the ops itself, and a task that returns after the ops was
   * unregistered and freed calls its return handler (`ftrace/no-fgraph-ops-use-after-free`).
   */
  readonly fgraphReturn?: 'fgraph-array' | 'ret-stack-ops';
  /**
   * How the owner of a direct trampoline frees it (`bpfTrampImagePut`, bpf_tramp_image_put).
   * `'rcu-tasks'` (default, upstream): after an RCU-tasks grace period, so a task preempted
   * inside the image has left it. `'immediate'` is the unsafe variant: freed as soon as no
   * site calls it, and a task still on it resumes on freed code
   * (`ftrace/no-trampoline-use-after-free`).
   */
  readonly directImagePut?: 'rcu-tasks' | 'immediate';
  /**
   * Whether ftrace asks a direct ops before it shares a function with an IPMODIFY ops (a live
   * patch). `'ops-func'` (default, upstream since 6.0): the direct ops' ops_func is told
   * ENABLE_SHARE_IPMODIFY_SELF / _PEER and DISABLE_SHARE_IPMODIFY_PEER, and a direct ops without
   * one makes the registration fail with -EBUSY. `'skip'` is the unsafe variant: nobody is asked,
   * so a direct trampoline that calls the traced function calls its original body and bypasses
   * the live patch (`ftrace/ipmodify-bypassed`). `'register-only'` is unsafe too:
   * modify_ftrace_direct does not ask (as in mainline 6.0 to 6.17; fixed in 6.18 by "ftrace:
   * bpf: Fix IPMODIFY + DIRECT in modify_ftrace_direct()"), so a BPF trampoline that gains an
   * fexit program after a live patch moves to an image that calls the original body. It keeps
   * reset_direct, so it is 6.0 to 6.17 with "ftrace: Fix BPF fexit with livepatch" (6.18, for
   * stable 6.6+) backported: mainline 6.7 to 6.17 left a failed registration's direct_functions
   * entries behind, so BPF's retry after -EAGAIN failed with -EBUSY and an fexit link after a
   * live patch was refused (not modelled; docs/ftrace.md, decision 12).
   */
  readonly ipmodifyShare?: 'ops-func' | 'register-only' | 'skip';
}

const OPS_KEYS: ReadonlyArray<keyof FtraceOps> = ['func', 'filter', 'notrace', 'flags', 'label'];
const OPS_FLAGS: readonly FtraceOpsFlag[] = ['DYNAMIC', 'SAVE_REGS', 'IPMODIFY', 'RECURSION', 'RCU'];
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** A filter entry: a function's name, or a set_ftrace_filter pattern (`sys_*`, `?`, `[a-z]`), either after an optional `!`. */
const FILTER_ENTRY = /^!?[A-Za-z0-9_.*?[\]!-]+$/;

function validEntry(x: unknown): boolean {
  if (typeof x !== 'string' || !FILTER_ENTRY.test(x)) return false;
  const body = x.startsWith('!') ? x.slice(1) : x;
  return body.length > 0 && (isPattern(body) || FUNCTION_NAME.test(body));
}

export function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * `ftrace(options)` resolved, in the order the log records the keys. An unknown key (a typo) and
 * a value of the wrong kind throw `INVALID_OPTION` naming the key and what it accepts.
 */
export const resolveOptions: (options: unknown) => ResolvedFtraceOptions = pluginOptions('ftrace', {
  freeTrampolineAfter: option.oneOf<ResolvedFtraceOptions['freeTrampolineAfter']>('rcu-tasks', ['rcu-tasks', 'rcu-sched']),
  dynamicTrampolines: option.boolean(true),
  traceIdle: option.boolean(false),
  traceTick: option.boolean(false),
  idleTrampolines: option.oneOf<ResolvedFtraceOptions['idleTrampolines']>('refuse', ['refuse', 'allow']),
  checks: option.boolean(true),
  listWalk: option.oneOf<ResolvedFtraceOptions['listWalk']>('atomic', ['atomic', 'steps']),
  shutdownWait: option.oneOf<ResolvedFtraceOptions['shutdownWait']>('dynamic', ['dynamic', 'trampoline-only']),
  directCaller: option.boolean(false),
  slightRaceFix: option.boolean(true),
  cpuSync: option.oneOf<ResolvedFtraceOptions['cpuSync']>('tasks-rude', ['tasks-rude', 'rcu-sched']),
  recursionGuard: option.oneOf<ResolvedFtraceOptions['recursionGuard']>('per-context', ['per-context', 'per-task']),
  fgraphReturn: option.oneOf<ResolvedFtraceOptions['fgraphReturn']>('fgraph-array', ['fgraph-array', 'ret-stack-ops']),
  directImagePut: option.oneOf<ResolvedFtraceOptions['directImagePut']>('rcu-tasks', ['rcu-tasks', 'immediate']),
  ipmodifyShare: option.oneOf<ResolvedFtraceOptions['ipmodifyShare']>('ops-func', ['ops-func', 'register-only', 'skip']),
});

export function checkNames(where: string, what: string, v: unknown): readonly string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(validEntry)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `ftrace.${where}: ${what} must be an array of function names or patterns ('sys_*', '!sys_getpid'), got ${describe(v)}`,
    );
  }
  return v as string[];
}

/** Validates an ops object (host misuse throws INVALID_OPTION). */
export function checkOps(where: string, ops: unknown): asserts ops is FtraceOps {
  if (typeof ops !== 'object' || ops === null)
    throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ops must be an object { func, filter?, notrace?, flags?, label? }`);
  const o = ops as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(OPS_KEYS as readonly string[]).includes(key))
      throw new TracelabError('INVALID_OPTION', `ftrace.${where}: unknown ops field ${JSON.stringify(key)} (known: ${OPS_KEYS.join(', ')})`);
  }
  if (typeof o['func'] !== 'function') throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ops.func must be a function (ip, parentIp, ops) => void`);
  // The callback is called synchronously from the list caller and the trampolines: a generator
  // function's body would never run.
  if (isGeneratorFunction(o['func']))
    throw new TracelabError(
      'INVALID_OPTION',
      `ftrace.${where}: ops.func is a generator function; ftrace callbacks are called synchronously, so its body would never run: write it as a plain function (ip, parentIp, ops) => void`,
    );
  checkNames(where, 'ops.filter', o['filter']);
  checkNames(where, 'ops.notrace', o['notrace']);
  const flags = o['flags'];
  if (flags !== undefined && (!Array.isArray(flags) || !flags.every((f) => (OPS_FLAGS as readonly unknown[]).includes(f)))) {
    throw new TracelabError(
      'INVALID_OPTION',
      `ftrace.${where}: ops.flags must be an array of ${OPS_FLAGS.map((f) => `'${f}'`).join(', ')}, got ${describe(flags)}`,
    );
  }
  if (o['label'] !== undefined && typeof o['label'] !== 'string') throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ops.label must be a string`);
}

/** The resolved options as `kernel/plugin-registered` records them: those added later only when set, so existing logs and digests stay as they were. */
export function recordedOptions(o: ResolvedFtraceOptions): Partial<ResolvedFtraceOptions> {
  const { listWalk, shutdownWait, directCaller, slightRaceFix, cpuSync, recursionGuard, traceTick, fgraphReturn, directImagePut, ipmodifyShare, ...rest } = o;
  return {
    ...rest,
    ...(ipmodifyShare !== 'ops-func' ? { ipmodifyShare } : {}),
    ...(directImagePut !== 'rcu-tasks' ? { directImagePut } : {}),
    ...(fgraphReturn !== 'fgraph-array' ? { fgraphReturn } : {}),
    ...(traceTick ? { traceTick } : {}),
    ...(recursionGuard !== 'per-context' ? { recursionGuard } : {}),
    ...(cpuSync !== 'tasks-rude' ? { cpuSync } : {}),
    ...(listWalk !== 'atomic' ? { listWalk } : {}),
    ...(shutdownWait !== 'dynamic' ? { shutdownWait } : {}),
    ...(directCaller ? { directCaller } : {}),
    ...(!slightRaceFix ? { slightRaceFix } : {}),
  };
}

const FGRAPH_KEYS: ReadonlyArray<keyof FgraphOps> = ['entry', 'ret', 'filter', 'label'];

/** Validates an fgraph ops object (host misuse throws INVALID_OPTION). */
export function checkGraphOps(where: string, gops: unknown): asserts gops is FgraphOps {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ${what}`);
  };
  if (typeof gops !== 'object' || gops === null) bad('gops must be an object { entry?, ret?, filter?, label? }');
  const o = gops as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(FGRAPH_KEYS as readonly string[]).includes(key)) bad(`unknown fgraph ops field ${JSON.stringify(key)} (known: ${FGRAPH_KEYS.join(', ')})`);
  }
  for (const key of ['entry', 'ret'] as const) {
    const f = o[key];
    if (f === undefined) continue;
    if (typeof f !== 'function') bad(`gops.${key} must be a function, got ${describe(f)}`);
    // Called synchronously at the entry and the return: a generator function's body would never run.
    if (isGeneratorFunction(f)) bad(`gops.${key} is a generator function; fgraph handlers are called synchronously: write it as a plain function`);
  }
  checkNames(where, 'gops.filter', o['filter']);
  if (o['label'] !== undefined && typeof o['label'] !== 'string') bad('gops.label must be a string');
}

const DIRECT_KEYS: ReadonlyArray<keyof FtraceDirectOps> = ['filter', 'flags', 'label', 'opsFunc'];

/** Validates a direct ops object (host misuse throws INVALID_OPTION). */
export function checkDirectOps(where: string, ops: unknown): asserts ops is FtraceDirectOps {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ${what}`);
  };
  if (typeof ops !== 'object' || ops === null) bad('ops must be an object { filter, flags?, label?, opsFunc? }');
  const o = ops as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(DIRECT_KEYS as readonly string[]).includes(key))
      bad(`unknown direct ops field ${JSON.stringify(key)} (known: ${DIRECT_KEYS.join(', ')}; ftrace sets a direct ops' func, call_direct_funcs, itself)`);
  }
  if (o['filter'] === undefined) bad('ops.filter is required: a direct ops names the functions whose sites call the direct trampoline');
  checkNames(where, 'ops.filter', o['filter']);
  const flags = o['flags'];
  if (flags !== undefined && (!Array.isArray(flags) || !flags.every((f) => f === 'DYNAMIC')))
    bad(`ops.flags may only be ['DYNAMIC'] (ftrace sets DIRECT and SAVE_REGS), got ${describe(flags)}`);
  if (o['label'] !== undefined && typeof o['label'] !== 'string') bad('ops.label must be a string');
  if (o['opsFunc'] !== undefined && typeof o['opsFunc'] !== 'function')
    bad(`ops.opsFunc must be a function (cmd, ip) => number, got ${describe(o['opsFunc'])}`);
}

/** Validates a direct trampoline object (host misuse throws INVALID_OPTION; `origStack` only with `callOrig`). */
export function checkDirectTrampoline(where: string, tramp: unknown): asserts tramp is FtraceDirectTrampoline {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ${what}`);
  };
  if (typeof tramp !== 'object' || tramp === null) bad('the direct trampoline must be an object { func, label? }');
  const o = tramp as Record<string, unknown>;
  // Other fields are the owner's (an image carries its own bookkeeping): ftrace reads func and label.
  if (typeof o['func'] !== 'function') bad("the direct trampoline's func must be a function (ip, parentIp) => void");
  if (isGeneratorFunction(o['func'])) bad("the direct trampoline's func is a generator function; it is called synchronously, so its body would never run");
  if (o['label'] !== undefined && typeof o['label'] !== 'string') bad("the direct trampoline's label must be a string");
  for (const key of ['callOrig', 'origStack'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') bad(`the direct trampoline's ${key} must be a boolean, got ${describe(o[key])}`);
  }
  // BPF_TRAMP_F_ORIG_STACK says how the trampoline calls the function: without CALL_ORIG it makes no call.
  if (o['origStack'] === true && o['callOrig'] !== true)
    bad(
      "the direct trampoline's origStack needs callOrig: true (ORIG_STACK says how the trampoline calls the traced function, and without callOrig it does not call it)",
    );
}

const BPF_KEYS: ReadonlyArray<keyof BpfTrampolineSpec> = ['func', 'progs', 'fexit'];

/** Validates a BPF trampoline spec (host misuse throws INVALID_OPTION). */
export function checkBpfTrampoline(where: string, tr: unknown): asserts tr is BpfTrampolineSpec {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ftrace.${where}: ${what}`);
  };
  if (typeof tr !== 'object' || tr === null) bad('the BPF program must be an object { func, progs, fexit? }');
  const o = tr as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(BPF_KEYS as readonly string[]).includes(key)) bad(`unknown BPF program field ${JSON.stringify(key)} (known: ${BPF_KEYS.join(', ')})`);
  }
  if (typeof o['func'] !== 'string' || !FUNCTION_NAME.test(o['func'])) bad(`tr.func must be a function name, got ${describe(o['func'])}`);
  if (typeof o['progs'] !== 'function') bad('tr.progs must be a function (ip, parentIp) => void');
  if (isGeneratorFunction(o['progs'])) bad('tr.progs is a generator function; it is called synchronously, so its body would never run');
  if (o['fexit'] !== undefined && typeof o['fexit'] !== 'boolean') bad(`tr.fexit must be a boolean, got ${describe(o['fexit'])}`);
}

/** Whether `name` may be a function name (what an IPMODIFY callback may set the saved ip to). */
export function isFunctionName(name: unknown): name is string {
  return typeof name === 'string' && FUNCTION_NAME.test(name);
}
