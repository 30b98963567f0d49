import { createHash, type Hash } from 'node:crypto';
import { Immer, freeze, type Draft } from 'immer';
import { Subject } from 'rxjs';
import { TracelabError, describeError } from '../errors.js';
import { CORE_EVENT_TYPES, type EventInput, type KernelEvent } from '../events.js';
import type { PluginFootprint } from '../plugin.js';
import type { KernelState } from '../state.js';
import { canonicalJson } from './canonical-json.js';
import { LogSink } from './log-sink.js';
import { coreReducer, copyRoot, initialWorkingState, type CoreWriter } from './reducers.js';
import { Journal, freezeWorking, frozenCopy, own } from './working.js';
import type { FootprintRecorder } from './footprint.js';

/** A plugin's reducer: folds an event into the plugin's own slice. */
export type SliceReducer = (slice: Draft<unknown>, event: KernelEvent, state: KernelState) => unknown;

/** A reducer as registered: `draft` false for a plain one (`ctx.onPlain(type, fn)`), which gets the frozen slice itself. */
interface PluginReducer {
  readonly plugin: string;
  readonly type: string;
  readonly fn: SliceReducer;
  readonly draft: boolean;
}

/** Where the log stood: undoing back to it removes everything applied since. */
export interface Checkpoint {
  readonly length: number;
  /** The journal's length then (working.ts): the writes after it are undone. */
  readonly journal: number;
}

/** A built kernel's store: its state snapshot and log length (`mark`/`resetTo`). */
export interface StoreMark {
  readonly state: KernelState;
  readonly length: number;
}

/** Thrown out of `produce` so the store knows whose reducer failed. */
class ReducerFailure extends Error {
  constructor(
    readonly plugin: string,
    readonly original: unknown,
  ) {
    super(describeError(original));
  }
}

/**
 * Freezes what a plain reducer returned (every object not frozen yet, as `freezeWorking`), so the
 * slice is the immutable value a drafted reducer's would be; `undefined` (a drafted reducer's "no
 * change", a slip in a plain one) is refused.
 */
function checkedFreeze(after: unknown, r: PluginReducer): void {
  if (after === undefined) {
    throw new TracelabError(
      'PLUGIN_INVALID',
      `plugin ${r.plugin}: the plain reducer for ${r.type} returned undefined; it returns the slice (the same object when nothing changed)`,
      { plugin: r.plugin, event: r.type },
    );
  }
  freezeWorking(after);
}

/** Where `stateAt` may start from: snapshot spacing, and how many snapshots are kept at most. */
export interface SnapshotPolicy {
  /** Events between snapshots at first. Default 4,096. */
  readonly every: number;
  /** Past this many snapshots, every other one is dropped and the spacing doubles. Default 256. */
  readonly max: number;
}

const DEFAULT_SNAPSHOTS: SnapshotPolicy = { every: 4096, max: 256 };
const HEADER_FIELDS = ['seq', 'time', 'cpu'] as const;

/**
 * Stamps a payload of one shape into a logged event, or returns null when the payload's own
 * enumerable keys are not, in order, the ones it was compiled for (`EventStore.stamp`).
 */
type Stamper = (input: EventInput, seq: number, time: number, cpu: number) => KernelEvent | null;

/**
 * Event type -> the stampers compiled for its payload shapes, shared by every store in the
 * process (a stamper depends on the shape only, and compiling costs microseconds: per kernel it
 * would cost an explorer's every schedule). Written only by `stampSlow`, on the one thread.
 */
const STAMPERS = new Map<string, Stamper[]>();

/** Shapes compiled per event type; payloads of further shapes are spread (a type's emit sites agree on a few shapes). */
const STAMPERS_PER_TYPE = 4;

/**
 * A stamper for `input`'s shape, or null when it cannot have one (a `__proto__` key, which an
 * object literal would take as the prototype; symbol keys, which the check cannot see: a later
 * payload of the same string keys with a symbol key added loses it, as its JSON log line does). The
 * code is generated from the key names (JSON-quoted, never spliced in raw) like the CTF
 * decoders (formats' reader-decode.ts): one object literal per shape keeps the events
 * monomorphic per type.
 */
