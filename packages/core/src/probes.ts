/**
 * The probe-array mechanics markers and tracepoints share (kernel/tracepoint.c's func_add and
 * func_remove, lib/marker.c's marker_entry_add_probe): a copy-on-write array ordered by
 * priority. An array a reader may hold is never written: a change builds a new one, and the
 * old one is freed after the readers' grace period by the plugin that published it.
 */

/** An entry of a probe array: anything with a priority (higher runs first). */
export interface Prioritised {
  readonly prio: number;
}

/**
 * Where a probe of priority `prio` goes (tracepoint_probe_register_prio): before the first entry
 * of strictly lower priority, so equal priorities keep their registration order; at the end
 * when there is none.
 */
export function priorityIndex(entries: readonly Prioritised[], prio: number): number {
  const at = entries.findIndex((e) => e.prio < prio);
  return at < 0 ? entries.length : at;
}

/**
 * A new array: `entries` with `entry` inserted at its priority's place (`priorityIndex`), and
 * that index. `entries` is not changed: readers walking it keep a valid array.
 */
export function withProbe<T extends Prioritised>(entries: readonly T[], entry: T): { readonly at: number; readonly entries: T[] } {
  const at = priorityIndex(entries, entry.prio);
  return { at, entries: [...entries.slice(0, at), entry, ...entries.slice(at)] };
}
