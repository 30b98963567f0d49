import {
  EBUSY,
  EINVAL,
  ENOENT,
  ENOSPC,
  current,
  emit,
  mutexLock,
  mutexUnlock,
  printk,
  schedPoint,
  type KPath,
  type McountHandler,
  type McountReturn,
} from '@tracelab/core';
import { siteHandler } from './arch-x86-ftrace.js';
import type { FgraphOps } from './events.js';
import { FTRACE_LOCK, FTRACE_RETFUNC_DEPTH } from './internal/constants.js';
import { FgraphRec, type RetFrame } from './internal/fgraph-registry.js';
import { expandFilter } from './internal/glob.js';
import { describe } from './internal/options.js';
import { taskKey } from './internal/reducers.js';
import type { Site } from './internal/registry.js';
import type { FtraceRuntime } from './internal/runtime.js';

/**
 * The function graph tracer, after kernel/trace/fgraph.c: fgraph ops with an entry and a return
 * handler; at a traced entry the function's return address is saved on the task's shadow
 * return stack (ret_stack) and replaced by return_to_handler, which at the return pops the
 * frame and calls the return handlers of the ops that pushed it. The frame holds their slots in
 * fgraph_array, and an unregistered ops' slot holds fgraph_stub, so a task still inside the
 * function when its ops goes away (asleep, preempted) returns through the stub. Shadow stacks
 * are freed at task exit.
 */

/**
 * ftrace_graph_caller: the site's function tracer target first (`inner`), then the graph entry.
 * Returns the return hook when a frame was pushed.
 */
export function* ftraceGraphCaller(ft: FtraceRuntime, inner: McountHandler | null, ip: string, parentIp: string): KPath<McountReturn> {
  if (inner !== null) {
    const path = inner(ip, parentIp);
    if (path !== undefined) yield* path;
  }
  return yield* functionGraphEnter(ft, ip);
}

/**
 * function_graph_enter with ftrace_push_return_trace: on a full shadow stack the entry is lost
 * and counted (trace_overrun); else each registered ops whose filter admits `ip` has its entry
 * handler called, and if any asks for the return a frame is pushed and the return hook
 * (returnToHandler) is returned. Runs on the entering task, which alone writes its stack.
 */
export function* functionGraphEnter(ft: FtraceRuntime, ip: string): KPath<McountReturn> {
  const g = ft.fgraph;
  if (g.active === 0) return undefined;
  const me = yield* current();
  const task = taskKey(me.pid, me.cpu);
  const stack = g.stacks.get(task);
  const depth = stack?.length ?? 0;
  if (depth >= FTRACE_RETFUNC_DEPTH) {
    const overrun = (g.overrun.get(task) ?? 0) + 1;
    g.overrun.set(task, overrun);
    yield* emit({ type: 'ftrace/fgraph-overrun', ip, pid: me.pid, overrun });
    return undefined;
  }
  const idx: number[] = [];
  const saved: FgraphRec[] = [];
  for (let i = 0; i < g.array.length; i++) {
    const rec = g.array[i];
    if (rec === null || rec === undefined || (rec.filter !== null && !rec.filter.has(ip))) continue;
    if (yield* callEntry(rec, ip, depth, me.pid)) {
      idx.push(i);
      saved.push(rec);
    }
  }
  // No ops wants the return: the return address is left alone (the kernel's out_ret pop).
  if (idx.length === 0) return undefined;
  const frame: RetFrame = { func: ip, depth, idx, saved };
  if (stack === undefined) g.stacks.set(task, [frame]);
  else stack.push(frame);
  yield* emit({ type: 'ftrace/fgraph-push', ip, pid: me.pid, depth, idx, gops: saved.map((r) => r.id) });
  return returnToHandler(ft, task, frame);
}

/** How a thrown handler error is logged (as ftrace/callback-fault logs a callback's). */
function faultMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : describe(err);
}

/** An ops' entry handler; one that throws is reported and counts as declining. */
function* callEntry(rec: FgraphRec, ip: string, depth: number, pid: number): KPath<boolean> {
  if (rec.gops.entry === undefined) return true;
  try {
    return rec.gops.entry({ func: ip, depth }, rec.gops) === true;
  } catch (err) {
    yield* emit({ type: 'ftrace/fgraph-fault', gops: rec.id, ip, pid, message: faultMessage(err) });
    return false;
  }
}

/**
 * return_to_handler (ftrace_return_to_handler): the traced function returned. The frame's
 * return handlers run, then it is popped. With `fgraphReturn: 'fgraph-array'` each is looked
 * up by its slot in fgraph_array, where an unregistered ops left fgraph_stub (skipped); with
 * the unsafe `'ret-stack-ops'` the frame's own ops pointer is called, freed or not.
 */
export function* returnToHandler(ft: FtraceRuntime, task: string, frame: RetFrame): KPath<void> {
  const g = ft.fgraph;
  const me = yield* current();
  const called: number[] = [];
  const stubbed: number[] = [];
  const overrun = g.overrun.get(task) ?? 0;
  for (let k = 0; k < frame.idx.length; k++) {
    const slot = frame.idx[k]!;
    const rec = ft.options.fgraphReturn === 'fgraph-array' ? g.array[slot]! : frame.saved[k]!;
    if (rec === null) {
      stubbed.push(slot);
      continue;
    }
    if (rec.freed) {
      // The ops' memory is gone: this call is the use-after-free (reported, and not made).
      yield* emit({ type: 'ftrace/fgraph-use-after-free', gops: rec.id, ip: frame.func, pid: me.pid });
      continue;
    }
    called.push(rec.id);
    try {
      rec.gops.ret?.({ func: frame.func, depth: frame.depth, overrun }, rec.gops);
    } catch (err) {
      yield* emit({
        type: 'ftrace/fgraph-fault',
        gops: rec.id,
        ip: frame.func,
        pid: me.pid,
        message: faultMessage(err),
      });
    }
  }
  // The frame is popped only after the handlers ran (they may still read it).
  const stack = g.stacks.get(task);
  if (stack !== undefined && stack[stack.length - 1] === frame) {
    stack.pop();
    if (stack.length === 0) g.stacks.delete(task);
  }
  yield* emit({ type: 'ftrace/fgraph-return', ip: frame.func, pid: me.pid, depth: frame.depth, gops: called, stubbed });
}

