import { TracelabError, describeValue } from '@tracelab/core';
import type { MarkersOptions, ResolvedMarkersOptions } from '../types.js';

const OPTION_KEYS: ReadonlyArray<keyof MarkersOptions> = ['freeOldArray', 'logProbeCalls', 'coreMarkers', 'rcuPendingBitfield'];

/** The options with every field filled in. Throws `INVALID_OPTION` naming the key and the known keys. */
export function resolveOptions(options: unknown): ResolvedMarkersOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `markers: options must be an object with keys ${OPTION_KEYS.join(', ')}, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  const o = options as Record<string, unknown>;
  const unknownKeys = Object.keys(o).filter((key) => !(OPTION_KEYS as readonly string[]).includes(key));
  if (unknownKeys.length > 0) {
    throw new TracelabError(
      'INVALID_OPTION',
      `markers: unknown option ${unknownKeys.map((key) => JSON.stringify(key)).join(', ')}; the options are ${OPTION_KEYS.join(', ')}`,
    );
  }
  const freeOldArray = o['freeOldArray'] ?? 'after-grace-period';
  if (freeOldArray !== 'after-grace-period' && freeOldArray !== 'immediately') {
    throw new TracelabError('INVALID_OPTION', `markers: freeOldArray must be 'after-grace-period' or 'immediately', got ${describeValue(freeOldArray)}`);
  }
  const bool = (key: 'logProbeCalls' | 'coreMarkers' | 'rcuPendingBitfield', fallback: boolean): boolean => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'boolean') throw new TracelabError('INVALID_OPTION', `markers: ${key} must be a boolean, got ${describeValue(v)}`);
    return v;
  };
  return {
    freeOldArray,
    logProbeCalls: bool('logProbeCalls', false),
    coreMarkers: bool('coreMarkers', true),
    rcuPendingBitfield: bool('rcuPendingBitfield', false),
  };
}

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
