/**
 * Decoders compiled from TSDL types: each type becomes a closure that reads one value at the
 * cursor of a {@link BitCursor}, aligned as CTF requires (alignment is relative to the packet
 * start). Compiling once per type keeps the per-event work to closure calls and DataView
 * reads: no type inspection while decoding.
 */
import type { TsdlEnum, TsdlInteger, TsdlType } from './tsdl.js';

/** A decoded value: integers beyond 2^53 in magnitude are bigints. */
export type CtfValue = number | bigint | string | CtfEnumValue | CtfVariantValue | readonly CtfValue[] | CtfStruct;

/** A decoded variant: the option its tag selected and that option's value. */
export class CtfVariantValue {
  constructor(
    readonly option: string,
    readonly value: CtfValue,
  ) {}
}

/** A decoded struct (or the selected option of a variant, under its option name). */
export interface CtfStruct {
  readonly [field: string]: CtfValue;
}

/** A decoded enum: the container's integer and the labels whose ranges hold it. */
export class CtfEnumValue {
  constructor(
    readonly value: number | bigint,
    /** Every matching label, in declaration order; empty when none matches. */
    readonly labels: readonly string[],
  ) {}
  /** The first matching label, or undefined. */
  get label(): string | undefined {
    return this.labels[0];
  }
  toJSON(): { value: number | string; label: string | null } {
    return { value: typeof this.value === 'bigint' ? this.value.toString() : this.value, label: this.label ?? null };
  }
}

/** Thrown inside decoding when a read would pass the end of the readable bytes. */
export class OutOfData extends Error {
  constructor(readonly bitPos: number) {
    super('out of data');
  }
}

/** Thrown inside decoding for a value that cannot be decoded (bad length, unknown variant tag). */
export class BadData extends Error {}

const TWO32 = 4294967296;

/**
 * The read position in one stream file. Positions are in bits from `base` (the start of the
 * current packet, a byte offset in `bytes`), as CTF alignment is relative to the packet.
 * `limit` is the end of the readable content in bits from `base`.
 * Guarded by: single-threaded use by one stream's decode loop.
 */
