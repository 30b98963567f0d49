import { TracelabError, describeValue } from '@tracelab/core';
export { describeValue };
import { UNSAFE_VARIANTS, type ResolvedTracepointsOptions, type TracepointsUnsafe } from '../events.js';

const OPTION_KEYS = ['unsafe', 'logProbeCalls'] as const;

/** Checks `tracepoints(options)`: INVALID_OPTION naming the key and what it accepts. */
export function resolveOptions(options: unknown): ResolvedTracepointsOptions {
  const bad = (what: string, detail: Record<string, unknown> = {}): never => {
    throw new TracelabError('INVALID_OPTION', `tracepoints: ${what}`, { plugin: 'tracepoints', ...detail });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    bad(
      `options must be an object with keys ${OPTION_KEYS.join(', ')}, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) bad(`unknown option ${JSON.stringify(key)} (options: ${OPTION_KEYS.join(', ')})`, { option: key });
  }
  const raw = o['unsafe'] ?? [];
  const list: unknown[] = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const unsafe: TracepointsUnsafe[] = [];
  for (const v of list) {
    if (!(UNSAFE_VARIANTS as readonly unknown[]).includes(v)) {
      bad(`unsafe: unknown variant ${describeValue(v)} (variants: ${UNSAFE_VARIANTS.join(', ')})`, { option: 'unsafe' });
    }
    if (!unsafe.includes(v as TracepointsUnsafe)) unsafe.push(v as TracepointsUnsafe);
  }
  unsafe.sort();
  const logProbeCalls = o['logProbeCalls'] ?? false;
  if (typeof logProbeCalls !== 'boolean') bad(`logProbeCalls must be a boolean, got ${describeValue(logProbeCalls)}`, { option: 'logProbeCalls' });
  return { unsafe, logProbeCalls: logProbeCalls as boolean };
}
