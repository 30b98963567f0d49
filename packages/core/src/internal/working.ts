import type { IntMap, IntMapNode } from '../int-map.js';

/**
 * The store's working state is mutable: the core's reducers write it in place. What is handed
 * out (`kernel.state`, `state$`, `select`, `stateAt`) is an immutable snapshot of it, made on
 * demand (`snapshotOf`). Two rules make that cheap and safe:
 *
 * - **Frozen means shared.** An object in the working state that is frozen belongs to some
 *   snapshot and is never written: a reducer that needs to change it copies it first (once, the
 *   copy is not frozen) and links the copy in its parent. An object that is not frozen was made
 *   since the last snapshot and is the working state's alone: it is written in place. Only a
 *   non-frozen object can hold one, so a snapshot freezes exactly the non-frozen objects
 *   reachable from the root, walking only into those.
 * - **A working object has one parent.** Two places may share an object only once it is frozen
 *   (fork's copy of an address space freezes the page and data maps it shares).
 * - **Every write while a checkpoint is open goes through the journal**, as (object, key,
 *   previous value). Rolling back an oopsed step segment undoes the writes in reverse; it never
 *   meets a frozen object, because a snapshot taken while the journal holds entries copies the
 *   working objects instead of freezing them (`frozenCopy`).
 */

/** A key that was absent before the write: undo deletes it. */
const ABSENT: unique symbol = Symbol('absent');

type Slot = Record<string | number, unknown>;

/**
 * The undo journal: flat triples (object, key, previous value or ABSENT). Written by the
 * reducers through `set`/`setKey`/`removeKey` while `on` (a checkpoint is open: the store turns it
 * on at `checkpoint()` and off, emptied, at `flush()`, when nothing can be rolled back any more);
 * read only by `undo`. Single-threaded, owned by one EventStore.
 */
export class Journal {
  on = false;
  readonly entries: unknown[] = [];

  /** Writes a field that always exists (a record's declared field, an array slot in range). */
  set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K]): void {
    if (this.on) this.entries.push(obj, key, obj[key]);
    obj[key] = value;
  }

  /** Writes a key of a record that may not have it yet (locks, modules, plugin slices). */
  setKey(obj: object, key: string, value: unknown): void {
    const o = obj as Slot;
    if (this.on) this.entries.push(o, key, key in o ? o[key] : ABSENT);
    o[key] = value;
  }

  removeKey(obj: object, key: string): void {
    const o = obj as Slot;
    if (!(key in o)) return;
    if (this.on) this.entries.push(o, key, o[key]);
    delete o[key];
  }

  get length(): number {
    return this.entries.length;
  }

  /** Undoes every write after position `to` (a `length` read earlier), newest first. */
  undo(to: number): void {
    const e = this.entries;
    for (let i = e.length - 3; i >= to; i -= 3) {
      const o = e[i] as Slot;
      const k = e[i + 1] as string;
      const v = e[i + 2];
      if (v === ABSENT) delete o[k];
      else o[k] = v;
    }
    e.length = to;
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/** `parent[key]`, made writable: a frozen value is replaced by a shallow copy first. */
export function own<T extends object>(j: Journal, parent: object, key: string): T {
  const p = parent as Slot;
  const v = p[key] as T;
  if (!Object.isFrozen(v)) return v;
  const copy = (Array.isArray(v) ? [...v] : { ...v }) as T;
  j.set(p, key, copy);
  return copy;
}

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
type Node = Array<unknown>;

function emptyNode(): Node {
  return new Array<unknown>(WIDTH).fill(null);
}

/**
 * Sets (`value` non-null) or removes (`null`) `key` in the IntMap at `parent[field]`, in place:
 * frozen nodes on the path are copied once, the rest written through the journal. The map's
 * shape is the persistent IntMap's (int-map.ts), so every reader works on both.
 */
export function mapPut<V>(j: Journal, parent: object, field: string, key: number, value: V | null): void {
  if (!Number.isInteger(key) || key < 0) throw new RangeError(`IntMap keys are non-negative integers, got ${key}`);
  const cur = (parent as Slot)[field] as IntMap<V>;
  if (value === null && key >= 32 ** cur.depth) return;
  let m = cur as unknown as { size: number; depth: number; root: Node };
  if (Object.isFrozen(m)) {
    // Field by field: spreading a frozen object is slow on Node 20 (reducers.ts).
    m = { size: cur.size, depth: cur.depth, root: cur.root as Node };
    j.set(parent as Slot, field, m);
  }
  while (key >= 32 ** m.depth) {
    const root = emptyNode();
    root[0] = m.root;
    j.set(m, 'root', root);
    j.set(m, 'depth', m.depth + 1);
  }
  let node = own<Node>(j, m, 'root');
  for (let level = m.depth - 1; level > 0; level--) {
    const idx = (key >>> (level * BITS)) & MASK;
    const child = node[idx] as Node | null;
    if (child === null) {
      if (value === null) return;
      const fresh = emptyNode();
      j.set(node, idx, fresh);
      node = fresh;
    } else {
      node = Object.isFrozen(child) ? own<Node>(j, node, String(idx)) : child;
    }
  }
  const slot = key & MASK;
  const old = node[slot] as V | null;
  if (old === value) return;
  j.set(node, slot, value);
  const delta = (value !== null ? 1 : 0) - (old !== null ? 1 : 0);
  if (delta !== 0) j.set(m, 'size', m.size + delta);
}

/** Freezes `v` and every non-frozen object under it: a frozen object's children are frozen already. */
export function freezeWorking(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) freezeWorking(v[i]);
  } else {
    for (const k in v) freezeWorking((v as Slot)[k]);
  }
}

/** A frozen copy of `v`: frozen parts shared, non-frozen (working) objects copied; `v` is untouched. */
export function frozenCopy<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = frozenCopy(v[i]);
    return Object.freeze(out) as T;
  }
  const out: Slot = {};
  for (const k in v) out[k] = frozenCopy((v as Slot)[k]);
  return Object.freeze(out) as T;
}

export type { IntMapNode };
