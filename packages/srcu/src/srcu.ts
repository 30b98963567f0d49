import { current, definePlugin, emit, getState, mutexLock, mutexUnlock, schedPoint, type KernelState, type KPath, type TracelabPlugin } from '@tracelab/core';
import './events.js';
import { SRCU_MUTEX, SRCU_NO_LOST_UPDATE, type SrcuState } from './state.js';

export interface SrcuOptions {
  /**
   * Hold `srcu_mutex` across the read-modify-write (the fix; default true). `false` is the
   * unsafe variant: two threads can read the same value and one update is lost.
   */
  lock?: boolean;
}

export interface SrcuApi {
  /** Adds one to the shared value (a kernel path: read, scheduling point, write). Returns the value it stored. */
  increment(): KPath<number>;
  /** The shared value now. */
  value(): number;
}

const slice = (s: KernelState): SrcuState => s.plugins['srcu']!;

/**
 * The kernel path: `value = value + 1` as a load and a store with a scheduling point between
 * (another CPU may run there, or this task be preempted). With `lock`, `srcu_mutex` is
 * held from the load to the store and released through one exit, as the kernel's
 * `goto out; ... out: mutex_unlock()`. Returns the value stored; the caller has nothing to undo.
 */
export function* srcuIncrement(lock: boolean): KPath<number> {
  if (lock) yield* mutexLock(SRCU_MUTEX);
  try {
    const read = slice(yield* getState()).value;
    // Without the mutex another increment can load the same value here, and one store is lost.
    yield* schedPoint();
    const { pid } = yield* current();
    yield* emit({ type: 'srcu/stored', pid, read, value: read + 1 });
    return read + 1;
  } finally {
    if (lock) yield* mutexUnlock(SRCU_MUTEX);
  }
}

/**
 * The plugin factory: `srcu({ lock: false })` is the unsafe variant. `register`
 * is wiring: the slice, its reducer, the invariant and the API over the kernel path above.
 */
export function srcu(options: SrcuOptions = {}): TracelabPlugin<SrcuApi, SrcuState> {
  const lock = options.lock ?? true;
  return definePlugin<SrcuApi, SrcuState>({
    name: 'srcu',
    version: '0.1.0',
    core: '^0.1.0',
    options: { lock },
    register(ctx) {
      ctx.initSlice({ value: 0, updates: 0 });
      ctx.onReset(); // everything it keeps is in its slice
      ctx.on('srcu/stored', (draft, e) => {
        draft.value = e.value;
        draft.updates += 1;
      });
      ctx.invariant(SRCU_NO_LOST_UPDATE, (s) => {
        const st = s.plugins['srcu'];
        if (st === undefined || st.value === st.updates) return null;
        return `${st.updates} updates committed, but the value is ${st.value}`;
      });
      return {
        increment: () => srcuIncrement(lock),
        value: () => ctx.slice().value,
      };
    },
  });
}
