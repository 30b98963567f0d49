import { emit, type EventInput, type EventType, type KPath } from '@tracelab/core';
import type { MarkersState, ResolvedMarkersOptions } from '../types.js';
import type { MarkersFaults } from './faults.js';
import { Registry } from './registry.js';

/**
 * The state of one markers plugin instance (one kernel), as an explicit object: what the kernel
 * paths of marker.ts, the hook taps, the invariants and the API share. The folded state is the
 * slice (`state.plugins.markers`, written only by reducers); this is what lives beside it.
 */
export interface MarkersInstance {
  /** The options, resolved once by the factory. Never written. */
  readonly options: ResolvedMarkersOptions;
  /** Test-only fault injection (internal/faults.ts). Never written. */
  readonly faults: MarkersFaults;
  /**
   * The hot registry the fast path reads: entries (guarded by: markers_mutex, except
   * `rcuPending`, which the RCU callback also clears), core sites (written by defineMarker
   * only), module sites (guarded by: markers_mutex), array ids and labels. Each field of
   * Registry says the same where it is declared.
   */
  readonly reg: Registry;
  /**
   * What `markers/registry-matches-state` last found consistent: the slice and the hot version
   * it checked. Written only by that invariant and by `kernel.reset`.
   */
  readonly checked: { slice: MarkersState | undefined; hot: number };
}

export function createMarkersInstance(options: ResolvedMarkersOptions, faults: MarkersFaults): MarkersInstance {
  return { options, faults, reg: new Registry(), checked: { slice: undefined, hot: -1 } };
}

/**
 * A hot change and the event that logs it, in one step: moves the hot version (the registry's
 * `touch`, the one place it moves) and emits. Every kernel path that writes the registry calls
 * this right after the write.
 */
export function* logHot<T extends EventType>(m: MarkersInstance, event: EventInput<T>): KPath<void> {
  m.reg.touch();
  yield* emit(event);
}

/**
 * `kernel.reset`: the registry as registration left it, and the consistency check's memo
 * cleared. Call at the end of registration; returns the reset handler.
 */
export function resetter(m: MarkersInstance): () => void {
  const restoreRegistry = m.reg.mark();
  return () => {
    restoreRegistry();
    m.checked.slice = undefined;
    m.checked.hot = -1;
  };
}
