import { TracelabError } from '../errors.js';

/**
 * The host watchdog (`KernelOptions.watchdog`): ends the process, with a coded report, when
 * kernel code runs JavaScript that never gives control back (a hook whose body is a synchronous
 * loop with no `yield`). The kernel's own soft-lockup check counts commands between scheduling
 * points, and such a loop issues none: nothing on the kernel's thread can interrupt it.
 *
 * How: one thread per process (started by the first watched run) reads a heartbeat the kernel
 * bumps once per step in a SharedArrayBuffer. When a run has been in progress for `timeoutMs`
 * with no step finished, the thread connects an inspector session to the main thread and
 * evaluates this module's fire function there: V8 runs it at the loop's next interrupt check, on
 * top of the looping frames. It writes out what was recorded (the streamed log, the host's
 * `onFire`), prints one coded line naming the plugin, hook, task and the looping JavaScript,
 * and exits with `WATCHDOG_EXIT_CODE`. If the main thread does not answer (stuck in native
 * code), the thread prints the line itself and kills the process.
 *
 * Host-side only: the simulation never sees it, and a run that finishes its steps is the same
 * with or without it. Only kernels on the process's main thread are watched (an inspector
 * session reaches the main thread only), and none when a debugger is attached (a breakpoint
 * would look like a hang).
 */

/** The exit status of a process the watchdog ended (EX_SOFTWARE in sysexits.h). */
export const WATCHDOG_EXIT_CODE = 70;
/** Default seconds a step may run before the watchdog fires. */
export const WATCHDOG_DEFAULT_MS = 10_000;

/** What the watchdog reports; `onFire` receives it before the process ends. */
export interface WatchdogReport {
  readonly code: 'KERNEL_WATCHDOG';
  /** The one line printed, without the `tracelab: KERNEL_WATCHDOG: ` prefix. */
  readonly message: string;
  /** Milliseconds the step had run. */
  readonly ms: number;
  /** Steps the kernel had finished (all its runs); the hung one is the next. */
  readonly step: number;
  readonly cpu: number | null;
  readonly pid: number | null;
  readonly comm: string | null;
  /** The plugin whose handler or path the task was inside, innermost, or null for core/task code. */
  readonly plugin: string | null;
  /** Where in that plugin (`hook contextSwitch`, `mcount sys_open`...), or null. */
  readonly where: string | null;
  /** The looping JavaScript's innermost frames (`at fn (file:line:col)`). */
  readonly javascript: readonly string[];
  /** Events written to `logFile` (flushed before the process ends), or null without one. */
  readonly logFile: string | null;
}

export interface WatchdogOptions {
  /** Milliseconds one step may run. Default 10,000; at least 100. */
  readonly timeoutMs?: number;
  /**
   * Called on the main thread before the process ends, with the report: write out what the host
   * kept (the CLI writes the log so far). It must not run the kernel. Errors are ignored.
   */
  readonly onFire?: (report: WatchdogReport) => void;
}

/** What the kernel gives the watchdog about itself, read only when it fires. */
export interface Watched {
  readonly timeoutMs: number;
  readonly onFire: ((report: WatchdogReport) => void) | undefined;
  /** Where the kernel is: the step count, the running task, the plugin it is inside. */
  describe(): Pick<WatchdogReport, 'step' | 'cpu' | 'pid' | 'comm' | 'plugin' | 'where'>;
  /** Writes out what is recorded (the streamed log); returns its file or null. */
  flush(): string | null;
}

const FIRE = Symbol.for('tracelab.watchdog.fire');
/** Cells of the shared heartbeat: steps finished, runs in progress, the timeout in ms. */
const BEAT = 0;
const DEPTH = 1;
const TIMEOUT = 2;

/**
 * The thread's code (CommonJS, evaluated): polls the heartbeat every 50 ms; fires once.
 * Its wall clock is the watchdog's purpose, outside the simulation.
 */
