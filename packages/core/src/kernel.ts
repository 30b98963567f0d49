import { Observable, concat, defer, distinctUntilChanged, map, of, type Observer, type Subscription } from 'rxjs';
import semver from 'semver';
import { TracelabError, describeError } from './errors.js';
import type { KernelEvent } from './events.js';
import { CORE_FUNCTIONS, startProgram, type CorePathsImpl } from './internal/core-paths.js';
import { PluginPathError, Runtime, type RuntimeMark, type TaskRt, type Violation, type WaitingTask } from './internal/runtime.js';
import { EventStore, type SliceReducer, type StoreMark } from './internal/store.js';
import { canonicalJson } from './internal/canonical-json.js';
import { checkWatchdogOptions, watchdogFor, type Watchdog, type Watched, type WatchdogOptions } from './internal/watchdog.js';
import { callbackPath, isGeneratorFunction, isKPath, type Command, type KPath } from './paths.js';
import { forward } from './internal/forward.js';
import { isObjectName, OBJECT_FAMILIES, touchedKeys, type FootprintSink } from './internal/footprint.js';
import type {
  CorePaths,
  HookName,
  InvariantCheck,
  InvariantOptions,
  LivenessMonitor,
  PluginApis,
  PluginContext,
  PluginStack,
  TracelabPlugin,
} from './plugin.js';
import type { Program } from './program.js';
import type { KernelState } from './state.js';
import { randomStrategy, type Strategy } from './strategy.js';
import { resolveInterrupts, type InterruptOptions, type ResolvedInterrupts } from './internal/irq.js';

export type { Violation, WaitingTask } from './internal/runtime.js';

/** The version of this package; plugins declare the range of it they work with. */
export const CORE_VERSION = '0.1.0';

/**
 * The log format, recorded in every log's `kernel/created` header. 2: the preempt count is
 * published once per step (a `cpu/preempt-count` at the end of a step whose net change is
 * non-zero), no longer at every preempt_disable/enable. A log without the field is format 1,
 * and `replay` refuses any format but this one (`LOG_VERSION`).
 */
export const LOG_VERSION = 2;

export interface KernelOptions {
  /** Number of CPUs, 1 to 64. Default 2. */
  readonly cpus?: number;
  /** Seed of the default strategy's PRNG: same seed, same log. Default 1. */
  readonly seed?: number;
  /** How choices are made. Default `randomStrategy()`; `replaySchedule(s)` re-runs a schedule. */
  readonly strategy?: Strategy;
  readonly plugins?: PluginStack;
  /** Ticks a page fault sleeps for its I/O. Default 3. */
  readonly faultLatency?: number;
  /**
   * Streams the log to this file as canonical NDJSON (the lines `logHash` hashes and `replay`
   * reads), for runs too long to keep in memory: each step's events are written once published
   * and leave memory, so `kernel.log` holds only the events not yet written out (the last step's
   * at most; their `seq` says where they are); `stateAt` reads older events back from the file.
   * The file is whole whenever a host call (`createKernel`, `spawn`, `run`, `call`) returns.
   * Such a kernel cannot be `reset`. Default: none, the whole log in memory.
   */
  readonly logFile?: string;
  /**
   * The host watchdog: a step that runs `timeoutMs` (default 10 s) without finishing (a hook
   * whose JavaScript loops and never yields) ends the process with exit status 70 and one coded
   * line (`tracelab: KERNEL_WATCHDOG: ...`) naming the plugin, hook, task and the looping
   * function, after writing out the streamed log and calling `onFire`. `false` turns it off (so
   * does `TRACELAB_WATCHDOG=0`). Watches kernels on the main thread only, never under a
   * debugger. Default on.
   */
  readonly watchdog?: WatchdogOptions | false;
  /**
   * Allocation-failure injection: when true, each `shouldFailAlloc()` is a strategy choice
   * (failing with the random strategy's `faultProbability`). Default false.
   */
  readonly faultInjection?: boolean;
  /**
   * Interrupt sources: `{ timer?: true | { period }, nmi?: true | { period } }` (docs/core.md,
   * "Interrupts"). Each arrival is an `nmi` or `irq` choice of the strategy. Default none: no
   * interrupt ever arrives, no such choice is asked, and a run is what it was before interrupts.
   */
  readonly interrupts?: InterruptOptions;
  /**
   * Memory pressure: before each step the strategy may evict one resident user page (kswapd's
   * reclaim as the `evict` choice: option 0 keeps every page, option i evicts the i-th resident
   * page). Evicted data is kept (swapped out): the next access faults the page back in.
   * Default false: no page is ever evicted but by the task's own `madvise(MADV_PAGEOUT)`.
   */
  readonly reclaim?: boolean;
  /**
   * How a poll loop's waits (`pollSleep`) behave: `'every-tick'` (the default) as `msleep`, the
   * loop looking once a tick as the kernel's does; `'on-change'`, a look that would fail is not
   * run while nothing in the kernel can tell it from no look (docs/core.md, "Poll loops": no
   * other timer, no interrupt source, RCU-sched idle, no switch, wake-up or idle hooks). A
   * modelling choice for a stack in which nothing else reads the poller between its looks.
   */
  readonly pollLoops?: PollLoops;
}

/** `KernelOptions.pollLoops`. */
export type PollLoops = 'every-tick' | 'on-change';

export interface RunOptions {
  /** Stop after this many steps (default 10,000,000). */
  readonly maxSteps?: number;
  /** Stop before the first step at which this returns true. */
  readonly until?: (state: KernelState) => boolean;
}

export interface RunResult {
  readonly steps: number;
  /** Every task has exited (only the idle tasks are left). */
  readonly done: boolean;
  readonly violations: readonly Violation[];
  /**
   * Non-empty when the run stopped because nothing can run until the host acts: a task is
   * stopped (by a utrace/ptrace engine or job control) and no lock cycle deadlocks the rest.
   * Each live task and what it waits on. Resume them (`kernel.call(api.utrace.control(...))`,
   * a SIGCONT) and `run` again. A real deadlock is the `kernel/stuck` violation instead.
   */
  readonly waiting: readonly WaitingTask[];
}

export interface ResetOptions {
  /** The strategy of the next run; default the kernel's. The seed stays the kernel's (it is in the log header). */
  readonly strategy?: Strategy;
}

export interface SpawnOptions {
  readonly comm?: string;
  /**
   * Bind the task to this CPU for life (a per-CPU kernel thread, kthread_bind; for a user
   * program, `taskset -c`): it runs only there, and `task/spawned` carries it as `boundCpu`.
   */
  readonly cpu?: number;
}

