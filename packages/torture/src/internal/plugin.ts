import {
  definePlugin,
  msleep,
  preemptDisable,
  preemptEnable,
  rcuReadLock,
  rcuReadUnlock,
  schedPoint,
  type HookName,
  type KPath,
  type PluginContext,
  type TracelabPlugin,
} from '@tracelab/core';
import type { Rig, TortureObject } from './rig.js';

/** Hooks the torture plugin may put an RCU-sched reader in: every place a probe can run. */
export const READER_HOOKS = [
  'contextSwitch',
  'fork',
  'clone',
  'exec',
  'exit',
  'death',
  'release',
  'returnToUser',
  'pageFault',
  'moduleLoad',
  'moduleUnload',
  'idle',
] as const;
export type ReaderHook = (typeof READER_HOOKS)[number];

export interface TortureReaderOptions {
  /** Hooks that get an RCU-sched reader. */
  readonly hooks: readonly ReaderHook[];
  /** What the `torture_read` syscall reads under: an RCU-sched section, or an RCU-tasks one (kernel code between voluntary switches). */
  readonly syscall: 'sched' | 'tasks' | 'none';
  /**
   * RCU-tasks readers on the exit path (docs/rcu-tasks.md 3.4): a reader in the `death` hook
   * (after exit_notify, so a parent may reap the task while it reads: it is off the task list),
   * `points` scheduling points long, and when `tail` > 0 a final region at death priority
   * `EXIT_TAIL_PRIORITY` (after rcu-tasks' exit_tasks_rcu_finish under `exitTasks: 'exit-srcu'`)
   * that goes on reading the object the exit-path reader loaded, with preemption off (upstream's
   * end of do_exit), `tail` scheduling points long. Absent: none.
   */
  readonly exitPath?: { readonly points: number; readonly tail: number };
}

/** The final region's death priority: below rcu-tasks' exit_tasks_rcu_finish (-1000). */
export const EXIT_TAIL_PRIORITY = -2000;

/**
 * An RCU-sched reader (rcu_torture_one_read for rcu_sched): rcu_read_lock_sched, load the
 * current object, a scheduling point inside the section (other CPUs run; this one cannot be
 * preempted), look at the object again, unlock.
 */
export function* schedReader(rig: Rig, where: string): KPath<void> {
  yield* rcuReadLock();
  const o = rig.current.sched;
  rig.read(o, where);
  yield* schedPoint();
  rig.read(o, where);
  yield* rcuReadUnlock();
}

/**
 * An RCU-tasks reader: kernel code that loads the object and runs `points` preemptible
 * scheduling points (it may be preempted and migrate, which is not a quiescent state) before
 * it last touches the object. Its caller's next voluntary switch ends it.
 */
export function* tasksReader(rig: Rig, where: string, points: number): KPath<void> {
  const o = rig.current.tasks;
  rig.read(o, where);
  for (let i = 0; i < points; i++) yield* schedPoint();
  rig.read(o, where);
}

/**
 * The torture plugin: RCU-sched readers in the hooks of `options.hooks` (context switches on
 * idle and user-bound CPUs included, which is where the core's quiescent-state rule was once
 * wrong), and the `torture_read` syscall, a reader in a syscall body that the swarm shells call.
 * It has no state of its own: the rig is host data.
 */
export function tortureReaders(rig: Rig, options: TortureReaderOptions): TracelabPlugin<Record<string, never>> {
  return definePlugin<Record<string, never>>({
    name: 'torture',
    version: '0.1.0',
    core: '^0.1.0',
    options: { hooks: [...options.hooks], syscall: options.syscall, ...(options.exitPath !== undefined ? { exitPath: { ...options.exitPath } } : {}) },
    register(ctx) {
      if (options.exitPath !== undefined) tapExitPath(ctx, rig, options.exitPath);
      for (const hook of options.hooks) {
        const where = `hook ${hook}`;
        ctx.tap(hook as HookName, function* () {
          rig.count(`reader:${hook}`);
          yield* schedReader(rig, where);
          return undefined;
        });
      }
      if (options.syscall !== 'none') {
        const flavour = options.syscall;
        ctx.defineSyscall('torture_read', function* () {
          rig.count('reader:syscall');
          if (flavour === 'sched') yield* schedReader(rig, 'syscall torture_read');
          else yield* tasksReader(rig, 'syscall torture_read', 2);
          return 0;
        });
      }
      return {};
    },
  });
}

/** The exit-path readers of `TortureReaderOptions.exitPath`. */
function tapExitPath(ctx: PluginContext, rig: Rig, { points, tail }: { readonly points: number; readonly tail: number }): void {
  // The object each exiting task loaded in its exit path, by pid (host data: written by the
  // death reader, taken by the same task's final region; the runtime's single thread orders them).
  const loaded = new Map<number, TortureObject>();
  ctx.tap('death', function* exitPathReader({ pid }): KPath<void> {
    rig.count('reader:exit-path');
    const o = rig.current.tasks;
    rig.read(o, 'exit-path reader (death hook)');
    for (let i = 0; i < points; i++) yield* schedPoint();
    rig.read(o, 'exit-path reader (death hook)');
    if (tail > 0) loaded.set(pid, o);
  });
  if (tail === 0) return;
  ctx.tap(
    'death',
    function* exitTailReader({ pid }): KPath<void> {
      const o = loaded.get(pid);
      if (o === undefined) return;
      loaded.delete(pid);
      rig.count('reader:exit-tail');
      yield* preemptDisable();
      for (let i = 0; i < tail; i++) {
        rig.read(o, 'final preempt-disabled region of an exiting task');
        yield* schedPoint();
      }
      rig.read(o, 'final preempt-disabled region of an exiting task');
      yield* preemptEnable();
    },
    { priority: EXIT_TAIL_PRIORITY },
  );
}

/** A kernel thread that loads and unloads a module now and then, so moduleLoad/moduleUnload readers run. */
export function* moduleChurn(
  load: (name: string) => KPath<number>,
  unload: (name: string) => KPath<number>,
  rig: Rig,
  rounds: number,
  delay: number,
): KPath<void> {
  for (let i = 0; i < rounds; i++) {
    yield* load(`torture_mod${i}`);
    rig.count('module-load');
    yield* msleep(delay);
    yield* unload(`torture_mod${i}`);
    rig.count('module-unload');
  }
}
