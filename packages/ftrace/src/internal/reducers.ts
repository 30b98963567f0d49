import type { PluginContext } from '@tracelab/core';
import type { FtraceOpsState, FtraceReport, FtraceState } from '../events.js';
import { appended, copyObject, withField, withKey, without, withoutField, withoutKey } from '@tracelab/core';

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

// The reducers are plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built
// around the parts it keeps (the core's copies: `withField`, `withKey`, ...), or the slice itself when the event changes nothing; no
// immer draft (docs/benchmarks.md, "Plugin slices without drafts, second part").

/** The slice with ops `id`'s field `key` set, or the slice itself when there is no such ops or it holds that value. */
function withOpsField<K extends keyof FtraceOpsState>(f: FtraceState, id: number, key: K, value: FtraceOpsState[K]): FtraceState {
  const op = f.ops[id];
  if (op === undefined) return f;
  return withField(f, 'ops', withKey(f.ops, id, withField(op, key, value)));
}

/** The slice with `report` appended to its reports. */
function reported(f: FtraceState, report: FtraceReport): FtraceState {
  return withField(f, 'reports', appended(f.reports, report));
}

/** The slice with the last `tramp` taken off `key`'s trampoline stack (the stack dropped once empty). */
function popTrampoline(f: FtraceState, key: string, tramp: number): FtraceState {
  const stack = f.onTrampoline[key];
  if (stack === undefined) return f;
  const i = stack.lastIndexOf(tramp);
  const next = i >= 0 ? without(stack, i) : stack;
  if (next.length === 0) return withField(f, 'onTrampoline', withoutKey(f.onTrampoline, key));
  return withField(f, 'onTrampoline', withKey(f.onTrampoline, key, next));
}

/** The ops, filters and patch-site records. */
function registerOpsReducers(ctx: PluginContext<FtraceState>): void {
  ctx.onPlain('ftrace/update-start', (f, e) => withField(f, 'updating', { op: e.op, ops: e.ops, pid: e.pid }));
  ctx.onPlain('ftrace/update-end', (f) => withField(f, 'updating', null));
  ctx.onPlain('ftrace/ops-registered', (f, e) => {
    const old = f.ops[e.ops];
    const op: FtraceOpsState = {
      label: e.label,
      flags: e.flags,
      filter: e.filter,
      notrace: e.notrace,
      state: 'registered',
      trampoline: old?.trampoline ?? null,
    };
    return withField(f, 'ops', withKey(f.ops, e.ops, op));
  });
  ctx.onPlain('ftrace/ops-removed', (f, e) => withOpsField(f, e.ops, 'state', 'removing'));
  ctx.onPlain('ftrace/ops-shutdown', (f, e) => withOpsField(f, e.ops, 'state', 'off'));
  ctx.onPlain('ftrace/filter-set', (f, e) => {
    const op = f.ops[e.ops];
    if (op === undefined) {
      const fresh: FtraceOpsState = { label: `ops#${e.ops}`, flags: [], filter: e.filter, notrace: e.notrace, state: 'off', trampoline: null };
      return withField(f, 'ops', withKey(f.ops, e.ops, fresh));
    }
    return withField(f, 'ops', withKey(f.ops, e.ops, withField(withField(op, 'filter', e.filter), 'notrace', e.notrace)));
  });
  ctx.onPlain('ftrace/rec', (f, e) => {
    const r = f.records[e.ip];
    if (r === undefined)
      return withField(
        f,
        'records',
        withKey(f.records, e.ip, { refcount: e.refcount, tramp: e.tramp, target: 'nop', ...(e.direct === true ? { direct: true } : {}) }),
      );
    let c = withField(withField(r, 'refcount', e.refcount), 'tramp', e.tramp);
    c = e.direct === true ? withField(c, 'direct', true) : withoutField(c, 'direct');
    return withField(f, 'records', withKey(f.records, e.ip, c));
  });
  ctx.onPlain('ftrace/site-patched', (f, e) => {
    const r = f.records[e.ip];
    if (r === undefined)
      return withField(f, 'records', withKey(f.records, e.ip, { refcount: 0, tramp: null, target: e.to, ...(e.directEn === true ? { directEn: true } : {}) }));
    const c = withField(r, 'target', e.to);
    return withField(f, 'records', withKey(f.records, e.ip, e.directEn === true ? withField(c, 'directEn', true) : withoutField(c, 'directEn')));
  });
  ctx.onPlain('ftrace/direct-tramp', (f, e) =>
    withField(f, 'trampolines', withKey(f.trampolines, e.tramp, { ops: e.ops, state: 'allocated', direct: true, label: e.label })),
  );
  ctx.onPlain('ftrace/direct-functions', (f, e) => {
    // Changed as a draft would be: the hash made, a key set, or a key it held deleted.
    const base = f.directFunctions;
    const hash = base === undefined ? {} : copyObject(base);
    let changed = base === undefined;
    for (const ip of e.ips) {
      if (e.tramp === null) {
        if (ip in hash) {
          delete hash[ip];
          changed = true;
        }
      } else {
        hash[ip] = { tramp: e.tramp, ops: e.ops };
        changed = true;
      }
    }
    return changed ? withField(f, 'directFunctions', hash) : f;
  });
}

