import {
  intMapEmpty,
  intMapGet,
  intMapSet,
  intMapValues,
  intMapWith,
  type EventType,
  type IntMap,
  type KernelEvent,
  type KernelState,
  type PluginContext,
} from '@tracelab/core';
import type { GpReaderState, HoldoutState, RcuTasksFlavour, RcuTasksFlavourState, RcuTasksGpState, RcuTasksState } from '../events.js';
import { withField } from '@tracelab/core';
import { copyFlavour, copyGp, gpIn, withFlavour, withGp } from './copy.js';
import { commOf, intMapEntries, onRq, rcuTasksSlice } from './slice.js';

/** The invariants' names, as violations report them. */
export const RCU_TASKS_INVARIANTS = {
  /** No RCU-tasks callback runs while a task still is in the read side it was in when the callback's GP began. */
  readers: 'rcu-tasks/readers',
  /** No tasks-trace callback runs while a reader section open when its GP began is still open. */
  traceReaders: 'rcu-tasks/trace-readers',
  /** Callbacks run only in the GP whose list grab took them, in queue order, after that GP ended. */
  batching: 'rcu-tasks/batching',
} as const;

/** The liveness monitor's name. */
export const RCU_TASKS_LIVENESS = 'rcu-tasks/gp-ends';

/**
 * The readers at the list grab, the ground truth the `readers` invariants hold callbacks to.
 * - tasks: every task on a runqueue or a CPU, in kernel mode (not user, not the idle loop),
 *   except the GP kthread itself: "any kernel code with no voluntary switch" may be a reader.
 * - trace: every task whose tasks-trace nesting is above 0, wherever it is (asleep in a fault
 *   included), with the seq of the lock that opened its section.
 * Built from the state the event is folded into: independent of the GP kthread's own scan.
 */
function readersAtGrab(flavour: RcuTasksFlavour, s: KernelState, pre: RcuTasksState): IntMap<GpReaderState> {
  const readers = intMapEmpty<GpReaderState>() as IntMap<GpReaderState>;
  if (flavour === 'trace') {
    for (const [pid, r] of intMapEntries(pre.traceReaders)) {
      const t = intMapGet(s.tasks, pid);
      intMapSet(readers, pid, { nvcsw: t?.nvcsw ?? -1, nivcsw: t?.nivcsw ?? -1, user: false, since: r.since });
    }
    return readers;
  }
  const gpKthread = pre.tasks.kthread;
  for (const t of intMapValues(s.tasks)) {
    if (t.pid === gpKthread || !onRq(t) || t.mode !== 'kernel') continue;
    intMapSet(readers, t.pid, { nvcsw: t.nvcsw, nivcsw: t.nivcsw, user: false, since: -1 });
  }
  return readers;
}

/** A reader of the GP that has not passed a quiescent state yet, described; or null. */
function stillReading(flavour: RcuTasksFlavour, s: KernelState, pre: RcuTasksState, pid: number, r: GpReaderState): string | null {
  const t = intMapGet(s.tasks, pid);
  if (flavour === 'trace') {
    const now = intMapGet(pre.traceReaders, pid);
    if (now === undefined || now.since !== r.since) return null;
    const where = t === undefined ? 'gone' : `${t.state} on cpu ${t.cpu}, ${t.nvcsw - r.nvcsw} voluntary and ${t.nivcsw - r.nivcsw} involuntary switches since`;
    return `pid ${pid} (${commOf(s, pid)}) is still inside the tasks-trace reader section it opened at event ${r.since} (nesting ${now.nesting}; ${where})`;
  }
  if (r.user || t === undefined || !onRq(t) || t.mode !== 'kernel' || t.nvcsw !== r.nvcsw) return null;
  // Under `exitTasks: 'exit-srcu'`, a task past exit_tasks_rcu_finish runs no tasks-RCU read
  // side any more: what it runs before its final switch is an RCU-sched reader, its final
  // preempt-disabled region, which the GP's final synchronize_rcu waits for if the region
  // opened before that wait began (3.4, 3.4a).
  if (pre.exitSrcu !== undefined && intMapGet(pre.exitSrcu, pid) === false) {
    const since = pre.exitTail === undefined ? undefined : intMapGet(pre.exitTail, pid);
    if (since === undefined || pre.exitTailFrom === undefined || since >= pre.exitTailFrom) return null;
    return (
      `pid ${pid} (${t.comm}) left its exit-SRCU section (exit_tasks_rcu_finish) and is still in the preempt-disabled region ` +
      `it opened at event ${since}, before the GP's final RCU-sched wait could begin (after event ${pre.exitTailFrom}): ` +
      `no switch since the GP began, so a synchronize_rcu there would still be waiting for it`
    );
  }
  return (
    `pid ${pid} (${t.comm}) is still in the kernel code it was running when the GP began: ${t.state}, kernel mode, ` +
    `no voluntary switch (nvcsw ${t.nvcsw}) and no return to user mode since, preempted ${t.nivcsw - r.nivcsw} time(s) since`
  );
}

