import { intMapEmpty, intMapGet, type IntMap, type IntMapNode, type KernelState, type TaskState } from '@tracelab/core';
import type { RcuTasksFlavour, RcuTasksFlavourState, RcuTasksState } from '../events.js';

export const PLUGIN_NAME = 'rcu-tasks';

const FLAVOUR_INITIAL: RcuTasksFlavourState = {
  kthread: null,
  nextCallbackId: 1,
  takenThrough: 0,
  invokedThrough: 0,
  gp: null,
  completed: 0,
  lastGp: null,
};

export const INITIAL_RCU_TASKS_STATE: RcuTasksState = {
  tasks: FLAVOUR_INITIAL,
  trace: FLAVOUR_INITIAL,
  traceReaders: intMapEmpty(),
  violation: null,
};

/** The slice as kernel code reads it (the initial value before registration is applied). */
export function rcuTasksSlice(s: KernelState): RcuTasksState {
  return s.plugins['rcu-tasks'] ?? INITIAL_RCU_TASKS_STATE;
}

export function flavourOf(s: KernelState, flavour: RcuTasksFlavour): RcuTasksFlavourState {
  return rcuTasksSlice(s)[flavour];
}

/** Callbacks queued and not yet taken into a batch. */
export function queuedCallbacks(f: RcuTasksFlavourState): number {
  return f.nextCallbackId - 1 - f.takenThrough;
}

/** On a runqueue or on a CPU (the kernel's `on_rq`). */
export function onRq(t: TaskState): boolean {
  return t.state === 'running' || t.state === 'runnable';
}

/**
 * Pairs of an IntMap in key order, by one walk of its trie (intMapNextKey + intMapGet per key
 * would walk down from the root for every entry).
 */
export function* intMapEntries<V>(map: IntMap<V>): Generator<[number, V], void, undefined> {
  if (map.size === 0) return;
  yield* walkEntries(map.root, map.depth - 1, 0);
}

function* walkEntries<V>(node: IntMapNode<V>, level: number, base: number): Generator<[number, V], void, undefined> {
  const span = 32 ** level;
  for (let i = 0; i < node.length; i++) {
    const entry = node[i];
    if (entry === null || entry === undefined) continue;
    if (level === 0) yield [base + i, entry as V];
    else yield* walkEntries(entry as IntMapNode<V>, level - 1, base + i * span);
  }
}

export function commOf(s: KernelState, pid: number): string {
  return intMapGet(s.tasks, pid)?.comm ?? '?';
}
