import type { CoreEventType, EventInput, KernelEvent } from '../events.js';
import { intMapGet } from '../int-map.js';
import { canonicalEqual } from './canonical-json.js';
import { TracelabError, describeError } from '../errors.js';
import type { PluginFootprint } from '../plugin.js';
import type { Current } from '../paths.js';
import type { KernelState, LockState, TaskState } from '../state.js';
import { SIGKILL } from '../program.js';

/**
 * Step footprints for partial-order reduction (issue 20): what shared objects one scheduling
 * step read and wrote, recorded by the core while an explorer asks for them
 * (`kernel.recordFootprints`), and never otherwise.
 *
 * Objects are named as strings: `lock:<name>`, `task:<pid>`, `mm:<tgid>`, `cpu:<id>` (which task
 * is current there), `pc:<id>` (its preempt count), `module:<name>`, `function:<name>`,
 * `plugin:<name>` (a plugin's slice), `@<name>:<key>` (what a plugin keeps outside the state,
 * by the keys its `PluginContext.footprint` gives; `@<name>:*`, all of it, for an event it gave
 * no footprint for), `wq:<channel>` (the tasks asleep on a wait channel), `runq:<pid>` (whether the task is on the runqueue: written
 * only by a step whose net effect queued or dequeued it; `runq:*`, the whole membership, is what
 * a switch choosing its next task reads), `rq:nonempty` (the predicate "the runqueue is not
 * empty", which a preemption point and an idle CPU read: written only by a step that changes
 * it, from empty to not or back; with CPU bindings in use, `rq:nonempty:<cpu>`, "a queued task
 * may run on this CPU", takes its place for that CPU's points and idle loop), `rcu` (RCU-sched's grace periods and
 * callbacks), `kernel` (pid allocation, oopses, disabled plugins), `tflags:<pid>` (whether the
 * task is on the task list and, while it is, its thread flags: what a walk of the list for a
 * flag sees. Written beside `task:<pid>` by the events that list or unlist the task, and by a
 * flags change of a listed task; a check that declares it, `InvariantOptions.reads`, is not
 * ordered by the rest of a task's record), `tstop:<pid>` (whether the task has a record and, while
 * it does, whether it is stopped (`state` 'stopped'), traced, has SIGKILL pending, and has an exit
 * state: what a check about stopped and exiting tasks reads. Written by a step that changes any of
 * these, found by comparing each task record a step's events write (by `task:<pid>`) before and
 * after the step, so an event that changes these fields needs no entry of its own; a context
 * switch of a running task does not write it). `<family>:*` stands for every
 * object of the family (code that iterated the task table, say). The clock is not an object:
 * every step advances it, so a step that read it (`clockRead`) depends on every other step.
 *
 * Writes come from the step's events (what each core reducer writes, and the slice of every
 * plugin whose reducer folds the event); reads from the working state handed to kernel and
 * plugin code through a recording view (`view`), from the core primitives that read without
 * an event (the runqueue a preemption point looks at, RCU-sched's per-step check, wait queues),
 * and from plugin reducers reading the event's `time`.
 */
export interface StepFootprint {
  /** The CPU that stepped. */
  readonly cpu: number;
  /** The index (in the run's choices) of the step's first choice: its `cpu` choice when it had one. */
  readonly choiceAt: number;
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  /** The step read the clock (a timed sleep, a timer firing, `current().now`, `state.clock`, an event's `time`). */
  readonly clockRead: boolean;
  /** What the invariants and liveness monitors read after this step (they observe every state). */
  readonly observed: readonly string[];
  /**
   * `observed` by the owner of the checks that read it: one entry per owner whose checks read
   * anything after this step (`OBSERVER_HOST` for the checks the host registered, else the
   * plugin's name). The checks of one owner may share what they keep between steps; those of two
   * owners share only the state. So two steps are ordered by the checks only when both write
   * what one owner's checks read (docs/explore.md §4a, thirteenth pass). Absent: every object of
   * `observed` is one owner's.
   */
  readonly observedBy?: readonly ObservedBy[];
  /**
   * The objects of `writes` the step changed only by a commutative update: an operation that
   * commutes with every other update of that object (a counter's increment, taking one task off
   * a children list), made without reading the object. Two updates of one object commute; an
   * update conflicts with a read or a write of it, as any write does. An object the step also
   * wrote otherwise is not listed. Absent or empty: every write is a plain write.
   */
  readonly updates?: readonly string[];
  /** The task current on the CPU when the step began (0: the idle task). */
  readonly pid?: number;
  /**
   * The tasks whose record the step wrote only by switching them in or out (`sched/switch`'s prev
   * and next), and by no other event: what explore's local-preemption rule may set aside
   * (docs/explore.md §4a, third pass).
   */
  readonly switched?: readonly number[];
  /**
   * The step ended with the task it began with still current, at a preemption point, with
   * preemption and interrupts on: the CPU's next step offers to preempt it when a task is queued.
   */
  readonly preemptible?: boolean;
}

/** What one owner's checks read after a step (`StepFootprint.observedBy`). */
export interface ObservedBy {
  /** A plugin's name, or `OBSERVER_HOST` for the checks the host registered (the kernel's `invariant` and `liveness`). */
  readonly owner: string;
  readonly objects: readonly string[];
}

