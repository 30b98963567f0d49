/**
 * A parser for TSDL, the metadata language of CTF 1.8 (the `metadata` file of a trace), as
 * LTTng 2.13, babeltrace2's CTF writer and tracelab's writer emit it. It turns the text into a
 * {@link CtfMetadata}: the trace's byte order and packet header, its clocks, its stream
 * classes and its event classes, every type resolved (aliases, named structs, variants and
 * enums looked up) into a {@link TsdlType} tree.
 *
 * Covered: comments, `typealias`/`typedef`, `integer` (size, align, signed, byte_order, base,
 * encoding, map), `floating_point`, `string`, `enum` (values, ranges, implicit values),
 * `struct` (with `align(N)`), `variant` (tagged at the declaration or at the use), fixed
 * arrays and sequences (length by field path), the `trace`, `env`, `clock`, `stream` and
 * `event` blocks; `callsite` blocks and unknown attributes are skipped.
 *
 * Every error is a {@link TracelabError} with code `CTF_METADATA` whose message names the
 * source and the line, as babeltrace2's does ("At line 16 in metadata stream").
 */
import { ctfError } from './reader-error.js';

/** Byte order of a type: `native` is the trace's (`trace { byte_order = ...; }`). */
export type TsdlByteOrder = 'le' | 'be' | 'native';

export interface TsdlInteger {
  readonly kind: 'integer';
  /** Bits, 1 to 64. */
  readonly size: number;
  /** Bits. */
  readonly align: number;
  readonly signed: boolean;
  readonly byteOrder: TsdlByteOrder;
  /** Display base: 2, 8, 10 or 16. */
  readonly base: number;
  /** `UTF8`/`ASCII` on 8-bit integers makes arrays and sequences of them strings. */
  readonly encoding: 'none' | 'UTF8' | 'ASCII';
  /** The clock this integer's value updates (`map = clock.NAME.value`). */
  readonly map?: string;
}

export interface TsdlFloat {
  readonly kind: 'float';
  readonly expDig: number;
  readonly mantDig: number;
  readonly align: number;
  readonly byteOrder: TsdlByteOrder;
}

export interface TsdlString {
  readonly kind: 'string';
  readonly encoding: 'none' | 'UTF8' | 'ASCII';
}

/** One enum mapping; `lo === hi` for a single value. */
export interface TsdlEnumEntry {
  readonly label: string;
  readonly lo: bigint;
  readonly hi: bigint;
}

export interface TsdlEnum {
  readonly kind: 'enum';
  readonly container: TsdlInteger;
  readonly entries: readonly TsdlEnumEntry[];
}

/** A field as declared: `name` is the TSDL identifier (with any leading underscore). */
export interface TsdlField {
  readonly name: string;
  readonly type: TsdlType;
}

export interface TsdlStruct {
  readonly kind: 'struct';
  readonly fields: readonly TsdlField[];
  /** `align(N)` after the struct body, in bits (1 when absent). */
  readonly minAlign: number;
}

export interface TsdlVariant {
  readonly kind: 'variant';
  /** Path of the enum field that selects the option (`variant <id>`), as written. */
  readonly tag: string | undefined;
  readonly options: readonly TsdlField[];
}

export interface TsdlArray {
  readonly kind: 'array';
  readonly element: TsdlType;
  readonly length: number;
}

export interface TsdlSequence {
  readonly kind: 'sequence';
  readonly element: TsdlType;
  /** Path of the integer field holding the length, as written. */
  readonly lengthRef: string;
}

export type TsdlType = TsdlInteger | TsdlFloat | TsdlString | TsdlEnum | TsdlStruct | TsdlVariant | TsdlArray | TsdlSequence;

export interface CtfClockClass {
  readonly name: string;
  /** Hz. */
  readonly freq: bigint;
  /** Seconds from the Unix epoch to clock value 0 (with `offset`). */
  readonly offsetS: bigint;
  /** Cycles added to `offsetS`. */
  readonly offset: bigint;
  readonly uuid?: string;
  readonly description?: string;
  readonly absolute: boolean;
}

export interface CtfStreamClass {
  readonly id: number;
  readonly packetContext?: TsdlType;
  readonly eventHeader?: TsdlType;
  /** The stream's `event.context`: fields every event of the stream carries. */
  readonly eventContext?: TsdlType;
}

