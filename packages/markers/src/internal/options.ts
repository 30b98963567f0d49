import { TracelabError, option, pluginOptions } from '@tracelab/core';
import type { ResolvedMarkersOptions } from '../types.js';

/**
 * `markers(options)` resolved: every field filled in. Throws `INVALID_OPTION` naming the key
 * and, for an unknown one, the known keys.
 */
export const resolveOptions: (options: unknown) => ResolvedMarkersOptions = pluginOptions('markers', {
  freeOldArray: option.oneOf<ResolvedMarkersOptions['freeOldArray']>('after-grace-period', ['after-grace-period', 'immediately']),
  logProbeCalls: option.boolean(false),
  coreMarkers: option.boolean(true),
  rcuPendingBitfield: option.boolean(false),
});

/**
 * The options as the log records them. An option added later is recorded only when set, so the
 * logs (and state digests) of runs that do not use it stay as they were.
 */
export function recordedOptions(o: ResolvedMarkersOptions): Partial<ResolvedMarkersOptions> {
  const { rcuPendingBitfield, ...rest } = o;
  return rcuPendingBitfield ? o : rest;
}

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A module site as the moduleLoad hook accepts it from `data.markers`. */
export function isSiteSpec(x: unknown): x is { name: string; format: string } {
  if (typeof x !== 'object' || x === null) return false;
  const { name, format } = x as { name?: unknown; format?: unknown };
  return typeof name === 'string' && C_IDENTIFIER.test(name) && typeof format === 'string';
}

export function checkName(where: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0)
    throw new TracelabError('INVALID_OPTION', `markers.${where}: name must be a non-empty string, got ${JSON.stringify(name)}`);
}
