import type { KPath } from '@tracelab/core';

/**
 * The registers a callback sees (pt_regs): what the simulated kernel knows at that point.
 * For a syscall, its name and numeric arguments, and its return value at exit.
 */
export interface UtraceRegs {
  readonly pid: number;
  readonly syscall: string | null;
  readonly args: Readonly<Record<string, number>>;
  readonly ret: number | null;
}

/** siginfo_t, as far as the model has one: the signal number, which an engine may change. */
export interface UtraceSigInfo {
  signo: number;
}

/**
 * k_sigaction: the disposition the core would apply ('terminate', 'stop', 'ignore', 'continue'),
 * or 'default' (SIG_DFL: the default of whatever signal is acted on). Every pass starts
 * `returnKa` at 'default': a signal's own pass copies the signal's k_sigaction, which is SIG_DFL
 * (the core has no handlers; `origKa` is the same), and the UTRACE_SIGNAL_REPORT passes start
 * from a zeroed one (upstream's memset).
 */
export interface UtraceSigAction {
  handler: 'default' | 'ignore' | 'terminate' | 'stop' | 'continue';
}

/**
 * struct utrace_engine_ops, with the kernel's callbacks in camelCase and their arguments in
 * the kernel's order (UTRACE_API_VERSION 20091216: no `task` argument except report_reap's).
 * Every callback is a kernel path: it runs in the traced task (report_reap: in the reaper), may
 * take scheduling points, read user memory and fault, and returns the kernel's u32 (a resume
 * action, or'd with a signal or syscall action where that applies). A missing callback is a
 * callback the engine does not get, whatever its event mask says.
 */
/**
 * What a report callback returns: the u32 (resume action | event-specific bits). Write the
 * callback as a plain function (as kernel C code is) or as a generator function when it must
 * take kernel steps (sleep, take a lock, emit events); both work the same.
 */
export type UtraceCallbackResult = KPath<number> | KPath<void> | number | void;

export interface UtraceEngineOps<D = unknown> {
  /** A name for logs and events (the ops vector's symbol in the kernel). */
  readonly name: string;
  reportQuiesce?(action: number, engine: UtraceEngine<D>, event: number): UtraceCallbackResult;
  reportSignal?(
    action: number,
    engine: UtraceEngine<D>,
    regs: UtraceRegs,
    info: UtraceSigInfo,
    origKa: UtraceSigAction | null,
    returnKa: UtraceSigAction,
  ): UtraceCallbackResult;
  reportClone?(action: number, engine: UtraceEngine<D>, cloneFlags: number, child: number): UtraceCallbackResult;
  reportJctl?(action: number, engine: UtraceEngine<D>, type: number, notify: number): UtraceCallbackResult;
  reportExec?(action: number, engine: UtraceEngine<D>, fmt: string, bprm: { readonly filename: string }, regs: UtraceRegs): UtraceCallbackResult;
  reportSyscallEntry?(action: number, engine: UtraceEngine<D>, regs: UtraceRegs): UtraceCallbackResult;
  reportSyscallExit?(action: number, engine: UtraceEngine<D>, regs: UtraceRegs): UtraceCallbackResult;
  /** `code.value` is the exit status the parent will see; the core keeps its own (see docs). */
  reportExit?(action: number, engine: UtraceEngine<D>, origCode: number, code: { value: number }): UtraceCallbackResult;
  /** Only UTRACE_DETACH is meaningful in the return value. */
  reportDeath?(engine: UtraceEngine<D>, groupDead: boolean, signal: number): UtraceCallbackResult;
  /** Runs in the reaper's context; must not block. The reaper drops the list's reference afterwards. */
  reportReap?(engine: UtraceEngine<D>, task: number): KPath<void> | void;
  /**
   * Called with the engine's data after the tracer's last enginePut: the tracer freeing its data
   * (see docs/utrace.md, "engine references"). Plain code, not a path.
   */
  release?(data: D): void;
}

/**
 * struct utrace_engine as a tracer holds it: an opaque handle. `id` names the engine in
 * events and state; `data` is the tracer's private data (engine->data), which stops being
 * valid when the tracer's last reference is put.
 */
