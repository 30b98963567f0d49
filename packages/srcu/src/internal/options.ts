import { TracelabError, describeValue } from '@tracelab/core';
import { UNSAFE_VARIANTS, type ResolvedSrcuOptions, type SrcuUnsafe } from '../events.js';

const OPTION_KEYS = ['staticDomains', 'unsafe', 'retryDelay'] as const;

/** Checks `srcu(options)`. Throws `INVALID_OPTION` naming the option and what it must be. */
export function resolveOptions(options: unknown): ResolvedSrcuOptions {
  const bad = (what: string, detail: Record<string, unknown> = {}): never => {
    throw new TracelabError('INVALID_OPTION', `srcu: ${what}`, { plugin: 'srcu', ...detail });
  };
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) bad(`options must be an object, got ${describeValue(options)}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key))
      bad(`unknown option ${JSON.stringify(key)} (known options: ${OPTION_KEYS.join(', ')})`, { option: key });
  }
  const raw = o['unsafe'] ?? [];
  const list = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const unsafe: SrcuUnsafe[] = [];
  for (const v of list) {
    if (!(UNSAFE_VARIANTS as readonly unknown[]).includes(v))
      bad(`unsafe: unknown variant ${describeValue(v)} (variants: ${UNSAFE_VARIANTS.join(', ')})`, { option: 'unsafe' });
    if (!unsafe.includes(v as SrcuUnsafe)) unsafe.push(v as SrcuUnsafe);
  }
  const retryDelay = o['retryDelay'] ?? 1;
  if (typeof retryDelay !== 'number' || !Number.isInteger(retryDelay) || retryDelay < 1 || retryDelay > 1000)
    bad(`retryDelay must be an integer from 1 to 1000, got ${describeValue(retryDelay)}`, { option: 'retryDelay' });
  const rawDomains = o['staticDomains'] ?? [];
  if (!Array.isArray(rawDomains)) bad(`staticDomains must be an array of domain names, got ${describeValue(rawDomains)}`, { option: 'staticDomains' });
  const staticDomains: string[] = [];
  for (const [i, name] of (rawDomains as unknown[]).entries()) {
    if (typeof name !== 'string' || name.length === 0)
      bad(`staticDomains[${i}] must be a non-empty string, got ${describeValue(name)}`, { option: 'staticDomains' });
    if (staticDomains.includes(name as string)) bad(`staticDomains[${i}]: ${JSON.stringify(name)} is listed twice`, { option: 'staticDomains' });
    staticDomains.push(name as string);
  }
  return { staticDomains, unsafe, retryDelay: retryDelay as number };
}