/** A simulated kernel with its plugins. Every name here is part of tracelab's contract. */
export interface Kernel {
  readonly state: KernelState;
  /** The current state, then the state after each step that changed it. */
  readonly state$: Observable<KernelState>;
  /** Each event, after its reducers ran, at the end of the step that emitted it. */
  readonly events$: Observable<KernelEvent>;
  readonly log: readonly KernelEvent[];
  /** The compact replay string of the choices made so far (`replaySchedule` takes it). */
  readonly schedule: string;
  readonly violations: readonly Violation[];
  /** What subscribers of `events$`/`state$`/`select` threw (contained; see SubscriberError). */
  readonly subscriberErrors: readonly SubscriberError[];
  /** Steps run so far. */
  readonly steps: number;
  readonly api: PluginApis;
  /** Core kernel paths that need the kernel instance: module load and unload. */
  readonly paths: CorePaths;
  /** Hex SHA-256 of the canonical NDJSON log: the run's identity. */
  logHash(): string;
  /** The state right after event `seq` (-1: before the first event). */
  stateAt(seq: number): KernelState;
  /** A memoized, distinct projection of the state stream. */
  select<R>(selector: (state: KernelState) => R): Observable<R>;
  /** Starts a user task running `program`; returns its pid. */
  spawn(program: Program, options?: SpawnOptions): number;
  /**
   * Starts a kernel thread running `path` (a generator object, or a function, plain or
   * generator, called in the new thread); returns its pid at once.
   */
  spawnKthread(path: KPath<unknown> | (() => unknown), options?: SpawnOptions): number;
  /**
   * Runs `path` in a new kernel thread until it returns, scheduling everything else around
   * it, and gives back its value. Throws `INVARIANT_VIOLATED` (with `violation`) if a check
   * fails, `CALL_OOPS` if the thread died, `CALL_DID_NOT_RETURN` if the run ended first.
   */
  call<T>(path: KPath<T> | (() => KPath<T> | T), options?: SpawnOptions & { readonly maxSteps?: number }): T;
  run(options?: RunOptions): RunResult;
  /**
   * Puts the kernel back as `createKernel` returned it (same plugins, same seed, no tasks, the
   * log cut to its registration events), with a new strategy (default: the one it was created
   * with), so that one kernel serves many runs: an explorer's worker resets instead of
   * registering the stack again. Everything read from the previous run (`log`, `state`,
   * `violations`, streams: their subscribers get `complete`) belongs to it and must not be used
   * after. `RESET_UNSUPPORTED` when a plugin keeps data it cannot restore (it did not call
   * `ctx.onReset`) or the kernel had tasks before its first run.
   */
  reset(options?: ResetOptions): void;
  /** A safety check after every step that changed the state; `options.reads` as `InvariantOptions` says. */
  invariant(name: string, check: InvariantCheck, options?: InvariantOptions): void;
  liveness(name: string, monitor: LivenessMonitor): void;
  /**
   * Starts (a sink) or stops (null) recording what each scheduling step reads and writes of the
   * shared state, for partial-order reduction: the sink gets a {@link StepFootprint} at the end
   * of every step. While recording, kernel and plugin code read the state through a recording
   * view, so a run is slower; the log is the same. Survives `reset`. Off by default, and off
   * costs nothing measurable.
   *
   * `fromStep` (default 0) starts recording at that step instead, counted as `kernel.steps`
   * counts them (since the kernel was built or last reset): the earlier steps run at full speed
   * and the sink hears nothing of them. An explorer re-running a prefix whose footprints it
   * already has asks for the rest only. Code that may keep the state (`getState()`, a plugin's
   * `ctx.state()`) is handed the recording view from the start, so a state kept across steps
   * records its reads in the recorded steps that make them.
   */
  recordFootprints(sink: FootprintSink | null, fromStep?: number): void;
}

export interface ReplayReport {
  /** Events folded. */
  readonly events: number;
  /** Set when the last line was cut short: the replay stopped before it. */
  readonly truncated: null | { readonly line: number; readonly message: string };
}

/** A subscriber of `events$`/`state$`/`select` that threw: contained, and recorded here. */
export interface SubscriberError {
  /** `events$` or `state$` (`select` streams are `state$`'s). */
  readonly stream: string;
  /** Who raised it: the subscriber function's name, or `subscriber #n` (its subscription order) / `an operator`. */
  readonly subscriber: string;
  readonly message: string;
  /** The last event logged when it threw. */
  readonly seq: number;
  readonly error: unknown;
}

/**
 * An invariant's declared reads (`InvariantOptions.reads`), copied and frozen; a bad one is `code`
 * naming `where` (INVALID_OPTION for the host's, PLUGIN_INVALID for a plugin's). A name outside
 * the footprint families (a typo, `tflag:*`) or an empty list would make the check observe
 * nothing it decides on, so both are refused.
 */
function declaredReads(options: InvariantOptions | undefined, where: string, code: 'INVALID_OPTION' | 'PLUGIN_INVALID'): readonly string[] | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null)
    throw new TracelabError(code, `${where}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const reads: unknown = options.reads;
  if (reads === undefined) return undefined;
  if (!Array.isArray(reads) || reads.length === 0)
    throw new TracelabError(
      code,
      `${where}: reads must be a non-empty list of footprint object names, got ${Array.isArray(reads) ? 'an empty list' : typeof reads}`,
    );
  const out: string[] = [];
  for (let i = 0; i < reads.length; i++) {
    const o: unknown = reads[i];
    if (typeof o !== 'string' || !isObjectName(o))
      throw new TracelabError(
        code,
        `${where}: reads[${i}] must be a footprint object name (kernel, rcu, rq:nonempty[:<cpu>], <family>:<key> or <family>:* for ${OBJECT_FAMILIES.join(', ')}, or @<plugin>:<key>), got ${typeof o === 'string' ? JSON.stringify(o) : typeof o}`,
      );
    out.push(o);
  }
  return Object.freeze(out);
}

/** Subscriptions made to any kernel stream, to name anonymous subscribers. Host-side; written only by contain(). */
let subscriptions = 0;

/**
 * The kernel's streams, with every subscriber contained: what its callbacks (or an operator piped
 * before them) throw is recorded with who raised it, instead of reaching RxJS's unhandled-error
 * report (a throw on the next tick, which kills a Node host). Piped streams stay contained.
 */
function contain<T>(source: Observable<T>, stream: string, report: (stream: string, subscriber: string, err: unknown) => void): Observable<T> {
  const out = new Observable<T>((s) => source.subscribe(s));
  const subscribe = out.subscribe.bind(out) as (o: unknown) => Subscription;
  const pipe = out.pipe.bind(out) as (...ops: unknown[]) => Observable<T>;
  Object.assign(out, {
    subscribe(o?: unknown): Subscription {
      const n = ++subscriptions;
      const obs = (typeof o === 'function' ? { next: o } : (o ?? {})) as Partial<Observer<T>>;
      const who = (f: unknown): string => (typeof f === 'function' && f.name !== '' && f.name !== 'next' ? f.name : `subscriber #${n}`);
      return subscribe({
        next: (v: T) => {
          try {
            obs.next?.(v);
          } catch (err) {
            report(stream, who(obs.next), err);
          }
        },
        error: (err: unknown) => {
          if (obs.error === undefined) {
            report(stream, `an operator piped before ${who(obs.next)}`, err);
            return;
          }
          try {
            obs.error(err);
          } catch (err2) {
            report(stream, who(obs.error), err2);
          }
        },
        complete: () => {
          try {
            obs.complete?.();
          } catch (err) {
            report(stream, who(obs.complete), err);
          }
        },
      });
    },
    pipe(...ops: unknown[]): Observable<unknown> {
      return contain(pipe(...ops), stream, report);
    },
  });
  return out;
}

/** A kernel rebuilt from a log: read-only (`run`, `spawn` and `call` throw `REPLAY_READ_ONLY`). */
export interface ReplayedKernel extends Kernel {
  readonly report: ReplayReport;
}