/** Trampolines: allocated, retired, freed, entered and left. */
function registerTrampolineReducers(ctx: PluginContext<FtraceState>): void {
  ctx.onPlain('ftrace/tramp-alloc', (f, e) => {
    const out = withField(f, 'trampolines', withKey(f.trampolines, e.tramp, { ops: e.ops, state: 'allocated' }));
    return withOpsField(out, e.ops, 'trampoline', e.tramp);
  });
  ctx.onPlain('ftrace/tramp-retired', (f, e) => {
    const t = f.trampolines[e.tramp];
    return t === undefined ? f : withField(f, 'trampolines', withKey(f.trampolines, e.tramp, withField(t, 'state', 'retired')));
  });
  ctx.onPlain('ftrace/tramp-freed', (f, e) => {
    const t = f.trampolines[e.tramp];
    let out = t === undefined ? f : withField(f, 'trampolines', withKey(f.trampolines, e.tramp, withField(t, 'state', 'freed')));
    if (out.ops[e.ops]?.trampoline === e.tramp) out = withOpsField(out, e.ops, 'trampoline', null);
    // Freeing memory a task is still executing: that task's next instruction is freed code.
    for (const [task, stack] of Object.entries(out.onTrampoline)) {
      if (stack.includes(e.tramp)) out = reported(out, { kind: 'freed-in-use', tramp: e.tramp, task, ...(t?.direct === true ? { direct: true } : {}) });
    }
    return out;
  });
  ctx.onPlain('ftrace/tramp-enter', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const stack = f.onTrampoline[key];
    const out = withField(f, 'onTrampoline', withKey(f.onTrampoline, key, stack === undefined ? [e.tramp] : appended(stack, e.tramp)));
    return e.traced ? out : reported(out, { kind: 'wrong-function', tramp: e.tramp, ops: e.ops, ip: e.ip, task: key });
  });
  ctx.onPlain('ftrace/tramp-exit', (f, e) => popTrampoline(f, taskKey(e.pid, e.cpu), e.tramp));
}

