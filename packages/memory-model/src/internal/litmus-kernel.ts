import { createKernel, getState, randomStrategy, replaySchedule, TracelabError, type Kernel, type KPath, type Strategy } from '@tracelab/core';
import type { MemoryModelApi, MemValue } from '../events.js';
import { memoryModel } from '../plugin.js';
import type { Cond, Expr, LitmusTest, Stmt, Value } from './litmus-ast.js';
import { evalCond } from './litmus-run.js';

/** The final state of one run of a litmus test on the simulated kernel. */
export interface KernelLitmusRun {
  readonly kernel: Kernel;
  /** `thread:reg` -> value, and location -> newest value. */
  readonly regs: ReadonlyMap<string, Value>;
  readonly mem: ReadonlyMap<string, Value>;
  /** The run finished (every thread returned) without a violation. */
  readonly done: boolean;
}

function num(v: MemValue, what: string): number {
  if (typeof v !== 'number') throw new TracelabError('INVALID_OPTION', `litmus on the kernel: ${what} on pointer ${v}`);
  return v;
}

/** One litmus thread as a kernel path over the memory-model plugin's API. */
function* litmusThread(test: LitmusTest, id: number, api: MemoryModelApi, out: Map<string, Value>): KPath<void> {
  const regs = new Map<string, MemValue>();
  for (const [k, v] of test.regInit) if (k.startsWith(`${id}:`)) regs.set(k.slice(k.indexOf(':') + 1), v);
  const locOf = (v: MemValue): string => {
    if (typeof v !== 'string') throw new TracelabError('INVALID_OPTION', `litmus on the kernel: access through ${v}`);
    return v;
  };
  function* ev(e: Expr): KPath<MemValue> {
    switch (e.k) {
      case 'num':
        return e.v;
      case 'reg':
        return regs.get(e.name) ?? 0;
      case 'loc':
        return e.name;
      case 'plain-load':
      case 'load': {
        const loc = locOf(yield* ev(e.addr));
        if (e.k === 'load' && e.acquire) return yield* api.smpLoadAcquire(loc);
        // An address computed from a register: an address dependency on the load that produced it.
        if (e.addr.k !== 'loc') return yield* api.readOnceDep(loc);
        return e.k === 'plain-load' ? yield* api.plainRead(loc) : yield* api.readOnce(loc);
      }
      case 'is-locked': {
        const name = locOf(yield* ev(e.addr));
        const s = yield* getState();
        const l = s.locks[name];
        return l !== undefined && l.kind === 'spinlock' && l.writer !== null ? 1 : 0;
      }
      case 'rmw': {
        const loc = locOf(yield* ev(e.addr));
        const a = yield* ev(e.a);
        if (e.op === 'xchg') return yield* api.xchg(loc, a, e.order === 'once' ? 'relaxed' : e.order);
        if (e.op === 'cmpxchg') return yield* api.cmpxchg(loc, a, yield* ev(e.b!), e.order === 'once' ? 'relaxed' : e.order);
        if (e.op === 'add-unless') return (yield* api.atomicAddUnless(loc, num(a, 'atomic add'), yield* ev(e.b!))) ? 1 : 0;
        if (!e.returns) {
          yield* api.atomicAdd(loc, num(a, 'atomic add'));
          return 0;
        }
        const nv = yield* api.atomicAddReturn(loc, num(a, 'atomic add'), e.order === 'once' ? 'relaxed' : e.order);
        return e.fetch ? nv - num(a, 'atomic add') : nv;
      }
      case 'bin': {
        const a = yield* ev(e.a);
        const b = yield* ev(e.b);
        switch (e.op) {
          case '==':
            return a === b ? 1 : 0;
          case '!=':
            return a !== b ? 1 : 0;
          case '&&':
            return a !== 0 && b !== 0 ? 1 : 0;
          case '||':
            return a !== 0 || b !== 0 ? 1 : 0;
          case '+':
            return num(a, '+') + num(b, '+');
          case '-':
            return num(a, '-') - num(b, '-');
          case '*':
            return num(a, '*') * num(b, '*');
          case '&':
            return num(a, '&') & num(b, '&');
          case '|':
            return num(a, '|') | num(b, '|');
          case '^':
            return num(a, '^') ^ num(b, '^');
          case '<':
            return num(a, '<') < num(b, '<') ? 1 : 0;
          case '>':
            return num(a, '>') > num(b, '>') ? 1 : 0;
          case '<=':
            return num(a, '<=') <= num(b, '<=') ? 1 : 0;
          case '>=':
            return num(a, '>=') >= num(b, '>=') ? 1 : 0;
          default:
            throw new TracelabError('INVALID_OPTION', `litmus on the kernel: operator ${e.op}`);
        }
      }
      case 'un': {
        const a = yield* ev(e.a);
        return e.op === '!' ? (a === 0 ? 1 : 0) : -num(a, '-');
      }
    }
  }
  function* run(body: readonly Stmt[]): KPath<void> {
    for (const s of body) {
      switch (s.k) {
        case 'decl':
          regs.set(s.name, s.init === null ? (regs.get(s.name) ?? 0) : yield* ev(s.init));
          break;
        case 'assign':
          regs.set(s.reg, yield* ev(s.e));
          break;
        case 'store': {
          const loc = locOf(yield* ev(s.addr));
          const v = yield* ev(s.value);
          if (s.plain) yield* api.plainWrite(loc, v);
          else if (s.release) yield* api.smpStoreRelease(loc, v);
          else yield* api.writeOnce(loc, v);
          break;
        }
        case 'fence':
          switch (s.f) {
            case 'mb':
            case 'after-spinlock':
            case 'before-atomic':
            case 'after-atomic':
            case 'after-unlock-lock':
              yield* api.smpMb();
              break;
            case 'wmb':
              yield* api.smpWmb();
              break;
            case 'rmb':
              yield* api.smpRmb();
              break;
            case 'rcu-lock':
              yield* api.rcuReadLock();
              break;
            case 'rcu-unlock':
              yield* api.rcuReadUnlock();
              break;
            case 'sync-rcu':
              yield* api.synchronizeRcu();
              break;
            case 'barrier':
              break;
          }
          break;
        case 'lock':
          yield* api.spinLock(locOf(yield* ev(s.addr)));
          break;
        case 'unlock':
          yield* api.spinUnlock(locOf(yield* ev(s.addr)));
          break;
        case 'expr':
          yield* ev(s.e);
          break;
        case 'if':
          yield* run((yield* ev(s.cond)) !== 0 ? s.then : s.else);
          break;
      }
    }
  }
  yield* run(test.threads[id]!.body);
  for (const [r, v] of regs) out.set(`${id}:${r}`, v);
}

