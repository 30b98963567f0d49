import { receiveMessageOnPort } from 'node:worker_threads';
import { TracelabError, type FootprintSink, type KernelState, type ObservedBy, type StepFootprint, type Violation } from '@tracelab/core';
import type { Scenario } from '../scenario.js';
import { interchangeable, sameFootprint, type Dpor, type ReplayedPoint } from './dpor.js';
import { startWorker, stopWorker, type WorkerLink } from './threads.js';
import { defaultPick, isFailure, runSchedule, type Choice, type ChoicePoint, type KernelPool, type Picker, type RunOutcome } from './run.js';

/**
 * Speculative runs for a bounded DPOR search (docs/explore.md §8, "DPOR on several threads").
 *
 * A bounded DPOR run is a function of its plan: the forced prefix, then the default at every
 * choice (sleep sets are off, so nothing else steers it). The entries on the search's stack are
 * runs it will make later, in an order the races decide. Worker threads make those runs ahead
 * of time; the search, which stays on the main thread and in its own order, takes each run from
 * them when it gets there and replays what the run saw (its choice points and footprints) into
 * the Dpor, as if the kernel had run here. Nothing about the search changes: the same runs, in
 * the same order, the same statistics, the same failure; only where the simulation ran.
 */

/** A run to make: its plan, and the step from which the search wants its footprints. */
export interface SpecRequest {
  readonly key: string;
  readonly plan: readonly number[];
  readonly fromStep: number;
}

/** One choice point of a speculative run, as the Dpor's picker reads it. */
export interface PickRecord {
  readonly kind: ChoicePoint['kind'];
  readonly n: number;
  readonly same: number;
  readonly pids: readonly number[];
  readonly cpus?: readonly number[];
  /** The runqueue, when some eligible CPU was idle (`pids` 0). */
  readonly runqueue?: readonly number[];
  /** The symmetry test at the run's first `cpu` choice (symmetric scenarios only). */
  readonly interchangeable?: boolean;
}

/** What a speculative run saw and how it ended: everything the search reads of a run it made itself. */
export interface SpecResult {
  readonly key: string;
  readonly fromStep: number;
  readonly choices: readonly Choice[];
  readonly picks: readonly PickRecord[];
  /** Step footprints from `fromStep` on, and for each how many choices had been made when it ended. */
  readonly footprints: readonly StepFootprint[];
  readonly picksBefore: readonly number[];
  readonly violation: Violation | null;
  readonly steps: number;
  readonly done: boolean;
  /** `isFailure` of the run, made in the thread that ran it. */
  readonly failure: boolean;
  /** `RunOutcome.busy`: what `isFailure` and `starvedAtAlarm` read of the final state, which stays in that thread. */
  readonly busy: readonly number[];
}

/** Makes one speculative run: the plan, then the defaults, as the bounded Dpor's picker chooses. */
export function runSpeculated(scenario: Scenario, variant: string, scale: number, symmetric: boolean, req: SpecRequest, pool?: KernelPool): SpecResult {
  const plan = req.plan;
  const picks: PickRecord[] = [];
  const footprints: StepFootprint[] = [];
  const picksBefore: number[] = [];
  let firstCpu = true;
  const picker: Picker = {
    pick(p) {
      let rec: PickRecord =
        p.cpus === undefined
          ? { kind: p.kind, n: p.n, same: p.same, pids: [...p.pids] }
          : { kind: p.kind, n: p.n, same: p.same, pids: [...p.pids], cpus: p.cpus };
      if (p.kind === 'cpu') {
        if (p.pids.includes(0)) rec = { ...rec, runqueue: [...p.state.runqueue] };
        if (firstCpu && symmetric) rec = { ...rec, interchangeable: interchangeable(p) };
        firstCpu = false;
      }
      picks.push(rec);
      return plan[p.index] ?? defaultPick(p);
    },
  };
  const sink: FootprintSink = (fp) => {
    footprints.push(fp);
    picksBefore.push(picks.length);
  };
  const o = runSchedule(scenario, variant, scale, picker, pool, sink, req.fromStep);
  return {
    key: req.key,
    fromStep: req.fromStep,
    choices: o.choices,
    picks,
    footprints,
    picksBefore,
    violation: o.violation,
    steps: o.steps,
    done: o.done,
    failure: isFailure(o),
    busy: o.busy,
  };
}

