/**
 * A growable byte buffer that text is written into as ASCII digits and bytes, with no
 * intermediate strings: the output side of the CTF reader's text path (`CtfEventStream.writeText`).
 */

/**
 * Bytes written so far are `buf[0, pos)`; the buffer doubles when a write would pass its end.
 * Guarded by: single-threaded use by its one owner (a stream reader's packet, or the merge's
 * output chunk).
 */
export class LineBuffer {
  buf: Buffer;
  pos = 0;
  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  /** Bytes of `src[from, to)`. */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const b = this.buf;
    const p = this.pos;
    // Short runs (names, prefixes, most lines) cost less as a loop than as a native call.
    if (n <= 128) for (let k = 0; k < n; k++) b[p + k] = src[from + k]!;
    else b.set(src.subarray(from, to), p);
    this.pos = p + n;
  }
  /** All of `src`. */
  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }
  /** A string known to be ASCII (digits, `0x`, C's `%g`, field names checked at compile time). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    for (let k = 0; k < n; k++) b[p++] = s.charCodeAt(k);
    this.pos = p;
  }
  /** Any string, as UTF-8. */
  utf8(s: string): void {
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  /** A safe integer (`|n| < 2^53`) in decimal, as `String(n)` prints it. */
  int(n: number): void {
    this.ensure(17);
    const b = this.buf;
    if (n < 0) {
      b[this.pos++] = 45;
      n = -n;
    }
    if (n < 10) {
      b[this.pos++] = 48 + n;
      return;
    }
    if (n >= 4294967296) {
      this.ascii(String(n));
      return;
    }
    // Below 2^32: integer division by `>>> 0`, the digits written from the last.
    let len = 2;
    for (let t = (n / 100) >>> 0; t > 0; t = (t / 10) >>> 0) len++;
    let p = this.pos + len;
    this.pos = p;
    while (n >= 10) {
      const q = (n / 10) >>> 0;
      b[--p] = 48 + n - q * 10;
      n = q;
    }
    b[--p] = 48 + n;
  }
  /** A non-negative safe integer in upper-case hexadecimal (no prefix). */
  hex(n: number): void {
    if (n >= 4294967296) {
      this.ascii(n.toString(16).toUpperCase());
      return;
    }
    this.ensure(8);
    const b = this.buf;
    let len = 1;
    for (let t = n >>> 4; t > 0; t >>>= 4) len++;
    let p = this.pos + len;
    this.pos = p;
    let v = n >>> 0;
    do {
      const d = v & 15;
      b[--p] = d < 10 ? 48 + d : 55 + d;
      v >>>= 4;
    } while (v > 0);
  }
  /** `n` (0 to 999,999,999) as exactly nine digits, zero-padded. */
  nine(n: number): void {
    this.ensure(9);
    const b = this.buf;
    let p = this.pos + 9;
    this.pos = p;
    for (let k = 0; k < 9; k++) {
      const q = (n / 10) >>> 0;
      b[--p] = 48 + n - q * 10;
      n = q;
    }
  }
}

/** The UTF-8 bytes of a string, for constant pieces written many times. */
export function utf8Bytes(s: string): Uint8Array {
  return Buffer.from(s, 'utf8');
}
