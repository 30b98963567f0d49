import type { RingBufferFaults } from '../buffer.js';
import type { RingBufferOptions } from '../events.js';

/**
 * Test-only fault injection: breakages of the mechanism that no design argued for, so a test
 * can watch an invariant fire on a broken buffer (issue 22, "Invariants that no test shows
 * firing"). Not part of the public API: tests import this module from src/internal. The key
 * is a symbol, so option validation (which walks string keys) never sees it and no
 * serialized option can set it.
 */
export const RING_BUFFER_FAULTS: unique symbol = Symbol('tracelab.ring-buffer.faults');

export interface RingBufferPluginFaults extends RingBufferFaults {
  /** The channel probe commits the first record of this tracepoint twice. */
  readonly doubleCommit?: string;
  /** The channel probe returns without committing the first record of this tracepoint. */
  readonly leakCommit?: string;
}

/** The options with the faults attached. */
export function withFaults(options: RingBufferOptions, faults: RingBufferPluginFaults): RingBufferOptions {
  return { ...options, [RING_BUFFER_FAULTS]: faults } as RingBufferOptions;
}

/** The faults attached to `options`, if any. */
export function faultsOf(options: unknown): RingBufferPluginFaults {
  if (typeof options !== 'object' || options === null) return {};
  return ((options as Record<symbol, unknown>)[RING_BUFFER_FAULTS] as RingBufferPluginFaults | undefined) ?? {};
}
