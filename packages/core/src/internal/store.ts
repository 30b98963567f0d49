import { createHash, type Hash } from 'node:crypto';
import { Immer, freeze, type Draft } from 'immer';
import { Subject } from 'rxjs';
import { TracelabError, describeError } from '../errors.js';
import { CORE_EVENT_TYPES, type EventInput, type KernelEvent } from '../events.js';
import type { KernelState } from '../state.js';
import { canonicalJson } from './canonical-json.js';
import { coreReducer, initialCoreState, type CoreWriter } from './reducers.js';

/** A plugin's reducer: folds an event into the plugin's own slice. */
export type SliceReducer = (slice: Draft<unknown>, event: KernelEvent, state: KernelState) => unknown;

interface PluginReducer {
  readonly plugin: string;
  readonly fn: SliceReducer;
}

/** Where the log stood: truncating back to it undoes everything applied since. */
export interface Checkpoint {
  readonly length: number;
  readonly state: KernelState;
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

/** The root, field by field (spreading a frozen object is slow on Node 20: reducers.ts). */
function copyRoot(s: KernelState): CoreWriter {
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
 * The append-only log and the fold over it. Every state change goes through `append`: the
 * event gets its header, the reducers run in one immer draft, the event joins the log. Events
 * are published to subscribers only at `flush` (the end of a scheduling step), so a step that
 * is rolled back (a plugin handler threw) was never seen by anyone.
 *
 * Mutable fields are written only by the kernel's own loop (single-threaded); nothing else
 * holds a reference to them.
 */
export class EventStore {
  state: KernelState = initialCoreState();
  readonly log: KernelEvent[] = [];
  readonly events$ = new Subject<KernelEvent>();
  readonly state$ = new Subject<KernelState>();

  // immer with its own settings, so the host application's global immer config is untouched.
  private readonly immer = new Immer({ autoFreeze: true });
  private readonly declared = new Set<string>(CORE_EVENT_TYPES);
  private readonly owners = new Map<string, string>();
  private readonly pluginReducers = new Map<string, PluginReducer[]>();
  private readonly initialSlices = new Map<string, unknown>();
  // snapshots[j] is the state after the first j * snapshotEvery events.
  private snapshots: KernelState[] = [this.state];
  private snapshotEvery: number;
  private published = 0;
  private lastPublishedState: KernelState = this.state;
  /** Created on the first logHash(): a native hash object per kernel is costly to collect, and most explored kernels are never hashed. */
  private hasher: Hash | null = null;
  private hashed = 0;

  constructor(private readonly snapshotPolicy: SnapshotPolicy = DEFAULT_SNAPSHOTS) {
    this.snapshotEvery = snapshotPolicy.every;
  }

  /** Called when a plugin reducer throws, before the event is retried without that plugin. */
  onReducerFailure: ((plugin: string, event: EventInput, error: unknown) => void) | null = null;

  declareEvent(type: string, owner: string): void {
    const prev = this.owners.get(type);
    if (this.declared.has(type) && prev !== owner) {
      throw new TracelabError('PLUGIN_INVALID', `plugin ${owner} declares event ${type}, which ${prev ?? 'the core'} already owns`, { plugin: owner, event: type });
    }
    this.declared.add(type);
    this.owners.set(type, owner);
  }

  isDeclared(type: string): boolean {
    return this.declared.has(type);
  }

  addReducer(type: string, plugin: string, fn: SliceReducer): void {
    let list = this.pluginReducers.get(type);
    if (list === undefined) this.pluginReducers.set(type, (list = []));
    list.push({ plugin, fn });
  }

  setInitialSlice(plugin: string, slice: unknown): void {
    this.initialSlices.set(plugin, slice);
  }

  checkpoint(): Checkpoint {
    return { length: this.log.length, state: this.state };
  }

  /** Undoes every event appended since `cp`; only events not yet published can be undone. */
  rollback(cp: Checkpoint): void {
    if (cp.length < this.published) throw new Error('internal: rollback past published events');
    this.log.length = cp.length;
    this.state = cp.state;
    this.snapshots.length = Math.min(this.snapshots.length, Math.floor(cp.length / this.snapshotEvery) + 1);
    if (this.hashed > cp.length) this.resetHash();
  }

  /** Validates, stamps, applies and logs an event emitted by kernel code. */
  append(input: EventInput, time: number, cpu: number): KernelEvent {
    if (!this.declared.has(input.type)) {
      throw new TracelabError('UNKNOWN_EVENT_TYPE', `event type ${input.type} was never declared by the core or a plugin`, { event: input.type });
    }
    if ('seq' in input || 'time' in input || 'cpu' in input) {
      const field = HEADER_FIELDS.find((f) => f in input)!;
      throw new TracelabError('INVALID_EVENT', `event ${input.type}: "${field}" is set by the kernel, a payload may not carry it`, { event: input.type, field });
    }
    for (;;) {
      // Header first: a spread followed by more properties leaves V8's fast clone path (~2 us).
      const event = Object.freeze({ seq: this.log.length, time, cpu, ...input }) as KernelEvent;
      try {
        this.apply(event);
        return event;
      } catch (err) {
        if (!(err instanceof ReducerFailure)) throw err;
        if (this.onReducerFailure === null) throw err.original;
        // Contain the failing plugin: log its oops (which disables it), then apply the event
        // again without it. The log reads oops-then-event, so a replay disables the plugin
        // before the event too and folds to the same state.
        this.onReducerFailure(err.plugin, input, err.original);
      }
    }
  }

  /** Applies an already-stamped event (live or from a log being replayed). */
  apply(event: KernelEvent): void {
    const next = this.fold(this.state, event);
    this.state = next;
    this.log.push(event);
    if (this.log.length % this.snapshotEvery === 0) {
      this.snapshots[this.log.length / this.snapshotEvery] = next;
      // Each snapshot keeps alive every trie node the events since the last one replaced. A
      // fixed spacing would grow memory (and GC time) with the log; thinning bounds it, and
      // stateAt folds at most snapshotEvery events from the nearest one.
      if (this.snapshots.length > this.snapshotPolicy.max) {
        this.snapshots = this.snapshots.filter((_, j) => j % 2 === 0);
        this.snapshotEvery *= 2;
      }
    }
  }

  /**
   * One event folded into a state. The core's reducer writes a shallow copy of the root
   * copy-on-write (reducers.ts); each plugin reducer for the event then gets an immer draft of
   * its own slice only, and the new core state to read. Nothing of `state` is modified.
   */
  private fold(state: KernelState, event: KernelEvent): KernelState {
    const next = copyRoot(state);
    if (state.clock.now !== event.time) next.clock = Object.freeze({ now: event.time });
    const core = coreReducer(event.type);
    if (core !== undefined) core(next, event as never);
    if (event.type === 'kernel/plugin-registered') {
      const slice = this.initialSlices.get(event.name);
      if (slice !== undefined) next.plugins = Object.freeze({ ...next.plugins, [event.name]: freeze(slice, true) });
    }
    const list = this.pluginReducers.get(event.type);
    if (list !== undefined) next.plugins = this.foldPlugins(list, next, event);
    return Object.freeze(next);
  }

  private foldPlugins(list: readonly PluginReducer[], next: CoreWriter, event: KernelEvent): KernelState['plugins'] {
    const disabled = next.kernel.disabledPlugins;
    let plugins: Record<string, unknown> | null = null;
    for (const r of list) {
      if (disabled[r.plugin] !== undefined) continue;
      const slices: Record<string, unknown> = plugins ?? next.plugins;
      const before = slices[r.plugin];
      // The reducer sees the state as folded so far, its own slice as the draft.
      const view = plugins === null ? (next as KernelState) : ({ ...next, plugins } as KernelState);
      let after: unknown;
      try {
        after = this.immer.produce(before, (draft: Draft<unknown>) => r.fn(draft, event, view));
      } catch (err) {
        throw new ReducerFailure(r.plugin, err);
      }
      if (after !== before) {
        plugins ??= { ...next.plugins };
        plugins[r.plugin] = after;
      }
    }
    return plugins === null ? next.plugins : Object.freeze(plugins);
  }

  /** Publishes what the last step appended: events first, then the state, if it changed. */
  flush(): void {
    while (this.published < this.log.length) this.events$.next(this.log[this.published++]!);
    if (this.state !== this.lastPublishedState) {
      this.lastPublishedState = this.state;
      this.state$.next(this.state);
    }
  }

  /** The state right after event `seq` was applied: the nearest snapshot, then a short fold. */
  stateAt(seq: number): KernelState {
    if (!Number.isInteger(seq) || seq < -1 || seq >= this.log.length) {
      throw new TracelabError('SEQ_OUT_OF_RANGE', `stateAt(${seq}): the log holds events 0..${this.log.length - 1} (-1 is the state before the first)`, { seq });
    }
    if (seq === this.log.length - 1) return this.state;
    const count = seq + 1;
    let j = Math.min(Math.floor(count / this.snapshotEvery), this.snapshots.length - 1);
    while (this.snapshots[j] === undefined) j--;
    let s = this.snapshots[j]!;
    for (let i = j * this.snapshotEvery; i < count; i++) {
      const e = this.log[i]!;
      s = this.fold(s, e);
    }
    return s;
  }

  /** Hex SHA-256 of the canonical NDJSON log (one canonical JSON event per line, each ending in \n). */
  logHash(): string {
    const hasher = (this.hasher ??= createHash('sha256'));
    while (this.hashed < this.log.length) hasher.update(canonicalJson(this.log[this.hashed++]) + '\n');
    return hasher.copy().digest('hex');
  }

  private resetHash(): void {
    this.hasher = null;
    this.hashed = 0;
  }
}
