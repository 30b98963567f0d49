/**
 * The CTF reader's text path, compiled per type: each TSDL type becomes a closure that reads
 * one value at a {@link BitCursor} and writes what babeltrace2 prints for it (the same bytes
 * as `formatValue` in ../ctf/text.ts, encoded as UTF-8) straight into a {@link LineBuffer},
 * with no decoded object, no per-field string and no BigInt for the common integers.
 *
 * Only types whose decoding never looks at another field's value compile here: variants and
 * sequences (whose tag or length is found in the decoded structs) and structs whose display
 * names collide give `undefined`, and the caller formats those events from decoded objects.
 * Reads (alignment, bounds, `OutOfData`/`BadData`) are the decoders' own, in the same order.
 */
import { CtfEnumValue, BadData, OutOfData, alignOf, decodeText, displayName, intReader, type BitCursor, type CompileEnv } from '../ctf/reader-decode.js';
import { formatG, formatInt, formatSeconds, formatValue, quote } from '../ctf/text.js';
import type { CtfClockClass, TsdlEnum, TsdlInteger, TsdlType } from '../ctf/tsdl.js';
import { LineBuffer, utf8Bytes } from './line-buffer.js';

/** Reads one value at the cursor and writes its text. */
export type Put = (c: BitCursor, o: LineBuffer) => void;
/** Reads one value at the cursor for its side effects only (clock and event-id sinks). */
export type Skip = (c: BitCursor) => void;

/** Whether decoding a value of `t` never needs another field's value (no variant, no sequence). */
export function isPlain(t: TsdlType): boolean {
  switch (t.kind) {
    case 'variant':
    case 'sequence':
      return false;
    case 'struct':
      return t.fields.every((f) => isPlain(f.type));
    case 'array':
      return isPlain(t.element);
    default:
      return true;
  }
}

function isTextElement(t: TsdlType): boolean {
  return t.kind === 'integer' && t.size === 8 && t.encoding !== 'none';
}

/** `"bytes"` for bytes [from, to), escaped and decoded as `quote(decodeText(...))` would. */
function putQuoted(b: Uint8Array, from: number, to: number, o: LineBuffer): void {
  for (let k = from; k < to; k++) {
    const ch = b[k]!;
    // Controls, DEL, quote and backslash are escaped; bytes above 0x7f are UTF-8 to decode.
    if (ch < 0x20 || ch >= 0x7f || ch === 0x22 || ch === 0x5c) {
      o.utf8(quote(decodeText(b, from, to)));
      return;
    }
  }
  o.byte(34);
  o.copy(b, from, to);
  o.byte(34);
}

function putInteger(t: TsdlInteger, order: 'le' | 'be'): Put {
  const read = intReader(t, order);
  const { base, size } = t;
  if (base === 10) {
    return (c, o) => {
      const v = read(c);
      if (typeof v === 'number') o.int(v);
      else o.ascii(String(v));
    };
  }
  if (base === 16) {
    return (c, o) => {
      const v = read(c);
      if (typeof v === 'number' && v >= 0) {
        o.byte(48);
        o.byte(120);
        o.hex(v);
      } else o.ascii(formatInt(v, 16, size));
    };
  }
  return (c, o) => o.ascii(formatInt(read(c), base, size));
}

/** An enum's text per container value, made once per value (`( "LABEL" : container = 1 )`). */
function putEnum(t: TsdlEnum, order: 'le' | 'be'): Put {
  const read = intReader(t.container, order);
  // Written only by this closure: values 0 to 255 (most enums' containers) by index, others
  // in a map bounded like the decoder's label cache.
  const small: (Uint8Array | undefined)[] = [];
  const cache = new Map<number | bigint, Uint8Array>();
  const textOf = (v: number | bigint): Uint8Array => {
    const big = BigInt(v);
    const labels = t.entries.filter((x) => big >= x.lo && big <= x.hi).map((x) => x.label);
    return utf8Bytes(formatValue(new CtfEnumValue(v, labels), t));
  };
  return (c, o) => {
    const v = read(c);
    if (typeof v === 'number' && v >= 0 && v < 256) {
      o.bytes(small[v] ?? (small[v] = textOf(v)));
      return;
    }
    let text = cache.get(v);
    if (text === undefined) {
      text = textOf(v);
      if (cache.size < 4096) cache.set(v, text);
    }
    o.bytes(text);
  };
}

