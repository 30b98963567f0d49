import type { MarkersApi, MarkersState } from './types.js';

/** How a registration changed the number of probes of a marker (the reference's cases). */
export type MarkerTransition = '0->1' | '1->2' | 'N->N+1' | 'N->N-1' | 'N->1' | '1->0';

/**
 * The markers plugin's events, state slice and API, merged into the core's maps. Payloads are
 * plain JSON: probes and private data are named by labels, never by value.
 */
declare module '@tracelab/core' {
  interface EventMap {
    /** add_marker: a registry entry for `name` now exists (format from the probe, or from the site). */
    'markers/entry-created': { name: string; format: string | null };
    /** marker_set_format: an entry created without a format took the format of a site or probe. */
    'markers/format-set': { name: string; format: string };
    /** remove_marker: the last probe is gone and no free is pending. */
    'markers/entry-removed': { name: string };
    /** A probe was connected; `array` is the newly published multi-probe array (null for 0->1). */
    'markers/probe-registered': {
      name: string;
      probe: string;
      private: string;
      prio: number;
      index: number;
      transition: MarkerTransition;
      probes: number;
      array: number | null;
    };
    /** A probe was disconnected; `array` is the array now published (null when 0 or 1 probe is left). */
    'markers/probe-unregistered': { name: string; probe: string; private: string; transition: MarkerTransition; probes: number; array: number | null };
    /** A site's published probes changed (armed, re-armed with other probes, or disarmed). No reducer: sites are kernel text. */
    'markers/site-armed': { name: string; module: string | null; armed: boolean; probes: number; array: number | null };
    /**
     * The old array (null: the single slot) left the entry: freed at once, or handed to
     * call_rcu_sched (`callback`). `gp`: the RCU-sched grace period that must complete before
     * it may be freed (the first one to begin after now: `completed + 1` when none is in
     * progress, else the one after the current one).
     */
    'markers/array-retired': { name: string; array: number | null; deferred: boolean; callback: number | null; gp: number };
    /** free_old_closure: the retired array is freed (and rcu_pending cleared when `deferred`). `completed`: grace periods completed at the free. */
    'markers/array-freed': { name: string; array: number | null; deferred: boolean; completed: number };
    /** `mark` called a probe (only with `logProbeCalls`). */
    'markers/probe-call': { name: string; module: string | null; probe: string; private: string; array: number | null; pid: number };
    /**
     * A probe called by `mark` threw: the exception was caught, the probe skipped for this call,
     * and the next probe called. `module` is null for a core site. (`site.call`, the host-side
     * fast path, does not catch: the exception reaches its caller.)
     */
    'markers/probe-fault': { name: string; module: string | null; probe: string; private: string; pid: number; message: string };
    /** `mark` was about to call through an array that had been freed (the call was not made). */
    'markers/use-after-free': { name: string; array: number; probe: string; private: string; pid: number };
    /** `mark` called a probe that was not registered at any moment of its read section. */
    'markers/unregistered-probe-call': { name: string; array: number | null; probe: string; private: string; pid: number };
  }
  interface PluginStates {
    markers: MarkersState;
  }
  interface PluginApis {
    markers: MarkersApi;
  }
}

export {};