export interface CtfEventClassInfo {
  readonly name: string;
  readonly id: number;
  readonly streamId: number;
  readonly loglevel?: number;
  readonly context?: TsdlType;
  readonly fields?: TsdlType;
  /** Other attributes (`model.emf.uri`...), as written. */
  readonly attributes: Readonly<Record<string, string | number | bigint>>;
}

/** A parsed metadata text. */
export interface CtfMetadata {
  readonly major: number;
  readonly minor: number;
  readonly byteOrder: 'le' | 'be';
  readonly uuid?: string;
  readonly packetHeader?: TsdlType;
  readonly env: Readonly<Record<string, string | number | bigint>>;
  readonly clocks: ReadonlyMap<string, CtfClockClass>;
  readonly streams: ReadonlyMap<number, CtfStreamClass>;
  readonly events: readonly CtfEventClassInfo[];
}

// ---- lexer -------------------------------------------------------------------------------

type TokKind = 'id' | 'num' | 'str' | 'punct' | 'eof';

interface Token {
  readonly kind: TokKind;
  readonly text: string;
  /** For `num`: the value. */
  readonly num?: bigint;
  readonly line: number;
}

const PUNCT = [':=', '...', '{', '}', '(', ')', '[', ']', '<', '>', ';', ',', '=', '.', ':', '-', '+', '*'];

function lex(text: string, source: string): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const err = (msg: string): never => {
    throw ctfError('CTF_METADATA', `${source}: line ${line}: ${msg}`, { source, line });
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      i++;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) err('unterminated comment');
      for (let k = i; k < end; k++) if (text.charCodeAt(k) === 10) line++;
      i = end + 2;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 47) {
      while (i < n && text.charCodeAt(i) !== 10) i++;
      continue;
    }
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if ((d >= 65 && d <= 90) || (d >= 97 && d <= 122) || d === 95 || (d >= 48 && d <= 57)) j++;
        else break;
      }
      toks.push({ kind: 'id', text: text.slice(i, j), line });
      i = j;
      continue;
    }
    if (c >= 48 && c <= 57) {
      let j = i;
      let value: bigint;
      if (c === 48 && (text[i + 1] === 'x' || text[i + 1] === 'X')) {
        j = i + 2;
        while (j < n && /[0-9a-fA-F]/.test(text[j]!)) j++;
        if (j === i + 2) err(`bad hexadecimal number ${JSON.stringify(text.slice(i, j + 1))}`);
        value = BigInt(text.slice(i, j));
      } else {
        while (j < n && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
        const digits = text.slice(i, j);
        value = digits.length > 1 && digits[0] === '0' ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
      }
      while (j < n && /[uUlL]/.test(text[j]!)) j++;
      toks.push({ kind: 'num', text: text.slice(i, j), num: value, line });
      i = j;
      continue;
    }
    if (c === 34 /* " */ || c === 39 /* ' */) {
      const quote = text[i]!;
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= n) err('unterminated string');
        const ch = text[j]!;
        if (ch === quote) break;
        if (ch === '\n') err('newline in a string');
        if (ch === '\\') {
          const e = text[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v' };
          if (e !== undefined && map[e] !== undefined) {
            s += map[e];
            j += 2;
            continue;
          }
          err(`unknown escape \\${e ?? ''} in a string`);
        }
        s += ch;
        j++;
      }
      toks.push({ kind: 'str', text: s, line });
      i = j + 1;
      continue;
    }
    const p = PUNCT.find((q) => text.startsWith(q, i));
    if (p === undefined) err(`unexpected character ${JSON.stringify(text[i])}`);
    toks.push({ kind: 'punct', text: p!, line });
    i += p!.length;
  }
  toks.push({ kind: 'eof', text: 'end of metadata', line });
  return toks;
}

// ---- parser ------------------------------------------------------------------------------

/** A right-hand side of `key = value;`. */
type Value = { readonly kind: 'num'; readonly v: bigint } | { readonly kind: 'str'; readonly v: string } | { readonly kind: 'id'; readonly v: string };

/** Aliases (by their full multi-word name), named structs, variants and enums: one scope per block. */
interface Scope {
  readonly parent: Scope | undefined;
  readonly aliases: Map<string, TsdlType>;
  readonly structs: Map<string, TsdlStruct>;
  readonly variants: Map<string, TsdlVariant>;
  readonly enums: Map<string, TsdlEnum>;
}

