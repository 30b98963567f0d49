import type { EventType, KernelEvent } from '../events.js';
import { intMapEmpty, intMapGet } from '../int-map.js';
import type { CpuState, KernelInfo, KernelState, LockState, MmState, RcuState, TaskState } from '../state.js';
import { PAGE_SIZE } from '../state.js';
import { freezeWorking, mapPut, own, type Journal } from './working.js';
import { without, type Mutable } from '../plain.js';

/**
 * The core's reducers: functions of (state, event) that read nothing but their arguments, so
 * folding a log always rebuilds the same state. A reducer that finds the event impossible (an
 * unknown pid) throws: the emitting kernel path has a bug.
 *
 * They write the store's working state in place (working.ts). Records (a task, an address
 * space, a CPU, a lock, the kernel info, the RCU record, the clock) are values: a change makes a
 * new record, because kernel code holds records across its emits and must keep reading what it
 * read. Containers (the root, the IntMaps' nodes, records of records such as `locks` or
 * `plugins`, the CPU array) are edited in place when not frozen, and copied once when frozen (a
 * snapshot someone may hold shares them). Every write goes through the journal `j`, which records
 * it while a checkpoint is open, so an oopsed step segment can be undone. Nothing here freezes:
 * the store freezes what a snapshot reaches when one is taken.
 */
export type CoreWriter = { -readonly [K in keyof KernelState]: KernelState[K] };
export type CoreReducer<T extends EventType> = (s: CoreWriter, event: KernelEvent<T>, j: Journal) => void;
type CoreReducers = { [T in EventType]?: CoreReducer<T> };

/** Freezes `v` and everything reachable from it (values that come in with an event). */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  for (const child of Object.values(v)) deepFreeze(child);
  return Object.freeze(v);
}

/** Deeply frozen, so one value serves every kernel (building and freezing it cost ~4 us each). */
let INITIAL: KernelState | null = null;

export function initialCoreState(): KernelState {
  return (INITIAL ??= buildInitialCoreState());
}

/** A working root over the initial state: the root itself is the only object not shared. */
export function initialWorkingState(): CoreWriter {
  return copyRoot(initialCoreState());
}

/** The root, field by field (spreading a frozen object is slow on Node 20: see copyTask). */
export function copyRoot(s: KernelState): CoreWriter {
  return {
    clock: s.clock,
    kernel: s.kernel,
    cpus: s.cpus,
    runqueue: s.runqueue,
    tasks: s.tasks,
    locks: s.locks,
    rcu: s.rcu,
    memory: s.memory,
    modules: s.modules,
    functions: s.functions,
    plugins: s.plugins,
  };
}

function buildInitialCoreState(): KernelState {
  return deepFreeze({
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
  });
}

/**
 * A field-by-field copy of a frozen task, to write. Written out, not spread: on Node 20
 * spreading a frozen object, or a spread followed by more properties, leaves V8's fast clone
 * path (measured ~340 ns against ~20 ns for this copy).
 */
function copyTask(t: TaskState): Mutable<TaskState> {
  const c = copyTaskFields(t);
  // Only a bound task carries the field (a second shape, for the rare task that has it).
  if (t.boundCpu !== undefined) c.boundCpu = t.boundCpu;
  // Likewise a task stopped in TASK_TRACED.
  if (t.traced === true) c.traced = true;
  return c;
}

function copyTaskFields(t: TaskState): Mutable<TaskState> {
  return {
    pid: t.pid,
    tgid: t.tgid,
    parent: t.parent,
    children: t.children,
    comm: t.comm,
    kthread: t.kthread,
    state: t.state,
    mode: t.mode,
    cpu: t.cpu,
    flags: t.flags,
    nvcsw: t.nvcsw,
    nivcsw: t.nivcsw,
    listed: t.listed,
    waitingOn: t.waitingOn,
    wakeAt: t.wakeAt,
    syscall: t.syscall,
    pendingSignals: t.pendingSignals,
    exitCode: t.exitCode,
    exitState: t.exitState,
    nextFd: t.nextFd,
  };
}

function getTask(s: CoreWriter, pid: number): TaskState | undefined {
  return intMapGet(s.tasks, pid);
}

function task(s: CoreWriter, pid: number, type: string): TaskState {
  const t = getTask(s, pid);
  if (t === undefined) throw new Error(`${type}: no task with pid ${pid}`);
  return t;
}

