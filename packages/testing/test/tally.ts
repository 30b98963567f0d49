import { definePlugin, emit, getState, mutexLock, mutexUnlock, schedPoint, type KernelState, type KPath, type TracelabPlugin } from '@tracelab/core';

/**
 * A tiny plugin to test the kit on: a counter incremented by read, scheduling point, write.
 * With `locked` (the fix) the increment holds `tally_mutex`; without it two threads can read the
 * same value and one update is lost, which the `tally/lost-update` invariant catches.
 */
declare module '@tracelab/core' {
  interface EventMap {
    'tally/write': { value: number };
  }
  interface PluginApis {
    tally: TallyApi;
  }
}

export interface TallyApi {
  /** Adds one to the counter; returns the value it wrote. */
  increment(): KPath<number>;
  value(): number;
}

interface TallyState {
  /** The counter (written only by reducers). */
  value: number;
  /** Increments committed (written only by reducers). */
  writes: number;
}

export const LOST_UPDATE = 'tally/lost-update';

const slice = (s: KernelState): TallyState => s.plugins['tally'] as TallyState;

export function tally({ locked }: { locked: boolean }): TracelabPlugin<TallyApi, TallyState> {
  return definePlugin<TallyApi, TallyState>({
    name: 'tally',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ value: 0, writes: 0 });
      ctx.on('tally/write', (draft, e) => {
        draft.value = e.value;
        draft.writes += 1;
      });
      ctx.invariant(LOST_UPDATE, (s) => {
        const t = slice(s);
        return t.value === t.writes ? null : `${t.writes} increments committed but the counter is ${t.value}`;
      });
      return {
        *increment() {
          if (locked) yield* mutexLock('tally_mutex');
          try {
            const seen = slice(yield* getState()).value;
            yield* schedPoint(); // another CPU (or a preempting thread) may increment here
            yield* emit({ type: 'tally/write', value: seen + 1 });
            return seen + 1;
          } finally {
            if (locked) yield* mutexUnlock('tally_mutex');
          }
        },
        value: () => ctx.slice().value,
      };
    },
  });
}