export interface UtraceEngine<D = unknown> {
  readonly id: number;
  /** The pid the engine is attached to. */
  readonly target: number;
  readonly ops: UtraceEngineOps<D>;
  readonly data: D;
}

/** struct utrace_examiner: what prepareExamine recorded (the target's state and switch count). */
export interface UtraceExaminer {
  readonly state: string;
  readonly ncsw: number;
}

/** One engine in `state.plugins.utrace.engines`. Written only by reducers. */
export interface UtraceEngineState {
  readonly id: number;
  readonly target: number;
  /** The ops' name (ops themselves are closures, kept outside the state by id). */
  readonly ops: string;
  /** The event mask (utrace_set_events). */
  readonly flags: number;
  /** ENGINE_STOP: this engine holds the task stopped (sticky until it or control() says otherwise). */
  readonly stop: boolean;
  /** ops swapped for the detached ops (UTRACE_DETACH returned or requested). */
  readonly detached: boolean;
  /**
   * The list's own reference (the second of the two utrace_attach_task takes): set while the
   * engine is on the task's attaching or attached list, or on the reaper's list until its
   * report_reap has returned; cleared when utrace_reset drops it after a detach took effect, or
   * when the reaper drops it (`utrace/engine-reaped`). The engine itself (struct utrace_engine)
   * lives while `listed` or `refs > 0`: a tracer's put never frees an engine a callback may still
   * be called on.
   */
  readonly listed: boolean;
  /** References held by tracers: attach gives one, a lookup takes one more, enginePut drops one (the list's is `listed`). */
  readonly refs: number;
  /**
   * The tracer's last reference went: the tracer's data (engine->data) is freed (`ops.release`
   * ran). The engine may still be listed; a callback that runs with the data freed is the
   * use-after-free `utrace/engine-lifetime` reports.
   */
  readonly freed: boolean;
}

/** struct utrace of one task, in `state.plugins.utrace.tasks`. Written only by reducers. */
export interface UtraceTaskState {
  readonly pid: number;
  /** The engines the task reports to, in attach order. Changed only by the task itself or while it is quiescent. */
  readonly attached: readonly number[];
  /** New engines, spliced onto `attached` at the start of the next reporting pass. Guarded by the utrace lock. */
  readonly attaching: readonly number[];
  /** task->utrace_flags: the union of the engines' masks, plus ENGINE_STOP. Only utrace_reset shrinks it. */
  readonly flags: number;
  /** The engine whose callback is running now (utrace->reporting), or null. */
  readonly reporting: number | null;
  /** The task running that callback: the traced task, or the reaper for report_reap. */
  readonly reportingBy: number | null;
  /** The pending resume action for the way back to user mode (UTRACE_RESUME: nothing pending). */
  readonly resume: number;
  /** In utrace_stop: TASK_TRACED, until no engine holds ENGINE_STOP (or SIGKILL). */
  readonly stopped: boolean;
  readonly pendingAttach: boolean;
  /** The child being reported in report_clone (utrace->cloning), or null. */
  readonly cloning: number | null;
  /** report_clone asked for STOP on a vfork: the parent stops before it waits for the child. */
  readonly vforkStop: boolean;
  /** report_death is running (utrace->death). */
  readonly death: boolean;
  /** report_death has finished. */
  readonly deathDone: boolean;
  /** release_task came while report_death ran: the reap waits for the dying task. */
  readonly reapPending: boolean;
  /** Reaped: the lists are emptied onto the reaper's, which makes report_reap and drops each engine. */
  readonly reap: boolean;
}

/** The plugin's slice, `state.plugins.utrace`. Every field is written only by reducers. */
export interface UtraceState {
  readonly engines: Readonly<Record<number, UtraceEngineState>>;
  readonly tasks: Readonly<Record<number, UtraceTaskState>>;
  readonly nextEngine: number;
  /** Reporting passes run so far, and engine callbacks made. */
  readonly reports: number;
  readonly callbacks: number;
  /** The first broken invariant the reducers saw (use-after-free, reap before death, ...), by invariant name. */
  readonly broken: null | { readonly invariant: string; readonly message: string };
}

