import { TracelabError, describeError, kernelBug } from '../errors.js';
import type { EventInput, KernelEvent } from '../events.js';
import { intMapGet, intMapNextKey, intMapValues } from '../int-map.js';
import type { Command, Current, KPath, PollDone, RcuCallback } from '../paths.js';
import type { ForkStage, HookArgs, HookHandler, HookName, InvariantCheck, LivenessMonitor, McountHandler, SyscallBody, TapOptions } from '../plugin.js';
import type { KernelState, MmState, TaskRunState, TaskState } from '../state.js';
import { encodeSchedule, type Chooser } from '../strategy.js';
import type { ChoiceKind } from '../paths.js';
import type { Checkpoint, EventStore } from './store.js';
import { isGenerator, isSchedulingCommand } from './forward.js';
import { CorePathsImpl } from './core-paths.js';
import { SIGSEGV } from '../program.js';
import { PEEK, isKPath } from '../paths.js';
import { Interrupts, contextOf, inInterruptCount, type ResolvedInterrupts } from './irq.js';
import { FootprintRecorder, OBSERVER_HOST, type FootprintSink } from './footprint.js';

/** A path that has already returned: `yield*` of it gives undefined at once (shared, never resumed into anything). */
// eslint-disable-next-line require-yield -- it takes no step on purpose
const SPENT: KPath<unknown> = (function* (): KPath<unknown> {
  return undefined;
})();
SPENT.next();

/** What a chooser that ignores `pids` is given. */
const NO_PIDS: readonly number[] = Object.freeze([]);

/** A live task when the run stopped with nothing able to run: what it waits for. */
export interface WaitingTask {
  readonly pid: number;
  readonly comm: string;
  readonly state: TaskRunState;
  /** The wait channel (`stopped:<pid>`, `utrace-stop:<pid>`, `mutex:<name>`, `wait:<pid>`...), or null. */
  readonly on: string | null;
  /** The spinning lock it busy-waits on, or null. */
  readonly spinning: string | null;
}

/** A violation stops the run: the invariant, what broke, and the replay string. */
export interface Violation {
  readonly name: string;
  readonly message: string;
  readonly schedule: string;
  readonly seq: number;
  readonly time: number;
  /**
   * A liveness alarm's: the index in the schedule of the first choice of the step that made the
   * monitor hot, so that a checker can look at the choices of the whole hot stretch (explore's
   * `isFailure` does, for fairness). Absent for every other violation.
   */
  readonly hotSince?: number;
}

/**
 * A task as the scheduler sees it: its stack of frames (the task's own path at the bottom;
 * context-switch hook frames pushed on top), the value its last command resumes with, and
 * where it stopped. Written only by the runtime's loop.
 */
export interface TaskRt {
  readonly pid: number;
  readonly comm: string;
  frames: KPath<unknown>[];
  resume: unknown;
  /** An error to throw into the top frame at its next resume (a command that failed). */
  pendingThrow: unknown;
  /** Stopped at a scheduling point: the scheduler may preempt it here. */
  atPoint: boolean;
  /** Busy-waiting for this spinning lock to be granted. */
  spinning: string | null;
  /** In its final schedule() of do_exit. */
  exiting: boolean;
  /** Instrumented functions entered and not yet left (for mcount's parentIp). */
  fnStack: string[];
  /** Killed by an oops and now in do_exit. */
  oopsed?: boolean;
  /**
   * Past exit_signals in do_exit (PF_EXITING: after the `exit` hook, tracehook_report_exit's
   * place): an oops from here on is make_task_dead's recursive fault. Set by the exit path,
   * journaled (a rolled-back step that set it did not get there).
   */
  pfExiting?: boolean;
  /**
   * Hook runs (`runHook`) this task is inside: hooks run in kernel mode, so a CPU whose task
   * is in one has not passed an RCU-sched quiescent state even if the task is idle or in user
   * mode. Written by runHook on the running task; reset when an oops throws its frames away.
   */
  hookDepth: number;
  /** The idle task only: between rcuIdleEnter and rcuIdleExit (RCU-sched not watching). */
  rcuIdle: boolean;
  /** The one CPU a kernel thread bound at creation may run on (kthread_bind), or -1: any. */
  readonly boundCpu: number;
  /**
   * The contained handlers and paths this task is inside, outermost first, as pairs of plugin
   * (null: the core) and where (`hook contextSwitch`): what the watchdog names when a handler's
   * JavaScript never returns. Pushed and popped by `contained` on the running task.
   */
  inside: Array<string | null>;
  /** kernel.call's completion: the path's value, or the oops that killed it. */
  outcome?: { ok: true; value: unknown } | { ok: false; error: string };
}

interface Tap {
  readonly plugin: string | null;
  readonly fn: HookHandler<HookName>;
  /** `hook <name>`, what containment and the watchdog name (built once, at tap time). */
  readonly where: string;
  readonly priority: number;
  readonly order: number;
  readonly stage?: ForkStage;
  readonly flag?: string;
}

/**
 * Where a step segment began: the store's checkpoint and the stepping CPU's preempt count
 * (which lives in the runtime, not in the log, between step ends).
 */
interface RtCheckpoint {
  readonly store: Checkpoint;
  readonly preempt: number;
  /** How many undo records the journal held: a rollback runs the ones made since. */
  readonly undo: number;
}

/** What a built kernel's runtime resets to; null when it cannot be (tasks or timers already exist). */
export type RuntimeMark = null | {
  readonly now: number;
  readonly patches: ReadonlyMap<string, { plugin: string; handler: McountHandler }>;
  readonly invariants: number;
  readonly monitors: number;
};

export interface RuntimeOptions {
  readonly cpus: number;
  /** Ticks a page fault sleeps for its I/O. */
  readonly faultLatency: number;
  /** Ask the strategy about allocation failures (fault injection). */
  readonly faultInjection: boolean;
  /** The interrupt sources (irq.ts), or null: no interrupt ever arrives and no `nmi`/`irq` choice is asked. */
  readonly interrupts: ResolvedInterrupts | null;
  /** Memory pressure: the `evict` choice before each step (see `reclaimChoice`). */
  readonly reclaim: boolean;
  /** `'on-change'`: a poll loop's look that would fail is set aside while invisible (`lookInvisible`). */
  readonly pollLoops: 'every-tick' | 'on-change';
}

/** Raised by a plugin's API path: carries the plugin, so the oops can name and disable it. */
export class PluginPathError extends Error {
  constructor(
    readonly plugin: string,
    readonly where: string,
    readonly original: unknown,
  ) {
    super(describeError(original));
  }
}

const STEP_COMMAND_LIMIT = 1_000_000;

/** Where an idle loop with an `idle` tap stands (`Runtime.idlePhase`). */
type IdlePhase = 'due' | 'pass' | 'repass' | 'halted';

/**
 * The scheduler and everything a step needs. Who writes what:
 * - registration tables (`hooks`, `syscalls`, `workFlags`): written while plugins register, in
 *   `createKernel`; `seal()` freezes them when the kernel is built.
 * - `patches`, `invariants`, `monitors`: the host API and ftrace's (un)patching, between or
 *   inside steps, on the kernel's one thread.
 * - `now`, `cpu`, `running`, `halted`, `choices`, `violations`, `tasks`, `idle`, the timers,
 *   the RCU callback map, the wait-queue index, the preempt counts and the poll-loop tables
 *   (`pollers`, `parked`, `pollPreempted`): only the kernel's own loop (`step` and the commands
 *   it answers), single-threaded; a rollback restores or rebuilds what the undone events wrote
 *   (preempt count, wait queues) and the journal puts back the rest.
 */
