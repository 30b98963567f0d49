import { TracelabError, ValueLabels } from '@tracelab/core';
import type { MarkerProbe, MarkerSite } from '../types.js';

/**
 * The hot side of the markers: the objects the fast path reads. They live outside the immer
 * state (ARCHITECTURE.md 2.1); their lifecycle is in the log, and the invariant
 * `markers/registry-matches-state` checks that the two agree after every step.
 */

/** One connected probe (`struct marker_probe_closure`). Immutable once built. */
export interface Closure {
  readonly probe: MarkerProbe;
  readonly probePrivate: unknown;
  /** Higher runs first; ties in registration order (tracepoint priorities). */
  readonly prio: number;
  /** Labels naming the probe and the private data in the log. */
  readonly probeLabel: string;
  readonly privateLabel: string;
}

/**
 * A multi-probe array. `closures` is frozen before it is published and never written again;
 * `freed` is the allocator's view of the memory, set by whoever frees it (the RCU callback, or
 * the unregistering path itself in the unsafe variant). Nothing reads an array's closures after
 * `freed` except to report the use-after-free.
 */
export interface ProbeArray {
  readonly id: number;
  readonly name: string;
  readonly closures: readonly Closure[];
  freed: boolean;
}

/** `__mark_empty_function`: what the single slot holds while no probe is connected. */
export function markEmptyFunction(): void {
  // connected to nothing
}

export const EMPTY_CLOSURE: Closure = Object.freeze({
  probe: markEmptyFunction,
  probePrivate: undefined,
  prio: 0,
  probeLabel: 'empty',
  privateLabel: 'undefined',
});

type CallFn = (callPrivate: unknown, ...args: unknown[]) => void;

/** The disarmed fast path: a call of an empty function (no rest array is built). */
function disarmedCall(): void {
  // disarmed: nothing to call
}

/** One probe: a direct call, with no array and no loop (the reference's ptype 0). */
function singleCall(format: string, c: Closure): CallFn {
  const probe = c.probe;
  const priv = c.probePrivate;
  return (callPrivate, ...args) => {
    probe(priv, callPrivate, format, args);
  };
}

/**
 * N probes: a walk of the array captured when it was published (it never changes, so the
 * closure reads exactly the snapshot a kernel caller would get from rcu_dereference).
 *
 * Measured on Node 20: a loop over the frozen published array costs ~23 ns for 4 probes
 * (V8's frozen-elements access), over plain private copies ~10 ns, and an unrolled caller
 * ~1.7 ns (every probe inlined). So 2 to 4 probes get an unrolled caller built at publication
 * (a trampoline made for that array), and more probes walk private copies of the array's
 * functions and private data. Neither copy is ever written after it is built.
 */
function multiCall(format: string, closures: readonly Closure[]): CallFn {
  const n = closures.length;
  const f0 = closures[0]!.probe;
  const p0 = closures[0]!.probePrivate;
  const f1 = closures[1]!.probe;
  const p1 = closures[1]!.probePrivate;
  if (n === 2) {
    return (callPrivate, ...args) => {
      f0(p0, callPrivate, format, args);
      f1(p1, callPrivate, format, args);
    };
  }
  const f2 = closures[2]!.probe;
  const p2 = closures[2]!.probePrivate;
  if (n === 3) {
    return (callPrivate, ...args) => {
      f0(p0, callPrivate, format, args);
      f1(p1, callPrivate, format, args);
      f2(p2, callPrivate, format, args);
    };
  }
  if (n === 4) {
    const f3 = closures[3]!.probe;
    const p3 = closures[3]!.probePrivate;
    return (callPrivate, ...args) => {
      f0(p0, callPrivate, format, args);
      f1(p1, callPrivate, format, args);
      f2(p2, callPrivate, format, args);
      f3(p3, callPrivate, format, args);
    };
  }
  const fns = closures.map((c) => c.probe);
  const privs = closures.map((c) => c.probePrivate);
  return (callPrivate, ...args) => {
    for (let i = 0; i < n; i++) fns[i]!(privs[i], callPrivate, format, args);
  };
}

