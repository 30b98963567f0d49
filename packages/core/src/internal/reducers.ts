import { isDraft, original, type Draft } from 'immer';
import type { EventType, KernelEvent } from '../events.js';
import { intMapEmpty, intMapGet, intMapWith } from '../int-map.js';
import type { KernelState, LockState, MmState, TaskState } from '../state.js';
import { PAGE_SIZE } from '../state.js';

/**
 * The core's reducers: pure functions of (state draft, event). They read nothing but their
 * arguments, so folding a log always rebuilds the same state. A reducer that finds the event
 * impossible (an unknown pid) throws: the emitting kernel path has a bug.
 */
/**
 * The draft reducers write. The two IntMaps stay opaque (their recursive node type is too deep
 * for immer's Draft<>): reducers read them with intMapGet on the plain value and replace them
 * with intMapWith's frozen copy (see putTask).
 */
export type CoreDraft = Draft<Omit<KernelState, 'tasks' | 'memory'>> & { tasks: KernelState['tasks']; memory: KernelState['memory'] };
export type CoreReducer<T extends EventType> = (draft: CoreDraft, event: KernelEvent<T>) => void;
type CoreReducers = { [T in EventType]?: CoreReducer<T> };

export function initialCoreState(): KernelState {
  return {
    clock: { now: 0 },
    kernel: {
      cpus: 0,
      seed: 0,
      coreVersion: '',
      plugins: [],
      disabledPlugins: {},
      nextPid: 1,
      oopses: 0,
      tasksReleased: 0,
    },
    cpus: [],
    runqueue: [],
    tasks: intMapEmpty<TaskState>(),
    locks: {},
    rcu: { completed: 0, gp: null, callbacks: [], nextCallbackId: 1 },
    memory: intMapEmpty<MmState>(),
    modules: {},
    functions: {},
    plugins: {},
  };
}

// The hot collections (tasks, memory, the runqueue) are written copy-on-write by hand: the
// reducer reads the plain value under the draft, builds a frozen new one, and assigns it.
// immer skips frozen subtrees when it finalizes, so an event costs a few small copies instead
// of proxying a 32-way trie (measured: ~16 us per event through drafts).
function plain<T>(v: T): T {
  return isDraft(v) ? (original(v) as T) : v;
}

function freezeTask(t: TaskState): TaskState {
  Object.freeze(t.children);
  Object.freeze(t.flags);
  Object.freeze(t.pendingSignals);
  return Object.freeze(t);
}

function getTask(draft: CoreDraft, pid: number): TaskState | undefined {
  return intMapGet(plain(draft.tasks), pid);
}

function task(draft: CoreDraft, pid: number, type: string): TaskState {
  const t = getTask(draft, pid);
  if (t === undefined) throw new Error(`${type}: no task with pid ${pid}`);
  return t;
}

function putTask(draft: CoreDraft, t: TaskState): void {
  draft.tasks = intMapWith(plain(draft.tasks), t.pid, freezeTask(t));
}

/** Replaces task `pid` with `change(task)` merged in. */
function updateTask(draft: CoreDraft, pid: number, type: string, change: Partial<TaskState>): void {
  putTask(draft, { ...task(draft, pid, type), ...change });
}

function getMm(draft: CoreDraft, tgid: number): MmState | undefined {
  return intMapGet(plain(draft.memory), tgid);
}

function putMm(draft: CoreDraft, mm: MmState): void {
  Object.freeze(mm.pages);
  Object.freeze(mm.data);
  draft.memory = intMapWith(plain(draft.memory), mm.tgid, Object.freeze(mm));
}

function newTask(pid: number, comm: string, parent: number, kthread: boolean, flags: Record<string, true>): TaskState {
  return {
    pid,
    tgid: pid,
    parent,
    children: [],
    comm,
    kthread,
    state: 'new',
    mode: kthread ? 'kernel' : 'user',
    cpu: -1,
    flags,
    nvcsw: 0,
    nivcsw: 0,
    listed: false,
    waitingOn: null,
    wakeAt: null,
    syscall: null,
    pendingSignals: [],
    exitCode: null,
    exitState: null,
    nextFd: 3,
  };
}