function newScope(parent: Scope | undefined): Scope {
  return { parent, aliases: new Map(), structs: new Map(), variants: new Map(), enums: new Map() };
}

function lookup<T>(scope: Scope | undefined, pick: (s: Scope) => Map<string, T>, name: string): T | undefined {
  for (let s = scope; s !== undefined; s = s.parent) {
    const v = pick(s).get(name);
    if (v !== undefined) return v;
  }
  return undefined;
}

const KEYWORDS = new Set([
  'integer',
  'floating_point',
  'string',
  'struct',
  'variant',
  'enum',
  'typealias',
  'typedef',
  'align',
  'trace',
  'stream',
  'event',
  'clock',
  'env',
  'callsite',
]);

class Parser {
  private i = 0;
  private readonly global = newScope(undefined);
  private trace: { major?: number; minor?: number; byteOrder?: 'le' | 'be'; uuid?: string; packetHeader?: TsdlType } = {};
  private readonly env: Record<string, string | number | bigint> = {};
  private readonly clocks = new Map<string, CtfClockClass>();
  private readonly streams = new Map<number, CtfStreamClass>();
  private readonly events: CtfEventClassInfo[] = [];

  constructor(
    private readonly toks: Token[],
    private readonly source: string,
  ) {}

  // -- token helpers
  private peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private is(text: string, k = 0): boolean {
    const t = this.peek(k);
    return (t.kind === 'punct' || t.kind === 'id') && t.text === text;
  }
  private fail(msg: string, at: Token = this.peek()): never {
    throw ctfError('CTF_METADATA', `${this.source}: line ${at.line}: ${msg}`, { source: this.source, line: at.line });
  }
  private describe(t: Token): string {
    return t.kind === 'eof' ? 'the end of the metadata' : t.kind === 'str' ? `string "${t.text}"` : `"${t.text}"`;
  }
  private expect(text: string, what = `"${text}"`): Token {
    const t = this.peek();
    if (!this.is(text)) this.fail(`syntax error: expected ${what}, found ${this.describe(t)}`);
    return this.next();
  }
  private ident(what: string): string {
    const t = this.peek();
    if (t.kind !== 'id') this.fail(`syntax error: expected ${what}, found ${this.describe(t)}`);
    return this.next().text;
  }

  // -- top level
  parse(): CtfMetadata {
    while (this.peek().kind !== 'eof') this.topLevel();
    const t = this.trace;
    if (t.major === undefined || t.minor === undefined) this.fail('the metadata has no trace block with major and minor', this.peek());
    if (t.major !== 1 || t.minor !== 8) this.fail(`unsupported CTF version ${t.major}.${t.minor}: this reader reads CTF 1.8`, this.peek());
    // A trace without stream blocks has one implicit stream class 0 (babeltrace2 accepts it).
    if (this.streams.size === 0) this.streams.set(0, { id: 0 });
    return {
      major: t.major,
      minor: t.minor,
      byteOrder: t.byteOrder ?? 'le',
      ...(t.uuid !== undefined ? { uuid: t.uuid } : {}),
      ...(t.packetHeader !== undefined ? { packetHeader: t.packetHeader } : {}),
      env: this.env,
      clocks: this.clocks,
      streams: this.streams,
      events: this.events,
    };
  }

