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
  type KPath,
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
      ctx.on('memory-model/warn', (slice, e) => {
        slice.warnings += 1;
        if (slice.firstWarning === null) slice.firstWarning = e.message;
      });
      ctx.invariant('memory-model/warn-on', (s) => {
        const m = s.plugins['memory-model'];
        return m !== undefined && m.firstWarning !== null ? m.firstWarning : null;
      });
      // One memory per kernel run; see WeakMemory for what guards it. `kernel.reset` starts a
      // new one (every path reads `mem` when it runs).
      let mem = new WeakMemory(model === 'sc');
      ctx.onReset(() => (mem = new WeakMemory(model === 'sc')));

      function* pid(): KPath<number> {
        return (yield* current()).pid;
      }
      function* load(loc: string, kind: AccessKind, acquire: boolean, dependent = false): KPath<MemValue> {
        yield* schedPoint();
        return yield* mem.load(yield* pid(), loc, kind, acquire, false, dependent);
      }
      function* store(loc: string, value: MemValue, kind: AccessKind, release: boolean): KPath<void> {
        yield* schedPoint();
        yield* mem.store(yield* pid(), loc, value, kind, release);
      }
      /** An RMW: a fully ordered one is a full barrier before and after; `next(old)` is the value to store, or null (cmpxchg failed). */
      function* rmw(loc: string, order: RmwOrder, next: (old: MemValue) => MemValue | null): KPath<MemValue> {
        yield* schedPoint();
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
      function* fullBarrier(): KPath<void> {
        yield* mem.mb(yield* pid());
      }
      const add =
        (delta: number) =>
        (old: MemValue): MemValue => {
          if (typeof old !== 'number') throw new TracelabError('INVALID_OPTION', `memory-model: atomic add on a pointer value ${JSON.stringify(old)}`);
          return old + delta;
        };

      return {
        init: (loc, value) => mem.init(loc, value),
        peek: (loc) => mem.peek(loc),
        readOnce: (loc) => load(loc, 'once', false),
        readOnceDep: (loc) => load(loc, 'once', false, true),
        writeOnce: (loc, value) => store(loc, value, 'once', false),
        plainRead: (loc) => load(loc, 'plain', false),
        plainWrite: (loc, value) => store(loc, value, 'plain', false),
        smpLoadAcquire: (loc) => load(loc, 'acquire', true),
        smpStoreRelease: (loc, value) => store(loc, value, 'release', true),
        rcuDereference: (loc) => load(loc, 'acquire', true),
        rcuAssignPointer: (loc, value) => store(loc, value, 'release', true),
        smpMb: fullBarrier,
        smpMbAfterSpinlock: fullBarrier,
        smpMbBeforeAtomic: fullBarrier,
        smpMbAfterAtomic: fullBarrier,
        *smpWmb() {
          yield* mem.wmb(yield* pid());
        },
        *smpRmb() {
          yield* mem.rmb(yield* pid());
        },
        xchg: (loc, value, order = 'mb') => rmw(loc, order, () => value),
        cmpxchg: (loc, expected, value, order = 'mb') => rmw(loc, order, (old) => (old === expected ? value : null)),
        *atomicAddReturn(loc, delta, order = 'mb') {
          return ((yield* rmw(loc, order, add(delta))) as number) + delta;
        },
        *atomicAddUnless(loc, delta, unless) {
          let added = false;
          yield* rmw(loc, 'mb', (old) => {
            if (old === unless) return null;
            added = true;
            return add(delta)(old);
          });
          return added;
        },
        *atomicAdd(loc, delta) {
          yield* rmw(loc, 'relaxed', add(delta));
        },
        *spinLock(name) {
          yield* coreSpinLock(name);
          yield* mem.lockAcquired(yield* pid(), name);
        },
        *spinUnlock(name) {
          yield* mem.lockReleasing(yield* pid(), name);
          yield* coreSpinUnlock(name);
        },
        *rcuReadLock() {
          yield* coreRcuReadLock();
          yield* mem.readerStart(yield* pid());
        },
        *rcuReadUnlock() {
          yield* mem.readerEnd(yield* pid());
          yield* coreRcuReadUnlock();
        },
        *synchronizeRcu() {
          yield* fullBarrier();
          yield* coreSynchronizeRcu();
          yield* fullBarrier();
        },
        *warnOn(cond, message) {
          if (cond) yield* emit({ type: 'memory-model/warn', pid: yield* pid(), message });
        },
      };
    },
  });
}