function readFloat(t: Extract<TsdlType, { kind: 'float' }>, order: 'le' | 'be'): (c: BitCursor) => number {
  const le = (t.byteOrder === 'native' ? order : t.byteOrder) === 'le';
  const align = t.align;
  const bits = t.expDig + t.mantDig === 32 ? 32 : 64;
  return (c) => {
    c.align(align);
    if (c.pos % 8 !== 0) throw new BadData('a floating point value that is not byte-aligned');
    const at = c.take(bits);
    return bits === 32 ? c.dv.getFloat32(at, le) : c.dv.getFloat64(at, le);
  };
}

/** The end (its NUL's index) of the NUL-terminated string at the byte-aligned cursor, which moves past the NUL. */
function stringEnd(c: BitCursor): number {
  const b = c.bytes;
  const from = c.base + c.pos / 8;
  const end = c.base + c.limit / 8;
  let k = from;
  while (k < end && b[k] !== 0) k++;
  if (k >= end) throw new OutOfData(c.pos);
  c.pos += (k - from + 1) * 8;
  return k;
}

/** The start of the `n`-byte char array at the cursor, which moves past it. */
function textArrayAt(c: BitCursor, n: number, align: number): number {
  c.align(align);
  const from = c.base + c.pos / 8;
  if (c.pos + n * 8 > c.limit) throw new OutOfData(c.pos);
  c.pos += n * 8;
  return from;
}

function putArray(t: Extract<TsdlType, { kind: 'array' }>, order: 'le' | 'be'): Put | undefined {
  const n = t.length;
  const align = alignOf(t.element);
  if (isTextElement(t.element)) {
    return (c, o) => {
      const from = textArrayAt(c, n, align);
      const b = c.bytes;
      let k = from;
      const end = from + n;
      while (k < end && b[k] !== 0) k++;
      putQuoted(b, from, k, o);
    };
  }
  const el = compilePut(t.element, order);
  if (el === undefined) return undefined;
  return (c, o) => {
    c.align(align);
    // As the decoder: a length beyond the packet is damage.
    if (c.pos + n > c.limit) throw new OutOfData(c.pos);
    if (n === 0) {
      o.ascii('[ ]');
      return;
    }
    o.ascii('[ [0] = ');
    el(c, o);
    for (let k = 1; k < n; k++) {
      o.ascii(', [');
      o.int(k);
      o.ascii('] = ');
      el(c, o);
    }
    o.ascii(' ]');
  };
}

/**
 * Statements writing `bytes` into `o`: a store per byte for a short prefix (numbers only
 * enter the code), a copy from the argument `name` otherwise.
 */
function literal(bytes: Uint8Array, name: string): string[] {
  if (bytes.length > 32) return [`  o.bytes(${name});`];
  const out = [`  o.ensure(${bytes.length});`, '  {', '    const b = o.buf;', '    const at = o.pos;'];
  bytes.forEach((v, k) => out.push(`    b[at + ${k}] = ${v};`));
  out.push(`    o.pos = at + ${bytes.length};`, '  }');
  return out;
}

/**
 * A struct's writer as one generated function with a call site per field
 * (`o.bytes(x1); p1(c, o);`): each site sees one writer, so V8 can inline it, where a loop's
 * `puts[k](c, o)` sees them all. Only parameter names enter the code (the prefixes and
 * writers are arguments). Undefined where code cannot be generated (a CSP without
 * 'unsafe-eval'): the caller uses the loop.
 */
function generatedStruct(prefixes: readonly Uint8Array[], puts: readonly Put[], align: number): Put | undefined {
  const lines = ['return function putStruct(c, o) {', `  c.align(${align});`];
  for (let k = 0; k < puts.length; k++) lines.push(...literal(prefixes[k]!, `x${k}`), `  p${k}(c, o);`);
  lines.push('  o.byte(32);', '  o.byte(125);', '};');
  const params = [...prefixes.map((_, k) => `x${k}`), ...puts.map((_, k) => `p${k}`)];
  try {
    const make = new Function(...params, lines.join('\n')) as (...args: unknown[]) => Put;
    return make(...prefixes, ...puts);
  } catch {
    return undefined;
  }
}

/** `{ a = 1, b = 2 }` in declared order (a decoded struct's key order), `{ }` when empty. */
function putStruct(t: Extract<TsdlType, { kind: 'struct' }>, order: 'le' | 'be'): Put | undefined {
  const names = t.fields.map((f) => displayName(f.name));
  if (new Set(names).size !== names.length) return undefined;
  const puts: Put[] = [];
  for (const f of t.fields) {
    const p = compilePut(f.type, order);
    if (p === undefined) return undefined;
    puts.push(p);
  }
  const align = alignOf(t);
  if (puts.length === 0) {
    return (c, o) => {
      c.align(align);
      o.ascii('{ }');
    };
  }
  const prefixes = names.map((name, k) => utf8Bytes(`${k === 0 ? '{ ' : ', '}${name} = `));
  const fast = generatedStruct(prefixes, puts, align);
  if (fast !== undefined) return fast;
  const n = puts.length;
  return (c, o) => {
    c.align(align);
    for (let k = 0; k < n; k++) {
      o.bytes(prefixes[k]!);
      puts[k]!(c, o);
    }
    o.byte(32);
    o.byte(125);
  };
}