/**
 * A call site (`struct marker`). The published fields are written only under `markers_mutex`
 * (by `publish`/`disarm`, from kernel paths) or while defining the site; `call` and `mark`
 * read them without a lock. In the simulation every write of one publication happens in one
 * step, so the reference's write barriers (private, wmb, func, multi, wmb, ptype, state) have
 * no torn state to protect against here.
 */
export class Site implements MarkerSite {
  armed = false;
  /** 0: `single` holds the probe; 1: `multi` does. */
  ptype: 0 | 1 = 0;
  single: Closure = EMPTY_CLOSURE;
  multi: ProbeArray | null = null;
  call: CallFn = disarmedCall;

  constructor(
    readonly name: string,
    readonly format: string,
    readonly module: string | null,
  ) {}

  /** Points the site at the entry's probes; returns true when anything changed. */
  publish(entry: Entry): boolean {
    if (this.armed && this.ptype === entry.ptype && this.single === entry.single && this.multi === entry.multi) return false;
    this.single = entry.single;
    this.multi = entry.multi;
    this.ptype = entry.ptype;
    this.call = entry.ptype === 0 ? singleCall(this.format, entry.single) : multiCall(this.format, entry.multi!.closures);
    this.armed = true;
    return true;
  }

  /** disable_marker: state 0, the empty function, ptype 0. Returns true when it was armed. */
  disarm(): boolean {
    if (!this.armed) return false;
    this.armed = false;
    this.call = disarmedCall;
    this.single = EMPTY_CLOSURE;
    this.multi = null;
    this.ptype = 0;
    return true;
  }
}

/**
 * A `marker_entry`: the probes registered for a name. Every field is guarded by
 * `markers_mutex`, except `rcuPending`, which the RCU callback also clears (the reference
 * orders that write after the free with a wmb; here the callback runs in one step).
 */
export interface Entry {
  readonly name: string;
  format: string | null;
  ptype: 0 | 1;
  single: Closure;
  multi: ProbeArray | null;
  /** Number of connected probes; 0 means the sites are disarmed. */
  refcount: number;
  rcuPending: boolean;
}

export function closuresOf(entry: Pick<Entry, 'ptype' | 'single' | 'multi'>): readonly Closure[] {
  if (entry.ptype === 1) return entry.multi!.closures;
  return entry.single === EMPTY_CLOSURE ? [] : [entry.single];
}

/** The key of a probe in `unregisteredAt`. */
export function probeKey(name: string, c: Closure): string {
  return `${name}|${c.probeLabel}|${c.privateLabel}`;
}

/**
 * The registry of one plugin instance (one kernel): entries, sites, label ids and array ids.
 * Only kernel paths under `markers_mutex` and the host-side `defineMarker` write it.
 */
export class Registry {
  /** guarded by: markers_mutex */
  readonly entries = new Map<string, Entry>();
  /** Core sites by name (static kernel text: written by defineMarker only). */
  readonly coreSites = new Map<string, Site>();
  /** Loaded modules' sites, in load order. guarded by: markers_mutex (written by the module hooks). */
  readonly moduleSites = new Map<string, Site[]>();
  /**
   * Moves on every hot change, so the consistency invariant can skip the steps that changed
   * nothing. Written only by `touch()` (and put back by the restore of `mark()`).
   */
  private version = 0;
  private nextArrayId = 1;
  /** Probe and private-data labels. guarded by: markers_mutex (registrations label under it). */
  private readonly labels = new ValueLabels();

  /** The hot version: equal between two steps only if nothing hot changed in between. */
  get hotVersion(): number {
    return this.version;
  }

  /**
   * The one place the hot version moves. Kernel paths call it through `logHot` (internal/instance.ts),
   * with the event that logs the change in the same step; host-side and unlogged changes
   * (core sites, a module's site list) call it directly.
   */
  touch(): void {
    this.version++;
  }

  /** A stable name for a value, within this kernel: `fn#3`, `obj#4`, `n:5`, `s:"x"`. */
  label(value: unknown, fallback: string): string {
    return this.labels.label(value, fallback);
  }

  closure(probe: MarkerProbe, probePrivate: unknown, prio: number): Closure {
    return Object.freeze({ probe, probePrivate, prio, probeLabel: this.label(probe, 'probe'), privateLabel: this.label(probePrivate, 'obj') });
  }

