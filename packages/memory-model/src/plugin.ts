import {
  current,
  definePlugin,
  emit,
  rcuReadLock as coreRcuReadLock,
  rcuReadUnlock as coreRcuReadUnlock,
  schedPoint,
  spinLock as coreSpinLock,
  spinUnlock as coreSpinUnlock,
  synchronizeRcu as coreSynchronizeRcu,
  TracelabError,
  type KernelEvent,
  type KPath,
  type PluginFootprint,
  type TracelabPlugin,
} from '@tracelab/core';
import type { AccessKind, MemValue, MemoryModelApi, MemoryModelOptions, MemoryModelState, RmwOrder } from './events.js';
import { WeakMemory } from './internal/memory.js';

export const MEMORY_MODEL_VERSION = '0.1.0';

const INITIAL: MemoryModelState = Object.freeze({ warnings: 0, firstWarning: null });

/**
 * The memory-model plugin: kernel paths for the kernel's memory accesses and barriers on a
 * weak memory whose effects (which store a load returns) are choices of the kernel's
 * strategy, so random walks, PCT, DFS, shrinking and replay strings cover them.
 * Leaving the plugin out of the stack leaves a kernel exactly as it was.
 */
export function memoryModel(options: MemoryModelOptions = {}): TracelabPlugin<MemoryModelApi, MemoryModelState> {
  const model = options.model ?? 'weak';
  if (model !== 'weak' && model !== 'sc') throw new TracelabError('INVALID_OPTION', `memory-model: model must be 'weak' or 'sc', got ${JSON.stringify(model)}`);
  return definePlugin<MemoryModelApi, MemoryModelState>({
    name: 'memory-model',
    version: MEMORY_MODEL_VERSION,
    core: '^0.1.0',
    options: { model },
    register(ctx) {
      ctx.initSlice(INITIAL);
      ctx.declareEvents(['memory-model/store', 'memory-model/load', 'memory-model/fence']);
      // What each access touched of the weak memory, for explorers' reduction (footprints).
      ctx.footprint('memory-model/load', (e) => accessFootprint(e as KernelEvent<'memory-model/load'>, false));
      ctx.footprint('memory-model/store', (e) => accessFootprint(e as KernelEvent<'memory-model/store'>, true));
      ctx.footprint('memory-model/fence', (e) => fenceFootprint(e as KernelEvent<'memory-model/fence'>));
      // A plain reducer (no immer draft): the slice has two fields.
      ctx.onPlain('memory-model/warn', (slice, e) => ({ warnings: slice.warnings + 1, firstWarning: slice.firstWarning ?? e.message }));
      ctx.invariant('memory-model/warn-on', (s) => {
        const m = s.plugins['memory-model'];
        return m !== undefined && m.firstWarning !== null ? m.firstWarning : null;
      });
      // One memory per kernel run: `kernel.reset` starts a new one.
      const run = new MemoryRun(model === 'sc');
      ctx.onReset(() => run.reset());
      return memoryModelApi(run);
    },
  });
}

/**
 * The keys of the weak memory (`WeakMemory`) an access or a fence touches, for step footprints
 * (`ctx.footprint`): `loc/<loc>`, a location's coherence order (a store appends to it, a load
 * picks from it; two loads of one location commute); `view/<pid>`, the task's own views (only
 * its own steps touch them); `global`, the order full barriers agree on (smp_mb() reads and
 * writes it, rcu_read_lock() reads it, rcu_read_unlock() writes it); `lock/<name>`, the view a
 * lock's last unlock released (spin_lock reads it, spin_unlock writes it). An RMW is a load and
 * a store of one location in one step: both events, both footprints.
 */
function accessFootprint(e: KernelEvent<'memory-model/load'> | KernelEvent<'memory-model/store'>, store: boolean): PluginFootprint {
  const loc = `loc/${e.loc}`;
  return store ? { writes: [loc, `view/${e.pid}`] } : { reads: [loc], writes: [`view/${e.pid}`] };
}

function fenceFootprint(e: KernelEvent<'memory-model/fence'>): PluginFootprint {
  const view = `view/${e.pid}`;
  switch (e.fence) {
    case 'smp_mb':
      return { reads: ['global'], writes: ['global', view] };
    case 'rcu_read_lock':
      return { reads: ['global'], writes: [view] };
    case 'rcu_read_unlock':
      return { writes: ['global'] };
    case 'spin_lock':
      return { reads: [`lock/${e.lock}`], writes: [view] };
    case 'spin_unlock':
      return { writes: [`lock/${e.lock}`] };
    default:
      return { writes: [view] };
  }
}

/**
 * The weak memory of one kernel run (see WeakMemory for what guards its contents). `mem` is
 * replaced only by `reset` (kernel.reset); every kernel path reads it when it runs.
 */
