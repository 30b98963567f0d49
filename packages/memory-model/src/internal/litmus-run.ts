import { decodeSchedule, encodeSchedule, TracelabError } from '@tracelab/core';
import type { Cond, Expr, FenceKind, LitmusTest, LitmusThread, Stmt, Value } from './litmus-ast.js';
import { checkLkmm, T, type Axiom, type Ev } from './lkmm.js';
import { Rel } from './relation.js';

/** One thread's run for one choice of the values its reads return. */
interface Trace {
  readonly events: Ev[];
  /** Pairs of local event indices. */
  readonly addr: Array<[number, number]>;
  readonly data: Array<[number, number]>;
  readonly ctrl: Array<[number, number]>;
  readonly rmw: Array<[number, number]>;
  readonly rscs: Array<[number, number]>;
  readonly regs: Map<string, Value>;
}

/** A value with the reads (local event indices) it was computed from. */
interface DVal {
  readonly v: Value;
  readonly deps: readonly number[];
}

class BadExecution extends Error {}

const NO_DEPS: readonly number[] = [];

function union(a: readonly number[], b: readonly number[]): readonly number[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return [...new Set([...a, ...b])];
}

function truthy(v: Value): boolean {
  return v !== 0;
}

function arith(op: string, a: Value, b: Value): Value {
  if (op === '==') return a === b ? 1 : 0;
  if (op === '!=') return a !== b ? 1 : 0;
  if (op === '&&') return truthy(a) && truthy(b) ? 1 : 0;
  if (op === '||') return truthy(a) || truthy(b) ? 1 : 0;
  if (typeof a !== 'number' || typeof b !== 'number') throw new BadExecution(`arithmetic on a pointer (${String(a)} ${op} ${String(b)})`);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? 0 : Math.trunc(a / b);
    case '%':
      return b === 0 ? 0 : a % b;
    case '&':
      return a & b;
    case '|':
      return a | b;
    case '^':
      return a ^ b;
    case '<':
      return a < b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    default:
      throw new BadExecution(`operator ${op}`);
  }
}

function location(a: DVal): string {
  if (typeof a.v !== 'string') throw new BadExecution(`access through ${String(a.v)}, which is not a pointer`);
  return a.v;
}

/**
 * One run of one thread with `choose(n)` picking which of the `n` candidate values each read
 * returns. Made, run and dropped by `runThread`; its fields are written only by its own methods.
 */
class ThreadRun {
  /** The trace being built, appended to in program order. */
  readonly t: Trace = { events: [], addr: [], data: [], ctrl: [], rmw: [], rscs: [], regs: new Map() };
  /** Register values with the reads they depend on. */
  private readonly regs = new Map<string, DVal>();
  /** The reads every later event depends on by control (grows at each `if`, never shrinks). */
  private ctrlDeps: readonly number[] = NO_DEPS;
  /** Open rcu_read_lock() fences, innermost last. */
  private readonly rcuStack: number[] = [];

  constructor(
    private readonly th: LitmusThread,
    test: LitmusTest,
    private readonly domains: ReadonlyMap<string, readonly Value[]>,
    private readonly choose: (n: number) => number,
  ) {
    for (const [k, v] of test.regInit) {
      const [tid, reg] = k.split(':');
      if (Number(tid) === th.id) this.regs.set(reg!, { v, deps: NO_DEPS });
    }
  }

  /** Runs the thread's body; the trace, or BadExecution for a run that faults. */
  run(): Trace {
    this.exec(this.th.body);
    if (this.rcuStack.length > 0) throw new BadExecution('rcu_read_lock() without rcu_read_unlock()');
    for (const [k, v] of this.regs) this.t.regs.set(k, v.v);
    return this.t;
  }

  private push(e: Omit<Ev, 'thread'>, addrDeps: readonly number[], dataDeps: readonly number[]): number {
    const t = this.t;
    const i = t.events.length;
    t.events.push({ ...e, thread: this.th.id });
    for (const d of addrDeps) t.addr.push([d, i]);
    for (const d of dataDeps) t.data.push([d, i]);
    for (const d of this.ctrlDeps) t.ctrl.push([d, i]);
    return i;
  }

