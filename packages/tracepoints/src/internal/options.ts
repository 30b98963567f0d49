import { TracelabError, describeValue } from '@tracelab/core';
export { describeValue };
import { UNSAFE_VARIANTS, type ModuleTracepointSpec, type ResolvedTracepointsOptions, type TracepointsUnsafe } from '../events.js';

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

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A C identifier (a tracepoint's or a module tracepoint's name). */
export function isCIdentifier(x: unknown): x is string {
  return typeof x === 'string' && C_IDENTIFIER.test(x);
}

/** Throws INVALID_OPTION for `tracepoints.<where>`, naming the plugin. */
export function bad(where: string, what: string, detail: Record<string, unknown> = {}): never {
  throw new TracelabError('INVALID_OPTION', `tracepoints.${where}: ${what}`, { plugin: 'tracepoints', ...detail });
}

export function checkName(where: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) bad(where, `name must be a non-empty string, got ${describeValue(name)}`);
}

export function checkPrio(where: string, prio: unknown): asserts prio is number {
  if (typeof prio !== 'number' || !Number.isInteger(prio)) bad(where, `prio must be an integer, got ${describeValue(prio)}`);
}

/** A module tracepoint as the moduleLoad hook and `loadModule` accept it. */
export function isModuleSpec(x: unknown): x is ModuleTracepointSpec {
  if (typeof x !== 'object' || x === null) return false;
  const { name, faultable } = x as { name?: unknown; faultable?: unknown };
  return isCIdentifier(name) && (faultable === undefined || typeof faultable === 'boolean');
}
