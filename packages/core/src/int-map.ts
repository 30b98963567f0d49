/**
 * IntMap: a persistent map from small non-negative integers (pids, tgids) to values, laid out
 * as a 32-way trie of plain arrays so that immer copies one 32-slot array per level on an
 * update instead of a whole 100,000-entry record. That keeps the cost of an event flat as the
 * number of tasks grows (ARCHITECTURE.md 2.1).
 *
 * Read with {@link intMapGet} and friends on any state; write with {@link intMapSet} and
 * {@link intMapDelete} only on an immer draft, inside a reducer. Iteration is in key order,
 * which for pids is the order tasks were created: the kernel's task-list order.
 */
export interface IntMap<V> {
  readonly size: number;
  /** Levels below the root; capacity is 32 ** depth. */
  readonly depth: number;
  readonly root: IntMapNode<V>;
}

export type IntMapNode<V> = ReadonlyArray<IntMapNode<V> | V | null>;

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;

function emptyNode<V>(): (IntMapNode<V> | V | null)[] {
  return new Array<IntMapNode<V> | V | null>(WIDTH).fill(null);
}

export function intMapEmpty<V>(): IntMap<V> {
  return { size: 0, depth: 1, root: emptyNode<V>() };
}

// 32 ** depth for every depth a map can reach (keys are below 2 ** 53).
const CAPACITY: readonly number[] = Array.from({ length: 12 }, (_, d) => 2 ** (BITS * d));

function capacity(depth: number): number {
  return CAPACITY[depth]!;
}

export function intMapGet<V>(map: IntMap<V>, key: number): V | undefined {
  if (key < 0 || key >= capacity(map.depth)) return undefined;
  let node: IntMapNode<V> = map.root;
  for (let level = map.depth - 1; level > 0; level--) {
    const child = node[(key >>> (level * BITS)) & MASK] as IntMapNode<V> | null;
    if (child === null) return undefined;
    node = child;
  }
  const v = node[key & MASK];
  return v === null ? undefined : (v as V);
}

export function intMapHas<V>(map: IntMap<V>, key: number): boolean {
  return intMapGet(map, key) !== undefined;
}

type Mutable<V> = { size: number; depth: number; root: (IntMapNode<V> | V | null)[] };

/** Sets `key` on a draft (or a fresh, unpublished map). Never call it on published state. */
export function intMapSet<V>(draft: IntMap<V>, key: number, value: V): void {
  if (!Number.isInteger(key) || key < 0) throw new RangeError(`IntMap keys are non-negative integers, got ${key}`);
  const m = draft as unknown as Mutable<V>;
  while (key >= capacity(m.depth)) {
    const root = emptyNode<V>();
    root[0] = m.root;
    m.root = root;
    m.depth += 1;
  }
  let node = m.root;
  for (let level = m.depth - 1; level > 0; level--) {
    const idx = (key >>> (level * BITS)) & MASK;
    let child = node[idx] as (IntMapNode<V> | V | null)[] | null;
    if (child === null) {
      child = emptyNode<V>();
      node[idx] = child;
      child = node[idx] as (IntMapNode<V> | V | null)[];
    }
    node = child;
  }
  if (node[key & MASK] === null) m.size += 1;
  node[key & MASK] = value;
}

/** Removes `key` on a draft; a no-op if absent. */
export function intMapDelete<V>(draft: IntMap<V>, key: number): void {
  if (key < 0 || key >= capacity(draft.depth)) return;
  const m = draft as unknown as Mutable<V>;
  let node = m.root;
  for (let level = m.depth - 1; level > 0; level--) {
    const child = node[(key >>> (level * BITS)) & MASK] as (IntMapNode<V> | V | null)[] | null;
    if (child === null) return;
    node = child;
  }
  if (node[key & MASK] !== null) {
    node[key & MASK] = null;
    m.size -= 1;
  }
}

/** The smallest key strictly greater than `after` (pass -1 for the first), or -1 if none. */
export function intMapNextKey<V>(map: IntMap<V>, after: number): number {
  const start = after + 1;
  if (start >= capacity(map.depth)) return -1;
  return nextFrom(map.root, map.depth - 1, 0, Math.max(0, start));
}

function nextFrom<V>(node: IntMapNode<V>, level: number, base: number, start: number): number {
  const shift = level * BITS;
  const first = start > base ? ((start - base) >>> shift) & MASK : 0;
  for (let i = first; i < WIDTH; i++) {
    const entry = node[i];
    if (entry === null) continue;
    const childBase = base + i * 2 ** shift;
    if (level === 0) return childBase;
    const found = nextFrom(entry as IntMapNode<V>, level - 1, childBase, i === first ? start : childBase);
    if (found !== -1) return found;
  }
  return -1;
}

/** Values in key order. */
export function* intMapValues<V>(map: IntMap<V>): Generator<V, void, undefined> {
  yield* walk(map.root, map.depth - 1);
}

function* walk<V>(node: IntMapNode<V>, level: number): Generator<V, void, undefined> {
  for (const entry of node) {
    if (entry === null) continue;
    if (level === 0) yield entry as V;
    else yield* walk(entry as IntMapNode<V>, level - 1);
  }
}

/** Builds a map outside any draft, e.g. for an initial state or a benchmark. */
export function intMapFrom<V>(entries: Iterable<readonly [number, V]>): IntMap<V> {
  const m = intMapEmpty<V>();
  for (const [k, v] of entries) intMapSet(m, k, v);
  return m;
}

/**
 * Persistent update: a new map with `key` set to `value` (or removed when `value` is null),
 * sharing every untouched node with `map`. New nodes are frozen, so immer's finalize skips
 * them when a reducer assigns the result into a draft: the copy costs one 32-slot array per
 * level, whatever the size of the map.
 */
export function intMapWith<V>(map: IntMap<V>, key: number, value: V | null): IntMap<V> {
  if (!Number.isInteger(key) || key < 0) throw new RangeError(`IntMap keys are non-negative integers, got ${key}`);
  let depth = map.depth;
  let root: IntMapNode<V> = map.root;
  if (key >= capacity(depth)) {
    if (value === null) return map;
    while (key >= capacity(depth)) {
      const grown = emptyNode<V>();
      grown[0] = root;
      root = Object.freeze(grown);
      depth += 1;
    }
  }
  // Walk down remembering the path, then copy it bottom-up: one new node per level.
  const path: Array<IntMapNode<V> | null> = new Array<IntMapNode<V> | null>(depth);
  let node: IntMapNode<V> | null = root;
  for (let level = depth - 1; level >= 0; level--) {
    path[level] = node;
    node = node === null ? null : (node[(key >>> (level * BITS)) & MASK] as IntMapNode<V> | null);
  }
  const old = node as V | null | undefined;
  const delta = (value !== null ? 1 : 0) - (old !== null && old !== undefined ? 1 : 0);
  if (delta === 0 && old === value) return map;
  let built: IntMapNode<V> | V | null = value;
  for (let level = 0; level < depth; level++) {
    const src = path[level] ?? null;
    // Spread, not slice(): on Node 20 slice() of a frozen array is ~25x slower (measured 2.2 us vs 0.08 us).
    const copy = src === null ? emptyNode<V>() : [...src];
    copy[(key >>> (level * BITS)) & MASK] = built;
    built = Object.freeze(copy);
  }
  const newRoot = built as IntMapNode<V>;
  return Object.freeze({ size: map.size + delta, depth, root: newRoot });
}