type On = <T extends EventType>(type: T, fn: (slice: RcuTasksState, e: KernelEvent<T>, s: KernelState) => RcuTasksState) => void;

const preGp = (s: KernelState, flavour: RcuTasksFlavour): RcuTasksGpState => rcuTasksSlice(s)[flavour].gp!;
/** The slice with `violation` set, unless one is set already (the first is kept). */
const violated = (slice: RcuTasksState, invariant: string, message: string): RcuTasksState =>
  slice.violation === null ? withField(slice, 'violation', { invariant, message }) : slice;

/**
 * Folds the plugin's events (and the core events it watches) into its slice. The reducers are
 * plain (`ctx.onPlain`): each gets the frozen slice and returns a new one built around the parts
 * it keeps (copy.ts and the core's `withField`), or the slice itself when the event changes nothing; no immer draft
 * (docs/benchmarks.md, "Plugin slices without drafts, second part"). What a reducer read through
 * the state `s` it still reads there (the footprint recorder sees the same reads); IntMaps are
 * replaced whole with `intMapWith`, never written in place, so a change costs one path copy at any size.
 */
export function registerReducers(ctx: PluginContext<RcuTasksState>, exitSrcu: boolean): void {
  const on: On = (type, fn) => {
    ctx.onPlain(type, fn);
  };
  registerGpStartReducers(on);
  registerToUserReducers(on);
  registerGpEndReducers(on);
  registerTraceReducers(on);
  if (exitSrcu) registerExitTailReducers(on);
}

/**
 * `exitTasks: 'exit-srcu'` only (the default's state and logs stay as they were): the final
 * preempt-disabled regions of tasks past exit_tasks_rcu_finish (`exitTail`), and the point of
 * each tasks GP after which its final RCU-sched wait may begin (`exitTailFrom`).
 */
function registerExitTailReducers(on: On): void {
  // The CPU's preempt count is published once per step with a net change (core log format 2):
  // the region of the task running there opens when it rises above 0 and ends when it is 0.
  on('cpu/preempt-count', (slice, e, s) => {
    const pre = rcuTasksSlice(s);
    const pid = s.cpus[e.cpu]?.curr;
    if (pid === undefined || pre.exitSrcu === undefined || intMapGet(pre.exitSrcu, pid) !== false) return slice;
    const tail = pre.exitTail ?? (intMapEmpty<number>() as IntMap<number>);
    const open = intMapGet(tail, pid);
    if (e.count > 0 && open === undefined) return withField(slice, 'exitTail', intMapWith(tail, pid, e.seq));
    if (e.count === 0 && open !== undefined) return withField(slice, 'exitTail', intMapWith(tail, pid, null));
    return slice;
  });
  const phase = (slice: RcuTasksState, e: { flavour?: RcuTasksFlavour; seq: number }): RcuTasksState =>
    e.flavour === undefined || e.flavour === 'tasks' ? withField(slice, 'exitTailFrom', e.seq) : slice;
  on('rcu-tasks/holdouts', phase);
  on('rcu-tasks/rescan', phase);
  on('rcu-tasks/exit-srcu-done', phase);
}

/** The flavour with one field changed, or the slice itself when it has that value already. */
function withFlavourField<K extends 'nextCallbackId' | 'kthread' | 'invokedThrough'>(
  slice: RcuTasksState,
  flavour: RcuTasksFlavour,
  key: K,
  value: RcuTasksFlavourState[K],
): RcuTasksState {
  const f = slice[flavour];
  if (f[key] === value) return slice;
  const c = copyFlavour(f);
  c[key] = value;
  return withFlavour(slice, flavour, c);
}