  private fence(f: FenceKind): void {
    const i = this.push({ kind: 'F', loc: null, value: 0, tags: 0, fence: f }, NO_DEPS, NO_DEPS);
    if (f === 'rcu-lock') this.rcuStack.push(i);
    if (f === 'rcu-unlock') {
      const open = this.rcuStack.pop();
      if (open === undefined) throw new BadExecution('rcu_read_unlock() without rcu_read_lock()');
      this.t.rscs.push([open, i]);
    }
  }

  private read(loc: string, tags: number, addrDeps: readonly number[], only?: Value): { v: Value; i: number } {
    const dom = only === undefined ? (this.domains.get(loc) ?? [0]) : [only];
    const v = dom[this.choose(dom.length)]!;
    const i = this.push({ kind: 'R', loc, value: v, tags, fence: null }, addrDeps, NO_DEPS);
    return { v, i };
  }

  private evalE(e: Expr): DVal {
    switch (e.k) {
      case 'num':
        return { v: e.v, deps: NO_DEPS };
      case 'reg':
        return this.regs.get(e.name) ?? { v: 0, deps: NO_DEPS };
      case 'loc':
        return { v: e.name, deps: NO_DEPS };
      case 'plain-load':
      case 'load': {
        const a = this.evalE(e.addr);
        const tags = e.k === 'plain-load' ? T.PLAIN : e.acquire ? T.ACQUIRE : T.ONCE;
        const r = this.read(location(a), tags, a.deps);
        return { v: r.v, deps: [r.i] };
      }
      case 'is-locked': {
        const a = this.evalE(e.addr);
        const r = this.read(location(a), T.ONCE, a.deps);
        return { v: r.v !== 0 ? 1 : 0, deps: [r.i] };
      }
      case 'rmw':
        return this.evalRmw(e);
      case 'bin': {
        const a = this.evalE(e.a);
        const b = this.evalE(e.b);
        return { v: arith(e.op, a.v, b.v), deps: union(a.deps, b.deps) };
      }
      case 'un': {
        const a = this.evalE(e.a);
        if (e.op === '!') return { v: truthy(a.v) ? 0 : 1, deps: a.deps };
        return { v: arith('-', 0, a.v), deps: a.deps };
      }
    }
  }

  private evalRmw(e: Extract<Expr, { k: 'rmw' }>): DVal {
    const t = this.t;
    const a = this.evalE(e.addr);
    const loc = location(a);
    const x = this.evalE(e.a);
    const y = e.b === null ? null : this.evalE(e.b);
    const full = e.order === 'mb';
    // A fully ordered RMW acts as if smp_mb() came before and after it; a failed
    // cmpxchg() orders nothing. The fences are placed once the read's value is known.
    const rTags = T.RMW | (e.order === 'acquire' ? T.ACQUIRE : T.ONCE) | (e.returns ? 0 : T.NORETURN);
    const before = t.events.length;
    const r = this.read(loc, rTags, a.deps);
    const succeeds = e.op === 'cmpxchg' ? r.v === x.v : e.op === 'add-unless' ? r.v !== y!.v : true;
    if (!succeeds) {
      // A failed conditional RMW orders nothing by itself, but it is still an RMW
      // instruction: smp_mb__after_atomic() after it is a full barrier (LKMM).
      t.events[r.i] = { ...t.events[r.i]!, tags: T.ONCE | T.RMW };
      return { v: e.op === 'add-unless' ? 0 : r.v, deps: [r.i] };
    }
    let nv: Value;
    let dataDeps: readonly number[];
    if (e.op === 'xchg') {
      nv = x.v;
      dataDeps = x.deps;
    } else if (e.op === 'cmpxchg') {
      nv = y!.v;
      dataDeps = y!.deps;
    } else {
      nv = arith('+', r.v, x.v);
      dataDeps = x.deps;
    }
    const result = (v: Value): Value => (e.op === 'add-unless' ? 1 : v);
    const wi = this.push({ kind: 'W', loc, value: nv, tags: T.RMW | (e.order === 'release' ? T.RELEASE : T.ONCE), fence: null }, a.deps, dataDeps);
    t.rmw.push([r.i, wi]);
    if (full) {
      // Re-number: F(mb) before the read, after the write.
      const f: Ev = { thread: this.th.id, kind: 'F', loc: null, value: 0, tags: 0, fence: 'mb' };
      t.events.splice(before, 0, f);
      const shift = (p: [number, number]): void => {
        if (p[0] >= before) p[0]++;
        if (p[1] >= before) p[1]++;
      };
      for (const rel of [t.addr, t.data, t.ctrl, t.rmw, t.rscs]) rel.forEach(shift);
      // Control dependencies reach the new fence too (harmless: fences are not ordered by ctrl).
      this.push({ kind: 'F', loc: null, value: 0, tags: 0, fence: 'mb' }, NO_DEPS, NO_DEPS);
      const ri = r.i + 1;
      return { v: result(e.fetch ? r.v : nv), deps: [ri] };
    }
    return { v: result(e.fetch ? r.v : nv), deps: [r.i] };
  }