function newMm(tgid: number): MmState {
  return { tgid, brk: 0x10000, pages: {}, data: {} };
}

// The runqueue is rebuilt from its plain array: walking an immer array draft costs a proxy
// trap per element, which made every context switch O(runnable tasks) in traps.
function plainRunqueue(draft: CoreDraft): readonly number[] {
  return plain(draft.runqueue);
}

function enqueue(draft: CoreDraft, pid: number): void {
  const rq = plainRunqueue(draft);
  if (!rq.includes(pid)) draft.runqueue = Object.freeze([...rq, pid]) as number[];
}

function dequeue(draft: CoreDraft, pid: number): void {
  const rq = plainRunqueue(draft);
  const i = rq.indexOf(pid);
  if (i >= 0) draft.runqueue = Object.freeze([...rq.slice(0, i), ...rq.slice(i + 1)]) as number[];
}

/** The task leaves the state: its final switch is done, or it was released while off-CPU. */
function forget(draft: CoreDraft, pid: number): void {
  const t = getTask(draft, pid);
  if (t !== undefined && t.tgid === t.pid) draft.memory = intMapWith(plain(draft.memory), pid, null);
  draft.tasks = intMapWith(plain(draft.tasks), pid, null);
  dequeue(draft, pid);
}

function isOnCpu(draft: CoreDraft, pid: number): boolean {
  return draft.cpus.some((c) => c.curr === pid);
}

function lock(draft: CoreDraft, name: string, kind: LockState['kind']): Draft<LockState> {
  let l = draft.locks[name];
  if (l === undefined) {
    l =
      kind === 'mutex'
        ? { kind, owner: null, waiters: [] }
        : { kind, writer: null, readers: [], waiters: [] };
    draft.locks[name] = l;
    l = draft.locks[name]!;
  }
  if (l.kind !== kind && !(l.kind !== 'mutex' && kind !== 'mutex')) {
    throw new Error(`lock ${name} is a ${l.kind}, used as a ${kind}`);
  }
  return l;
}

