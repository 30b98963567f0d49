/**
 * @tracelab/markers: Kernel Markers with several probes per site, as in kernel/marker.c
 * (2.6.24-2.6.31). See the package README for the API, events, state, invariants and variants,
 * and docs/markers.md for the design.
 */
import './events.js';

export { markers, MARKERS_VERSION } from './internal/plugin.js';
export { DEFAULT_PRIO, MARKERS_MUTEX } from './marker.js';
export { CORE_MARKERS, TIMER_IRQ } from './internal/core-sites.js';
export { formatMarker, schedProbes, statsProbe, traceProbe } from './probes.js';
export type { SchedProbes, SchedProbesSummary, StatsProbe, TraceProbe, TraceRecord } from './probes.js';
export type { MarkerTransition } from './events.js';
export type {
  EarlyFree,
  MarkerEntryState,
  MarkerProbe,
  MarkerProbeClosure,
  MarkerReport,
  MarkerSite,
  MarkersApi,
  MarkersOptions,
  MarkersState,
  ProbeArrayState,
  ProbeRef,
  ResolvedMarkersOptions,
} from './types.js';
