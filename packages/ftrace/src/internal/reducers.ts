import type { PluginContext } from '@tracelab/core';
import type { FtraceState } from '../events.js';

export const INITIAL_FTRACE_STATE: FtraceState = {
  ops: {},
  records: {},
  trampolines: {},
  onTrampoline: {},
  updating: null,
  reports: [],
};

/** The task a trampoline event is about: its pid, or the idle task of the emitting CPU. */
export function taskKey(pid: number, cpu: number): string {
  return pid === 0 ? `swapper/${cpu}` : String(pid);
}

/** Every reducer of the slice: pure functions of (slice, event). */
export function registerReducers(ctx: PluginContext<FtraceState>): void {
  ctx.initSlice(INITIAL_FTRACE_STATE);
  ctx.on('ftrace/update-start', (f, e) => {
    f.updating = { op: e.op, ops: e.ops, pid: e.pid };
  });
  ctx.on('ftrace/update-end', (f) => {
    f.updating = null;
  });
  ctx.on('ftrace/ops-registered', (f, e) => {
    const old = f.ops[e.ops];
    f.ops[e.ops] = { label: e.label, flags: e.flags, filter: e.filter, notrace: e.notrace, state: 'registered', trampoline: old?.trampoline ?? null };
  });
  ctx.on('ftrace/ops-removed', (f, e) => {
    const op = f.ops[e.ops];
    if (op !== undefined) op.state = 'removing';
  });
  ctx.on('ftrace/ops-shutdown', (f, e) => {
    const op = f.ops[e.ops];
    if (op !== undefined) op.state = 'off';
  });
  ctx.on('ftrace/filter-set', (f, e) => {
    const op = f.ops[e.ops];
    if (op === undefined) f.ops[e.ops] = { label: `ops#${e.ops}`, flags: [], filter: e.filter, notrace: e.notrace, state: 'off', trampoline: null };
    else {
      op.filter = e.filter;
      op.notrace = e.notrace;
    }
  });
  ctx.on('ftrace/rec', (f, e) => {
    const r = f.records[e.ip];
    if (r === undefined) f.records[e.ip] = { refcount: e.refcount, tramp: e.tramp, target: 'nop', ...(e.direct === true ? { direct: true } : {}) };
    else {
      r.refcount = e.refcount;
      r.tramp = e.tramp;
      if (e.direct === true) r.direct = true;
      else delete r.direct;
    }
  });
  ctx.on('ftrace/site-patched', (f, e) => {
    const r = f.records[e.ip];
    if (r === undefined) f.records[e.ip] = { refcount: 0, tramp: null, target: e.to, ...(e.directEn === true ? { directEn: true } : {}) };
    else {
      r.target = e.to;
      if (e.directEn === true) r.directEn = true;
      else delete r.directEn;
    }
  });
  ctx.on('ftrace/direct-tramp', (f, e) => {
    f.trampolines[e.tramp] = { ops: e.ops, state: 'allocated', direct: true, label: e.label };
  });
  ctx.on('ftrace/direct-functions', (f, e) => {
    const hash = (f.directFunctions ??= {});
    for (const ip of e.ips) {
      if (e.tramp === null) delete hash[ip];
      else hash[ip] = { tramp: e.tramp, ops: e.ops };
    }
  });
  ctx.declareEvents(['ftrace/tramp-none', 'ftrace/list-call', 'ftrace/callback-fault']);
  ctx.on('ftrace/tramp-alloc', (f, e) => {
    f.trampolines[e.tramp] = { ops: e.ops, state: 'allocated' };
    const op = f.ops[e.ops];
    if (op !== undefined) op.trampoline = e.tramp;
  });
  ctx.on('ftrace/tramp-retired', (f, e) => {
    const t = f.trampolines[e.tramp];
    if (t !== undefined) t.state = 'retired';
  });
  ctx.on('ftrace/tramp-freed', (f, e) => {
    const t = f.trampolines[e.tramp];
    if (t !== undefined) t.state = 'freed';
    const op = f.ops[e.ops];
    if (op !== undefined && op.trampoline === e.tramp) op.trampoline = null;
    // Freeing memory a task is still executing: that task's next instruction is freed code.
    for (const [task, stack] of Object.entries(f.onTrampoline)) {
      if (stack.includes(e.tramp)) f.reports.push({ kind: 'freed-in-use', tramp: e.tramp, task, ...(t?.direct === true ? { direct: true } : {}) });
    }
  });
  ctx.on('ftrace/tramp-enter', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const stack = f.onTrampoline[key];
    if (stack === undefined) f.onTrampoline[key] = [e.tramp];
    else stack.push(e.tramp);
    if (!e.traced) f.reports.push({ kind: 'wrong-function', tramp: e.tramp, ops: e.ops, ip: e.ip, task: key });
  });
  ctx.on('ftrace/tramp-exit', (f, e) => {
    popTrampoline(f, taskKey(e.pid, e.cpu), e.tramp);
  });
  ctx.on('ftrace/ops-use-after-free', (f, e) => {
    f.reports.push({ kind: 'ops-use-after-free', ops: e.ops, ip: e.ip, task: String(e.pid) });
  });
  ctx.declareEvents(['ftrace/ops-freed', 'ftrace/trace-function', 'ftrace/recursion-refused', 'ftrace/rcu-skip']);
  ctx.declareEvents(['ftrace/ops-func', 'ftrace/ip-modified', 'ftrace/bpf-tramp-update']);
  ctx.on('ftrace/call-body', (f, e) => {
    // An IPMODIFY callback redirected the call, and the call ran another body: the live patch was bypassed.
    if (e.redirect !== null && e.body !== e.redirect)
      f.reports.push({ kind: 'ipmodify-bypassed', ip: e.ip, body: e.body, redirect: e.redirect, task: taskKey(e.pid, e.cpu), tramp: e.tramp });
  });
  ctx.on('ftrace/op-mismatch', (f, e) => {
    f.reports.push({ kind: 'op-mismatch', ops: e.ops, op: e.op, ip: e.ip, task: String(e.pid) });
  });
  ctx.on('ftrace/recursion-lost', (f, e) => {
    f.reports.push({ kind: 'recursion-lost', ops: e.ops, ip: e.ip, task: e.context.split(':')[0] ?? e.context, context: e.context, holder: e.holder });
  });
  ctx.on('ftrace/recursion', (f, e) => {
    f.reports.push({ kind: 'recursion', ops: e.ops, ip: e.ip, task: String(e.pid), depth: e.depth });
  });
  ctx.on('ftrace/use-after-free', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const direct = f.trampolines[e.tramp]?.direct === true ? { direct: true as const } : {};
    f.reports.push({ kind: 'use-after-free', tramp: e.tramp, task: key, ip: e.ip, at: e.at, ...direct });
    if (e.at === 'resume') popTrampoline(f, key, e.tramp);
  });
}