export interface UtraceApi {
  /**
   * utrace_attach_task. With UTRACE_ATTACH_CREATE: a new engine on `pid`'s attaching list
   * (it gets no callback for the event in progress), with one reference for the caller.
   * Returns the engine, or -EINVAL (no ops), -EPERM (kernel thread), -ENOMEM (allocation
   * failure under fault injection), -EEXIST (EXCLUSIVE and a match exists), -ESRCH (no such
   * task, or the first engine on a task that is already EXIT_DEAD). Without CREATE: the first
   * matching attached engine with one more reference, or -ENOENT. Events start at 0: call
   * setEvents. The caller must enginePut every reference it gets.
   */
  attachTask<D>(pid: number, flags: number, ops: UtraceEngineOps<D> | null, data: D): KPath<UtraceEngine<D> | number>;
  /**
   * utrace_set_events. Returns 0; -ESRCH (engine detached or not on `pid`); -EALREADY (newly
   * asking DEATH or QUIESCE of an exiting task, clearing them once report_death started;
   * after the reap every engine is detached: -ESRCH); -EINPROGRESS (bits were cleared while a callback to this
   * engine may be running: the change is made, but the callback may still see the old mask;
   * use barrier()).
   */
  setEvents(pid: number, engine: UtraceEngine, mask: number): KPath<number>;
  /**
   * utrace_control. Returns 0; -EINVAL (action ≥ 7, or REPORT/INTERRUPT/a step without the
   * QUIESCE event); -ESRCH (engine detached, or a dead task with an action other than DETACH,
   * or DETACH after the reap); -EALREADY (DETACH while report_death runs: it and report_reap
   * will still come); -EINPROGRESS (STOP on a task not stopped yet: it will stop before user
   * mode; DETACH while this engine's callback runs: call barrier() before freeing data);
   * -EOPNOTSUPP (steps: no single-step on the simulated machine).
   */
  control(pid: number, engine: UtraceEngine, action: number): KPath<number>;
  /**
   * utrace_barrier: waits (polling once per tick) while a callback to `engine` may be running on
   * `pid`: while one is, while the engine is detached but still on a list (the task drops it at
   * its next utrace_reset, the reaper after its report_reap), and while release_task waits for
   * the task's death report to do the reap. Returns 0 (no callback in progress; any callback's
   * return has been applied), -ESRCH (the engine is fully detached: off every list, no callback
   * can come), or -ERESTARTSYS (a signal is pending on the caller). 0 at once for the task itself.
   */
  barrier(pid: number, engine: UtraceEngine): KPath<number>;
  /**
   * utrace_prepare_examine: `engine` must hold `pid` stopped (-EINVAL); -ESRCH if the task is
   * dead; -EAGAIN if it is running or does not get off its CPU. Returns the examiner.
   */
  prepareExamine(pid: number, engine: UtraceEngine): KPath<UtraceExaminer | number>;
  /** utrace_finish_examine: 0, or -EAGAIN when the task ran in between (discard what was read), -EINVAL as above. */
  finishExamine(pid: number, engine: UtraceEngine, examiner: UtraceExaminer): KPath<number>;
  /**
   * utrace_engine_put: drops one of the tracer's references. The last one frees the tracer's
   * data (ops.release runs); the engine itself lives on while a list holds it. A callback that
   * runs with the data freed is a use-after-free (`utrace/engine-lifetime`): put the last
   * reference only once no callback can come (see `detachEngine`).
   */
  enginePut(engine: UtraceEngine): KPath<void>;
  /**
   * Sleeps until `pid` is stopped by utrace (TASK_TRACED), dead or gone; returns 0 when stopped,
   * -ESRCH otherwise. The general form of ptrace_notify_stop that the thread asks for.
   */
  waitForStop(pid: number): KPath<number>;
  /** Host-side reads of the current state. */
  engineState(engine: UtraceEngine | number): UtraceEngineState | undefined;
  taskState(pid: number): UtraceTaskState | undefined;
  /** The engines attached to `pid` (and attaching), in order, as handles. */
  engines(pid: number): UtraceEngine[];
}

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /** An engine left a non-integer `info.signo`, or one out of 0..64, for the no-signal pass to act on. */
    UTRACE_SIGINFO_INVALID: true;
  }
  interface EventMap {
    /** A new engine on `pid`'s attaching list, with one reference for the caller `by`. */
    'utrace/engine-attached': { engine: number; pid: number; ops: string; by: number };
    /** A lookup (attach without CREATE) took a reference: `refs` after it. */
    'utrace/engine-get': { engine: number; refs: number };
    /** enginePut: `refs` after it. */
    'utrace/engine-put': { engine: number; refs: number };
    /** The tracer's last reference went: its data is freed (ops.release ran). The engine lives on while listed. */
    'utrace/engine-freed': { engine: number; by: number };
    /** The reaper dropped the list's reference after the engine's report_reap (or at once if it wanted none). */
    'utrace/engine-reaped': { engine: number; pid: number; by: number };
    /** The engine's ops were swapped for the detached ops: `how` says by whom. */
    'utrace/engine-detached': { engine: number; pid: number; how: 'control' | 'return' | 'reap' };
    /** utrace_set_events: the engine's mask is `mask`; the task's flags grow to include it. */
    'utrace/events-set': { pid: number; engine: number; mask: number };
    /** ENGINE_STOP set or cleared on an engine. */
    'utrace/engine-stop': { pid: number; engine: number; stop: boolean };
    /** utrace->resume becomes `resume`. */
    'utrace/resume': { pid: number; resume: number };
    /** splice_attaching: the attaching list joins the end of the attached list. */
    'utrace/splice': { pid: number; engines: number[] };
    /** utrace_reset: detached engines leave the list; `flags` is the new utrace_flags. */
    'utrace/reset': { pid: number; removed: number[]; flags: number };
    /**
     * A callback to `engine` in `pid`, run by `by`, with `action` as its argument. `ret: null`:
     * it starts (utrace->reporting = engine) and `utrace/callback-return` follows. Otherwise it
     * ran and returned without a single kernel command in between (nothing could observe it
     * running), and this one event also carries what `utrace/callback-return` would.
     */
    'utrace/callback': { pid: number; engine: number; callback: string; action: number; by: number; ret: number | null; stop: boolean | null; detach: boolean };
    /** A callback returned `ret`: reporting = null; `stop` sets/clears ENGINE_STOP (null: unchanged); `detach`: the return detached it. */
    'utrace/callback-return': { pid: number; engine: number; callback: string; ret: number; stop: boolean | null; detach: boolean };
    /** A reporting pass ended: `event` (a name), the aggregate `action`, and each folded return. */
    'utrace/report': { pid: number; event: string; action: number; folded: number[]; held: number[] };
    /** The task stops in utrace_stop (TASK_TRACED). */
    'utrace/stopped': { pid: number };
    /** utrace_wakeup: no engine holds the task stopped any more (or SIGKILL). */
    'utrace/woken': { pid: number; by: number; reason: 'reset' | 'sigkill' };
    /** report_clone begins/ends in the parent (utrace->cloning). */
    'utrace/cloning': { pid: number; child: number | null };
    /** report_clone returned STOP for a vfork: the parent stops before its wait. */
    'utrace/vfork-stop': { pid: number; set: boolean };
    /** report_death begins (`start`) or ends (`end`). */
    'utrace/death': { pid: number; phase: 'start' | 'end' };
    /** utrace_maybe_reap: deferred (report_death still running) or begun (the engines move to the reaper's list; report_reap and `utrace/engine-reaped` follow per engine). */
    'utrace/reap': { pid: number; by: number; deferred: boolean };
    /** A utrace_control call and what it returned (for logs and summaries). */
    'utrace/control': { pid: number; engine: number; action: number; ret: number; by: number };
    /** The syscall logger engine's line for one syscall (strace's output). */
    'utrace/syscall-log': { pid: number; engine: number; name: string; args: Record<string, number>; ret: number; text: string };
    /** The ptrace-like engine saw a signal and stopped the task for its controller. */
    'utrace/ptrace-stop': { pid: number; engine: number; sig: number };
  }
  interface PluginStates {
    utrace: UtraceState;
  }
  interface PluginApis {
    utrace: UtraceApi;
  }
}