const PLUGIN_NAME = /^[a-z][a-z0-9-]*$/;
/** Every hook, once: a mapped type over HookName, so a hook added to HookArgs must be listed here. */
const HOOK_NAMES: { readonly [H in HookName]: true } = {
  fork: true,
  clone: true,
  cloneComplete: true,
  exec: true,
  exit: true,
  death: true,
  release: true,
  syscallEntry: true,
  syscallExit: true,
  signal: true,
  contextSwitch: true,
  returnToUser: true,
  pageFault: true,
  moduleLoad: true,
  moduleUnload: true,
  idle: true,
  wakeup: true,
  irq: true,
  nmi: true,
};
const HOOKS: ReadonlySet<string> = new Set(Object.keys(HOOK_NAMES));

type AnyPlugin = TracelabPlugin<unknown, unknown>;

/** What the checks of `resolvePlugins` share: the stack so far, and the plugins by name. */
interface StackScan {
  readonly plugins: readonly AnyPlugin[];
  /** Filled by the `unique` check, in stack order: later checks look dependencies up here. */
  readonly byName: Map<string, AnyPlugin>;
}

/** One named check of one plugin: throws its own coded error, naming the plugin (or its index) and the problem. */
type PluginCheck = (p: AnyPlugin, where: string, i: number, scan: StackScan) => void;

/**
 * Each plugin's shape, checked plugin by plugin in stack order (the first bad plugin is the one
 * reported). A new check is one more entry: its name says what it checks, its error has its code.
 */
const SHAPE_CHECKS: ReadonlyArray<readonly [string, PluginCheck]> = [
  [
    'is-object',
    (p, where, i) => {
      if (typeof p !== 'object' || p === null)
        throw new TracelabError('PLUGIN_INVALID', `${where} is not a plugin object (did you pass the factory instead of calling it?)`, { index: i });
    },
  ],
  [
    'name',
    (p, where, i) => {
      if (typeof p.name !== 'string' || !PLUGIN_NAME.test(p.name))
        throw new TracelabError('PLUGIN_INVALID', `${where}: name must match ${PLUGIN_NAME}`, { index: i });
    },
  ],
  [
    'version',
    (p, where) => {
      if (typeof p.version !== 'string' || !validVersion(p.version))
        throw new TracelabError('PLUGIN_INVALID', `${where}: version ${JSON.stringify(p.version)} is not a semver version`, { plugin: p.name });
    },
  ],
  [
    'core-range',
    (p, where) => {
      if (typeof p.core !== 'string' || !validRange(p.core))
        throw new TracelabError('PLUGIN_INVALID', `${where}: core ${JSON.stringify(p.core)} is not a semver range`, { plugin: p.name });
    },
  ],
  [
    'register',
    (p, where) => {
      if (typeof p.register !== 'function') throw new TracelabError('PLUGIN_INVALID', `${where}: register is not a function`, { plugin: p.name });
    },
  ],
  [
    'unique',
    (p, _where, _i, scan) => {
      if (scan.byName.has(p.name)) throw new TracelabError('PLUGIN_DUPLICATE', `plugin ${p.name} is in the stack twice`, { plugin: p.name });
      scan.byName.set(p.name, p);
    },
  ],
];

/** Each plugin against the whole stack, once every plugin's shape is known good. */
const STACK_CHECKS: ReadonlyArray<readonly [string, PluginCheck]> = [
  [
    'core-version',
    (p) => {
      if (!satisfies(CORE_VERSION, p.core)) {
        throw new TracelabError('PLUGIN_CORE_MISMATCH', `plugin ${p.name}@${p.version} needs @tracelab/core ${p.core}, but this is ${CORE_VERSION}`, {
          plugin: p.name,
          core: p.core,
          coreVersion: CORE_VERSION,
        });
      }
    },
  ],
  [
    'dependencies',
    (p, _where, _i, scan) => {
      const required = Object.entries(p.dependsOn ?? {});
      const optional = Object.entries(p.optionalDependsOn ?? {});
      for (const [dep, range] of [...required, ...optional]) {
        const d = scan.byName.get(dep);
        if (d === undefined) {
          if (p.optionalDependsOn?.[dep] !== undefined && p.dependsOn?.[dep] === undefined) continue;
          throw new TracelabError('PLUGIN_MISSING_DEPENDENCY', `plugin ${p.name} needs plugin ${dep} (${range}); add ${dep}() to the stack`, {
            plugin: p.name,
            dependency: dep,
            range,
          });
        }
        if (!satisfies(d.version, range)) {
          throw new TracelabError('PLUGIN_DEPENDENCY_VERSION', `plugin ${p.name} needs ${dep} ${range}, but the stack has ${dep}@${d.version}`, {
            plugin: p.name,
            dependency: dep,
            range,
            version: d.version,
          });
        }
      }
    },
  ],
];

/** The stack as an array of plugins (`false`/`null`/`undefined` entries dropped); INVALID_OPTION otherwise. */
function stackArray(stack: PluginStack | undefined): AnyPlugin[] {
  if (stack !== undefined && !Array.isArray(stack)) {
    throw new TracelabError('INVALID_OPTION', 'createKernel: plugins must be an array of plugin objects');
  }
  return (stack ?? []).filter((p): p is AnyPlugin => Boolean(p));
}

/** Registration order: dependencies first, otherwise the stack's own order; a cycle is PLUGIN_INVALID. */
function registrationOrder(scan: StackScan): AnyPlugin[] {
  const ordered: AnyPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: AnyPlugin, path: string[]): void => {
    const st = state.get(p.name);
    if (st === 'done') return;
    if (st === 'visiting') throw new TracelabError('PLUGIN_INVALID', `plugin dependency cycle: ${[...path, p.name].join(' -> ')}`, { plugin: p.name });
    state.set(p.name, 'visiting');
    for (const dep of dependencies(p)) {
      const d = scan.byName.get(dep);
      if (d !== undefined) visit(d, [...path, p.name]);
    }
    state.set(p.name, 'done');
    ordered.push(p);
  };
  for (const p of scan.plugins) visit(p, []);
  return ordered;
}

/**
 * The registration pipeline, in the shape of Fastify's plugin registration: the stack as an
 * array, then each plugin's shape (SHAPE_CHECKS), then each plugin against the stack
 * (STACK_CHECKS), then the registration order. Every check is small and named and fails with
 * its own code, naming the plugin and the problem.
 */
export function resolvePlugins(stack: PluginStack | undefined): AnyPlugin[] {
  const scan: StackScan = { plugins: stackArray(stack), byName: new Map() };
  for (const [i, p] of scan.plugins.entries()) {
    const where = typeof p?.name === 'string' ? `plugin ${p.name}` : `plugin #${i}`;
    for (const [, check] of SHAPE_CHECKS) check(p, where, i, scan);
  }
  for (const [i, p] of scan.plugins.entries()) {
    for (const [, check] of STACK_CHECKS) check(p, `plugin ${p.name}`, i, scan);
  }
  return registrationOrder(scan);
}

/** The plugins `p` must register after: its dependencies, and its optional ones. */
function dependencies(p: AnyPlugin): string[] {
  return [...Object.keys(p.dependsOn ?? {}), ...Object.keys(p.optionalDependsOn ?? {})];
}

/**
 * semver's answers, memoized: an explorer builds thousands of kernels a second from the same
 * stack, and parsing the same versions and ranges again was 2% of a small run.
 */
const semverMemo = new Map<string, boolean>();
function memo(key: string, compute: () => boolean): boolean {
  let v = semverMemo.get(key);
  if (v === undefined) {
    v = compute();
    if (semverMemo.size < 4096) semverMemo.set(key, v);
  }
  return v;
}
const validVersion = (v: string): boolean => memo(`v ${v}`, () => semver.valid(v) !== null);
const validRange = (r: string): boolean => memo(`r ${r}`, () => semver.validRange(r) !== null);
const satisfies = (v: string, r: string): boolean => memo(`s ${v} ${r}`, () => semver.satisfies(v, r, { includePrerelease: true }));