/** The owner of the checks the host registered: not a plugin name (those start with a letter). */
export const OBSERVER_HOST = '(host)';

/**
 * A step's `observed` by owner: its `observedBy`, or, for a footprint made without owners (not
 * by the recorder), all of `observed` as one owner's, named `''`.
 */
export function observedGroups(step: StepFootprint): readonly ObservedBy[] {
  if (step.observedBy !== undefined && step.observedBy.length > 0) return step.observedBy;
  return step.observed.length > 0 ? [{ owner: '', objects: step.observed }] : [];
}

/**
 * What the checks observe, as `footprintsConflict` takes it: a list of objects (every check one
 * owner's), or one list per owner.
 */
export type ObservedSets = readonly string[] | readonly (readonly string[])[];

/** Receives each step's footprint at the end of the step. */
export type FootprintSink = (step: StepFootprint) => void;

type Rec = Record<string | number | symbol, unknown>;

/** A recording view's proxy target: what it reads (a snapshot, or the working state: null), and its per-field views. */
interface ViewTarget {
  readonly snap: KernelState | null;
  /** Written only by the root handler's `get`, the first time a field with a view of its own is read. */
  views: Map<string, object> | null;
}

/** A keyed record's view target: the root view it is a field of, the field, and the family its keys name. */
interface KeyedTarget {
  readonly root: ViewTarget;
  readonly field: string;
  readonly family: string;
}

/** Keyed records of the state whose keys are objects of their own family. */
const KEYED: Readonly<Record<string, string>> = { locks: 'lock', plugins: 'plugin', modules: 'module', functions: 'function' };
/** Whole-table fields: reading them reads every object of the family. */
const TABLES: Readonly<Record<string, string>> = { tasks: 'task:*', memory: 'mm:*', runqueue: 'runq:*', rcu: 'rcu', kernel: 'kernel' };

/**
 * Whether `name` is an object this module names (the list in the header): a family with a key,
 * a plugin's keyed data, or one of the unkeyed objects. What a declaration of reads
 * (`InvariantOptions.reads`) may name: anything else would match no step's writes.
 */
export function isObjectName(name: string): boolean {
  return OBJECT_NAME.test(name);
}
/** The keyed families (`<family>:<key>`, `<family>:*`), as the header lists them. */
export const OBJECT_FAMILIES = ['lock', 'task', 'tflags', 'tstop', 'mm', 'cpu', 'pc', 'wq', 'runq', 'plugin', 'module', 'function'] as const;
const OBJECT_NAME = new RegExp(`^(kernel|rcu|rq:nonempty(:\\d+)?|(${OBJECT_FAMILIES.join('|')}):.+|@[^:]+:.+)$`);

/**
 * The recorder of the step under way. Written only by the runtime's step loop (single-threaded):
 * `begin` clears it, reads and writes accumulate, `end` hands the footprint to the sink.
 */
export class FootprintRecorder {
  private readonly reads = new Set<string>();
  private readonly writes = new Set<string>();
  /**
   * What the checks read after the step, by owner (`observeAs`): a set per owner met so far in
   * this recorder's life, kept across steps and emptied by `begin` when filled. Written only while
   * the checks run; `observed` is their union (`end`).
   */
  private readonly observedByOwner = new Map<string, Set<string>>();
  /** Scratch for `end`'s union of the owners' sets (written only there). */
  private readonly observedUnion = new Set<string>();
  /** The set of the owner whose check runs now (`observeAs`), or null before any. */
  private observer: Set<string> | null = null;
  /** Tasks a `sched/switch` of the step named (prev, next), and task objects any other event wrote. */
  private readonly switchedPids = new Set<number>();
  private readonly otherWrites = new Set<string>();
  /** Objects of `writes` updated commutatively (`update`), and those written plainly (`write`): `updates` is the first less the second. */
  private readonly updated = new Set<string>();
  private readonly plain = new Set<string>();
  /** The sets above, which `begin` empties. */
  private readonly perStep: readonly Set<unknown>[] = [this.reads, this.writes, this.switchedPids, this.otherWrites, this.updated, this.plain];
  /** Set while a `sched/switch` is noted: its writes do not go to `otherWrites`. */
  private inSwitch = false;
  private pid = 0;
  private preemptible = false;
  /** The first plugin footprint that failed in the step under way (thrown by `end`), or null. */
  private invalid: TracelabError | null = null;
  /** Reads go to `observed` while the checks run (set by the runtime around them). */
  observing = false;
  private clock = false;
  private choiceAt = 0;
  /**
   * The runqueue as the step began (for `runq:<pid>` and the `rq:nonempty` predicate). The
   * reducers replace the array rather than edit it (reducers.ts), so holding it costs no copy.
   */
  private rqAtBegin: readonly number[] = [];
  /**
   * Each lock the step's events wrote, as it was before the first of them (its record;
   * `undefined` for a lock not used before): a lock the step leaves as it found it was only read.
   */
  private readonly lockBefore = new Map<string, LockState | undefined>();
  /**
   * Each task the step's events named (`WriteContext.task`), with its `tstop` projection
   * (`stopBits`) before the first of them: a task whose projection the step changed writes
   * `tstop:<pid>` (`end`).
   */
  private readonly stopBefore = new Map<number, number>();
  /** `runnablePerCpu()` as the step began. */
  private runnableAtBegin: readonly boolean[] | null = null;
  private readonly liveView: KernelState;
  private readonly writeCtx = new WriteContext(this);
  /**
   * Object names the views read, by family and key: the same string each time (its hash kept),
   * so a read costs two map look-ups by interned keys and no new string. Written only by `named`;
   * it holds the names the kernel's state has had keys for.
   */
  private readonly names = new Map<string, Map<string, string>>();
  /** The checks' view of the last snapshot they were given (`observerView`), and that snapshot. */
  private checkView: KernelState | null = null;
  private checkSnap: KernelState | null = null;