export class Runtime {
  now = 0;
  /** The CPU whose task is executing, -1 between steps (host context). */
  cpu = -1;
  running: TaskRt | null = null;
  readonly tasks = new Map<number, TaskRt>();
  /**
   * Whether a task bound to one CPU (kthread_bind, `{ cpu }`) was created since the kernel was
   * built or reset. While false every runnable task may run anywhere, and the scheduler reads
   * the runqueue as it is (the common case pays nothing). Set by `bindTask`; cleared by reset.
   */
  private bindingUsed = false;
  idle: TaskRt[];
  /**
   * Per CPU, where its idle loop stands with an `idle` tap (docs/core.md decision 21): `due`, a
   * pass is to run (the CPU went idle, was woken, or was reset); `pass`, inside one; `repass`,
   * inside one that an interrupt arrived in (the arch idle routine then returns at once, so
   * another pass follows); `halted`, the pass is done and the CPU is not stepped until a task
   * may run there, an IPI is pending or its tick or NMI falls due (`Interrupts.dueOnIdle`).
   * Only kernels with an `idle` tap leave `due`. Written by `idlePassStart`, `idleHalt`,
   * `wokenIdle`, `switchFrom` (a switch to the idle task) and an oops that restarts the loop,
   * each journalled for a rolled-back step; reset to `due`.
   */
  private readonly idlePhase: IdlePhase[];
  choices: number[] = [];
  /** Scheduler steps taken (those that ran a CPU), recorded in the schedule string. Written only by step(). */
  steps = 0;
  violations: Violation[] = [];
  readonly hooks = new Map<HookName, Tap[]>();
  readonly syscalls = new Map<string, SyscallBody>();
  /** Thread flags that send a task to the syscall slow path (from the syscall hooks' taps). */
  readonly workFlags = new Set<string>();
  readonly patches = new Map<string, { plugin: string; handler: McountHandler }>();
  /** The checks, in registration order, with their declared reads (`InvariantOptions`). Written by registration, and by rollback of a failed one. */
  readonly invariants: Array<{ name: string; plugin: string | null; check: InvariantCheck; reads?: readonly string[] }> = [];
  /**
   * The liveness monitors, in registration order. The array is written by registration (and
   * rollback of a failed one) and by `reset` (back to the mark); each entry's `steps` (hot steps
   * in a row), `since` (the first choice of the stretch) and `ran` by `checkLiveness` at a step's
   * end, and by `reset`.
   */
  readonly monitors: Array<{ name: string; plugin: string | null; monitor: LivenessMonitor; steps: number; since: number; ran: Set<number> }> = [];
  private readonly rcuCallbacks = new Map<number, { fn: RcuCallback; label: string }>();
  // Timed sleeps, sorted by wake time then pid; stale entries are skipped when they fire.
  private timers: Array<{ at: number; pid: number }> = [];
  /**
   * Poll loops' waits (`pollSleep`): pid -> the loop's exit test, from the command that begins
   * the wait until the task next runs. Written only inside the poller's own steps (the
   * `poll-watch` command, `endPoll` as it resumes), journaled; cleared by `reset`.
   */
  private readonly pollers = new Map<number, PollDone>();
  /**
   * Pollers (under `pollLoops: 'on-change'`) whose sleep is over and whose look would fail: still
   * asleep, with no timer, until a step's start finds the look no longer invisible
   * (`eligibleWithPollers`) or a preemption is taken for them (`wakeParked`). Added only by
   * `fireTimers`, in a step's prologue; taken out by any `sched/wakeup` of the task (`emit`:
   * journaled when the wake-up is a step's, so a rolled-back step's wake-up puts it back) and by
   * `eligibleWithPollers` for a task no longer asleep; cleared by `reset`.
   */
  private readonly parked = new Set<number>();
  /**
   * Tasks preempted at their current preemption point only for parked pollers
   * (`wakeParked`): that point does not offer it again, since a second failed look there
   * would change nothing but the task's switch counts and the clock. Added when such a
   * preemption is taken, taken out when the task resumes past the point (`runCpu`); both inside
   * a step, journaled; cleared by `reset`.
   */
  private readonly pollPreempted = new Set<number>();
  private tapOrder = 0;
  /** The store's version the invariants last saw (written only by checkInvariants). */
  private lastCheckedVersion = -1;
  /**
   * Kernel code was handed the working state this step (the `state` command): the step ends
   * with a snapshot, so what it holds across scheduling points is never written in place.
   * Written by the command and by `step`; reset by `reset`.
   */
  private stateHandedOut = false;
  /**
   * Set when a step resumed kernel code (written by `resume`, cleared by `checkInvariants`):
   * such a step may have changed data kept outside the state (ring-buffer bytes, probe
   * arrays) that invariants read, even when it logged nothing.
   */
  private ranCode = false;
  /**
   * Each CPU's preempt count as kernel code sees it (`current()`). Written only by the
   * stepping CPU's commands (`preempt`), by oops restores and by rollbacks, all inside a step;
   * published to `state.cpus[c].preemptCount` by one `cpu/preempt-count` at the end of a step
   * whose net change is non-zero (`publishPreemptCount`), so between steps the two agree.
   */
  private readonly preempt: number[];
  /**
   * The wait-queue index: channel -> pids that went to sleep on it, and pid -> its channel.
   * Written only by `emit` (`task/sleep` adds, `sched/wakeup` removes) and rebuilt from the state
   * after a rollback; `sleepers` re-checks each entry against the state, so an entry left by a
   * task that died asleep is skipped, never woken.
   */
  private readonly waitQueues = new Map<string, Set<number>>();
  private readonly sleepingOn = new Map<number, string>();
  /** The channel a task sleeps on, for the footprint of a wake-up (read by the recorder only). */
  private readonly channelOf = (pid: number): string | undefined => this.sleepingOn.get(pid);
  /**
   * The undo journal: how to take back what the current step changed outside the state, in
   * the runtime's tables (`tasks`, the timers, `patches`, the RCU callback map, `invariants`,
   * `monitors`, the vfork table) and in plugins' own data (`ctx.onRollback`). Newest last.
   * Written only by `journal`, and only while a CPU steps (`cpu >= 0`): what the host does
   * between steps is never rolled back. `rollback` runs, newest first, the records made since
   * its checkpoint; `runCpu` empties it when a step begins, since a finished step stands.
   */
  private readonly undoLog: Array<() => void> = [];
  halted = false;
  /** Whether the chooser takes `pids` (declares a third parameter): if not, none are built. */
  chooserWantsPids: boolean;

  // Where the running task's current step segment began: an oops undoes back to here.
  private stepCheckpoint: RtCheckpoint;

  /**
   * The kernel's own paths (the user-task driver, syscalls, copy_process, do_exit, the idle
   * loop), built here and bound to this runtime: the runtime's services (copy_from_user,
   * make_task_dead, kthread_run, the idle tasks) come from them, with no slot filled in later.
   */
  readonly paths: CorePathsImpl;

  /** Interrupts and NMIs (irq.ts): each CPU's local_irq state, the sources, the handler frames. */
  readonly irqs: Interrupts;

  constructor(
    readonly store: EventStore,
    public chooser: Chooser,
    readonly options: RuntimeOptions,
  ) {
    this.paths = new CorePathsImpl(this);
    for (const [name, body] of this.paths.syscallTable()) this.syscalls.set(name, body);
    this.preempt = new Array<number>(options.cpus).fill(0);
    this.irqs = new Interrupts(this, options.interrupts, options.cpus);
    this.stepCheckpoint = this.checkpoint();
    this.chooserWantsPids = chooser.choose.length >= 3;
    this.idle = Array.from({ length: options.cpus }, (_, cpu) => this.newRt(0, `swapper/${cpu}`, this.paths.idleLoop(cpu)));
    this.idlePhase = new Array<IdlePhase>(options.cpus).fill('due');
  }

  get state(): KernelState {
    return this.store.live;
  }

  /**
   * The step footprint recorder while an explorer asks for footprints (`recordFootprints`), else
   * null: every recording site is behind a null check, so the default path pays one compare.
   * Written only by `recordFootprints` (host side, between runs).
   */
  fp: FootprintRecorder | null = null;

  /**
   * A recorder asked for with `fromStep` beyond the step count: it starts (becomes `fp`) at the
   * first step that begins with `steps >= fpFrom`. Until then code that may keep the state is
   * handed its recording view (`handOutState`), so a state kept across steps records its reads
   * in the recorded steps that make them. Written only by `recordFootprints` and `step`.
   */
  private fpPending: FootprintRecorder | null = null;
  private fpFrom = 0;

  /**
   * Starts (a sink) or stops (null) recording each step's footprint (footprint.ts), from the
   * step numbered `fromStep` (`steps` as it counts them: since the kernel was built or reset).
   */
  recordFootprints(sink: FootprintSink | null, fromStep = 0): void {
    this.fp = null;
    this.fpPending = null;
    this.store.recorder = null;
    if (sink === null) return;
    const fp = new FootprintRecorder(
      () => this.store.live,
      sink,
      (type) => this.store.foldersOf(type),
      (type) => this.store.footprintOf(type),
      () => (this.bindingUsed ? this.runnablePerCpu() : null),
    );
    this.fpPending = fp;
    this.fpFrom = fromStep;
    this.startRecording();
  }

  /** Installs the pending recorder once its first step is reached (see `fpPending`). */
  private startRecording(): void {
    if (this.fpPending === null || this.steps < this.fpFrom) return;
    this.fp = this.fpPending;
    this.store.recorder = this.fpPending;
    this.fpPending = null;
  }

  /**
   * The working state, handed to plugin or kernel code that may keep it across its scheduling
   * points: the step then ends with a snapshot (see `step`). While recording, or waiting to
   * start, it is the recorder's view: a state kept into a recorded step records what it reads.
   * (Reads made through it before the recorder starts are dropped by the first step's `begin`.)
   */
  handOutState(): KernelState {
    this.stateHandedOut = true;
    const fp = this.fp ?? this.fpPending;
    return fp === null ? this.store.live : fp.state;
  }

  /** What `reset` goes back to: taken when the kernel is built (`mark`), after every plugin registered. */
  mark(): RuntimeMark {
    if (this.tasks.size > 0 || this.timers.length > 0 || this.rcuCallbacks.size > 0) return null;
    return { now: this.now, patches: new Map(this.patches), invariants: this.invariants.length, monitors: this.monitors.length };
  }

  /**
   * Back to `mark` with a new chooser (`kernel.reset`): no tasks, no timers, no RCU callbacks,
   * the idle loops restarted, the registration-time patches, invariants and monitors (those the
   * host added since are dropped). The store is reset first (EventStore.resetTo), so the wait-queue
   * index and preempt counts are rebuilt from its state. Arrays handed out before (`violations`,
   * `choices`) are replaced, not emptied.
   */
  reset(mark: NonNullable<RuntimeMark>, chooser: Chooser): void {
    this.now = mark.now;
    this.cpu = -1;
    this.running = null;
    this.tasks.clear();
    this.bindingUsed = false;
    this.idle = Array.from({ length: this.options.cpus }, (_, cpu) => this.newRt(0, `swapper/${cpu}`, this.paths.idleLoop(cpu)));
    this.idlePhase.fill('due');
    this.choices = [];
    this.steps = 0;
    this.violations = [];
    this.patches.clear();
    for (const [k, v] of mark.patches) this.patches.set(k, v);
    this.invariants.length = mark.invariants;
    this.monitors.length = mark.monitors;
    for (const m of this.monitors) {
      m.steps = 0;
      m.since = 0;
      m.ran.clear();
    }
    this.rcuCallbacks.clear();
    this.timers = [];
    this.pollers.clear();
    this.parked.clear();
    this.pollPreempted.clear();
    this.irqs.reset();
    this.undoLog.length = 0;
    this.lastCheckedVersion = -1;
    this.stateHandedOut = false;
    this.ranCode = false;
    const cpus = this.store.live.cpus;
    for (let c = 0; c < this.preempt.length; c++) this.preempt[c] = cpus[c]?.preemptCount ?? 0;
    this.rebuildWaitQueues();
    this.halted = false;
    this.paths.reset();
    this.chooser = chooser;
    this.chooserWantsPids = chooser.choose.length >= 3;
    this.stepCheckpoint = this.checkpoint();
  }

  get schedule(): string {
    return encodeSchedule(this.choices, { steps: this.steps });
  }

  newRt(pid: number, comm: string, path: KPath<unknown>, boundCpu = -1): TaskRt {
    return {
      pid,
      comm,
      frames: [path],
      resume: undefined,
      pendingThrow: undefined,
      atPoint: false,
      spinning: null,
      exiting: false,
      fnStack: [],
      hookDepth: 0,
      rcuIdle: false,
      boundCpu,
      inside: [],
    };
  }

  /**
   * Asks the strategy for one of `n` options and records it. Callers build `pids` only when
   * `chooserWantsPids` (an array per choice is measurable on the step path); otherwise NO_PIDS.
   */
  choose(kind: ChoiceKind, n: number, pids: readonly number[]): number {
    if (n <= 1) return 0;
    const c = this.chooser.choose(kind, n, pids, this.store.live);
    if (!Number.isInteger(c) || c < 0 || c >= n) {
      throw new TracelabError('SCHEDULE_INVALID', `strategy chose ${c} for '${kind}' among ${n} options`);
    }
    this.choices.push(c);
    return c;
  }