  /**
   * What the registry holds now (the end of registration), and how to put it back: `kernel.reset`
   * (ctx.onReset). Sites and entries are restored in place (the host may hold a site it defined,
   * and closures captured at registration point at these objects); those added later are dropped,
   * as the host's spawns are; the ids and labels count on from where they were.
   */
  mark(): () => void {
    const siteFields = (s: Site): Pick<Site, 'armed' | 'ptype' | 'single' | 'multi' | 'call'> => ({
      armed: s.armed,
      ptype: s.ptype,
      single: s.single,
      multi: s.multi,
      call: s.call,
    });
    // Registration connects no probe (that is kernel code), so no probe array exists yet.
    const entries = [...this.entries].map(([name, e]) => ({ name, e, fields: { ...e } }));
    const core = [...this.coreSites].map(([name, s]) => ({ name, s, fields: siteFields(s) }));
    const modules = [...this.moduleSites].map(([module, list]) => ({ module, list: [...list], fields: list.map(siteFields) }));
    const hot = this.version;
    const nextArray = this.nextArrayId;
    const restoreLabels = this.labels.mark();
    return () => {
      this.entries.clear();
      for (const { name, e, fields } of entries) {
        Object.assign(e, fields);
        this.entries.set(name, e);
      }
      this.coreSites.clear();
      for (const { name, s, fields } of core) {
        Object.assign(s, fields);
        this.coreSites.set(name, s);
      }
      this.moduleSites.clear();
      for (const { module, list, fields } of modules) {
        list.forEach((s, i) => Object.assign(s, fields[i]));
        this.moduleSites.set(module, [...list]);
      }
      this.version = hot;
      this.nextArrayId = nextArray;
      restoreLabels();
    };
  }

  /** kzalloc of a multi-probe array; frozen before anyone can see it. */
  newArray(name: string, closures: Closure[]): ProbeArray {
    return { id: this.nextArrayId++, name, closures: Object.freeze(closures), freed: false };
  }

  /** Every site named `name`: the core one, then each loaded module's. */
  sitesNamed(name: string): Site[] {
    const out: Site[] = [];
    const core = this.coreSites.get(name);
    if (core !== undefined) out.push(core);
    for (const sites of this.moduleSites.values()) for (const s of sites) if (s.name === name) out.push(s);
    return out;
  }

  /** The site `mark(name)` fires: the core site, else the first loaded module's. */
  siteForMark(name: string): Site | undefined {
    const core = this.coreSites.get(name);
    if (core !== undefined) return core;
    for (const sites of this.moduleSites.values()) for (const s of sites) if (s.name === name) return s;
    return undefined;
  }

  /** The format a new entry takes when its first probe gives none (or is checked against). */
  siteFormat(name: string): string | null {
    return this.siteForMark(name)?.format ?? null;
  }

  allSites(): Site[] {
    const out = [...this.coreSites.values()];
    for (const sites of this.moduleSites.values()) out.push(...sites);
    return out;
  }

  defineCore(name: string, format: string): Site {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new TracelabError('INVALID_OPTION', `markers.defineMarker: name must be a C identifier such as kernel_sched_schedule, got ${JSON.stringify(name)}`);
    }
    if (typeof format !== 'string') throw new TracelabError('INVALID_OPTION', `markers.defineMarker(${name}): format must be a string, got ${typeof format}`);
    const existing = this.coreSites.get(name);
    if (existing !== undefined) {
      if (existing.format !== format) {
        throw new TracelabError(
          'INVALID_OPTION',
          `markers.defineMarker(${name}): already defined with format ${JSON.stringify(existing.format)}, not ${JSON.stringify(format)}`,
        );
      }
      return existing;
    }
    const site = new Site(name, format, null);
    this.coreSites.set(name, site);
    // A site that appears while probes are connected is armed as if it had been there at boot.
    // Host-side, so it is not logged: only when the entry's format already matches (no adoption).
    const entry = this.entries.get(name);
    if (entry !== undefined && entry.refcount > 0 && entry.format === format) site.publish(entry);
    this.touch();
    return site;
  }
}
