/**
 * Stable names for host values within one kernel, for logs and reports: a function or object
 * gets `<name>#<id>` (its function name, else the fallback, and an id in labelling order), a
 * primitive its value (`n:5`, `s:"x"`, `b:7`, `bool:true`, `sym:tag`). What plugins log for the
 * probes and private data users hand them (markers, tracepoints), so that the same run logs
 * the same names.
 *
 * guarded by: the caller (a plugin labels under the mutex of its registry); one per kernel.
 */
export class ValueLabels {
  private next = 1;
  private ids = new WeakMap<object, number>();
  /** Labels given before `mark()`, which a reset keeps; null once marked (later ones live in `ids` only). */
  private beforeMark: Array<[object, number]> | null = [];

  /** The label of `value`; `fallback` names an anonymous function or an object. */
  label(value: unknown, fallback: string): string {
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
      let id = this.ids.get(value);
      if (id === undefined) {
        id = this.next++;
        this.ids.set(value, id);
        this.beforeMark?.push([value, id]);
      }
      const name = typeof value === 'function' && value.name !== '' ? value.name : fallback;
      return `${name}#${id}`;
    }
    if (typeof value === 'string') return `s:${JSON.stringify(value)}`;
    if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
      return `${typeof value === 'number' ? 'n' : typeof value === 'bigint' ? 'b' : 'bool'}:${String(value)}`;
    if (typeof value === 'symbol') return `sym:${value.description ?? ''}`;
    return String(value);
  }

  /**
   * The end of registration (`ctx.onReset`'s mark): returns what puts the labels back as they
   * were then, for `kernel.reset`. Values labelled before keep their labels; later ones are
   * forgotten, and ids count on from where they were.
   */
  mark(): () => void {
    const next = this.next;
    const kept = this.beforeMark ?? [];
    this.beforeMark = null;
    return () => {
      this.next = next;
      this.ids = new WeakMap(kept);
    };
  }
}

/** A value as text for an error message or a printk: JSON when it has one, else String(); never throws. */
export function describeValue(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // a BigInt or a cycle: fall through
  }
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}
