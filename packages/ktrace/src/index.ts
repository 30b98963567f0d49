/**
 * @tracelab/ktrace: the kernel trace thread flag of LTTng's 2009 patch ("[RFC patch 21/21]
 * LTTng Kernel Trace Thread Flag API") as a tracelab plugin. See the package README for the
 * options, API, events and invariants, and docs/ktrace.md for the design.
 */
import { definePlugin, emit, intMapGet, option, pluginOptions, TASKLIST_LOCK, type HookArgs, type KPath, type TracelabPlugin } from '@tracelab/core';
import { TIF_KERNEL_TRACE, type KtraceApi, type KtraceForkRecopy, type KtraceRcuView, type KtraceState, type KtraceWalk } from './events.js';
import { flagInvariant, refcountInvariant } from './internal/check.js';
import { syscallMarkers } from './internal/markers.js';
import { registerReducers } from './internal/reducers.js';
import { INITIAL_KTRACE_STATE, kernelTracePaths } from './internal/paths.js';

export { KERNEL_TRACE_MUTEX, TIF_KERNEL_TRACE } from './events.js';
export type { KtraceApi, KtraceForkRecopy, KtraceOp, KtraceRcuView, KtraceState, KtraceWalk } from './events.js';
export { SYSCALL_MARKERS, formatSyscallArgs } from './syscall-markers.js';
export { formatKtraceSummary, summarizeKtrace, traceWhileRunning, type KtraceSummary, type TraceWhileRunningOptions } from './session.js';

export const KTRACE_VERSION = '0.1.0';

export interface KtraceOptions {
  /**
   * Where copy_process re-copies the flag from the parent (SEMANTICS.md §1(b), §6):
   * - `'after-link'` (default; `true` is the same): under the tasklist write lock after the
   *   list insertion, upstream's order (4af4206be), at the fork hook's `link` stage;
   * - `'before-link'`: under the write lock before the insertion, LTTng's order, at `prelink`.
   *   Safe with the read-lock walk; with `walk: 'rcu'` it is the race of §1(c);
   * - `'before-lock'` (unsafe): before write_lock(tasklist_lock), at `prelock`: a walk can pass
   *   between the re-copy and the insertion even under the read lock;
   * - `false` (unsafe): no re-copy; the child keeps the copy dup_task_struct made before the
   *   lock, stale when a walk passed between `dup` and `link`.
   */
  readonly forkRecopy?: boolean | KtraceForkRecopy;
  /**
   * With `walk: 'rcu'`, which list the reader walks. Default `'version'`: the list as it was
   * when the read-side section began (the stand-in for stale visibility on a weakly ordered
   * machine). `'live'`: the list as it is at each step, so a child linked at the tail before
   * the walker gets there is visited (a sequentially consistent machine). Under the read lock
   * both are the same list. docs/ktrace.md §2.1.
   */
  readonly rcuView?: KtraceRcuView;
  /**
   * How the walk reaches every thread. Default `'tasklist'` (read_lock(&tasklist_lock)).
   * `'rcu'` is the unsafe variant Frederic Weisbecker suggested in the thread: the reader does
   * not exclude a fork's link section and can miss a freshly linked child.
   */
  readonly walk?: KtraceWalk;
  /**
   * Update the refcount outside kernel_trace_mutex. Default false. `true` is the unsafe
   * variant: lost updates, and walks that run in the opposite order of their decisions.
   */
  readonly refcountOutsideMutex?: boolean;
  /**
   * Register the invariants (`ktrace/flag`, `ktrace/refcount`). Default true. Turn them off
   * only to watch an unsafe variant run on after its first violation.
   */
  readonly checks?: boolean;
}

/** The invariants' names, as violations report them. */
export const KTRACE_INVARIANTS = { flag: 'ktrace/flag', refcount: 'ktrace/refcount' } as const;

/** ktrace's options: unknown keys (typos) and values of the wrong kind throw `INVALID_OPTION`. */
const resolveOptions = pluginOptions('ktrace', {
  // `true` (and its spelling 'after-link') resolves to true, so logs recorded before the
  // placements existed keep their `forkRecopy: true`.
  forkRecopy: option.custom<boolean | Exclude<KtraceForkRecopy, 'after-link'>>(true, "true, false, 'after-link', 'before-link' or 'before-lock'", (v) =>
    v === true || v === 'after-link' ? true : v === false || v === 'before-link' || v === 'before-lock' ? v : undefined,
  ),
  walk: option.oneOf<KtraceWalk>('tasklist', ['tasklist', 'rcu']),
  rcuView: option.oneOf<KtraceRcuView>('version', ['version', 'live']),
  refcountOutsideMutex: option.boolean(false),
  checks: option.boolean(true),
});

