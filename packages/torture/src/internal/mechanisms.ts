/* eslint-disable require-yield -- RCU callbacks and utrace callbacks are kernel paths (generators) even when they take no scheduling point */
import {
  callRcu,
  getState,
  intMapValues,
  mutexLock,
  mutexUnlock,
  msleep,
  readLock,
  readUnlock,
  schedPoint,
  spinLock,
  spinUnlock,
  synchronizeRcu,
  writeLock,
  writeUnlock,
  type Kernel,
  type KPath,
  type PluginStack,
  type Program,
  type UserOps,
} from '@tracelab/core';
import { TICK_FUNCTION, ftrace, type FtraceOps } from '@tracelab/ftrace';
import { ktrace } from '@tracelab/ktrace';
import { markers, type MarkerProbe } from '@tracelab/markers';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { tracepoints } from '@tracelab/tracepoints';
import { ringBuffer, type TracepointProbe } from '@tracelab/ring-buffer';
import {
  detachEngine,
  utrace,
  UTRACE_ATTACH_CREATE,
  UTRACE_EVENT_CLONE,
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_EXEC,
  UTRACE_EVENT_EXIT,
  UTRACE_EVENT_QUIESCE,
  UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_RESUME,
  UTRACE_STOP,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { moduleChurn, READER_HOOKS, schedReader, tasksReader, tortureReaders, type ReaderHook } from './plugin.js';
import type { Flavour, Rig, TortureObject } from './rig.js';
import { kprobesMechanism, srcuMechanism } from './srcu-kprobes.js';
import { between, pick, type Prng, type Workload } from './workload.js';

/** The mechanisms torture knows, in the order it runs them. */
export const MECHANISM_NAMES = [
  'markers',
  'tracepoints',
  'ktrace',
  'rcu-tasks',
  'ftrace',
  'utrace',
  'ring-buffer',
  'locks',
  'rcu-sched',
  'srcu',
  'kprobes',
] as const;
export type MechanismName = (typeof MECHANISM_NAMES)[number];

/** A known-broken option of a mechanism: what `--unsafe NAME` runs. */
export interface UnsafeOption {
  /** `[a-z0-9-]+`, unique over every mechanism. */
  readonly name: string;
  readonly mechanism: MechanismName;
  /** The option as the plugin spells it, or what torture's own broken writer does. */
  readonly option: string;
  readonly description: string;
  /** The invariants a catch may name. */
  readonly expect: readonly string[];
}

/** What a mechanism's setup gets. */
export interface SetupArgs {
  readonly kernel: Kernel;
  readonly w: Workload;
  readonly rig: Rig;
  /** `safe`, or an unsafe option's name. */
  readonly variant: string;
  /** Churn rounds per tracer-side thread (the scenario's scale). */
  readonly rounds: number;
}

export interface Mechanism {
  readonly name: MechanismName;
  readonly description: string;
  /** The grace-period flavours whose grace periods the summary counts. */
  readonly flavours: readonly Flavour[];
  /** Steps after which a run is cut (counted as cut, not as a failure). */
  readonly maxSteps: number;
  readonly unsafe: readonly UnsafeOption[];
  /**
   * Whether this seed's kernel takes timer ticks (the core's `interrupts.timer`, every
   * `TICK_PERIOD` ticks, each arrival a choice of the random walk). `opt` is a stream of its
   * own, drawn the same way for the kernel's options and for `plugins`. Omitted: never.
   */
  ticks?(args: { readonly variant: string; readonly opt: Prng }): boolean;
  /**
   * The tick period (the core's `interrupts.timer.period`, in ticks of the kernel's clock,
   * which every CPU's step advances) on a kernel of `cpus` CPUs. Omitted: `TICK_PERIOD`.
   */
  tickPeriod?(cpus: number): number;
  /**
   * Whether this seed's kernel also takes sampling NMIs (the core's `interrupts.nmi`, every
   * `nmiPeriod(cpus)` ticks), asked only on a seed that takes ticks; `opt` is a stream of its
   * own, so the tick and plugin draws do not move. Omitted: never.
   */
  nmi?(args: { readonly variant: string; readonly opt: Prng }): boolean;
  /** The NMI period on a kernel of `cpus` CPUs. Omitted: `NMI_PERIOD_PER_CPU` × cpus. */
  nmiPeriod?(cpus: number): number;
  /**
   * The stack; `opt` draws per-seed plugin options (a stream of its own, so setup's draws do not
   * move); `ticks` is what `ticks` answered for this seed and variant.
   */
  plugins(args: {
    readonly w: Workload;
    readonly variant: string;
    readonly rig: Rig;
    readonly opt: Prng;
    readonly ticks: boolean;
    /** What `nmi` answered for this seed and variant (false without ticks). */
    readonly nmi: boolean;
  }): PluginStack;
  /** Spawns the tracer-side threads and readers (the shells are spawned by the caller). */
  setup(args: SetupArgs): void;
}

/** NMI period per CPU when a mechanism gives none (the ring buffer's tick period is 30 per CPU). */
export const NMI_PERIOD_PER_CPU = 50;

/** How a writer gets rid of a removed object: wait for a grace period and free, or queue the free as a callback. */
type Retire = 'synchronize' | 'call';

/** Frees `o` after an RCU-sched grace period, synchronously or through call_rcu_sched. */
function* retireSched(rig: Rig, o: TortureObject, how: Retire): KPath<void> {
  if (how === 'synchronize') {
    yield* synchronizeRcu();
    rig.count('synchronize-rcu');
    rig.free(o);
  } else {
    yield* callRcu(function* freeTortureObject() {
      rig.free(o);
    }, 'torture_free');
    rig.count('call-rcu');
  }
}

/** A callback flood: `n` no-op callbacks on RCU-sched (call_rcu from many places at once). */
function* floodSched(rig: Rig, n: number): KPath<void> {
  for (let i = 0; i < n; i++) {
    yield* callRcu(function* floodCallback() {
      rig.count('flood-callback-invoked');
    }, 'torture_flood');
    rig.count('call-rcu');
  }
  yield* synchronizeRcu();
  rig.count('synchronize-rcu');
}

// ---- markers ----------------------------------------------------------------------------------

const MARKER_SITES = ['kernel_sched_schedule', 'kernel_process_fork', 'fs_exec', 'kernel_process_exit'] as const;

/** A marker writer: connects a probe with a fresh object to a hot site, disconnects it, and frees the object after a grace period (marker_synchronize_unregister). */
function* markerWriter(kernel: Kernel, rig: Rig, probe: MarkerProbe, plan: readonly { site: string; hold: number; how: Retire }[]): KPath<void> {
  const api = kernel.api.markers;
  for (const step of plan) {
    const o = rig.obj('sched');
    const r = yield* api.probeRegister(step.site, null, probe, o);
    rig.count('probe-register');
    if (r !== 0) continue;
    yield* msleep(step.hold);
    yield* api.probeUnregister(step.site, probe, o);
    rig.count('probe-unregister');
    rig.remove(o);
    yield* retireSched(rig, o, step.how);
  }
}

function markerProbe(rig: Rig, label: string): MarkerProbe {
  const probe: MarkerProbe = (priv) => rig.read(priv as TortureObject, `marker probe ${label}`);
  return probe;
}

function writerPlan(prng: Prng, rounds: number, sites: readonly string[]): { site: string; hold: number; how: Retire }[] {
  const out: { site: string; hold: number; how: Retire }[] = [];
  for (let i = 0; i < rounds; i++) out.push({ site: pick(prng, sites), hold: between(prng, 0, 4), how: prng.below(2) === 0 ? 'synchronize' : 'call' });
  return out;
}

const markersMechanism: Mechanism = {
  name: 'markers',
  description: 'probes registered and unregistered on the core marker sites (context switch, fork, exec, exit); objects freed after RCU-sched',
  flavours: ['sched'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'free-immediately',
      mechanism: 'markers',
      option: "markers({ freeOldArray: 'immediately' })",
      description: 'the replaced probe array is freed as soon as the new one is published',
      expect: ['markers/freed-after-grace-period', 'markers/no-use-after-free', 'torture/checks'],
    },
  ],
  plugins: ({ variant }) => [markers({ freeOldArray: variant === 'free-immediately' ? 'immediately' : 'after-grace-period' })],
  setup({ kernel, w, rig, rounds }) {
    const writers = between(w.prng, 1, 3);
    for (let j = 0; j < writers; j++) {
      const plan = writerPlan(w.prng, rounds, MARKER_SITES);
      kernel.spawnKthread(markerWriter(kernel, rig, markerProbe(rig, `w${j}`), plan), { comm: `torture_mw${j}` });
    }
    if (w.prng.below(2) === 0) kernel.spawnKthread(floodSched(rig, between(w.prng, 2, 8)), { comm: 'torture_flood' });
  },
};