function compileStamper(input: EventInput): Stamper | null {
  const keys = Object.keys(input);
  if (keys.includes('__proto__') || Object.getOwnPropertySymbols(input).length > 0) return null;
  const q = keys.map((k) => JSON.stringify(k));
  const body = [
    `let n = 0;`,
    `for (const k in i) { if (n === ${keys.length} || k !== K[n]) return null; n++; }`,
    `if (n !== ${keys.length}) return null;`,
    `return Object.freeze({ seq: s, time: t, cpu: c${q.map((k) => `, ${k}: i[${k}]`).join('')} });`,
  ].join('\n');
  const make = new Function('K', `return (i, s, t, c) => {\n${body}\n};`) as (k: readonly string[]) => Stamper;
  return make(Object.freeze(keys));
}

/**
 * The append-only log and the fold over it. Every state change goes through `append`: the
 * event gets its header, the core's reducer writes the working state in place (working.ts),
 * each plugin reducer gets an immer draft of its own slice, the event joins the log. Events are
 * published to subscribers only at `flush` (the end of a scheduling step), so a step that is
 * rolled back (a plugin handler threw) was never seen by anyone.
 *
 * `live` is the working state: only the store's fold writes it, and kernel code, invariants and
 * monitors read it through the read-only `KernelState` type. Whatever is handed to a user is a
 * snapshot (`state`, `stateAt`, `state$`): frozen, and never changed afterwards.
 *
 * Mutable fields are written only by the kernel's own loop (single-threaded); nothing else
 * holds a reference to them.
 */
export class EventStore {
  /** The working state, written in place by the fold only. */
  private readonly work: CoreWriter = initialWorkingState();
  readonly log: KernelEvent[] = [];
  /** Replaced (the old one completed) by `resetTo`; the kernel's streams defer to the current one. */
  events$ = new Subject<KernelEvent>();
  state$ = new Subject<KernelState>();
  /** Bumped by every event applied and every rollback: "did the state change since". */
  version = 0;

  // immer with its own settings, so the host application's global immer config is untouched.
  private readonly immer = new Immer({ autoFreeze: true });
  private readonly declared = new Set<string>(CORE_EVENT_TYPES);
  private readonly owners = new Map<string, string>();
  /** Plugin event type -> what its step touched outside the slice, by key (`PluginContext.footprint`); written at registration only. */
  private readonly footprints = new Map<string, (event: KernelEvent) => PluginFootprint>();
  private readonly pluginReducers = new Map<string, PluginReducer[]>();
  private readonly initialSlices = new Map<string, unknown>();
  /** Undo records of the working state's writes while a checkpoint is open (working.ts). */
  private readonly journal = new Journal();
  // snapshots[i] is the state after the first snapshotCounts[i] events (ascending); [0] is empty.
  private snapshots: KernelState[];
  private snapshotCounts: number[] = [0];
  private snapshotEvery: number;
  /** A snapshot is due (the log passed a multiple of snapshotEvery) and waits for an empty journal. */
  private snapshotDue = false;
  /** The last snapshot handed out, and the version it shows. */
  private lastSnapshot: KernelState;
  private lastSnapshotVersion = 0;
  private published = 0;
  private lastPublishedVersion = 0;
  /** Created on the first logHash(): a native hash object per kernel is costly to collect, and most explored kernels are never hashed. */
  private hasher: Hash | null = null;
  private hashed = 0;

  /** Streams the log to a file (`KernelOptions.logFile`); null keeps the whole log in memory. */
  private readonly sink: LogSink | null;
  /** The seq of `log[0]`: events before it were streamed to the file and left memory (written by trimLog). */
  private logBase = 0;
  private lastTrimmed: KernelEvent | undefined = undefined;

