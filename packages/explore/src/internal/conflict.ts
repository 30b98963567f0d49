import type { StepFootprint } from '@tracelab/core';

/**
 * The race analysis's conflict test, compiled (issue 20, docs/explore.md §4a "Race analysis
 * cost"). The core's `footprintsConflict` compares object names pairwise as strings; DPOR asks
 * it about a thousand times per step on long runs. Here each footprint is compiled once (cached
 * per footprint object) into sorted lists of small integers, one per object name, with a 32-bit
 * filter per list, so that a test is a few AND operations and, when a filter says "maybe", a
 * merge of short integer lists. The answer is `footprintsConflict`'s, exactly (the tests compare
 * the two on a generated corpus):
 *
 * - two names are the same object when they are equal, or when they are of one family (the text
 *   before the first `:`) and one of them ends in `:*` (that family's wildcard);
 * - two steps conflict when either read the clock, when their writes meet (an object both wrote,
 *   unless both only updated it commutatively: `StepFootprint.updates`; with a wildcard, any
 *   other object of its family), when one's writes meet the other's reads, or when both write
 *   what one owner's checks observe (`observed` as a list per owner; each side's precomputed
 *   `observedMask`, a bit per owner).
 */

/** A footprint compiled against one `ConflictIndex`. Immutable once made. */
export interface CompiledFootprint {
  readonly clock: boolean;
  /** Object ids written, sorted ascending (no duplicates). */
  readonly w: IdList;
  /** The ids of `w` written plainly (not a commutative update: not in `updates`), sorted. */
  readonly p: IdList;
  /** Object ids read, sorted. */
  readonly r: IdList;
  /** The wildcard (`<family>:*`) ids of `w` and of `r`. */
  readonly ww: IdList;
  readonly rw: IdList;
  /** Filters: bit (id & 31) of each id of `w`, `p`, `r`; bit (family & 31) of each id's family, and of each wildcard's. */
  readonly wBits: number;
  readonly pBits: number;
  readonly rBits: number;
  readonly wFam: number;
  readonly rFam: number;
  readonly wWild: number;
  readonly rWild: number;
}

/** A list of object ids, ascending, without duplicates (plain arrays: cheaper to make than typed ones for a few ids). */
type IdList = readonly number[];

const EMPTY: IdList = [];

/** Whether two ascending id lists share an id. */
function intersects(a: IdList, b: IdList): boolean {
  let i = 0;
  let j = 0;
  const n = a.length;
  const m = b.length;
  while (i < n && j < m) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) return true;
    if (x < y) i++;
    else j++;
  }
  return false;
}

/**
 * Object names interned to ids, and footprints compiled against them. One per search (a `Dpor`):
 * its tables grow with the names the search meets and go with it. Written only by `id` and `of`,
 * in the exploring thread.
 */
export class ConflictIndex {
  private readonly ids = new Map<string, number>();
  private readonly families = new Map<string, number>();
  /** fam[id]: the id of the object's family, or -1 for a name without `:` (no family). */
  private readonly fam: number[] = [];
  /** wild[id]: the name ends in `:*` (its family's wildcard). */
  private readonly wild: boolean[] = [];
  private readonly cache = new WeakMap<StepFootprint, CompiledFootprint>();

  /** The id of an object name (interned on first sight). */
  id(name: string): number {
    let id = this.ids.get(name);
    if (id !== undefined) return id;
    id = this.fam.length;
    this.ids.set(name, id);
    const colon = name.indexOf(':');
    let f = -1;
    if (colon >= 0) {
      const head = name.slice(0, colon);
      f = this.families.get(head) ?? -1;
      if (f < 0) this.families.set(head, (f = this.families.size));
    }
    this.fam.push(f);
    this.wild.push(colon >= 0 && name.endsWith(':*'));
    return id;
  }

  /** `fp` compiled (once per footprint object). */
  of(fp: StepFootprint): CompiledFootprint {
    let c = this.cache.get(fp);
    if (c === undefined) {
      c = this.compile(fp);
      this.cache.set(fp, c);
    }
    return c;
  }

  /** `fp` compiled afresh, not cached (for a footprint made for one test). */
  compile(fp: Pick<StepFootprint, 'reads' | 'writes' | 'updates' | 'clockRead'>): CompiledFootprint {
    const w = this.list(fp.writes);
    const r = this.list(fp.reads);
    let p = w;
    const updates = fp.updates;
    if (updates !== undefined && updates.length > 0) {
      const upd = new Set<number>();
      for (const o of updates) upd.add(this.id(o));
      p = w.filter((x) => !upd.has(x));
    }
    const ww = this.wilds(w);
    const rw = this.wilds(r);
    return {
      clock: fp.clockRead,
      w,
      p,
      r,
      ww,
      rw,
      wBits: this.bits(w),
      pBits: this.bits(p),
      rBits: this.bits(r),
      wFam: this.famBits(w),
      rFam: this.famBits(r),
      wWild: this.famBits(ww),
      rWild: this.famBits(rw),
    };
  }