/** The text writer of a plain type (see {@link isPlain}), or undefined for the object path. */
export function compilePut(t: TsdlType, order: 'le' | 'be'): Put | undefined {
  switch (t.kind) {
    case 'integer':
      return putInteger(t, order);
    case 'enum':
      return putEnum(t, order);
    case 'float': {
      const read = readFloat(t, order);
      return (c, o) => o.ascii(formatG(read(c)));
    }
    case 'string':
      return (c, o) => {
        c.align(8);
        const from = c.base + c.pos / 8;
        putQuoted(c.bytes, from, stringEnd(c), o);
      };
    case 'struct':
      return putStruct(t, order);
    case 'array':
      return putArray(t, order);
    default:
      return undefined;
  }
}

/**
 * A reader of a plain type that keeps nothing: what the decoder does to the cursor and to the
 * sinks (`env.sink` by the same field paths), without building the value. For the event
 * header, which is read for its event id and clock and never printed.
 */
export function compileSkip(t: TsdlType, env: CompileEnv, path: readonly string[] = []): Skip | undefined {
  switch (t.kind) {
    case 'integer':
    case 'enum': {
      const it = t.kind === 'enum' ? t.container : t;
      const read = intReader(it, env.traceByteOrder);
      const sink = env.sink(path, it);
      const size = it.size;
      return sink === undefined ? (c) => void read(c) : (c) => sink(read(c), size);
    }
    case 'float': {
      const read = readFloat(t, env.traceByteOrder);
      return (c) => void read(c);
    }
    case 'string':
      return (c) => {
        c.align(8);
        stringEnd(c);
      };
    case 'struct': {
      const skips: Skip[] = [];
      for (const f of t.fields) {
        const s = compileSkip(f.type, env, [...path, f.name]);
        if (s === undefined) return undefined;
        skips.push(s);
      }
      const align = alignOf(t);
      return (c) => {
        c.align(align);
        for (let k = 0; k < skips.length; k++) skips[k]!(c);
      };
    }
    case 'array': {
      const n = t.length;
      const align = alignOf(t.element);
      if (isTextElement(t.element)) return (c) => void textArrayAt(c, n, align);
      const el = compileSkip(t.element, env, [...path, '[]']);
      if (el === undefined) return undefined;
      return (c) => {
        c.align(align);
        if (c.pos + n > c.limit) throw new OutOfData(c.pos);
        for (let k = 0; k < n; k++) el(c);
      };
    }
    default:
      return undefined;
  }
}

/**
 * `[seconds.nanoseconds] ` of a clock value, as `formatSeconds(clockToNs(clock, cycles))`
 * prints it. A 1 GHz clock with a non-negative offset (every LTTng and tracelab trace) takes
 * digits straight from the number, the seconds' digits made once per second; other clocks
 * and bigint values go through `toNs` and BigInt.
 * Guarded by: single-threaded use by one stream's text decoding.
 */
export class TimeWriter {
  private readonly fast: boolean;
  private readonly offset: number;
  private lastSecond = -1;
  private secondDigits: Uint8Array = new Uint8Array(0);
  constructor(
    private readonly clock: CtfClockClass,
    private readonly toNs: (clock: CtfClockClass, cycles: number | bigint) => bigint,
  ) {
    this.offset = Number(clock.offset);
    this.fast = clock.freq === 1_000_000_000n && clock.offsetS >= 0n && Number.isSafeInteger(this.offset);
  }
  write(cycles: number | bigint, o: LineBuffer): void {
    if (this.fast && typeof cycles === 'number') {
      const c = cycles + this.offset;
      if (c >= 0 && Number.isSafeInteger(c)) {
        const s = Math.floor(c / 1e9);
        if (s !== this.lastSecond) {
          this.lastSecond = s;
          this.secondDigits = utf8Bytes((this.clock.offsetS + BigInt(s)).toString());
        }
        o.byte(91);
        o.bytes(this.secondDigits);
        o.byte(46);
        o.nine(c - s * 1e9);
        o.byte(93);
        o.byte(32);
        return;
      }
    }
    o.ascii(`[${formatSeconds(this.toNs(this.clock, cycles))}] `);
  }
}