export class BitCursor {
  bytes: Uint8Array;
  dv: DataView;
  base = 0;
  pos = 0;
  limit = 0;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Points the cursor at another buffer (the streaming reader's window after a refill or growth). */
  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  align(bits: number): void {
    if (bits > 1) {
      const r = this.pos % bits;
      if (r !== 0) this.pos += bits - r;
    }
  }
  /** The byte index of the cursor (which must be on a byte boundary) after checking `bits` more are readable. */
  take(bits: number): number {
    const p = this.pos;
    if (p + bits > this.limit) throw new OutOfData(p);
    this.pos = p + bits;
    return this.base + p / 8;
  }
}

/** Where decoded fields can be looked up by a variant tag or a sequence length. */
export interface DecodeScope {
  /** The structs being decoded, outermost first. */
  readonly stack: CtfStruct[];
  /** Finished root scopes by name (`trace.packet.header`, `stream.event.header`...). */
  readonly roots: Record<string, CtfStruct | undefined>;
}

export type Decoder = (c: BitCursor, s: DecodeScope) => CtfValue;

/** A hook run on an integer's value as it is decoded (clock updates, the event id). */
export type IntSink = (value: number | bigint, size: number) => void;

/** What compilation needs to know about the surroundings of a type. */
export interface CompileEnv {
  readonly traceByteOrder: 'le' | 'be';
  /** The root scope being compiled (`stream.event.header`...), for absolute paths and errors. */
  readonly root: string;
  /** Roots already decoded when this one is, in the order CTF defines them. */
  readonly earlierRoots: readonly { readonly name: string; readonly type: TsdlType | undefined }[];
  /** A sink for an integer field, by its path from the root (`id`, `v.timestamp`), or undefined. */
  sink(path: readonly string[], type: TsdlInteger): IntSink | undefined;
  /** A metadata error (a reference that does not resolve). */
  fail(message: string): never;
}

/** babeltrace2 shows `_name` as `name` (CTF 1.8: a leading underscore escapes keywords). */
export function displayName(name: string): string {
  return name.charCodeAt(0) === 95 ? name.slice(1) : name;
}

// ---- integers ------------------------------------------------------------------------------

/** Reads `size` bits at the cursor (any alignment) as an unsigned number or bigint. */
function readBitsUnsigned(c: BitCursor, size: number, le: boolean): number | bigint {
  const start = c.pos;
  if (start + size > c.limit) throw new OutOfData(start);
  c.pos = start + size;
  const bitOff = start % 8;
  const first = c.base + (start - bitOff) / 8;
  const nbytes = Math.ceil((bitOff + size) / 8);
  const b = c.bytes;
  if (nbytes <= 6) {
    // Fits in 48 bits: plain number arithmetic is exact.
    let v = 0;
    if (le) {
      for (let k = nbytes - 1; k >= 0; k--) v = v * 256 + b[first + k]!;
      v = Math.floor(v / 2 ** bitOff);
    } else {
      for (let k = 0; k < nbytes; k++) v = v * 256 + b[first + k]!;
      v = Math.floor(v / 2 ** (nbytes * 8 - bitOff - size));
    }
    return v % 2 ** size;
  }
  let v = 0n;
  if (le) {
    for (let k = nbytes - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[first + k]!);
    v >>= BigInt(bitOff);
  } else {
    for (let k = 0; k < nbytes; k++) v = (v << 8n) | BigInt(b[first + k]!);
    v >>= BigInt(nbytes * 8 - bitOff - size);
  }
  v &= (1n << BigInt(size)) - 1n;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function toSigned(v: number | bigint, size: number): number | bigint {
  if (typeof v === 'number') return v >= 2 ** (size - 1) ? v - 2 ** size : v;
  const s = BigInt.asIntN(size, v);
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
}

/**
 * A struct's decoder as one generated function whose stores name each field
 * (`obj["prev_tid"] = d1(c, s)`): every object of a struct class then gets the same hidden
 * class through monomorphic stores, where the generic loop's `obj[names[k]]` store is
 * megamorphic (about a quarter of the decode time of a 300,000-event trace). The names come
 * from the metadata, so they are only ever string literals made by `JSON.stringify`;
 * `__proto__` (which a store would take for the prototype) keeps the generic loop. Undefined
 * where code cannot be generated (a page whose CSP forbids it): the caller uses the loop.
 */
function structDecoder(names: readonly string[], decs: readonly Decoder[], align: number): Decoder | undefined {
  if (names.includes('__proto__')) return undefined;
  const lines = ['return function struct(c, s) {', `  c.align(${align});`, '  const obj = {};', '  s.stack.push(obj);'];
  for (let k = 0; k < names.length; k++) lines.push(`  obj[${JSON.stringify(names[k])}] = d${k}(c, s);`);
  lines.push('  s.stack.pop();', '  return obj;', '};');
  try {
    const make = new Function(...decs.map((_, k) => `d${k}`), lines.join('\n')) as (...d: Decoder[]) => Decoder;
    return make(...decs);
  } catch {
    return undefined;
  }
}

/** An integer reader: byte-aligned power-of-two sizes go through DataView, the rest bit by bit. */
export function intReader(t: TsdlInteger, traceByteOrder: 'le' | 'be'): (c: BitCursor) => number | bigint {
  const le = (t.byteOrder === 'native' ? traceByteOrder : t.byteOrder) === 'le';
  const { size, signed, align } = t;
  if (align % 8 === 0 && (size === 8 || size === 16 || size === 32 || size === 64)) {
    switch (size) {
      case 8:
        return signed ? (c) => (c.align(align), c.dv.getInt8(c.take(8))) : (c) => (c.align(align), c.bytes[c.take(8)]!);
      case 16:
        return signed ? (c) => (c.align(align), c.dv.getInt16(c.take(16), le)) : (c) => (c.align(align), c.dv.getUint16(c.take(16), le));
      case 32:
        return signed ? (c) => (c.align(align), c.dv.getInt32(c.take(32), le)) : (c) => (c.align(align), c.dv.getUint32(c.take(32), le));
      default:
        return (c) => {
          c.align(align);
          const at = c.take(64);
          const hi = signed ? c.dv.getInt32(le ? at + 4 : at, le) : c.dv.getUint32(le ? at + 4 : at, le);
          const lo = c.dv.getUint32(le ? at : at + 4, le);
          // Exact as a number while |value| < 2^53.
          if (hi < 0x200000 && hi >= -0x200000) return hi * TWO32 + lo;
          return BigInt(hi) * 4294967296n + BigInt(lo);
        };
    }
  }
  return (c) => {
    c.align(align);
    const v = readBitsUnsigned(c, size, le);
    return signed ? toSigned(v, size) : v;
  };
}

/** The labels of an enum value, cached per value (the containers LTTng uses have few values). */
function enumLabeler(t: TsdlEnum): (v: number | bigint) => CtfEnumValue {
  const cache = new Map<number | bigint, CtfEnumValue>();
  return (v) => {
    let e = cache.get(v);
    if (e === undefined) {
      const big = BigInt(v);
      const labels = t.entries.filter((x) => big >= x.lo && big <= x.hi).map((x) => x.label);
      e = new CtfEnumValue(v, labels);
      if (cache.size < 4096) cache.set(v, e);
    }
    return e;
  };
}

// ---- alignment of composite types ------------------------------------------------------------

/** CTF 1.8 alignment of a type, in bits. A variant aligns as its selected option does. */
export function alignOf(t: TsdlType): number {
  switch (t.kind) {
    case 'integer':
    case 'float':
      return t.align;
    case 'string':
      return 8;
    case 'enum':
      return t.container.align;
    case 'struct':
      return t.fields.reduce((a, f) => Math.max(a, alignOf(f.type)), t.minAlign);
    case 'variant':
      return 1;
    case 'array':
    case 'sequence':
      return alignOf(t.element);
  }
}

// ---- field references ------------------------------------------------------------------------

/** How to find a referenced field at decode time. */
type Ref = { readonly up: number; readonly path: readonly string[] } | { readonly root: string; readonly path: readonly string[] };

const ABSOLUTE_ROOTS = ['trace.packet.header', 'stream.packet.context', 'stream.event.header', 'stream.event.context', 'event.context', 'event.fields'];

function fieldOf(t: TsdlType | undefined, name: string): TsdlType | undefined {
  if (t === undefined) return undefined;
  if (t.kind === 'struct') return t.fields.find((f) => f.name === name)?.type;
  return undefined;
}

function followPath(t: TsdlType | undefined, path: readonly string[]): TsdlType | undefined {
  let cur = t;
  for (const p of path) cur = fieldOf(cur, p);
  return cur;
}

/** Compile-time view of the structs enclosing a field: their fields declared so far. */
interface Frame {
  readonly declared: { name: string; type: TsdlType }[];
}

function resolveRef(ref: string, frames: readonly Frame[], env: CompileEnv): { ref: Ref; type: TsdlType } {
  for (const root of ABSOLUTE_ROOTS) {
    if (ref.startsWith(root + '.')) {
      const path = ref.slice(root.length + 1).split('.');
      const rootType = root === env.root ? undefined : env.earlierRoots.find((r) => r.name === root)?.type;
      if (root === env.root) {
        // An absolute path into the scope being decoded: the outermost frame.
        const [head, ...rest] = path;
        const f = frames[0]?.declared.find((d) => d.name === head);
        const type = f === undefined ? undefined : followPath(f.type, rest);
        if (type !== undefined) return { ref: { up: frames.length - 1, path: path.map(displayName) }, type };
      } else {
        const type = followPath(rootType, path);
        if (type !== undefined) return { ref: { root, path: path.map(displayName) }, type };
      }
      return env.fail(`${env.root}: the field ${ref} does not exist (or is declared after its use)`);
    }
  }
  // Relative: the innermost enclosing struct that declares the first name, then outwards;
  // then the earlier roots, nearest first (CTF 1.8 section 7.3.2).
  const [head, ...rest] = ref.split('.');
  for (let k = frames.length - 1; k >= 0; k--) {
    const f = frames[k]!.declared.find((d) => d.name === head);
    if (f !== undefined) {
      const type = followPath(f.type, rest);
      if (type === undefined) return env.fail(`${env.root}: the field ${ref} does not exist`);
      return { ref: { up: frames.length - 1 - k, path: [head!, ...rest].map(displayName) }, type };
    }
  }
  for (let k = env.earlierRoots.length - 1; k >= 0; k--) {
    const r = env.earlierRoots[k]!;
    const type = followPath(r.type, [head!, ...rest]);
    if (type !== undefined) return { ref: { root: r.name, path: [head!, ...rest].map(displayName) }, type };
  }
  return env.fail(`${env.root}: the field ${ref} (a sequence length or variant tag) is not declared before its use`);
}

function refGetter(ref: Ref): (s: DecodeScope) => CtfValue | undefined {
  const path = ref.path;
  return 'up' in ref
    ? (s) => {
        let v: CtfValue | undefined = s.stack[s.stack.length - 1 - ref.up];
        for (let k = 0; k < path.length && v !== undefined; k++) v = (v as CtfStruct)[path[k]!];
        return v;
      }
    : (s) => {
        let v: CtfValue | undefined = s.roots[ref.root];
        for (let k = 0; k < path.length && v !== undefined; k++) v = (v as CtfStruct)[path[k]!];
        return v;
      };
}

// ---- compilation -----------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8');

/** Bytes [from, to) as a string; short ASCII runs skip the TextDecoder call. */
export function decodeText(b: Uint8Array, from: number, to: number): string {
  if (to - from <= 32) {
    let s = '';
    for (let k = from; k < to; k++) {
      const ch = b[k]!;
      if (ch >= 0x80) return utf8.decode(b.subarray(from, to));
      s += String.fromCharCode(ch);
    }
    return s;
  }
  return utf8.decode(b.subarray(from, to));
}

function isTextElement(t: TsdlType): boolean {
  return t.kind === 'integer' && t.size === 8 && t.encoding !== 'none';
}

/** Compiles a root type (a scope such as `stream.event.header`) into a decoder. */
export function compileRoot(t: TsdlType, env: CompileEnv): Decoder {
  return compile(t, env, [], []);
}

function compile(t: TsdlType, env: CompileEnv, frames: Frame[], path: readonly string[]): Decoder {
  switch (t.kind) {
    case 'integer': {
      const read = intReader(t, env.traceByteOrder);
      const sink = env.sink(path, t);
      if (sink === undefined) return read;
      const size = t.size;
      return (c) => {
        const v = read(c);
        sink(v, size);
        return v;
      };
    }
    case 'enum': {
      const read = intReader(t.container, env.traceByteOrder);
      const label = enumLabeler(t);
      const sink = env.sink(path, t.container);
      const size = t.container.size;
      return (c) => {
        const v = read(c);
        if (sink !== undefined) sink(v, size);
        return label(v);
      };
    }
    case 'float': {
      const le = (t.byteOrder === 'native' ? env.traceByteOrder : t.byteOrder) === 'le';
      const align = t.align;
      if (t.expDig + t.mantDig === 32) {
        return (c) => {
          c.align(align);
          if (c.pos % 8 !== 0) throw new BadData('a floating point value that is not byte-aligned');
          return c.dv.getFloat32(c.take(32), le);
        };
      }
      return (c) => {
        c.align(align);
        if (c.pos % 8 !== 0) throw new BadData('a floating point value that is not byte-aligned');
        return c.dv.getFloat64(c.take(64), le);
      };
    }
    case 'string':
      return (c) => {
        c.align(8);
        const b = c.bytes;
        const from = c.base + c.pos / 8;
        const end = c.base + c.limit / 8;
        let k = from;
        while (k < end && b[k] !== 0) k++;
        if (k >= end) throw new OutOfData(c.pos);
        c.pos += (k - from + 1) * 8;
        return decodeText(b, from, k);
      };
    case 'struct': {
      const frame: Frame = { declared: [] };
      const inner = [...frames, frame];
      const names: string[] = [];
      const decs: Decoder[] = [];
      for (const f of t.fields) {
        decs.push(compile(f.type, env, inner, [...path, f.name]));
        names.push(displayName(f.name));
        frame.declared.push({ name: f.name, type: f.type });
      }
      const align = alignOf(t);
      const n = decs.length;
      const fast = structDecoder(names, decs, align);
      if (fast !== undefined) return fast;
      return (c, s) => {
        c.align(align);
        const obj: Record<string, CtfValue> = {};
        // The stack is reset by the event loop after a decode error: no try/finally here.
        s.stack.push(obj);
        for (let k = 0; k < n; k++) obj[names[k]!] = decs[k]!(c, s);
        s.stack.pop();
        return obj;
      };
    }
    case 'variant': {
      if (t.tag === undefined) return env.fail(`${env.root}: a variant without a tag (${path.join('.')})`);
      const { ref, type: tagType } = resolveRef(t.tag, frames, env);
      if (tagType.kind !== 'enum') return env.fail(`${env.root}: the variant tag ${t.tag} is not an enum`);
      const get = refGetter(ref);
      const byLabel = new Map<string, { name: string; dec: Decoder }>();
      // Options are looked up by the tag's label, with or without the escaping underscore.
      for (const o of t.options) byLabel.set(o.name, { name: displayName(o.name), dec: compile(o.type, env, frames, [...path, o.name]) });
      const tagName = t.tag;
      return (c, s) => {
        const tag = get(s);
        const labels = tag instanceof CtfEnumValue ? tag.labels : [];
        for (let k = 0; k < labels.length; k++) {
          const o = byLabel.get(labels[k]!) ?? byLabel.get('_' + labels[k]!);
          if (o !== undefined) return new CtfVariantValue(o.name, o.dec(c, s));
        }
        throw new BadData(`the variant tag ${tagName} = ${tag instanceof CtfEnumValue ? String(tag.value) : String(tag)} selects no option`);
      };
    }
    case 'array':
    case 'sequence': {
      let lengthOf: (s: DecodeScope) => number;
      if (t.kind === 'array') {
        const n = t.length;
        lengthOf = () => n;
      } else {
        const { ref, type: lenType } = resolveRef(t.lengthRef, frames, env);
        if (lenType.kind !== 'integer' && lenType.kind !== 'enum') return env.fail(`${env.root}: the sequence length ${t.lengthRef} is not an integer`);
        const get = refGetter(ref);
        const what = t.lengthRef;
        lengthOf = (s) => {
          const v = get(s);
          const n = typeof v === 'number' ? v : v instanceof CtfEnumValue ? Number(v.value) : Number(v);
          if (!Number.isSafeInteger(n) || n < 0) throw new BadData(`the sequence length ${what} = ${String(v)} is not a length`);
          return n;
        };
      }
      const align = alignOf(t.element);
      if (isTextElement(t.element)) {
        // A char array or sequence with an encoding is text, up to its first NUL.
        return (c, s) => {
          const n = lengthOf(s);
          c.align(align);
          const from = c.base + c.pos / 8;
          if (c.pos + n * 8 > c.limit) throw new OutOfData(c.pos);
          c.pos += n * 8;
          const b = c.bytes;
          let k = from;
          const end = from + n;
          while (k < end && b[k] !== 0) k++;
          return decodeText(b, from, k);
        };
      }
      const el = compile(t.element, env, frames, [...path, '[]']);
      return (c, s) => {
        const n = lengthOf(s);
        c.align(align);
        // A length beyond the packet is damage, not a huge allocation.
        if (c.pos + n > c.limit) throw new OutOfData(c.pos);
        const out: CtfValue[] = new Array<CtfValue>(n);
        for (let k = 0; k < n; k++) out[k] = el(c, s);
        return out;
      };
    }
  }
}

export { TWO32 };
