/**
 * Random stacks for auditing DPOR beyond the stacks we wrote (docs/explore.md §4a, "Auditing
 * the reduction", twentieth pass). A seed gives a scenario of two to three kernel threads on two
 * CPUs, each a short program over the core's primitives, and a plugin (`rs`) that holds what the
 * programs share in its slice:
 * - slots `v[0..2]` written by `rs/write` (a store, a load-then-store increment or copy with a
 *   scheduling point between, a store of the CPU the task runs on);
 * - flags raised by `rs/flag`, which waits with a timeout look at;
 * - loads whose value decides what the task does next (a branch);
 * - mutexes and spinlocks (taken in one order, so no program deadlocks), RCU-sched read sections,
 *   preempt-disabled stretches, synchronize_sched, call_rcu callbacks that store, msleep,
 *   a kthread spawned with a program of its own, a function called on the other CPU
 *   (smp_call_function_single, an IPI) that stores, a store of the number of live tasks (a read
 *   of the task table), and a poll loop of at most three looks (`pollSleep`) at a flag;
 * - at times a user process that forks a child, computes and waits for it (the task table,
 *   tasklist_lock, RCU-sched quiescent states in user mode);
 * - at times the timer interrupt or the NMI, whose handler (the plugin's `irq` or `nmi` hook)
 *   stores into a slot, and local_irq_disable stretches against the timer;
 * - at times the memory-model plugin (weak model), with READ_ONCE / WRITE_ONCE, acquire loads,
 *   release stores and barriers on two locations, a load storing what it read into a slot.
 * Each stack has one invariant over two slots, so that some schedules fail and the searches have
 * violations to agree on. Everything the plugin keeps is in its slice (the soundness argument's
 * proviso), so a difference between DPOR and the unreduced DFS is DPOR's, not the stack's.
 *
 * Deterministic in the seed (its own PRNG); `describeStack` prints the programs for a failure
 * message.
 */
import {
  callRcu,
  current,
  definePlugin,
  emit,
  getState,
  intMapValues,
  kthreadRun,
  localIrqDisable,
  localIrqEnable,
  msleep,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  rcuReadLock,
  rcuReadUnlock,
  pollSleep,
  schedPoint,
  smpCallFunctionSingle,
  spinLock,
  spinUnlock,
  synchronizeRcu,
  waitEventTimeout,
  wakeUp,
  type KPath,
  type KernelState,
  type UserOp,
  type UserOps,
} from '@tracelab/core';
import { defineScenario, type Scenario } from '@tracelab/explore';
import { memoryModel, type MemoryModelApi } from '@tracelab/memory-model';

declare module '@tracelab/core' {
  interface EventMap {
    'rs/write': { slot: number; value: number };
    'rs/flag': { flag: number };
  }
  interface PluginStates {
    rs: { v: readonly number[]; flags: readonly number[] };
  }
}

/** Slots the programs share. */
const SLOTS = 3;
/** Flags raised and waited for. */
const FLAGS = 2;
/** Locations the memory-model accesses use. */
const LOCS = ['x', 'y'] as const;

/** One instruction of a program. Bodies of atomic ones (spin, rcu, no-preempt, no-irq) never sleep. */
export type Op =
  | { readonly op: 'write'; readonly slot: number; readonly value: number }
  | { readonly op: 'inc'; readonly slot: number }
  | { readonly op: 'copy'; readonly from: number; readonly to: number }
  | { readonly op: 'cpu'; readonly slot: number }
  | { readonly op: 'if'; readonly slot: number; readonly value: number; readonly then: readonly Op[]; readonly else: readonly Op[] }
  | { readonly op: 'point' }
  | { readonly op: 'mutex'; readonly lock: number; readonly body: readonly Op[] }
  | { readonly op: 'spin'; readonly lock: number; readonly body: readonly Op[] }
  | { readonly op: 'rcu'; readonly body: readonly Op[] }
  | { readonly op: 'no-preempt'; readonly body: readonly Op[] }
  | { readonly op: 'no-irq'; readonly body: readonly Op[] }
  | { readonly op: 'sync' }
  | { readonly op: 'call-rcu'; readonly slot: number; readonly value: number }
  | { readonly op: 'sleep'; readonly ticks: number }
  | { readonly op: 'signal'; readonly flag: number }
  | { readonly op: 'wait'; readonly flag: number; readonly ticks: number }
  | { readonly op: 'spawn'; readonly body: readonly Op[] }
  | { readonly op: 'ipi'; readonly slot: number; readonly value: number; readonly wait: boolean }
  | { readonly op: 'tasks'; readonly slot: number }
  | { readonly op: 'poll'; readonly flag: number }
  | { readonly op: 'mm-store'; readonly loc: string; readonly value: number; readonly release: boolean }
  | { readonly op: 'mm-load'; readonly loc: string; readonly slot: number; readonly acquire: boolean }
  | { readonly op: 'mm-fence'; readonly fence: 'mb' | 'wmb' | 'rmb' };

