/**
 * Canonical JSON: object keys sorted, no white space, `undefined` members dropped. Two logs
 * with the same events hash the same whatever order their producers wrote the keys in, and a
 * log read back from NDJSON hashes the same as the run that wrote it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined ? 'null' : canonicalJson(v);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + canonicalJson(v);
  }
  return out + '}';
}

/**
 * A log as the NDJSON text `events.ndjson` holds: one canonical line per event, each ended by a
 * newline, so the file's SHA-256 is the kernel's `logHash()` and `replay` reads it back.
 */
export function logToNdjson(log: readonly unknown[]): string {
  const lines: string[] = new Array<string>(log.length);
  for (let i = 0; i < log.length; i++) lines[i] = canonicalJson(log[i]) + '\n';
  return lines.join('');
}

/**
 * Whether `canonicalJson(a) === canonicalJson(b)`, decided without building either string (the
 * footprint recorder compares a lock's record before and after a step; explore compares a run's
 * events with its mirror image's). With `mapA`, every member of an object on `a`'s side, at any
 * depth, is compared as `mapA(key, value)` (array elements are not mapped).
 */
export function canonicalEqual(a: unknown, b: unknown, mapA?: (key: string, value: unknown) => unknown): boolean {
  if (a === b && mapA === undefined) return true;
  const aObject = a !== null && typeof a === 'object';
  const bObject = b !== null && typeof b === 'object';
  // A primitive's text never starts as an object's or an array's does.
  if (!aObject || !bObject) return !aObject && !bObject && (a === b || (JSON.stringify(a) ?? 'null') === (JSON.stringify(b) ?? 'null'));
  const aArray = Array.isArray(a);
  if (aArray !== Array.isArray(b)) return false;
  if (aArray) {
    const x = a as readonly unknown[];
    const y = b as readonly unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!canonicalEqual(x[i], y[i], mapA)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let kept = 0;
  for (const key of Object.keys(x)) {
    const v = mapA === undefined ? x[key] : mapA(key, x[key]);
    if (v === undefined || typeof v === 'function') continue;
    kept++;
    const w = y[key];
    if (w === undefined || typeof w === 'function' || !Object.prototype.hasOwnProperty.call(y, key)) return false;
    if (!canonicalEqual(v, w, mapA)) return false;
  }
  // Every member `a` keeps is one `b` keeps, equal; `b` keeps no other when the counts agree.
  for (const key of Object.keys(y)) {
    const w = y[key];
    if (w !== undefined && typeof w !== 'function') kept--;
  }
  return kept === 0;
}