const isGenerator = isKPath;

/**
 * Drives a plugin path so that anything thrown out of it names the plugin. `start` may be the
 * path itself or a function called here (a syscall body: plain or generator function), so that
 * what a plain function throws is attributed too.
 */
function* attributed(plugin: string, where: string, start: KPath<unknown> | (() => unknown), disabled: () => boolean): KPath<unknown> {
  if (disabled()) throw new PluginPathError(plugin, where, new TracelabError('PLUGIN_DISABLED', `plugin ${plugin} was disabled by an earlier oops`));
  const blame = (err: unknown): never => {
    throw err instanceof PluginPathError ? err : new PluginPathError(plugin, where, err);
  };
  let gen: KPath<unknown>;
  if (typeof start === 'function') {
    let out: unknown;
    try {
      out = start();
    } catch (err) {
      return blame(err);
    }
    if (!isKPath(out)) return out;
    gen = out;
  } else {
    gen = start;
  }
  return yield* forward(gen, blame);
}

/** What kernel.call and spawnKthread take: a path, or a function (plain or generator) run in the new thread. */
function threadBody(what: string, path: unknown): KPath<unknown> {
  if (isGenerator(path)) return path;
  if (typeof path === 'function') {
    return (function* () {
      return yield* callbackPath((path as () => unknown)());
    })();
  }
  throw new TracelabError(
    'INVALID_OPTION',
    `${what}: path must be a generator object or a function, e.g. kernel.api.markers.probeRegister(...), function* () { ... } or () => value; got ${path === null ? 'null' : typeof path}`,
  );
}

class KernelImpl implements ReplayedKernel {
  readonly store: EventStore;
  readonly rt: Runtime;
  readonly corePaths: CorePathsImpl;
  readonly api: PluginApis;
  readonly paths: CorePaths;
  readonly state$: Observable<KernelState>;
  readonly events$: Observable<KernelEvent>;
  report: ReplayReport = { events: 0, truncated: null };
  private stepCount = 0;
  /** What subscribers threw, in order (host-side: never in the log). Appended by reportSubscriber. */
  readonly subscriberErrors: SubscriberError[] = [];
  private readonly reportSubscriber = (stream: string, subscriber: string, err: unknown): void => {
    const last = this.store.last();
    this.subscriberErrors.push({ stream, subscriber, message: describeError(err), seq: last?.seq ?? -1, error: err });
  };
  /** Set while `run` is on the stack (re-entrant calls are refused). */
  private running = false;
  /**
   * The host watchdog watching this kernel's runs, or null (off, not the main thread, a
   * debugger); its heartbeat, bumped once per step (a cell no one reads when there is none); and
   * what it asks of this kernel when it fires. Written at construction only.
   */
  private readonly watchdog: Watchdog | null;
  private readonly heartbeat: Int32Array;
  private readonly watched: Watched | null;
  /** The heartbeat when the current run began (written by `run`). */
  private beatAtRun = 0;

  constructor(
    readonly options: Required<Omit<KernelOptions, 'plugins' | 'strategy' | 'logFile' | 'watchdog' | 'interrupts'>> & {
      strategy: Strategy;
      logFile: string | null;
      watchdog: ReturnType<typeof checkWatchdogOptions>;
      interrupts: ResolvedInterrupts | null;
    },
    plugins: AnyPlugin[],
    readonly mode: 'live' | 'replay',
  ) {
    this.store = new EventStore(undefined, options.logFile);
    const dogOptions = options.watchdog;
    this.watchdog = mode === 'live' && dogOptions !== false ? watchdogFor() : null;
    this.heartbeat = this.watchdog?.cells ?? new Int32Array(1);
    this.watched =
      this.watchdog === null || dogOptions === false
        ? null
        : {
            timeoutMs: dogOptions.timeoutMs,
            onFire: dogOptions.onFire,
            describe: () => ({ step: this.stepCount + (this.heartbeat[0]! - this.beatAtRun), ...this.rt.whereNow() }),
            flush: () => {
              this.store.drain();
              return options.logFile;
            },
          };
    this.rt = new Runtime(this.store, options.strategy.create(options.seed), {
      cpus: options.cpus,
      faultLatency: options.faultLatency,
      faultInjection: options.faultInjection,
      interrupts: options.interrupts,
      reclaim: options.reclaim,
      pollLoops: options.pollLoops,
    });
    this.corePaths = this.rt.paths;
    this.paths = {
      loadModule: (name, data) => this.corePaths.loadModule(name, data),
      unloadModule: (name) => this.corePaths.unloadModule(name),
    };
    this.store.onReducerFailure = (plugin, event, error) => {
      this.rt.emit({
        type: 'kernel/oops',
        plugin,
        where: `reducer for ${event.type}`,
        message: describeError(error),
        pid: this.rt.running?.pid ?? -1,
        killed: null,
        preemptCount: null,
      });
    };
    this.state$ = contain(
      defer(() => concat(of(this.store.state), this.store.state$)),
      'state$',
      this.reportSubscriber,
    );
    // Deferred: `reset` gives the store new subjects, and a subscription made after it takes them.
    this.events$ = contain(
      defer(() => this.store.events$),
      'events$',
      this.reportSubscriber,
    );
    const apis: Record<string, unknown> = {};
    this.api = apis as unknown as PluginApis;
    if (mode === 'live') {
      // The interrupt sources and reclaim go in the header only when configured: a run without them keeps its log.
      this.rt.emit({
        type: 'kernel/created',
        cpus: options.cpus,
        seed: options.seed,
        coreVersion: CORE_VERSION,
        logVersion: LOG_VERSION,
        ...(options.interrupts !== null ? { interrupts: { ...options.interrupts } } : {}),
        ...(options.reclaim ? { reclaim: true as const } : {}),
        ...(options.pollLoops === 'on-change' ? { pollLoops: 'on-change' as const } : {}),
      });
      for (const name of CORE_FUNCTIONS) this.rt.emit({ type: 'kernel/function-defined', name });
    }
    for (const p of plugins) {
      let api: unknown;
      try {
        api = p.register(this.contextFor(p, apis));
      } catch (err) {
        if (err instanceof TracelabError && err.code !== 'KERNEL_BUG') throw err;
        throw new TracelabError('PLUGIN_REGISTER_FAILED', `plugin ${p.name}: register() threw: ${describeError(err)}`, { plugin: p.name }, { cause: err });
      }
      apis[p.name] = this.wrapApi(p.name, api);
      renamedApiGuard(apis, p.name);
      if (mode === 'live') {
        this.rt.emit(
          p.options === undefined
            ? { type: 'kernel/plugin-registered', name: p.name, version: p.version }
            : { type: 'kernel/plugin-registered', name: p.name, version: p.version, options: p.options },
        );
      }
    }
    this.rt.seal();
    this.store.flush();
    this.store.drain();
    if (mode === 'live') {
      const missing = plugins.filter((p) => !this.resets.has(p.name)).map((p) => p.name);
      const rt = this.rt.mark();
      this.resetMark =
        options.logFile !== null
          ? `it streams its log to ${options.logFile}`
          : missing.length > 0
            ? `plugin${missing.length > 1 ? 's' : ''} ${missing.join(', ')} did not call ctx.onReset (they keep data the core cannot restore)`
            : rt === null
              ? 'a plugin started tasks or timers while registering'
              : { store: this.store.mark(), rt };
    }
  }

