/**
 * set_ftrace_filter's patterns, as the kernel reads them (ftrace_match_records, glob_match):
 * `*` matches any run of characters, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one of a
 * set; an entry starting with `!` removes what it matches from the entries before it. A pattern
 * is expanded when it is set, against the functions defined then: the hash holds functions,
 * not patterns, so a function defined later is not traced by an earlier `sys_*` (as a module's
 * functions are not, in the kernel, until the filter is written again).
 */

/** Whether a filter entry (without its `!`) is a pattern rather than one function's name. */
export function isPattern(entry: string): boolean {
  return /[*?[]/.test(entry);
}

/** glob_match: the whole of `name` against `pattern`. */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  // Where to resume after the last `*`: the pattern just after it, and the name position it took.
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    if (p < pattern.length) {
      const c = pattern[p]!;
      if (c === '*') {
        starP = ++p;
        starN = n;
        continue;
      }
      if (c === '?') {
        p++;
        n++;
        continue;
      }
      if (c === '[') {
        const m = matchClass(pattern, p, name[n]!);
        if (m !== null) {
          if (m.matched) {
            p = m.end;
            n++;
            continue;
          }
        } else if (name[n] === '[') {
          // An unclosed '[' is a literal, as glob_match takes it.
          p++;
          n++;
          continue;
        }
      } else if (c === name[n]) {
        p++;
        n++;
        continue;
      }
    }
    if (starP < 0) return false;
    p = starP;
    n = ++starN;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** `[...]` at `at`: whether `ch` is in it and where the class ends; null if it never closes. */
function matchClass(pattern: string, at: number, ch: string): { matched: boolean; end: number } | null {
  let i = at + 1;
  const negate = pattern[i] === '!';
  if (negate) i++;
  let matched = false;
  let first = true;
  while (i < pattern.length && (pattern[i] !== ']' || first)) {
    first = false;
    const lo = pattern[i]!;
    if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
      const hi = pattern[i + 2]!;
      if (ch >= lo && ch <= hi) matched = true;
      i += 3;
    } else {
      if (ch === lo) matched = true;
      i++;
    }
  }
  if (i >= pattern.length) return null;
  return { matched: matched !== negate, end: i + 1 };
}

/**
 * The functions a filter (or notrace) list selects among `known`, in order of first selection;
 * or, when an entry that is a pattern or a `!` removal matches nothing, that entry (the kernel's
 * write of such an entry fails with -EINVAL). A plain name is taken as it is (it is declared as
 * an mcount site if nothing has called it yet).
 */
export function expandFilter(entries: readonly string[], known: readonly string[]): { names: string[] } | { unmatched: string } {
  const out = new Set<string>();
  for (const entry of entries) {
    const remove = entry.startsWith('!');
    const body = remove ? entry.slice(1) : entry;
    const hits = isPattern(body) ? known.filter((f) => globMatch(body, f)) : remove ? known.filter((f) => f === body) : [body];
    if (hits.length === 0) return { unmatched: entry };
    for (const f of hits) {
      if (remove) out.delete(f);
      else out.add(f);
    }
  }
  return { names: [...out] };
}