  private exec(body: readonly Stmt[]): void {
    for (const s of body) this.step(s);
  }

  private step(s: Stmt): void {
    switch (s.k) {
      case 'decl':
        this.regs.set(s.name, s.init === null ? (this.regs.get(s.name) ?? { v: 0, deps: NO_DEPS }) : this.evalE(s.init));
        break;
      case 'assign':
        this.regs.set(s.reg, this.evalE(s.e));
        break;
      case 'store': {
        const a = this.evalE(s.addr);
        const v = this.evalE(s.value);
        this.push({ kind: 'W', loc: location(a), value: v.v, tags: s.plain ? T.PLAIN : s.release ? T.RELEASE : T.ONCE, fence: null }, a.deps, v.deps);
        break;
      }
      case 'fence':
        if (s.f !== 'barrier') this.fence(s.f);
        break;
      case 'lock': {
        const a = this.evalE(s.addr);
        const loc = location(a);
        // spin_lock: an acquire read that finds the lock free, atomic with the write taking it.
        const r = this.read(loc, T.LKR | T.ACQUIRE | T.RMW, a.deps, 0);
        const w = this.push({ kind: 'W', loc, value: 1, tags: T.LKW | T.RMW, fence: null }, a.deps, NO_DEPS);
        this.t.rmw.push([r.i, w]);
        break;
      }
      case 'unlock': {
        const a = this.evalE(s.addr);
        this.push({ kind: 'W', loc: location(a), value: 0, tags: T.UL | T.RELEASE, fence: null }, a.deps, NO_DEPS);
        break;
      }
      case 'expr':
        this.evalE(s.e);
        break;
      case 'if': {
        const c = this.evalE(s.cond);
        // As herd7's C front end: the control dependency reaches every later event of the
        // thread, not only the branch's (so it is never taken back after the if).
        this.ctrlDeps = union(this.ctrlDeps, c.deps);
        this.exec(truthy(c.v) ? s.then : s.else);
        break;
      }
    }
  }
}

/**
 * Runs one thread with `choose(n)` picking which of the `n` candidate values each read
 * returns (reads return any value some write could store to the location: the domains).
 */
function runThread(th: LitmusThread, test: LitmusTest, domains: ReadonlyMap<string, readonly Value[]>, choose: (n: number) => number): Trace {
  return new ThreadRun(th, test, domains, choose).run();
}

/**
 * Every run of `run` over all choice sequences (stateless depth-first: each run replays a
 * prefix and takes 0 past it). Returns each result with the choices that produced it.
 */
function enumerateChoices<R>(run: (choose: (n: number) => number) => R): Array<{ result: R; choices: number[] }> {
  const out: Array<{ result: R; choices: number[] }> = [];
  let plan: number[] = [];
  for (;;) {
    const taken: Array<{ v: number; n: number }> = [];
    const choose = (n: number): number => {
      const v = taken.length < plan.length ? plan[taken.length]! : 0;
      taken.push({ v, n });
      return v;
    };
    out.push({ result: run(choose), choices: taken.map((c) => c.v) });
    let i = taken.length - 1;
    while (i >= 0 && taken[i]!.v + 1 >= taken[i]!.n) i--;
    if (i < 0) return out;
    plan = taken.slice(0, i).map((c) => c.v);
    plan.push(taken[i]!.v + 1);
  }
}

/** Each thread's traces (runs that fault, such as a read through a null pointer, are dropped). */
function threadTraces(test: LitmusTest, domains: ReadonlyMap<string, readonly Value[]>): Trace[][] {
  return test.threads.map((th) =>
    enumerateChoices((choose) => {
      try {
        return runThread(th, test, domains, choose);
      } catch (err) {
        if (err instanceof BadExecution) return null;
        throw err;
      }
    })
      .map((r) => r.result)
      .filter((r): r is Trace => r !== null),
  );
}

/** A safety cap on one location's values (a test that needs more is reported, not cut silently). */
const MAX_DOMAIN = 64;