  /** Plugins' `onReset` callbacks, in registration order. Written only while registering. */
  private readonly resets = new Map<string, () => void>();
  /** What `reset` goes back to, or why it cannot. Set once, at the end of the constructor. */
  private resetMark: string | { readonly store: StoreMark; readonly rt: NonNullable<RuntimeMark> } = 'a replayed kernel';

  reset(options: ResetOptions = {}): void {
    this.live('reset');
    checkKeys('reset', options, RESET_KEYS);
    if (this.running) throw new TracelabError('RUN_REENTRANT', 'reset: called while the kernel is running; reset it after the run returns');
    if (typeof this.resetMark === 'string')
      throw new TracelabError('RESET_UNSUPPORTED', `reset: this kernel cannot be reset: ${this.resetMark}; create a new one`);
    const strategy = options.strategy ?? this.options.strategy;
    if (typeof strategy !== 'object' || strategy === null || typeof strategy.create !== 'function')
      throw new TracelabError('INVALID_OPTION', 'reset: strategy must be a strategy object (randomStrategy(), replaySchedule(...))');
    for (const [plugin, restore] of this.resets) {
      try {
        restore();
      } catch (err) {
        throw new TracelabError('RESET_UNSUPPORTED', `reset: plugin ${plugin}'s onReset threw: ${describeError(err)}`, { plugin }, { cause: err });
      }
    }
    this.store.resetTo(this.resetMark.store);
    this.rt.reset(this.resetMark.rt, strategy.create(this.options.seed));
    this.stepCount = 0;
    this.subscriberErrors.length = 0;
  }