/** The callback list, the kthread, the list grab and the holdout scan. */
function registerGpStartReducers(on: On): void {
  on('rcu-tasks/callback-queued', (slice, e) => withFlavourField(slice, e.flavour, 'nextCallbackId', e.id + 1));
  on('rcu-tasks/kthread-start', (slice, e) => withFlavourField(slice, e.flavour, 'kthread', e.pid));
  on('rcu-tasks/kthread-exit', (slice, e) => (slice[e.flavour].kthread === e.pid ? withFlavourField(slice, e.flavour, 'kthread', null) : slice));
  on('rcu-tasks/gp-start', (slice, e, s) => {
    const f = copyFlavour(slice[e.flavour]);
    const pre = rcuTasksSlice(s);
    f.takenThrough = e.last;
    f.gp = {
      gp: e.gp,
      start: e.time,
      startSeq: e.seq,
      first: e.first,
      last: e.last,
      readers: readersAtGrab(e.flavour, s, pre),
      holdouts: intMapEmpty<HoldoutState>(),
      scanned: false,
      scannedHoldouts: 0,
      rescans: 0,
      stalls: 0,
      ended: false,
    };
    return withFlavour(slice, e.flavour, f);
  });
  on('rcu-tasks/holdouts', (slice, e, s) => {
    const g = copyGp(gpIn(slice, e.flavour));
    const readers = rcuTasksSlice(s).traceReaders;
    const holdouts = intMapEmpty<HoldoutState>() as IntMap<HoldoutState>;
    for (const pid of e.pids) {
      const t = intMapGet(s.tasks, pid);
      const since = e.flavour === 'trace' ? (intMapGet(readers, pid)?.since ?? -1) : -1;
      intMapSet(holdouts, pid, { nvcsw: t?.nvcsw ?? -1, nivcsw: t?.nivcsw ?? -1, flag: true, since });
    }
    g.holdouts = holdouts;
    g.scanned = true;
    g.scannedHoldouts = e.pids.length;
    return withGp(slice, e.flavour, g);
  });
  on('rcu-tasks/rescan', (slice, e, s) => {
    const g = copyGp(gpIn(slice, e.flavour));
    let holdouts = preGp(s, e.flavour).holdouts;
    for (const d of e.dropped) holdouts = intMapWith(holdouts, d.pid, null);
    g.holdouts = holdouts;
    g.rescans += 1;
    return withGp(slice, e.flavour, g);
  });
}

/** Returns to user mode: quiescent states of the tasks flavour, folded from the core's own events. */
function registerToUserReducers(on: On): void {
  // Running in user mode is a quiescent state. The kernel notices it at the next scheduler tick
  // in user mode (rcu_check_callbacks -> rcu_note_voluntary_context_switch clears the holdout
  // flag); here the return to user mode itself does, folded from the core's own transition
  // (`syscall/exit`, `fault/resolved` of a user fault, and `task/to-user` at the end of a
  // host-started task's fork tail), which comes after every
  // return-to-user hook: a task is never taken for quiescent while it still runs kernel code.
  const toUser = (slice: RcuTasksState, pid: number, s: KernelState): RcuTasksState => {
    const pre = rcuTasksSlice(s).tasks.gp;
    if (pre === null) return slice;
    const h = intMapGet(pre.holdouts, pid);
    const r = intMapGet(pre.readers, pid);
    if ((h === undefined || !h.flag) && (r === undefined || r.user)) return slice;
    const g = copyGp(slice.tasks.gp!);
    if (h !== undefined && h.flag) g.holdouts = intMapWith(pre.holdouts, pid, { nvcsw: h.nvcsw, nivcsw: h.nivcsw, flag: false, since: h.since });
    if (r !== undefined && !r.user) g.readers = intMapWith(pre.readers, pid, { nvcsw: r.nvcsw, nivcsw: r.nivcsw, user: true, since: r.since });
    return withGp(slice, 'tasks', g);
  };
  on('syscall/exit', (slice, e, s) => toUser(slice, e.pid, s));
  on('fault/resolved', (slice, e, s) => (e.user ? toUser(slice, e.pid, s) : slice));
  // A host-started task leaving its fork tail for its program (core 0.3).
  on('task/to-user', (slice, e, s) => toUser(slice, e.pid, s));
}

/** The end of a GP, where the readers invariants are checked. */
function gpEnded(slice: RcuTasksState, e: KernelEvent<'rcu-tasks/gp-end'>, s: KernelState): RcuTasksState {
  const g = gpIn(slice, e.flavour);
  const f = slice[e.flavour];
  let out = slice;
  if (!g.ended || f.completed !== e.gp) {
    const c = copyFlavour(f);
    if (!g.ended) {
      const gc = copyGp(g);
      gc.ended = true;
      c.gp = gc;
    }
    c.completed = e.gp;
    out = withFlavour(slice, e.flavour, c);
  }
  // The check the invariants report: the GP is over, so every reader of its start must have
  // passed a quiescent state by now. Callbacks run right after this event.
  const pre = rcuTasksSlice(s);
  for (const [pid, r] of intMapEntries(preGp(s, e.flavour).readers)) {
    const why = stillReading(e.flavour, s, pre, pid, r);
    if (why !== null) {
      const inv = e.flavour === 'trace' ? RCU_TASKS_INVARIANTS.traceReaders : RCU_TASKS_INVARIANTS.readers;
      return violated(
        out,
        inv,
        `${e.flavour === 'trace' ? 'RCU-tasks-trace' : 'RCU-tasks'} grace period ${e.gp} (begun at tick ${g.start}) ended and its callbacks ${g.first}..${g.last} are about to run, but ${why}`,
      );
    }
  }
  return out;
}