  constructor(
    private readonly snapshotPolicy: SnapshotPolicy = DEFAULT_SNAPSHOTS,
    logFile: string | null = null,
  ) {
    this.snapshotEvery = snapshotPolicy.every;
    this.sink = logFile === null ? null : new LogSink(logFile);
    if (this.sink !== null) this.hasher = createHash('sha256');
    this.lastSnapshot = this.takeSnapshot();
    this.snapshots = [this.lastSnapshot];
  }

  /** The working state, read-only: read it, never keep it (it changes under you); `state` is the snapshot to keep. */
  get live(): KernelState {
    return this.work;
  }

  /**
   * The runtime's footprint recorder while an explorer records footprints (footprint.ts), else
   * null: plugin reducers then read the state through its recording view and the event with
   * its `time` recorded as a clock read. Written only by `Runtime.recordFootprints`.
   */
  recorder: FootprintRecorder | null = null;

  /** The plugins whose reducers fold events of `type`. */
  foldersOf(type: string): readonly string[] {
    let names = this.folderNames.get(type);
    if (names === undefined) {
      const list = this.pluginReducers.get(type);
      names = list === undefined ? [] : list.map((r) => r.plugin);
      this.folderNames.set(type, names);
    }
    return names;
  }

  /** `foldersOf`'s answers, by event type: filled on first ask, emptied by `addReducer`. */
  private readonly folderNames = new Map<string, readonly string[]>();

  /** Called when a plugin reducer throws, before the event is retried without that plugin. */
  onReducerFailure: ((plugin: string, event: EventInput, error: unknown) => void) | null = null;

  declareEvent(type: string, owner: string): void {
    const prev = this.owners.get(type);
    if (this.declared.has(type) && prev !== owner) {
      throw new TracelabError('PLUGIN_INVALID', `plugin ${owner} declares event ${type}, which ${prev ?? 'the core'} already owns`, {
        plugin: owner,
        event: type,
      });
    }
    this.declared.add(type);
    this.owners.set(type, owner);
  }

  isDeclared(type: string): boolean {
    return this.declared.has(type);
  }

  /** The plugin that owns a declared event type (undefined for the core's and undeclared ones). */
  ownerOf(type: string): string | undefined {
    return this.owners.get(type);
  }

  /** Records a plugin event type's keyed footprint (`PluginContext.footprint`; registration only). */
  setFootprint(type: string, of: (event: KernelEvent) => PluginFootprint): void {
    this.footprints.set(type, of);
  }

  /** A plugin event type's keyed footprint, if its plugin gave one. */
  footprintOf(type: string): ((event: KernelEvent) => PluginFootprint) | undefined {
    return this.footprints.get(type);
  }

  /** Adds a plugin reducer for `type`; `draft: false` is a plain one (the frozen slice in, the new slice out). */
  addReducer(type: string, plugin: string, fn: SliceReducer, draft = true): void {
    this.folderNames.delete(type);
    let list = this.pluginReducers.get(type);
    if (list === undefined) this.pluginReducers.set(type, (list = []));
    list.push({ plugin, type, fn, draft });
  }

  setInitialSlice(plugin: string, slice: unknown): void {
    this.initialSlices.set(plugin, slice);
  }

  /**
   * The state now, as an immutable snapshot: the same object until the state changes. Between
   * steps (the journal empty) the working objects are frozen where they stand and later writes
   * copy them; mid-step (a rollback may still need to write them) they are copied instead.
   */
  get state(): KernelState {
    if (this.version !== this.lastSnapshotVersion) {
      this.lastSnapshot = this.takeSnapshot();
      this.lastSnapshotVersion = this.version;
    }
    return this.lastSnapshot;
  }

  private takeSnapshot(): KernelState {
    const root = copyRoot(this.work);
    if (this.journal.length === 0) {
      freezeWorking(root);
      return root as KernelState;
    }
    return frozenCopy(root) as KernelState;
  }

  /**
   * A point to roll back to. The first one turns the journal on for good (a live kernel's store;
   * a replay's never checkpoints and folds unjournaled); `flush` empties it.
   */
  checkpoint(): Checkpoint {
    this.journal.on = true;
    return { length: this.length, journal: this.journal.length };
  }