/** ftrace_graph_exit_task, from the exit hook: frees the task's shadow stack, frames and all. */
export function ftraceGraphExitTask(ft: FtraceRuntime, pid: number): KPath<void> | undefined {
  const stack = ft.fgraph.stacks.get(String(pid));
  if (stack === undefined) return undefined;
  return (function* freeRetStack(): KPath<void> {
    ft.fgraph.stacks.delete(String(pid));
    ft.fgraph.overrun.delete(String(pid));
    yield* emit({ type: 'ftrace/fgraph-stack-freed', pid, pending: stack.length });
  })();
}

/** ftrace's record of an fgraph ops object: made the first time it is seen. */
function fgraphRecOf(ft: FtraceRuntime, gops: FgraphOps): FgraphRec {
  const g = ft.fgraph;
  let rec = g.byOps.get(gops);
  if (rec === undefined) {
    const id = g.nextId++;
    rec = new FgraphRec(id, gops, `${gops.label ?? 'fgraph'}#${id}`);
    g.byOps.set(gops, rec);
  }
  return rec;
}

/** Whether some registered fgraph ops traces `ip`. */
function graphWanted(ft: FtraceRuntime, ip: string): boolean {
  return ft.fgraph.array.some((r) => r !== null && (r.filter === null || r.filter.has(ip)));
}

/** Enables or disables the graph caller at each of `sites` whose state differs from what the registered ops want. The caller holds ftrace_lock. */
function* updateGraphSites(ft: FtraceRuntime, sites: readonly Site[], extra: FgraphRec | null): KPath<void> {
  for (const site of sites) {
    const on = graphWanted(ft, site.ip) || (extra !== null && (extra.filter === null || extra.filter.has(site.ip)));
    if (on === site.graph) continue;
    yield* schedPoint();
    site.graph = on;
    ft.ctx.patchFunction(site.ip, siteHandler(ft, site));
    yield* emit({ type: 'ftrace/fgraph-patched', ip: site.ip, on });
  }
}

/** The sites of the functions an fgraph ops traces: its filter's, or every function defined now. */
function graphSites(ft: FtraceRuntime, rec: FgraphRec): Site[] {
  const names = rec.filter === null ? Object.keys(ft.ctx.state().functions) : rec.filterList;
  return names.map((n) => ft.reg.site(n));
}

/**
 * register_ftrace_graph: see FtraceApi.registerFtraceGraph for the return values. The slot is
 * published last, after the sites are enabled, as upstream sets fgraph_array[i] once
 * ftrace_startup_subops succeeded.
 */
export function* registerFtraceGraph(ft: FtraceRuntime, gops: FgraphOps): KPath<number> {
  yield* mutexLock(FTRACE_LOCK);
  try {
    const g = ft.fgraph;
    const rec = fgraphRecOf(ft, gops);
    if (rec.registered) return -EBUSY;
    const f = expandFilter(gops.filter ?? [], Object.keys(ft.ctx.state().functions));
    if ('unmatched' in f) {
      yield* printk(`ftrace: ${rec.label}: filter entry ${JSON.stringify(f.unmatched)} matches no function: -EINVAL`);
      return -EINVAL;
    }
    const idx = g.lru.shift();
    if (idx === undefined) return -ENOSPC;
    for (const name of f.names) ft.ctx.defineFunction(name);
    rec.filterList = Object.freeze([...f.names]);
    rec.filter = f.names.length === 0 ? null : new Set(f.names);
    rec.idx = idx;
    rec.freed = false;
    g.active++;
    yield* updateGraphSites(ft, graphSites(ft, rec), rec);
    rec.registered = true;
    g.array[idx] = rec;
    yield* emit({ type: 'ftrace/fgraph-registered', gops: rec.id, idx, label: rec.label, filter: [...rec.filterList] });
    return 0;
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
}

/**
 * unregister_ftrace_graph: see FtraceApi.unregisterFtraceGraph. Nothing waits for the frames the
 * ops pushed (a task may sleep in a traced function for ever): the stub in its slot is what
 * keeps their returns from calling it. The owner frees the ops once this returns.
 */
export function* unregisterFtraceGraph(ft: FtraceRuntime, gops: FgraphOps): KPath<number> {
  const g = ft.fgraph;
  yield* mutexLock(FTRACE_LOCK);
  let rec: FgraphRec | undefined;
  try {
    rec = g.byOps.get(gops);
    if (rec === undefined || !rec.registered) return -ENOENT;
    const idx = rec.idx;
    g.array[idx] = null;
    g.lru.push(idx);
    g.active--;
    rec.registered = false;
    yield* emit({ type: 'ftrace/fgraph-unregistered', gops: rec.id, idx });
    yield* updateGraphSites(ft, graphSites(ft, rec), null);
  } finally {
    yield* mutexUnlock(FTRACE_LOCK);
  }
  rec.freed = true;
  yield* emit({ type: 'ftrace/fgraph-freed', gops: rec.id });
  return 0;
}