  private list(names: readonly string[]): IdList {
    if (names.length === 0) return EMPTY;
    // Insertion sort (a footprint names a few objects), dropping a repeated name (a footprint
    // made by hand may repeat one).
    const out: number[] = [];
    for (let k = 0; k < names.length; k++) {
      const x = this.id(names[k]!);
      let at = out.length;
      while (at > 0 && out[at - 1]! > x) at--;
      if (at > 0 && out[at - 1] === x) continue;
      out.push(x);
      for (let m = out.length - 1; m > at; m--) out[m] = out[m - 1]!;
      out[at] = x;
    }
    return out;
  }

  /** The wildcards of `ids` (the shared empty list when none). */
  private wilds(ids: IdList): IdList {
    let n = 0;
    for (let k = 0; k < ids.length; k++) if (this.wild[ids[k]!]!) n++;
    return n === 0 ? EMPTY : ids.filter((x) => this.wild[x]!);
  }

  private bits(ids: IdList): number {
    let b = 0;
    for (let k = 0; k < ids.length; k++) b |= 1 << (ids[k]! & 31);
    return b;
  }

  private famBits(ids: IdList): number {
    let b = 0;
    for (let k = 0; k < ids.length; k++) {
      const f = this.fam[ids[k]!]!;
      if (f >= 0) b |= 1 << (f & 31);
    }
    return b;
  }

  /** Whether some wildcard of `wilds` names the family of some object of `ids` (`strict`: other than itself). */
  private wildMeets(wilds: IdList, ids: IdList, strict: boolean): boolean {
    const fam = this.fam;
    for (let a = 0; a < wilds.length; a++) {
      const x = wilds[a]!;
      const f = fam[x]!;
      for (let b = 0; b < ids.length; b++) {
        const y = ids[b]!;
        if (fam[y] === f && (!strict || y !== x)) return true;
      }
    }
    return false;
  }

  /** Whether the objects `a` writes meet the objects of `ids` (`bits`, `famB`, `wildB`, `wilds`: its filters and wildcards), as the core's `meets`. */
  private writesMeetList(a: CompiledFootprint, ids: IdList, bits: number, famB: number, wildB: number, wilds: IdList): boolean {
    if ((a.wBits & bits) !== 0 && intersects(a.w, ids)) return true;
    if ((a.wWild & famB) !== 0 && this.wildMeets(a.ww, ids, false)) return true;
    return (a.wFam & wildB) !== 0 && this.wildMeets(wilds, a.w, false);
  }

  /** Whether `a` writes something of what the checks observe (`observed` compiled as reads): `observed` non-empty and meeting `a`'s writes. */
  observedHit(a: CompiledFootprint, observed: CompiledFootprint): boolean {
    return observed.r.length > 0 && this.writesMeetList(a, observed.r, observed.rBits, observed.rFam, observed.rWild, observed.rw);
  }

  /**
   * A bit per owner whose observed objects `a` writes: bit (k & 31) for `observed[k]` (owners
   * past 32 share bits, which orders more, never less). Zero when it writes none of them.
   */
  observedMask(a: CompiledFootprint, observed: readonly CompiledFootprint[]): number {
    let mask = 0;
    for (let k = 0; k < observed.length; k++) if (this.observedHit(a, observed[k]!)) mask |= 1 << (k & 31);
    return mask;
  }

  /**
   * `footprintsConflict(a, b, observed)` for compiled footprints, where `aHit` and `bHit` are
   * `observedMask` of each against the same `observed` (a list per owner).
   */
  conflict(a: CompiledFootprint, b: CompiledFootprint, aHit: number, bHit: number): boolean {
    if (a.clock || b.clock) return true;
    // Writes meeting writes: an id both wrote, plainly in one of them at least; or a wildcard
    // write and another object of its family written by the other.
    if ((a.pBits & b.wBits) !== 0 && intersects(a.p, b.w)) return true;
    if ((a.wBits & b.pBits) !== 0 && intersects(a.w, b.p)) return true;
    if ((a.wWild & b.wFam) !== 0 && this.wildMeets(a.ww, b.w, true)) return true;
    if ((a.wFam & b.wWild) !== 0 && this.wildMeets(b.ww, a.w, true)) return true;
    // Writes meeting reads, either way.
    if (this.writesMeetList(a, b.r, b.rBits, b.rFam, b.rWild, b.rw)) return true;
    if (this.writesMeetList(b, a.r, a.rBits, a.rFam, a.rWild, a.rw)) return true;
    return (aHit & bHit) !== 0;
  }
}