/**
 * A new record for task `old`, linked in its place, to write. Records are replaced, never edited
 * in place: kernel code holds task records across its emits (`const t = task(pid); emit(...);
 * t.state`) and must keep reading the values it read. Only containers (the IntMap's nodes, the
 * root, records of records) are edited in place.
 */
function writable(s: CoreWriter, j: Journal, old: TaskState): Mutable<TaskState> {
  const t = copyTask(old);
  mapPut(j, s, 'tasks', t.pid, t);
  return t;
}

/** A new record for task `pid`, linked in its place; an unknown pid is a kernel bug. */
function editTask(s: CoreWriter, j: Journal, pid: number, type: string): Mutable<TaskState> {
  return writable(s, j, task(s, pid, type));
}

function getMm(s: CoreWriter, tgid: number): MmState | undefined {
  return intMapGet(s.memory, tgid);
}

/** A new record for address space `old`, linked in its place (replaced, like tasks: storeString holds the old one). */
function editMm(s: CoreWriter, j: Journal, old: MmState): Mutable<MmState> {
  const mm = { tgid: old.tgid, brk: old.brk, pages: old.pages, data: old.data };
  mapPut(j, s, 'memory', mm.tgid, mm);
  return mm;
}

const NO_PIDS: readonly number[] = Object.freeze([]);
const NO_FLAGS: Readonly<Record<string, true>> = Object.freeze({});

function newTask(pid: number, comm: string, parent: number, kthread: boolean, flags: Readonly<Record<string, true>>): Mutable<TaskState> {
  return {
    pid,
    tgid: pid,
    parent,
    children: NO_PIDS,
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
    pendingSignals: NO_PIDS,
    exitCode: null,
    exitState: null,
    nextFd: 3,
  };
}

const EMPTY_PAGES = deepFreeze(intMapEmpty<true>());
const EMPTY_DATA = deepFreeze(intMapEmpty<string>());

function newMm(tgid: number): MmState {
  return { tgid, brk: 0x10000, pages: EMPTY_PAGES, data: EMPTY_DATA };
}

/** Whether `page` is resident in `mm` (false without an address space). */
export function mmHasPage(mm: MmState | undefined, page: number): boolean {
  return mm !== undefined && intMapGet(mm.pages, page) === true;
}

/** A new kernel-info record, linked in the root, to write (replaced: kernel code may hold the old one). */
function kernelW(s: CoreWriter, j: Journal): Mutable<KernelInfo> {
  const k = s.kernel;
  const next: Mutable<KernelInfo> = {
    cpus: k.cpus,
    seed: k.seed,
    coreVersion: k.coreVersion,
    plugins: k.plugins,
    disabledPlugins: k.disabledPlugins,
    nextPid: k.nextPid,
    oopses: k.oopses,
    tasksReleased: k.tasksReleased,
  };
  j.set(s, 'kernel', next);
  return next;
}

/** A new RCU record, linked in the root, to write (replaced: the runtime holds `rcu` across its emits). */
function rcuW(s: CoreWriter, j: Journal): Mutable<RcuState> {
  const r = s.rcu;
  const next: Mutable<RcuState> = { completed: r.completed, gp: r.gp, callbacks: r.callbacks, nextCallbackId: r.nextCallbackId };
  j.set(s, 'rcu', next);
  return next;
}

/** Sets CPU `id`'s record (a new one: CPU records are small, and readers may hold the old). */
function putCpu(s: CoreWriter, j: Journal, id: number, curr: number, preemptCount: number): void {
  const old = s.cpus[id];
  if (old === undefined) throw new Error(`no cpu ${id}`);
  const cpus = own<CpuState[]>(j, s, 'cpus');
  j.set(cpus, id, { id, curr, preemptCount, online: old.online } satisfies CpuState);
}

function cpu(s: CoreWriter, id: number): CpuState {
  const c = s.cpus[id];
  if (c === undefined) throw new Error(`no cpu ${id}`);
  return c;
}

// The runqueue is replaced, not edited: it is short, and the runtime reads it mid-step.
function enqueue(s: CoreWriter, j: Journal, pid: number): void {
  if (!s.runqueue.includes(pid)) j.set(s, 'runqueue', [...s.runqueue, pid]);
}