  /** `ctx.on` (`draft`) and `ctx.onPlain`: declares a `<plugin>/…` type or checks another is declared, then adds the reducer. */
  private addReducer(name: string, type: string, reducer: unknown, draft: boolean): void {
    const store = this.store;
    if (typeof reducer !== 'function')
      throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: the reducer for ${type} must be a function, got ${typeof reducer}`, {
        plugin: name,
        event: type,
      });
    if (type.startsWith(`${name}/`)) store.declareEvent(type, name);
    else if (!store.isDeclared(type))
      throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: reducer for ${type}, which no one declares`, { plugin: name, event: type });
    store.addReducer(type, name, reducer as SliceReducer, draft);
  }

  private contextFor(p: AnyPlugin, apis: Record<string, unknown>): PluginContext<unknown> {
    const { store, rt } = this;
    const name = p.name;
    const own = (type: string): void => {
      if (!type.startsWith(`${name}/`))
        throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: event type ${type} must be namespaced as ${name}/<event>`, { plugin: name, event: type });
    };
    return {
      name,
      cpus: this.options.cpus,
      // Plugin code reads the working state, read-only (no snapshot per read); the step it read
      // in ends with one, so what it keeps across a scheduling point is never written under it.
      state: () => rt.handOutState(),
      slice: () => (rt.handOutState().plugins as Record<string, unknown>)[name],
      initSlice: (initial) => store.setInitialSlice(name, initial),
      declareEvents: (types) => {
        for (const t of types) {
          own(t);
          store.declareEvent(t, name);
        }
      },
      footprint: (type, of) => {
        rt.assertRegistering(name, `footprint(${type})`);
        own(type);
        if (store.ownerOf(type) !== name)
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: footprint for ${type}, which it has not declared (declareEvents or on first)`, {
            plugin: name,
            event: type,
          });
        if (typeof of !== 'function')
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: the footprint of ${type} must be a function of the event, got ${typeof of}`, {
            plugin: name,
            event: type,
          });
        store.setFootprint(type, of);
      },
      touched: (f) => touchedNow(name, touchedKeys(f, 'reads', name), touchedKeys(f, 'writes', name), store, rt),
      touching: (f, path) => touchingPath(name, touchedKeys(f, 'reads', name), touchedKeys(f, 'writes', name), store, rt, path),
      on: (type, reducer) => this.addReducer(name, type, reducer, true),
      onPlain: (type, reducer) => this.addReducer(name, type, reducer, false),
      tap: (hook, handler, options) => {
        if (typeof handler !== 'function')
          throw new TracelabError(
            'PLUGIN_INVALID',
            `plugin ${name}: the ${String(hook)} handler must be a function (plain or generator), got ${typeof handler}`,
            { plugin: name, hook },
          );
        if (!HOOKS.has(hook))
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: no hook named ${String(hook)} (hooks: ${[...HOOKS].join(', ')})`, { plugin: name, hook });
        const syscallHook = hook === 'syscallEntry' || hook === 'syscallExit';
        if (!syscallHook && options?.flag !== undefined) {
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: the flag option selects tasks for the syscall hooks only, not ${hook}`, {
            plugin: name,
            hook,
          });
        }
        if (syscallHook && options?.flag === undefined) {
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: a ${hook} tap needs the thread flag that selects its tasks ({ flag: 'TIF_...' })`, {
            plugin: name,
            hook,
          });
        }
        rt.tap(name, hook, handler, options);
      },
      invariant: (n, check, opts) => {
        const reads = declaredReads(opts, `plugin ${name}: invariant ${n}`, 'PLUGIN_INVALID');
        const entry = { name: n, plugin: name, check, ...(reads !== undefined ? { reads } : {}) };
        rt.invariants.push(entry);
        rt.journal(() => removeItem(rt.invariants, entry));
      },
      liveness: (n, monitor) => {
        const entry = { name: n, plugin: name, monitor, steps: 0, since: 0, ran: new Set<number>() };
        rt.monitors.push(entry);
        rt.journal(() => removeItem(rt.monitors, entry));
      },
      defineSyscall: (n, body) => {
        rt.assertRegistering(name, `defineSyscall(${n})`);
        if (typeof body !== 'function')
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: the body of syscall ${n} must be a function (plain or generator), got ${typeof body}`, {
            plugin: name,
            syscall: n,
          });
        rt.syscalls.set(
          n,
          (args) =>
            attributed(
              name,
              `syscall ${n}`,
              () => body(args),
              () => rt.isDisabled(name),
            ) as KPath<number>,
        );
        if (this.mode === 'live' && store.live.functions[`sys_${n}`] === undefined) rt.emit({ type: 'kernel/function-defined', name: `sys_${n}` });
      },
      defineFunction: (n) => {
        if (this.mode === 'live' && store.live.functions[n] === undefined) rt.emit({ type: 'kernel/function-defined', name: n });
      },
      patchFunction: (n, handler) => {
        if (handler !== null && typeof handler !== 'function')
          throw new TracelabError(
            'PLUGIN_INVALID',
            `plugin ${name}: the mcount handler for ${n} must be a function (plain or generator) or null, got ${typeof handler}`,
            { plugin: name, function: n },
          );
        const before = rt.patches.get(n);
        if (handler === null) rt.patches.delete(n);
        else rt.patches.set(n, { plugin: name, handler });
        rt.journal(() => (before === undefined ? rt.patches.delete(n) : rt.patches.set(n, before)));
      },
      onRollback: (undo) => {
        if (typeof undo !== 'function')
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: onRollback takes a function that undoes the change, got ${typeof undo}`, { plugin: name });
        rt.journal(undo);
      },
      paths: this.paths,
      api: (n) => {
        if (!Object.hasOwn(apis, n)) {
          renamedApi(apis, n, `plugin ${name} asked for the API of ${n}`);
          throw new TracelabError(
            'PLUGIN_MISSING_DEPENDENCY',
            `plugin ${name} asked for the API of ${n}, which is not registered before it (declare it in dependsOn)`,
            { plugin: name, dependency: n },
          );
        }
        return apis[n] as never;
      },
      onReset: (restore) => {
        rt.assertRegistering(name, 'onReset');
        if (restore !== undefined && typeof restore !== 'function')
          throw new TracelabError('PLUGIN_INVALID', `plugin ${name}: onReset takes a function (or nothing), got ${typeof restore}`, { plugin: name });
        this.resets.set(name, restore ?? nothingToRestore);
      },
      optionalApi: (n) => {
        if (!Object.hasOwn(apis, n)) {
          renamedApi(apis, n, `plugin ${name} asked for the API of ${n}`);
          const declared = (deps: Readonly<Record<string, string>> | undefined): boolean => deps !== undefined && Object.hasOwn(deps, n);
          if (!declared(p.optionalDependsOn) && !declared(p.dependsOn)) {
            throw new TracelabError(
              'PLUGIN_MISSING_DEPENDENCY',
              `plugin ${name} asked for the API of ${n} without declaring it in dependsOn or optionalDependsOn`,
              { plugin: name, dependency: n },
            );
          }
          return undefined;
        }
        return apis[n] as never;
      },
    };
  }

  /** Plugin API functions that return kernel paths get their failures attributed to the plugin. */
  private wrapApi(plugin: string, api: unknown): unknown {
    if (typeof api !== 'object' || api === null) return api;
    const wrapped: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(api)) {
      if (typeof value !== 'function') {
        wrapped[key] = value;
        continue;
      }
      wrapped[key] = (...args: unknown[]) => {
        const out: unknown = (value as (...a: unknown[]) => unknown).apply(api, args);
        return isGenerator(out) ? attributed(plugin, `${plugin}.${key}`, out, () => this.rt.isDisabled(plugin)) : out;
      };
    }
    return Object.freeze(wrapped);
  }

  // ---- reads -------------------------------------------------------------------------------

  get state(): KernelState {
    return this.store.state;
  }
  get log(): readonly KernelEvent[] {
    return this.store.log;
  }
  get schedule(): string {
    return this.rt.schedule;
  }
  get violations(): readonly Violation[] {
    return this.rt.violations;
  }
  get steps(): number {
    return this.stepCount;
  }
  logHash(): string {
    return this.store.logHash();
  }
  stateAt(seq: number): KernelState {
    return this.store.stateAt(seq);
  }
  select<R>(selector: (state: KernelState) => R): Observable<R> {
    let lastIn: KernelState | undefined;
    let lastOut: R;
    return this.state$.pipe(
      map((s) => {
        if (s !== lastIn) {
          lastIn = s;
          lastOut = selector(s);
        }
        return lastOut;
      }),
      distinctUntilChanged(),
    );
  }

  // ---- driving -----------------------------------------------------------------------------

  private live(what: string): void {
    if (this.mode === 'replay')
      throw new TracelabError(
        'REPLAY_READ_ONLY',
        `${what}: a kernel rebuilt by replay() is read-only; re-run with createKernel({ strategy: replaySchedule(...) })`,
      );
  }

  spawn(program: Program, options: SpawnOptions = {}): number {
    this.live('spawn');
    if (typeof program !== 'function')
      throw new TracelabError(
        'INVALID_OPTION',
        `spawn: program must be a generator function, function* (u) { ... }; got ${program === null ? 'null' : typeof program}`,
      );
    // A generator function's body runs only when the task does. Any other function is called
    // here, so that one which gives no generator (an arrow or async function written by
    // mistake) is refused now, not when the task first runs ("gen.next is not a function").
    let start: Program | ReturnType<Program> = program;
    if (!isGeneratorFunction(program)) {
      try {
        start = startProgram(program);
      } catch (err) {
        throw new TracelabError('INVALID_OPTION', `spawn: ${describeError(err)}`, {}, { cause: err });
      }
    }
    const cpu = this.rt.bindTask('spawn', options.cpu);
    const pid = this.store.live.kernel.nextPid;
    const comm = options.comm ?? (program.name || 'task');
    this.rt.emit(
      cpu < 0
        ? { type: 'task/spawned', pid, comm, kthread: false, listed: false }
        : { type: 'task/spawned', pid, comm, kthread: false, listed: false, boundCpu: cpu },
    );
    this.rt.addTask(this.rt.newRt(pid, comm, this.corePaths.hostUserMain(pid, start), cpu));
    this.store.flush();
    this.store.drain();
    return pid;
  }

  spawnKthread(path: KPath<unknown> | (() => unknown), options: SpawnOptions = {}): number {
    this.live('spawnKthread');
    const cpu = this.rt.bindTask('spawnKthread', options.cpu);
    return this.startKthread(threadBody('spawnKthread', path), options.comm ?? 'kthread', cpu).pid;
  }

  private startKthread(path: KPath<unknown>, comm: string, cpu = -1): TaskRt {
    const rt = this.rt.createKthread(path, comm, cpu);
    this.store.flush();
    this.store.drain();
    return rt;
  }

  call<T>(path: KPath<T> | (() => KPath<T> | T), options: SpawnOptions & { readonly maxSteps?: number } = {}): T {
    this.live('call');
    if (this.running)
      throw new TracelabError(
        'RUN_REENTRANT',
        'call: called while the kernel is already running (from a subscriber or other code a step runs); call it after the outer run returns',
      );
    const t = this.startKthread(threadBody('call', path), options.comm ?? 'kcall', this.rt.bindTask('call', options.cpu));
    this.run({ ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}), until: () => t.outcome !== undefined });
    const v = this.rt.violations[0];
    if (v !== undefined) {
      throw Object.assign(new TracelabError('INVARIANT_VIOLATED', `invariant ${v.name} violated: ${v.message} (replay: ${v.schedule})`, { violation: v }), {
        violation: v,
      });
    }
    if (t.outcome === undefined) {
      throw new TracelabError(
        'CALL_DID_NOT_RETURN',
        `kernel.call: ${t.comm} (pid ${t.pid}) had not returned when the run stopped: ${this.rt.describeStuck()}`,
        { pid: t.pid },
      );
    }
    if (!t.outcome.ok) throw new TracelabError('CALL_OOPS', `kernel.call: ${t.outcome.error}`, { pid: t.pid });
    return t.outcome.value as T;
  }

  recordFootprints(sink: FootprintSink | null, fromStep = 0): void {
    if (sink !== null && typeof sink !== 'function')
      throw new TracelabError('INVALID_OPTION', `recordFootprints: the sink must be a function or null, got ${typeof sink}`);
    if (!Number.isSafeInteger(fromStep) || fromStep < 0)
      throw new TracelabError('INVALID_OPTION', `recordFootprints: fromStep must be a non-negative integer, got ${String(fromStep)}`);
    this.rt.recordFootprints(sink, fromStep);
  }

  run(options: RunOptions = {}): RunResult {
    this.live('run');
    checkKeys('run', options, RUN_KEYS);
    const maxSteps = options.maxSteps ?? 10_000_000;
    if (!Number.isInteger(maxSteps) || maxSteps < 0)
      throw new TracelabError('INVALID_OPTION', `run: maxSteps must be a non-negative integer, got ${String(maxSteps)}`);
    if (options.until !== undefined && typeof options.until !== 'function')
      throw new TracelabError('INVALID_OPTION', `run: until must be a function (state) => boolean, got ${typeof options.until}`);
    // A subscriber (or any code run from a step) calling run would nest a scheduler loop inside
    // a step: the outer run's count and the step's own state would be wrong.
    if (this.running)
      throw new TracelabError(
        'RUN_REENTRANT',
        'run: called while the kernel is already running (from a subscriber or other code a step runs); call it after the outer run returns',
      );
    this.running = true;
    const dog = this.watchdog;
    this.beatAtRun = this.heartbeat[0]!;
    dog?.enter(this.watched!);
    try {
      return this.runLoop(maxSteps, options.until);
    } finally {
      this.running = false;
      dog?.leave(this.watched!);
    }
  }

  private runLoop(maxSteps: number, until: RunOptions['until']): RunResult {
    const options = { until };
    // A predicate that takes the state gets a snapshot (it may keep it); one that takes no
    // argument (kernel.call's) costs none.
    const wantsState = until !== undefined && until.length > 0;
    let steps = 0;
    let waiting: WaitingTask[] = [];
    while (!this.rt.halted && steps < maxSteps) {
      if (options.until !== undefined && options.until(wantsState ? this.store.state : this.store.live) === true) break;
      // With its last task gone the kernel still runs what is under way: an idle pass, a hook
      // frame, an IPI, an interrupt that was due (decision 22). It waits for nothing later.
      if (this.rt.tasks.size === 0 && !this.rt.drain()) break;
      if (!this.rt.step()) {
        const deadlock = this.rt.deadlock();
        if (deadlock === null) waiting = this.rt.waiting();
        else this.rt.violate('kernel/stuck', `${deadlock}: ${this.rt.describeStuck()}`);
        break;
      }
      steps++;
      this.heartbeat[0]!++;
    }
    this.stepCount += steps;
    this.store.drain();
    // Done: no task left, not halted, and nothing under way on any CPU (a drain that `maxSteps` or
    // `until` stopped is not done: the next run goes on with it).
    const done = this.rt.tasks.size === 0 && !this.rt.halted && !this.rt.drain();
    return { steps, done, violations: this.rt.violations, waiting };
  }

  invariant(name: string, check: InvariantCheck, options?: InvariantOptions): void {
    const reads = declaredReads(options, `kernel.invariant ${name}`, 'INVALID_OPTION');
    this.rt.invariants.push({ name, plugin: null, check, ...(reads !== undefined ? { reads } : {}) });
    this.rt.checkInvariants();
  }

  liveness(name: string, monitor: LivenessMonitor): void {
    this.rt.monitors.push({ name, plugin: null, monitor, steps: 0, since: 0, ran: new Set() });
  }
}

