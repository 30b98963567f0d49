import type { McountHandler, PluginContext } from '@tracelab/core';
import type { RcuTasksApi } from '@tracelab/rcu-tasks';
import type { BpfTrampoline } from '../bpf-trampoline.js';
import type { FtraceState, ResolvedFtraceOptions } from '../events.js';
import { ftraceCaller } from '../mcount.js';
import { FgraphTables } from './fgraph-registry.js';
import { Registry, type OpsRec, type Trampoline } from './registry.js';

/**
 * The state of one ftrace instance (one kernel) outside the immer slice: what the kernel keeps
 * in kernel/trace/ftrace.c's globals and in each task's trace_recursion word. Every kernel path
 * of the package takes it as its first argument; `register(ctx)` makes one and wires it.
 */
export class FtraceRuntime {
  /**
   * The hot objects the fast paths read: ftrace_ops_list, the sites, the trampolines (see
   * Registry for each field's guard: ftrace_lock for writers, lock-free readers).
   */
  readonly reg = new Registry();
  /** The function graph tracer's tables (fgraph_array, the shadow stacks): see FgraphTables for each field's guard. */
  readonly fgraph = new FgraphTables();
  /**
   * The recursion guard (trace_test_and_set_recursion): for each guard key held, the context
   * that took it. A context is a task and the level it runs at (task, hard interrupt, NMI), as
   * the kernel keeps one bit per context in current->trace_recursion; the key is the context,
   * or with `recursionGuard: 'per-task'` the task alone. Written only by the context itself
   * around its calls (a context runs on one CPU at a time, and nests only by interrupting).
   */
  readonly guarded = new Map<string, string>();
  /** Each context's depth inside unguarded callbacks. Written only by the context itself, as `guarded`. */
  readonly unguardedDepth = new Map<string, number>();
  /**
   * ftrace_trace_function (null: the list function), with `directCaller`. guarded by:
   * ftrace_lock (written only by updateFtraceFunction); read lock-free by ftrace_caller on any CPU.
   */
  traceFunction: OpsRec | null = null;
  /** function_trace_op, with `directCaller`. guarded by: ftrace_lock, as `traceFunction`. */
  traceOp: OpsRec | null = null;
  /**
   * The mcount handler of each trampoline (one closure per trampoline, made when a site is first
   * patched to it). guarded by: ftrace_lock (written by patchSite); cleared by kernel.reset.
   */
  readonly trampHandlers = new Map<Trampoline, McountHandler>();
  /**
   * __modify_ftrace_direct's static tmp_ops, made at the first modify. guarded by: direct_mutex;
   * cleared by kernel.reset.
   */
  directTmpOps: OpsRec | null = null;
  /**
   * The BPF trampolines (`struct bpf_trampoline`), by traced function, made at their first
   * link. guarded by: direct_mutex; cleared by kernel.reset.
   */
  readonly bpfTrampolines = new Map<string, BpfTrampoline>();
  /** The mcount handler of every site that calls ftrace_caller. Immutable. */
  readonly listHandler: McountHandler;

  constructor(
    readonly ctx: PluginContext<FtraceState>,
    readonly options: ResolvedFtraceOptions,
    /** RCU-tasks' API (the dependency's): the waits of ftrace_shutdown. Immutable. */
    readonly tasksRcu: RcuTasksApi,
  ) {
    this.listHandler = (ip, parentIp) => ftraceCaller(this, ip, parentIp);
  }
}