function dequeue(s: CoreWriter, j: Journal, pid: number): void {
  const i = s.runqueue.indexOf(pid);
  if (i >= 0) j.set(s, 'runqueue', without(s.runqueue, i));
}

/** The task leaves the state: its final switch is done, or it was released while off-CPU. */
function forget(s: CoreWriter, j: Journal, pid: number): void {
  const t = getTask(s, pid);
  if (t !== undefined && t.tgid === t.pid) mapPut(j, s, 'memory', pid, null);
  mapPut(j, s, 'tasks', pid, null);
  dequeue(s, j, pid);
}

/** Takes `child` off `parent`'s children, if the parent is still there. */
function dropChild(s: CoreWriter, j: Journal, parentPid: number, child: number): void {
  const old = getTask(s, parentPid);
  if (old === undefined) return;
  const parent = writable(s, j, old);
  j.set(
    parent,
    'children',
    parent.children.filter((c) => c !== child),
  );
}

function isOnCpu(s: CoreWriter, pid: number): boolean {
  return s.cpus.some((c) => c.curr === pid);
}

type Mutex = Extract<LockState, { kind: 'mutex' }>;
type RwLock = Exclude<LockState, { kind: 'mutex' }>;

function mutex(owner: number | null, waiters: Mutex['waiters']): Mutex {
  return { kind: 'mutex', owner, waiters };
}

function rwlock(kind: RwLock['kind'], writer: number | null, readers: RwLock['readers'], waiters: RwLock['waiters']): RwLock {
  return { kind, writer, readers, waiters };
}

/** The lock named `name`, as it stands (a fresh unlocked one if never used). */
function lock(s: CoreWriter, name: string, kind: LockState['kind']): LockState {
  const l = s.locks[name];
  if (l === undefined) {
    return kind === 'mutex' ? mutex(null, NO_PIDS) : rwlock(kind, null, NO_PIDS, []);
  }
  if (l.kind !== kind && !(l.kind !== 'mutex' && kind !== 'mutex')) {
    throw new Error(`lock ${name} is a ${l.kind}, used as a ${kind}`);
  }
  return l;
}

/** Lock records are replaced, not edited: each is a few fields, and waiters lists are rebuilt anyway. */
function putLock(s: CoreWriter, j: Journal, name: string, l: LockState): void {
  j.setKey(own(j, s, 'locks'), name, l);
}

/** Sets (or, with `undefined`, removes) a key of one of the root's records. */
function putKey(s: CoreWriter, j: Journal, field: 'modules' | 'functions', key: string, value: unknown): void {
  const rec = own<Record<string, unknown>>(j, s, field);
  if (value === undefined) j.removeKey(rec, key);
  else j.setKey(rec, key, value);
}