// ---- tracepoints (the ring buffer's tracepoint API) --------------------------------------------

const TRACEPOINTS = ['sched_switch', 'sched_process_fork', 'sched_process_exit', 'syscall_entry_open', 'syscall_entry_getpid', 'syscall_entry_read'] as const;
const CHANNEL_EVENTS = ['sched_switch', 'sched_process_fork', 'sched_process_exit', 'syscall_entry_open'] as const;

function tracepointProbe(rig: Rig, label: string): TracepointProbe {
  return function* tortureTracepointProbe(_values, data) {
    const o = data as TortureObject;
    rig.read(o, `tracepoint probe ${label}`);
    // Inside the read side: a faultable probe may be preempted here, a normal one lets other CPUs run.
    yield* schedPoint();
    rig.read(o, `tracepoint probe ${label}`);
  };
}

function* tracepointWriter(kernel: Kernel, rig: Rig, probe: TracepointProbe, plan: readonly { site: string; hold: number }[], busted: boolean): KPath<void> {
  const api = kernel.api['ring-buffer'];
  const rt = kernel.api['rcu-tasks'];
  for (const step of plan) {
    const faultable = step.site.startsWith('syscall_entry_');
    const o = rig.obj(faultable ? 'trace' : 'sched');
    const r = yield* api.tracepointProbeRegister(step.site, probe, o);
    rig.count('probe-register');
    if (r !== 0) continue;
    yield* msleep(step.hold);
    yield* api.tracepointProbeUnregister(step.site, probe, o);
    rig.count('probe-unregister');
    rig.remove(o);
    if (!busted) {
      // tracepoint_synchronize_unregister: the flavour the probe ran under.
      if (faultable) {
        yield* rt.synchronizeRcuTasksTrace();
        rig.count('synchronize-rcu-tasks-trace');
      } else {
        yield* synchronizeRcu();
        rig.count('synchronize-rcu');
      }
    }
    rig.free(o);
  }
}

/** `lttng enable-event` / `disable-event` on hot events at random times. */
function* eventToggler(kernel: Kernel, rig: Rig, plan: readonly { event: string; off: number; gap: number }[]): KPath<void> {
  const api = kernel.api['ring-buffer'];
  for (const step of plan) {
    yield* msleep(step.gap);
    yield* api.disableEvent(step.event);
    rig.count('event-disable');
    yield* msleep(step.off);
    yield* api.enableEvent(step.event);
    rig.count('event-enable');
  }
}

function togglePlan(prng: Prng, rounds: number): { event: string; off: number; gap: number }[] {
  const out: { event: string; off: number; gap: number }[] = [];
  for (let i = 0; i < rounds; i++) out.push({ event: pick(prng, CHANNEL_EVENTS), off: between(prng, 0, 3), gap: between(prng, 0, 4) });
  return out;
}

/** A session daemon that flushes the buffers after a while (lttng stop), so delivery is checked on every sub-buffer. */
function* sessiond(kernel: Kernel, rig: Rig, after: number): KPath<void> {
  yield* msleep(after);
  yield* kernel.api['ring-buffer'].flush();
  rig.count('flush');
}