/** A generated stack: its programs and its configuration, as data. */
export interface RandomStack {
  readonly seed: number;
  readonly programs: readonly (readonly Op[])[];
  /** The timer interrupt's period, or 0 for none; its handler stores `irqValue` into `irqSlot`. */
  readonly tick: number;
  /** The NMI's period, or 0 for none (absent: none); its handler stores `irqValue` into `irqSlot` too. */
  readonly nmi?: number;
  /** A user process that forks a child (which computes a tick), computes and waits for it (absent: none). */
  readonly user?: boolean;
  /** The stack has the memory-model plugin (its programs may access `x` and `y` through it; absent: no). */
  readonly memory?: boolean;
  readonly irqSlot: number;
  readonly irqValue: number;
  /** The invariant: never `v[a] === x` and `v[b] === y` at once. */
  readonly bad: { readonly a: number; readonly x: number; readonly b: number; readonly y: number };
}

/** How large the programs may be. */
export interface StackShape {
  /** Kernel threads spawned by the setup: 2 or 3 (default: either). */
  readonly tasks?: number;
  /** Instructions per program at the top level (default 2 to 4). */
  readonly maxOps?: number;
  /** Allow the timer interrupt and the NMI (default true). */
  readonly interrupts?: boolean;
  /** Allow the user process (default true). */
  readonly user?: boolean;
  /** Allow memory-model accesses, under the memory-model plugin's weak model (default true). */
  readonly memory?: boolean;
}

/** mulberry32: small, fast, and the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws programs: `atomic` bodies get no sleeping instruction, `depth` bounds the nesting. */
class Drawer {
  constructor(
    private readonly r: () => number,
    /** Draw memory-model accesses (READ_ONCE, WRITE_ONCE, acquire, release, barriers). */
    readonly memory: boolean,
  ) {}

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  ops(n: number, atomic: boolean, depth: number, minLock: number): Op[] {
    const out: Op[] = [];
    for (let i = 0; i < n; i++) out.push(this.op(atomic, depth, minLock));
    return out;
  }