  constructor(
    private readonly live: () => KernelState,
    private readonly sink: FootprintSink,
    /** The plugins whose reducers fold an event type (each writes its own slice). */
    private readonly foldersOf: (type: string) => readonly string[],
    /** A plugin event type's keyed footprint (`PluginContext.footprint`), if the plugin gave one. */
    private readonly footprintOf: (type: string) => ((event: KernelEvent) => PluginFootprint) | undefined,
    /**
     * With CPU bindings in use, whether each CPU has a queued task it may run (`rq:nonempty:<cpu>`);
     * null without bindings (every CPU then has the same answer: `rq:nonempty`).
     */
    private readonly runnablePerCpu: () => readonly boolean[] | null = () => null,
  ) {
    this.liveView = this.viewOf(null);
  }

  begin(choiceAt: number): void {
    this.invalid = null;
    // Cleared only when not empty: clearing a set allocates its table afresh, and most of
    // these are empty after most steps.
    for (const set of this.perStep) if (set.size > 0) set.clear();
    for (const set of this.observedByOwner.values()) if (set.size > 0) set.clear();
    this.observer = null;
    this.pid = 0;
    this.preemptible = false;
    this.clock = false;
    this.choiceAt = choiceAt;
    this.rqAtBegin = this.live().runqueue;
    if (this.lockBefore.size > 0) this.lockBefore.clear();
    if (this.stopBefore.size > 0) this.stopBefore.clear();
    this.runnableAtBegin = this.runnablePerCpu();
  }

  /** The task current on the stepping CPU as the step began (set once the CPU is chosen). */
  setPid(pid: number): void {
    this.pid = pid;
  }

  /** Whether the step ended preemptible (see `StepFootprint.preemptible`); set by the runtime after the CPU ran. */
  setPreemptible(v: boolean): void {
    this.preemptible = v;
  }

  end(cpu: number): void {
    // A plugin footprint that failed this step: the step ran as without recording (its data
    // taken whole), and the host learns of it here, outside any kernel path.
    if (this.invalid !== null) {
      const err = this.invalid;
      this.invalid = null;
      throw err;
    }
    // The runqueue's membership (`runq:<pid>`) and the predicate a preemption point reads
    // (`rq:nonempty`) are written only by a step that changes them: steps are atomic to every
    // other CPU, so only the step's net change shows. The queue's order is no object: it decides
    // only which option of a `task` choice names which task, and explorers branch every option.
    // A lock taken and dropped (or waited on and left) within the step is, to every other CPU,
    // as it was: the step read it (it found it free, or held as it left it) and wrote nothing of it.
    for (const [name, before] of this.lockBefore) {
      if (!sameLock(this.live().locks[name], before)) continue;
      const object = this.named('lock', name);
      this.writes.delete(object);
      this.otherWrites.delete(object);
      this.reads.add(object);
    }
    // With bindings, each CPU's own predicate (a point or an idle CPU of a bound CPU reads it).
    const runnable = this.runnableAtBegin === null ? null : this.runnablePerCpu();
    if (runnable !== null) {
      const before = this.runnableAtBegin!;
      for (let c = 0; c < runnable.length; c++) if (runnable[c] !== before[c]) this.writes.add(`rq:nonempty:${c}`);
    }
    const rq = this.live().runqueue;
    const was = this.rqAtBegin;
    if (rq !== was) {
      if ((rq.length === 0) !== (was.length === 0)) this.writes.add('rq:nonempty');
      for (const pid of rq) if (!was.includes(pid)) this.writes.add(this.named('runq', String(pid)));
      for (const pid of was) if (!rq.includes(pid)) this.writes.add(this.named('runq', String(pid)));
    }
    if (this.stopBefore.size > 0) {
      const tasks = this.live().tasks;
      for (const [pid, before] of this.stopBefore) {
        if (stopBits(intMapGet(tasks, pid)) === before) continue;
        const object = this.named('tstop', String(pid));
        this.writes.add(object);
        this.plain.add(object);
      }
    }
    let updates: string[] | undefined;
    for (const o of this.updated) if (!this.plain.has(o)) (updates ??= []).push(o);
    const reads = [...this.reads];
    const writes = [...this.writes];
    const observedBy: ObservedBy[] = [];
    for (const [owner, set] of this.observedByOwner) if (set.size > 0) observedBy.push({ owner, objects: [...set] });
    // By owner name: the map's order is the order owners were first met in this recorder's life,
    // which a recorder started later (`fromStep`, another thread's) may meet differently.
    if (observedBy.length > 1) observedBy.sort((x, y) => (x.owner < y.owner ? -1 : x.owner > y.owner ? 1 : 0));
    let observed: readonly string[] = observedBy.length === 1 ? observedBy[0]!.objects : [];
    if (observedBy.length > 1) {
      // The owners' union, in one set kept for it (a set and an array made per step cost more).
      const union = this.observedUnion;
      union.clear();
      for (const g of observedBy) for (const o of g.objects) union.add(o);
      observed = [...union];
    }
    const switched = this.switchedPids.size === 0 ? [] : [...this.switchedPids].filter((p) => !this.otherWrites.has(this.named('task', String(p))));
    // Two literals, not a spread of `updates` into one: a literal with a spread in it defines
    // every later field one by one, at several times the cost (the fields in the same order).
    this.sink(
      updates === undefined
        ? { cpu, choiceAt: this.choiceAt, reads, writes, clockRead: this.clock, observed, observedBy, pid: this.pid, preemptible: this.preemptible, switched }
        : {
            cpu,
            choiceAt: this.choiceAt,
            reads,
            writes,
            updates,
            clockRead: this.clock,
            observed,
            observedBy,
            pid: this.pid,
            preemptible: this.preemptible,
            switched,
          },
    );
  }

