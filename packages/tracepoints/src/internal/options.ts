import { TracelabError, describeValue, option, pluginOptions } from '@tracelab/core';
export { describeValue };
import { UNSAFE_VARIANTS, type ModuleTracepointSpec, type ResolvedTracepointsOptions } from '../events.js';

/**
 * `tracepoints(options)` resolved: `unsafe` as a sorted set (one name or a list; a repeat counts
 * once). An unknown key and a value of the wrong kind throw `INVALID_OPTION` naming the key and
 * what it accepts.
 */
export const resolveOptions: (options: unknown) => ResolvedTracepointsOptions = pluginOptions('tracepoints', {
  unsafe: option.setOf(UNSAFE_VARIANTS, { sorted: true }),
  logProbeCalls: option.boolean(false),
});

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