  op(atomic: boolean, depth: number, minLock: number): Op {
    const slot = this.int(SLOTS);
    const plain: Array<() => Op> = [
      () => ({ op: 'write', slot, value: 1 + this.int(2) }),
      () => ({ op: 'inc', slot }),
      () => ({ op: 'copy', from: slot, to: (slot + 1 + this.int(SLOTS - 1)) % SLOTS }),
      () => ({ op: 'cpu', slot }),
      () => ({ op: 'point' }),
      () => ({ op: 'tasks', slot }),
      ...(this.memory
        ? [
            (): Op => ({ op: 'mm-store', loc: this.pick(LOCS), value: 1 + this.int(2), release: this.r() < 0.3 }),
            (): Op => ({ op: 'mm-load', loc: this.pick(LOCS), slot, acquire: this.r() < 0.3 }),
            (): Op => ({ op: 'mm-fence', fence: this.pick(['mb', 'wmb', 'rmb'] as const) }),
          ]
        : []),
    ];
    const nested: Array<() => Op> =
      depth <= 0
        ? []
        : [
            () => ({
              op: 'if',
              slot,
              value: this.int(3),
              then: this.ops(1 + this.int(2), atomic, depth - 1, minLock),
              else: this.ops(this.int(2), atomic, depth - 1, minLock),
            }),
            () => ({ op: 'rcu', body: this.ops(1 + this.int(2), true, depth - 1, minLock) }),
            () => ({ op: 'no-preempt', body: this.ops(1 + this.int(2), true, depth - 1, minLock) }),
            () => ({ op: 'no-irq', body: this.ops(1 + this.int(2), true, depth - 1, minLock) }),
            ...(minLock < 2
              ? [
                  (): Op => {
                    const lock = minLock + this.int(2 - minLock);
                    return { op: 'spin', lock, body: this.ops(1 + this.int(2), true, depth - 1, lock + 1) };
                  },
                ]
              : []),
          ];
    const sleeping: Array<() => Op> = atomic
      ? []
      : [
          () => ({ op: 'sync' }),
          () => ({ op: 'call-rcu', slot, value: 1 + this.int(2) }),
          () => ({ op: 'sleep', ticks: 1 + this.int(2) }),
          () => ({ op: 'signal', flag: this.int(FLAGS) }),
          () => ({ op: 'wait', flag: this.int(FLAGS), ticks: 2 + this.int(3) }),
          () => ({ op: 'poll', flag: this.int(FLAGS) }),
          () => ({ op: 'ipi', slot, value: 1 + this.int(2), wait: this.r() < 0.3 }),
          ...(depth > 0 ? [(): Op => ({ op: 'spawn', body: this.ops(1 + this.int(2), false, depth - 1, 0) })] : []),
          ...(depth > 0 && minLock < 2
            ? [
                (): Op => {
                  const lock = minLock + this.int(2 - minLock);
                  return { op: 'mutex', lock, body: this.ops(1 + this.int(2), false, depth - 1, lock + 1) };
                },
              ]
            : []),
        ];
    // Plain instructions half the time: the races are in them; the rest shape the schedule.
    const r = this.r();
    if (r < 0.5 || (nested.length === 0 && sleeping.length === 0)) return this.pick(plain)();
    if (r < 0.75 && nested.length > 0) return this.pick(nested)();
    return sleeping.length > 0 ? this.pick(sleeping)() : this.pick(nested)();
  }
}

/** The stack of `seed`. */
export function randomStack(seed: number, shape: StackShape = {}): RandomStack {
  const r = prng(seed * 2654435761 + 1);
  const memory = shape.memory !== false && r() < 0.3;
  const d = new Drawer(r, memory);
  const tasks = shape.tasks ?? 2 + d.int(2);
  const maxOps = shape.maxOps ?? 4;
  const programs: Op[][] = [];
  for (let t = 0; t < tasks; t++) programs.push(d.ops(2 + d.int(maxOps - 1), false, 2, 0));
  const tick = shape.interrupts === false || r() < 0.7 ? 0 : 2 + d.int(3);
  const nmi = shape.interrupts === false || r() < 0.85 ? 0 : 3 + d.int(3);
  const user = shape.user !== false && r() < 0.2;
  const a = d.int(SLOTS);
  return {
    seed,
    programs,
    tick,
    ...(nmi > 0 ? { nmi } : {}),
    ...(user ? { user } : {}),
    ...(memory ? { memory } : {}),
    irqSlot: d.int(SLOTS),
    irqValue: 1 + d.int(2),
    bad: { a, x: 1 + d.int(2), b: (a + 1 + d.int(SLOTS - 1)) % SLOTS, y: d.int(3) },
  };
}

/** The programs, one line per instruction, for a failure message. */
export function describeStack(s: RandomStack): string {
  const handler = s.tick || s.nmi ? ` (handlers store ${s.irqValue} in v${s.irqSlot})` : '';
  const lines: string[] = [
    `seed ${s.seed}: tick ${s.tick || 'off'}, nmi ${s.nmi ?? 'off'}${handler}${s.user ? ', a user process' : ''}${s.memory ? ', the memory model' : ''}; bad: v${s.bad.a}=${s.bad.x} and v${s.bad.b}=${s.bad.y}`,
  ];
  const walk = (ops: readonly Op[], indent: string): void => {
    for (const o of ops) {
      const { op, ...rest } = o as Op & Record<string, unknown>;
      const kids = ['body', 'then', 'else'].filter((k) => k in rest);
      const args = Object.entries(rest)
        .filter(([k]) => !kids.includes(k))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      lines.push(`${indent}${op}${args ? ` ${args}` : ''}`);
      for (const k of kids) {
        if (kids.length > 1) lines.push(`${indent}  ${k}:`);
        walk((rest as Record<string, readonly Op[]>)[k]!, `${indent}${kids.length > 1 ? '    ' : '  '}`);
      }
    }
  };
  s.programs.forEach((p, i) => {
    lines.push(`task t${i}:`);
    walk(p, '  ');
  });
  return lines.join('\n');
}

