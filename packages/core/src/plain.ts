/**
 * Helpers for plain reducers (`ctx.onPlain`): the new slice is built from copies around the parts
 * that did not change. Each helper returns its input itself when the change it makes would change
 * nothing (an immer draft's rule: assigning the value a key holds, or deleting a key that is
 * absent, is no change), so unchanged parts keep their identity, which checks memoise on.
 *
 * Copies are made key by key: optional keys, present or not, and their order are kept (a new
 * key goes last and an existing one keeps its place, as an assignment would), and no object is
 * spread (spreading a frozen object leaves V8's fast clone path on Node 20: several times the
 * cost). A copy is the caller's alone: write it in place until the reducer returns it, and the
 * core freezes what the reducer returns.
 */

/** A type with its `readonly` modifiers taken off: what `copyObject` gives to write in place. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

type Rec<V> = Readonly<Record<string | number, V>>;

/** `o`, key by key: a new object its caller alone writes. */
export function copyObject<T extends object>(o: T): Mutable<T> {
  const out: Record<string, unknown> = {};
  for (const k in o) out[k] = o[k];
  return out as Mutable<T>;
}

/** `o` with field `key` set to `value`, or `o` itself when it holds that value already. */
export function withField<T extends object, K extends keyof T>(o: T, key: K, value: T[K]): T {
  if (o[key] === value && key in o) return o;
  const out = copyObject(o);
  out[key] = value;
  return out as T;
}

/** `o` without field `key`, or `o` itself when it has no such field. */
export function withoutField<T extends object>(o: T, key: keyof T): T {
  if (!(key in o)) return o;
  const out = copyObject(o);
  delete out[key];
  return out as T;
}

/** The record `rec` with `key` set to `value`, or `rec` itself when it holds that value already. */
export function withKey<V>(rec: Rec<V>, key: string | number, value: V): Rec<V> {
  if (rec[key] === value && key in rec) return rec;
  const out: Record<string, V> = {};
  for (const k in rec) out[k] = rec[k]!;
  out[key] = value;
  return out;
}

/** The record `rec` without `key`, or `rec` itself when it has no such key. */
export function withoutKey<V>(rec: Rec<V>, key: string | number): Rec<V> {
  if (!(key in rec)) return rec;
  const out: Record<string, V> = {};
  const name = String(key);
  for (const k in rec) if (k !== name) out[k] = rec[k]!;
  return out;
}

/** A new list: `list` with `item` appended (`push`). */
export function appended<T>(list: readonly T[], item: T): T[] {
  const next = new Array<T>(list.length + 1);
  for (let j = 0; j < list.length; j++) next[j] = list[j]!;
  next[list.length] = item;
  return next;
}

/**
 * A new list: `list` without the element at index `i` (`splice(i, 1)`; `pop` for the last one),
 * or `list` itself when there is no element at `i` (a `findIndex` that found nothing, a `pop` of
 * an empty list: no change).
 */
export function without<T>(list: readonly T[], i: number): readonly T[] {
  if (!Number.isInteger(i) || i < 0 || i >= list.length) return list;
  const next = new Array<T>(list.length - 1);
  for (let j = 0, k = 0; j < list.length; j++) if (j !== i) next[k++] = list[j]!;
  return next;
}
