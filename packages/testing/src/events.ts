import type { EventType, KernelEvent } from '@tracelab/core';
import { checkFunction, describeValue, invalidOption } from './internal/invalid.js';

/** Where events are read from: a kernel (live or replayed), or a log itself. */
export type EventSource = { readonly log: readonly KernelEvent[] } | readonly KernelEvent[];

/**
 * The events of one type in log order, typed: `eventsOf(kernel, 'rcu-tasks/gp-end')` is a
 * `KernelEvent<'rcu-tasks/gp-end'>[]`. With `pred`, only those it accepts:
 * `eventsOf(k, 'ktrace/walk-start', (e) => e.op === 'set')`.
 *
 * Reads `kernel.log`, which holds the whole run unless the kernel streams to a `logFile`
 * (then only the events not yet written out). Returns a new array each call.
 *
 * Throws `INVALID_OPTION` when `source` has no log array, `type` is not a string, or `pred`
 * is given and is not a function.
 */
export function eventsOf<T extends EventType>(source: EventSource, type: T, pred?: (event: KernelEvent<T>) => boolean): Array<KernelEvent<T>> {
  const log: unknown = Array.isArray(source) ? source : typeof source === 'object' && source !== null ? (source as { log?: unknown }).log : undefined;
  if (!Array.isArray(log)) throw invalidOption('eventsOf', `expects a kernel (or anything with a log array) or a log, got ${describeValue(source)}`);
  if (typeof type !== 'string') throw invalidOption('eventsOf', `type must be an event type string such as 'task/exit', got ${describeValue(type)}`);
  if (pred !== undefined) checkFunction('eventsOf', 'pred', pred);
  const out: Array<KernelEvent<T>> = [];
  for (const e of log as readonly KernelEvent[]) {
    if (e.type !== type) continue;
    const typed = e as unknown as KernelEvent<T>;
    if (pred === undefined || pred(typed)) out.push(typed);
  }
  return out;
}
