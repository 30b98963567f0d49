import { TracelabError } from './errors.js';
import { describeValue } from './labels.js';

/** The options resolved before this one, in schema order (what `defaultFrom` and `map` see). */
export type EarlierOptions = Readonly<Record<string, unknown>>;

/**
 * One option of a plugin: its default and how a given value is checked. `check` returns the
 * accepted value, or `undefined` to refuse it; `expected` completes "option X must be ...".
 * `defaultFrom` (set by `option.defaultFrom`) computes the default from the options before it
 * in the schema; `map` (set by `option.map`) turns the accepted value (given or default) into
 * the resolved one, also seeing the options before it.
 */
export interface OptionSpec<T> {
  readonly default: T;
  readonly expected: string;
  check(value: unknown): T | undefined;
  defaultFrom?(earlier: EarlierOptions): T;
  map?(value: T, earlier: EarlierOptions): T;
}

/**
 * A rule across options, checked once every key is resolved: `check` returns what is wrong (the
 * message says which options and values clash) or `undefined`. `options` names the keys it reads,
 * first the one to fix (it is the error's `detail.option`).
 */
export interface OptionRule<R> {
  readonly options: readonly (keyof R & string)[];
  check(resolved: R): string | undefined;
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
  /** An integer from `min` to `max`; a `max` of `Number.MAX_SAFE_INTEGER` (the default) reads "an integer >= min". */
  integer(fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): OptionSpec<number> {
    return {
      default: fallback,
      expected: max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
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
  /**
   * A set of names from `values` (an `unsafe` set, say): one name alone or an array of them, a
   * name given twice counting once. The result keeps the order given, or is sorted with
   * `sorted` (so that two spellings of the same set resolve, and are logged, alike).
   */
  setOf<T extends string>(values: readonly T[], { sorted = false }: { readonly sorted?: boolean } = {}): OptionSpec<readonly T[]> {
    return {
      default: Object.freeze([]),
      expected: `${quoted(values)}${values.length > 1 ? ',' : ''} or an array of them`,
      check: (v) => {
        const list: unknown[] = Array.isArray(v) ? v : [v];
        if (!list.every((x) => (values as readonly unknown[]).includes(x))) return undefined;
        const set = [...new Set(list as T[])];
        return Object.freeze(sorted ? set.sort() : set);
      },
    };
  },
  /**
   * An array whose every element `element` accepts (`expected` says what one is: "domain
   * names"); with `distinct`, no element twice. The result is a frozen copy.
   */
  arrayOf<T>(
    fallback: readonly T[],
    expected: string,
    element: (x: unknown) => boolean,
    { distinct = false }: { readonly distinct?: boolean } = {},
  ): OptionSpec<readonly T[]> {
    return {
      default: Object.freeze([...fallback]),
      expected: `an array of ${expected}${distinct ? ', each at most once' : ''}`,
      check: (v) => (Array.isArray(v) && v.every(element) && (!distinct || new Set(v).size === v.length) ? (Object.freeze([...v]) as readonly T[]) : undefined),
    };
  },
  /**
   * `spec` with a default computed from the options before it in the schema (rcu-tasks'
   * `stallTimeout` is 600 s of its `hz`). `spec.default` stays what the docs call the default at
   * the other options' defaults. The caller types `earlier` with the keys it reads.
   */
  defaultFrom<T, E extends EarlierOptions>(spec: OptionSpec<T>, fallback: (earlier: E) => T): OptionSpec<T> {
    return { ...spec, defaultFrom: fallback as (earlier: EarlierOptions) => T };
  },
  /**
   * `spec` whose accepted value (given or default) goes through `f` with the options before it in
   * the schema: ring-buffer's `statedump` is on only with `enableAll`. The check still applies
   * to the given value first.
   */
  map<T, E extends EarlierOptions>(spec: OptionSpec<T>, f: (value: T, earlier: E) => T): OptionSpec<T> {
    return { ...spec, map: f as (value: T, earlier: EarlierOptions) => T };
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
 * key). An option given as `undefined` takes its default; `null` is a value like any other (its
 * spec refuses it unless it accepts it). Keys resolve in schema order, which is the order of the
 * result's keys. Then each of `rules` (constraints across options) is checked in turn; a broken
 * one throws `INVALID_OPTION` with its message (`detail.options`: the keys it names). The result
 * is frozen, with every key.
 *
 * ```ts
 * const resolve = pluginOptions('ktrace', { forkRecopy: option.boolean(true), walk: option.oneOf('tasklist', ['tasklist', 'rcu']) });
 * resolve({ walk: 'rcu' }); // { forkRecopy: true, walk: 'rcu' }
 * ```
 */
export function pluginOptions<S extends OptionsSchema>(
  plugin: string,
  schema: S,
  rules: readonly OptionRule<ResolvedOptions<S>>[] = [],
): (options: unknown) => ResolvedOptions<S> {
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
    // Built here, one key at a time in schema order; each spec's defaultFrom/map reads the keys before its own.
    const out: Record<string, unknown> = {};
    for (const key of known) {
      const spec = schema[key]!;
      const v = Object.hasOwn(given, key) ? given[key] : undefined;
      let value: unknown;
      if (v === undefined) value = spec.defaultFrom ? spec.defaultFrom(out) : spec.default;
      else {
        value = spec.check(v);
        if (value === undefined) bad(`option ${key} must be ${spec.expected}, got ${describeValue(v)}`, { option: key });
      }
      out[key] = spec.map ? spec.map(value, out) : value;
    }
    const resolved = Object.freeze(out) as ResolvedOptions<S>;
    for (const rule of rules) {
      const wrong = rule.check(resolved);
      if (wrong !== undefined) bad(wrong, { option: rule.options[0], options: [...rule.options] });
    }
    return resolved;
  };
}
