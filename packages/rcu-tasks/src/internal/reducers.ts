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
import type { GpReaderState, HoldoutState, RcuTasksFlavour, RcuTasksFlavourState, RcuTasksGpState, RcuTasksState, TraceReaderState } from '../events.js';
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

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type WGp = Writable<RcuTasksGpState>;
type WFlavour = Omit<Writable<RcuTasksFlavourState>, 'gp'> & { gp: WGp | null };
/**
 * The slice as reducers write it (an immer draft; IntMaps inside it are replaced whole with
 * `intMapWith`, never written in place, so a change costs one path copy at any size).
 */
interface Slice {
  tasks: WFlavour;
  trace: WFlavour;
  traceReaders: RcuTasksState['traceReaders'];
  exitSrcu?: RcuTasksState['exitSrcu'];
  exitTail?: RcuTasksState['exitTail'];
  exitTailFrom?: number;
  violation: RcuTasksState['violation'];
}

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

type On = <T extends EventType>(type: T, fn: (slice: Slice, e: KernelEvent<T>, s: KernelState) => void) => void;

const fl = (slice: Slice, e: { flavour: RcuTasksFlavour }): WFlavour => slice[e.flavour];
const gpOf = (slice: Slice, e: { flavour: RcuTasksFlavour }): WGp => {
  const g = slice[e.flavour].gp;
  if (g === null) throw new Error(`no ${e.flavour} grace period in progress`);
  return g;
};
const preGp = (s: KernelState, flavour: RcuTasksFlavour): RcuTasksGpState => rcuTasksSlice(s)[flavour].gp!;
const violate = (slice: Slice, invariant: string, message: string): void => {
  if (slice.violation === null) slice.violation = { invariant, message };
};

/** Folds the plugin's events (and the core events it watches) into its slice. */
export function registerReducers(ctx: PluginContext<RcuTasksState>, exitSrcu: boolean): void {
  const on: On = (type, fn) => {
    ctx.on(type, (draft, e, s) => {
      fn(draft as unknown as Slice, e, s);
    });
  };
  registerGpStartReducers(on);
  registerToUserReducers(ctx);
  registerGpEndReducers(on);
  registerTraceReducers(ctx, on);
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
    if (pid === undefined || pre.exitSrcu === undefined || intMapGet(pre.exitSrcu, pid) !== false) return;
    const tail = pre.exitTail ?? (intMapEmpty<number>() as IntMap<number>);
    const open = intMapGet(tail, pid);
    if (e.count > 0 && open === undefined) slice.exitTail = intMapWith(tail, pid, e.seq);
    else if (e.count === 0 && open !== undefined) slice.exitTail = intMapWith(tail, pid, null);
  });
  const phase = (slice: Slice, e: { flavour?: RcuTasksFlavour; seq: number }): void => {
    if (e.flavour === undefined || e.flavour === 'tasks') slice.exitTailFrom = e.seq;
  };
  on('rcu-tasks/holdouts', phase);
  on('rcu-tasks/rescan', phase);
  on('rcu-tasks/exit-srcu-done', phase);
}

/** The callback list, the kthread, the list grab and the holdout scan. */
function registerGpStartReducers(on: On): void {
  on('rcu-tasks/callback-queued', (slice, e) => {
    fl(slice, e).nextCallbackId = e.id + 1;
  });
  on('rcu-tasks/kthread-start', (slice, e) => {
    fl(slice, e).kthread = e.pid;
  });
  on('rcu-tasks/kthread-exit', (slice, e) => {
    const f = fl(slice, e);
    if (f.kthread === e.pid) f.kthread = null;
  });
  on('rcu-tasks/gp-start', (slice, e, s) => {
    const f = fl(slice, e);
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
  });
  on('rcu-tasks/holdouts', (slice, e, s) => {
    const g = gpOf(slice, e);
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
  });
  on('rcu-tasks/rescan', (slice, e, s) => {
    const g = gpOf(slice, e);
    let holdouts = preGp(s, e.flavour).holdouts;
    for (const d of e.dropped) holdouts = intMapWith(holdouts, d.pid, null);
    g.holdouts = holdouts;
    g.rescans += 1;
  });
}

/** Returns to user mode: quiescent states of the tasks flavour, folded from the core's own events. */
function registerToUserReducers(ctx: PluginContext<RcuTasksState>): void {
  // Running in user mode is a quiescent state. The kernel notices it at the next scheduler tick
  // in user mode (rcu_check_callbacks -> rcu_note_voluntary_context_switch clears the holdout
  // flag); here the return to user mode itself does, folded from the core's own transition
  // (`syscall/exit`, `fault/resolved` of a user fault, and `task/to-user` at the end of a
  // host-started task's fork tail), which comes after every
  // return-to-user hook: a task is never taken for quiescent while it still runs kernel code.
  const toUser = (slice: Slice, pid: number, s: KernelState): void => {
    const pre = rcuTasksSlice(s).tasks.gp;
    if (pre === null) return;
    const h = intMapGet(pre.holdouts, pid);
    const r = intMapGet(pre.readers, pid);
    if ((h === undefined || !h.flag) && (r === undefined || r.user)) return;
    const g = slice.tasks.gp!;
    if (h !== undefined && h.flag) g.holdouts = intMapWith(pre.holdouts, pid, { ...h, flag: false });
    if (r !== undefined && !r.user) g.readers = intMapWith(pre.readers, pid, { ...r, user: true });
  };
  ctx.on('syscall/exit', (draft, e, s) => {
    toUser(draft as unknown as Slice, e.pid, s);
  });
  ctx.on('fault/resolved', (draft, e, s) => {
    if (e.user) toUser(draft as unknown as Slice, e.pid, s);
  });
  // A host-started task leaving its fork tail for its program (core 0.3).
  ctx.on('task/to-user', (draft, e, s) => {
    toUser(draft as unknown as Slice, e.pid, s);
  });
}