/**
 * The values each location may hold: its initial value and every value a write may store,
 * iterated to a fixpoint. A value needs at most one round per write on its causal chain
 * (write, read, write...), so the rounds stop after as many rounds as the program has writes
 * even when the naive fixpoint would not converge (counters: 0, 1, 2, ...). Returns `{ capped }` when
 * a location would need more than MAX_DOMAIN values.
 */
function valueDomains(test: LitmusTest): { domains: Map<string, Value[]>; traces: Trace[][] } | { capped: string } {
  const domains = new Map<string, Value[]>();
  let capped: string | null = null;
  const addValue = (loc: string, v: Value): boolean => {
    let d = domains.get(loc);
    if (d === undefined) {
      d = [test.init.get(loc) ?? 0];
      domains.set(loc, d);
    }
    if (d.includes(v)) return false;
    if (d.length >= MAX_DOMAIN) {
      capped = loc;
      return false;
    }
    d.push(v);
    return true;
  };
  for (const [loc, v] of test.init) addValue(loc, v);
  for (let round = 0; ; round++) {
    const traces = threadTraces(test, domains);
    let changed = false;
    let writes = 0;
    for (const ts of traces) {
      let most = 0;
      for (const tr of ts) {
        let w = 0;
        for (const e of tr.events) {
          if (e.loc === null) continue;
          if (e.kind === 'W') w++;
          if (e.kind === 'W' || !domains.has(e.loc)) changed = addValue(e.loc, e.value) || changed;
        }
        most = Math.max(most, w);
      }
      writes += most;
    }
    if (capped !== null) return { capped };
    if (!changed || round > writes) {
      for (const d of domains.values()) d.sort((a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1));
      return { domains, traces: threadTraces(test, domains) };
    }
  }
}

/** One consistent execution of a litmus test, as a witness. */
export interface LitmusExecution {
  /** Re-runs exactly this execution: `runLitmus(test, { replay })`. */
  readonly replay: string;
  /** Per thread, its events in program order (`W x=1`, `R y=0 <- init`, `F smp_mb`). */
  readonly threads: ReadonlyArray<readonly string[]>;
  /** Per location with more than one write: the values in coherence order (the first is the initial value). */
  readonly co: Readonly<Record<string, readonly Value[]>>;
  /** Registers (`0:r1`) and the final memory. */
  readonly final: Readonly<Record<string, Value>>;
  /** Whether it satisfies the final condition (always, except for a replayed execution). */
  readonly satisfies: boolean;
}

export type LitmusVerdict = 'Never' | 'Sometimes' | 'Always';

export interface LitmusOutcome {
  readonly name: string;
  readonly result: LitmusVerdict | 'Unsupported';
  /** Consistent executions (after the filter) that satisfy the condition, and that do not. */
  readonly positive: number;
  readonly negative: number;
  /** An execution satisfying the condition, when one exists; with `replay`, the replayed execution. */
  readonly witness?: LitmusExecution;
  /** For `Unsupported`: the construct and its line. */
  readonly unsupported?: { readonly construct: string; readonly line: number };
  /** Candidate executions examined and rejected, by the axiom they broke. */
  readonly rejected: Readonly<Partial<Record<Axiom, number>>>;
  /** The `Result:` line of the test's comment, when it has one (the kernel tests' LKMM verdict). */
  readonly expected: string | null;
}

const FENCE_NAMES: Readonly<Record<FenceKind, string>> = {
  mb: 'smp_mb',
  wmb: 'smp_wmb',
  rmb: 'smp_rmb',
  'after-spinlock': 'smp_mb__after_spinlock',
  'before-atomic': 'smp_mb__before_atomic',
  'after-atomic': 'smp_mb__after_atomic',
  'after-unlock-lock': 'smp_mb__after_unlock_lock',
  'rcu-lock': 'rcu_read_lock',
  'rcu-unlock': 'rcu_read_unlock',
  'sync-rcu': 'synchronize_rcu',
  barrier: 'barrier',
};

export function evalCond(c: Cond, regs: ReadonlyMap<string, Value>, mem: ReadonlyMap<string, Value>): boolean {
  switch (c.k) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'reg':
      return (regs.get(`${c.thread}:${c.reg}`) === c.v) === c.eq;
    case 'mem':
      return ((mem.get(c.loc) ?? 0) === c.v) === c.eq;
    case 'not':
      return !evalCond(c.a, regs, mem);
    case 'and':
      return evalCond(c.a, regs, mem) && evalCond(c.b, regs, mem);
    case 'or':
      return evalCond(c.a, regs, mem) || evalCond(c.b, regs, mem);
  }
}