  private topLevel(): void {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === ';') {
      this.next();
      return;
    }
    if (t.kind !== 'id') this.fail(`syntax error: expected a declaration, found ${this.describe(t)}`);
    switch (t.text) {
      case 'trace':
      case 'env':
      case 'clock':
      case 'stream':
      case 'event':
      case 'callsite':
        if (this.is('{', 1)) {
          this.next();
          this.block(t.text, t);
          return;
        }
        break;
      case 'typealias':
        this.typealias(this.global);
        return;
      case 'typedef':
        this.typedef(this.global);
        return;
      default:
        break;
    }
    // A named struct/variant/enum declared on its own: `struct name { ... } align(8);`.
    this.typeSpecifier(this.global, false);
    this.expect(';', '";" after a type declaration');
  }

  /** `trace { ... };` and friends: assignments and type assignments. */
  private block(kind: string, at: Token): void {
    this.expect('{');
    const scope = newScope(this.global);
    const values = new Map<string, Value>();
    const types = new Map<string, TsdlType>();
    while (!this.is('}')) {
      if (this.peek().kind === 'eof') this.fail(`syntax error: the ${kind} block opened at line ${at.line} is not closed`);
      if (this.declarationInBody(scope)) continue;
      let key = this.ident(`an attribute name in the ${kind} block`);
      while (this.is('.')) {
        this.next();
        key += '.' + this.ident('an attribute name after "."');
      }
      if (this.is(':=')) {
        this.next();
        types.set(key, this.typeSpecifier(scope, false));
      } else if (this.is('=')) {
        this.next();
        values.set(key, this.value());
      } else {
        this.fail(`syntax error: expected "=" or ":=" after ${key}, found ${this.describe(this.peek())}`);
      }
      if (!this.is(';')) this.fail(`syntax error: expected ";" after the ${key} attribute, found ${this.describe(this.peek())}`);
      this.next();
    }
    this.expect('}');
    this.expect(';', `";" after the ${kind} block`);
    switch (kind) {
      case 'trace':
        return this.traceBlock(values, types, at);
      case 'env':
        for (const [k, v] of values) this.env[k] = v.kind === 'num' ? smallest(v.v) : v.v;
        return;
      case 'clock':
        return this.clockBlock(values, at);
      case 'stream':
        return this.streamBlock(values, types, at);
      case 'event':
        return this.eventBlock(values, types, at);
      default:
        return; // callsite: informative only
    }
  }

  private num(values: Map<string, Value>, key: string, at: Token): bigint | undefined {
    const v = values.get(key);
    if (v === undefined) return undefined;
    if (v.kind !== 'num') this.fail(`${key} must be a number, got ${JSON.stringify(v.v)}`, at);
    return v.v;
  }

  private str(values: Map<string, Value>, key: string): string | undefined {
    const v = values.get(key);
    return v === undefined ? undefined : v.kind === 'num' ? String(v.v) : v.v;
  }

  private traceBlock(values: Map<string, Value>, types: Map<string, TsdlType>, at: Token): void {
    const major = this.num(values, 'major', at);
    const minor = this.num(values, 'minor', at);
    if (major === undefined || minor === undefined) this.fail('the trace block needs major and minor', at);
    const bo = this.str(values, 'byte_order');
    let byteOrder: 'le' | 'be' | undefined;
    if (bo === 'le' || bo === 'little_endian') byteOrder = 'le';
    else if (bo === 'be' || bo === 'network' || bo === 'big_endian') byteOrder = 'be';
    else if (bo !== undefined) this.fail(`the trace's byte_order must be le or be, got ${bo}`, at);
    const uuid = this.str(values, 'uuid');
    this.trace = {
      major: Number(major),
      minor: Number(minor),
      ...(byteOrder !== undefined ? { byteOrder } : {}),
      ...(uuid !== undefined ? { uuid } : {}),
      ...(types.get('packet.header') !== undefined ? { packetHeader: types.get('packet.header')! } : {}),
    };
  }

  private clockBlock(values: Map<string, Value>, at: Token): void {
    const name = this.str(values, 'name');
    if (name === undefined) this.fail('a clock block needs a name', at);
    const freq = this.num(values, 'freq', at) ?? 1_000_000_000n;
    if (freq <= 0n) this.fail(`clock ${name}: freq must be positive`, at);
    const uuid = this.str(values, 'uuid');
    const description = this.str(values, 'description');
    const abs = this.str(values, 'absolute');
    this.clocks.set(name, {
      name,
      freq,
      offsetS: this.num(values, 'offset_s', at) ?? 0n,
      offset: this.num(values, 'offset', at) ?? 0n,
      ...(uuid !== undefined ? { uuid } : {}),
      ...(description !== undefined ? { description } : {}),
      absolute: abs === 'true' || abs === 'TRUE' || abs === '1',
    });
  }

  private streamBlock(values: Map<string, Value>, types: Map<string, TsdlType>, at: Token): void {
    const id = Number(this.num(values, 'id', at) ?? 0n);
    if (this.streams.has(id)) this.fail(`duplicate stream class id ${id}`, at);
    const pc = types.get('packet.context');
    const eh = types.get('event.header');
    const ec = types.get('event.context');
    this.streams.set(id, {
      id,
      ...(pc !== undefined ? { packetContext: pc } : {}),
      ...(eh !== undefined ? { eventHeader: eh } : {}),
      ...(ec !== undefined ? { eventContext: ec } : {}),
    });
  }

  private eventBlock(values: Map<string, Value>, types: Map<string, TsdlType>, at: Token): void {
    const name = this.str(values, 'name');
    if (name === undefined) this.fail('an event block needs a name', at);
    const idv = this.num(values, 'id', at);
    const sid = this.num(values, 'stream_id', at);
    const ll = this.num(values, 'loglevel', at);
    const attributes: Record<string, string | number | bigint> = {};
    for (const [k, v] of values) if (!['name', 'id', 'stream_id', 'loglevel'].includes(k)) attributes[k] = v.kind === 'num' ? smallest(v.v) : v.v;
    const context = types.get('context');
    const fields = types.get('fields');
    this.events.push({
      name,
      // Absent ids are numbered in declaration order, as babeltrace2 does for a lone event.
      id: idv === undefined ? this.events.filter((e) => e.streamId === Number(sid ?? -1n)).length : Number(idv),
      streamId: sid === undefined ? -1 : Number(sid),
      ...(ll !== undefined ? { loglevel: Number(ll) } : {}),
      ...(context !== undefined ? { context } : {}),
      ...(fields !== undefined ? { fields } : {}),
      attributes,
    });
  }

  private value(): Value {
    const t = this.peek();
    if (this.is('-') || this.is('+')) {
      const neg = this.next().text === '-';
      const n = this.peek();
      if (n.kind !== 'num') this.fail(`syntax error: expected a number after "${neg ? '-' : '+'}", found ${this.describe(n)}`);
      this.next();
      return { kind: 'num', v: neg ? -n.num! : n.num! };
    }
    if (t.kind === 'num') {
      this.next();
      return { kind: 'num', v: t.num! };
    }
    if (t.kind === 'str') {
      this.next();
      return { kind: 'str', v: t.text };
    }
    if (t.kind === 'id') {
      let v = this.next().text;
      while (this.is('.')) {
        this.next();
        v += '.' + this.ident('a name after "."');
      }
      return { kind: 'id', v };
    }
    return this.fail(`syntax error: expected a value, found ${this.describe(t)}`);
  }

  // -- types
  private typealias(scope: Scope): void {
    this.expect('typealias');
    const type = this.typeSpecifier(scope, false);
    this.expect(':=', '":=" in a typealias');
    const words: string[] = [];
    while (this.peek().kind === 'id' || this.is('*')) words.push(this.next().text);
    if (words.length === 0) this.fail(`syntax error: expected the alias name after ":=", found ${this.describe(this.peek())}`);
    const aliased = this.arraySuffix(type);
    this.expect(';', '";" after a typealias');
    scope.aliases.set(words.join(' '), aliased);
  }

  private typedef(scope: Scope): void {
    this.expect('typedef');
    const type = this.typeSpecifier(scope, true);
    const name = this.ident('the typedef name');
    const t = this.arraySuffix(type);
    this.expect(';', '";" after a typedef');
    scope.aliases.set(name, t);
  }

  /** `[N]` / `[length.path]` suffixes, innermost last (`a[2][3]` is 2 arrays of 3). */
  private arraySuffix(type: TsdlType): TsdlType {
    const dims: ({ n: number } | { ref: string })[] = [];
    while (this.is('[')) {
      this.next();
      const t = this.peek();
      if (t.kind === 'num') {
        this.next();
        dims.push({ n: Number(t.num!) });
      } else if (t.kind === 'id') {
        let ref = this.next().text;
        while (this.is('.')) {
          this.next();
          ref += '.' + this.ident('a field name after "."');
        }
        dims.push({ ref });
      } else this.fail(`syntax error: expected an array length, found ${this.describe(t)}`);
      this.expect(']', '"]" after an array length');
    }
    let out = type;
    for (let k = dims.length - 1; k >= 0; k--) {
      const d = dims[k]!;
      out = 'n' in d ? { kind: 'array', element: out, length: d.n } : { kind: 'sequence', element: out, lengthRef: d.ref };
    }
    return out;
  }

  /**
   * A type specifier. With `declaratorFollows` (struct members, typedefs) the last of several
   * identifiers is the declared name, not part of a multi-word type name.
   */
  private typeSpecifier(scope: Scope, declaratorFollows: boolean): TsdlType {
    const t = this.peek();
    if (t.kind !== 'id') this.fail(`syntax error: expected a type, found ${this.describe(t)}`);
    switch (t.text) {
      case 'integer':
        this.next();
        return this.integer(this.attributes('integer'), t);
      case 'floating_point':
        this.next();
        return this.float(this.attributes('floating_point'), t);
      case 'string': {
        this.next();
        const attrs = this.is('{') ? this.attributes('string') : new Map<string, Value>();
        return { kind: 'string', encoding: encodingOf(attrs.get('encoding'), 'UTF8') };
      }
      case 'struct':
        this.next();
        return this.struct(scope);
      case 'variant':
        this.next();
        return this.variant(scope);
      case 'enum':
        this.next();
        return this.enumeration(scope);
      default:
        break;
    }
    // A name made of one or more identifiers (`uint32_t`, `unsigned long`). In a declaration
    // a declarator follows: the longest run of leading identifiers that names a type is the
    // type, so a missing ";" shows as a syntax error at the next field, not an unknown type.
    const words: string[] = [];
    while (this.peek(words.length).kind === 'id') words.push(this.peek(words.length).text);
    const max = declaratorFollows ? words.length - 1 : words.length;
    if (max <= 0) return this.fail(`syntax error: expected a type before "${t.text}"`, t);
    for (let len = max; len >= 1; len--) {
      const found = lookup(scope, (s) => s.aliases, words.slice(0, len).join(' '));
      if (found !== undefined) {
        this.i += len;
        return found;
      }
    }
    return this.fail(`unknown type "${words.slice(0, max).join(' ')}"`, t);
  }

  private attributes(what: string): Map<string, Value> {
    this.expect('{', `"{" after ${what}`);
    const attrs = new Map<string, Value>();
    while (!this.is('}')) {
      if (this.is(';')) {
        this.next();
        continue;
      }
      let key = this.ident(`a ${what} attribute`);
      while (this.is('.')) {
        this.next();
        key += '.' + this.ident('a name after "."');
      }
      this.expect('=', `"=" after the ${key} attribute`);
      attrs.set(key, this.value());
      if (!this.is('}')) this.expect(';', `";" after the ${key} attribute`);
    }
    this.next();
    return attrs;
  }

  private integer(attrs: Map<string, Value>, at: Token): TsdlInteger {
    const size = attrs.get('size');
    if (size === undefined || size.kind !== 'num') return this.fail('an integer needs a numeric size (in bits)', at);
    const bits = Number(size.v);
    if (bits < 1 || bits > 64) this.fail(`integer size ${bits} is out of range: this reader reads 1 to 64 bits`, at);
    const align = attrs.get('align');
    const map = attrs.get('map');
    let clock: string | undefined;
    if (map !== undefined) {
      const m = /^clock\.([A-Za-z_][A-Za-z0-9_]*)\.value$/.exec(map.v.toString());
      if (m === null) this.fail(`integer map must be clock.NAME.value, got ${String(map.v)}`, at);
      clock = m![1]!;
    }
    return {
      kind: 'integer',
      size: bits,
      align: align === undefined ? (bits % 8 === 0 ? 8 : 1) : this.alignValue(align, at),
      signed: boolOf(attrs.get('signed')),
      byteOrder: byteOrderOf(attrs.get('byte_order'), this, at),
      base: baseOf(attrs.get('base'), this, at),
      encoding: encodingOf(attrs.get('encoding'), 'none'),
      ...(clock !== undefined ? { map: clock } : {}),
    };
  }

  private float(attrs: Map<string, Value>, at: Token): TsdlFloat {
    const exp = attrs.get('exp_dig');
    const mant = attrs.get('mant_dig');
    if (exp?.kind !== 'num' || mant?.kind !== 'num') return this.fail('floating_point needs exp_dig and mant_dig', at);
    const align = attrs.get('align');
    const total = Number(exp.v) + Number(mant.v);
    if (total !== 32 && total !== 64) this.fail(`floating_point of ${total} bits: this reader reads 32- and 64-bit (IEEE 754) floats`, at);
    return {
      kind: 'float',
      expDig: Number(exp.v),
      mantDig: Number(mant.v),
      align: align === undefined ? 8 : this.alignValue(align, at),
      byteOrder: byteOrderOf(attrs.get('byte_order'), this, at),
    };
  }

  private alignValue(v: Value, at: Token): number {
    if (v.kind !== 'num' || v.v <= 0n || (v.v & (v.v - 1n)) !== 0n) this.fail(`align must be a power of two (bits), got ${String(v.v)}`, at);
    return Number(v.v);
  }

  /** `struct name? { members }? align(N)?` */
  private struct(scope: Scope): TsdlStruct {
    const at = this.peek();
    const name = this.peek().kind === 'id' && !KEYWORDS.has(this.peek().text) ? this.next().text : undefined;
    if (!this.is('{')) {
      if (name === undefined) this.fail(`syntax error: expected a struct name or "{", found ${this.describe(this.peek())}`);
      const found = lookup(scope, (s) => s.structs, name!);
      if (found === undefined) this.fail(`unknown struct "${name!}"`, at);
      return this.alignSuffix(found!);
    }
    const inner = newScope(scope);
    const fields = this.members(inner, 'struct');
    const s = this.alignSuffix({ kind: 'struct', fields, minAlign: 1 });
    if (name !== undefined) scope.structs.set(name, s);
    return s;
  }

  private alignSuffix(s: TsdlStruct): TsdlStruct {
    if (!this.is('align')) return s;
    const at = this.next();
    this.expect('(', '"(" after align');
    const v = this.value();
    this.expect(')', '")" after the alignment');
    return { ...s, minAlign: Math.max(s.minAlign, this.alignValue(v, at)) };
  }

  /** `variant name? <tag>? { members }?` */
  private variant(scope: Scope): TsdlVariant {
    const at = this.peek();
    const name = this.peek().kind === 'id' ? this.next().text : undefined;
    let tag: string | undefined;
    if (this.is('<')) {
      this.next();
      tag = this.ident('the variant tag');
      while (this.is('.')) {
        this.next();
        tag += '.' + this.ident('a field name after "."');
      }
      this.expect('>', '">" after the variant tag');
    }
    if (!this.is('{')) {
      if (name === undefined) this.fail('syntax error: a variant needs a name or a body');
      const found = lookup(scope, (s) => s.variants, name!);
      if (found === undefined) this.fail(`unknown variant "${name!}"`, at);
      return tag === undefined ? found! : { ...found!, tag };
    }
    const options = this.members(newScope(scope), 'variant');
    const v: TsdlVariant = { kind: 'variant', tag, options };
    if (name !== undefined) scope.variants.set(name, v);
    return v;
  }

  /** `enum name? : container? { entries }?` */
  private enumeration(scope: Scope): TsdlEnum {
    const at = this.peek();
    const name = this.peek().kind === 'id' ? this.next().text : undefined;
    let container: TsdlType | undefined;
    if (this.is(':')) {
      this.next();
      container = this.typeSpecifier(scope, false);
    }
    if (!this.is('{')) {
      if (name === undefined) this.fail('syntax error: an enum needs a name or a body');
      const found = lookup(scope, (s) => s.enums, name!);
      if (found === undefined) this.fail(`unknown enum "${name!}"`, at);
      return found!;
    }
    if (container === undefined) container = lookup(scope, (s) => s.aliases, 'int');
    if (container === undefined || container.kind !== 'integer') this.fail('an enum container must be an integer type', at);
    this.next();
    const entries: TsdlEnumEntry[] = [];
    let nextValue = 0n;
    while (!this.is('}')) {
      const lt = this.peek();
      if (lt.kind !== 'str' && lt.kind !== 'id') this.fail(`syntax error: expected an enum label, found ${this.describe(lt)}`);
      const label = this.next().text;
      let lo = nextValue;
      let hi = nextValue;
      if (this.is('=')) {
        this.next();
        lo = this.enumValue();
        hi = lo;
        if (this.is('...')) {
          this.next();
          hi = this.enumValue();
        }
      }
      entries.push({ label, lo, hi });
      nextValue = hi + 1n;
      if (!this.is('}')) this.expect(',', '"," between enum entries');
    }
    this.next();
    const e: TsdlEnum = { kind: 'enum', container: container as TsdlInteger, entries };
    if (name !== undefined) scope.enums.set(name, e);
    return e;
  }

  private enumValue(): bigint {
    const v = this.value();
    if (v.kind !== 'num') this.fail(`syntax error: expected an enum value, found ${JSON.stringify(v.v)}`);
    return v.v as bigint;
  }

  /** An empty `;`, a `typealias` or a `typedef` inside a block or body: consumed, true. */
  private declarationInBody(scope: Scope): boolean {
    if (this.is(';')) {
      this.next();
      return true;
    }
    if (this.is('typealias')) {
      this.typealias(scope);
      return true;
    }
    if (this.is('typedef')) {
      this.typedef(scope);
      return true;
    }
    return false;
  }

  /** Members of a struct or variant body: `type name, name2[3];`, typealiases, nested declarations. */
  private members(scope: Scope, what: string): TsdlField[] {
    const open = this.expect('{');
    const fields: TsdlField[] = [];
    while (!this.is('}')) {
      if (this.peek().kind === 'eof') this.fail(`syntax error: the ${what} opened at line ${open.line} is not closed`);
      if (this.declarationInBody(scope)) continue;
      const type = this.typeSpecifier(scope, true);
      if (this.is(';')) {
        // A nested named declaration without a field (`struct foo { ... };`).
        this.next();
        continue;
      }
      for (;;) {
        const nt = this.peek();
        if (nt.kind !== 'id') this.fail(`syntax error: expected a field name, found ${this.describe(nt)}`);
        const name = this.next().text;
        if (fields.some((f) => f.name === name)) this.fail(`duplicate field "${name}" in a ${what}`, nt);
        fields.push({ name, type: this.arraySuffix(type) });
        if (this.is(',')) {
          this.next();
          continue;
        }
        break;
      }
      if (!this.is(';')) this.fail(`syntax error: expected ";" or "," after a field, found ${this.describe(this.peek())}`);
      this.next();
    }
    this.next();
    return fields;
  }

  /** For helpers outside the class: a metadata error at a token. */
  error(msg: string, at: Token): never {
    return this.fail(msg, at);
  }
}