/** Locations the test names (init block, condition, thread parameters). */
function locations(test: LitmusTest): Set<string> {
  const out = new Set<string>(test.init.keys());
  for (const th of test.threads) for (const p of th.params) out.add(p);
  const walk = (c: Cond | null): void => {
    if (c === null) return;
    if (c.k === 'mem') out.add(c.loc);
    if (c.k === 'not') walk(c.a);
    if (c.k === 'and' || c.k === 'or') {
      walk(c.a);
      walk(c.b);
    }
  };
  walk(test.cond);
  walk(test.filter);
  return out;
}

/**
 * Runs a litmus test once on the simulated kernel with the memory-model plugin (one CPU and
 * one kernel thread per litmus thread), under `strategy` (default: a random walk from `seed`),
 * or replaying `schedule`.
 */
export function runLitmusOnKernel(test: LitmusTest, opts: { seed?: number; strategy?: Strategy; schedule?: string } = {}): KernelLitmusRun {
  if (test.unsupported !== null)
    throw new TracelabError('INVALID_OPTION', `${test.name}: ${test.unsupported.construct} (line ${test.unsupported.line}) is not supported`);
  const strategy = opts.schedule !== undefined ? replaySchedule(opts.schedule) : (opts.strategy ?? randomStrategy({ preemptProbability: 0.3 }));
  const kernel = createKernel({ cpus: Math.max(1, test.threads.length), seed: opts.seed ?? 1, strategy, plugins: [memoryModel()] });
  const api = kernel.api['memory-model'];
  for (const [loc, v] of test.init) api.init(loc, v);
  // Each thread writes only its own `P:reg` keys, when it returns; read after the run.
  const regs = new Map<string, Value>();
  test.threads.forEach((_, i) => kernel.spawnKthread(litmusThread(test, i, api, regs), { comm: `P${i}` }));
  const r = kernel.run({ maxSteps: 100_000 });
  const mem = new Map<string, Value>();
  for (const loc of locations(test)) mem.set(loc, api.peek(loc));
  return { kernel, regs, mem, done: r.done && r.violations.length === 0 };
}

/**
 * Looks for a run of the test on the simulated kernel (random walks from seeds 1..`tries`)
 * whose final state satisfies the test's condition (and filter); returns its schedule, which
 * `runLitmusOnKernel(test, { schedule })` replays, or null. The operational model reaches a
 * subset of what LKMM allows (no load buffering), so null does not mean Never.
 */
export function findKernelWitness(test: LitmusTest, tries = 64): string | null {
  for (let seed = 1; seed <= tries; seed++) {
    const r = runLitmusOnKernel(test, { seed });
    if (!r.done) continue;
    if ((test.filter === null || evalCond(test.filter, r.regs, r.mem)) && evalCond(test.cond, r.regs, r.mem)) return r.kernel.schedule;
  }
  return null;
}