class MemoryRun {
  mem: WeakMemory;
  constructor(private readonly sc: boolean) {
    this.mem = new WeakMemory(sc);
  }
  reset(): void {
    this.mem = new WeakMemory(this.sc);
  }
}

function* pid(): KPath<number> {
  return (yield* current()).pid;
}

function* load(run: MemoryRun, loc: string, kind: AccessKind, acquire: boolean, dependent = false): KPath<MemValue> {
  yield* schedPoint();
  return yield* run.mem.load(yield* pid(), loc, kind, acquire, false, dependent);
}

function* store(run: MemoryRun, loc: string, value: MemValue, kind: AccessKind, release: boolean): KPath<void> {
  yield* schedPoint();
  yield* run.mem.store(yield* pid(), loc, value, kind, release);
}

/** An RMW: a fully ordered one is a full barrier before and after; `next(old)` is the value to store, or null (cmpxchg failed). */
function* rmw(run: MemoryRun, loc: string, order: RmwOrder, next: (old: MemValue) => MemValue | null): KPath<MemValue> {
  yield* schedPoint();
  const mem = run.mem;
  const me = yield* pid();
  const carry = mem.newestView(loc);
  const old = yield* mem.load(me, loc, 'rmw', order === 'acquire', true);
  const nv = next(old);
  if (nv === null) return old;
  if (order === 'mb') yield* mem.mb(me);
  yield* mem.store(me, loc, nv, 'rmw', order === 'release' || order === 'mb', carry);
  if (order === 'mb') yield* mem.mb(me);
  return old;
}

function* fullBarrier(run: MemoryRun): KPath<void> {
  yield* run.mem.mb(yield* pid());
}

const add =
  (delta: number) =>
  (old: MemValue): MemValue => {
    if (typeof old !== 'number') throw new TracelabError('INVALID_OPTION', `memory-model: atomic add on a pointer value ${JSON.stringify(old)}`);
    return old + delta;
  };

/** `kernel.api['memory-model']`: the kernel's accessors and barriers over one run's memory. */
function memoryModelApi(run: MemoryRun): MemoryModelApi {
  const barrier = () => fullBarrier(run);
  return {
    init: (loc, value) => run.mem.init(loc, value),
    peek: (loc) => run.mem.peek(loc),
    readOnce: (loc) => load(run, loc, 'once', false),
    readOnceDep: (loc) => load(run, loc, 'once', false, true),
    writeOnce: (loc, value) => store(run, loc, value, 'once', false),
    plainRead: (loc) => load(run, loc, 'plain', false),
    plainWrite: (loc, value) => store(run, loc, value, 'plain', false),
    smpLoadAcquire: (loc) => load(run, loc, 'acquire', true),
    smpStoreRelease: (loc, value) => store(run, loc, value, 'release', true),
    rcuDereference: (loc) => load(run, loc, 'acquire', true),
    rcuAssignPointer: (loc, value) => store(run, loc, value, 'release', true),
    smpMb: barrier,
    smpMbAfterSpinlock: barrier,
    smpMbBeforeAtomic: barrier,
    smpMbAfterAtomic: barrier,
    *smpWmb() {
      yield* run.mem.wmb(yield* pid());
    },
    *smpRmb() {
      yield* run.mem.rmb(yield* pid());
    },
    xchg: (loc, value, order = 'mb') => rmw(run, loc, order, () => value),
    cmpxchg: (loc, expected, value, order = 'mb') => rmw(run, loc, order, (old) => (old === expected ? value : null)),
    *atomicAddReturn(loc, delta, order = 'mb') {
      return ((yield* rmw(run, loc, order, add(delta))) as number) + delta;
    },
    *atomicAddUnless(loc, delta, unless) {
      let added = false;
      yield* rmw(run, loc, 'mb', (old) => {
        if (old === unless) return null;
        added = true;
        return add(delta)(old);
      });
      return added;
    },
    *atomicAdd(loc, delta) {
      yield* rmw(run, loc, 'relaxed', add(delta));
    },
    *spinLock(name) {
      yield* coreSpinLock(name);
      yield* run.mem.lockAcquired(yield* pid(), name);
    },
    *spinUnlock(name) {
      yield* run.mem.lockReleasing(yield* pid(), name);
      yield* coreSpinUnlock(name);
    },
    *rcuReadLock() {
      yield* coreRcuReadLock();
      yield* run.mem.readerStart(yield* pid());
    },
    *rcuReadUnlock() {
      yield* run.mem.readerEnd(yield* pid());
      yield* coreRcuReadUnlock();
    },
    *synchronizeRcu() {
      yield* fullBarrier(run);
      yield* coreSynchronizeRcu();
      yield* fullBarrier(run);
    },
    *warnOn(cond, message) {
      if (cond) yield* emit({ type: 'memory-model/warn', pid: yield* pid(), message });
    },
  };
}