function smallest(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function boolOf(v: Value | undefined): boolean {
  if (v === undefined) return false;
  if (v.kind === 'num') return v.v !== 0n;
  return v.v === 'true' || v.v === 'TRUE';
}

function byteOrderOf(v: Value | undefined, p: Parser, at: Token): TsdlByteOrder {
  if (v === undefined) return 'native';
  switch (v.v) {
    case 'le':
    case 'little_endian':
      return 'le';
    case 'be':
    case 'network':
    case 'big_endian':
      return 'be';
    case 'native':
      return 'native';
    default:
      return p.error(`byte_order must be le, be, network or native, got ${String(v.v)}`, at);
  }
}

function baseOf(v: Value | undefined, p: Parser, at: Token): number {
  if (v === undefined) return 10;
  if (v.kind === 'num') {
    const b = Number(v.v);
    if (b === 2 || b === 8 || b === 10 || b === 16) return b;
    return p.error(`integer base must be 2, 8, 10 or 16, got ${b}`, at);
  }
  const names: Record<string, number> = {
    decimal: 10,
    dec: 10,
    d: 10,
    i: 10,
    u: 10,
    hexadecimal: 16,
    hex: 16,
    x: 16,
    X: 16,
    p: 16,
    octal: 8,
    oct: 8,
    o: 8,
    binary: 2,
    b: 2,
  };
  const b = names[v.v];
  return b ?? p.error(`unknown integer base ${v.v}`, at);
}

function encodingOf(v: Value | undefined, dflt: 'none' | 'UTF8' | 'ASCII'): 'none' | 'UTF8' | 'ASCII' {
  if (v === undefined) return dflt;
  const s = String(v.v).toUpperCase();
  return s === 'UTF8' ? 'UTF8' : s === 'ASCII' ? 'ASCII' : 'none';
}

/**
 * Parses a TSDL text. `source` names it in errors (a path, or "metadata").
 * Throws a `TracelabError` with code `CTF_METADATA` and the line on any syntax or semantic
 * error (unknown type, bad attribute, missing trace block, a version other than 1.8).
 */
export function parseTsdl(text: string, source = 'metadata'): CtfMetadata {
  const meta = new Parser(lex(text, source), source).parse();
  // Events without stream_id belong to the only stream class.
  const streamIds = [...meta.streams.keys()];
  const events = meta.events.map((e) => {
    if (e.streamId !== -1) return e;
    if (streamIds.length !== 1)
      throw ctfError('CTF_METADATA', `${source}: event "${e.name}" has no stream_id and the trace has ${streamIds.length} stream classes`, { source });
    return { ...e, streamId: streamIds[0]! };
  });
  return { ...meta, events };
}