  emit(input: EventInput): KernelEvent {
    if (this.fp !== null) this.fp.noteEvent(input, this.cpu, this.store.live, this.channelOf);
    const e = this.store.append(input, this.now, this.cpu);
    if (e.type === 'task/sleep' && e.until !== null) this.addTimer(e.until, e.pid);
    // An oops that restores the preempt count restores the runtime's, as its reducer does the state's.
    else if (e.type === 'kernel/oops' && e.preemptCount !== null && e.cpu >= 0) this.preempt[e.cpu] = e.preemptCount;
    if (e.type === 'task/sleep') this.enqueueSleeper(e.pid, e.on);
    else if (e.type === 'sched/wakeup') {
      this.dequeueSleeper(e.pid);
      if (this.parked.size > 0 && this.parked.delete(e.pid)) this.journal(() => this.parked.add(e.pid));
    }
    return e;
  }

  private enqueueSleeper(pid: number, channel: string): void {
    this.dequeueSleeper(pid);
    let q = this.waitQueues.get(channel);
    if (q === undefined) this.waitQueues.set(channel, (q = new Set()));
    q.add(pid);
    this.sleepingOn.set(pid, channel);
  }

  private dequeueSleeper(pid: number): void {
    const channel = this.sleepingOn.get(pid);
    if (channel === undefined) return;
    this.sleepingOn.delete(pid);
    const q = this.waitQueues.get(channel)!;
    q.delete(pid);
    if (q.size === 0) this.waitQueues.delete(channel);
  }

  /** The tasks asleep (or stopped) on `channel` now, in pid order (the kernel's task-list order). */
  sleepers(channel: string): number[] {
    const q = this.waitQueues.get(channel);
    if (q === undefined) return [];
    const out: number[] = [];
    for (const pid of q) {
      const t = this.task(pid);
      if (t !== undefined && t.waitingOn === channel && (t.state === 'sleeping' || t.state === 'stopped')) out.push(pid);
    }
    return out.sort((a, b) => a - b);
  }

  /** After a rollback the index may name sleeps that were undone or miss wake-ups that were: rebuilt from the state. */
  private rebuildWaitQueues(): void {
    this.waitQueues.clear();
    this.sleepingOn.clear();
    const tasks = this.store.live.tasks;
    for (let pid = intMapNextKey(tasks, -1); pid !== -1; pid = intMapNextKey(tasks, pid)) {
      const t = intMapGet(tasks, pid)!;
      if (t.waitingOn !== null) this.enqueueSleeper(pid, t.waitingOn);
    }
  }

  /** The preempt count of `cpu` now (mid-step, the state's copy may lag for the stepping CPU). */
  preemptCount(cpu: number): number {
    return this.preempt[cpu]!;
  }

  checkpoint(): RtCheckpoint {
    return { store: this.store.checkpoint(), preempt: this.cpu >= 0 ? this.preempt[this.cpu]! : 0, undo: this.undoLog.length };
  }

  /** irq_enter/irq_exit's change of the count's hardirq or NMI part (irq.ts). */
  addPreempt(cpu: number, delta: number): void {
    this.preempt[cpu]! += delta;
  }

  /** The idle loop of `cpu` begins a pass of its `idle` hook. */
  idlePassStart(cpu: number): void {
    this.setIdlePhase(cpu, 'pass');
  }

  /**
   * The idle loop of `cpu` finished a pass of its `idle` hook: the CPU halts until a task may run
   * there, an IPI is pending or its tick or NMI falls due (do_idle calls the arch idle routine,
   * which halts until an interrupt), unless an interrupt came inside the pass. Before, an idle
   * CPU with a tap was eligible at every step, and a default schedule could poll it for ever
   * while another CPU had work.
   */
  idleHalt(cpu: number): void {
    // The CPU halts with interrupts enabled (`sti; hlt`) and the idle loop goes on with them
    // enabled whatever the idle routine returned with: a pass that ended with them off, as
    // do_idle's own local_irq_disable leaves them, or a hook that left them off, does not keep
    // the interrupt that wakes the CPU out.
    this.irqs.setIrqOff(cpu, false);
    this.setIdlePhase(cpu, this.idlePhase[cpu] === 'repass' ? 'due' : 'halted');
  }

  /**
   * An interrupt was delivered to `cpu`'s idle task: a halted CPU is woken, and its loop runs
   * another pass unless a task may run; one inside a pass runs another after it.
   */
  wokenIdle(cpu: number): void {
    const phase = this.idlePhase[cpu]!;
    if (phase === 'pass') this.setIdlePhase(cpu, 'repass');
    else if (phase === 'halted') this.setIdlePhase(cpu, 'due');
  }

  private setIdlePhase(cpu: number, phase: IdlePhase): void {
    const was = this.idlePhase[cpu]!;
    if (was === phase) return;
    this.idlePhase[cpu] = phase;
    this.journal(() => {
      this.idlePhase[cpu] = was;
    });
  }

  /** Records how to undo a change made outside the state, should this step segment be rolled back. */
  journal(undo: () => void): void {
    if (this.cpu >= 0) this.undoLog.push(undo);
  }

  /**
   * Undoes a step segment: what it changed outside the state (the journal, newest first), the
   * events since `cp`, and the stepping CPU's preempt count.
   */
  rollback(cp: RtCheckpoint): void {
    while (this.undoLog.length > cp.undo) this.undoLog.pop()!();
    this.store.rollback(cp.store);
    if (this.cpu >= 0) this.preempt[this.cpu] = cp.preempt;
    this.rebuildWaitQueues();
  }

  /** End of a step on `cpu`: the state's preempt count catches up with the runtime's. */
  private publishPreemptCount(cpu: number): void {
    const count = this.preempt[cpu]!;
    if (this.store.live.cpus[cpu]!.preemptCount !== count) this.emit({ type: 'cpu/preempt-count', count });
  }

  task(pid: number): TaskState | undefined {
    if (this.fp !== null) this.fp.read(this.fp.named('task', String(pid)));
    return intMapGet(this.store.live.tasks, pid);
  }

  /** The address space of `tgid` (recorded as a read while footprints are recorded). */
  mm(tgid: number): MmState | undefined {
    if (this.fp !== null) this.fp.read(this.fp.named('mm', String(tgid)));
    return intMapGet(this.store.live.memory, tgid);
  }

  // ---- hooks ------------------------------------------------------------------------------

  /** Whether the kernel is built: registration tables are frozen. */
  private sealed = false;

  /** Freezes the registration tables once every plugin has registered. */
  seal(): void {
    this.sealed = true;
    for (const list of this.hooks.values()) Object.freeze(list);
    Object.freeze(this.hooks);
  }

  /** Throws when a table is written after the kernel was built (a tap from inside a path, say). */
  assertRegistering(plugin: string | null, what: string): void {
    if (this.sealed)
      throw new TracelabError('PLUGIN_INVALID', `plugin ${plugin ?? 'core'}: ${what} after the kernel was built; register it in register(ctx)`, { plugin });
  }

  tap<H extends HookName>(plugin: string | null, hook: H, fn: HookHandler<H>, options: TapOptions = {}): void {
    this.assertRegistering(plugin, `tap of ${hook}`);
    let list = this.hooks.get(hook);
    if (list === undefined) this.hooks.set(hook, (list = []));
    const tap: Tap = {
      plugin,
      fn: fn as unknown as HookHandler<HookName>,
      where: `hook ${hook}`,
      priority: options.priority ?? 10,
      order: this.tapOrder++,
      ...(options.stage !== undefined ? { stage: options.stage } : {}),
      ...(options.flag !== undefined ? { flag: options.flag } : {}),
    };
    list.push(tap);
    list.sort((a, b) => b.priority - a.priority || a.order - b.order);
    if (options.flag !== undefined) this.workFlags.add(options.flag);
  }

  /** Whether some tap names this fork stage (`prelock` and `prelink` run only for those). */
  hasForkStage(stage: ForkStage): boolean {
    return this.hooks.get('fork')?.some((t) => t.stage === stage) ?? false;
  }

  hasHandlers(hook: HookName): boolean {
    const list = this.hooks.get(hook);
    return list !== undefined && list.length > 0;
  }

  isDisabled(plugin: string | null): boolean {
    return plugin !== null && this.store.live.kernel.disabledPlugins[plugin] !== undefined;
  }

  /**
   * Runs a hook's handlers in priority order, each contained: a handler that throws has the
   * events of its failed segment undone, its plugin oopsed and disabled, and the hook goes on.
   * Returns the last non-undefined handler result (a signal disposition). A hook nobody tapped
   * gives back a path that has already returned: `yield*` of it costs no generator.
   */
  runHook<H extends HookName>(hook: H, args: HookArgs[H], pid = -1): KPath<unknown> {
    const list = this.hooks.get(hook);
    if (list === undefined) return SPENT;
    return this.runTaps(list, args, pid);
  }

  /**
   * The idle loop's pass: `runHook('idle')`, with each handler's preempt count checked on return
   * (`idleLeak`). Only the idle loop calls it, so no other hook's dispatch pays for the check.
   */
  runIdleHook(cpu: number): KPath<unknown> {
    const list = this.hooks.get('idle');
    if (list === undefined) return SPENT;
    return this.runTaps(list, { cpu }, -1, true);
  }

  private *runTaps(list: readonly Tap[], args: unknown, pid: number, idle = false): KPath<unknown> {
    // The body runs lazily, on the task that is executing the hook.
    const self = this.running;
    if (self !== null) self.hookDepth++;
    let result: unknown;
    for (const tap of list) {
      if (this.isDisabled(tap.plugin)) continue;
      if (tap.stage !== undefined ? (args as HookArgs['fork']).stage !== tap.stage : isNamedOnlyStage((args as Partial<HookArgs['fork']>).stage)) continue;
      if (tap.flag !== undefined) {
        const t = this.task(pid);
        if (t === undefined || t.flags[tap.flag] !== true) continue;
      }
      const entry = idle ? this.preempt[this.cpu]! : 0;
      const r = yield* this.contained(tap.plugin, tap.where, tap.fn as (a: unknown) => unknown, args);
      if (r !== undefined) result = r;
      if (idle && this.preempt[this.cpu] !== entry) this.idleLeak(tap, entry);
    }
    if (self !== null) self.hookDepth--;
    return result;
  }