const KERNEL_KEYS = [
  'cpus',
  'seed',
  'strategy',
  'plugins',
  'faultLatency',
  'faultInjection',
  'logFile',
  'watchdog',
  'interrupts',
  'reclaim',
  'pollLoops',
] as const;
const RUN_KEYS = ['maxSteps', 'until'] as const;
const RESET_KEYS = ['strategy'] as const;

/** `ctx.onReset()` with no function: the plugin keeps nothing outside the state. */
function nothingToRestore(): void {
  // Nothing: everything the plugin keeps is in its slice.
}

/** Options objects are plain objects with known keys: a typo (`cpu: 4`) is refused, naming it. */
function checkKeys(where: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `${where}: options must be an object { ${known.join(', ')} } (or left out), got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw new TracelabError('INVALID_OPTION', `${where}: unknown option ${JSON.stringify(key)} (options: ${known.join(', ')})`, { option: key });
  }
}

function normalize(options: KernelOptions): KernelImpl['options'] {
  checkKeys('createKernel', options, KERNEL_KEYS);
  if (options.faultInjection !== undefined && typeof options.faultInjection !== 'boolean')
    throw new TracelabError('INVALID_OPTION', `createKernel: faultInjection must be a boolean, got ${typeof options.faultInjection}`);
  if (options.reclaim !== undefined && typeof options.reclaim !== 'boolean')
    throw new TracelabError('INVALID_OPTION', `createKernel: reclaim must be a boolean, got ${typeof options.reclaim}`);
  if (options.pollLoops !== undefined && options.pollLoops !== 'every-tick' && options.pollLoops !== 'on-change')
    throw new TracelabError('INVALID_OPTION', `createKernel: pollLoops must be 'every-tick' or 'on-change', got ${JSON.stringify(options.pollLoops)}`);
  const cpus = options.cpus ?? 2;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64)
    throw new TracelabError('INVALID_OPTION', `createKernel: cpus must be an integer from 1 to 64, got ${cpus}`);
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new TracelabError('INVALID_OPTION', `createKernel: seed must be an integer from 0 to 2^32-1, got ${seed}`);
  const faultLatency = options.faultLatency ?? 3;
  if (!Number.isInteger(faultLatency) || faultLatency < 1)
    throw new TracelabError('INVALID_OPTION', `createKernel: faultLatency must be a positive integer, got ${faultLatency}`);
  if (options.logFile !== undefined && (typeof options.logFile !== 'string' || options.logFile === ''))
    throw new TracelabError('INVALID_OPTION', `createKernel: logFile must be a file path, got ${JSON.stringify(options.logFile)}`);
  const watchdog = checkWatchdogOptions(options.watchdog);
  return {
    cpus,
    seed,
    faultLatency,
    faultInjection: options.faultInjection ?? false,
    strategy: options.strategy ?? randomStrategy(),
    logFile: options.logFile ?? null,
    watchdog,
    interrupts: resolveInterrupts(options.interrupts),
    reclaim: options.reclaim ?? false,
    pollLoops: options.pollLoops ?? 'every-tick',
  };
}

/**
 * `PluginContext.touched` for plugin `name`, its keys checked: recorded as `@<name>:<key>` reads
 * and writes of the step under way, if one is and a recorder is on (host-side code and the
 * checks run with the CPU at -1: they touch no step).
 */
function touchedNow(name: string, reads: readonly string[], writes: readonly string[], store: EventStore, rt: Runtime): void {
  const rec = store.recorder;
  if (rec === null || rt.cpu < 0) return;
  for (const k of reads) rec.read(rec.named(`@${name}`, k));
  for (const k of writes) rec.write(rec.named(`@${name}`, k));
}

/**
 * `PluginContext.touching`: `path` (unstarted), with the keys (checked by the caller) named
 * before each of its resumptions. An iterator that forwards `next`, `throw` and `return` to it,
 * as `yield*` would (so its `finally` blocks run when a caller returns it), with no generator
 * frame of its own.
 */
function touchingPath<T>(name: string, reads: readonly string[], writes: readonly string[], store: EventStore, rt: Runtime, path: KPath<T>): KPath<T> {
  const it = {
    next(input?: unknown): IteratorResult<Command, T> {
      touchedNow(name, reads, writes, store, rt);
      return path.next(input);
    },
    throw(err: unknown): IteratorResult<Command, T> {
      touchedNow(name, reads, writes, store, rt);
      return path.throw(err);
    },
    return(value: T): IteratorResult<Command, T> {
      touchedNow(name, reads, writes, store, rt);
      return path.return(value);
    },
    [Symbol.iterator]() {
      return it;
    },
  };
  return it as unknown as KPath<T>;
}

/** Creates a kernel with a stack of plugins. See ARCHITECTURE.md 2.3. */
export function createKernel(options: KernelOptions = {}): Kernel {
  const opts = normalize(options);
  return new KernelImpl(opts, resolvePlugins(options.plugins), 'live');
}

export interface ReplayOptions {
  readonly plugins?: PluginStack;
}

const HEADER_FIELDS = ['seq', 'time', 'cpu'] as const;

/**
 * Rebuilds a kernel from a log (NDJSON text, or an array of events): same state, same
 * `logHash()`. Give it the plugin stack that wrote the log. A corrupt, foreign or mismatched
 * log throws a `TracelabError` naming the line; a last line cut short (a run that died while
 * writing) is left out and reported in `report.truncated`.
 */
export function replay(log: string | readonly unknown[], options: ReplayOptions = {}): ReplayedKernel {
  const expected = resolvePlugins(options.plugins);
  const lines = typeof log === 'string' ? splitLines(log) : { events: log.map((value, i) => ({ line: i + 1, value })), truncated: null };
  if (lines.events.length === 0) throw new TracelabError('LOG_EMPTY', 'replay: the log holds no events');
  const first = lines.events[0]!.value as Partial<KernelEvent<'kernel/created'>>;
  if (typeof first !== 'object' || first === null || first.type !== 'kernel/created') {
    throw new TracelabError(
      'LOG_FOREIGN',
      `replay: line 1 is not a tracelab log header (expected a kernel/created event, got ${JSON.stringify(first).slice(0, 80)})`,
      { line: 1 },
    );
  }
  if (first.logVersion !== LOG_VERSION) {
    const version = first.logVersion === undefined ? 1 : first.logVersion;
    throw new TracelabError(
      'LOG_VERSION',
      `replay: this log is format version ${JSON.stringify(version)}${first.logVersion === undefined ? ' (its kernel/created header has no logVersion)' : ''}, written by core ${String(first.coreVersion)}; this core (${CORE_VERSION}) reads format ${LOG_VERSION} only. Re-run the workload (same seed, or its schedule string with replaySchedule) to record it again`,
      { line: 1, logVersion: version, expected: LOG_VERSION },
    );
  }
  const k = new KernelImpl(
    {
      cpus: Number(first.cpus),
      seed: Number(first.seed),
      faultLatency: 3,
      faultInjection: false,
      strategy: { name: 'replay-log', create: () => ({ choose: () => 0 }) },
      logFile: null,
      watchdog: false,
      interrupts: null,
      reclaim: false,
      pollLoops: 'every-tick',
    },
    expected,
    'replay',
  );
  k.store.stopJournal();
  let registered = 0;
  for (const [i, { line, value }] of lines.events.entries()) {
    const e = checkEvent(value, line, i, k.store);
    if (e.type === 'kernel/plugin-registered') {
      const want = expected[registered];
      const sameOptions = canonicalJson(want?.options ?? null) === canonicalJson(e.options ?? null);
      if (want === undefined || want.name !== e.name || want.version !== e.version || !sameOptions) {
        throw new TracelabError(
          'LOG_PLUGIN_MISMATCH',
          `replay: line ${line} registers plugin ${e.name}@${e.version}, but the stack given to replay has ${want === undefined ? 'no more plugins' : `${want.name}@${want.version}${sameOptions ? '' : ` with other options (${canonicalJson(want.options ?? null)})`} there`}`,
          { line, plugin: e.name },
        );
      }
      registered++;
    }
    try {
      k.store.apply(Object.freeze(e));
    } catch (err) {
      throw new TracelabError(
        'LOG_REDUCER_FAILED',
        `replay: line ${line} (${e.type}) cannot be applied: ${describeError(err)}`,
        { line, event: e.type },
        { cause: err },
      );
    }
  }
  if (registered !== expected.length) {
    const missing = expected
      .slice(registered)
      .map((p) => p.name)
      .join(', ');
    throw new TracelabError('LOG_PLUGIN_MISMATCH', `replay: the log never registers ${missing}, which the stack given to replay has`, { plugins: missing });
  }
  k.report = { events: lines.events.length, truncated: lines.truncated };
  return k;
}

function checkEvent(value: unknown, line: number, index: number, store: EventStore): KernelEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TracelabError('LOG_INVALID_EVENT', `replay: line ${line} is not an event object`, { line });
  }
  const e = value as Record<string, unknown>;
  if (typeof e['type'] !== 'string') throw new TracelabError('LOG_INVALID_EVENT', `replay: line ${line} has no string "type"`, { line });
  for (const f of HEADER_FIELDS) {
    if (!Number.isInteger(e[f])) throw new TracelabError('LOG_INVALID_EVENT', `replay: line ${line} (${e['type']}) has no integer "${f}"`, { line, field: f });
  }
  if (e['seq'] !== index) {
    throw new TracelabError('LOG_SEQUENCE', `replay: line ${line} has seq ${String(e['seq'])}, expected ${index} (events missing, duplicated or reordered)`, {
      line,
      seq: e['seq'],
      expected: index,
    });
  }
  if (!store.isDeclared(e['type'])) {
    throw new TracelabError(
      'LOG_INVALID_EVENT',
      `replay: line ${line} has event type ${e['type']}, which neither the core nor the given plugins declare (a plugin missing from the stack?)`,
      { line, event: e['type'] },
    );
  }
  return e as unknown as KernelEvent;
}

function splitLines(text: string): { events: Array<{ line: number; value: unknown }>; truncated: ReplayReport['truncated'] } {
  const raw = text.split('\n');
  const endsClean = text.endsWith('\n');
  if (endsClean) raw.pop();
  const events: Array<{ line: number; value: unknown }> = [];
  for (let i = 0; i < raw.length; i++) {
    const line = i + 1;
    const body = raw[i]!.trim();
    const isLast = i === raw.length - 1;
    if (body.length === 0) {
      if (isLast) break;
      throw new TracelabError('LOG_CORRUPT', `replay: line ${line} is empty`, { line });
    }
    try {
      events.push({ line, value: JSON.parse(body) as unknown });
    } catch (err) {
      if (isLast && !endsClean) {
        return {
          events,
          truncated: { line, message: `line ${line} is cut short (${body.length} bytes, no newline): replayed the ${events.length} complete events before it` },
        };
      }
      throw new TracelabError('LOG_CORRUPT', `replay: line ${line} is not valid JSON: ${describeError(err)}`, { line });
    }
  }
  return { events, truncated: null };
}

/** Removes `item` (by identity) from `list`, if it is there. */
function removeItem<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/**
 * The API key plugins had before one name per plugin (`rcu-tasks` was `rcuTasks`): asking for it
 * gets an error that says the new key, not "not registered".
 */
function camelKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function renamedApi(apis: Record<string, unknown>, asked: string, who: string): void {
  for (const name of Object.keys(apis)) {
    if (name !== asked && camelKey(name) === asked) {
      throw new TracelabError('PLUGIN_API_RENAMED', `${who}: a plugin's API is keyed by its name since core 0.2: use ['${name}'], not ${asked}`, {
        plugin: name,
        asked,
      });
    }
  }
}

/** `kernel.api['rcu-tasks']` on a kernel with `rcu-tasks`: a coded error naming `kernel.api['rcu-tasks']`. */
function renamedApiGuard(apis: Record<string, unknown>, name: string): void {
  const old = camelKey(name);
  if (old === name || Object.hasOwn(apis, old)) return;
  Object.defineProperty(apis, old, {
    enumerable: false,
    configurable: true,
    get: () => renamedApi(apis, old, `kernel.api.${old}`),
  });
}