/**
 * Feeds a speculative run to the search as the kernel would have: each choice point to the
 * picker `next()` gave, each footprint to the sink, in the order the run met them. The picker
 * must choose what the run chose (it is the same rule); if not, the run is not the one the search
 * asked for and the search stops. Returns the outcome for `Dpor.record` (no kernel: the run's
 * kernel stayed in its thread).
 */
export function replaySpeculated(res: SpecResult, picker: Picker, sink: FootprintSink): RunOutcome {
  const fps = res.footprints;
  let k = 0;
  for (let i = 0; i < res.picks.length; i++) {
    while (k < fps.length && res.picksBefore[k]! <= i) sink(fps[k++]!);
    const r = res.picks[i]!;
    const state = { runqueue: r.runqueue ?? [] } as unknown as KernelState;
    const point: ReplayedPoint =
      r.cpus === undefined
        ? { kind: r.kind, n: r.n, same: r.same, pids: r.pids, state, index: i }
        : r.interchangeable === undefined
          ? { kind: r.kind, n: r.n, same: r.same, pids: r.pids, cpus: r.cpus, state, index: i }
          : { kind: r.kind, n: r.n, same: r.same, pids: r.pids, cpus: r.cpus, state, index: i, interchangeable: r.interchangeable };
    const v = picker.pick(point);
    if (v !== res.choices[i]!.value)
      throw new TracelabError(
        'SCHEDULE_DIVERGED',
        `explore: a speculative run (plan ${res.key}) chose option ${res.choices[i]!.value} at choice ${i}, where the search chooses ${v}`,
        { choice: i },
      );
  }
  while (k < fps.length) sink(fps[k++]!);
  return {
    kernel: undefined as unknown as RunOutcome['kernel'],
    choices: res.choices,
    violation: res.violation,
    steps: res.steps,
    done: res.done,
    busy: res.busy,
  };
}

/**
 * A `SpecResult` as it crosses between threads. A structured clone of the footprints' string
 * arrays cost about as much as making the run (230-330 µs a run on the catalog), so the run is
 * packed into one `Int32Array` (transferred, not copied) of ids into a table of names the sending
 * thread grows: each message carries the names that are new since its last one.
 */
export interface SpecWire {
  readonly key: string;
  readonly fromStep: number;
  /** Names the sender added to its table since its last message, in order. */
  readonly names: readonly string[];
  readonly data: Int32Array;
  readonly violation: Violation | null;
  readonly steps: number;
  readonly done: boolean;
  readonly failure: boolean;
  readonly busy: readonly number[];
}

/** The sending side of `SpecWire`: the names it has given ids (guarded by: its thread). */
export class SpecEncoder {
  private readonly ids = new Map<string, number>();
  private fresh: string[] = [];

