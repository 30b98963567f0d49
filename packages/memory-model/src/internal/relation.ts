/**
 * Binary relations over the events of one candidate execution, as bit matrices (one row of
 * 32-bit words per event): the cat language's operators (`|`, `&`, `\`, `;`, `^-1`, `+`, `*`,
 * `?`, `[S]`) for the LKMM check. Immutable: every operator returns a new relation.
 */
export class Rel {
  /** rows[i * w + k]: bit j of word k says (i, j) is in the relation. Written only while building. */
  readonly rows: Uint32Array;
  readonly w: number;

  constructor(
    readonly n: number,
    rows?: Uint32Array,
  ) {
    this.w = (n + 31) >>> 5 || 1;
    this.rows = rows ?? new Uint32Array(n * this.w);
  }

  static empty(n: number): Rel {
    return new Rel(n);
  }

  static id(n: number): Rel {
    const r = new Rel(n);
    for (let i = 0; i < n; i++) r.add(i, i);
    return r;
  }

  /** [S]: the identity restricted to a set. */
  static ofSet(n: number, s: EvSet): Rel {
    const r = new Rel(n);
    for (let i = 0; i < n; i++) if (s.has(i)) r.add(i, i);
    return r;
  }

  /** Only while building a relation. */
  add(i: number, j: number): void {
    this.rows[i * this.w + (j >>> 5)]! |= 1 << (j & 31);
  }

  has(i: number, j: number): boolean {
    return (this.rows[i * this.w + (j >>> 5)]! & (1 << (j & 31))) !== 0;
  }

  union(...others: Rel[]): Rel {
    const out = new Uint32Array(this.rows);
    for (const o of others) for (let k = 0; k < out.length; k++) out[k]! |= o.rows[k]!;
    return new Rel(this.n, out);
  }

  inter(o: Rel): Rel {
    const out = new Uint32Array(this.rows);
    for (let k = 0; k < out.length; k++) out[k]! &= o.rows[k]!;
    return new Rel(this.n, out);
  }

  minus(o: Rel): Rel {
    const out = new Uint32Array(this.rows);
    for (let k = 0; k < out.length; k++) out[k]! &= ~o.rows[k]!;
    return new Rel(this.n, out);
  }

  /** this ; o */
  seq(o: Rel): Rel {
    const { n, w } = this;
    const out = new Uint32Array(n * w);
    for (let i = 0; i < n; i++) {
      const base = i * w;
      for (let k = 0; k < w; k++) {
        let word = this.rows[base + k]!;
        while (word !== 0) {
          const bit = 31 - Math.clz32(word & -word);
          word &= word - 1;
          const j = (k << 5) + bit;
          const ob = j * w;
          for (let q = 0; q < w; q++) out[base + q]! |= o.rows[ob + q]!;
        }
      }
    }
    return new Rel(n, out);
  }

  inverse(): Rel {
    const r = new Rel(this.n);
    for (let i = 0; i < this.n; i++) for (let j = 0; j < this.n; j++) if (this.has(i, j)) r.add(j, i);
    return r;
  }

  /** r+ (Warshall over bit rows). */
  plus(): Rel {
    const { n, w } = this;
    const out = new Uint32Array(this.rows);
    for (let k = 0; k < n; k++) {
      const kb = k * w;
      const kw = k >>> 5;
      const km = 1 << (k & 31);
      for (let i = 0; i < n; i++) {
        if ((out[i * w + kw]! & km) === 0) continue;
        const ib = i * w;
        for (let q = 0; q < w; q++) out[ib + q]! |= out[kb + q]!;
      }
    }
    return new Rel(n, out);
  }

  /** r* */
  star(): Rel {
    return this.plus().union(Rel.id(this.n));
  }

  /** r? */
  opt(): Rel {
    return this.union(Rel.id(this.n));
  }

  /** [S] ; r ; [T] (null: no restriction on that side). */
  restrict(dom: EvSet | null, ran: EvSet | null): Rel {
    const { n, w } = this;
    const out = new Uint32Array(this.rows);
    for (let i = 0; i < n; i++) {
      const base = i * w;
      if (dom !== null && !dom.has(i)) {
        for (let q = 0; q < w; q++) out[base + q] = 0;
        continue;
      }
      if (ran !== null) for (let q = 0; q < w; q++) out[base + q]! &= ran.words[q]!;
    }
    return new Rel(n, out);
  }

  isEmpty(): boolean {
    for (let k = 0; k < this.rows.length; k++) if (this.rows[k] !== 0) return false;
    return true;
  }

  irreflexive(): boolean {
    for (let i = 0; i < this.n; i++) if (this.has(i, i)) return false;
    return true;
  }

  acyclic(): boolean {
    return this.plus().irreflexive();
  }

  equals(o: Rel): boolean {
    for (let k = 0; k < this.rows.length; k++) if (this.rows[k] !== o.rows[k]) return false;
    return true;
  }
}

/** A set of events as a bit vector. */
export class EvSet {
  readonly words: Uint32Array;
  constructor(
    readonly n: number,
    words?: Uint32Array,
  ) {
    this.words = words ?? new Uint32Array((n + 31) >>> 5 || 1);
  }
  static of(n: number, pred: (i: number) => boolean): EvSet {
    const s = new EvSet(n);
    for (let i = 0; i < n; i++) if (pred(i)) s.words[i >>> 5]! |= 1 << (i & 31);
    return s;
  }
  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
  union(o: EvSet): EvSet {
    const out = new Uint32Array(this.words);
    for (let k = 0; k < out.length; k++) out[k]! |= o.words[k]!;
    return new EvSet(this.n, out);
  }
  minus(o: EvSet): EvSet {
    const out = new Uint32Array(this.words);
    for (let k = 0; k < out.length; k++) out[k]! &= ~o.words[k]!;
    return new EvSet(this.n, out);
  }
  inter(o: EvSet): EvSet {
    const out = new Uint32Array(this.words);
    for (let k = 0; k < out.length; k++) out[k]! &= o.words[k]!;
    return new EvSet(this.n, out);
  }
}