// Events that change no state (printk, rcu/read-lock, ...) have no reducer.
const reducers: CoreReducers = {
  'kernel/created'(d, e) {
    d.kernel.cpus = e.cpus;
    d.kernel.seed = e.seed;
    d.kernel.coreVersion = e.coreVersion;
    d.cpus = Array.from({ length: e.cpus }, (_, id) => ({ id, curr: 0, preemptCount: 0, online: true }));
  },
  'kernel/plugin-registered'(d, e) {
    d.kernel.plugins.push(e.options === undefined ? { name: e.name, version: e.version } : { name: e.name, version: e.version, options: e.options });
  },
  'kernel/oops'(d, e) {
    d.kernel.oopses += 1;
    if (e.plugin !== null) d.kernel.disabledPlugins[e.plugin] = `${e.where}: ${e.message}`;
    if (e.preemptCount !== null && e.cpu >= 0) d.cpus[e.cpu]!.preemptCount = e.preemptCount;
    // A killed task is not dead yet: it leaves through do_exit, whose events follow.
  },
  'kernel/function-defined'(d, e) {
    d.functions[e.name] = { name: e.name };
  },
  'task/spawned'(d, e) {
    putTask(d, { ...newTask(e.pid, e.comm, 0, e.kthread, {}), state: 'runnable', listed: true });
    if (!e.kthread) putMm(d, newMm(e.pid));
    if (e.pid + 1 > d.kernel.nextPid) d.kernel.nextPid = e.pid + 1;
    enqueue(d, e.pid);
  },
  'fork/dup'(d, e) {
    const parent = task(d, e.parent, e.type);
    const flags: Record<string, true> = {};
    for (const f of e.flags) flags[f] = true;
    putTask(d, { ...newTask(e.child, e.comm, e.parent, parent.kthread, flags), mode: 'kernel' });
    const mm = getMm(d, parent.tgid);
    if (mm !== undefined) putMm(d, { ...mm, tgid: e.child });
    if (e.child + 1 > d.kernel.nextPid) d.kernel.nextPid = e.child + 1;
  },
  'fork/link'(d, e) {
    updateTask(d, e.child, e.type, { listed: true });
    const parent = task(d, e.parent, e.type);
    putTask(d, { ...parent, children: [...parent.children, e.child] });
  },
  'task/flags'(d, e) {
    const t = task(d, e.pid, e.type);
    const flags: Record<string, true> = { ...t.flags };
    for (const f of e.set) flags[f] = true;
    for (const f of e.clear) delete flags[f];
    putTask(d, { ...t, flags });
  },
  'task/exec'(d, e) {
    updateTask(d, e.pid, e.type, { comm: e.comm });
  },
  'task/exit'(d, e) {
    updateTask(d, e.pid, e.type, { exitCode: e.code });
  },
  'task/zombie'(d, e) {
    updateTask(d, e.pid, e.type, { exitState: 'zombie' });
  },
  'task/reparented'(d, e) {
    const t = task(d, e.pid, e.type);
    const old = getTask(d, t.parent);
    if (old !== undefined) putTask(d, { ...old, children: old.children.filter((c) => c !== e.pid) });
    putTask(d, { ...t, parent: e.parent });
    if (e.parent !== 0) {
      const p = task(d, e.parent, e.type);
      putTask(d, { ...p, children: [...p.children, e.pid] });
    }
  },
  'task/released'(d, e) {
    const t = task(d, e.pid, e.type);
    const parent = getTask(d, t.parent);
    if (parent !== undefined) putTask(d, { ...parent, children: parent.children.filter((c) => c !== e.pid) });
    putTask(d, { ...t, listed: false, exitState: 'dead' });
    d.kernel.tasksReleased += 1;
    // A task may be released before its final context switch (it autoreaps itself, or its
    // parent reaps it while it is preempted on the way out): it leaves the state at that
    // switch, not here, as the kernel keeps its task_struct until finish_task_switch.
    if (t.state === 'zombie' || t.state === 'dead') forget(d, e.pid);
  },
  'task/sleep'(d, e) {
    updateTask(d, e.pid, e.type, { state: e.state, waitingOn: e.on, wakeAt: e.until });
  },
  'sched/wakeup'(d, e) {
    if (isOnCpu(d, e.pid)) {
      // Woken between setting its sleep state and switching out: it simply keeps running.
      updateTask(d, e.pid, e.type, { state: 'running', waitingOn: null, wakeAt: null });
    } else {
      updateTask(d, e.pid, e.type, { state: 'runnable', waitingOn: null, wakeAt: null });
      enqueue(d, e.pid);
    }
  },
  'sched/switch'(d, e) {
    d.cpus[e.cpu]!.curr = e.next;
    if (e.prev !== 0) {
      const prev = getTask(d, e.prev);
      if (prev !== undefined) {
        putTask(d, { ...prev, state: e.prevState, nivcsw: prev.nivcsw + (e.preempted ? 1 : 0), nvcsw: prev.nvcsw + (e.preempted ? 0 : 1) });
        if (e.prevState === 'runnable') enqueue(d, e.prev);
        if (e.prevState === 'dead') forget(d, e.prev);
      }
    }
    if (e.next !== 0) {
      updateTask(d, e.next, e.type, { state: 'running', cpu: e.cpu });
      dequeue(d, e.next);
    }
  },
  'cpu/preempt-count'(d, e) {
    d.cpus[e.cpu]!.preemptCount = e.count;
  },
  'syscall/enter'(d, e) {
    updateTask(d, e.pid, e.type, { mode: 'kernel', syscall: e.name });
  },
  'syscall/exit'(d, e) {
    updateTask(d, e.pid, e.type, { mode: 'user', syscall: null });
  },
  'fault/page'(d, e) {
    if (e.user) updateTask(d, e.pid, e.type, { mode: 'kernel' });
  },
  'fault/resolved'(d, e) {
    const t = task(d, e.pid, e.type);
    const mm = getMm(d, t.tgid);
    if (mm !== undefined) putMm(d, { ...mm, pages: { ...mm.pages, [e.page]: true } });
    if (e.user) putTask(d, { ...t, mode: 'user' });
  },
  'mm/store'(d, e) {
    const mm = getMm(d, e.tgid);
    if (mm === undefined) throw new Error(`${e.type}: no address space for tgid ${e.tgid}`);
    // Each stored string gets its own 256-byte slot; pages fill up and new ones start cold.
    const brk = Math.max(mm.brk, e.addr + Math.max(256, Math.ceil((e.data.length + 1) / 256) * 256));
    putMm(d, { ...mm, brk, data: { ...mm.data, [e.addr]: e.data } });
  },
  'fs/open'(d, e) {
    const t = task(d, e.pid, e.type);
    putTask(d, { ...t, nextFd: Math.max(t.nextFd, e.fd + 1) });
  },
  'lock/wait'(d, e) {
    const l = lock(d, e.lock, e.kind);
    if (l.kind === 'mutex') l.waiters.push(e.pid);
    else l.waiters.push({ pid: e.pid, write: e.write });
  },
  'lock/acquired'(d, e) {
    const l = lock(d, e.lock, e.kind);
    if (l.kind === 'mutex') {
      if (l.owner !== null) throw new Error(`${e.type}: mutex ${e.lock} already owned by ${l.owner}`);
      l.owner = e.pid;
      l.waiters = l.waiters.filter((p) => p !== e.pid);
    } else {
      if (l.writer !== null || (e.write && l.readers.length > 0)) {
        throw new Error(`${e.type}: ${e.lock} cannot be taken for ${e.write ? 'write' : 'read'} by ${e.pid}`);
      }
      if (e.write) l.writer = e.pid;
      else l.readers.push(e.pid);
      l.waiters = l.waiters.filter((w) => w.pid !== e.pid);
    }
  },
  'lock/released'(d, e) {
    const l = lock(d, e.lock, e.kind);
    if (l.kind === 'mutex') {
      if (l.owner !== e.pid) throw new Error(`${e.type}: mutex ${e.lock} not owned by ${e.pid}`);
      l.owner = null;
    } else if (e.write) {
      if (l.writer !== e.pid) throw new Error(`${e.type}: ${e.lock} not write-held by ${e.pid}`);
      l.writer = null;
    } else {
      const i = l.readers.indexOf(e.pid);
      if (i < 0) throw new Error(`${e.type}: ${e.lock} not read-held by ${e.pid}`);
      l.readers.splice(i, 1);
    }
  },
  'rcu/gp-start'(d, e) {
    d.rcu.gp = { seq: e.gp, start: e.time, pending: e.pending };
  },
  'rcu/qs'(d, e) {
    const gp = d.rcu.gp;
    if (gp === null || gp.seq !== e.gp) throw new Error(`${e.type}: no grace period ${e.gp} in progress`);
    gp.pending = gp.pending.filter((c) => c !== e.cpu);
  },
  'rcu/gp-end'(d, e) {
    if (d.rcu.gp === null || d.rcu.gp.seq !== e.gp) throw new Error(`${e.type}: no grace period ${e.gp} in progress`);
    d.rcu.gp = null;
    d.rcu.completed = e.gp;
  },
  'rcu/callback-queued'(d, e) {
    d.rcu.callbacks.push({ id: e.id, gp: e.gp, label: e.label });
    d.rcu.nextCallbackId = Math.max(d.rcu.nextCallbackId, e.id + 1);
  },
  'rcu/callback-invoked'(d, e) {
    d.rcu.callbacks = d.rcu.callbacks.filter((c) => c.id !== e.id);
  },
  'signal/generate'(d, e) {
    const t = task(d, e.pid, e.type);
    if (!t.pendingSignals.includes(e.sig)) putTask(d, { ...t, pendingSignals: [...t.pendingSignals, e.sig] });
  },
  'signal/deliver'(d, e) {
    const t = task(d, e.pid, e.type);
    putTask(d, { ...t, pendingSignals: t.pendingSignals.filter((s) => s !== e.sig) });
  },
  'module/loaded'(d, e) {
    d.modules[e.name] = { name: e.name, state: 'live', data: e.data };
  },
  'module/going'(d, e) {
    const m = d.modules[e.name];
    if (m === undefined) throw new Error(`${e.type}: no module ${e.name}`);
    m.state = 'going';
  },
  'module/unloaded'(d, e) {
    delete d.modules[e.name];
  },
};

export function coreReducer(type: string): CoreReducer<EventType> | undefined {
  return (reducers as Record<string, CoreReducer<EventType> | undefined>)[type];
}

export function pageOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}