  read(object: string): void {
    if (this.observing) (this.observer ?? this.observeAs(OBSERVER_HOST)).add(object);
    else this.reads.add(object);
  }

  /**
   * The checks of `owner` (a plugin's name, or `OBSERVER_HOST`) run next: their reads are theirs
   * (`StepFootprint.observedBy`). The runtime names the owner before each check; a read while
   * observing with none named (nothing does that today) is the host's.
   */
  observeAs(owner: string): Set<string> {
    let set = this.observedByOwner.get(owner);
    if (set === undefined) this.observedByOwner.set(owner, (set = new Set()));
    this.observer = set;
    return set;
  }

  /** `${family}:${key}`, made once per recorder (see `names`). */
  named(family: string, key: string): string {
    let byKey = this.names.get(family);
    if (byKey === undefined) this.names.set(family, (byKey = new Map()));
    let name = byKey.get(key);
    if (name === undefined) byKey.set(key, (name = `${family}:${key}`));
    return name;
  }

  write(object: string): void {
    if (object.startsWith('lock:')) {
      const name = object.slice(5);
      if (!this.lockBefore.has(name)) this.lockBefore.set(name, this.live().locks[name]);
    }
    this.writes.add(object);
    this.plain.add(object);
    if (!this.inSwitch) this.otherWrites.add(object);
  }

  /** An event of the step names task `pid` (`state`: the state it is folded into): its `tstop` projection as it was. */
  noteTask(pid: number, state: KernelState): void {
    if (!this.stopBefore.has(pid)) this.stopBefore.set(pid, stopBits(intMapGet(state.tasks, pid)));
  }

  /**
   * A commutative update of `object` (see `StepFootprint.updates`): a write that commutes with
   * the other updates of the object. The caller vouches for that, per event type (`CORE_WRITES`).
   */
  update(object: string): void {
    this.writes.add(object);
    this.updated.add(object);
    this.otherWrites.add(object);
  }

  readClock(): void {
    if (!this.observing) this.clock = true;
  }

  /**
   * What `current()` returns while recording: the same fields, with a read of `cpu` or
   * `preemptCount` recorded as a read of the CPU (`cpu:<id>`, `pc:<id>`) and a read of `now` as a
   * clock read, whichever way the code reads them (a field, a spread, `JSON.stringify`, a
   * descriptor's getter); listing its keys reads nothing. One handler per recorder: an object
   * literal with accessors cost about 0.8 us to make, a proxy of a plain literal about 45 ns.
   */
  current(cur: Current): Current {
    return new Proxy(cur, this.currentHandler);
  }

  private readonly currentHandler: ProxyHandler<Current> = {
    get: (t, key) => {
      this.noteCurrentRead(t, key);
      return (t as unknown as Rec)[key];
    },
    // As the accessor fields of the literal this stands for: listing the keys reads nothing,
    // a field's getter records the read.
    getOwnPropertyDescriptor: (t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(t, key);
      if (d === undefined || key === 'pid') return d;
      return {
        get: () => {
          this.noteCurrentRead(t, key);
          return (t as unknown as Rec)[key];
        },
        enumerable: true,
        configurable: true,
      };
    },
  };

  private noteCurrentRead(t: Current, key: string | symbol): void {
    if (key === 'cpu') this.read(this.named('cpu', String(t.cpu)));
    else if (key === 'preemptCount') this.read(this.named('pc', String(t.cpu)));
    else if (key === 'now') this.readClock();
  }

  /** The working state as kernel and plugin code see it while recording. */
  get state(): KernelState {
    return this.liveView;
  }

  /**
   * The recording view the invariants and monitors are given for the snapshot `snap`: one per
   * snapshot, so the checks after one step share it (and a check that compares what it was given
   * by identity sees a new object exactly when the snapshot is new, as without recording).
   */
  observerView(snap: KernelState): KernelState {
    if (snap !== this.checkSnap || this.checkView === null) {
      this.checkSnap = snap;
      this.checkView = this.viewOf(snap);
    }
    return this.checkView;
  }

