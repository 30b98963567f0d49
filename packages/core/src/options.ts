import { TracelabError } from './errors.js';
import { describeValue } from './labels.js';

/**
 * One option of a plugin: its default and how a given value is checked. `check` returns the
 * accepted value, or `undefined` to refuse it; `expected` completes "option X must be ...".
 */
export interface OptionSpec<T> {
  readonly default: T;
  readonly expected: string;
  check(value: unknown): T | undefined;
}

/** An options schema: each key of a plugin's options and its spec. */
export type OptionsSchema = Readonly<Record<string, OptionSpec<unknown>>>;

/** The options a schema resolves to: every key present, with its default where none was given. */
export type ResolvedOptions<S extends OptionsSchema> = { readonly [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

function quoted(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`);
  return q.length <= 2 ? q.join(' or ') : `one of ${q.join(', ')}`;
}

/** The option kinds plugins use, each with the words its error message says. */
export const option = {
  boolean(fallback: boolean): OptionSpec<boolean> {
    return { default: fallback, expected: 'a boolean', check: (v) => (typeof v === 'boolean' ? v : undefined) };
  },
  integer(fallback: number, min: number, max: number): OptionSpec<number> {
    return {
      default: fallback,
      expected: `an integer from ${min} to ${max}`,
      check: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined),
    };
  },
  oneOf<T extends string>(fallback: T, values: readonly T[]): OptionSpec<T> {
    return { default: fallback, expected: quoted(values), check: (v) => ((values as readonly unknown[]).includes(v) ? (v as T) : undefined) };
  },
  /** A list of names from `values` (an `unsafe` list, say), each at most once. */
  listOf<T extends string>(values: readonly T[], fallback: readonly T[] = []): OptionSpec<readonly T[]> {
    return {
      default: fallback,
      expected: `an array of ${quoted(values)}, each at most once`,
      check: (v) =>
        Array.isArray(v) && v.every((x) => (values as readonly unknown[]).includes(x)) && new Set(v).size === v.length
          ? (Object.freeze([...v]) as readonly T[])
          : undefined,
    };
  },
  /** Anything else: `check` returns the value or `undefined`; `expected` says what is accepted. */
  custom<T>(fallback: T, expected: string, check: (v: unknown) => T | undefined): OptionSpec<T> {
    return { default: fallback, expected, check };
  },
} as const;

/**
 * A plugin's options resolver from its schema: `undefined` is `{}`; options that are not an
 * object, an unknown key (a typo) and a value its spec refuses throw `INVALID_OPTION` naming the
 * plugin, the key and what is accepted (`detail`: `plugin`, `option`, and `known` for an unknown
 * key). The result is frozen, with every key.
 *
 * ```ts
 * const resolve = pluginOptions('ktrace', { forkRecopy: option.boolean(true), walk: option.oneOf('tasklist', ['tasklist', 'rcu']) });
 * resolve({ walk: 'rcu' }); // { forkRecopy: true, walk: 'rcu' }
 * ```
 */
export function pluginOptions<S extends OptionsSchema>(plugin: string, schema: S): (options: unknown) => ResolvedOptions<S> {
  const known = Object.keys(schema);
  const bad = (what: string, detail: Record<string, unknown>): never => {
    throw new TracelabError('INVALID_OPTION', `${plugin}: ${what}`, { plugin, ...detail });
  };
  return (options) => {
    if (options === undefined) options = {};
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      bad(`options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`, {});
    }
    const given = options as Record<string, unknown>;
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(schema, key)) bad(`unknown option ${JSON.stringify(key)} (known options: ${known.join(', ')})`, { option: key, known });
    }
    const out: Record<string, unknown> = {};
    for (const key of known) {
      const spec = schema[key]!;
      const v = Object.hasOwn(given, key) ? given[key] : undefined;
      if (v === undefined) {
        out[key] = spec.default;
        continue;
      }
      const ok = spec.check(v);
      if (ok === undefined) bad(`option ${key} must be ${spec.expected}, got ${describeValue(v)}`, { option: key });
      out[key] = ok;
    }
    return Object.freeze(out) as ResolvedOptions<S>;
  };
}