const slotOf = (s: KernelState, slot: number): number => s.plugins.rs!.v[slot]!;
const flagUp = (flag: number) => (s: KernelState) => s.plugins.rs!.flags.includes(flag);

/** Runs `ops` as kernel code. */
function* exec(ops: readonly Op[], mm: MemoryModelApi | undefined): KPath<void> {
  for (const o of ops) yield* step(o, mm);
}

function* step(o: Op, mm: MemoryModelApi | undefined): KPath<void> {
  switch (o.op) {
    case 'write':
      yield* emit({ type: 'rs/write', slot: o.slot, value: o.value });
      return;
    case 'inc': {
      const v = slotOf(yield* getState(), o.slot);
      yield* schedPoint();
      yield* emit({ type: 'rs/write', slot: o.slot, value: v + 1 });
      return;
    }
    case 'copy': {
      const v = slotOf(yield* getState(), o.from);
      yield* schedPoint();
      yield* emit({ type: 'rs/write', slot: o.to, value: v });
      return;
    }
    case 'cpu':
      yield* emit({ type: 'rs/write', slot: o.slot, value: 10 + (yield* current()).cpu });
      return;
    case 'if':
      yield* exec(slotOf(yield* getState(), o.slot) === o.value ? o.then : o.else, mm);
      return;
    case 'point':
      yield* schedPoint();
      return;
    case 'mutex':
      yield* mutexLock(`rs_mutex${o.lock}`);
      yield* exec(o.body, mm);
      yield* mutexUnlock(`rs_mutex${o.lock}`);
      return;
    case 'spin':
      yield* spinLock(`rs_spin${o.lock}`);
      yield* exec(o.body, mm);
      yield* spinUnlock(`rs_spin${o.lock}`);
      return;
    case 'rcu':
      yield* rcuReadLock();
      yield* exec(o.body, mm);
      yield* rcuReadUnlock();
      return;
    case 'no-preempt':
      yield* preemptDisable();
      yield* exec(o.body, mm);
      yield* preemptEnable();
      return;
    case 'no-irq':
      yield* localIrqDisable();
      yield* exec(o.body, mm);
      yield* localIrqEnable();
      return;
    case 'sync':
      yield* synchronizeRcu();
      return;
    case 'call-rcu': {
      const { slot, value } = o;
      yield* callRcu(function* () {
        yield* emit({ type: 'rs/write', slot, value });
      }, `store v${slot}`);
      return;
    }
    case 'sleep':
      yield* msleep(o.ticks);
      return;
    case 'signal':
      yield* emit({ type: 'rs/flag', flag: o.flag });
      yield* wakeUp(`rs:flag${o.flag}`);
      return;
    case 'wait':
      yield* waitEventTimeout(`rs:flag${o.flag}`, flagUp(o.flag), o.ticks);
      return;
    case 'spawn':
      yield* kthreadRun(exec(o.body, mm), 'rs-child');
      return;
    case 'ipi': {
      const { slot, value } = o;
      const other = 1 - (yield* current()).cpu;
      yield* smpCallFunctionSingle(
        other,
        function* () {
          yield* emit({ type: 'rs/write', slot, value });
        },
        o.wait,
      );
      return;
    }
    case 'tasks': {
      let live = 0;
      for (const t of intMapValues((yield* getState()).tasks)) if (t.state !== 'dead' && t.state !== 'zombie') live++;
      yield* emit({ type: 'rs/write', slot: o.slot, value: 20 + live });
      return;
    }
    case 'poll': {
      const up = flagUp(o.flag);
      for (let look = 0; look < 3 && !up(yield* getState()); look++) yield* pollSleep(1, up);
      return;
    }
    case 'mm-store':
      if (o.release) yield* mm!.smpStoreRelease(o.loc, o.value);
      else yield* mm!.writeOnce(o.loc, o.value);
      return;
    case 'mm-load': {
      const v = o.acquire ? yield* mm!.smpLoadAcquire(o.loc) : yield* mm!.readOnce(o.loc);
      yield* emit({ type: 'rs/write', slot: o.slot, value: 30 + Number(v) });
      return;
    }
    case 'mm-fence':
      yield* o.fence === 'mb' ? mm!.smpMb() : o.fence === 'wmb' ? mm!.smpWmb() : mm!.smpRmb();
      return;
  }
}