  /**
   * A read-only view of `snap` (null: the working state, read afresh at each access, so a view
   * kept across steps reads the state of the step that uses it, as the working state itself
   * would) that records what is read: keyed records per key, the CPU array per CPU, other fields
   * as whole objects (what is under them is returned as it is). Made with the recorder's shared
   * handlers: a view costs its target and its proxy, and each per-field view the same when first
   * read (the checks are handed a new view after every step that changed the state).
   */
  private viewOf(snap: KernelState | null): KernelState {
    return new Proxy({ snap, views: null } satisfies ViewTarget, this.rootHandler) as unknown as KernelState;
  }

  /** The state a view's target reads: its snapshot, or the working state. */
  private stateOf(t: ViewTarget): Rec {
    return (t.snap ?? this.live()) as unknown as Rec;
  }

  private readonly rootHandler: ProxyHandler<ViewTarget> = {
    get: (t, key) => {
      if (typeof key !== 'string') return this.stateOf(t)[key];
      let v = t.views?.get(key);
      if (v !== undefined) return v;
      const family = KEYED[key];
      if (family !== undefined || key === 'cpus') {
        v = family !== undefined ? new Proxy({ root: t, field: key, family } satisfies KeyedTarget, this.keyedHandler) : this.cpusView(t);
        (t.views ??= new Map()).set(key, v);
        return v;
      }
      if (key === 'clock') this.readClock();
      else this.read(TABLES[key] ?? key);
      return this.stateOf(t)[key];
    },
    has: (t, key) => key in this.stateOf(t),
    ownKeys: (t) => Reflect.ownKeys(this.stateOf(t)),
    getOwnPropertyDescriptor: (t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(this.stateOf(t), key);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  };

  /** A keyed record's view (locks, plugins, modules, functions): each key read is an object of its family. */
  private readonly keyedHandler: ProxyHandler<KeyedTarget> = {
    get: (t, key) => {
      if (typeof key === 'string') this.read(this.named(t.family, key));
      return (this.stateOf(t.root)[t.field] as Rec)[key];
    },
    has: (t, key) => {
      if (typeof key === 'string') this.read(this.named(t.family, key));
      return key in (this.stateOf(t.root)[t.field] as Rec);
    },
    ownKeys: (t) => {
      this.read(`${t.family}:*`);
      return Reflect.ownKeys(this.stateOf(t.root)[t.field] as Rec);
    },
    getOwnPropertyDescriptor: (t, key) => {
      if (typeof key === 'string') this.read(this.named(t.family, key));
      const d = Reflect.getOwnPropertyDescriptor(this.stateOf(t.root)[t.field] as Rec, key);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  };

  /** The CPU array's view: reading a CPU's entry reads which task is current there and its preempt count. */
  private cpusView(root: ViewTarget): object {
    const cpus = (): Rec => this.stateOf(root)['cpus'] as Rec;
    return new Proxy([] as unknown[], {
      get: (_, key) => {
        const arr = cpus();
        if (typeof key === 'string' && key !== 'length' && /^\d+$/.test(key)) {
          this.read(this.named('cpu', key));
          this.read(this.named('pc', key));
        }
        return arr[key];
      },
      has: (_, key) => key in cpus(),
      ownKeys: () => {
        this.read('cpu:*');
        this.read('pc:*');
        return Reflect.ownKeys(cpus());
      },
      getOwnPropertyDescriptor: (_, key) => {
        if (key === 'length') return Reflect.getOwnPropertyDescriptor([], 'length');
        const d = Reflect.getOwnPropertyDescriptor(cpus(), key);
        return d === undefined ? undefined : { ...d, configurable: true };
      },
    });
  }

  /**
   * The objects `e` writes, noted before it is folded (`state`: the state it is folded into, for
   * the task's address space). Each core event type is listed, so a new one fails to compile
   * until its footprint is written; every plugin reducer that folds the event writes its slice.
   */
  noteEvent(input: EventInput, cpu: number, state: KernelState, channelOf: (pid: number) => string | undefined): void {
    const p = input as unknown as Rec;
    const type = input.type;
    const writer = CORE_WRITES[type as CoreEventType] as CoreWrite | undefined;
    if (writer !== undefined) {
      this.inSwitch = type === 'sched/switch';
      if (this.inSwitch) {
        if (p['prev'] !== 0) this.switchedPids.add(p['prev'] as number);
        if (p['next'] !== 0) this.switchedPids.add(p['next'] as number);
      }
      const c = this.writeCtx;
      c.event = p;
      c.cpu = cpu;
      c.state = state;
      c.channelOf = channelOf;
      try {
        writer(input as KernelEvent, c);
      } finally {
        this.inSwitch = false;
      }
    } else {
      // A plugin's own event: what it names of the data the plugin keeps outside its slice
      // (`PluginContext.footprint`), or, when it names nothing, its slice and all of that data.
      const slash = type.indexOf('/');
      const plugin = slash < 0 ? type : type.slice(0, slash);
      const keyed = this.pluginKeys(input, cpu, plugin);
      if (keyed === null) {
        this.write(this.named('plugin', plugin));
        this.write(this.named(`@${plugin}`, '*'));
      } else {
        for (const k of keyed.reads) this.read(this.named(`@${plugin}`, k));
        for (const k of keyed.writes) this.write(this.named(`@${plugin}`, k));
      }
    }
    for (const plugin of this.foldersOf(type)) this.write(this.named('plugin', plugin));
  }

  /**
   * The keys a plugin's footprint gives for its event `e`, checked; null when the plugin gave no
   * footprint for the type, or when the one it gave threw or returned something that is not
   * lists of keys. Then the event touches all of the plugin's data, as without one, so the run
   * and its log are the same as when nothing records; the problem is kept and thrown, to the
   * host, at the step's end (`end`).
   */
  private pluginKeys(input: EventInput, cpu: number, plugin: string): { reads: readonly string[]; writes: readonly string[] } | null {
    const of = this.footprintOf(input.type);
    if (of === undefined) return null;
    // The footprint sees the payload and the CPU that emits it (no sequence number or time yet).
    const e = { ...input, cpu } as KernelEvent;
    try {
      const f = of(e);
      return { reads: keysOf(f, 'reads', plugin, e.type), writes: keysOf(f, 'writes', plugin, e.type) };
    } catch (err) {
      this.invalid ??=
        err instanceof TracelabError
          ? err
          : new TracelabError(
              'PLUGIN_INVALID',
              `plugin ${plugin}: the footprint of ${e.type} threw: ${describeError(err)}`,
              { plugin, event: e.type },
              { cause: err },
            );
      return null;
    }
  }

  /** The event as a plugin reducer sees it while recording: reading its `time` reads the clock. */
  eventView(e: KernelEvent): KernelEvent {
    return new Proxy(e, this.eventHandler);
  }

  /** One handler per recorder (a handler and closure per event were most of `eventView`'s cost). */
  private readonly eventHandler: ProxyHandler<KernelEvent> = {
    get: (t, key) => {
      if (key === 'time') this.readClock();
      return (t as unknown as Rec)[key];
    },
  };
}

/**
 * Whether a lock's record is as it was (undefined: the lock was never used). Lock records are
 * values, replaced and never edited (reducers.ts `putLock`), so the record kept from the step's
 * first write still says what the lock was then; equal text is equal state.
 */
function sameLock(now: LockState | undefined, before: LockState | undefined): boolean {
  return now === before || (now !== undefined && before !== undefined && canonicalEqual(now, before));
}

interface WriteCtx {
  w(object: string): void;
  /** A commutative update (`FootprintRecorder.update`). */
  u(object: string): void;
  /** Writes the task record the event's `field` (default `pid`) names. */
  task(field?: string): void;
  read(object: string): void;
  clock(): void;
  /** `${family}:${key}`, the recorder's interned name (`FootprintRecorder.named`). */
  named(family: string, key: string | number): string;
  readonly state: KernelState;
  readonly channelOf: (pid: number) => string | undefined;
  /** The CPU emitting the event (-1 outside any CPU): the event's `cpu` once stamped. */
  readonly cpu: number;
}

/**
 * The context the core writers are handed: one per recorder, its event, CPU and state set for
 * each event (`noteEvent`), so noting an event allocates nothing. Written only by `noteEvent`.
 */
class WriteContext implements WriteCtx {
  event: Rec = {};
  cpu = -1;
  state!: KernelState;
  channelOf: (pid: number) => string | undefined = () => undefined;
  constructor(private readonly rec: FootprintRecorder) {}
  w(object: string): void {
    this.noteIfTask(object);
    this.rec.write(object);
  }
  u(object: string): void {
    this.noteIfTask(object);
    this.rec.update(object);
  }
  /**
   * A task record written by name (a parent's children list, say) has its `tstop` projection
   * noted too, so a writer that changes more of the record cannot slip past; `task:*`, any task
   * at all, writes `tstop:*`.
   */
  private noteIfTask(object: string): void {
    if (!object.startsWith('task:')) return;
    const key = object.slice(5);
    if (key === '*') this.rec.write('tstop:*');
    else this.rec.noteTask(Number(key), this.state);
  }
  task(field = 'pid'): void {
    const pid = this.event[field] as number;
    this.rec.noteTask(pid, this.state);
    this.rec.write(this.rec.named('task', String(pid)));
  }
  read(object: string): void {
    this.rec.read(object);
  }
  clock(): void {
    this.rec.readClock();
  }
  named(family: string, key: string | number): string {
    return this.rec.named(family, String(key));
  }
}
type CoreWrite = (e: KernelEvent, c: WriteCtx) => void;

// Events that change no shared state (a printk, an RCU read-side marker, an interrupt frame).
const nothing: CoreWrite = () => undefined;
const ownTask: CoreWrite = (_, c) => c.task();
/**
 * Whether the task is on the task list as the event is noted (before its reducer runs): its
 * `tflags` object changes with its flags only then. An unknown pid counts as listed (the write is
 * recorded: the safe side).
 */
const listedBefore = (c: WriteCtx, pid: number): boolean => intMapGet(c.state.tasks, pid)?.listed ?? true;
const mmOf = (c: WriteCtx, pid: number): void => {
  const t = intMapGet(c.state.tasks, pid);
  c.w(t === undefined ? 'mm:*' : c.named('mm', t.tgid));
};

/** What each core reducer writes (reducers.ts), and what it reads of other objects to do it. */
const CORE_WRITES: { readonly [T in CoreEventType]: (e: KernelEvent<T>, c: WriteCtx) => void } = {
  'kernel/created': (_, c) => c.w('kernel'),
  'kernel/plugin-registered': (_, c) => c.w('kernel'),
  'kernel/oops': (e, c) => {
    c.w('kernel');
    if (e.plugin !== null) c.w(c.named('plugin', e.plugin));
    if (c.cpu >= 0) c.w(c.named('pc', c.cpu));
  },
  'kernel/printk': nothing,
  'kernel/function-defined': (e, c) => c.w(c.named('function', e.name)),
  'task/spawned': (e, c) => {
    c.task();
    if (e.listed !== false) c.w(c.named('tflags', e.pid));
    c.w(c.named('mm', e.pid));
    c.w('kernel');
  },
  'task/linked': (e, c) => {
    c.task();
    c.w(c.named('tflags', e.pid));
  },
  'task/to-user': ownTask,
  'fork/dup': (e, c) => {
    // The child is not listed yet: its flags become part of `tflags` when `fork/link` lists it.
    c.task('child');
    c.w(c.named('mm', e.child));
    c.w('kernel');
    c.read(c.named('task', e.parent));
    mmOf(c, e.parent);
  },
  'fork/vfork-done': (e, c) => {
    c.task('parent');
    c.task('child');
  },
  'fork/link': (e, c) => {
    c.task('child');
    c.w(c.named('tflags', e.child));
    c.task('parent');
  },
  'task/flags': (e, c) => {
    c.task();
    if (listedBefore(c, e.pid)) c.w(c.named('tflags', e.pid));
  },
  'task/exec': ownTask,
  'task/exit': ownTask,
  'task/zombie': ownTask,
  'task/reparented': (e, c) => {
    c.task();
    c.task('parent');
    // The old parent's children list: found through the task's record.
    const t = intMapGet(c.state.tasks, e.pid);
    c.w(t === undefined ? 'task:*' : c.named('task', t.parent));
  },
  'task/released': (e, c) => {
    c.task();
    if (listedBefore(c, e.pid)) c.w(c.named('tflags', e.pid));
    // Two releases commute in what they change of shared records: each takes its own pid off
    // its parent's children (a filter; a pid is released once) and adds one to the kernel's
    // count of released tasks, and the reducer reads neither to decide anything.
    const t = intMapGet(c.state.tasks, e.pid);
    if (t === undefined) c.w('task:*');
    else c.u(c.named('task', t.parent));
    c.u('kernel');
    c.w(c.named('mm', e.pid));
  },
  'task/sleep': (e, c) => {
    c.task();
    c.w(c.named('wq', e.on));
    if (e.until !== null) c.clock();
  },
  'task/traced': ownTask,
  'task/user-fault': ownTask,
  'sched/wakeup': (e, c) => {
    // The reducer asks whether the task is current on some CPU: only a `sched/switch` with the
    // task as prev or next changes that, and it writes `task:<pid>`, which this step writes too.
    c.task();
    const on = c.channelOf(e.pid);
    if (on !== undefined) c.w(c.named('wq', on));
  },
  'sched/switch': (e, c) => {
    c.w(c.named('cpu', c.cpu));
    if (e.prev !== 0) c.task('prev');
    if (e.next !== 0) c.task('next');
    // A dead task's final switch forgets its record only if it was released (unlisted) first;
    // one that never was (an oops on its exit path) stays listed with its flags, as EXIT_DEAD
    // (reducers.ts): `tflags` is unchanged either way, and `tstop` is noted through `c.task`.
  },
  'cpu/preempt-count': (_, c) => c.w(c.named('pc', c.cpu)),
  'irq/entry': nothing,
  'irq/exit': nothing,
  'syscall/enter': ownTask,
  'syscall/exit': ownTask,
  'fault/page': ownTask,
  'fault/resolved': (e, c) => {
    c.task();
    mmOf(c, e.pid);
  },
  'mm/store': (e, c) => c.w(c.named('mm', e.tgid)),
  'mm/evicted': (e, c) => c.w(c.named('mm', e.tgid)),
  'fs/open': ownTask,
  'lock/wait': (e, c) => c.w(c.named('lock', e.lock)),
  'lock/acquired': (e, c) => c.w(c.named('lock', e.lock)),
  'lock/released': (e, c) => c.w(c.named('lock', e.lock)),
  'rcu/read-lock': nothing,
  'rcu/read-unlock': nothing,
  'rcu/gp-start': (_, c) => {
    // The grace period's start time is stored: the clock is read.
    c.w('rcu');
    c.clock();
  },
  'rcu/qs': (_, c) => c.w('rcu'),
  'rcu/gp-end': (_, c) => c.w('rcu'),
  'rcu/callback-queued': (_, c) => c.w('rcu'),
  'rcu/callback-invoked': (_, c) => c.w('rcu'),
  'signal/generate': ownTask,
  'signal/deliver': ownTask,
  'module/loaded': (e, c) => c.w(c.named('module', e.name)),
  'module/going': (e, c) => c.w(c.named('module', e.name)),
  'module/unloaded': (e, c) => c.w(c.named('module', e.name)),
};

/** A plugin footprint's keys of one kind, checked: a list of non-empty strings. */
function keysOf(f: PluginFootprint, kind: 'reads' | 'writes', plugin: string, type: string): readonly string[] {
  const keys = (f as PluginFootprint | null | undefined)?.[kind] ?? [];
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k.length === 0 || k === '*' || k.endsWith(':*')))
    throw new TracelabError(
      'PLUGIN_INVALID',
      `plugin ${plugin}: the footprint of ${type} must give ${kind} as a list of non-empty keys (not '*', none ending in ':*'), got ${JSON.stringify(keys)}`,
      {
        plugin,
        event: type,
      },
    );
  return keys as readonly string[];
}

