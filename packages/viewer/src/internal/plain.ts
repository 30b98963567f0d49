import type { IntMap, IntMapNode } from '@tracelab/core';

/** Whether a value is one of the core's IntMaps (`{ size, depth, root }`, root a 32-slot array). */
export function isIntMap(v: unknown): v is IntMap<unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o['size'] === 'number' && typeof o['depth'] === 'number' && Array.isArray(o['root']) && Object.keys(o).length === 3;
}

/** The entries of an IntMap in key order. */
export function intMapEntries(map: IntMap<unknown>): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = [];
  const walk = (node: IntMapNode<unknown>, level: number, base: number): void => {
    const span = 32 ** level;
    for (let i = 0; i < node.length; i++) {
      const entry = node[i];
      if (entry === null || entry === undefined) continue;
      if (level === 0) out.push([base + i, entry]);
      else walk(entry as IntMapNode<unknown>, level - 1, base + i * span);
    }
  };
  walk(map.root, map.depth - 1, 0);
  return out;
}

/**
 * A state as plain JSON data: every IntMap becomes an object keyed by its integer keys, so
 * that two states with the same contents give the same text whatever the trie's shape, and a
 * reader sees tasks by pid rather than trie nodes.
 */
export function plainState(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isIntMap(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of intMapEntries(value)) out[String(k)] = plainState(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(plainState);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plainState(v);
  return out;
}