  /**
   * Drives a plugin's generator so that its failure is the plugin's alone. The checkpoint is
   * the start of the handler's current step segment: everything it emitted since its last
   * scheduling point is undone (nothing of it has been published yet). `start(arg)` makes the
   * path; a plain function's value is returned with no step. The loop is `drive`'s with the
   * failure and the checkpoint written in (no options object or closures per call).
   */
  *contained<T>(plugin: string | null, where: string, start: (arg?: unknown) => KPath<T> | T, arg?: unknown): KPath<T | undefined> {
    const self = this.running;
    const depth = self?.inside.length ?? 0;
    self?.inside.push(plugin, where);
    try {
      let cp = this.checkpoint();
      const fnDepth = self?.fnStack.length ?? 0;
      const entryPreempt = this.cpu >= 0 ? this.preempt[this.cpu]! : null;
      const entryRcuIdle = self?.rcuIdle ?? false;
      let gen: KPath<T>;
      try {
        // A plain-function handler has run already: its value is returned with no step.
        const out = start(arg);
        if (!isKPath(out)) return out as T;
        gen = out as KPath<T>;
      } catch (err) {
        this.oopsPlugin(plugin, where, err, cp, fnDepth, entryPreempt);
        return undefined;
      }
      let input: unknown;
      let error: unknown;
      let throwing = false;
      for (;;) {
        let r: IteratorResult<Command, T>;
        try {
          r = throwing ? gen.throw(error) : gen.next(input);
        } catch (err) {
          if (this.running !== null) this.running.rcuIdle = entryRcuIdle;
          this.oopsPlugin(plugin, where, err, cp, fnDepth, entryPreempt);
          return undefined;
        }
        if (r.done === true) return r.value;
        const cmd = r.value;
        try {
          input = yield cmd;
          throwing = false;
        } catch (err) {
          error = err;
          throwing = true;
        }
        // Resumed after a scheduling point: the failed segment now starts here.
        if (cmd.op === 'point' || cmd.op === 'switch' || cmd.op === 'spin') cp = this.checkpoint();
      }
    } finally {
      if (self !== null) self.inside.length = depth;
    }
  }

  /**
   * An `idle` handler that returned with the preempt count changed (a preempt_disable or an
   * rcu_read_lock left held, or one too many released): the idle task would then stay in a
   * read-side section, never halt and never schedule (decision 22). Linux's schedule_idle would
   * say "scheduling while atomic". The plugin is oopsed and disabled, and the count put back.
   */
  private idleLeak(tap: Tap, entry: number): void {
    const now = this.preempt[this.cpu]!;
    this.emit({
      type: 'kernel/oops',
      plugin: tap.plugin,
      where: tap.where,
      message: `BUG: scheduling while atomic: the idle loop's hook returned with preempt count ${now}, entered with ${entry} (a preemptDisable or rcuReadLock left held, or one released too many)`,
      pid: 0,
      killed: null,
      preemptCount: entry,
    });
  }

  /** Where the running code is, for the watchdog's report (read on the main thread when it fires). */
  whereNow(): { cpu: number | null; pid: number | null; comm: string | null; plugin: string | null; where: string | null } {
    const t = this.running;
    if (t === null) return { cpu: null, pid: null, comm: null, plugin: null, where: null };
    const n = t.inside.length;
    return { cpu: this.cpu, pid: t.pid, comm: t.comm, plugin: n >= 2 ? t.inside[n - 2]! : null, where: n >= 2 ? t.inside[n - 1]! : null };
  }

  private oopsPlugin(handlerPlugin: string | null, handlerWhere: string, err: unknown, cp: RtCheckpoint, fnDepth: number, entryPreempt: number | null): void {
    // A handler that called another plugin's API path, which failed, is not at fault: the oops
    // (and the disabling) goes to the plugin the failure came from, as for a task's own code.
    const plugin = err instanceof PluginPathError ? err.plugin : handlerPlugin;
    const where = err instanceof PluginPathError ? `${handlerWhere} (${handlerPlugin ?? 'core'}) -> ${err.where}` : handlerWhere;
    if (err instanceof PluginPathError) err = err.original;
    this.rollback(cp);
    if (this.running !== null) this.running.fnStack.length = Math.min(this.running.fnStack.length, fnDepth);
    const nowPreempt = this.cpu >= 0 ? this.preempt[this.cpu]! : null;
    this.emit({
      type: 'kernel/oops',
      plugin,
      where,
      message: describeError(err),
      pid: this.running?.pid ?? -1,
      killed: null,
      preemptCount: entryPreempt !== null && entryPreempt !== nowPreempt ? entryPreempt : null,
    });
    this.stepCheckpoint = this.checkpoint();
  }

  // ---- the scheduler ----------------------------------------------------------------------

  currentRt(cpu: number): TaskRt {
    const pid = this.store.live.cpus[cpu]!.curr;
    return pid === 0 ? this.idle[cpu]! : this.tasks.get(pid)!;
  }

  /**
   * `eligibleCpus`' answer, one array reused (no array per step). Written only by
   * `eligibleCpus`; its callers (`step`, `checkLiveness`) read it before the next call.
   */
  private readonly eligible: number[] = [];

  private eligibleCpus(): number[] {
    const s = this.store.live;
    const out = this.eligible;
    out.length = 0;
    const idleHook = this.hasHandlers('idle');
    const anyRunnable = s.runqueue.length > 0;
    for (let c = 0; c < s.cpus.length; c++) {
      const pid = s.cpus[c]!.curr;
      if (pid === 0) {
        // An idle CPU that has begun a context-switch hook frame must finish it: until then it
        // is inside a read-side critical section a grace period may be waiting on.
        // So must one an IPI is pending for (it wakes the CPU).
        if (
          (idleHook && (this.idlePhase[c] !== 'halted' || this.irqs.dueOnIdle(c))) ||
          // Not recorded as the step's read (unbound, the length above is not either): which CPUs
          // may step is the `cpu` choice's business; explore races an idle CPU's pending switch-in.
          (this.bindingUsed ? this.anyRunnableOn(c) : anyRunnable) ||
          this.inReadSide(c, this.idle[c]!) ||
          // Whatever its interrupt state: a CPU halts with them enabled (idleHalt), and one
          // whose pass has not begun is woken into its pass, which may enable them.
          (this.irqs.ipiPending > 0 && this.irqs.hasIpi(c))
        )
          out.push(c);
        continue;
      }
      const t = this.tasks.get(pid)!;
      if (t.spinning !== null && !this.granted(t.spinning, pid)) continue;
      out.push(c);
    }
    return out;
  }

  /**
   * With no task left (the run loop, between steps): whether some CPU still has something to
   * do at this tick, with no timer fired and no clock jump. From the first such call on, no tick
   * or NMI falls due any more (`Interrupts.quietAfter`): the drain runs what is under way and
   * what was due when the last task went, an idle pass, a hook frame, an IPI, and waits for
   * nothing later (docs/core.md decision 22). Without that, ticks falling due during the passes
   * they cause would keep a kernel with no task running to its step limit.
   */
  drain(): boolean {
    if (this.irqs.quietAfter === Infinity) this.irqs.quietAfter = this.now;
    return this.eligibleCpus().length > 0;
  }

  /** The runnable tasks `cpu` may switch to, oldest first: the runqueue less the tasks bound to other CPUs. */
  runnableOn(cpu: number): readonly number[] {
    const rq = this.store.live.runqueue;
    if (!this.bindingUsed) return rq;
    return rq.filter((pid) => this.mayRunOn(pid, cpu));
  }

  /** Whether `cpu` has a runnable task it may switch to (`runnableOn(cpu).length > 0`, without the copy). */
  hasRunnableOn(cpu: number): boolean {
    // Unbound, the answer is the predicate "the runqueue is not empty", which a step writes only
    // when it changes it (footprint.ts); with bindings, this CPU's own "a queued task may run here".
    if (this.fp !== null) this.fp.read(this.emptyPredicate(cpu));
    return this.anyRunnableOn(cpu);
  }

  /**
   * The footprint object a CPU reads when it finds no task to run (footprint.ts): the
   * runqueue's emptiness, or with bindings that CPU's own "a queued task may run here".
   */
  private emptyPredicate(cpu: number): string {
    return this.bindingUsed ? `rq:nonempty:${cpu}` : 'rq:nonempty';
  }

  /** For each CPU, whether a queued task may run there (`rq:nonempty:<cpu>`, with bindings). */
  private runnablePerCpu(): boolean[] {
    const out: boolean[] = [];
    for (let c = 0; c < this.options.cpus; c++) out.push(this.anyRunnableOn(c));
    return out;
  }

  /** `hasRunnableOn` without recording the read. */
  private anyRunnableOn(cpu: number): boolean {
    const rq = this.store.live.runqueue;
    if (!this.bindingUsed) return rq.length > 0;
    for (const pid of rq) if (this.mayRunOn(pid, cpu)) return true;
    return false;
  }

  /**
   * Whether a preemption point of `cpu` may preempt its task: some task may run here. What the
   * step reads of it (footprint.ts): when none may, the predicate (with bindings, this CPU's
   * own) that kept the point from offering a preemption; when one may, nothing here. A
   * point that then does not preempt behaves the same whatever is queued; one that does reads
   * the membership as it picks (`switchFrom`).
   */
  private pointMayPreempt(cpu: number): boolean {
    const may = this.anyRunnableOn(cpu) || (this.parked.size > 0 && !this.pollPreempted.has(this.currentRt(cpu).pid) && this.parkedFor(cpu).length > 0);
    if (this.fp !== null && !may) this.fp.read(this.emptyPredicate(cpu));
    return may;
  }

  /**
   * The parked pollers that may run on `cpu` (docs/core.md, "Poll loops"): in the polling kernel
   * their wake-up each tick would let a preemption point here preempt the CPU's task, so the
   * point offers it still. Reads each parked poller's record: a wake-up writes it.
   */
  private parkedFor(cpu: number): number[] {
    const fp = this.fp;
    if (fp !== null) for (const pid of this.parked) fp.read(fp.named('task', String(pid)));
    return [...this.parked].filter((pid) => this.mayRunOn(pid, cpu));
  }

  /**
   * A preemption taken only for parked pollers: they are woken (by their timer, as in the polling
   * kernel) to be picked, and the preempted task's point will not offer it again.
   */
  private wakeParked(pollers: readonly number[], preempted: number): void {
    for (const pid of pollers) this.emit({ type: 'sched/wakeup', pid, by: 0 });
    this.pollPreempted.add(preempted);
    this.journal(() => this.pollPreempted.delete(preempted));
  }

  private mayRunOn(pid: number, cpu: number): boolean {
    const b = this.tasks.get(pid)?.boundCpu ?? -1;
    return b < 0 || b === cpu;
  }

  /**
   * Checks a `{ cpu }` binding request (`where` names the API) and notes that binding is in use.
   * Returns the CPU, or -1 for an unbound task.
   */
  bindTask(where: string, cpu: unknown): number {
    if (cpu === undefined) return -1;
    if (typeof cpu !== 'number' || !Number.isInteger(cpu) || cpu < 0 || cpu >= this.options.cpus)
      throw new TracelabError(
        'INVALID_OPTION',
        `${where}: cpu must be an integer from 0 to ${this.options.cpus - 1} (the kernel has ${this.options.cpus} CPUs), got ${String(cpu)}`,
      );
    this.bindingUsed = true;
    return cpu;
  }