/**
 * The keys of `PluginContext.touched`, checked: as a footprint's, and `'*'` (all of the
 * plugin's data) is allowed. Throws PLUGIN_INVALID naming the plugin and what is wrong.
 */
export function touchedKeys(f: PluginFootprint, kind: 'reads' | 'writes', plugin: string): readonly string[] {
  const keys = (f as PluginFootprint | null | undefined)?.[kind] ?? [];
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k.length === 0 || (k !== '*' && k.endsWith(':*'))))
    throw new TracelabError(
      'PLUGIN_INVALID',
      `plugin ${plugin}: touched() must give ${kind} as a list of non-empty keys ('*' for all, none ending in ':*'), got ${JSON.stringify(keys)}`,
      { plugin },
    );
  return keys as readonly string[];
}

/** Whether two objects are the same or one is its family's `*` and the other in that family. */
function same(a: string, b: string): boolean {
  if (a === b) return true;
  const i = a.indexOf(':');
  const j = b.indexOf(':');
  if (i < 0 || j < 0 || i !== j || a.slice(0, i) !== b.slice(0, j)) return false;
  return a.endsWith(':*') || b.endsWith(':*');
}

function meets(writes: readonly string[], touched: readonly string[]): boolean {
  for (const w of writes) for (const t of touched) if (same(w, t)) return true;
  return false;
}