/** Stalls, the end of a GP (where the readers invariants are checked), the callbacks it runs and its record. */
function registerGpEndReducers(on: On): void {
  on('rcu-tasks/stall', (slice, e) => {
    gpOf(slice, e).stalls += 1;
  });
  on('rcu-tasks/gp-end', (slice, e, s) => {
    const g = gpOf(slice, e);
    g.ended = true;
    fl(slice, e).completed = e.gp;
    // The check the invariants report: the GP is over, so every reader of its start must have
    // passed a quiescent state by now. Callbacks run right after this event.
    const pre = rcuTasksSlice(s);
    for (const [pid, r] of intMapEntries(preGp(s, e.flavour).readers)) {
      const why = stillReading(e.flavour, s, pre, pid, r);
      if (why !== null) {
        const inv = e.flavour === 'trace' ? RCU_TASKS_INVARIANTS.traceReaders : RCU_TASKS_INVARIANTS.readers;
        violate(
          slice,
          inv,
          `${e.flavour === 'trace' ? 'RCU-tasks-trace' : 'RCU-tasks'} grace period ${e.gp} (begun at tick ${g.start}) ended and its callbacks ${g.first}..${g.last} are about to run, but ${why}`,
        );
        break;
      }
    }
  });
  const invoked = (slice: Slice, e: { flavour: RcuTasksFlavour; gp: number; id: number }): void => {
    const f = fl(slice, e);
    const g = f.gp;
    if (g === null || g.gp !== e.gp || !g.ended || e.id < g.first || e.id > g.last || e.id !== f.invokedThrough + 1) {
      violate(
        slice,
        RCU_TASKS_INVARIANTS.batching,
        `${e.flavour} callback ${e.id} ran in grace period ${e.gp}, ` +
          (g === null ? 'with no grace period in progress' : !g.ended ? `before GP ${g.gp} ended` : `which took callbacks ${g.first}..${g.last}`) +
          ` (callbacks run through ${f.invokedThrough} so far)`,
      );
    }
    f.invokedThrough = Math.max(f.invokedThrough, e.id);
  };
  on('rcu-tasks/callback-invoked', (slice, e) => invoked(slice, e));
  on('rcu-tasks/callback-failed', (slice, e) => invoked(slice, e));
  on('rcu-tasks/gp-done', (slice, e, s) => {
    const f = fl(slice, e);
    const g = preGp(s, e.flavour);
    f.lastGp = { gp: g.gp, start: g.start, end: e.time, callbacks: g.last - g.first + 1, holdouts: g.scannedHoldouts, rescans: g.rescans, stalls: g.stalls };
    f.gp = null;
  });
}

/**
 * The slice with `traceReaders` replaced: a copy key by key (the slice's optional keys and their
 * order kept; no spread, which is slow for a frozen object on Node 20), or the slice itself when
 * the map is the same.
 */
function withTraceReaders(slice: RcuTasksState, map: IntMap<TraceReaderState>): RcuTasksState {
  if (map === slice.traceReaders) return slice;
  const out: Record<string, unknown> = {};
  for (const k in slice) out[k] = slice[k as keyof RcuTasksState];
  out['traceReaders'] = map;
  return out as unknown as RcuTasksState;
}

/** The tasks-trace read side. */
function registerTraceReducers(ctx: PluginContext<RcuTasksState>, on: On): void {
  // tasks-trace read side: the nesting count per task, and the seq of the outermost lock,
  // which names the section (a section that ends and a new one that opens are different).
  // Plain reducers (`onPlain`, no immer draft): the hottest plugin events of the default stack.
  // The map is read through `s` as before (the footprint recorder sees the same reads).
  ctx.onPlain('rcu-tasks/trace-lock', (slice, e, s) => {
    const pre = rcuTasksSlice(s).traceReaders;
    const old = intMapGet(pre, e.pid);
    return withTraceReaders(slice, intMapWith(pre, e.pid, { nesting: e.nesting, since: old?.since ?? e.seq }));
  });
  ctx.onPlain('rcu-tasks/trace-unlock', (slice, e, s) => {
    const pre = rcuTasksSlice(s).traceReaders;
    const old = intMapGet(pre, e.pid);
    return withTraceReaders(slice, intMapWith(pre, e.pid, e.nesting === 0 ? null : { nesting: e.nesting, since: old?.since ?? e.seq }));
  });
  // The exit-SRCU read side (`exitTasks: 'exit-srcu'`).
  on('rcu-tasks/exit-srcu-lock', (slice, e, s) => {
    slice.exitSrcu = intMapWith(rcuTasksSlice(s).exitSrcu ?? intMapEmpty<boolean>(), e.pid, true);
  });
  on('rcu-tasks/exit-srcu-unlock', (slice, e, s) => {
    slice.exitSrcu = intMapWith(rcuTasksSlice(s).exitSrcu ?? intMapEmpty<boolean>(), e.pid, false);
    // A task that leaves it with preemption already off is in its final region from here (exitTail).
    const cpu = s.cpus[e.cpu];
    if (cpu !== undefined && cpu.curr === e.pid && cpu.preemptCount > 0)
      slice.exitTail = intMapWith(rcuTasksSlice(s).exitTail ?? (intMapEmpty<number>() as IntMap<number>), e.pid, e.seq);
  });
  on('rcu-tasks/trace-exit-fixup', (slice, e, s) => {
    slice.traceReaders = intMapWith(rcuTasksSlice(s).traceReaders, e.pid, null);
  });
}
