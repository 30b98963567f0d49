import {
  EBUSY,
  EINVAL,
  ENOENT,
  TracelabError,
  current,
  definePlugin,
  emit,
  fn,
  getState,
  inIrqCount,
  inNmiCount,
  isGeneratorFunction,
  mutexLock,
  mutexUnlock,
  printk,
  rcuIdleEnter,
  rcuIdleExit,
  rcuIsWatching,
  preemptDisable,
  preemptEnable,
  schedPoint,
  shouldFailAlloc,
  synchronizeRcu,
  type KPath,
  type McountHandler,
  type PluginContext,
  type TracelabPlugin,
} from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { FtraceApi, FtraceOps, FtraceOpsFlag, FtraceState, FtraceTarget, ResolvedFtraceOptions } from '../events.js';
import { siteTargetInvariant, recRefcountInvariant, reportInvariant } from './check.js';
import { registerReducers } from './reducers.js';
import { expandFilter, isPattern } from './glob.js';
import { IDLE_FUNCTIONS, OpsRec, Registry, Trampoline, opsTraces, type Site } from './registry.js';

export const FTRACE_VERSION = '0.1.0';

/** The traced function each timer tick's handler calls with `traceTick`. */
export const TICK_FUNCTION = 'update_process_times';

/** The mutex every ftrace update runs under (kernel/trace/ftrace.c's ftrace_lock). */
export const FTRACE_LOCK = 'ftrace_lock';

/** The invariants' names, as violations report them. */
export const FTRACE_INVARIANTS = {
  useAfterFree: 'ftrace/no-trampoline-use-after-free',
  opsUseAfterFree: 'ftrace/no-ops-use-after-free',
  recursion: 'ftrace/no-runaway-recursion',
  recursionContext: 'ftrace/recursion-guard-per-context',
  opMismatch: 'ftrace/trace-function-op',
  wrongFunction: 'ftrace/trampoline-calls-traced-functions',
  refcount: 'ftrace/rec-refcount',
  siteTarget: 'ftrace/site-target',
} as const;

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
}

const OPTION_KEYS: ReadonlyArray<keyof FtraceOptions> = [
  'freeTrampolineAfter',
  'dynamicTrampolines',
  'traceIdle',
  'traceTick',
  'idleTrampolines',
  'checks',
  'listWalk',
  'shutdownWait',
  'directCaller',
  'slightRaceFix',
  'cpuSync',
  'recursionGuard',
];
const OPS_KEYS: ReadonlyArray<keyof FtraceOps> = ['func', 'filter', 'notrace', 'flags', 'label'];
const OPS_FLAGS: readonly FtraceOpsFlag[] = ['DYNAMIC', 'SAVE_REGS', 'IPMODIFY', 'RECURSION', 'RCU'];
/** How deep an unguarded callback may re-enter itself before the checker calls it runaway recursion (the kernel would overflow its stack). */
const RECURSION_LIMIT = 8;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** A filter entry: a function's name, or a set_ftrace_filter pattern (`sys_*`, `?`, `[a-z]`), either after an optional `!`. */
const FILTER_ENTRY = /^!?[A-Za-z0-9_.*?[\]!-]+$/;

