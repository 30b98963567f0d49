import { option, pluginOptions } from '@tracelab/core';
import { UNSAFE_VARIANTS, type ResolvedSrcuOptions } from '../events.js';

/**
 * `srcu(options)` resolved. An unknown key and a value of the wrong kind throw `INVALID_OPTION`
 * naming the key and what it accepts.
 */
export const resolveOptions: (options: unknown) => ResolvedSrcuOptions = pluginOptions('srcu', {
  staticDomains: option.arrayOf<string>([], 'non-empty domain names', (x) => typeof x === 'string' && x.length > 0, { distinct: true }),
  unsafe: option.setOf(UNSAFE_VARIANTS),
  retryDelay: option.integer(1, 1, 1000),
  workerIdle: option.integer(1000, 0, 100_000),
});