function condLocations(c: Cond | null, out: Set<string>): void {
  if (c === null) return;
  if (c.k === 'mem') out.add(c.loc);
  if (c.k === 'not') condLocations(c.a, out);
  if (c.k === 'and' || c.k === 'or') {
    condLocations(c.a, out);
    condLocations(c.b, out);
  }
}

/** All permutations of `xs` (small: the writes to one location). */
function permutations<X>(xs: readonly X[]): X[][] {
  if (xs.length <= 1) return [xs.slice()];
  const out: X[][] = [];
  xs.forEach((x, i) => {
    for (const p of permutations([...xs.slice(0, i), ...xs.slice(i + 1)])) out.push([x, ...p]);
  });
  return out;
}

export interface RunLitmusOptions {
  /** Re-run only the execution this string names (a witness's `replay`). */
  readonly replay?: string;
}

/** Advances `arr` as an odometer whose digit k counts below `lim(k)`; false once it wraps to all zeros. */
function nextIndex(arr: number[], lim: (k: number) => number): boolean {
  for (let k = arr.length - 1; k >= 0; k--) {
    if (++arr[k]! < lim(k)) return true;
    arr[k] = 0;
  }
  return false;
}

/** What one `runLitmus` call is exploring, fixed before its first candidate. */
interface LitmusRunContext {
  readonly test: LitmusTest;
  /** The choices a replay string names, or null when exploring all. */
  readonly only: readonly number[] | null;
  readonly nThreads: number;
  /** Locations the condition and filter mention (they get an initial write even if no thread touches them). */
  readonly condLocs: ReadonlySet<string>;
  /** Throws: the replay string names a choice the test does not have. */
  readonly misfit: () => never;
  /** Written only by `runCombination` and `checkExecution`, for this call. */
  readonly tally: Tally;
}

/** The counts and the witness one `runLitmus` call accumulates. */
interface Tally {
  readonly rejected: Partial<Record<Axiom, number>>;
  positive: number;
  negative: number;
  witness: LitmusExecution | undefined;
}

/** One combination of thread traces laid out as one event list, with the relations the traces fix. */
interface Combination {
  readonly chosen: readonly Trace[];
  /** The initial writes (one per location, in name order), then each thread's events. */
  readonly events: readonly Ev[];
  /** Where each thread's events start in `events`. */
  readonly offsets: readonly number[];
  readonly locList: readonly string[];
  readonly n: number;
  readonly po: Rel;
  readonly addr: Rel;
  readonly data: Rel;
  readonly ctrl: Rel;
  readonly rmw: Rel;
  readonly rscs: Rel;
}

function combinationOf(test: LitmusTest, condLocs: ReadonlySet<string>, chosen: readonly Trace[]): Combination {
  // Locations: initial writes first, one per location, in name order.
  const locs = new Set<string>([...test.init.keys(), ...condLocs]);
  for (const tr of chosen) for (const e of tr.events) if (e.loc !== null) locs.add(e.loc);
  const locList = [...locs].sort();
  const events: Ev[] = locList.map((loc) => ({ thread: -1, kind: 'W', loc, value: test.init.get(loc) ?? 0, tags: T.INIT, fence: null }));
  const offsets: number[] = [];
  for (const tr of chosen) {
    offsets.push(events.length);
    events.push(...tr.events);
  }
  const n = events.length;
  const po = new Rel(n);
  const addr = new Rel(n);
  const data = new Rel(n);
  const ctrl = new Rel(n);
  const rmw = new Rel(n);
  const rscs = new Rel(n);
  chosen.forEach((tr, k) => {
    const o = offsets[k]!;
    for (let i = 0; i < tr.events.length; i++) for (let j = i + 1; j < tr.events.length; j++) po.add(o + i, o + j);
    for (const [rel, pairs] of [
      [addr, tr.addr],
      [data, tr.data],
      [ctrl, tr.ctrl],
      [rmw, tr.rmw],
      [rscs, tr.rscs],
    ] as const) {
      for (const [a, b] of pairs) rel.add(o + a, o + b);
    }
  });
  return { chosen, events, offsets, locList, n, po, addr, data, ctrl, rmw, rscs };
}

