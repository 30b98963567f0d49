// Shared with every plugin's tests (@tracelab/testing): events of a type, no violation and no oops.
export { eventsOf, expectClean, failAllocs } from '@tracelab/testing';
import { createKernel, msleep, type Kernel, type KPath, type Strategy } from '@tracelab/core';
import { markers, type MarkerProbe, type MarkersOptions } from '@tracelab/markers';

/** A kernel with only the markers plugin; core markers off unless asked, so logs stay small. */
export function kernelWith(options: MarkersOptions = {}, extra: { seed?: number; cpus?: number; faultInjection?: boolean; strategy?: Strategy } = {}): Kernel {
  return createKernel({
    cpus: extra.cpus ?? 2,
    seed: extra.seed ?? 1,
    plugins: [markers({ coreMarkers: false, ...options })],
    ...(extra.faultInjection !== undefined ? { faultInjection: extra.faultInjection } : {}),
    ...(extra.strategy !== undefined ? { strategy: extra.strategy } : {}),
  });
}

/** A probe that records (probePrivate, callPrivate, format, args) in `calls`. */
export function recorder(calls: unknown[][], tag: string): MarkerProbe {
  const probe: MarkerProbe = (probePrivate, callPrivate, format, args) => {
    calls.push([tag, probePrivate, callPrivate, format, [...args]]);
  };
  Object.defineProperty(probe, 'name', { value: tag });
  return probe;
}

export function* sleepTicks(n: number): KPath<void> {
  yield* msleep(n);
}

/** A new probe that does nothing (each call gives a distinct function, so a distinct probe). */
export function nop(): MarkerProbe {
  return () => {
    // a probe with nothing to record
  };
}