const tracepointsMechanism: Mechanism = {
  name: 'tracepoints',
  description:
    "probes registered and unregistered on the ring buffer plugin's tracepoints (sched_switch, fork, exit, faultable syscall entries), events enabled and disabled",
  flavours: ['sched', 'trace'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'busted-tracepoint-writer',
      mechanism: 'tracepoints',
      option: "torture's writer: frees a probe's data right after tracepoint_probe_unregister, without tracepoint_synchronize_unregister",
      description: 'the writer skips the grace period before freeing the probe data (rcutorture\'s "busted" check that the test can fail)',
      expect: ['torture/checks'],
    },
  ],
  plugins: ({ opt }) => [rcuTasks(), tracepoints(), ringBuffer({ subbufSize: 4096, numSubbuf: 4, enableAll: opt.below(2) === 0 })],
  setup({ kernel, w, rig, variant, rounds }) {
    const writers = between(w.prng, 1, 2);
    for (let j = 0; j < writers; j++) {
      const plan = writerPlan(w.prng, rounds, TRACEPOINTS).map((p) => ({ site: p.site, hold: p.hold }));
      kernel.spawnKthread(tracepointWriter(kernel, rig, tracepointProbe(rig, `w${j}`), plan, variant === 'busted-tracepoint-writer'), {
        comm: `torture_tw${j}`,
      });
    }
    kernel.spawnKthread(eventToggler(kernel, rig, togglePlan(w.prng, rounds)), { comm: 'torture_evt' });
  },
};

// ---- ktrace -----------------------------------------------------------------------------------

function* flagToggler(kernel: Kernel, rig: Rig, plan: readonly { on: number; gap: number }[]): KPath<void> {
  const api = kernel.api.ktrace;
  for (const step of plan) {
    yield* msleep(step.gap);
    yield* api.setKernelTraceFlagAllTasks();
    rig.count('trace-flag-set');
    yield* msleep(step.on);
    yield* api.clearKernelTraceFlagAllTasks();
    rig.count('trace-flag-clear');
  }
}

const ktraceMechanism: Mechanism = {
  name: 'ktrace',
  description:
    'the kernel trace flag set and cleared on every thread while shells fork; probes churned on kernel_syscall_entry/exit (fired from the traced syscall path)',
  flavours: ['sched'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'no-fork-recopy',
      mechanism: 'ktrace',
      option: 'ktrace({ forkRecopy: false })',
      description: "the child keeps dup_task_struct's copy of the flag",
      expect: ['ktrace/flag'],
    },
    {
      name: 'rcu-walk',
      mechanism: 'ktrace',
      option: "ktrace({ walk: 'rcu' })",
      description: 'the walk runs as an RCU-sched reader, which excludes no fork',
      expect: ['ktrace/flag'],
    },
    {
      name: 'refcount-outside-mutex',
      mechanism: 'ktrace',
      option: 'ktrace({ refcountOutsideMutex: true })',
      description: 'the refcount is read and written before kernel_trace_mutex is taken',
      expect: ['ktrace/refcount', 'ktrace/flag'],
    },
  ],
  plugins: ({ variant }) => [
    markers({ coreMarkers: false }),
    ktrace({
      forkRecopy: variant !== 'no-fork-recopy',
      walk: variant === 'rcu-walk' ? 'rcu' : 'tasklist',
      refcountOutsideMutex: variant === 'refcount-outside-mutex',
    }),
  ],
  setup({ kernel, w, rig, variant, rounds }) {
    // Two togglers at least when the refcount is the thing under test, so their calls overlap.
    const togglers = variant === 'refcount-outside-mutex' ? 2 : between(w.prng, 1, 2);
    for (let j = 0; j < togglers; j++) {
      const plan: { on: number; gap: number }[] = [];
      for (let i = 0; i < rounds; i++) plan.push({ on: between(w.prng, 0, 6), gap: between(w.prng, 0, 3) });
      kernel.spawnKthread(flagToggler(kernel, rig, plan), { comm: `torture_kt${j}` });
    }
    const plan = writerPlan(w.prng, rounds, ['kernel_syscall_entry', 'kernel_syscall_exit']);
    kernel.spawnKthread(markerWriter(kernel, rig, markerProbe(rig, 'syscall'), plan), { comm: 'torture_mw' });
  },
};

// ---- rcu-tasks and tasks-trace ----------------------------------------------------------------

/** An RCU-tasks reader thread: read sections of preemptible kernel code, each ended by a voluntary sleep. */
function* tasksReaderThread(rig: Rig, sections: number, points: number): KPath<void> {
  for (let i = 0; i < sections; i++) {
    rig.count('reader:rcu-tasks');
    yield* tasksReader(rig, 'rcu-tasks reader thread', points);
    yield* msleep(1);
  }
}

/** A tasks-trace reader thread: sections that sleep inside (allowed for tasks-trace), nested now and then. */
function* traceReaderThread(kernel: Kernel, rig: Rig, plan: readonly { sleep: number; nest: boolean }[]): KPath<void> {
  const api = kernel.api['rcu-tasks'];
  for (const step of plan) {
    rig.count('reader:tasks-trace');
    yield* api.rcuReadLockTrace();
    const o = rig.current.trace;
    rig.read(o, 'tasks-trace reader');
    if (step.nest) yield* api.rcuReadLockTrace();
    yield* msleep(step.sleep);
    rig.read(o, 'tasks-trace reader');
    if (step.nest) yield* api.rcuReadUnlockTrace();
    yield* schedPoint();
    rig.read(o, 'tasks-trace reader');
    yield* api.rcuReadUnlockTrace();
    yield* msleep(1);
  }
}

/** The writer of one flavour: replace the current object, then synchronize and free, queue the free, or barrier. */
function* rcuTasksWriter(kernel: Kernel, rig: Rig, flavour: 'tasks' | 'trace', plan: readonly { gap: number; how: Retire | 'barrier' }[]): KPath<void> {
  const api = kernel.api['rcu-tasks'];
  for (const step of plan) {
    yield* msleep(step.gap);
    const old = rig.replace(flavour);
    const free = function* freeTortureObject(): KPath<void> {
      rig.free(old);
    };
    if (step.how === 'synchronize') {
      if (flavour === 'tasks') yield* api.synchronizeRcuTasks();
      else yield* api.synchronizeRcuTasksTrace();
      rig.count(`synchronize-rcu-${flavour}`);
      rig.free(old);
    } else {
      if (flavour === 'tasks') yield* api.callRcuTasks(free, 'torture_free');
      else yield* api.callRcuTasksTrace(free, 'torture_free');
      rig.count(`call-rcu-${flavour}`);
      if (step.how === 'barrier') {
        if (flavour === 'tasks') yield* api.rcuBarrierTasks();
        else yield* api.rcuBarrierTasksTrace();
        rig.count(`rcu-barrier-${flavour}`);
      }
    }
  }
}