/** Reads-from candidates: for each read (in event order), the writes of its value to its location. */
interface ReadSources {
  readonly reads: readonly number[];
  readonly sources: ReadonlyArray<readonly number[]>;
  /** Some read has no candidate write: no execution has these traces. */
  readonly impossible: boolean;
}

function readSources(events: readonly Ev[]): ReadSources {
  const n = events.length;
  const reads: number[] = [];
  const sources: number[][] = [];
  let impossible = false;
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    if (e.kind !== 'R') continue;
    const src: number[] = [];
    for (let j = 0; j < n; j++) {
      const w = events[j]!;
      if (w.kind === 'W' && w.loc === e.loc && w.value === e.value && j !== i) src.push(j);
    }
    if (src.length === 0) impossible = true;
    reads.push(i);
    sources.push(src);
  }
  return { reads, sources, impossible };
}

/** A location's initial write and every order of the threads' writes to it. */
interface LocationWrites {
  readonly loc: string;
  readonly init: number;
  readonly orders: ReadonlyArray<readonly number[]>;
}

function locationWrites(c: Combination): LocationWrites[] {
  return c.locList.map((loc, li) => {
    const ws: number[] = [];
    for (let j = c.locList.length; j < c.n; j++) if (c.events[j]!.kind === 'W' && c.events[j]!.loc === loc) ws.push(j);
    return { loc, init: li, orders: permutations(ws) };
  });
}

/**
 * Whether choosing, on one location, the sources `pickL` for its reads `rs` and the coherence
 * `order` is coherent and atomic on that location alone. `at`: the location's events.
 */
function locationOk(
  c: Combination,
  rf: ReadSources,
  at: readonly number[],
  rs: readonly number[],
  pickL: readonly number[],
  order: readonly number[],
): boolean {
  const { n, events, po, rmw } = c;
  const ext = (i: number, j: number): boolean => events[i]!.thread !== events[j]!.thread || events[i]!.thread < 0;
  const rfL = new Rel(n);
  rs.forEach((k, i) => rfL.add(rf.sources[k]![pickL[i]!]!, rf.reads[k]!));
  const coL = new Rel(n);
  for (let x = 0; x < order.length; x++) for (let y = x + 1; y < order.length; y++) coL.add(order[x]!, order[y]!);
  const frL = rfL.inverse().seq(coL);
  const poL = new Rel(n);
  for (const i of at) for (const j of at) if (po.has(i, j)) poL.add(i, j);
  if (!poL.union(rfL, coL, frL).acyclic()) return false;
  for (const i of at) {
    for (const j of at) {
      if (!rmw.has(i, j)) continue;
      // rmw & (fre ; coe): a write between the RMW's read and write, from elsewhere.
      for (const w of at) if (frL.has(i, w) && ext(i, w) && coL.has(w, j) && ext(w, j)) return false;
    }
  }
  return true;
}

/** One location's reads (indices into `ReadSources.reads`) and its (reads-from, coherence order) options. */
interface LocationOptions {
  readonly rs: readonly number[];
  readonly opts: ReadonlyArray<{ readonly rf: readonly number[]; readonly co: number }>;
}

/**
 * Per location, the (reads-from, coherence order) choices that are coherent and atomic on
 * that location alone; the candidates are their product. Most choices fail on one location
 * (a lock word's writes in the wrong order), so this prunes before the whole check. When
 * replaying, the one choice the replay string names (`rfPick`, `coPick`), unchecked.
 */
function locationOptions(
  c: Combination,
  rf: ReadSources,
  writesOf: readonly LocationWrites[],
  replay: { readonly rfPick: readonly number[]; readonly coPick: readonly number[] } | null,
): LocationOptions[] {
  return writesOf.map((wl, l) => {
    const at: number[] = [];
    for (let i = 0; i < c.n; i++) if (c.events[i]!.loc === wl.loc && c.events[i]!.kind !== 'F') at.push(i);
    const rs: number[] = [];
    rf.reads.forEach((r, k) => {
      if (c.events[r]!.loc === wl.loc) rs.push(k);
    });
    const opts: Array<{ readonly rf: readonly number[]; readonly co: number }> = [];
    if (replay !== null) {
      opts.push({ rf: rs.map((k) => replay.rfPick[k]!), co: replay.coPick[l]! });
      return { rs, opts };
    }
    const pickL = new Array<number>(rs.length).fill(0);
    do {
      for (let o = 0; o < wl.orders.length; o++) if (locationOk(c, rf, at, rs, pickL, [wl.init, ...wl.orders[o]!])) opts.push({ rf: [...pickL], co: o });
    } while (nextIndex(pickL, (i) => rf.sources[rs[i]!]!.length));
    return { rs, opts };
  });
}