/** The options as the log records them: `rcuView` (added later) only when not its default, so older logs replay. */
function recordedOptions(opts: ReturnType<typeof resolveOptions>): Record<string, unknown> {
  const { rcuView, ...rest } = opts;
  return rcuView === 'version' ? rest : { ...opts };
}

/** The fork hook stage that re-copies the flag (null: none, only dup_task_struct's copy). */
function recopyStage(forkRecopy: ReturnType<typeof resolveOptions>['forkRecopy']): 'link' | 'prelink' | 'prelock' | null {
  if (forkRecopy === true) return 'link';
  if (forkRecopy === 'before-link') return 'prelink';
  if (forkRecopy === 'before-lock') return 'prelock';
  return null;
}

/**
 * The plugin factory: `createKernel({ plugins: [ktrace()] })`, then
 * `kernel.call(kernel.api.ktrace.setKernelTraceFlagAllTasks())`.
 * Throws `INVALID_OPTION` for an option of the wrong type, an unknown option key, or options
 * that are not an object (`null`, say).
 */
export function ktrace(options: KtraceOptions = {}): TracelabPlugin<KtraceApi, KtraceState> {
  const opts = resolveOptions(options);
  return definePlugin<KtraceApi, KtraceState>({
    name: 'ktrace',
    version: KTRACE_VERSION,
    core: '^0.1.0',
    // With markers in the stack, the slow path also fires kernel_syscall_entry/exit.
    optionalDependsOn: { markers: '^0.1.0' },
    options: recordedOptions(opts),
    register(ctx) {
      const paths = kernelTracePaths(opts);
      const markers = syscallMarkers(ctx.optionalApi('markers'));

      ctx.initSlice(INITIAL_KTRACE_STATE);
      // Resettable: everything ktrace keeps is in its slice; the flag invariant's memo remembers
      // immutable task maps by identity, which stays true across runs.
      ctx.onReset();
      registerReducers(ctx);
      ctx.declareEvents(['ktrace/syscall-entry', 'ktrace/syscall-exit']);

      // copy_process: dup_task_struct's copy (no lock), then the re-copy at the stage the
      // forkRecopy option names (upstream: `link`, under the tasklist write lock after the
      // insertion). A tap without a stage runs at `dup` and `link`, the default's pair.
      const stage = recopyStage(opts.forkRecopy);
      function* copyProcessHook({ parent, child }: HookArgs['fork']): KPath<void> {
        yield* paths.copyKernelTraceFlag(parent, child);
      }
      if (stage === 'link') ctx.tap('fork', copyProcessHook);
      else {
        ctx.tap('fork', copyProcessHook, { stage: 'dup' });
        if (stage !== null) ctx.tap('fork', copyProcessHook, { stage });
      }

      // The syscall slow path: the core runs these only for tasks with the flag set, so an
      // unflagged task pays one flag test per syscall entry and exit, nothing more.
      ctx.tap(
        'syscallEntry',
        function* traceSysEnter({ pid, name, args }) {
          yield* emit({ type: 'ktrace/syscall-entry', pid, name, args: { ...args } });
          if (markers !== null) yield* markers.entry(pid, name, args);
        },
        { flag: TIF_KERNEL_TRACE },
      );
      ctx.tap(
        'syscallExit',
        function* traceSysExit({ pid, name, ret }) {
          yield* emit({ type: 'ktrace/syscall-exit', pid, name, ret });
          if (markers !== null) yield* markers.exit(pid, name, ret);
        },
        { flag: TIF_KERNEL_TRACE },
      );

      if (opts.checks) {
        // What the flag check decides on: every task's flags and list membership, the slice's
        // refcount and in-flight count, and the tasklist lock's writer. Declared, so a DPOR search
        // does not order every write of a task record (a context switch's) behind it.
        ctx.invariant(KTRACE_INVARIANTS.flag, flagInvariant(), { reads: ['tflags:*', 'plugin:ktrace', `lock:${TASKLIST_LOCK}`] });
        ctx.invariant(KTRACE_INVARIANTS.refcount, refcountInvariant);
      }

      return {
        setKernelTraceFlagAllTasks: paths.setKernelTraceFlagAllTasks,
        clearKernelTraceFlagAllTasks: paths.clearKernelTraceFlagAllTasks,
        isTraced: (pid: number) => intMapGet(ctx.state().tasks, pid)?.flags[TIF_KERNEL_TRACE] === true,
        refcount: () => ctx.slice().refcount,
      };
    },
  });
}
