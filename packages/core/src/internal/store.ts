import { createHash, type Hash } from 'node:crypto';
import { Immer, type Draft } from 'immer';
import { Subject } from 'rxjs';
import { TracelabError, describeError } from '../errors.js';
import { CORE_EVENT_TYPES, type EventInput, type KernelEvent } from '../events.js';
import type { KernelState } from '../state.js';
import { canonicalJson } from './canonical-json.js';
import { coreReducer, initialCoreState, type CoreDraft } from './reducers.js';

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

const SNAPSHOT_EVERY = 1024;
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
  // snapshots[j] is the state after the first j * SNAPSHOT_EVERY events.
  private readonly snapshots: KernelState[] = [this.state];
  private published = 0;
  private lastPublishedState: KernelState = this.state;
  private hasher: Hash = createHash('sha256');
  private hashed = 0;

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
    this.snapshots.length = Math.min(this.snapshots.length, Math.floor(cp.length / SNAPSHOT_EVERY) + 1);
    if (this.hashed > cp.length) this.resetHash();
  }

  /** Validates, stamps, applies and logs an event emitted by kernel code. */
  append(input: EventInput, time: number, cpu: number): KernelEvent {
    if (!this.declared.has(input.type)) {
      throw new TracelabError('UNKNOWN_EVENT_TYPE', `event type ${input.type} was never declared by the core or a plugin`, { event: input.type });
    }
    for (const field of HEADER_FIELDS) {
      if (field in input) throw new TracelabError('INVALID_EVENT', `event ${input.type}: "${field}" is set by the kernel, a payload may not carry it`, { event: input.type, field });
    }
    for (;;) {
      const event = Object.freeze({ ...input, seq: this.log.length, time, cpu }) as KernelEvent;
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
    if (this.log.length % SNAPSHOT_EVERY === 0) this.snapshots[this.log.length / SNAPSHOT_EVERY] = next;
  }

  /** One event folded into a state: a single immer draft for the core's and the plugins' reducers. */
  private fold(state: KernelState, event: KernelEvent): KernelState {
    // produce() is typed through an untyped base: Draft<KernelState> recurses into IntMap nodes.
    const produce = this.immer.produce as unknown as (base: unknown, recipe: (draft: CoreDraft) => void) => KernelState;
    return produce(state, (draft) => this.reduce(draft, event));
  }

  private reduce(draft: CoreDraft, event: KernelEvent): void {
    draft.clock.now = event.time;
    const core = coreReducer(event.type);
    if (core !== undefined) core(draft, event as never);
    if (event.type === 'kernel/plugin-registered') {
      const slice = this.initialSlices.get(event.name);
      if (slice !== undefined) (draft.plugins as Record<string, unknown>)[event.name] = slice;
    }
    const list = this.pluginReducers.get(event.type);
    if (list === undefined) return;
    const disabled = draft.kernel.disabledPlugins;
    for (const r of list) {
      if (disabled[r.plugin] !== undefined) continue;
      const plugins = draft.plugins as Record<string, unknown>;
      try {
        const out = r.fn(plugins[r.plugin] as Draft<unknown>, event, draft as KernelState);
        if (out !== undefined) plugins[r.plugin] = out;
      } catch (err) {
        throw new ReducerFailure(r.plugin, err);
      }
    }
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
    let j = Math.min(Math.floor(count / SNAPSHOT_EVERY), this.snapshots.length - 1);
    while (this.snapshots[j] === undefined) j--;
    let s = this.snapshots[j]!;
    for (let i = j * SNAPSHOT_EVERY; i < count; i++) {
      const e = this.log[i]!;
      s = this.fold(s, e);
    }
    return s;
  }

  /** Hex SHA-256 of the canonical NDJSON log (one canonical JSON event per line, each ending in \n). */
  logHash(): string {
    while (this.hashed < this.log.length) this.hasher.update(canonicalJson(this.log[this.hashed++]) + '\n');
    return this.hasher.copy().digest('hex');
  }

  private resetHash(): void {
    this.hasher = createHash('sha256');
    this.hashed = 0;
  }
}