// Events that change no state (printk, rcu/read-lock, ...) have no reducer.
const reducers: CoreReducers = {
  'kernel/created'(s, e, j) {
    const k = kernelW(s, j);
    j.set(k, 'cpus', e.cpus);
    j.set(k, 'seed', e.seed);
    j.set(k, 'coreVersion', e.coreVersion);
    j.set(
      s,
      'cpus',
      Array.from({ length: e.cpus }, (_, id) => ({ id, curr: 0, preemptCount: 0, online: true })),
    );
  },
  'kernel/plugin-registered'(s, e, j) {
    const entry = e.options === undefined ? { name: e.name, version: e.version } : { name: e.name, version: e.version, options: e.options };
    j.set(kernelW(s, j), 'plugins', [...s.kernel.plugins, deepFreeze(entry)]);
  },
  'kernel/oops'(s, e, j) {
    const k = kernelW(s, j);
    j.set(k, 'oopses', k.oopses + 1);
    if (e.plugin !== null) j.set(k, 'disabledPlugins', { ...k.disabledPlugins, [e.plugin]: `${e.where}: ${e.message}` });
    if (e.preemptCount !== null && e.cpu >= 0) putCpu(s, j, e.cpu, cpu(s, e.cpu).curr, e.preemptCount);
    // A killed task is not dead yet: it leaves through do_exit, whose events follow.
  },
  'kernel/function-defined'(s, e, j) {
    putKey(s, j, 'functions', e.name, { name: e.name });
  },
  'task/spawned'(s, e, j) {
    const t = newTask(e.pid, e.comm, 0, e.kthread, NO_FLAGS);
    t.state = 'runnable';
    if (e.boundCpu !== undefined) t.boundCpu = e.boundCpu;
    // Since core 0.3 a spawned task runs its own fork tail in kernel mode before it is listed.
    t.listed = e.listed !== false;
    if (!t.listed) t.mode = 'kernel';
    mapPut(j, s, 'tasks', e.pid, t);
    if (!e.kthread) mapPut(j, s, 'memory', e.pid, newMm(e.pid));
    if (e.pid + 1 > s.kernel.nextPid) j.set(kernelW(s, j), 'nextPid', e.pid + 1);
    enqueue(s, j, e.pid);
  },
  'task/linked'(s, e, j) {
    j.set(editTask(s, j, e.pid, e.type), 'listed', true);
  },
  'task/to-user'(s, e, j) {
    j.set(editTask(s, j, e.pid, e.type), 'mode', 'user');
  },
  'fork/dup'(s, e, j) {
    const parent = task(s, e.parent, e.type);
    const flags: Record<string, true> = {};
    for (const f of e.flags) flags[f] = true;
    const child = newTask(e.child, e.comm, e.parent, parent.kthread, flags);
    child.mode = 'kernel';
    mapPut(j, s, 'tasks', e.child, child);
    const mm = getMm(s, parent.tgid);
    if (mm !== undefined) {
      // Parent and child share the page and data maps: frozen, so that neither is written in
      // place under the other (a working object has exactly one parent: working.ts).
      freezeWorking(mm.pages);
      freezeWorking(mm.data);
      mapPut(j, s, 'memory', e.child, { tgid: e.child, brk: mm.brk, pages: mm.pages, data: mm.data });
    }
    if (e.child + 1 > s.kernel.nextPid) j.set(kernelW(s, j), 'nextPid', e.child + 1);
  },
  'fork/link'(s, e, j) {
    j.set(editTask(s, j, e.child, e.type), 'listed', true);
    const parent = editTask(s, j, e.parent, e.type);
    j.set(parent, 'children', [...parent.children, e.child]);
  },
  'task/flags'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    // Built fresh rather than edited with delete: `delete` sends an object to dictionary mode.
    const flags: Record<string, true> = {};
    for (const f in t.flags) if (!e.clear.includes(f)) flags[f] = true;
    for (const f of e.set) flags[f] = true;
    j.set(t, 'flags', flags);
  },
  'task/exec'(s, e, j) {
    j.set(editTask(s, j, e.pid, e.type), 'comm', e.comm);
  },
  'task/exit'(s, e, j) {
    j.set(editTask(s, j, e.pid, e.type), 'exitCode', e.code);
  },
  'task/zombie'(s, e, j) {
    j.set(editTask(s, j, e.pid, e.type), 'exitState', 'zombie');
  },
  'task/reparented'(s, e, j) {
    const before = task(s, e.pid, e.type);
    dropChild(s, j, before.parent, e.pid);
    j.set(editTask(s, j, e.pid, e.type), 'parent', e.parent);
    if (e.parent !== 0) {
      const p = editTask(s, j, e.parent, e.type);
      j.set(p, 'children', [...p.children, e.pid]);
    }
  },
  'task/released'(s, e, j) {
    const before = task(s, e.pid, e.type);
    dropChild(s, j, before.parent, e.pid);
    const t = editTask(s, j, e.pid, e.type);
    j.set(t, 'listed', false);
    j.set(t, 'exitState', 'dead');
    const k = kernelW(s, j);
    j.set(k, 'tasksReleased', k.tasksReleased + 1);
    // A task may be released before its final context switch (it autoreaps itself, or its
    // parent reaps it while it is preempted on the way out): it leaves the state at that
    // switch, not here, as the kernel keeps its task_struct until finish_task_switch.
    if (t.state === 'zombie' || t.state === 'dead') forget(s, j, e.pid);
  },
  'task/sleep'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    j.set(t, 'state', e.state);
    j.set(t, 'waitingOn', e.on);
    j.set(t, 'wakeAt', e.until);
    if (e.traced === true) j.setKey(t, 'traced', true);
    else j.removeKey(t, 'traced');
  },
  'task/traced'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    if (e.traced) j.setKey(t, 'traced', true);
    else j.removeKey(t, 'traced');
  },
  'sched/wakeup'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    j.removeKey(t, 'traced');
    j.set(t, 'waitingOn', null);
    j.set(t, 'wakeAt', null);
    // Woken between setting its sleep state and switching out, it simply keeps running.
    const running = isOnCpu(s, e.pid);
    j.set(t, 'state', running ? 'running' : 'runnable');
    if (!running) enqueue(s, j, e.pid);
  },
  'sched/switch'(s, e, j) {
    putCpu(s, j, e.cpu, e.next, cpu(s, e.cpu).preemptCount);
    if (e.prev !== 0) {
      const old = getTask(s, e.prev);
      if (old !== undefined) {
        const prev = writable(s, j, old);
        j.set(prev, 'state', e.prevState);
        if (e.preempted) j.set(prev, 'nivcsw', prev.nivcsw + 1);
        else j.set(prev, 'nvcsw', prev.nvcsw + 1);
        if (e.prevState === 'runnable') enqueue(s, j, e.prev);
        // A dead task's last switch: released, its record goes with it; never released (a second
        // oops on its exit path, make_task_dead's recursive fault), it stays as EXIT_DEAD, on
        // the task list and its parent's children, and no wait reaps it.
        if (e.prevState === 'dead') {
          if (old.exitState === 'dead') forget(s, j, e.prev);
          else j.set(prev, 'exitState', 'dead');
        }
      }
    }
    if (e.next !== 0) {
      const next = editTask(s, j, e.next, e.type);
      j.set(next, 'state', 'running');
      j.set(next, 'cpu', e.cpu);
      dequeue(s, j, e.next);
    }
  },
  'cpu/preempt-count'(s, e, j) {
    putCpu(s, j, e.cpu, cpu(s, e.cpu).curr, e.count);
  },
  'syscall/enter'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    j.set(t, 'mode', 'kernel');
    j.set(t, 'syscall', e.name);
  },
  'syscall/exit'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    j.set(t, 'mode', 'user');
    j.set(t, 'syscall', null);
  },
  'fault/page'(s, e, j) {
    if (!e.user) return;
    j.set(editTask(s, j, e.pid, e.type), 'mode', 'kernel');
  },
  'fault/resolved'(s, e, j) {
    const t = task(s, e.pid, e.type);
    const mm = getMm(s, t.tgid);
    if (mm !== undefined) mapPut(j, editMm(s, j, mm), 'pages', e.page, true);
    if (e.user) j.set(writable(s, j, t), 'mode', 'user');
  },
  'mm/store'(s, e, j) {
    const old = getMm(s, e.tgid);
    if (old === undefined) throw new Error(`${e.type}: no address space for tgid ${e.tgid}`);
    // Each stored string gets its own 256-byte slot; pages fill up and new ones start cold.
    const brk = Math.max(old.brk, e.addr + Math.max(256, Math.ceil((e.data.length + 1) / 256) * 256));
    const mm = editMm(s, j, old);
    j.set(mm, 'brk', brk);
    mapPut(j, mm, 'data', e.addr, e.data);
  },
  'mm/evicted'(s, e, j) {
    const mm = getMm(s, e.tgid);
    if (mm === undefined) throw new Error(`${e.type}: no address space for tgid ${e.tgid}`);
    if (mmHasPage(mm, e.page)) mapPut(j, editMm(s, j, mm), 'pages', e.page, null);
  },
  'fs/open'(s, e, j) {
    const t = editTask(s, j, e.pid, e.type);
    j.set(t, 'nextFd', Math.max(t.nextFd, e.fd + 1));
  },
  'lock/wait'(s, e, j) {
    const l = lock(s, e.lock, e.kind);
    if (l.kind === 'mutex') putLock(s, j, e.lock, mutex(l.owner, [...l.waiters, e.pid]));
    else putLock(s, j, e.lock, rwlock(l.kind, l.writer, l.readers, [...l.waiters, { pid: e.pid, write: e.write }]));
  },
  'lock/acquired'(s, e, j) {
    const l = lock(s, e.lock, e.kind);
    if (l.kind === 'mutex') {
      if (l.owner !== null) throw new Error(`${e.type}: mutex ${e.lock} already owned by ${l.owner}`);
      putLock(
        s,
        j,
        e.lock,
        mutex(
          e.pid,
          l.waiters.filter((p) => p !== e.pid),
        ),
      );
    } else {
      if (l.writer !== null || (e.write && l.readers.length > 0)) {
        throw new Error(`${e.type}: ${e.lock} cannot be taken for ${e.write ? 'write' : 'read'} by ${e.pid}`);
      }
      const waiters = l.waiters.filter((w) => w.pid !== e.pid);
      if (e.write) putLock(s, j, e.lock, rwlock(l.kind, e.pid, l.readers, waiters));
      else putLock(s, j, e.lock, rwlock(l.kind, null, [...l.readers, e.pid], waiters));
    }
  },
  'lock/released'(s, e, j) {
    const l = lock(s, e.lock, e.kind);
    if (l.kind === 'mutex') {
      if (l.owner !== e.pid) throw new Error(`${e.type}: mutex ${e.lock} not owned by ${e.pid}`);
      putLock(s, j, e.lock, mutex(null, l.waiters));
    } else if (e.write) {
      if (l.writer !== e.pid) throw new Error(`${e.type}: ${e.lock} not write-held by ${e.pid}`);
      putLock(s, j, e.lock, rwlock(l.kind, null, l.readers, l.waiters));
    } else {
      const i = l.readers.indexOf(e.pid);
      if (i < 0) throw new Error(`${e.type}: ${e.lock} not read-held by ${e.pid}`);
      putLock(s, j, e.lock, rwlock(l.kind, l.writer, without(l.readers, i), l.waiters));
    }
  },
  // Grace-period records are replaced, never edited: the runtime holds `rcu.gp` across emits.
  'rcu/gp-start'(s, e, j) {
    j.set(rcuW(s, j), 'gp', { seq: e.gp, start: e.time, pending: [...e.pending] });
  },
  'rcu/qs'(s, e, j) {
    const gp = s.rcu.gp;
    if (gp === null || gp.seq !== e.gp) throw new Error(`${e.type}: no grace period ${e.gp} in progress`);
    j.set(rcuW(s, j), 'gp', { seq: gp.seq, start: gp.start, pending: gp.pending.filter((c) => c !== e.cpu) });
  },
  'rcu/gp-end'(s, e, j) {
    if (s.rcu.gp === null || s.rcu.gp.seq !== e.gp) throw new Error(`${e.type}: no grace period ${e.gp} in progress`);
    const r = rcuW(s, j);
    j.set(r, 'gp', null);
    j.set(r, 'completed', e.gp);
  },
  'rcu/callback-queued'(s, e, j) {
    const r = rcuW(s, j);
    j.set(r, 'callbacks', [...r.callbacks, { id: e.id, gp: e.gp, label: e.label }]);
    j.set(r, 'nextCallbackId', Math.max(r.nextCallbackId, e.id + 1));
  },
  'rcu/callback-invoked'(s, e, j) {
    const r = rcuW(s, j);
    j.set(
      r,
      'callbacks',
      r.callbacks.filter((c) => c.id !== e.id),
    );
  },
  'signal/generate'(s, e, j) {
    const old = task(s, e.pid, e.type);
    if (old.pendingSignals.includes(e.sig)) return;
    j.set(writable(s, j, old), 'pendingSignals', [...old.pendingSignals, e.sig]);
  },
  'signal/deliver'(s, e, j) {
    if (e.injected === true) return;
    const t = editTask(s, j, e.pid, e.type);
    j.set(
      t,
      'pendingSignals',
      t.pendingSignals.filter((sig) => sig !== (e.dequeued ?? e.sig)),
    );
  },
  'module/loaded'(s, e, j) {
    putKey(s, j, 'modules', e.name, { name: e.name, state: 'live' as const, data: deepFreeze(e.data) });
  },
  'module/going'(s, e, j) {
    const m = s.modules[e.name];
    if (m === undefined) throw new Error(`${e.type}: no module ${e.name}`);
    putKey(s, j, 'modules', e.name, { name: m.name, state: 'going' as const, data: m.data });
  },
  'module/unloaded'(s, e, j) {
    putKey(s, j, 'modules', e.name, undefined);
  },
};

export function coreReducer(type: string): CoreReducer<EventType> | undefined {
  return (reducers as Record<string, CoreReducer<EventType> | undefined>)[type];
}

export function pageOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}