/** The function graph tracer's reducers: its ops, the shadow stacks, the losses, the use-after-free reports. */
export function registerFgraphReducers(ctx: PluginContext<FtraceState>): void {
  ctx.declareEvents(['ftrace/fgraph-patched', 'ftrace/fgraph-fault']);
  ctx.on('ftrace/fgraph-registered', (f, e) => {
    (f.fgraph ??= {})[e.gops] = { label: e.label, idx: e.idx, state: 'registered' };
  });
  ctx.on('ftrace/fgraph-unregistered', (f, e) => {
    const g = f.fgraph?.[e.gops];
    if (g !== undefined) g.state = 'off';
  });
  ctx.on('ftrace/fgraph-freed', (f, e) => {
    const g = f.fgraph?.[e.gops];
    if (g !== undefined) g.state = 'freed';
  });
  ctx.on('ftrace/fgraph-push', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const frame = { func: e.ip, idx: e.idx, gops: e.gops };
    const stacks = (f.retStacks ??= {});
    const stack = stacks[key];
    if (stack === undefined) stacks[key] = [frame];
    else stack.push(frame);
  });
  ctx.on('ftrace/fgraph-return', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const stack = f.retStacks?.[key];
    if (stack === undefined) return;
    stack.pop();
    if (stack.length === 0) delete f.retStacks![key];
  });
  ctx.on('ftrace/fgraph-overrun', (f, e) => {
    (f.fgraphOverrun ??= {})[taskKey(e.pid, e.cpu)] = e.overrun;
  });
  ctx.on('ftrace/fgraph-stack-freed', (f, e) => {
    if (f.retStacks !== undefined) delete f.retStacks[String(e.pid)];
    if (f.fgraphOverrun !== undefined) delete f.fgraphOverrun[String(e.pid)];
  });
  ctx.on('ftrace/fgraph-use-after-free', (f, e) => {
    f.reports.push({ kind: 'fgraph-use-after-free', gops: e.gops, ip: e.ip, task: taskKey(e.pid, e.cpu) });
  });
}

function popTrampoline(f: { onTrampoline: Record<string, number[]> }, key: string, tramp: number): void {
  const stack = f.onTrampoline[key];
  if (stack === undefined) return;
  const i = stack.lastIndexOf(tramp);
  if (i >= 0) stack.splice(i, 1);
  if (stack.length === 0) delete f.onTrampoline[key];
}