/** A callback run (or failed): run only in the GP whose list grab took it, in order, after that GP ended. */
function callbackRan(slice: RcuTasksState, e: { flavour: RcuTasksFlavour; gp: number; id: number }): RcuTasksState {
  const f = slice[e.flavour];
  const g = f.gp;
  let out = slice;
  if (g === null || g.gp !== e.gp || !g.ended || e.id < g.first || e.id > g.last || e.id !== f.invokedThrough + 1) {
    out = violated(
      slice,
      RCU_TASKS_INVARIANTS.batching,
      `${e.flavour} callback ${e.id} ran in grace period ${e.gp}, ` +
        (g === null ? 'with no grace period in progress' : !g.ended ? `before GP ${g.gp} ended` : `which took callbacks ${g.first}..${g.last}`) +
        ` (callbacks run through ${f.invokedThrough} so far)`,
    );
  }
  return withFlavourField(out, e.flavour, 'invokedThrough', Math.max(f.invokedThrough, e.id));
}

/** Stalls, the end of a GP, the callbacks it runs and its record. */
function registerGpEndReducers(on: On): void {
  on('rcu-tasks/stall', (slice, e) => {
    const g = copyGp(gpIn(slice, e.flavour));
    g.stalls += 1;
    return withGp(slice, e.flavour, g);
  });
  on('rcu-tasks/gp-end', gpEnded);
  on('rcu-tasks/callback-invoked', (slice, e) => callbackRan(slice, e));
  on('rcu-tasks/callback-failed', (slice, e) => callbackRan(slice, e));
  on('rcu-tasks/gp-done', (slice, e, s) => {
    const f = copyFlavour(slice[e.flavour]);
    const g = preGp(s, e.flavour);
    f.lastGp = { gp: g.gp, start: g.start, end: e.time, callbacks: g.last - g.first + 1, holdouts: g.scannedHoldouts, rescans: g.rescans, stalls: g.stalls };
    f.gp = null;
    return withFlavour(slice, e.flavour, f);
  });
}

/** The tasks-trace read side. */
function registerTraceReducers(on: On): void {
  // tasks-trace read side: the nesting count per task, and the seq of the outermost lock,
  // which names the section (a section that ends and a new one that opens are different).
  // The map is read through `s` (the footprint recorder sees the reads the drafted reducers made).
  on('rcu-tasks/trace-lock', (slice, e, s) => {
    const pre = rcuTasksSlice(s).traceReaders;
    const old = intMapGet(pre, e.pid);
    return withField(slice, 'traceReaders', intMapWith(pre, e.pid, { nesting: e.nesting, since: old?.since ?? e.seq }));
  });
  on('rcu-tasks/trace-unlock', (slice, e, s) => {
    const pre = rcuTasksSlice(s).traceReaders;
    const old = intMapGet(pre, e.pid);
    return withField(slice, 'traceReaders', intMapWith(pre, e.pid, e.nesting === 0 ? null : { nesting: e.nesting, since: old?.since ?? e.seq }));
  });
  // The exit-SRCU read side (`exitTasks: 'exit-srcu'`).
  on('rcu-tasks/exit-srcu-lock', (slice, e, s) => withField(slice, 'exitSrcu', intMapWith(rcuTasksSlice(s).exitSrcu ?? intMapEmpty<boolean>(), e.pid, true)));
  on('rcu-tasks/exit-srcu-unlock', (slice, e, s) => {
    const out = withField(slice, 'exitSrcu', intMapWith(rcuTasksSlice(s).exitSrcu ?? intMapEmpty<boolean>(), e.pid, false));
    // A task that leaves it with preemption already off is in its final region from here (exitTail).
    const cpu = s.cpus[e.cpu];
    if (cpu !== undefined && cpu.curr === e.pid && cpu.preemptCount > 0)
      return withField(out, 'exitTail', intMapWith(rcuTasksSlice(s).exitTail ?? (intMapEmpty<number>() as IntMap<number>), e.pid, e.seq));
    return out;
  });
  on('rcu-tasks/trace-exit-fixup', (slice, e, s) => withField(slice, 'traceReaders', intMapWith(rcuTasksSlice(s).traceReaders, e.pid, null)));
}