/** Every reducer of the slice: pure functions of (slice, event). */
export function registerReducers(ctx: PluginContext<FtraceState>): void {
  ctx.initSlice(INITIAL_FTRACE_STATE);
  registerOpsReducers(ctx);
  ctx.declareEvents(['ftrace/tramp-none', 'ftrace/list-call', 'ftrace/callback-fault']);
  registerTrampolineReducers(ctx);
  ctx.onPlain('ftrace/ops-use-after-free', (f, e) => reported(f, { kind: 'ops-use-after-free', ops: e.ops, ip: e.ip, task: String(e.pid) }));
  ctx.declareEvents(['ftrace/ops-freed', 'ftrace/trace-function', 'ftrace/recursion-refused', 'ftrace/rcu-skip']);
  ctx.declareEvents(['ftrace/ops-func', 'ftrace/ip-modified', 'ftrace/bpf-tramp-update']);
  ctx.onPlain('ftrace/call-body', (f, e) =>
    // An IPMODIFY callback redirected the call, and the call ran another body: the live patch was bypassed.
    e.redirect !== null && e.body !== e.redirect
      ? reported(f, { kind: 'ipmodify-bypassed', ip: e.ip, body: e.body, redirect: e.redirect, task: taskKey(e.pid, e.cpu), tramp: e.tramp })
      : f,
  );
  ctx.onPlain('ftrace/op-mismatch', (f, e) => reported(f, { kind: 'op-mismatch', ops: e.ops, op: e.op, ip: e.ip, task: String(e.pid) }));
  ctx.onPlain('ftrace/recursion-lost', (f, e) =>
    reported(f, { kind: 'recursion-lost', ops: e.ops, ip: e.ip, task: e.context.split(':')[0] ?? e.context, context: e.context, holder: e.holder }),
  );
  ctx.onPlain('ftrace/recursion', (f, e) => reported(f, { kind: 'recursion', ops: e.ops, ip: e.ip, task: String(e.pid), depth: e.depth }));
  ctx.onPlain('ftrace/use-after-free', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const direct = f.trampolines[e.tramp]?.direct === true ? { direct: true as const } : {};
    const out = reported(f, { kind: 'use-after-free', tramp: e.tramp, task: key, ip: e.ip, at: e.at, ...direct });
    return e.at === 'resume' ? popTrampoline(out, key, e.tramp) : out;
  });
}

/** The function graph tracer's reducers: its ops, the shadow stacks, the losses, the use-after-free reports. */
export function registerFgraphReducers(ctx: PluginContext<FtraceState>): void {
  ctx.declareEvents(['ftrace/fgraph-patched', 'ftrace/fgraph-fault']);
  ctx.onPlain('ftrace/fgraph-registered', (f, e) =>
    withField(f, 'fgraph', withKey(f.fgraph ?? {}, e.gops, { label: e.label, idx: e.idx, state: 'registered' })),
  );
  const fgraphState = (f: FtraceState, gops: number, state: 'off' | 'freed'): FtraceState => {
    const g = f.fgraph?.[gops];
    return g === undefined ? f : withField(f, 'fgraph', withKey(f.fgraph!, gops, withField(g, 'state', state)));
  };
  ctx.onPlain('ftrace/fgraph-unregistered', (f, e) => fgraphState(f, e.gops, 'off'));
  ctx.onPlain('ftrace/fgraph-freed', (f, e) => fgraphState(f, e.gops, 'freed'));
  ctx.onPlain('ftrace/fgraph-push', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const frame = { func: e.ip, idx: e.idx, gops: e.gops };
    const stacks = f.retStacks ?? {};
    const stack = stacks[key];
    return withField(f, 'retStacks', withKey(stacks, key, stack === undefined ? [frame] : appended(stack, frame)));
  });
  ctx.onPlain('ftrace/fgraph-return', (f, e) => {
    const key = taskKey(e.pid, e.cpu);
    const stack = f.retStacks?.[key];
    if (stack === undefined) return f;
    // pop, then the stack dropped once empty.
    if (stack.length <= 1) return withField(f, 'retStacks', withoutKey(f.retStacks!, key));
    return withField(f, 'retStacks', withKey(f.retStacks!, key, without(stack, stack.length - 1)));
  });
  ctx.onPlain('ftrace/fgraph-overrun', (f, e) => withField(f, 'fgraphOverrun', withKey(f.fgraphOverrun ?? {}, taskKey(e.pid, e.cpu), e.overrun)));
  ctx.onPlain('ftrace/fgraph-stack-freed', (f, e) => {
    let out = f;
    if (f.retStacks !== undefined) out = withField(out, 'retStacks', withoutKey(f.retStacks, String(e.pid)));
    if (f.fgraphOverrun !== undefined) out = withField(out, 'fgraphOverrun', withoutKey(f.fgraphOverrun, String(e.pid)));
    return out;
  });
  ctx.onPlain('ftrace/fgraph-use-after-free', (f, e) => reported(f, { kind: 'fgraph-use-after-free', gops: e.gops, ip: e.ip, task: taskKey(e.pid, e.cpu) }));
}