  private granted(lock: string, pid: number): boolean {
    const l = this.store.live.locks[lock];
    if (l === undefined || l.kind === 'mutex') return false;
    return l.writer === pid || l.readers.includes(pid);
  }

  /** One scheduling step. Returns false when no CPU has anything to do, even after timers. */
  step(): boolean {
    if (this.fpPending !== null) this.startRecording();
    const fp = this.fp;
    const firstChoice = this.choices.length;
    if (fp !== null) fp.begin(firstChoice);
    this.now++;
    this.fireTimers();
    let cands = this.eligibleWithPollers();
    while (cands.length === 0 && this.timers.length > 0) {
      // Nothing runs until the next timer: jump the clock there (NO_HZ idle).
      if (fp !== null) fp.readClock();
      this.now = Math.max(this.now, this.timers[0]!.at);
      this.fireTimers();
      cands = this.eligibleWithPollers();
    }
    if (cands.length === 0) {
      this.store.flush();
      return false;
    }
    this.steps++;
    const cpus = this.store.live.cpus;
    const cpu = cands[this.choose('cpu', cands.length, this.chooserWantsPids ? cands.map((c) => cpus[c]!.curr) : NO_PIDS)]!;
    const ranPid = this.store.live.cpus[cpu]!.curr;
    if (fp !== null) fp.setPid(ranPid);
    this.runCpu(cpu);
    if (fp !== null) {
      const end = this.currentRt(cpu);
      fp.setPreemptible(end.pid === ranPid && ranPid !== 0 && end.atPoint && this.preempt[cpu] === 0 && !this.irqs.irqOff[cpu]);
    }
    this.publishPreemptCount(cpu);
    // RCU-sched's per-step look at the grace period: whether one is running and waits for this CPU.
    if (fp !== null) fp.read('rcu');
    this.rcuCheckCpu(cpu);
    this.cpu = -1;
    this.running = null;
    this.store.flush();
    // The step-end snapshot when kernel code read the state this step (`getState()`): it freezes
    // the step's writes in place, so a container that code keeps across its scheduling points
    // (ktrace's RCU walk iterates the task map it read: the race it models) is never edited
    // under it; later steps copy what they write. Within one step, a container read after a
    // write of that step is the working one. A step whose code read nothing needs none, unless
    // a check takes one below: freezing every step's writes was a fifth of the simulation.
    if (this.stateHandedOut) {
      this.stateHandedOut = false;
      void this.store.state;
    }
    if (fp === null) {
      this.checkInvariants();
      this.checkLiveness(cpu, ranPid, firstChoice);
      return true;
    }
    fp.observing = true;
    try {
      this.checkInvariants();
      this.checkLiveness(cpu, ranPid, firstChoice);
    } finally {
      fp.observing = false;
    }
    fp.end(cpu);
    return true;
  }

  private runCpu(cpu: number): void {
    this.cpu = cpu;
    const t = this.currentRt(cpu);
    this.running = t;
    this.undoLog.length = 0;
    this.stepCheckpoint = this.checkpoint();
    if (this.options.reclaim) this.reclaimChoice();
    // Interrupts (irq.ts): a strategy choice at each step of a CPU, when a source can deliver.
    // Interrupt sources are due by the clock: a step that may take one depends on the step count.
    if (this.fp !== null && this.options.interrupts !== null) this.fp.readClock();
    // A halted idle CPU (idlePhase) steps only to be woken: by a task it may run (the switch
    // below), else by the interrupt that made it eligible, which then arrives without a choice.
    if (this.options.interrupts !== null || this.irqs.ipiPending > 0) {
      const wake = t.pid === 0 && this.idlePhase[cpu] === 'halted' && !this.hasRunnableOn(cpu);
      if (this.irqs.arrive(cpu, t, wake)) {
        this.resume(t);
        return;
      }
    }
    if (t.pid === 0) {
      // Context-switch hooks pushed onto the idle task run before it switches away again, and
      // so do idle-hook handlers: the idle task schedules only from the top of its loop, as in
      // Linux (do_idle runs with preemption off and calls schedule_idle only between passes;
      // a switch inside a handler would be a quiescent state inside it). An idle CPU stalled
      // midway through its routine is one the strategy does not step meanwhile.
      if (t.frames.length === 1 && t.hookDepth === 0 && this.preempt[cpu] === 0 && this.hasRunnableOn(cpu)) {
        this.switchFrom(t, 'runnable', false);
        return;
      }
    } else if (t.atPoint && this.preempt[cpu] === 0 && !this.irqs.irqOff[cpu] && this.pointMayPreempt(cpu)) {
      // The parked pollers the preemption is offered for: none while a queued task may run here.
      const pollers = this.parked.size > 0 && !this.anyRunnableOn(cpu) ? this.parkedFor(cpu) : NO_PIDS;
      if (this.choose('preempt', 2, this.chooserWantsPids ? [t.pid, ...this.runnableOn(cpu), ...pollers] : NO_PIDS) === 1) {
        if (pollers.length > 0) this.wakeParked(pollers, t.pid);
        this.switchFrom(t, 'runnable', true);
        return;
      }
    }
    if (t.spinning !== null) t.spinning = null;
    t.atPoint = false;
    if (this.pollPreempted.size > 0 && this.pollPreempted.delete(t.pid)) this.journal(() => this.pollPreempted.add(t.pid));
    this.resume(t);
  }

  /**
   * Memory pressure (`reclaim`): before the step, the strategy may evict one resident user
   * page, as kswapd's reclaim would on some CPU meanwhile. Option 0 keeps every page; option i
   * evicts the i-th resident page (address spaces by tgid, then pages, in order); `pids` gives
   * each option's tgid (0 for none). Asked only when some page is resident. The data stays (the
   * page is swapped out), so the next access faults it back in (`copyFromUser` with preemption
   * off stops there: the restart path of a faultable probe).
   */
  private reclaimChoice(): void {
    const options: number[] = [];
    for (const mm of intMapValues(this.store.live.memory)) {
      for (let page = intMapNextKey(mm.pages, -1); page >= 0; page = intMapNextKey(mm.pages, page)) options.push(mm.tgid, page);
    }
    if (options.length === 0) return;
    const n = options.length / 2 + 1;
    let pids = NO_PIDS;
    if (this.chooserWantsPids) {
      const list = [0];
      for (let i = 0; i < options.length; i += 2) list.push(options[i]!);
      pids = list;
    }
    const v = this.choose('evict', n, pids);
    if (v === 0) return;
    this.emit({ type: 'mm/evicted', tgid: options[2 * (v - 1)]!, page: options[2 * (v - 1) + 1]!, by: 'reclaim' });
  }

  /** Context switch on this.cpu away from `prev`. Returns false when nothing else can run. */
  private switchFrom(prev: TaskRt, prevState: TaskRunState, preempted: boolean): boolean {
    const cpu = this.cpu;
    const rq = this.runnableOn(cpu);
    // Choosing the next task reads which tasks are queued (every one is an option); finding
    // none reads only that none may run here.
    if (this.fp !== null) this.fp.read(rq.length > 0 ? 'runq:*' : this.emptyPredicate(cpu));
    if (prev.pid !== 0 && prevState === 'runnable' && rq.length === 0) return false;
    const next = rq.length === 0 ? 0 : rq[this.choose('task', rq.length, rq)]!;
    // Read before the switch (a dead task leaves the state with it), and only for the hooks.
    const hooked = this.hasHandlers('contextSwitch');
    const prevComm = !hooked ? '' : prev.pid === 0 ? `swapper/${cpu}` : (this.task(prev.pid)?.comm ?? prev.comm);
    this.emit({ type: 'sched/switch', prev: prev.pid, next, prevState, preempted });
    this.rcuNoteContextSwitch(cpu);
    if (this.options.interrupts !== null) this.irqs.switched(cpu);
    const nrt = next === 0 ? this.idle[cpu]! : this.tasks.get(next)!;
    nrt.atPoint = false;
    if (next === 0) this.setIdlePhase(cpu, 'due');
    if (hooked && this.fp !== null) this.fp.readClock();
    if (hooked) nrt.frames.push(this.switchHooks(cpu, prev.pid, next, preempted, prevState, this.now, prevComm));
    return true;
  }

  private *switchHooks(cpu: number, prev: number, next: number, preempted: boolean, prevState: TaskRunState, time: number, prevComm: string): KPath<void> {
    // Like the sched_switch tracepoint: runs on the switching CPU with preemption disabled,
    // and interrupts (the runqueue lock is taken with them off): only an NMI arrives inside.
    this.preempt[this.cpu]!++;
    const irqs = this.options.interrupts !== null;
    if (irqs) this.irqs.setIrqOff(this.cpu, true);
    yield* this.runHook('contextSwitch', { cpu, prev, next, preempted, prevState, time, prevComm });
    if (irqs) this.irqs.setIrqOff(this.cpu, false);
    if (this.preempt[this.cpu]! > 0) this.preempt[this.cpu]!--;
  }

  private *wakeupHooks(e: KernelEvent<'sched/wakeup'>): KPath<KernelEvent<'sched/wakeup'>> {
    // try_to_wake_up holds the wakee's pi_lock with interrupts saved and off around its tracepoint.
    const irqs = this.options.interrupts !== null;
    const was = irqs && this.irqs.irqOff[this.cpu]!;
    if (irqs) this.irqs.setIrqOff(this.cpu, true);
    yield* this.runHook('wakeup', { pid: e.pid, by: e.by, cpu: this.cpu });
    if (irqs) this.irqs.setIrqOff(this.cpu, was);
    return e;
  }

  private voluntarySwitch(t: TaskRt): void {
    const cpu = this.cpu;
    const count = this.preempt[cpu]!;
    if (count > 0) {
      throw new TracelabError(
        'KERNEL_BUG',
        `BUG: scheduling while atomic: pid ${t.pid} (${t.comm}) called schedule() on cpu ${cpu} with preempt count ${count}${contextOf(count)}`,
      );
    }
    if (this.irqs.irqOff[cpu])
      throw new TracelabError('KERNEL_BUG', `BUG: scheduling with interrupts disabled: pid ${t.pid} (${t.comm}) called schedule() on cpu ${cpu}`);
    let prevState: TaskRunState;
    if (t.exiting) {
      const task = this.task(t.pid);
      prevState = task !== undefined && task.exitState === 'zombie' ? 'zombie' : 'dead';
    } else {
      const st = this.task(t.pid)!.state;
      prevState = st === 'running' ? 'runnable' : st;
    }
    const switched = this.switchFrom(t, prevState, false);
    if (!switched) t.atPoint = true;
    if (t.exiting) this.forgetTask(t);
  }