function* floodTasks(kernel: Kernel, rig: Rig, n: number): KPath<void> {
  const api = kernel.api['rcu-tasks'];
  for (let i = 0; i < n; i++) {
    const cb = function* floodCallback(): KPath<void> {
      rig.count('flood-callback-invoked');
    };
    if (i % 2 === 0) yield* api.callRcuTasks(cb, 'torture_flood');
    else yield* api.callRcuTasksTrace(cb, 'torture_flood');
    rig.count('call-rcu-flood');
  }
}

/** The runs whose stack has exit-path readers (written by `plugins`, read by `setup` of the same run, in one thread). */
const EXIT_PATH_RIGS = new WeakSet<Rig>();

/**
 * A shell that forks children which run a little and exit, and computes before each wait, so
 * that a child is often a zombie still in its `death` hook when its parent reaps it: off the
 * task list while it reads, the case upstream's tasks_rcu_exit_srcu is for (the swarm shells
 * wait right after the fork, so the parent sleeps until the death hooks are done).
 */
function reaperShell(children: readonly { run: number; gap: number }[]): Program {
  return function* reaper(u: UserOps) {
    for (const c of children) {
      yield u.fork(function* reapedChild(v: UserOps) {
        yield v.compute(c.run);
        yield v.exit(0);
      });
      yield u.compute(c.gap);
      yield u.wait();
    }
  };
}

const rcuTasksMechanism: Mechanism = {
  name: 'rcu-tasks',
  description:
    'RCU-tasks readers (preemptible kernel code in threads and in a syscall) and tasks-trace readers that sleep; writers that synchronize, queue callbacks and barrier on both flavours; callback floods',
  flavours: ['sched', 'tasks', 'trace'],
  maxSteps: 30_000,
  unsafe: [
    {
      name: 'quiescent-on-preempt',
      mechanism: 'rcu-tasks',
      option: 'rcuTasks({ quiescentOnPreempt: true })',
      description: 'a preempted holdout counts as quiescent',
      expect: ['rcu-tasks/readers', 'torture/checks'],
    },
    {
      name: 'trace-quiescent-on-switch',
      mechanism: 'rcu-tasks',
      option: 'rcuTasks({ traceQuiescentOnSwitch: true })',
      description: 'a tasks-trace reader that switched out counts as quiescent',
      expect: ['rcu-tasks/trace-readers', 'torture/checks'],
    },
    {
      name: 'exit-tasks-listed-only',
      mechanism: 'rcu-tasks',
      option: "rcuTasks({ exitTasks: 'listed-only' }), exit-path readers",
      description: 'the scan walks listed tasks only and no exit SRCU covers the exit path: a task reaped while it reads in its death hook is not waited for',
      expect: ['rcu-tasks/readers', 'torture/checks'],
    },
    {
      name: 'skip-second-sync',
      mechanism: 'rcu-tasks',
      option: "rcuTasks({ exitTasks: 'exit-srcu', skipSecondSync: true }), exit-path readers with a final region",
      description:
        "the GP skips its final synchronize_rcu: an exiting task's preempt-disabled region after exit_tasks_rcu_finish, still on the object it loaded in its exit path, is not waited for",
      expect: ['rcu-tasks/readers', 'torture/checks'],
    },
  ],
  plugins: ({ variant, rig, opt }) => {
    // How a GP covers exiting tasks (docs/rcu-tasks.md 3.4), drawn per seed on the safe runs:
    // the model's scan of every task, or upstream's exit SRCU. Exit-path readers (in the death
    // hook, and on some seeds a final preempt-disabled region after exit_tasks_rcu_finish) on
    // half the seeds; always for the two exit-path options.
    const listedOnly = variant === 'exit-tasks-listed-only';
    const skipSecondSync = variant === 'skip-second-sync';
    const exitTasks = listedOnly ? 'listed-only' : skipSecondSync || opt.below(2) === 0 ? 'exit-srcu' : 'scan-unlisted';
    const exitPath = listedOnly || skipSecondSync || opt.below(2) === 0;
    const points = between(opt, 2, 8);
    const tail = skipSecondSync || opt.below(2) === 0 ? between(opt, 2, 8) : 0;
    const stack = [
      rcuTasks({
        quiescentOnPreempt: variant === 'quiescent-on-preempt',
        traceQuiescentOnSwitch: variant === 'trace-quiescent-on-switch',
        exitTasks,
        ...(skipSecondSync ? { skipSecondSync } : {}),
      }),
      tortureReaders(rig, { hooks: [], syscall: 'tasks', ...(exitPath ? { exitPath: { points, tail } } : {}) }),
    ];
    if (exitPath) EXIT_PATH_RIGS.add(rig);
    return stack;
  },
  setup({ kernel, w, rig, rounds }) {
    // With exit-path readers, a reaper shell whose children are reaped while they read.
    if (EXIT_PATH_RIGS.has(rig)) {
      const children: { run: number; gap: number }[] = [];
      for (let i = 0; i < rounds * 2; i++) children.push({ run: between(w.prng, 1, 3), gap: between(w.prng, 1, 3) });
      kernel.spawn(reaperShell(children), { comm: 'torture_reaper' });
    }
    const readers = between(w.prng, 1, 2);
    for (let j = 0; j < readers; j++) kernel.spawnKthread(tasksReaderThread(rig, rounds * 2, between(w.prng, 1, 6)), { comm: `torture_rtr${j}` });
    const traceReaders = between(w.prng, 1, 2);
    for (let j = 0; j < traceReaders; j++) {
      const plan: { sleep: number; nest: boolean }[] = [];
      for (let i = 0; i < rounds * 2; i++) plan.push({ sleep: between(w.prng, 1, 3), nest: w.prng.below(3) === 0 });
      kernel.spawnKthread(traceReaderThread(kernel, rig, plan), { comm: `torture_trr${j}` });
    }
    for (const flavour of ['tasks', 'trace'] as const) {
      const plan: { gap: number; how: Retire | 'barrier' }[] = [];
      for (let i = 0; i < rounds; i++) plan.push({ gap: between(w.prng, 0, 3), how: pick(w.prng, ['synchronize', 'call', 'barrier'] as const) });
      kernel.spawnKthread(rcuTasksWriter(kernel, rig, flavour, plan), { comm: `torture_rw_${flavour}` });
    }
    if (w.prng.below(2) === 0) kernel.spawnKthread(floodTasks(kernel, rig, between(w.prng, 2, 8)), { comm: 'torture_flood' });
  },
};

