import type { SrcuApi } from './srcu.js';
import type { SrcuState } from './state.js';

/**
 * The srcu plugin's events, state slice and API, merged into the core's maps. Payloads
 * are plain JSON.
 */
declare module '@tracelab/core' {
  interface EventMap {
    /** `srcuIncrement` stored `value`, having read `read` (its reducer sets the slice's value and counts the update). */
    'srcu/stored': { pid: number; read: number; value: number };
  }
  interface PluginStates {
    srcu: SrcuState;
  }
  interface PluginApis {
    srcu: SrcuApi;
  }
}

export {};