  encode(r: SpecResult): SpecWire {
    const out: number[] = [r.choices.length, r.footprints.length];
    for (let i = 0; i < r.choices.length; i++) {
      const c = r.choices[i]!;
      const p = r.picks[i]!;
      out.push(this.id(c.kind), c.n, c.value, c.dflt, c.logAt, p.same);
      this.list(out, p.pids);
      this.optional(out, p.cpus);
      this.optional(out, p.runqueue);
      out.push(p.interchangeable === undefined ? -1 : p.interchangeable ? 1 : 0);
    }
    for (let k = 0; k < r.footprints.length; k++) {
      const f = r.footprints[k]!;
      out.push(r.picksBefore[k]!, f.cpu, f.choiceAt, f.pid ?? -1);
      out.push((f.clockRead ? 1 : 0) | (f.preemptible === true ? 2 : 0) | (f.updates !== undefined ? 4 : 0));
      this.names(out, f.reads);
      this.names(out, f.writes);
      if (f.updates !== undefined) this.names(out, f.updates);
      this.names(out, f.observed);
      // An absent `observedBy` is sent as an empty one: the two are the same (`sameFootprint`).
      const by = f.observedBy ?? [];
      out.push(by.length);
      for (const g of by) {
        out.push(this.id(g.owner));
        this.names(out, g.objects);
      }
      this.list(out, f.switched ?? []);
    }
    const names = this.fresh;
    this.fresh = [];
    const { key, fromStep, violation, steps, done, failure, busy } = r;
    return { key, fromStep, names, data: Int32Array.from(out), violation, steps, done, failure, busy };
  }

  private id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(name, id);
      this.fresh.push(name);
    }
    return id;
  }

  private names(out: number[], names: readonly string[]): void {
    out.push(names.length);
    for (const n of names) out.push(this.id(n));
  }

  private list(out: number[], xs: readonly number[]): void {
    out.push(xs.length);
    for (const x of xs) out.push(x);
  }

  private optional(out: number[], xs: readonly number[] | undefined): void {
    if (xs === undefined) out.push(-1);
    else this.list(out, xs);
  }
}

/** The receiving side of one sender's `SpecWire`s: its table of names (guarded by: the search loop). */
export class SpecDecoder {
  private readonly table: string[] = [];

  /** Takes a message's new names; every message of the sender must pass here, in order. */
  learn(w: SpecWire): void {
    for (const n of w.names) this.table.push(n);
  }

  decode(w: SpecWire): SpecResult {
    const d = w.data;
    const t = this.table;
    let at = 0;
    const nChoices = d[at++]!;
    const nFootprints = d[at++]!;
    const list = (): number[] => {
      const n = d[at++]!;
      const xs = new Array<number>(n);
      for (let i = 0; i < n; i++) xs[i] = d[at++]!;
      return xs;
    };
    const names = (): string[] => {
      const n = d[at++]!;
      const xs = new Array<string>(n);
      for (let i = 0; i < n; i++) xs[i] = t[d[at++]!]!;
      return xs;
    };
    const choices: Choice[] = [];
    const picks: PickRecord[] = [];
    for (let i = 0; i < nChoices; i++) {
      const kind = t[d[at++]!] as Choice['kind'];
      const n = d[at++]!;
      const value = d[at++]!;
      const dflt = d[at++]!;
      const logAt = d[at++]!;
      const same = d[at++]!;
      const pids = list();
      const cpus = d[at] === -1 ? (at++, undefined) : list();
      const runqueue = d[at] === -1 ? (at++, undefined) : list();
      const inter = d[at++]!;
      choices.push(cpus === undefined ? { kind, n, value, dflt, logAt } : { kind, n, value, dflt, logAt, cpus });
      let rec: PickRecord = cpus === undefined ? { kind, n, same, pids } : { kind, n, same, pids, cpus };
      if (runqueue !== undefined) rec = { ...rec, runqueue };
      if (inter !== -1) rec = { ...rec, interchangeable: inter === 1 };
      picks.push(rec);
    }
    const footprints: StepFootprint[] = [];
    const picksBefore: number[] = [];
    for (let k = 0; k < nFootprints; k++) {
      picksBefore.push(d[at++]!);
      const cpu = d[at++]!;
      const choiceAt = d[at++]!;
      const pid = d[at++]!;
      const flags = d[at++]!;
      const reads = names();
      const writes = names();
      const updates = (flags & 4) !== 0 ? names() : undefined;
      const observed = names();
      const observedBy: ObservedBy[] = [];
      for (let g = d[at++]!; g > 0; g--) {
        const owner = t[d[at++]!]!;
        observedBy.push({ owner, objects: names() });
      }
      const switched = list();
      const clockRead = (flags & 1) !== 0;
      const preemptible = (flags & 2) !== 0;
      // The recorder's two shapes (footprint.ts `end`), field for field.
      footprints.push(
        updates === undefined
          ? { cpu, choiceAt, reads, writes, clockRead, observed, observedBy, pid, preemptible, switched }
          : { cpu, choiceAt, reads, writes, updates, clockRead, observed, observedBy, pid, preemptible, switched },
      );
    }
    if (at !== d.length) throw new Error(`internal: a speculative run's data has ${d.length - at} words left over`);
    const { key, fromStep, violation, steps, done, failure, busy } = w;
    return { key, fromStep, choices, picks, footprints, picksBefore, violation, steps, done, failure, busy };
  }
}