/** The user process: forks a child that computes a tick, computes, waits for the child, and asks its pid. */
function* userProcess(u: UserOps): Generator<UserOp, void, unknown> {
  yield u.fork(function* child(c) {
    yield c.compute(1);
  });
  yield u.compute(1);
  yield u.wait();
  yield u.syscall('getpid');
}

/** The shared plugin: everything it keeps is in its slice. */
function rsPlugin(s: RandomStack) {
  return definePlugin<Record<string, never>, { v: readonly number[]; flags: readonly number[] }>({
    name: 'rs',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ v: new Array<number>(SLOTS).fill(0), flags: [] });
      ctx.onReset();
      ctx.on('rs/write', (st, e) => {
        (st.v as number[])[e.slot] = e.value;
      });
      ctx.on('rs/flag', (st, e) => {
        if (!st.flags.includes(e.flag)) (st.flags as number[]).push(e.flag);
      });
      const store = function* (): KPath<void> {
        yield* emit({ type: 'rs/write', slot: s.irqSlot, value: s.irqValue });
      };
      if (s.tick > 0) ctx.tap('irq', store);
      if ((s.nmi ?? 0) > 0) ctx.tap('nmi', store);
      const { a, x, b, y } = s.bad;
      ctx.invariant('rs/bad-pair', (st) => (slotOf(st, a) === x && slotOf(st, b) === y ? `v${a}=${x} and v${b}=${y}` : null));
      return {};
    },
  });
}

/** Whether a program stores the CPU it runs on (its CPUs are then told apart by the state). */
export function namesCpus(s: RandomStack): boolean {
  const walk = (ops: readonly Op[]): boolean =>
    ops.some((o) => o.op === 'cpu' || ('body' in o && walk(o.body)) || (o.op === 'if' && (walk(o.then) || walk(o.else))));
  return s.programs.some(walk);
}

/**
 * The stack as a scenario (one variant, `any`: whether it fails is what the searches find).
 * `symmetric`: declare its two CPUs interchangeable (`symmetricCpus`), for a stack that does not
 * name them (`namesCpus`), so that DPOR's symmetry rule and explore's mirror check run on it.
 */
export function stackScenario(s: RandomStack, symmetric = false): Scenario {
  const nmi = s.nmi ?? 0;
  return defineScenario({
    name: `random-stack-${s.seed}`,
    description: `generated stack of seed ${s.seed}`,
    source: 'test fixture (random-stack.ts)',
    cpus: 2,
    ...(symmetric ? { symmetricCpus: true } : {}),
    maxSteps: 400,
    variants: [{ name: 'any', description: 'the generated programs', safe: true }],
    plugins: () => (s.memory === true ? [rsPlugin(s), memoryModel()] : [rsPlugin(s)]),
    ...(s.tick > 0 || nmi > 0
      ? { interrupts: () => ({ ...(s.tick > 0 ? { timer: { period: s.tick } } : {}), ...(nmi > 0 ? { nmi: { period: nmi } } : {}) }) }
      : {}),
    setup(kernel) {
      const mm = s.memory === true ? kernel.api['memory-model'] : undefined;
      s.programs.forEach((p, i) => kernel.spawnKthread(exec(p, mm), { comm: `t${i}` }));
      if (s.user === true) kernel.spawn(userProcess, { comm: 'user' });
    },
  });
}