// ---- ftrace -----------------------------------------------------------------------------------

const TRACED = ['sys_getpid', 'sys_open', 'sys_read', 'sys_write', 'sys_stat', 'sys_close', 'do_exit', 'copy_process', 'handle_mm_fault'] as const;

function filterOf(prng: Prng, idle: boolean): string[] {
  const out: string[] = TRACED.filter(() => prng.below(2) === 0);
  if (out.length === 0) out.push(pick(prng, TRACED));
  if (idle && prng.below(2) === 0) out.push('default_idle');
  return out;
}

interface FtracePlanStep {
  readonly dynamic: boolean;
  readonly filter: readonly string[];
  readonly refilter: readonly string[] | null;
  readonly hold: number;
  /** FTRACE_OPS_FL_RECURSION: the trampoline calls it through the assist function's guard. */
  readonly recursion: boolean;
}

function* ftraceWriter(kernel: Kernel, rig: Rig, label: string, plan: readonly FtracePlanStep[]): KPath<void> {
  const api = kernel.api.ftrace;
  for (const step of plan) {
    // A DYNAMIC ops' data may be freed when unregister returns; a static ops is never freed.
    const o = rig.obj('tasks');
    const ops: FtraceOps = {
      // The callback touches its data, takes a while (two scheduling points: on a trampoline a
      // task may be preempted there, an idle CPU stays in default_idle with RCU not watching),
      // and touches it again.
      func: (ip) => {
        rig.read(o, `ftrace ${label} at ${ip}`);
        return (function* ftraceTortureCallback(): KPath<void> {
          yield* schedPoint();
          yield* schedPoint();
          rig.read(o, `ftrace ${label} at ${ip}`);
        })();
      },
      filter: step.filter,
      flags: [...(step.dynamic ? (['DYNAMIC'] as const) : []), ...(step.recursion ? (['RECURSION'] as const) : [])],
      label,
    };
    const r = yield* api.registerFtraceFunction(ops);
    rig.count('ftrace-register');
    if (r !== 0) continue;
    yield* msleep(step.hold);
    if (step.refilter !== null) {
      yield* api.ftraceSetFilter(ops, step.refilter);
      rig.count('ftrace-set-filter');
      yield* msleep(step.hold);
    }
    yield* api.unregisterFtraceFunction(ops);
    rig.count('ftrace-unregister');
    if (step.dynamic) {
      rig.remove(o);
      rig.free(o);
    }
  }
}

const ftraceMechanism: Mechanism = {
  name: 'ftrace',
  description:
    'DYNAMIC and static ftrace ops with filters registered, re-filtered and removed on hot functions (syscalls, fork, exit, faults, the idle loop on some seeds); ops data freed when unregister returns',
  flavours: ['sched', 'tasks'],
  maxSteps: 30_000,
  unsafe: [
    {
      name: 'free-trampoline-after-rcu-sched',
      mechanism: 'ftrace',
      option: "ftrace({ freeTrampolineAfter: 'rcu-sched' })",
      description: 'the trampoline is freed after RCU-sched only; a task preempted on it resumes on freed code',
      expect: ['ftrace/no-trampoline-use-after-free', 'torture/checks'],
    },
    {
      name: 'idle-trampolines-no-rude',
      mechanism: 'ftrace',
      option: "ftrace({ traceIdle: true, idleTrampolines: 'allow', cpuSync: 'rcu-sched' })",
      description:
        'default_idle may call a DYNAMIC trampoline and unregister waits RCU-sched then RCU-tasks, no Tasks-Rude: neither waits for an idle CPU in default_idle',
      expect: ['ftrace/no-trampoline-use-after-free', 'torture/checks'],
    },
    {
      name: 'per-task-recursion-guard',
      mechanism: 'ftrace',
      option: "ftrace({ recursionGuard: 'per-task', traceTick: true }), timer ticks, RECURSION ops",
      description:
        "the recursion guard has one bit per task: a tick inside a task's guarded callback finds it set, and the tick's traced update_process_times is refused as recursion (its event lost)",
      expect: ['ftrace/recursion-guard-per-context'],
    },
  ],
  // Ticks on a third of the safe seeds (the tick's handler calls a traced update_process_times,
  // so callbacks run in hard-interrupt context, nested in a task's), always for the guard option.
  ticks: ({ variant, opt }) => variant === 'per-task-recursion-guard' || (variant === 'safe' && opt.below(3) === 0),
  plugins: ({ variant, opt, ticks }) => {
    const traceIdle = variant === 'idle-trampolines-no-rude' || opt.below(4) === 0;
    // Idle-loop trampolines: refused (the 2014 answer) or allowed under the Tasks-Rude wait
    // (upstream's), drawn per seed so the safe runs torture both fixes.
    const allowIdle = variant === 'idle-trampolines-no-rude' || (traceIdle && opt.below(2) === 0);
    return [
      rcuTasks(),
      ftrace({
        freeTrampolineAfter: variant === 'free-trampoline-after-rcu-sched' ? 'rcu-sched' : 'rcu-tasks',
        traceIdle,
        idleTrampolines: allowIdle ? 'allow' : 'refuse',
        ...(variant === 'idle-trampolines-no-rude' ? { cpuSync: 'rcu-sched' as const } : {}),
        ...(ticks ? { traceTick: true } : {}),
        ...(variant === 'per-task-recursion-guard' ? { recursionGuard: 'per-task' as const } : {}),
      }),
    ];
  },
  setup({ kernel, w, rig, variant, rounds }) {
    const idle = kernel.api.ftrace.options.traceIdle;
    const tick = kernel.api.ftrace.options.traceTick;
    const writers = between(w.prng, 1, 2);
    for (let j = 0; j < writers; j++) {
      const plan: FtracePlanStep[] = [];
      for (let i = 0; i < rounds; i++) {
        const dynamic = variant !== 'safe' || w.prng.below(4) !== 0;
        const filter = filterOf(w.prng, idle);
        if (variant === 'idle-trampolines-no-rude' && !filter.includes('default_idle')) filter.push('default_idle');
        // With ticks: the tick's function on half the ops (all, for the guard option), and
        // RECURSION (the assist function's guard) on half (all).
        const guardOption = variant === 'per-task-recursion-guard';
        if (tick && (guardOption || w.prng.below(2) === 0)) filter.push(TICK_FUNCTION);
        const recursion = tick && (guardOption || w.prng.below(2) === 0);
        plan.push({ dynamic, filter, refilter: w.prng.below(3) === 0 ? filterOf(w.prng, idle) : null, hold: between(w.prng, 0, 4), recursion });
      }
      kernel.spawnKthread(ftraceWriter(kernel, rig, `torture_ops${j}`, plan), { comm: `torture_fw${j}` });
    }
  },
};