function validEntry(x: unknown): boolean {
  if (typeof x !== 'string' || !FILTER_ENTRY.test(x)) return false;
  const body = x.startsWith('!') ? x.slice(1) : x;
  return body.length > 0 && (isPattern(body) || FUNCTION_NAME.test(body));
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function resolveOptions(options: unknown): ResolvedFtraceOptions {
  const bad = (what: string): never => {
    throw new TracelabError('INVALID_OPTION', `ftrace: ${what}`, { plugin: 'ftrace' });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    bad(`options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) bad(`unknown option ${JSON.stringify(key)} (known options: ${OPTION_KEYS.join(', ')})`);
  }
  const oneOf = <T extends string>(key: string, values: readonly T[], fallback: T): T => {
    const v = o[key] ?? fallback;
    if (!(values as readonly unknown[]).includes(v)) bad(`option ${key} must be ${values.map((x) => `'${x}'`).join(' or ')}, got ${describe(v)}`);
    return v as T;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') bad(`option ${key} must be a boolean, got ${describe(v)}`);
    return v as boolean;
  };
  return {
    freeTrampolineAfter: oneOf('freeTrampolineAfter', ['rcu-tasks', 'rcu-sched'], 'rcu-tasks'),
    dynamicTrampolines: bool('dynamicTrampolines', true),
    traceIdle: bool('traceIdle', false),
    traceTick: bool('traceTick', false),
    idleTrampolines: oneOf('idleTrampolines', ['refuse', 'allow'], 'refuse'),
    checks: bool('checks', true),
    listWalk: oneOf('listWalk', ['atomic', 'steps'], 'atomic'),
    shutdownWait: oneOf('shutdownWait', ['dynamic', 'trampoline-only'], 'dynamic'),
    directCaller: bool('directCaller', false),
    slightRaceFix: bool('slightRaceFix', true),
    cpuSync: oneOf('cpuSync', ['tasks-rude', 'rcu-sched'], 'tasks-rude'),
    recursionGuard: oneOf('recursionGuard', ['per-context', 'per-task'], 'per-context'),
  };
}

function checkNames(where: string, what: string, v: unknown): readonly string[] {
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
function checkOps(where: string, ops: unknown): asserts ops is FtraceOps {
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

/**
 * The ftrace plugin: mcount sites patched between the nop, the list caller and per-ops dynamic
 * trampolines; ops with filter/notrace hashes; record refcounts; a DYNAMIC ops' trampoline
 * freed after its sites are unpatched and an RCU-tasks grace period. See docs/ftrace.md.
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
    register: (ctx) => registerFtrace(ctx, resolved),
  });
}

function recordedOptions(o: ResolvedFtraceOptions): Partial<ResolvedFtraceOptions> {
  const { listWalk, shutdownWait, directCaller, slightRaceFix, cpuSync, recursionGuard, traceTick, ...rest } = o;
  return {
    ...rest,
    ...(traceTick ? { traceTick } : {}),
    ...(recursionGuard !== 'per-context' ? { recursionGuard } : {}),
    ...(cpuSync !== 'tasks-rude' ? { cpuSync } : {}),
    ...(listWalk !== 'atomic' ? { listWalk } : {}),
    ...(shutdownWait !== 'dynamic' ? { shutdownWait } : {}),
    ...(directCaller ? { directCaller } : {}),
    ...(!slightRaceFix ? { slightRaceFix } : {}),
  };
}

function registerFtrace(ctx: PluginContext<FtraceState>, options: ResolvedFtraceOptions): FtraceApi {
  const reg = new Registry();
  const tasksRcu: RcuTasksApi = ctx.api('rcu-tasks');
  registerReducers(ctx);

  // ---- the simulated mcount targets ------------------------------------------------------------

  // The recursion guard (trace_test_and_set_recursion): for each guard key held, the context
  // that took it; and each context's depth inside unguarded callbacks. A context is a task and
  // the level it runs at (task, hard interrupt, NMI), as the kernel keeps one bit per context in
  // current->trace_recursion: an interrupt arriving inside a guarded callback is traced, a
  // callback reaching traced code from its own context is not. The guard key is the context, or
  // with `recursionGuard: 'per-task'` the task alone. Written only by the context itself around
  // its calls (a context runs on one CPU at a time, and nests only by interrupting).
  const guarded = new Map<string, string>();
  const unguardedDepth = new Map<string, number>();
  const perTask = options.recursionGuard === 'per-task';

  /**
   * The recursion context of the running code: the task (an idle task is one per CPU, all pid
   * 0), and `:irq`/`:nmi` inside a handler; and the key its guard bit is under.
   */
  function* recursionContext(): KPath<{ readonly context: string; readonly key: string }> {
    const me = yield* current();
    const task = me.pid === 0 ? `swapper/${me.cpu}` : String(me.pid);
    const context = inNmiCount(me.preemptCount) ? `${task}:nmi` : inIrqCount(me.preemptCount) ? `${task}:irq` : task;
    return { context, key: perTask ? task : context };
  }

  /**
   * Calls one ops' callback under the recursion guard that the list function takes, and that
   * the assist function (ftrace_ops_assist_func) takes for an ops with FTRACE_OPS_FL_RECURSION
   * (Linux 5.11 on: the flag asks ftrace for protection): a callback that reaches traced code
   * again from the same context is not called again. `guard` false: a trampoline calling an
   * ops without RECURSION directly; the callback must protect itself, and runaway nesting is
   * reported once it passes RECURSION_LIMIT (the kernel would overflow its stack).
   */
  function* guardedCallback(op: OpsRec, ip: string, parentIp: string, pid: number, guard: boolean): KPath<void> {
    const { context, key } = yield* recursionContext();
    if (guard) {
      const holder = guarded.get(key);
      if (holder !== undefined) {
        // The bit is set: bail out, as trace_test_and_set_recursion does, and say so. Refused
        // from another context than the one holding the bit, the call was not recursion (an
        // interrupt inside the callback) and its event is lost.
        if (holder === context) yield* emit({ type: 'ftrace/recursion-refused', ops: op.id, ip, pid });
        else yield* emit({ type: 'ftrace/recursion-lost', ops: op.id, ip, pid, context, holder });
        return;
      }
      guarded.set(key, context);
      try {
        // FTRACE_OPS_FL_RCU: a callback that uses RCU is skipped where RCU is not watching (the
        // idle loop between rcu_idle_enter and rcu_idle_exit), in the list and assist functions.
        if (op.ops.flags?.includes('RCU') === true && !(yield* rcuIsWatching())) yield* emit({ type: 'ftrace/rcu-skip', ops: op.id, ip, pid });
        else yield* callback(op, ip, parentIp, pid);
      } finally {
        guarded.delete(key);
      }
      return;
    }
    const depth = (unguardedDepth.get(context) ?? 0) + 1;
    if (depth > RECURSION_LIMIT) {
      yield* emit({ type: 'ftrace/recursion', ops: op.id, ip, pid, depth });
      return;
    }
    unguardedDepth.set(context, depth);
    try {
      yield* callback(op, ip, parentIp, pid);
    } finally {
      if (depth === 1) unguardedDepth.delete(context);
      else unguardedDepth.set(context, depth - 1);
    }
  }

  /** Calls one ops' callback; a throwing callback is reported and skipped, never fatal. */
  function* callback(op: OpsRec, ip: string, parentIp: string, pid: number): KPath<void> {
    let fault: unknown;
    let faulted = false;
    try {
      // A plain callback's return value (often an arrow's expression) is ignored; a kernel path is run.
      const path: unknown = op.func(ip, parentIp, op.ops);
      if (typeof path === 'object' && path !== null && typeof (path as KPath<void>).next === 'function') yield* path as KPath<void>;
    } catch (err) {
      fault = err;
      faulted = true;
    }
    if (faulted)
      yield* emit({
        type: 'ftrace/callback-fault',
        ops: op.id,
        ip,
        pid,
        message: fault instanceof Error ? `${fault.name}: ${fault.message}` : describe(fault),
      });
  }

  /**
   * ftrace_caller + ftrace_ops_list_func. The caller is static kernel text (never freed), and
   * preemptible while it saves registers. The walk reads the list once and runs with
   * preemption off in the kernel (preempt_disable_notrace); here it takes no scheduling point,
   * so no unregister can interleave with it.
   */
  function* listCaller(ip: string, parentIp: string): KPath<void> {
    yield* schedPoint();
    if (options.listWalk === 'steps') return yield* listCallerSteps(ip, parentIp);
    const me = yield* current();
    const list = reg.list;
    const called: number[] = [];
    for (const op of list) {
      if (!opsTraces(op, ip)) continue;
      called.push(op.id);
      yield* guardedCallback(op, ip, parentIp, me.pid, true);
    }
    yield* emit({ type: 'ftrace/list-call', ip, pid: me.pid, ops: called });
  }
  // ftrace_trace_function (null: the list function) and function_trace_op, with `directCaller`.
  // Written by update_ftrace_function under ftrace_lock; read by ftrace_caller on any CPU.
  let traceFunction: OpsRec | null = null;
  let traceOp: OpsRec | null = null;

  /**
   * ftrace_caller with `directCaller`: load function_trace_op, then (another step: other CPUs
   * act) ftrace_trace_function, and call it with that op, preemption off throughout.
   */
  function* ftraceCaller(ip: string, parentIp: string): KPath<void> {
    if (!options.directCaller) return yield* listCaller(ip, parentIp);
    yield* preemptDisable();
    const op = traceOp;
    yield* schedPoint();
    const func = traceFunction;
    if (func === null) {
      yield* preemptEnable();
      return yield* listCaller(ip, parentIp);
    }
    const me = yield* current();
    try {
      if (op !== func) yield* emit({ type: 'ftrace/op-mismatch', ops: func.id, op: op?.id ?? null, ip, pid: me.pid });
      else if (opsTraces(func, ip)) yield* guardedCallback(func, ip, parentIp, me.pid, true);
    } finally {
      yield* preemptEnable();
    }
  }

  /**
   * update_ftrace_function: the lone ops' callback, or the list function. Going to the list
   * function needs no care (it ignores function_trace_op). Going to a callback: with the fix,
   * the list function first, every CPU synchronized (synchronize_rcu_tasks_rude; RCU-sched
   * stands in, as in ftrace_shutdown), then the op, every CPU synchronized again (the
   * ftrace_sync_ipi), then the function.
   */
  function* updateFtraceFunction(): KPath<void> {
    if (!options.directCaller) return;
    const func = reg.list.length === 1 ? reg.list[0]! : null;
    if (func === traceFunction) return;
    if (func === null || !options.slightRaceFix) {
      if (func !== null) traceOp = func;
      traceFunction = func;
      yield* emit({ type: 'ftrace/trace-function', func: func?.id ?? null, op: traceOp?.id ?? null });
      return;
    }
    traceFunction = null;
    yield* emit({ type: 'ftrace/trace-function', func: null, op: traceOp?.id ?? null });
    yield* synchronizeRcu();
    traceOp = func;
    // smp_wmb, then smp_call_function(ftrace_sync_ipi): every CPU has taken the IPI, so no
    // caller that loaded the old op (its loads are in one preempt-off section) is still
    // between its two loads when the function changes.
    yield* synchronizeRcu();
    traceFunction = func;
    yield* emit({ type: 'ftrace/trace-function', func: func.id, op: func.id });
  }
  const listHandler: McountHandler = (ip, parentIp) => ftraceCaller(ip, parentIp);

  /**
   * ftrace_ops_list_func as the kernel runs it: preempt_disable_notrace, then
   * do_for_each_ftrace_op (an RCU-sched walk of ftrace_ops_list: the list head read once, each
   * ->next read as it goes), the hash test and the call per ops, preempt_enable_notrace. A
   * scheduling point between one ops and the next lets other CPUs unregister meanwhile; only
   * the RCU-sched wait in ftrace_shutdown keeps an ops this walk still holds from being freed.
   */
  function* listCallerSteps(ip: string, parentIp: string): KPath<void> {
    yield* preemptDisable();
    const me = yield* current();
    const list = reg.list;
    const called: number[] = [];
    try {
      for (const op of list) {
        if (op.freedByOwner) {
          yield* emit({ type: 'ftrace/ops-use-after-free', ops: op.id, ip, pid: me.pid });
          return;
        }
        if (opsTraces(op, ip)) {
          called.push(op.id);
          yield* guardedCallback(op, ip, parentIp, me.pid, true);
        }
        yield* schedPoint();
      }
      yield* emit({ type: 'ftrace/list-call', ip, pid: me.pid, ops: called });
    } finally {
      yield* preemptEnable();
    }
  }

  /**
   * A dynamic trampoline: the copy of ftrace_caller that calls its ops' callback directly. It
   * is preemptible (the thread's "set up regs for function call. <interrupt>
   * preempt_schedule()"): a scheduling point before the call and one after it, and the task is
   * on the trampoline in between. After each point it reads `freed`: a task that resumes on
   * freed memory is the use-after-free (reported, and it stops executing it).
   */
  function* trampolinePath(t: Trampoline, ip: string, parentIp: string): KPath<void> {
    const me = yield* current();
    if (t.freed) {
      yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'entry' });
      return;
    }
    yield* emit({ type: 'ftrace/tramp-enter', tramp: t.id, ops: t.ops.id, ip, pid: me.pid, traced: opsTraces(t.ops, ip) });
    yield* schedPoint();
    if (t.freed) {
      yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'resume' });
      return;
    }
    // With FTRACE_OPS_FL_RECURSION or FTRACE_OPS_FL_RCU the trampoline calls the assist
    // function, which takes the guard and tests rcu_is_watching (ftrace_ops_get_func); without
    // either, the callback itself.
    const flags = t.ops.ops.flags;
    yield* guardedCallback(t.ops, ip, parentIp, me.pid, flags?.includes('RECURSION') === true || flags?.includes('RCU') === true);
    yield* schedPoint();
    if (t.freed) {
      yield* emit({ type: 'ftrace/use-after-free', tramp: t.id, ip, pid: me.pid, at: 'resume' });
      return;
    }
    yield* emit({ type: 'ftrace/tramp-exit', tramp: t.id, pid: me.pid });
  }
  const trampHandlers = new Map<Trampoline, McountHandler>();
  function handlerOf(t: Trampoline): McountHandler {
    let h = trampHandlers.get(t);
    if (h === undefined) {
      h = (ip, parentIp) => trampolinePath(t, ip, parentIp);
      trampHandlers.set(t, h);
    }
    return h;
  }

  // ---- records and sites ------------------------------------------------------------------------

  /**
   * The functions the kernel has defined since the last update (in definition order), now
   * known to ftrace: the update brings their records up to date before anything else. Whether
   * a host read or an unregistered ops' filter created their Site object already does not
   * matter: "known" is `reg.syncedNames`, not `reg.sites`.
   */
  function syncSites(): Site[] {
    const fresh: Site[] = [];
    const names = Object.keys(ctx.state().functions);
    for (let i = reg.synced.length; i < names.length; i++) {
      const name = names[i]!;
      if (reg.syncedNames.has(name)) continue;
      const site = reg.site(name);
      reg.synced.push(site);
      reg.syncedNames.add(name);
      fresh.push(site);
    }
    return fresh;
  }

  /** The sites an ops' hashes admit (every known function for an empty filter, in definition order). */
  function sitesOf(op: OpsRec): Site[] {
    const out: Site[] = [];
    if (op.filter === null) {
      for (const s of reg.synced) if (opsTraces(op, s.ip)) out.push(s);
    } else {
      for (const ip of op.filter) if (opsTraces(op, ip)) out.push(reg.site(ip));
    }
    return out;
  }

  /** Whether `site` may call trampoline `t` at all (the idle-loop rule). */
  function trampolineAllowed(site: Site, t: Trampoline): boolean {
    return !(t.ops.dynamic && options.idleTrampolines === 'refuse' && IDLE_FUNCTIONS.has(site.ip));
  }

  /**
   * __ftrace_hash_rec_update for one record, against the list as it is now: the refcount, and
   * TRAMP when exactly one ops traces it and that ops has a live trampoline. Logs a change.
   */
  function* updateRecord(site: Site): KPath<void> {
    let count = 0;
    let only: OpsRec | null = null;
    for (const op of reg.list) {
      if (!opsTraces(op, site.ip)) continue;
      count++;
      only = op;
    }
    const t = count === 1 && only!.trampoline !== null && !only!.trampoline.retired ? only!.trampoline : null;
    if (site.refcount === count && site.tramp === t) return;
    site.refcount = count;
    site.tramp = t;
    reg.dirty.add(site);
    yield* emit({ type: 'ftrace/rec', ip: site.ip, refcount: count, tramp: t?.id ?? null });
  }

  /** ftrace_get_addr_new: where the record says its site must call. */
  function wantedTarget(site: Site): 'nop' | 'list' | Trampoline {
    if (site.refcount === 0) return 'nop';
    if (site.tramp !== null && trampolineAllowed(site, site.tramp)) return site.tramp;
    return 'list';
  }

  /** Patches one site (the kernel's int3 text_poke of the call instruction, as one store). */
  function* patchSite(site: Site, to: 'nop' | 'list' | Trampoline): KPath<void> {
    const from: FtraceTarget = site.targetId;
    reg.setFastTarget(site, to);
    ctx.patchFunction(site.ip, to === 'nop' ? null : to === 'list' ? listHandler : handlerOf(to));
    yield* emit({ type: 'ftrace/site-patched', ip: site.ip, from, to: site.targetId });
  }

  /**
   * ftrace_replace_code: patches every site among `sites` whose target differs from what its
   * record wants, with a scheduling point before each (other CPUs keep calling the functions
   * while the text is rewritten).
   */
  function* replaceCode(sites: Iterable<Site>): KPath<void> {
    for (const site of sites) {
      const to = wantedTarget(site);
      if (to === site.targetRef) continue;
      yield* schedPoint();
      yield* patchSite(site, to);
    }
  }

  // ---- register / unregister / set filter ---------------------------------------------------

  function opsRecOf(ops: FtraceOps): OpsRec {
    let op = reg.byOps.get(ops);
    if (op === undefined) {
      const id = reg.nextOpsId++;
      const label = `${ops.label ?? (ops.func.name !== '' ? ops.func.name : 'ops')}#${id}`;
      op = new OpsRec(id, ops, label, ops.flags?.includes('DYNAMIC') ?? false);
      // Patterns in the ops' own lists are expanded against the functions defined now; one that
      // matches nothing makes the registration fail with -EINVAL (see registerFtraceFunction).
      const known = Object.keys(ctx.state().functions);
      const f = expandFilter(ops.filter ?? [], known);
      const n = expandFilter(ops.notrace ?? [], known);
      op.unmatched = 'unmatched' in f ? f.unmatched : 'unmatched' in n ? n.unmatched : null;
      op.setHashes('names' in f ? f.names : [], 'names' in n ? n.names : []);
      reg.byOps.set(ops, op);
      reg.opsById.set(id, op);
    }
    return op;
  }

  function declareSites(names: readonly string[]): void {
    for (const name of names) {
      ctx.defineFunction(name);
      reg.site(name);
    }
  }

  /** ftrace_update_trampoline: keep a static ops' trampoline, else allocate one (or do without). */
  function* updateTrampoline(op: OpsRec): KPath<void> {
    if (op.trampoline !== null) return; // a static ops' trampoline, reused as it is
    if (op.dynamic && !options.dynamicTrampolines) {
      yield* emit({ type: 'ftrace/tramp-none', ops: op.id, reason: 'dynamic-off' });
      return;
    }
    if (yield* shouldFailAlloc()) {
      // create_trampoline failed: the ops simply goes through the list caller.
      yield* emit({ type: 'ftrace/tramp-none', ops: op.id, reason: 'enomem' });
      return;
    }
    const t = new Trampoline(reg.nextTrampId++, op);
    reg.trampolines.set(t.id, t);
    op.trampoline = t;
    yield* emit({ type: 'ftrace/tramp-alloc', tramp: t.id, ops: op.id });
  }

  function* registerFtraceFunction(ops: FtraceOps): KPath<number> {
    yield* mutexLock(FTRACE_LOCK);
    const op = opsRecOf(ops);
    if (op.registered) {
      yield* mutexUnlock(FTRACE_LOCK);
      return -EBUSY;
    }
    if (op.unmatched !== null) {
      yield* printk(`ftrace: ${op.label}: filter entry ${JSON.stringify(op.unmatched)} matches no function: -EINVAL`);
      yield* mutexUnlock(FTRACE_LOCK);
      return -EINVAL;
    }
    // IPMODIFY needs SAVE_REGS (the callback changes regs->ip); and only one IPMODIFY ops may
    // trace a function (ftrace_hash_ipmodify_enable): a live-patch and a kprobe that both
    // redirect it would fight over the return address.
    const flags = ops.flags ?? [];
    if (flags.includes('IPMODIFY') && !flags.includes('SAVE_REGS')) {
      yield* mutexUnlock(FTRACE_LOCK);
      return -EINVAL;
    }
    if (flags.includes('IPMODIFY')) {
      declareSites(op.filterList);
      syncSites();
      const clash = reg.list.some((o) => o.ops.flags?.includes('IPMODIFY') === true && sitesOf(op).some((s) => opsTraces(o, s.ip)));
      if (clash) {
        yield* mutexUnlock(FTRACE_LOCK);
        return -EBUSY;
      }
    }
    op.freedByOwner = false;
    const me = yield* current();
    declareSites(op.filterList);
    const fresh = syncSites();
    yield* emit({ type: 'ftrace/update-start', op: 'register', ops: op.id, pid: me.pid });
    // Functions first seen since the last update pick up the ops already registered
    // (ftrace_module_enable), before the new one joins.
    for (const s of fresh) yield* updateRecord(s);
    // One step: the ops goes on the list and every record it matches is raised.
    op.registered = true;
    reg.list = Object.freeze([...reg.list, op]);
    yield* emit({
      type: 'ftrace/ops-registered',
      ops: op.id,
      label: op.label,
      flags: op.dynamic ? ['DYNAMIC'] : [],
      filter: [...op.filterList],
      notrace: [...op.notraceList],
    });
    yield* updateTrampoline(op);
    const touched = sitesOf(op);
    for (const s of touched) yield* updateRecord(s);
    yield* replaceCode([...fresh, ...touched]);
    yield* updateFtraceFunction();
    yield* emit({ type: 'ftrace/update-end', ops: op.id });
    yield* mutexUnlock(FTRACE_LOCK);
    return 0;
  }

  function* unregisterFtraceFunction(ops: FtraceOps): KPath<number> {
    yield* mutexLock(FTRACE_LOCK);
    const op = reg.byOps.get(ops);
    if (op === undefined || !op.registered) {
      yield* mutexUnlock(FTRACE_LOCK);
      return -ENOENT;
    }
    const me = yield* current();
    const fresh = syncSites();
    yield* emit({ type: 'ftrace/update-start', op: 'unregister', ops: op.id, pid: me.pid });
    for (const s of fresh) yield* updateRecord(s);
    // One step: off the list, records lowered. The trampoline stops being anyone's TRAMP.
    op.registered = false;
    reg.list = Object.freeze(reg.list.filter((x) => x !== op));
    const t = op.trampoline;
    if (t !== null && op.dynamic) t.retired = true;
    yield* emit({ type: 'ftrace/ops-removed', ops: op.id });
    const touched = sitesOf(op);
    for (const s of touched) yield* updateRecord(s);
    // Unpatch: from here on no site calls the trampoline, but a task may still be on it.
    yield* replaceCode([...fresh, ...touched]);
    yield* updateFtraceFunction();
    yield* emit({ type: 'ftrace/update-end', ops: op.id });
    // ftrace_shutdown: a DYNAMIC ops may be freed by its owner once this returns, trampoline
    // or not, so every DYNAMIC ops waits for the callers that may still hold it (the kernel's
    // "we must make sure that all callers are done before leaving this function").
    if (op.dynamic && !(options.shutdownWait === 'trampoline-only' && t === null)) {
      if (t !== null) yield* emit({ type: 'ftrace/tramp-retired', tramp: t.id, ops: op.id, wait: options.freeTrampolineAfter });
      // synchronize_rcu_tasks_rude: every CPU has passed a context switch, so no CPU still has
      // the old call target in flight, an idle CPU inside an instrumented idle routine (RCU not
      // watching) included. A context switch on every CPU also ends every RCU-sched reader
      // begun before, so it stands for synchronize_rcu too. `cpuSync: 'rcu-sched'` (the unsafe
      // variant) waits for RCU-sched alone, which the idle loop's extended quiescent state satisfies.
      if (options.cpuSync === 'tasks-rude') yield* tasksRcu.synchronizeRcuTasksRude();
      else yield* synchronizeRcu();
      // A task preempted on the trampoline is not covered by the above (preemption is an
      // RCU-sched quiescent state). synchronize_rcu_tasks waits until every task that was
      // runnable in the kernel has switched voluntarily or been in user mode: off the trampoline.
      if (options.freeTrampolineAfter === 'rcu-tasks') yield* tasksRcu.synchronizeRcuTasks();
      if (t !== null) {
        t.freed = true;
        op.trampoline = null;
        yield* emit({ type: 'ftrace/tramp-freed', tramp: t.id, ops: op.id });
      }
    }
    yield* emit({ type: 'ftrace/ops-shutdown', ops: op.id });
    yield* mutexUnlock(FTRACE_LOCK);
    if (op.dynamic && options.listWalk === 'steps') {
      // The owner of a DYNAMIC ops frees it once unregister returns (perf, trace instances);
      // modelled with the stepped walk, the only one a walker can be inside across it.
      op.freedByOwner = true;
      yield* emit({ type: 'ftrace/ops-freed', ops: op.id });
    }
    return 0;
  }

  function* ftraceSetFilter(ops: FtraceOps, entries: readonly string[], notraceEntries: readonly string[]): KPath<number> {
    yield* mutexLock(FTRACE_LOCK);
    const op = opsRecOf(ops);
    declareSites(entries.filter((e) => !e.startsWith('!') && !isPattern(e)));
    // Patterns are expanded now, against the functions defined now (ftrace_match_records).
    const known = Object.keys((yield* getState()).functions);
    const f = expandFilter(entries, known);
    const n = expandFilter(notraceEntries, known);
    if ('unmatched' in f || 'unmatched' in n) {
      const bad = 'unmatched' in f ? f.unmatched : (n as { unmatched: string }).unmatched;
      yield* printk(`ftrace: set_ftrace_filter: ${JSON.stringify(bad)} matches no function: -EINVAL`);
      yield* mutexUnlock(FTRACE_LOCK);
      return -EINVAL;
    }
    const filter = f.names;
    const notrace = n.names;
    if (!op.registered) {
      op.setHashes(filter, notrace);
      yield* emit({ type: 'ftrace/filter-set', ops: op.id, filter: [...op.filterList], notrace: [...op.notraceList] });
      yield* mutexUnlock(FTRACE_LOCK);
      return 0;
    }
    const me = yield* current();
    const fresh = syncSites();
    yield* emit({ type: 'ftrace/update-start', op: 'set-filter', ops: op.id, pid: me.pid });
    for (const s of fresh) yield* updateRecord(s);
    const before = sitesOf(op);
    // The list caller for the whole transaction: every site on this ops' trampoline that the
    // new hashes drop goes to the list caller (which tests the hashes) before they change, so
    // the trampoline never calls the callback for a function its ops no longer traces.
    const next = new OpsRec(op.id, op.ops, op.label, op.dynamic);
    next.setHashes(filter, notrace);
    for (const s of before) {
      if (s.targetRef === op.trampoline && op.trampoline !== null && !opsTraces(next, s.ip)) {
        yield* schedPoint();
        yield* patchSite(s, 'list');
      }
    }
    // One step: the new hashes are published and the records follow them.
    op.setHashes(filter, notrace);
    yield* emit({ type: 'ftrace/filter-set', ops: op.id, filter: [...op.filterList], notrace: [...op.notraceList] });
    const after = sitesOf(op);
    const touched = new Set([...fresh, ...before, ...after]);
    for (const s of touched) yield* updateRecord(s);
    // The same trampoline serves the new sites: it calls the same callback (reused, not copied).
    yield* replaceCode(touched);
    yield* emit({ type: 'ftrace/update-end', ops: op.id });
    yield* mutexUnlock(FTRACE_LOCK);
    return 0;
  }

  /** The body of the idle loop's instrumented function: the CPU just idles. */
  function* defaultIdle(): KPath<void> {
    yield* current();
  }

  // ---- the idle loop -----------------------------------------------------------------------------

  if (options.traceIdle) {
    for (const name of IDLE_FUNCTIONS) ctx.defineFunction(name);
    ctx.tap('idle', function* defaultIdleHook() {
      // A kprobe-like site in the idle task: an instrumented function each idle pass. The idle
      // loop calls it with RCU not watching (rcu_idle_enter before the arch idle routine), so
      // its mcount site runs in an extended quiescent state: ftrace_sync's synchronize_rcu does
      // not wait for it, and neither does RCU-tasks (the idle task is on no task list).
      yield* rcuIdleEnter();
      yield* fn('default_idle', defaultIdle());
      yield* rcuIdleExit();
    });
  }

  // ---- the timer tick ----------------------------------------------------------------------------

  if (options.traceTick) {
    ctx.defineFunction(TICK_FUNCTION);
    ctx.tap('irq', function* updateProcessTimesHook({ name }) {
      // The tick's handler calls update_process_times, a traced function: its mcount site runs
      // in hard-interrupt context, inside whatever the CPU was doing (a callback included).
      if (name === 'timer') yield* fn(TICK_FUNCTION, updateProcessTimes());
    });
  }

  function* updateProcessTimes(): KPath<void> {
    yield* current();
  }

  // ---- invariants ----------------------------------------------------------------------------------

  /** Starts the memoising checks afresh (kernel.reset); a no-op without checks. */
  let resetChecks = (): void => undefined;

  if (options.checks) {
    ctx.invariant(FTRACE_INVARIANTS.useAfterFree, reportInvariant(['freed-in-use', 'use-after-free']));
    ctx.invariant(FTRACE_INVARIANTS.opsUseAfterFree, reportInvariant(['ops-use-after-free']));
    ctx.invariant(FTRACE_INVARIANTS.recursion, reportInvariant(['recursion']));
    ctx.invariant(FTRACE_INVARIANTS.recursionContext, reportInvariant(['recursion-lost']));
    ctx.invariant(FTRACE_INVARIANTS.opMismatch, reportInvariant(['op-mismatch']));
    ctx.invariant(FTRACE_INVARIANTS.wrongFunction, reportInvariant(['wrong-function']));
    // These two remember what they checked last (by identity); a reset starts them afresh.
    let refcountCheck = recRefcountInvariant();
    let siteCheck = siteTargetInvariant(reg, options);
    ctx.invariant(FTRACE_INVARIANTS.refcount, (s) => refcountCheck(s));
    ctx.invariant(FTRACE_INVARIANTS.siteTarget, (s) => siteCheck(s));
    resetChecks = () => {
      refcountCheck = recRefcountInvariant();
      siteCheck = siteTargetInvariant(reg, options);
    };
  }

  // kernel.reset: the registry, the fast-path globals and the per-task guards as registration
  // left them.
  const restoreRegistry = reg.mark();
  ctx.onReset(() => {
    restoreRegistry();
    guarded.clear();
    unguardedDepth.clear();
    traceFunction = null;
    traceOp = null;
    trampHandlers.clear();
    resetChecks();
  });

  // ---- the API -------------------------------------------------------------------------------------

  return {
    options,
    registerFtraceFunction: (ops) => {
      checkOps('registerFtraceFunction', ops);
      return registerFtraceFunction(ops);
    },
    unregisterFtraceFunction: (ops) => {
      checkOps('unregisterFtraceFunction', ops);
      return unregisterFtraceFunction(ops);
    },
    ftraceSetFilter: (ops, filter, notrace = []) => {
      checkOps('ftraceSetFilter', ops);
      return ftraceSetFilter(ops, checkNames('ftraceSetFilter', 'filter', filter), checkNames('ftraceSetFilter', 'notrace', notrace));
    },
    site: (name) => {
      if (!reg.sites.has(name) && ctx.state().functions[name] === undefined) return undefined;
      return reg.site(name);
    },
    opsId: (ops) => reg.byOps.get(ops)?.id,
    record: (name) => ctx.slice().records[name],
  };
}
