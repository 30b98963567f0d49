import type { IntMap, IntMapNode } from '@tracelab/core';
import { intMapEntries, isIntMap } from '../plain.js';

/** One changed value: where, before and after (`undefined`: absent on that side). */
export interface Change {
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

/**
 * What changed between two states. States share every unchanged subtree (the store copies on
 * write), so the walk skips any pair that is the same object; IntMaps are compared node by
 * node the same way and reported by key. Stops after `limit` changes.
 */
export function diffStates(a: unknown, b: unknown, limit = 200): Change[] {
  const out: Change[] = [];
  const visit = (x: unknown, y: unknown, path: string): void => {
    if (x === y || out.length >= limit) return;
    if (isIntMap(x) && isIntMap(y)) {
      if (x.depth === y.depth) intMapDiff(x, y, path);
      else {
        // The trie grew a level: compare by key.
        const xm = new Map(intMapEntries(x));
        const ym = new Map(intMapEntries(y));
        for (const k of new Set([...xm.keys(), ...ym.keys()])) visit(xm.get(k), ym.get(k), `${path}[${k}]`);
      }
      return;
    }
    const xo = typeof x === 'object' && x !== null;
    const yo = typeof y === 'object' && y !== null;
    if (xo && yo && Array.isArray(x) === Array.isArray(y) && !isIntMap(x) && !isIntMap(y)) {
      const xr = x as Record<string, unknown>;
      const yr = y as Record<string, unknown>;
      const keys = new Set([...Object.keys(xr), ...Object.keys(yr)]);
      for (const k of keys) visit(xr[k], yr[k], Array.isArray(x) ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`);
      return;
    }
    out.push({ path, before: x, after: y });
  };
  const intMapDiff = (x: IntMap<unknown>, y: IntMap<unknown>, path: string): void => {
    const walk = (nx: IntMapNode<unknown> | null, ny: IntMapNode<unknown> | null, level: number, base: number): void => {
      if (nx === ny || out.length >= limit) return;
      const span = 32 ** level;
      for (let i = 0; i < 32; i++) {
        const ex = nx === null ? null : (nx[i] ?? null);
        const ey = ny === null ? null : (ny[i] ?? null);
        if (ex === ey) continue;
        if (level === 0) visit(ex ?? undefined, ey ?? undefined, `${path}[${base + i}]`);
        else walk(ex as IntMapNode<unknown> | null, ey as IntMapNode<unknown> | null, level - 1, base + i * span);
      }
    };
    walk(x.root, y.root, x.depth - 1, 0);
  };
  visit(a, b, '');
  return out;
}