/** A packed run and the sender whose name table it uses (a thread's index). */
export interface SpecArrival {
  readonly from: number;
  readonly wire: SpecWire;
}

/**
 * Whether a run made here from the same choices is the run a thread made: the same choices,
 * steps and end, and the same footprint at every step it recorded (the self-check of a
 * speculative run: the log stayed in the other thread, so its footprints stand for it).
 */
export function sameRun(res: SpecResult, here: RunOutcome, footprints: readonly StepFootprint[]): boolean {
  if (here.steps !== res.steps || here.done !== res.done || (here.violation?.name ?? null) !== (res.violation?.name ?? null)) return false;
  if (here.choices.length !== res.choices.length || here.choices.some((c, i) => c.value !== res.choices[i]!.value || c.n !== res.choices[i]!.n)) return false;
  return footprints.length === res.footprints.length && footprints.every((f, i) => sameFootprint(f, res.footprints[i]!));
}

/** Where speculative runs are made: worker threads, or (tests) this thread. */
export interface SpecExecutor {
  /** Requests that may be outstanding at once. */
  readonly capacity: number;
  submit(req: SpecRequest): void;
  /** The runs that have arrived, without waiting, in the order each sender sent them. */
  poll(): SpecArrival[];
  /** Requests submitted whose run has not come back yet (dropped ones included). */
  readonly outstanding: number;
  close(): void;
}

/** Counts of where the search's runs came from. */
export interface SpecStats {
  /** Runs taken from a speculative run that had finished. */
  readonly ready: number;
  /** Runs the search made itself while a worker was still making them (that result is dropped). */
  readonly abandoned: number;
  /** Runs the search made itself, never handed out (most often the one a run's races made next). */
  readonly local: number;
  /** Speculative runs made and never taken (the search stopped first). */
  readonly unused: number;
}

/**
 * The main thread's side. Written only by the search loop of one `explore` call (single-threaded;
 * the executor's threads only answer requests).
 */
export class Speculator {
  private readonly results = new Map<string, SpecArrival>();
  private readonly inFlight = new Set<string>();
  /** One per sender, fed every message of it in order. */
  private readonly decoders: SpecDecoder[] = [];
  /** Runs the search made itself while a worker was making them: dropped when they come. */
  private readonly abandoned = new Set<string>();
  private readyCount = 0;
  private abandonedCount = 0;
  private localCount = 0;

  constructor(private readonly exec: SpecExecutor) {}

  /** After `Dpor.record`: hands the search's later runs to the executor while it has room. */
  fill(dpor: Dpor): void {
    this.absorb(this.exec.poll());
    const room = this.exec.capacity - this.exec.outstanding;
    for (const req of dpor.upcoming(room)) {
      this.inFlight.add(req.key);
      this.exec.submit(req);
    }
  }