  /** Folds from here on unjournaled (`replay`: a log being read back is never rolled back). */
  stopJournal(): void {
    this.journal.clear();
    this.journal.on = false;
  }

  /** Undoes every event appended since `cp`; only events not yet published can be undone. */
  rollback(cp: Checkpoint): void {
    if (cp.length < this.published || cp.journal > this.journal.length) throw new Error('internal: rollback past published events');
    this.journal.undo(cp.journal);
    this.log.length = cp.length - this.logBase;
    this.version++;
    while (this.snapshotCounts[this.snapshotCounts.length - 1]! > cp.length) {
      this.snapshotCounts.pop();
      this.snapshots.pop();
    }
    if (this.hashed > cp.length) this.resetHash();
  }

  /** Validates, stamps, applies and logs an event emitted by kernel code. */
  append(input: EventInput, time: number, cpu: number): KernelEvent {
    if (!this.declared.has(input.type)) {
      throw new TracelabError('UNKNOWN_EVENT_TYPE', `event type ${input.type} was never declared by the core or a plugin`, { event: input.type });
    }
    for (;;) {
      const event = this.stamp(input, time, cpu);
      const mark = this.journal.length;
      try {
        this.apply(event);
        return event;
      } catch (err) {
        // A reducer that threw may have written part of the event: undo it before going on.
        if (this.journal.on) this.journal.undo(mark);
        if (!(err instanceof ReducerFailure)) throw err;
        if (this.onReducerFailure === null) throw err.original;
        if (!this.journal.on) throw new Error(`internal: reducer of ${err.plugin} failed outside any checkpoint`, { cause: err.original });
        // Contain the failing plugin: log its oops (which disables it), then apply the event
        // again without it. The log reads oops-then-event, so a replay disables the plugin
        // before the event too and folds to the same state.
        this.onReducerFailure(err.plugin, input, err.original);
      }
    }
  }