/**
 * Every candidate execution of one combination of thread traces (`pick`): checks each against
 * LKMM and counts it in the context's tally.
 */
function runCombination(ctx: LitmusRunContext, pick: readonly number[], chosen: readonly Trace[]): void {
  const { only, nThreads, misfit, tally } = ctx;
  const c = combinationOf(ctx.test, ctx.condLocs, chosen);
  const rf = readSources(c.events);
  if (rf.impossible && only === null) return;
  const writesOf = locationWrites(c);

  // The current choice of source per read and of order per location; written only here.
  const rfPick = new Array<number>(rf.reads.length).fill(0);
  const coPick = new Array<number>(writesOf.length).fill(0);
  if (only !== null) {
    if (rf.impossible) misfit();
    for (let r = 0; r < rf.reads.length; r++) if ((rfPick[r] = only[nThreads + r] ?? 0) >= rf.sources[r]!.length) misfit();
    for (let l = 0; l < writesOf.length; l++) if ((coPick[l] = only[nThreads + rf.reads.length + l] ?? 0) >= writesOf[l]!.orders.length) misfit();
    if (only.length > nThreads + rf.reads.length + writesOf.length) misfit();
  }
  const perLoc = locationOptions(c, rf, writesOf, only === null ? null : { rfPick, coPick });
  if (perLoc.some((p) => p.opts.length === 0)) {
    tally.rejected.coherence = (tally.rejected.coherence ?? 0) + 1;
    return;
  }
  const optPick = new Array<number>(perLoc.length).fill(0);
  do {
    perLoc.forEach((p, l) => {
      const o = p.opts[optPick[l]!]!;
      p.rs.forEach((k, i) => (rfPick[k] = o.rf[i]!));
      coPick[l] = o.co;
    });
    checkExecution(ctx, c, rf, writesOf, pick, rfPick, coPick);
    if (only !== null) break;
  } while (nextIndex(optPick, (l) => perLoc[l]!.opts.length));
}

/**
 * Checks one candidate execution (the combination with reads-from `rfPick` and coherence
 * orders `coPick`) against LKMM and counts it: rejected by an axiom, or allowed and then
 * (past the filter) positive or negative; the first positive one (or the replayed one) is
 * the witness. `pick`: the combination's trace per thread (a replay string's first choices).
 */
function checkExecution(
  ctx: LitmusRunContext,
  c: Combination,
  sources: ReadSources,
  writesOf: readonly LocationWrites[],
  pick: readonly number[],
  rfPick: readonly number[],
  coPick: readonly number[],
): void {
  const { test, only, tally } = ctx;
  const { events, n } = c;
  const rf = new Rel(n);
  sources.reads.forEach((r, k) => rf.add(sources.sources[k]![rfPick[k]!]!, r));
  const co = new Rel(n);
  const mem = new Map<string, Value>();
  const coShown: Record<string, Value[]> = {};
  writesOf.forEach((wl, l) => {
    const order = [wl.init, ...wl.orders[coPick[l]!]!];
    for (let a = 0; a < order.length; a++) for (let b = a + 1; b < order.length; b++) co.add(order[a]!, order[b]!);
    mem.set(wl.loc, events[order[order.length - 1]!]!.value);
    if (order.length > 2) coShown[wl.loc] = order.map((i) => events[i]!.value);
  });
  const bad = checkLkmm({ events, po: c.po, rf, co, rmw: c.rmw, addr: c.addr, data: c.data, ctrl: c.ctrl, rscs: c.rscs });
  if (bad !== null) {
    tally.rejected[bad] = (tally.rejected[bad] ?? 0) + 1;
    return;
  }
  const regs = new Map<string, Value>();
  c.chosen.forEach((tr, k) => {
    for (const [r, v] of tr.regs) regs.set(`${k}:${r}`, v);
  });
  if (test.filter !== null && !evalCond(test.filter, regs, mem)) return;
  const satisfies = evalCond(test.cond, regs, mem);
  if (satisfies) tally.positive++;
  else tally.negative++;
  if (tally.witness === undefined && (satisfies || only !== null)) {
    const final: Record<string, Value> = {};
    for (const [k, v] of regs) final[k] = v;
    for (const [k, v] of mem) final[k] = v;
    tally.witness = {
      replay: encodeSchedule([...pick, ...rfPick, ...coPick]),
      threads: c.chosen.map((tr, k) => tr.events.map((_, i) => describeEvent(events, rf, c.offsets[k]! + i))),
      co: coShown,
      final,
      satisfies,
    };
  }
}