// ---- utrace -----------------------------------------------------------------------------------

/** The torture engine: every callback touches the engine data before and after a scheduling point. */
function tortureEngineOps(rig: Rig): UtraceEngineOps<TortureObject> {
  function* touch(engine: UtraceEngine<TortureObject>, where: string): KPath<number> {
    rig.read(engine.data, `utrace ${where}`);
    yield* schedPoint();
    rig.read(engine.data, `utrace ${where}`);
    return UTRACE_RESUME;
  }
  return {
    name: 'torture_engine',
    reportSyscallEntry: (_a, e) => touch(e, 'report_syscall_entry'),
    reportSyscallExit: (_a, e) => touch(e, 'report_syscall_exit'),
    reportExec: (_a, e) => touch(e, 'report_exec'),
    reportExit: (_a, e) => touch(e, 'report_exit'),
    reportClone: (_a, e) => touch(e, 'report_clone'),
    reportQuiesce: (_a, e) => touch(e, 'report_quiesce'),
    *reportDeath(e) {
      rig.read(e.data, 'utrace report_death');
      return UTRACE_RESUME;
    },
    *reportReap(e) {
      rig.read(e.data, 'utrace report_reap');
    },
    release(data) {
      rig.free(data);
    },
  };
}

const UTRACE_MASKS = [
  UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_EVENT_EXEC | UTRACE_EVENT_EXIT | UTRACE_EVENT_DEATH,
  UTRACE_EVENT_CLONE | UTRACE_EVENT_SYSCALL_ENTRY,
  UTRACE_EVENT_QUIESCE | UTRACE_EVENT_DEATH,
  UTRACE_EVENT_SYSCALL_ENTRY | UTRACE_EVENT_SYSCALL_EXIT | UTRACE_EVENT_EXIT | UTRACE_EVENT_DEATH | UTRACE_EVENT_CLONE | UTRACE_EVENT_EXEC,
] as const;

interface UtracePlanStep {
  readonly target: number;
  readonly mask: number;
  readonly hold: number;
  readonly stop: boolean;
}

/** A tracer: attach the torture engine to a live user task, watch, maybe stop and resume it, detach. */
function* utraceTracer(kernel: Kernel, rig: Rig, plan: readonly UtracePlanStep[], barrier: boolean): KPath<void> {
  const api = kernel.api.utrace;
  const ops = tortureEngineOps(rig);
  for (const step of plan) {
    // The target: one of the user tasks alive now, by a drawn index (the state, hence the choice, is a function of the schedule).
    const state = yield* getState();
    const live = [...intMapValues(state.tasks)].filter((t) => !t.kthread && t.exitState === null);
    if (live.length === 0) {
      yield* msleep(1);
      continue;
    }
    const pid = live[step.target % live.length]!.pid;
    const o = rig.obj('none');
    const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, ops, o);
    rig.count('utrace-attach');
    if (typeof e === 'number') {
      rig.free(o);
      continue;
    }
    yield* api.setEvents(pid, e, step.mask);
    rig.count('utrace-set-events');
    yield* msleep(step.hold);
    if (step.stop) {
      const r = yield* api.control(pid, e, UTRACE_STOP);
      rig.count('utrace-stop');
      if (r === 0) {
        yield* msleep(1);
        yield* api.control(pid, e, UTRACE_RESUME);
        rig.count('utrace-resume');
      }
    }
    // detachEngine puts the tracer's reference: the engine's release frees the object.
    yield* detachEngine(api, pid, e, { barrier });
    rig.count(barrier ? 'utrace-detach' : 'utrace-detach-no-barrier');
  }
}

const utraceMechanism: Mechanism = {
  name: 'utrace',
  description:
    'engines attached to live shells with drawn event masks, stopped, resumed and detached (with utrace_barrier where the detach says so) while the shells fork, exec and exit',
  flavours: ['sched'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'no-barrier',
      mechanism: 'utrace',
      option: 'detachEngine(api, pid, engine, { barrier: false })',
      description: 'the tracer puts its last reference right after control(DETACH), without utrace_barrier',
      expect: ['utrace/engine-lifetime', 'torture/checks'],
    },
  ],
  plugins: () => [utrace()],
  setup({ kernel, w, rig, variant, rounds }) {
    const tracers = between(w.prng, 1, 2);
    for (let j = 0; j < tracers; j++) {
      const plan: UtracePlanStep[] = [];
      for (let i = 0; i < rounds; i++)
        plan.push({ target: w.prng.below(16), mask: pick(w.prng, UTRACE_MASKS), hold: between(w.prng, 0, 3), stop: w.prng.below(3) === 0 });
      kernel.spawnKthread(utraceTracer(kernel, rig, plan, variant !== 'no-barrier'), { comm: `torture_ut${j}` });
    }
  },
};

// ---- the ring buffer --------------------------------------------------------------------------

