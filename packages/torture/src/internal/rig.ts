import type { Kernel, KernelState } from '@tracelab/core';

/**
 * The grace-period flavour that protects a torture object: the core's RCU-sched, RCU-tasks,
 * tasks-trace, SRCU (the torture domain of `@tracelab/srcu`), or none (utrace's engine data is protected by references and the barrier, not
 * by a grace period; locks protect their sections by exclusion).
 */
export type Flavour = 'sched' | 'tasks' | 'trace' | 'srcu' | 'none';

/** The SRCU domain whose grace periods are the `srcu` flavour's (torture's srcu mechanism reads and writes under it). */
export const TORTURE_SRCU_DOMAIN = 'torture_srcu';

/** Slots of the Reader Pipe histogram; the last one collects everything at or above it (rcutorture's RCU_TORTURE_PIPE_LEN). */
export const PIPE_LEN = 10;

/**
 * The object a reader reaches through the mechanism under test (rcutorture's `struct
 * rcu_torture`): a probe's private data, an ops' data, an engine's data, the pointer a
 * reader loads. It is host data outside the kernel state, as probe data is.
 */
export interface TortureObject {
  readonly id: number;
  readonly flavour: Flavour;
  /** Grace periods of its flavour that had started when the writer removed it; null while reachable. */
  removedAt: number | null;
  freed: boolean;
}

/** Grace periods of a flavour started so far (the one in progress included) and completed. */
export function gpCounts(s: KernelState, flavour: Flavour): { started: number; completed: number } {
  if (flavour === 'sched') return { started: s.rcu.gp?.seq ?? s.rcu.completed, completed: s.rcu.completed };
  if (flavour === 'tasks' || flavour === 'trace') {
    const slice = (s.plugins as Record<string, unknown>)['rcu-tasks'] as
      { tasks: { completed: number; gp: { gp: number } | null }; trace: { completed: number; gp: { gp: number } | null } } | undefined;
    const f = slice?.[flavour];
    if (f === undefined) return { started: 0, completed: 0 };
    return { started: f.gp?.gp ?? f.completed, completed: f.completed };
  }
  if (flavour === 'srcu') {
    const slice = (s.plugins as Record<string, unknown>)['srcu'] as
      { domains: Readonly<Record<string, { completed: number; gp: { gp: number } | null }>> } | undefined;
    const d = slice?.domains[TORTURE_SRCU_DOMAIN];
    if (d === undefined) return { started: 0, completed: 0 };
    return { started: d.gp?.gp ?? d.completed, completed: d.completed };
  }
  return { started: 0, completed: 0 };
}

/**
 * Everything torture keeps about one run: the objects, the Reader Pipe histogram, the
 * operation counts and the first reader failure. Host data, written by the kernel paths,
 * probes and callbacks of one kernel (guarded by: the simulation's single thread; every write
 * happens inside a step, so a run's counts are a function of its schedule).
 */
export class Rig {
  kernel: Kernel | null = null;
  /** Reader Pipe: `pipe[i]` readers saw an object `i` grace periods old (0 current, 1 removed). */
  readonly pipe: number[] = new Array<number>(PIPE_LEN + 1).fill(0);
  /** Operations done, by kind ("probe-register", "synchronize-rcu", "fork", ...). */
  readonly ops: Record<string, number> = {};
  /** The first thing a reader or a section check saw that must not happen. */
  failure: string | null = null;
  /** The object readers of each flavour reach now (the "current" pointer rcutorture's writer replaces). */
  readonly current: Record<Flavour, TortureObject>;
  private nextId = 1;

  constructor() {
    this.current = { sched: this.obj('sched'), tasks: this.obj('tasks'), trace: this.obj('trace'), srcu: this.obj('srcu'), none: this.obj('none') };
  }

  obj(flavour: Flavour): TortureObject {
    return { id: this.nextId++, flavour, removedAt: null, freed: false };
  }

  count(op: string, n = 1): void {
    this.ops[op] = (this.ops[op] ?? 0) + n;
  }

  private state(): KernelState | null {
    return this.kernel?.state ?? null;
  }

  /** The writer made `o` unreachable for new readers (after the unpublish, never before it). */
  remove(o: TortureObject): void {
    const s = this.state();
    o.removedAt = s === null ? 0 : gpCounts(s, o.flavour).started;
  }

  /** The writer frees `o`. */
  free(o: TortureObject): void {
    if (o.freed) this.fail(`object #${o.id} freed twice`);
    o.freed = true;
    this.count('free');
  }

  /** Publishes a new current object of `flavour` and removes the old one, which it returns. */
  replace(flavour: Flavour): TortureObject {
    const old = this.current[flavour];
    this.current[flavour] = this.obj(flavour);
    this.remove(old);
    this.count('replace');
    return old;
  }

  /** How many grace periods of its flavour `o` has seen since its removal, plus one (rcutorture's pipe count). */
  pipeCount(o: TortureObject): number {
    if (o.removedAt === null) return 0;
    if (o.flavour === 'none') return 1;
    const s = this.state();
    if (s === null) return 1;
    return 1 + Math.max(0, gpCounts(s, o.flavour).completed - o.removedAt);
  }

  /**
   * A reader reached `o` (`where` names the reader). It counts in the Reader Pipe; an object
   * already freed, or one that a whole grace period has outlived since its removal while this
   * reader could still reach it, is a failure.
   */
  read(o: TortureObject, where: string): void {
    const p = this.pipeCount(o);
    this.pipe[Math.min(p, PIPE_LEN)]!++;
    if (o.freed) this.fail(`${where}: reader reached object #${o.id} after it was freed (pipe count ${p})`);
    else if (p >= 2 && o.flavour !== 'none')
      this.fail(`${where}: reader still holds object #${o.id} ${p - 1} ${o.flavour} grace period(s) after its removal (Reader Pipe ${p})`);
  }

  fail(message: string): void {
    this.failure ??= message;
  }
}
