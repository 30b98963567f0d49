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
