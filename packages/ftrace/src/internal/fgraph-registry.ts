import type { FgraphOps } from '../events.js';
import { FGRAPH_ARRAY_SIZE } from './constants.js';

/**
 * The function graph tracer's side of the registry (kernel/trace/fgraph.c's globals and each
 * task's ret_stack), outside the immer state like the rest of the hot side; the state mirrors
 * it through the fgraph events.
 */

/** An fgraph ops as ftrace keeps it. Every field is guarded by ftrace_lock for writers. */
export class FgraphRec {
  /** Its slot in fgraph_array while registered, else -1. */
  idx = -1;
  registered = false;
  /** Its owner freed it (after unregister_ftrace_graph returned). Written after ftrace_lock's release by the unregistering path. */
  freed = false;
  /** The functions it traces; null: every function defined at registration. */
  filter: ReadonlySet<string> | null = null;
  filterList: readonly string[] = [];
  /** A filter entry that matched no function when first seen: registering fails with -EINVAL. */
  unmatched: string | null = null;

  constructor(
    readonly id: number,
    readonly gops: FgraphOps,
    readonly label: string,
  ) {}
}

/** One frame of a shadow return stack: the traced function, and the ops that asked for its return. */
export interface RetFrame {
  readonly func: string;
  readonly depth: number;
  /** fgraph_array indexes (what upstream's frame bitmap holds). */
  readonly idx: readonly number[];
  /** The ops themselves at push time: what the unsafe `fgraphReturn: 'ret-stack-ops'` calls back. */
  readonly saved: readonly FgraphRec[];
}

export class FgraphTables {
  /**
   * fgraph_array: the registered ops by slot; null is fgraph_stub. guarded by: ftrace_lock for
   * writers; read lock-free (READ_ONCE) by return_to_handler on any CPU.
   */
  readonly array: Array<FgraphRec | null> = new Array<FgraphRec | null>(FGRAPH_ARRAY_SIZE).fill(null);
  /** Free slots, least recently released first (fgraph_lru_alloc_index). guarded by: ftrace_lock. */
  readonly lru: number[] = Array.from({ length: FGRAPH_ARRAY_SIZE }, (_, i) => i);
  /** Every fgraph ops ever registered, by object. guarded by: ftrace_lock. */
  readonly byOps = new Map<FgraphOps, FgraphRec>();
  /** ftrace_graph_active: how many are registered. guarded by: ftrace_lock; read lock-free at every entry. */
  active = 0;
  nextId = 1;
  /**
   * Each task's shadow return stack (`current->ret_stack`), by task key. Written only by the task
   * itself (push at a traced entry, pop at its return) and by its exit (ftrace_graph_exit_task).
   */
  readonly stacks = new Map<string, RetFrame[]>();
  /** Each task's trace_overrun. Written only by the task itself. */
  readonly overrun = new Map<string, number>();

  /** kernel.reset: as registration left them (nothing registered, no stacks). */
  reset(): void {
    this.array.fill(null);
    this.lru.length = 0;
    for (let i = 0; i < FGRAPH_ARRAY_SIZE; i++) this.lru.push(i);
    this.byOps.clear();
    this.active = 0;
    this.nextId = 1;
    this.stacks.clear();
    this.overrun.clear();
  }
}