const NONE: readonly string[] = [];

/**
 * A task's `tstop` projection as bits: it has a record (1), is stopped (2), traced (4), has
 * SIGKILL pending (8), has an exit state (16). 0 for no record.
 */
function stopBits(t: TaskState | undefined): number {
  if (t === undefined) return 0;
  return 1 | (t.state === 'stopped' ? 2 : 0) | (t.traced === true ? 4 : 0) | (t.pendingSignals.includes(SIGKILL) ? 8 : 0) | (t.exitState !== null ? 16 : 0);
}

/** Whether `a`'s write `w` and `b`'s write `t` conflict: the same object, not updated commutatively by both. */
function writeConflict(a: StepFootprint, w: string, b: StepFootprint, t: string): boolean {
  return same(w, t) && !(w === t && (a.updates ?? NONE).includes(w) && (b.updates ?? NONE).includes(t));
}

/** Whether two steps' writes meet in an object that is not a commutative update in both. */
function writesMeet(a: StepFootprint, b: StepFootprint): boolean {
  for (const w of a.writes) for (const t of b.writes) if (writeConflict(a, w, b, t)) return true;
  return false;
}

/**
 * Whether two steps of different CPUs conflict (do not commute): one writes what the other reads
 * or writes (two commutative updates of one object aside: `StepFootprint.updates`), or either
 * read the clock (every step moves it). `observed` (what the checks read,
 * gathered over a run or a search) counts as read by both: a check that looks at two objects
 * sees the order of their writes. Given a list per owner (`ObservedSets`), the two writes must
 * meet one owner's list.
 */