  /**
   * The run `next()` just started, if a worker has made it. Null: the search makes it itself,
   * also when a worker is still making it (its result is dropped when it comes: waiting for one
   * run behind others in a worker's queue costs more than making it).
   */
  take(dpor: Dpor): SpecResult | null {
    const key = dpor.planKey;
    this.absorb(this.exec.poll());
    const r = this.results.get(key);
    if (r === undefined) {
      if (this.inFlight.delete(key)) {
        this.abandoned.add(key);
        this.abandonedCount++;
      } else this.localCount++;
      return null;
    }
    this.readyCount++;
    this.results.delete(key);
    if (r.wire.fromStep !== dpor.recordFrom)
      throw new Error(`internal: speculative run ${key} recorded from step ${r.wire.fromStep}, the search records from ${dpor.recordFrom}`);
    return this.decoders[r.from]!.decode(r.wire);
  }

  get stats(): SpecStats {
    return { ready: this.readyCount, abandoned: this.abandonedCount, local: this.localCount, unused: this.results.size + this.inFlight.size };
  }

  close(): void {
    this.exec.close();
  }

  private absorb(got: readonly SpecArrival[]): void {
    for (const a of got) {
      (this.decoders[a.from] ??= new SpecDecoder()).learn(a.wire);
      if (this.abandoned.delete(a.wire.key)) continue;
      this.inFlight.delete(a.wire.key);
      this.results.set(a.wire.key, a);
    }
  }
}

/** Makes each run on submission, in this thread, packed as for a thread: the replay path without threads (tests). */
export class InlineExecutor implements SpecExecutor {
  readonly capacity: number;
  private readonly encoder = new SpecEncoder();
  private done: SpecArrival[] = [];

  constructor(
    private readonly run: (req: SpecRequest) => SpecResult,
    capacity = 4,
  ) {
    this.capacity = capacity;
  }

  submit(req: SpecRequest): void {
    this.done.push({ from: 0, wire: this.encoder.encode(this.run(req)) });
  }

  poll(): SpecArrival[] {
    const out = this.done;
    this.done = [];
    return out;
  }

  get outstanding(): number {
    return 0;
  }

  close(): void {
    this.done = [];
  }
}

type SpecMessage = { type: 'ready' } | { type: 'spec-result'; wire: SpecWire } | { type: 'error'; message: string };

/** Worker threads making speculative runs; each holds at most `perThread` requests at a time. */
export class ThreadExecutor implements SpecExecutor {
  readonly capacity: number;
  /** The counter a worker bumps as it posts (worker.ts); nothing here waits on it: results are polled. */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly threads: Array<WorkerLink & { load: number }> = [];

  constructor(file: string, scenario: Scenario, init: { variant: string; scale: number; symmetric: boolean }, threads: number, perThread = 8) {
    if (scenario.sourceModule === undefined) throw new Error('internal: speculative runs need the scenario module');
    this.capacity = threads * perThread;
    for (let i = 0; i < threads; i++) this.threads.push({ ...startWorker(file, this.signal, scenario.sourceModule, { spec: init }), load: 0 });
  }

  submit(req: SpecRequest): void {
    let best = 0;
    for (let i = 1; i < this.threads.length; i++) if (this.threads[i]!.load < this.threads[best]!.load) best = i;
    const t = this.threads[best]!;
    t.load++;
    t.port.postMessage({ type: 'spec-run', req });
  }

  poll(): SpecArrival[] {
    const out: SpecArrival[] = [];
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[i]!;
      for (let m = receiveMessageOnPort(t.port); m !== undefined; m = receiveMessageOnPort(t.port)) {
        const msg = m.message as SpecMessage;
        if (msg.type === 'error') throw new TracelabError('INVALID_OPTION', `explore worker: ${msg.message}`);
        if (msg.type !== 'spec-result') continue;
        t.load--;
        out.push({ from: i, wire: msg.wire });
      }
    }
    return out;
  }

  get outstanding(): number {
    let n = 0;
    for (const t of this.threads) n += t.load;
    return n;
  }

  close(): void {
    for (const t of this.threads) stopWorker(t);
  }
}