const ringBufferMechanism: Mechanism = {
  name: 'ring-buffer',
  description: 'per-CPU buffers with drawn sizes, mode and copy strategy under the swarm workload; events enabled and disabled; a flush at a drawn time',
  flavours: ['sched', 'trace'],
  maxSteps: 30_000,
  unsafe: [
    {
      name: 'local-only',
      mechanism: 'ring-buffer',
      option: "ringBuffer({ commitCounters: 'local-only', copyStrategy: 'in-place' })",
      description: 'a commit after a migration is a non-atomic CPU-local add from another CPU',
      expect: ['ring-buffer/delivery', 'ring-buffer/commit'],
    },
    {
      name: 'reader-swap-no-exchange',
      mechanism: 'ring-buffer',
      option: "ringBuffer({ mode: 'overwrite', readerSwap: true, readerSwapExchange: false })",
      description:
        "get_subbuf reads the writer's sub-buffer in place in overwrite mode without update_read_sb_index's exchange: a writer lapping onto it overwrites the packet being read",
      expect: ['ring-buffer/packets', 'ring-buffer/delivery'],
    },
    {
      name: 'plain-store-offset',
      mechanism: 'ring-buffer',
      option: "ringBuffer({ interrupts: true, offsetUpdate: 'plain-store' }) with timer ticks",
      description:
        "the reserve stores the write offset without a compare-and-exchange: a tick's records reserved between the read and the store are overwritten",
      expect: ['ring-buffer/overlap'],
    },
  ],
  // Ticks on a third of the safe seeds, recorded from the handler (`interrupts: true`: nested
  // reserves, the cmpxchg retried), and a drawn flush through IPIs; always for plain-store.
  ticks: ({ variant, opt }) => variant === 'plain-store-offset' || (variant === 'safe' && opt.below(3) === 0),
  // The tick's handler writes three records, about 15 steps of its CPU (each call site has its
  // scheduling point, docs/tracepoints.md); the clock advances with every CPU's step. At
  // TICK_PERIOD (3) a CPU was in a back-to-back interrupt storm, running about one step of its
  // own between two handlers, so the state dump's RCU read-side walk outlived the stall bound
  // (docs/torture.md, "Timer ticks"). 30 ticks per CPU: a CPU spends about a third of its steps
  // in the handler.
  tickPeriod: (cpus) => 30 * cpus,
  // Sampling NMIs on half the ticking seeds: the nmi_sample tracepoint records from NMI context,
  // nested anywhere (inside a tick's handler too), under a drawn trace clock.
  nmi: ({ opt }) => opt.below(2) === 0,
  plugins: ({ variant, opt, ticks, nmi }) => {
    const noExchange = variant === 'reader-swap-no-exchange';
    const subbufSize = pick(opt, [512, 1024, 4096]);
    const numSubbuf = pick(opt, [2, 4]);
    const drawnMode = opt.below(3) === 0 ? 'overwrite' : 'discard';
    const mode = noExchange ? 'overwrite' : drawnMode;
    const copyStrategy = variant === 'local-only' ? 'in-place' : pick(opt, ['in-place', 'temporary-buffer', 'fault-in-restart'] as const);
    const flushSwitch = ticks && opt.below(2) === 0 ? ('ipi' as const) : ('remote' as const);
    // Drawn after the draws above, so they do not move: the reader's sub-buffer swap on half the
    // seeds, and with NMIs, lttng-modules' ktime_get wrapper (an NMI's record lost to -EIO) on half.
    const readerSwap = noExchange || opt.below(2) === 0;
    const traceClock = nmi && opt.below(2) === 0 ? ('ktime-get' as const) : ('nmi-safe' as const);
    return [
      rcuTasks(),
      tracepoints(),
      ringBuffer({
        subbufSize,
        numSubbuf,
        mode,
        copyStrategy,
        commitCounters: variant === 'local-only' ? 'local-only' : 'local-remote',
        ...(ticks ? { interrupts: true, flushSwitch } : {}),
        ...(variant === 'plain-store-offset' ? { offsetUpdate: 'plain-store' as const } : {}),
        ...(readerSwap ? { readerSwap } : {}),
        ...(noExchange ? { readerSwapExchange: false } : {}),
        ...(traceClock !== 'nmi-safe' ? { traceClock } : {}),
      }),
    ];
  },
  setup({ kernel, w, rig, rounds }) {
    kernel.spawnKthread(eventToggler(kernel, rig, togglePlan(w.prng, rounds)), { comm: 'torture_evt' });
    kernel.spawnKthread(sessiond(kernel, rig, between(w.prng, 20, 80)), { comm: 'lttng-sessiond' });
  },
};

// ---- the core's locks -------------------------------------------------------------------------

/** Who is inside each torture lock's section now (guarded by: the lock under test; a check that sees more is the failure). */
interface LockHolders {
  mutex: number;
  spin: number;
  rwWriters: number;
  rwReaders: number;
  tasklistReaders: number;
}

type LockKind = 'mutex' | 'spin' | 'rw-read' | 'rw-write' | 'tasklist-read';

function checkHolders(rig: Rig, h: LockHolders, where: string): void {
  if (h.mutex > 1) rig.fail(`${where}: ${h.mutex} tasks inside torture_mutex at once`);
  if (h.spin > 1) rig.fail(`${where}: ${h.spin} tasks inside torture_spin at once`);
  if (h.rwWriters > 1 || (h.rwWriters > 0 && h.rwReaders > 0))
    rig.fail(`${where}: torture_rw has ${h.rwWriters} writer(s) and ${h.rwReaders} reader(s) at once`);
}