  private resume(t: TaskRt): void {
    let lockups = 0;
    this.ranCode = true;
    if (this.pollers.size > 0) this.endPoll(t.pid);
    for (let budget = STEP_COMMAND_LIMIT; ; budget--) {
      if (budget === 0) {
        const bug = new TracelabError(
          'KERNEL_BUG',
          `BUG: soft lockup: pid ${t.pid} (${t.comm}) on cpu ${this.cpu} ran ${STEP_COMMAND_LIMIT} commands without a scheduling point`,
        );
        if (++lockups === 1 && t.frames.length > 0) {
          // Thrown into the code that loops, as a handler's own exception would be: a hook or
          // probe's containment names and disables its plugin and the task goes on; a task's
          // own code (or a plugin API path it called) dies in an oops, as before.
          t.pendingThrow = bug;
          budget = STEP_COMMAND_LIMIT + 1;
          continue;
        }
        // It caught that and went on looping: nothing more can be done for it.
        this.oopsTask(t, bug);
        return;
      }
      const frame = t.frames[t.frames.length - 1];
      if (frame === undefined) {
        this.oopsTask(t, new TracelabError('KERNEL_BUG', `BUG: pid ${t.pid} (${t.comm}) ran off the end of its code`));
        return;
      }
      let r: IteratorResult<Command, unknown>;
      try {
        if (t.pendingThrow !== undefined) {
          const err = t.pendingThrow;
          t.pendingThrow = undefined;
          r = frame.throw(err);
        } else {
          r = frame.next(t.resume);
        }
      } catch (err) {
        if (t.frames.length > 1) {
          // A pushed frame (the context-switch hooks) failed outside any plugin's containment:
          // record it and let the task go on with its own code.
          t.frames.pop();
          this.emit({
            type: 'kernel/oops',
            plugin: null,
            where: `context switch on cpu ${this.cpu}`,
            message: describeError(err),
            pid: t.pid,
            killed: null,
            preemptCount: null,
          });
          continue;
        }
        this.oopsTask(t, err);
        return;
      }
      if (r.done === true) {
        t.frames.pop();
        t.resume = r.value;
        continue;
      }
      const cmd = r.value;
      t.resume = undefined;
      try {
        switch (cmd.op) {
          case 'point':
            t.atPoint = true;
            return;
          case 'switch':
            this.voluntarySwitch(t);
            return;
          case 'spin':
            if (this.fp !== null) this.fp.read(this.fp.named('lock', cmd.lock));
            if (!this.granted(cmd.lock, t.pid)) t.spinning = cmd.lock;
            else t.atPoint = true;
            return;
          case 'irq-return':
            // An interrupt's handler frame returned (irq.ts): the interrupted context is back,
            // and a reschedule the tick asked for preempts it here (preempt_schedule_irq).
            if (this.irqs.irqReturn(this.cpu, t) && this.hasRunnableOn(this.cpu)) this.switchFrom(t, 'runnable', true);
            return;
          default:
            t.resume = this.command(t, cmd);
            // try_to_wake_up's tracepoints: the wakeup hooks run next, in the waker's context,
            // and hand the emitted event back to the waker's code when they are done.
            if (cmd.op === 'emit' && cmd.event.type === 'sched/wakeup' && this.hasHandlers('wakeup'))
              t.frames.push(this.wakeupHooks(t.resume as KernelEvent<'sched/wakeup'>));
        }
      } catch (err) {
        // A schedule that no longer fits the run is the host's problem, not the task's.
        if (err instanceof TracelabError && (err.code === 'SCHEDULE_DIVERGED' || err.code === 'SCHEDULE_INVALID')) throw err;
        t.pendingThrow = err;
      }
    }
  }

  /** Answers a non-scheduling command at once. */
  command(t: TaskRt, cmd: Command): unknown {
    switch (cmd.op) {
      case 'current': {
        const cur = { pid: t.pid, cpu: this.cpu, preemptCount: this.cpu >= 0 ? this.preempt[this.cpu]! : 0, now: this.now } satisfies Current;
        // Recording: `now` is a read of the clock only if the code looks at it; `cpu` and
        // `preemptCount` read the CPU the step runs on (which task is current there, its count).
        return this.fp === null ? cur : this.fp.current(cur);
      }
      case 'preempt': {
        if (this.cpu < 0) throw kernelBug('preempt count changed outside any CPU');
        const count = this.preempt[this.cpu]! + cmd.delta;
        if (count < 0) throw kernelBug(`preempt count underflow on cpu ${this.cpu}`);
        this.preempt[this.cpu] = count;
        return undefined;
      }
      case 'state':
        // PEEK: core code reading one record (a value, never edited in place) and keeping
        // nothing else needs no step-end snapshot.
        return cmd === PEEK ? (this.fp === null ? this.store.live : this.fp.state) : this.handOutState();
      case 'sleepers':
        if (this.fp !== null) this.fp.read(this.fp.named('wq', cmd.channel));
        return this.sleepers(cmd.channel);
      case 'emit':
        // A sleep in interrupt context is refused before it is logged: an interrupt borrows the
        // interrupted task (the idle task, pid 0, has no task record to put to sleep), and
        // the kernel's answer to it is the atomic-context BUG, not a sleeping task.
        if (cmd.event.type === 'task/sleep' && this.cpu >= 0 && inInterruptCount(this.preempt[this.cpu]!)) throw this.sleepInInterrupt(t);
        return this.emit(cmd.event);
      case 'choose':
        return cmd.kind === 'fault' && !this.options.faultInjection ? 0 : this.choose(cmd.kind, cmd.n, this.chooserWantsPids ? [t.pid] : NO_PIDS);
      case 'call-rcu':
        return this.callRcu(cmd.callback, cmd.label);
      case 'fn-enter':
        return this.fnEnter(t, cmd.name);
      case 'fn-exit':
        t.fnStack.pop();
        return undefined;
      case 'copy-from-user':
        return this.paths.copyFromUser(cmd.addr, cmd.len);
      case 'kthread-run':
        if (!isGenerator(cmd.path)) throw new TracelabError('INVALID_OPTION', 'kthreadRun: path must be a generator object');
        return this.createKthread(cmd.path, cmd.comm, this.bindTask('kthreadRun', cmd.cpu)).pid;
      case 'rcu-watching':
        return !(t.rcuIdle && !inInterruptCount(this.preempt[this.cpu]!));
      case 'rcu-idle':
        if (inInterruptCount(this.preempt[this.cpu]!))
          throw new TracelabError('KERNEL_BUG', `BUG: rcu_idle_${cmd.enter ? 'enter' : 'exit'} on cpu ${this.cpu}${contextOf(this.preempt[this.cpu]!)}`);
        if (t.pid !== 0)
          throw new TracelabError(
            'KERNEL_BUG',
            `BUG: rcu_idle_${cmd.enter ? 'enter' : 'exit'} in pid ${t.pid} (${t.comm}): only the idle task may stop RCU watching its CPU`,
          );
        if (t.rcuIdle === cmd.enter)
          throw new TracelabError(
            'KERNEL_BUG',
            `BUG: rcu_idle_${cmd.enter ? 'enter' : 'exit'} on cpu ${this.cpu} ${cmd.enter ? 'while RCU is already not watching' : 'while RCU is watching'}`,
          );
        t.rcuIdle = cmd.enter;
        return undefined;
      case 'local-irq':
        return this.irqs.command(this.cpu, cmd.action, cmd.flags);
      case 'smp-call':
        return this.irqs.smpCall(this.cpu, cmd.cpu, cmd.fn);
      case 'poll-watch':
        // `resume` ended any earlier wait of this task (`endPoll`) before its code ran on.
        if (t.pid === 0) throw kernelBug('pollSleep in the idle task');
        this.pollers.set(t.pid, cmd.done);
        this.journal(() => this.pollers.delete(t.pid));
        return undefined;
      default:
        throw new TracelabError('KERNEL_BUG', `BUG: command ${(cmd as Command).op} is not allowed here`);
    }
  }

  /** "scheduling while atomic" for a sleep begun in an interrupt handler (the count's hardirq or NMI part is set). */
  private sleepInInterrupt(t: TaskRt): TracelabError {
    const count = this.preempt[this.cpu]!;
    return new TracelabError(
      'KERNEL_BUG',
      `BUG: scheduling while atomic: pid ${t.pid} (${t.comm}) went to sleep on cpu ${this.cpu} with preempt count ${count}${contextOf(count)}`,
    );
  }

  /** `task/spawned` and the task's runtime entry for a kernel thread; the host API and `kthreadRun` both start threads here. */
  createKthread(path: KPath<unknown>, comm: string, cpu = -1): TaskRt {
    const pid = this.store.live.kernel.nextPid;
    this.emit(
      cpu < 0
        ? { type: 'task/spawned', pid, comm, kthread: true, listed: false }
        : { type: 'task/spawned', pid, comm, kthread: true, listed: false, boundCpu: cpu },
    );
    const holder: { rt?: TaskRt } = {};
    const rt = this.newRt(
      pid,
      comm,
      this.paths.kthreadMain(path, () => holder.rt!),
      cpu,
    );
    holder.rt = rt;
    this.addTask(rt);
    return rt;
  }

  /** A new task's runtime entry; a rolled-back step takes it back with the event that made the task. */
  addTask(rt: TaskRt): void {
    this.tasks.set(rt.pid, rt);
    // A task lives again: ticks and NMIs fall due again (`drain`); a rolled-back spawn puts the
    // drain's limit back with the task.
    const quiet = this.irqs.quietAfter;
    this.irqs.quietAfter = Infinity;
    this.journal(() => {
      this.tasks.delete(rt.pid);
      this.irqs.quietAfter = quiet;
    });
  }

  private forgetTask(t: TaskRt): void {
    this.tasks.delete(t.pid);
    this.journal(() => this.tasks.set(t.pid, t));
  }

  private fnEnter(t: TaskRt, name: string): KPath<void> | null {
    if (this.store.live.functions[name] === undefined) this.emit({ type: 'kernel/function-defined', name });
    const parentIp = t.fnStack[t.fnStack.length - 1] ?? '';
    t.fnStack.push(name);
    const patch = this.patches.get(name);
    if (patch === undefined || this.isDisabled(patch.plugin)) return null;
    return this.contained(patch.plugin, `mcount ${name}`, () => patch.handler(name, parentIp)) as KPath<void>;
  }