  /**
   * The logged event: `seq`, `time`, `cpu`, then the payload's own keys in its order, frozen.
   * A payload whose keys are, in order, those of one this type's stampers was compiled for is
   * copied by that stamper (an object literal of a fixed shape: no spread, ~2x faster, and a
   * compact object for the GC to move); any other goes through `stampSlow`, which checks it and
   * compiles a stamper for its shape (at most STAMPERS_PER_TYPE per type).
   */
  private stamp(input: EventInput, time: number, cpu: number): KernelEvent {
    const list = STAMPERS.get(input.type);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!(input, this.length, time, cpu);
        if (e !== null) return e;
      }
    }
    return this.stampSlow(input, time, cpu, list);
  }

  private stampSlow(input: EventInput, time: number, cpu: number, list: Stamper[] | undefined): KernelEvent {
    if ('seq' in input || 'time' in input || 'cpu' in input) {
      const field = HEADER_FIELDS.find((f) => f in input)!;
      throw new TracelabError('INVALID_EVENT', `event ${input.type}: "${field}" is set by the kernel, a payload may not carry it`, {
        event: input.type,
        field,
      });
    }
    if (list === undefined || list.length < STAMPERS_PER_TYPE) {
      const stamper = compileStamper(input);
      if (stamper !== null) {
        if (list === undefined) STAMPERS.set(input.type, [stamper]);
        else list.push(stamper);
        const e = stamper(input, this.length, time, cpu);
        if (e !== null) return e;
      }
    }
    // Header first: a spread followed by more properties leaves V8's fast clone path (~2 us).
    return Object.freeze({ seq: this.length, time, cpu, ...input }) as KernelEvent;
  }

  /** Applies an already-stamped event (live or from a log being replayed). */
  apply(event: KernelEvent): void {
    this.fold(this.work, event, this.journal);
    this.log.push(event);
    this.version++;
    if (this.length % this.snapshotEvery === 0) this.snapshotDue = true;
    if (this.snapshotDue && this.journal.length === 0) this.keepSnapshot();
  }

  /**
   * Keeps a snapshot for `stateAt`. Each one keeps alive every record the events since the
   * previous one replaced; a fixed spacing would grow memory (and GC time) with the log, so past
   * `max` snapshots every other one is dropped and the spacing doubles, and stateAt folds at most
   * about `snapshotEvery` events from the nearest one.
   */
  private keepSnapshot(): void {
    this.snapshotDue = false;
    this.snapshots.push(this.state);
    this.snapshotCounts.push(this.length);
    if (this.snapshots.length > this.snapshotPolicy.max) {
      this.snapshots = this.snapshots.filter((_, j) => j % 2 === 0);
      this.snapshotCounts = this.snapshotCounts.filter((_, j) => j % 2 === 0);
      this.snapshotEvery *= 2;
    }
  }

  /**
   * One event folded into the working state `s`: the clock, the core's reducer (in place,
   * journaled), the plugin's initial slice on its registration, then each plugin reducer for the
   * event with an immer draft of its own slice only (a plain reducer: the frozen slice) and `s` to read.
   */
  private fold(s: CoreWriter, event: KernelEvent, j: Journal): void {
    if (s.clock.now !== event.time) j.set(s, 'clock', { now: event.time });
    const core = coreReducer(event.type);
    if (core !== undefined) core(s, event as never, j);
    if (event.type === 'kernel/plugin-registered') {
      const slice = this.initialSlices.get(event.name);
      if (slice !== undefined) j.setKey(own(j, s, 'plugins'), event.name, freeze(slice, true));
    }
    const list = this.pluginReducers.get(event.type);
    if (list !== undefined) this.foldPlugins(list, s, event, j);
  }

  private foldPlugins(list: readonly PluginReducer[], s: CoreWriter, event: KernelEvent, j: Journal): void {
    const disabled = s.kernel.disabledPlugins;
    const rec = this.recorder;
    const seen = rec === null ? event : rec.eventView(event);
    const state = rec === null ? (s as KernelState) : rec.state;
    for (const r of list) {
      if (disabled[r.plugin] !== undefined) continue;
      const before = s.plugins[r.plugin];
      let after: unknown;
      try {
        // The reducer sees the state as folded so far, its own slice as the draft, or (a plain
        // reducer) as the frozen value itself: what it returns is frozen here, as immer would.
        if (r.draft) after = this.immer.produce(before, (draft: Draft<unknown>) => r.fn(draft, seen, state));
        else if ((after = r.fn(before as Draft<unknown>, seen, state)) !== before) checkedFreeze(after, r);
      } catch (err) {
        throw new ReducerFailure(r.plugin, err);
      }
      if (after !== before) j.setKey(own(j, s, 'plugins'), r.plugin, after);
    }
  }

  /** Publishes what the last step appended: events first, then the state, if it changed. */
  flush(): void {
    // Nothing published can be rolled back: the journal's records are no longer needed.
    this.journal.clear();
    if (this.snapshotDue) this.keepSnapshot();
    while (this.published < this.length) this.events$.next(this.log[this.published++ - this.logBase]!);
    if (this.sink !== null) {
      const hasher = this.hasher!;
      for (const e of this.log) hasher.update(this.sink.write(e));
      this.trimLog();
    }
    if (this.version !== this.lastPublishedVersion) {
      this.lastPublishedVersion = this.version;
      // A snapshot per step only for someone listening (kernel.state$ takes the current one on subscribe).
      if (this.state$.observed) this.state$.next(this.state);
    }
  }

  /** The state right after event `seq` was applied: the nearest snapshot, then a short fold. */
  stateAt(seq: number): KernelState {
    if (!Number.isInteger(seq) || seq < -1 || seq >= this.length) {
      throw new TracelabError('SEQ_OUT_OF_RANGE', `stateAt(${seq}): the log holds events 0..${this.length - 1} (-1 is the state before the first)`, { seq });
    }
    if (seq === this.length - 1) return this.state;
    const count = seq + 1;
    let j = this.snapshotCounts.length - 1;
    while (this.snapshotCounts[j]! > count) j--;
    const from = this.snapshotCounts[j]!;
    if (from === count) return this.snapshots[j]!;
    // Folded on a working root over the snapshot: frozen parts are copied as they are written,
    // with no journal (nothing to roll back); the result is frozen like any snapshot.
    const work = copyRoot(this.snapshots[j]!);
    const scratch = new Journal();
    let i = from;
    // Events already streamed to the log file are read back from it.
    if (i < this.logBase) {
      for (const e of this.sink!.read(i, Math.min(count, this.logBase))) this.fold(work, e, scratch);
      i = Math.min(count, this.logBase);
    }
    for (; i < count; i++) this.fold(work, this.log[i - this.logBase]!, scratch);
    freezeWorking(work);
    return work as KernelState;
  }

  /** Where a kernel was when it was built (after its flush): what `resetTo` goes back to. */
  mark(): StoreMark {
    return { state: this.state, length: this.length };
  }

  /**
   * Back to `mark` (`kernel.reset`): the working root takes the marked snapshot's slices (frozen,
   * so the next writes copy them), the log is cut to its length, and subscribers of the old run
   * get `complete` (the new run's streams are new subjects).
   */
  resetTo(mark: StoreMark): void {
    const w = this.work;
    const s = mark.state;
    w.clock = s.clock;
    w.kernel = s.kernel;
    w.cpus = s.cpus;
    w.runqueue = s.runqueue;
    w.tasks = s.tasks;
    w.locks = s.locks;
    w.rcu = s.rcu;
    w.memory = s.memory;
    w.modules = s.modules;
    w.functions = s.functions;
    w.plugins = s.plugins;
    this.journal.clear();
    if (this.sink !== null) throw new TracelabError('RESET_UNSUPPORTED', 'reset: this kernel streams its log to a file; create a new one');
    this.log.length = mark.length;
    this.published = mark.length;
    this.version++;
    this.lastSnapshot = s;
    this.lastSnapshotVersion = this.version;
    this.lastPublishedVersion = this.version;
    this.snapshotDue = false;
    while (this.snapshotCounts[this.snapshotCounts.length - 1]! > mark.length) {
      this.snapshotCounts.pop();
      this.snapshots.pop();
    }
    if (this.hashed > mark.length) this.resetHash();
    this.events$.complete();
    this.state$.complete();
    this.events$ = new Subject<KernelEvent>();
    this.state$ = new Subject<KernelState>();
  }

  /** Hex SHA-256 of the canonical NDJSON log (one canonical JSON event per line, each ending in \n). */
  logHash(): string {
    if (this.sink !== null) {
      // The running hash covers the published (streamed) events; this step's are added to a copy.
      const h = this.hasher!.copy();
      for (let i = this.published; i < this.length; i++) h.update(canonicalJson(this.log[i - this.logBase]) + '\n');
      return h.digest('hex');
    }
    const hasher = (this.hasher ??= createHash('sha256'));
    while (this.hashed < this.length) hasher.update(canonicalJson(this.log[this.hashed++ - this.logBase]) + '\n');
    return hasher.copy().digest('hex');
  }

  /** Events logged so far (streamed ones included). */
  get length(): number {
    return this.logBase + this.log.length;
  }

  /** The last event logged, or undefined before the first. */
  last(): KernelEvent | undefined {
    return this.log.length > 0 ? this.log[this.log.length - 1] : this.lastTrimmed;
  }

  /** Writes what the sink holds to its file (the end of every host action: the file is then whole). */
  drain(): void {
    this.sink?.drain();
  }

  /** Published events streamed to the file leave memory; the last one is kept for `last()`. */
  private trimLog(): void {
    this.lastTrimmed = this.log[this.log.length - 1] ?? this.lastTrimmed;
    this.logBase += this.log.length;
    this.log.length = 0;
  }

  private resetHash(): void {
    this.hasher = null;
    this.hashed = 0;
  }
}