export function footprintsConflict(a: StepFootprint, b: StepFootprint, observed: ObservedSets = []): boolean {
  if (a.clockRead || b.clockRead) return true;
  if (writesMeet(a, b) || meets(a.writes, b.reads) || meets(b.writes, a.reads)) return true;
  return bothObserved(a, b, observed);
}

/**
 * Whether both steps write what one owner's checks observe (`observed`: one list, or a list per
 * owner). Each owner's checks see the two writes' order; checks of two owners, each seeing one
 * of the writes, see the same states in either order (each sees the other's write as no change).
 */
function bothObserved(a: StepFootprint, b: StepFootprint, observed: ObservedSets): boolean {
  if (observed.length === 0) return false;
  if (typeof observed[0] === 'string') return meets(a.writes, observed as readonly string[]) && meets(b.writes, observed as readonly string[]);
  for (const set of observed as readonly (readonly string[])[]) if (set.length > 0 && meets(a.writes, set) && meets(b.writes, set)) return true;
  return false;
}

/**
 * Why two steps conflict, as `footprintsConflict` decides it: each object one writes and the
 * other reads or writes (as the writer names it), `clock` when either read the clock, and
 * `observed` when the only tie is that both write what the checks read. Empty when they commute.
 */
export function conflictObjects(a: StepFootprint, b: StepFootprint, observed: ObservedSets = []): string[] {
  const out = new Set<string>();
  if (a.clockRead || b.clockRead) out.add('clock');
  for (const w of a.writes) {
    if (meets([w], b.reads)) out.add(w);
    for (const t of b.writes) if (writeConflict(a, w, b, t)) out.add(w);
  }
  for (const w of b.writes) if (meets([w], a.reads)) out.add(w);
  if (out.size === 0 && bothObserved(a, b, observed)) out.add('observed');
  return [...out];
}