  /** A task's code threw: a kernel oops. The step's events are undone and the task dies. */
  oopsTask(t: TaskRt, err: unknown): void {
    this.rollback(this.stepCheckpoint);
    const plugin = err instanceof PluginPathError ? err.plugin : null;
    const where = err instanceof PluginPathError ? err.where : t.pid === 0 ? `idle loop of cpu ${this.cpu}` : `pid ${t.pid} (${t.comm})`;
    const message = describeError(err instanceof PluginPathError ? err.original : err);
    t.hookDepth = 0;
    t.inside.length = 0;
    t.rcuIdle = false;
    this.irqs.irqOff[this.cpu] = false;
    if (t.pid === 0) {
      this.emit({ type: 'kernel/oops', plugin, where, message, pid: 0, killed: null, preemptCount: 0 });
      t.frames = [this.paths.idleLoop(this.cpu)];
      // A restarted loop is a CPU going idle: it runs a pass (the rollback may have put back a
      // halt that the interrupt being handled had lifted, and that interrupt is spent).
      this.setIdlePhase(this.cpu, 'due');
      return;
    }
    this.emit({ type: 'kernel/oops', plugin, where, message, pid: t.pid, killed: t.pid, preemptCount: 0 });
    t.outcome ??= { ok: false, error: `${where}: ${message}` };
    t.pendingThrow = undefined;
    t.resume = undefined;
    t.fnStack = [];
    if (!t.exiting && !t.oopsed && t.pfExiting !== true) {
      // make_task_dead: the task leaves through do_exit, so its parent is told and reaps it.
      t.oopsed = true;
      t.frames = [this.paths.doExit(128 + SIGSEGV)];
      t.atPoint = true;
      return;
    }
    // An oops on the way out (PF_EXITING set: the recursive fault), or a second one before it
    // (as oops_limit would, rather than loop through do_exit for ever): nothing more can be done
    // for this task. It stays as EXIT_DEAD, never released (the reducer of its last switch).
    this.notifyParentOfLeak(t.pid);
    this.forgetTask(t);
    this.switchFrom(t, 'dead', false);
  }

  /**
   * A task left EXIT_DEAD after exit_notify: its parent was told then (do_notify_parent), and a
   * wait it sleeps in rescans and finds no child to reap. The rollback of the oopsed step may
   * have undone that wake-up, or the model's exit path not reached it yet (it wakes the parent
   * after the `death` hook): wake the parent's waiters again. Before exit_notify (no zombie
   * state) the parent was never told, as upstream. The wake-ups are logged directly, without
   * the `wakeup` hooks' frames (the task is switching out dead).
   */
  private notifyParentOfLeak(pid: number): void {
    const rec = this.task(pid);
    if (rec === undefined || rec.exitState !== 'zombie' || rec.parent === 0) return;
    const channel = `wait:${rec.parent}`;
    if (this.fp !== null) this.fp.read(this.fp.named('wq', channel));
    for (const sleeper of this.sleepers(channel)) this.emit({ type: 'sched/wakeup', pid: sleeper, by: pid });
  }

  // ---- timers ----------------------------------------------------------------------------

  private addTimer(at: number, pid: number): void {
    let i = this.timers.length;
    while (i > 0 && (this.timers[i - 1]!.at > at || (this.timers[i - 1]!.at === at && this.timers[i - 1]!.pid > pid))) i--;
    const entry = { at, pid };
    this.timers.splice(i, 0, entry);
    this.journal(() => {
      const j = this.timers.indexOf(entry);
      if (j >= 0) this.timers.splice(j, 1);
    });
  }

  private fireTimers(): void {
    while (this.timers.length > 0 && this.timers[0]!.at <= this.now) {
      const { at, pid } = this.timers.shift()!;
      const t = this.task(pid);
      if (this.fp !== null) this.fp.readClock();
      if (t === undefined || t.state !== 'sleeping' || t.wakeAt !== at) continue;
      if (this.options.pollLoops === 'on-change' && this.pollers.has(pid) && this.lookInvisible(pid)) this.parked.add(pid);
      else this.emit({ type: 'sched/wakeup', pid, by: 0 });
    }
  }

  // ---- poll loops (pollSleep; docs/core.md, "Poll loops") ----------------------------------

  /** The poller ran again (woken by its test, a timer or anyone): its wait is over. */
  private endPoll(pid: number): void {
    const done = this.pollers.get(pid);
    if (done === undefined) return;
    this.pollers.delete(pid);
    this.journal(() => this.pollers.set(pid, done));
  }

  /**
   * Whether the look `pid` would take now is one nothing in the kernel can tell from no look
   * (docs/core.md, "Poll loops"): its test is false (read through the recording view, so the
   * step that follows depends on what it read); no interrupt source is due by the clock; no
   * timer is pending but those of tasks in a poll loop's wait due at the next tick, which fire
   * then whatever steps (so the time the looks would pass moves nothing else: a longer wait's
   * timer would fire later, counted in other steps); RCU-sched has no grace period
   * running and no callback queued (the look's switches would be quiescent states, and its
   * wake-up a chance to preempt a reader's CPU); and no hook runs on a switch, a wake-up or an
   * idle pass. A test that throws is handed to the poller, woken, at its next resume.
   */
  private lookInvisible(pid: number): boolean {
    if (this.options.interrupts !== null) return false;
    if (this.hasHandlers('contextSwitch') || this.hasHandlers('wakeup') || this.hasHandlers('idle')) return false;
    const rcu = this.store.live.rcu;
    if (rcu.gp !== null || rcu.callbacks.length > 0) return false;
    const tasks = this.store.live.tasks;
    for (const { at, pid: other } of this.timers) {
      const o = intMapGet(tasks, other);
      if (other !== pid && o !== undefined && o.state === 'sleeping' && o.wakeAt === at && (!this.pollers.has(other) || at > this.now + 1)) return false;
    }
    const done = this.pollers.get(pid)!;
    try {
      return !done(this.fp === null ? this.store.live : this.fp.state);
    } catch (err) {
      const t = this.tasks.get(pid);
      if (t !== undefined && t.pendingThrow === undefined)
        t.pendingThrow = new TracelabError('KERNEL_BUG', `BUG: pid ${pid} (${t.comm}): its pollSleep test threw: ${describeError(err)}`);
      return false;
    }
  }

  /**
   * The eligible CPUs at a step's start. With pollers parked, each whose look would no longer be
   * invisible is woken first; then, if no CPU has anything to do, every parked one is (their
   * looks are then what passes time, as in a poll loop with nothing else to run). Such a wake
   * reads the clock. What makes a look visible again is a step that read the clock (arming a
   * timer does), an RCU-sched call or a hook's registration (each writes what this reads of
   * it), or the test's own reads (recorded). A timer made stale by an early wake-up, which reads
   * no clock, only makes looks invisible sooner, and a poller is parked only when its own timer
   * fires, which reads the clock.
   */
  private eligibleWithPollers(): number[] {
    if (this.parked.size === 0) return this.eligibleCpus();
    for (const pid of [...this.parked]) {
      const t = intMapGet(this.store.live.tasks, pid);
      if (t === undefined || t.state !== 'sleeping') {
        this.parked.delete(pid);
        continue;
      }
      if (this.lookInvisible(pid)) continue;
      if (this.fp !== null) this.fp.readClock();
      this.emit({ type: 'sched/wakeup', pid, by: 0 });
    }
    let cands = this.eligibleCpus();
    if (cands.length === 0 && this.parked.size > 0) {
      if (this.fp !== null) this.fp.readClock();
      for (const pid of [...this.parked]) this.emit({ type: 'sched/wakeup', pid, by: 0 });
      cands = this.eligibleCpus();
    }
    return cands;
  }

  // ---- RCU-sched ---------------------------------------------------------------------------

  private callRcu(fn: RcuCallback, label: string): number {
    if (typeof fn !== 'function')
      throw new TracelabError('INVALID_OPTION', `callRcu(${JSON.stringify(label)}): the callback must be a function (plain or generator), got ${typeof fn}`);
    const rcu = this.store.live.rcu;
    const id = rcu.nextCallbackId;
    // A callback queued during grace period g must wait for g+1: g may have begun before the
    // caller's last reader section, so only a grace period that starts after now is enough.
    const gp = rcu.gp !== null ? rcu.gp.seq + 1 : rcu.completed + 1;
    this.emit({ type: 'rcu/callback-queued', id, gp, label });
    this.rcuCallbacks.set(id, { fn, label });
    this.journal(() => this.rcuCallbacks.delete(id));
    if (this.store.live.rcu.gp === null) this.startGp();
    return id;
  }

  /**
   * rcu_sched's extended quiescent states: the CPU is idle or its task is in user mode, and it
   * is outside any read-side critical section (`inReadSide`). A context switch is the other
   * quiescent state (rcuNoteContextSwitch).
   */
  private cpuQuiescent(cpu: number): boolean {
    const curr = this.store.live.cpus[cpu]!.curr;
    const rt = curr === 0 ? this.idle[cpu]! : this.tasks.get(curr);
    if (rt === undefined) return false;
    // RCU is not watching an idle CPU between rcuIdleEnter and rcuIdleExit, whatever runs there,
    // except inside an interrupt or NMI: rcu_irq_enter (ct_irq_enter, rcu_nmi_enter) at the
    // handler's entry makes it watch until the handler returns (irq.ts raises the count).
    if (rt.rcuIdle && !inInterruptCount(this.preempt[cpu]!)) return true;
    if (this.inReadSide(cpu, rt)) return false;
    return curr === 0 || this.task(curr)?.mode === 'user';
  }

  /**
   * Whether `rt`, current on `cpu`, may hold RCU-sched references: preemption is off (a reader,
   * a spinning lock, a context-switch hook frame under way) or a hook handler is running (hooks
   * run in kernel mode). A pushed context-switch frame that has not begun holds nothing: the
   * switch that pushed it was itself the quiescent state, and its first act raises the count.
   */
  private inReadSide(cpu: number, rt: TaskRt): boolean {
    // The runtime's count: mid-step the state's copy of the stepping CPU's count may lag.
    // An interrupts-disabled region is a reader too (SEMANTICS.md §0), with no test of its own:
    // only kernel code disables interrupts, and kernel code on an idle or user-mode task is a
    // hook (hookDepth), while a task with interrupts off is neither switched out nor preempted.
    return this.preempt[cpu]! > 0 || rt.hookDepth > 0;
  }

  private startGp(): void {
    const seq = this.store.live.rcu.completed + 1;
    const pending: number[] = [];
    for (let c = 0; c < this.options.cpus; c++) if (!this.cpuQuiescent(c)) pending.push(c);
    this.emit({ type: 'rcu/gp-start', gp: seq, pending });
    if (pending.length === 0) this.endGp(seq);
  }

  private reportQs(cpu: number): void {
    const gp = this.store.live.rcu.gp;
    if (gp === null || !gp.pending.includes(cpu)) return;
    this.emit({ type: 'rcu/qs', gp: gp.seq });
    if (this.store.live.rcu.gp!.pending.length === 0) this.endGp(gp.seq);
  }

  /** A context switch is a quiescent state for RCU-sched on that CPU. */
  private rcuNoteContextSwitch(cpu: number): void {
    this.reportQs(cpu);
  }

