// Copies for the plain reducers (reducers.ts). Each helper returns its input itself when the
// change it makes would change nothing (an immer draft's rule: assigning the value a key holds,
// or deleting a key that is absent, is no change), so parts keep their identity. Copies are
// made key by key (optional keys, present or not, and their order kept; no spread, which is slow
// for a frozen object on Node 20); a new key goes last and an existing one keeps its place, as
// an assignment would. A copy is written in place only by the helper that made it, before it
// returns it; the core freezes what a reducer returns.

type Rec<V> = Readonly<Record<string | number, V>>;

/** `o`, key by key: a new object its caller alone writes. */
export function copyObject<T extends object>(o: T): { -readonly [K in keyof T]: T[K] } {
  const out: Record<string, unknown> = {};
  for (const k in o) out[k] = o[k];
  return out as { -readonly [K in keyof T]: T[K] };
}

/** `o` with field `key` set to `value`, or `o` when it holds that value already. */
export function withField<T extends object, K extends keyof T>(o: T, key: K, value: T[K]): T {
  if (o[key] === value && key in o) return o;
  const out = copyObject(o);
  out[key] = value;
  return out as T;
}

/** `o` without field `key`, or `o` when it has no such field. */
export function withoutField<T extends object>(o: T, key: keyof T): T {
  if (!(key in o)) return o;
  const out = copyObject(o);
  delete out[key];
  return out as T;
}

/** `rec` with `key` set to `value`, or `rec` when it holds that value already. */
export function withKey<V>(rec: Rec<V>, key: string | number, value: V): Rec<V> {
  if (rec[key] === value && key in rec) return rec;
  const out: Record<string, V> = {};
  for (const k in rec) out[k] = rec[k]!;
  out[key] = value;
  return out;
}

/** `rec` without `key`, or `rec` when it has no such key. */
export function withoutKey<V>(rec: Rec<V>, key: string | number): Rec<V> {
  if (!(key in rec)) return rec;
  const out: Record<string, V> = {};
  const name = String(key);
  for (const k in rec) if (k !== name) out[k] = rec[k]!;
  return out;
}

/** `list` with `item` appended. */
export function appended<T>(list: readonly T[], item: T): T[] {
  const next = new Array<T>(list.length + 1);
  for (let j = 0; j < list.length; j++) next[j] = list[j]!;
  next[list.length] = item;
  return next;
}

/** `list` without the element at `i` (`splice(i, 1)`), or without its last one for `i` = length - 1 (`pop`). */
export function without<T>(list: readonly T[], i: number): T[] {
  const next = new Array<T>(list.length - 1);
  for (let j = 0, k = 0; j < list.length; j++) if (j !== i) next[k++] = list[j]!;
  return next;
}