/** A witness's line for event `i`: `F smp_mb`, `W x=1 (release)`, `R y=0 <- init`. */
function describeEvent(events: readonly Ev[], rf: Rel, i: number): string {
  const e = events[i]!;
  if (e.kind === 'F') return `F ${FENCE_NAMES[e.fence!]}`;
  const tag =
    e.tags & T.LKR
      ? ' (spin_lock)'
      : e.tags & T.LKW
        ? ' (spin_lock)'
        : e.tags & T.UL
          ? ' (spin_unlock)'
          : e.tags & T.ACQUIRE
            ? ' (acquire)'
            : e.tags & T.RELEASE
              ? ' (release)'
              : e.tags & T.PLAIN
                ? ' (plain)'
                : '';
  if (e.kind === 'W') return `W ${e.loc}=${String(e.value)}${tag}`;
  let from = '';
  for (let j = 0; j < events.length; j++) if (rf.has(j, i)) from = events[j]!.thread < 0 ? 'init' : `P${events[j]!.thread}`;
  return `R ${e.loc}=${String(e.value)}${tag} <- ${from}`;
}

/**
 * Explores every candidate execution of a litmus test (each thread's runs for every value its
 * reads may return, every reads-from and every coherence order) and keeps those the Linux-kernel
 * memory model allows; counts those satisfying the final condition (herd7's Positive/Negative)
 * and gives herd7's verdict. A test with an unsupported construct returns `Unsupported` without
 * running.
 */
export function runLitmus(test: LitmusTest, options: RunLitmusOptions = {}): LitmusOutcome {
  const expected = /Result:\s*(\w+)/.exec(test.comment)?.[1] ?? null;
  if (test.unsupported !== null)
    return { name: test.name, result: 'Unsupported', positive: 0, negative: 0, unsupported: test.unsupported, rejected: {}, expected };
  const dom = valueDomains(test);
  if ('capped' in dom) {
    return {
      name: test.name,
      result: 'Unsupported',
      positive: 0,
      negative: 0,
      unsupported: { construct: `more than ${MAX_DOMAIN} values for ${dom.capped}`, line: 0 },
      rejected: {},
      expected,
    };
  }
  const { traces } = dom;
  const only = options.replay === undefined ? null : decodeSchedule(options.replay);
  const tally: Tally = { rejected: {}, positive: 0, negative: 0, witness: undefined };

  const condLocs = new Set<string>();
  condLocations(test.cond, condLocs);
  condLocations(test.filter, condLocs);

  // Threads' trace combinations, in order: the first choices of a replay string.
  const nThreads = traces.length;
  const pick = new Array<number>(nThreads).fill(0);
  if (traces.some((ts) => ts.length === 0)) return { name: test.name, result: 'Never', positive: 0, negative: 0, rejected: tally.rejected, expected };
  const misfit = (): never => {
    throw new TracelabError('INVALID_OPTION', `replay string ${options.replay} does not fit ${test.name}: it names a choice the test does not have`);
  };
  if (only !== null) for (let k = 0; k < nThreads; k++) if ((pick[k] = only[k] ?? 0) >= traces[k]!.length) misfit();

  const ctx: LitmusRunContext = { test, only, nThreads, condLocs, misfit, tally };
  do {
    const chosen = pick.map((p, k) => traces[k]![p]!);
    runCombination(ctx, pick, chosen);
    if (only !== null) break;
  } while (nextIndex(pick, (k) => traces[k]!.length));

  const { positive, negative, witness, rejected } = tally;
  if (only !== null && positive + negative === 0) {
    throw new TracelabError('INVALID_OPTION', `replay string ${options.replay} names no execution of ${test.name} that LKMM allows`);
  }
  const result: LitmusVerdict = positive === 0 ? 'Never' : negative === 0 ? 'Always' : 'Sometimes';
  return { name: test.name, result, positive, negative, ...(witness === undefined ? {} : { witness }), rejected, expected };
}