  /** After a step: a CPU now idle or in user mode, outside any read-side section, has passed a quiescent state. */
  private rcuCheckCpu(cpu: number): void {
    const gp = this.store.live.rcu.gp;
    if (gp !== null && gp.pending.includes(cpu) && this.cpuQuiescent(cpu)) this.reportQs(cpu);
  }

  private endGp(seq: number): void {
    this.emit({ type: 'rcu/gp-end', gp: seq });
    const ready = this.store.live.rcu.callbacks.filter((c) => c.gp <= seq);
    for (const c of ready) {
      const cb = this.rcuCallbacks.get(c.id);
      this.rcuCallbacks.delete(c.id);
      if (cb !== undefined) this.journal(() => this.rcuCallbacks.set(c.id, cb));
      if (cb !== undefined) this.runInline(`rcu callback ${cb.label}`, cb.fn);
      this.emit({ type: 'rcu/callback-invoked', id: c.id, label: c.label });
    }
    if (this.store.live.rcu.gp === null && this.store.live.rcu.callbacks.length > 0) this.startGp();
  }

  /**
   * Runs a callback that must not block (an RCU callback) to completion, here and now: a plain
   * function is simply called; a generator function's path is driven.
   */
  runInline(where: string, fn: () => KPath<unknown> | unknown): void {
    const cp = this.checkpoint();
    let t: TaskRt | null = this.running;
    let input: unknown;
    try {
      const out = fn();
      if (!isKPath(out)) return;
      const path = out;
      t ??= this.newRt(0, 'softirq', path);
      for (let i = 0; i < STEP_COMMAND_LIMIT; i++) {
        const r = path.next(input);
        if (r.done === true) return;
        if (isSchedulingCommand(r.value))
          throw new TracelabError('KERNEL_BUG', `BUG: ${where} tried to sleep or reschedule (${r.value.op}); callbacks run in softirq context`);
        input = this.command(t, r.value);
      }
      throw new TracelabError('KERNEL_BUG', `BUG: ${where} never returned`);
    } catch (err) {
      this.rollback(cp);
      this.emit({ type: 'kernel/oops', plugin: null, where, message: describeError(err), pid: t?.pid ?? 0, killed: null, preemptCount: null });
    }
  }

  // ---- checks ------------------------------------------------------------------------------

  violate(name: string, message: string, hotSince?: number): void {
    const last = this.store.last();
    const v = { name, message, schedule: this.schedule, seq: last?.seq ?? -1, time: this.now };
    this.violations.push(hotSince === undefined ? v : { ...v, hotSince });
    this.halted = true;
  }

  /**
   * While recording: the checks of `plugin` (null: the host's) run next, so their reads are that
   * owner's (`StepFootprint.observedBy`). A plugin's checks also observe its slice, read or not.
   * That covers two reads no view records: whether the plugin is disabled (`isDisabled`), which
   * only an oops naming the plugin changes, and that oops writes the slice; and what the plugin
   * keeps outside the state (ring-buffer's checks read it), as far as the plugin's own events
   * change it: an event without a keyed footprint writes the slice. Outside data changed in a
   * step that logs none of the plugin's events (ring-buffer's in-flight reservations, its syscall
   * refcount) is not covered: that is the proviso of docs/explore.md §4a.
   */
  private observe(plugin: string | null): void {
    if (this.fp === null) return;
    if (plugin === null) this.fp.observeAs(OBSERVER_HOST);
    else {
      this.fp.observeAs(plugin);
      this.fp.read(this.fp.named('plugin', plugin));
    }
  }

  /** Runs the invariants after a step that changed the state or ran kernel code (or on registration). */
  checkInvariants(): void {
    if (this.invariants.length === 0) return;
    // A snapshot, not the working state: checks may keep what they are given (ktrace's flag
    // check remembers the task map it verified and compares trie nodes by identity). After the
    // step's flush the journal is empty, so this freezes the step's writes in place: no copy.
    const snap = this.store.state;
    if (this.store.version === this.lastCheckedVersion && !this.ranCode) return;
    // Recording: what the checks read is what they observe of every state (footprint.ts).
    const s = this.fp === null ? snap : this.fp.observerView(snap);
    this.lastCheckedVersion = this.store.version;
    this.ranCode = false;
    // The owner whose checks ran last in this pass: a plugin's checks are registered together,
    // so its owner is named (and its slice observed) once per run of them, not once per check.
    let owner: string | null | undefined;
    for (const inv of this.invariants) {
      if (this.isDisabled(inv.plugin)) continue;
      let msg: ReturnType<InvariantCheck>;
      try {
        // A check that declares its reads observes them, not what the recording view sees it read.
        if (this.fp === null) msg = inv.check(snap);
        else {
          if (inv.plugin !== owner) this.observe((owner = inv.plugin));
          if (inv.reads !== undefined) {
            for (const o of inv.reads) this.fp.read(o);
            msg = inv.check(snap);
          } else msg = inv.check(s);
        }
      } catch (err) {
        msg = `the check itself threw: ${describeError(err)}`;
      }
      if (typeof msg === 'string' && msg.length > 0) {
        this.violate(inv.name, msg);
        return;
      }
    }
  }

  /**
   * `cpu`: the CPU this step advanced; `ranPid`: the task current on it (0: its idle task);
   * `firstChoice`: the schedule index of the step's first choice. A monitor's `ran` holds the
   * pids that ran while it was hot, and each CPU stepped as -(cpu+1); its `since`, the first
   * choice of the step that made it hot (the alarm's `hotSince`).
   */
  private checkLiveness(cpu: number, ranPid: number, firstChoice: number): void {
    if (this.monitors.length === 0) return;
    const snap = this.store.state;
    const s = this.fp === null ? snap : this.fp.observerView(snap);
    let owner: string | null | undefined; // as in checkInvariants
    for (const m of this.monitors) {
      if (this.isDisabled(m.plugin)) continue;
      let hot: string | null;
      try {
        if (m.plugin !== owner) this.observe((owner = m.plugin));
        hot = m.monitor.hot(s);
      } catch (err) {
        this.violate(m.name, `the monitor itself threw: ${describeError(err)}`);
        return;
      }
      if (hot === null) {
        m.steps = 0;
        m.ran.clear();
        continue;
      }
      if (m.steps++ === 0) m.since = firstChoice;
      // Only the task this step advanced ran: a task current on a CPU the strategy never picks
      // (an idle CPU midway through an idle hook included) is starved as surely as one left on
      // the runqueue, so the schedule is fair only if every CPU with work was stepped too.
      if (ranPid !== 0) m.ran.add(ranPid);
      m.ran.add(-(cpu + 1));
      const bound = m.monitor.bound ?? 10_000;
      if (m.steps > bound && s.runqueue.every((pid) => m.ran.has(pid)) && this.eligibleCpus().every((c) => m.ran.has(-(c + 1)))) {
        this.violate(m.name, `${hot} (hot for ${m.steps} steps while every runnable task ran)`, m.since);
        return;
      }
    }
  }

  /** Why nothing can run: each live task and what it waits for. */
  describeStuck(): string {
    return this.waiting()
      .map((w) => `pid ${w.pid} (${w.comm}) ${w.spinning !== null ? `spins on ${w.spinning}` : `${w.state}${w.on !== null ? ` on ${w.on}` : ''}`}`)
      .join('; ');
  }

  /** Each live task, and what it waits for. */
  waiting(): WaitingTask[] {
    const out: WaitingTask[] = [];
    for (const [pid, t] of this.tasks) {
      const st = this.task(pid);
      out.push({ pid, comm: t.comm, state: st?.state ?? 'dead', on: st?.waitingOn ?? null, spinning: t.spinning });
    }
    return out;
  }

  /**
   * When no CPU can step and no timer is pending: is this a deadlock, or a kernel waiting for
   * its host? A cycle of lock waiters (each waits on a mutex or spins on a lock held by the
   * next) is a deadlock whatever else waits. Otherwise, a task stopped (`state: 'stopped'`: a
   * utrace/ptrace engine's stop, or job control) waits for a tracer or a SIGCONT the host
   * controls, and the tasks asleep behind it may be woken once it goes on: not a deadlock.
   * With nothing stopped, every task sleeps on something no timer or task can wake: stuck.
   * Returns the deadlock's description, or null when the kernel is only waiting for its host.
   */
  deadlock(): string | null {
    const cycle = this.lockCycle();
    if (cycle !== null) return `lock-order deadlock: ${cycle}`;
    for (const pid of this.tasks.keys()) if (this.task(pid)?.state === 'stopped') return null;
    return 'no task can run and no timer is pending';
  }

  /** A cycle in the wait-for graph of locks (task -> a holder of the lock it waits for), or null. */
  private lockCycle(): string | null {
    const locks = this.store.live.locks;
    const waitsFor = new Map<number, { lock: string; holders: number[] }>();
    for (const [pid, t] of this.tasks) {
      let lock: string | null = t.spinning;
      if (lock === null) {
        const on = this.task(pid)?.waitingOn ?? null;
        if (on !== null && on.startsWith('mutex:')) lock = on.slice('mutex:'.length);
      }
      const l = lock === null ? undefined : locks[lock];
      if (lock === null || l === undefined) continue;
      const holders = l.kind === 'mutex' ? (l.owner !== null ? [l.owner] : []) : [...(l.writer !== null ? [l.writer] : []), ...l.readers];
      waitsFor.set(pid, { lock, holders: holders.filter((h) => h !== pid) });
    }
    // Depth-first search for a back edge; the path from it is the cycle.
    const done = new Set<number>();
    const path: number[] = [];
    const onPath = new Set<number>();
    const visit = (pid: number): number[] | null => {
      if (onPath.has(pid)) return path.slice(path.indexOf(pid));
      if (done.has(pid)) return null;
      const w = waitsFor.get(pid);
      if (w === undefined) return null;
      path.push(pid);
      onPath.add(pid);
      for (const h of w.holders) {
        const c = visit(h);
        if (c !== null) return c;
      }
      path.pop();
      onPath.delete(pid);
      done.add(pid);
      return null;
    };
    for (const pid of [...waitsFor.keys()].sort((a, b) => a - b)) {
      const c = visit(pid);
      if (c !== null)
        return c.map((p) => `pid ${p} (${this.tasks.get(p)?.comm ?? '?'}) waits for ${waitsFor.get(p)!.lock}`).join(', held by ') + `, held by pid ${c[0]}`;
    }
    return null;
  }
}

/** The fork stages that run only the taps naming them (a tap without `stage` skips them). */
function isNamedOnlyStage(stage: ForkStage | undefined): boolean {
  return stage === 'prelock' || stage === 'prelink';
}