const THREAD = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const cells = new Int32Array(workerData.cells);
let last = -1;
let since = Date.now();
const timer = setInterval(() => {
  const depth = Atomics.load(cells, ${DEPTH});
  const beat = Atomics.load(cells, ${BEAT});
  if (depth === 0 || beat !== last) { last = beat; since = Date.now(); return; }
  const ms = Date.now() - since;
  if (ms < Atomics.load(cells, ${TIMEOUT})) return;
  clearInterval(timer);
  try {
    const { Session } = require('node:inspector');
    const s = new Session();
    s.connectToMainThread();
    s.post('Runtime.evaluate', { expression: 'globalThis[Symbol.for("tracelab.watchdog.fire")](' + ms + ')' }, () => {});
  } catch (err) {
    // No inspector in this build of Node: the fallback below ends the process.
  }
  setTimeout(() => {
    writeSync(2, 'tracelab: KERNEL_WATCHDOG: a kernel step ran ' + (ms / 1000).toFixed(1) + ' s without finishing and the main thread did not answer the watchdog; the process is killed (what was recorded in memory is lost)\\n');
    process.kill(process.pid, 'SIGKILL');
  }, 5000);
}, 50);
`;

/**
 * The process's watchdog: the heartbeat, the thread, and the kernels in a run (innermost last).
 * All of it written on the main thread only (the thread reads the cells).
 */
class Watchdog {
  readonly cells = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  private readonly runs: Watched[] = [];
  private started = false;

  enter(w: Watched): void {
    if (!this.started) this.start();
    this.runs.push(w);
    Atomics.store(this.cells, TIMEOUT, w.timeoutMs);
    Atomics.add(this.cells, DEPTH, 1);
  }

  leave(w: Watched): void {
    const i = this.runs.lastIndexOf(w);
    if (i >= 0) this.runs.splice(i, 1);
    Atomics.sub(this.cells, DEPTH, 1);
    const outer = this.runs[this.runs.length - 1];
    if (outer !== undefined) Atomics.store(this.cells, TIMEOUT, outer.timeoutMs);
  }

  private start(): void {
    this.started = true;
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    // No inherited flags: `--input-type=module` (a `node -e` host) would make THREAD a module.
    const thread = new Worker(THREAD, { eval: true, execArgv: [], workerData: { cells: this.cells.buffer } });
    // The thread never keeps the process alive; its own failure is a warning, not the host's error.
    thread.unref();
    thread.on('error', (err) => {
      process
        .getBuiltinModule('node:fs')
        .writeSync(2, `tracelab: warning: the kernel watchdog's thread failed (${err.message}); a step whose JavaScript never returns will not be reported\n`);
    });
    (globalThis as Record<symbol, unknown>)[FIRE] = (ms: number) => this.fire(ms);
  }

  /** On the main thread, inside the looping code: report, write out, exit. */
  private fire(ms: number): void {
    const fs = process.getBuiltinModule('node:fs');
    const w = this.runs[this.runs.length - 1];
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 12;
    const stack = new Error('watchdog').stack ?? '';
    Error.stackTraceLimit = limit;
    // This function's frame and the inspector's evaluation frame come first; then the loop.
    const javascript = stack
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l.startsWith('at ') && !l.includes('/internal/watchdog.') && !l.includes('(<anonymous>') && !l.includes('at <anonymous>'))
      .slice(0, 4);
    let where: ReturnType<Watched['describe']> = { step: 0, cpu: null, pid: null, comm: null, plugin: null, where: null };
    let logFile: string | null = null;
    try {
      if (w !== undefined) where = w.describe();
    } catch {
      // A report without the kernel's position is still a report.
    }
    try {
      if (w !== undefined) logFile = w.flush();
    } catch {
      logFile = null;
    }
    const inside =
      where.plugin !== null ? `plugin ${where.plugin}'s ${where.where ?? 'code'}` : where.where !== null ? `the core's ${where.where}` : 'kernel code';
    const task = where.pid !== null ? ` in pid ${where.pid} (${where.comm ?? '?'}) on cpu ${where.cpu ?? '?'}` : '';
    const message =
      `${inside}${task} ran ${(ms / 1000).toFixed(1)} s without reaching a scheduling point or returning (kernel step ${where.step + 1}): ` +
      `a synchronous JavaScript loop cannot be interrupted inside the process, so the watchdog ends it with exit status ${WATCHDOG_EXIT_CODE}` +
      (javascript.length > 0 ? `; the JavaScript running: ${javascript[0]}` : '') +
      (logFile !== null ? `; the log so far is in ${logFile}` : '');
    const report: WatchdogReport = { code: 'KERNEL_WATCHDOG', message, ms, ...where, javascript, logFile };
    try {
      w?.onFire?.(report);
    } catch {
      // The host's own failure must not keep the process alive.
    }
    // One line: the looping function is in it, the frames below it in the report (`onFire`).
    fs.writeSync(2, `tracelab: KERNEL_WATCHDOG: ${message}\n`);
    // Node prints "Waiting for the debugger to disconnect..." at exit while the watchdog's
    // inspector session is open; the report is out, so standard error goes to /dev/null.
    try {
      fs.closeSync(2);
      fs.openSync('/dev/null', 'w');
    } catch {
      // Then the line shows: harmless.
    }
    process.exit(WATCHDOG_EXIT_CODE);
  }
}

let instance: Watchdog | null = null;

/**
 * The process's watchdog, or null when it does not apply: turned off (`TRACELAB_WATCHDOG=0`), not Node, not the main thread, or a debugger attached.
 */
export function watchdogFor(): Watchdog | null {
  if (typeof process === 'undefined' || typeof process.getBuiltinModule !== 'function') return null;
  if (process.env.TRACELAB_WATCHDOG === '0') return null;
  const { isMainThread } = process.getBuiltinModule('node:worker_threads');
  if (!isMainThread) return null;
  const inspector = process.getBuiltinModule('node:inspector');
  if (inspector.url() !== undefined || process.execArgv.some((a) => a.startsWith('--inspect'))) return null;
  return (instance ??= new Watchdog());
}

/** Checks `KernelOptions.watchdog`; returns the timeout and hook, or false. */
export function checkWatchdogOptions(options: unknown): { timeoutMs: number; onFire: WatchdogOptions['onFire'] } | false {
  if (options === false) return false;
  if (options === undefined || options === true) return { timeoutMs: WATCHDOG_DEFAULT_MS, onFire: undefined };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TracelabError(
      'INVALID_OPTION',
      `createKernel: watchdog must be false or { timeoutMs, onFire }, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== 'timeoutMs' && key !== 'onFire')
      throw new TracelabError('INVALID_OPTION', `createKernel: watchdog: unknown option ${JSON.stringify(key)} (options: timeoutMs, onFire)`, {
        option: `watchdog.${key}`,
      });
  }
  const o = options as WatchdogOptions;
  const timeoutMs = o.timeoutMs ?? WATCHDOG_DEFAULT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 0x7fffffff)
    throw new TracelabError(
      'INVALID_OPTION',
      `createKernel: watchdog.timeoutMs must be an integer of milliseconds from 100 to 2^31-1, got ${String(timeoutMs)}`,
      { option: 'watchdog.timeoutMs' },
    );
  if (o.onFire !== undefined && typeof o.onFire !== 'function')
    throw new TracelabError('INVALID_OPTION', `createKernel: watchdog.onFire must be a function (report) => void, got ${typeof o.onFire}`, {
      option: 'watchdog.onFire',
    });
  return { timeoutMs, onFire: o.onFire };
}

export type { Watchdog };