/** A lock-torture thread (locktorture's writer/reader): sections under the core's locks, checked for exclusion inside. */
function* lockWorker(rig: Rig, h: LockHolders, plan: readonly { kind: LockKind; points: number; sleep: boolean }[], mutexName: string): KPath<void> {
  for (const step of plan) {
    const where = `lock worker (${step.kind})`;
    switch (step.kind) {
      case 'mutex':
        yield* mutexLock(mutexName);
        h.mutex++;
        break;
      case 'spin':
        yield* spinLock('torture_spin');
        h.spin++;
        break;
      case 'rw-read':
        yield* readLock('torture_rw');
        h.rwReaders++;
        break;
      case 'rw-write':
        yield* writeLock('torture_rw');
        h.rwWriters++;
        break;
      case 'tasklist-read':
        // Contends with every fork's write_lock(&tasklist_lock).
        yield* readLock();
        h.tasklistReaders++;
        break;
    }
    rig.count(`lock:${step.kind}`);
    checkHolders(rig, h, where);
    for (let i = 0; i < step.points; i++) {
      yield* schedPoint();
      checkHolders(rig, h, where);
    }
    // Only a mutex section may sleep.
    if (step.sleep && step.kind === 'mutex') {
      yield* msleep(1);
      checkHolders(rig, h, where);
    }
    switch (step.kind) {
      case 'mutex':
        h.mutex--;
        yield* mutexUnlock(mutexName);
        break;
      case 'spin':
        h.spin--;
        yield* spinUnlock('torture_spin');
        break;
      case 'rw-read':
        h.rwReaders--;
        yield* readUnlock('torture_rw');
        break;
      case 'rw-write':
        h.rwWriters--;
        yield* writeUnlock('torture_rw');
        break;
      case 'tasklist-read':
        h.tasklistReaders--;
        yield* readUnlock();
        break;
    }
    yield* schedPoint();
  }
}

const locksMechanism: Mechanism = {
  name: 'locks',
  description:
    "the core's mutex, spinlock, rwlock and the tasklist lock taken by 2 to 4 threads in drawn orders while the shells fork (fork takes the tasklist write lock); exclusion checked inside every section",
  flavours: ['sched'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'busted-lock',
      mechanism: 'locks',
      option: "torture's worker: each thread takes a mutex of its own instead of the shared one",
      description: "a lock that excludes nothing (locktorture's check that the test can fail)",
      expect: ['torture/checks'],
    },
  ],
  plugins: () => [],
  setup({ kernel, w, rig, variant, rounds }) {
    const h: LockHolders = { mutex: 0, spin: 0, rwWriters: 0, rwReaders: 0, tasklistReaders: 0 };
    const workers = between(w.prng, 2, 4);
    const kinds: LockKind[] = ['mutex', 'spin', 'rw-read', 'rw-write', 'tasklist-read'];
    for (let j = 0; j < workers; j++) {
      const plan: { kind: LockKind; points: number; sleep: boolean }[] = [];
      for (let i = 0; i < rounds * 3; i++)
        plan.push({ kind: variant === 'busted-lock' ? 'mutex' : pick(w.prng, kinds), points: between(w.prng, 0, 3), sleep: w.prng.below(2) === 0 });
      kernel.spawnKthread(lockWorker(rig, h, plan, variant === 'busted-lock' ? `torture_mutex_${j}` : 'torture_mutex'), { comm: `torture_lk${j}` });
    }
  },
};

// ---- the core's RCU-sched ---------------------------------------------------------------------

function* schedReaderThread(rig: Rig, sections: number): KPath<void> {
  for (let i = 0; i < sections; i++) {
    rig.count('reader:kthread');
    yield* schedReader(rig, 'rcu-sched reader thread');
    yield* msleep(1);
  }
}

function* schedWriter(rig: Rig, plan: readonly { gap: number; how: Retire }[], busted: boolean): KPath<void> {
  for (const step of plan) {
    yield* msleep(step.gap);
    const old = rig.replace('sched');
    if (busted) rig.free(old);
    else yield* retireSched(rig, old, step.how);
  }
}

const rcuSchedMechanism: Mechanism = {
  name: 'rcu-sched',
  description:
    "the core's RCU-sched: readers in every hook a probe can run in (context switch on idle and user-bound CPUs, fork, exec, exit, page fault, module load, ...), in a syscall and in threads; writers that synchronize or queue callbacks; callback floods",
  flavours: ['sched'],
  maxSteps: 20_000,
  unsafe: [
    {
      name: 'busted-rcu-sched-writer',
      mechanism: 'rcu-sched',
      option: "torture's writer: frees the replaced object at once, without a grace period",
      description: 'rcutorture\'s "busted" flavour: a writer that does not wait',
      expect: ['torture/checks'],
    },
  ],
  plugins: ({ rig, opt }) => {
    // Always the context-switch reader (the hottest site); the others drawn per seed, idle rarely (it adds an idle-loop pass each time a CPU goes idle).
    const hooks: ReaderHook[] = READER_HOOKS.filter((h) => h === 'contextSwitch' || (h === 'idle' ? opt.below(6) === 0 : opt.below(2) === 0));
    return [tortureReaders(rig, { hooks, syscall: 'sched' })];
  },
  setup({ kernel, w, rig, variant, rounds }) {
    const readers = between(w.prng, 0, 2);
    for (let j = 0; j < readers; j++) kernel.spawnKthread(schedReaderThread(rig, rounds * 2), { comm: `torture_rr${j}` });
    const writers = between(w.prng, 1, 2);
    for (let j = 0; j < writers; j++) {
      const plan: { gap: number; how: Retire }[] = [];
      for (let i = 0; i < rounds; i++) plan.push({ gap: between(w.prng, 0, 3), how: w.prng.below(2) === 0 ? 'synchronize' : 'call' });
      kernel.spawnKthread(schedWriter(rig, plan, variant === 'busted-rcu-sched-writer'), { comm: `torture_rw${j}` });
    }
    if (w.prng.below(2) === 0) kernel.spawnKthread(floodSched(rig, between(w.prng, 2, 8)), { comm: 'torture_flood' });
    if (w.prng.below(2) === 0)
      kernel.spawnKthread(moduleChurn(kernel.paths.loadModule, kernel.paths.unloadModule, rig, rounds, between(w.prng, 0, 3)), { comm: 'torture_mod' });
  },
};

export const MECHANISMS: Readonly<Record<MechanismName, Mechanism>> = {
  markers: markersMechanism,
  tracepoints: tracepointsMechanism,
  ktrace: ktraceMechanism,
  'rcu-tasks': rcuTasksMechanism,
  ftrace: ftraceMechanism,
  utrace: utraceMechanism,
  'ring-buffer': ringBufferMechanism,
  locks: locksMechanism,
  'rcu-sched': rcuSchedMechanism,
  srcu: srcuMechanism,
  kprobes: kprobesMechanism,
};

/** Every unsafe option of every mechanism, in mechanism order. */
export const UNSAFE_OPTIONS: readonly UnsafeOption[] = MECHANISM_NAMES.flatMap((m) => MECHANISMS[m].unsafe);
