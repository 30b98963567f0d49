import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TracelabError, type PluginStack, type Program } from '@tracelab/core';

/** A plugin object, as a plugin package's factory returns it. */
type AnyPlugin = NonNullable<Exclude<PluginStack[number], false>>;
import type { FtraceOptions } from '@tracelab/ftrace';
import type { KtraceOptions } from '@tracelab/ktrace';
import type { MarkersOptions } from '@tracelab/markers';
import type { RcuTasksOptions } from '@tracelab/rcu-tasks';
import type { RingBufferOptions } from '@tracelab/ring-buffer';
import type { UtraceOptions } from '@tracelab/utrace';
import {
  checkBuffer,
  checkEvents,
  checkExtraPlugins,
  checkNumbers,
  checkOut,
  checkOutputKeys,
  checkOutputs,
  checkPlugins,
  checkTimeline,
  checkTopLevel,
  checkTracers,
  checkWorkload,
  ConfigReader,
} from './internal/config-checks.js';

declare module '@tracelab/core' {
  interface TracelabErrorCodes {
    /** A config file that cannot be read, or a key in it that is wrong (named, with what is accepted). */
    INVALID_CONFIG: true;
  }
}

/**
 * A `tracelab.config.{mjs,js,json}`: the stack, the workload, what is traced and when, and
 * where it goes. Every key is optional; `{}` is the default session, which is exactly what
 * `tracelab run` (and `npm start`) runs without a config. docs/cli.md, "Config files".
 */
export interface TracelabConfig {
  /** Simulated CPUs, 1 to 64. Default 2. */
  readonly cpus?: number;
  /** The PRNG seed. Default 1. */
  readonly seed?: number;
  /** Bound on the run's steps, session end included. Default 50,000,000. */
  readonly maxSteps?: number;
  /** The folder the run writes into, relative to the config file. Default ./tracelab-out (from where tracelab runs). */
  readonly out?: string;
  /**
   * The tracer stack: each built-in plugin by name with its options, or `false` to leave it
   * out. Default: all six with their defaults.
   */
  readonly plugins?: {
    readonly markers?: MarkersOptions | false;
    readonly ktrace?: KtraceOptions | false;
    readonly rcuTasks?: RcuTasksOptions | false;
    readonly ftrace?: FtraceOptions | false;
    readonly ringBuffer?: RingBufferOptions | false;
    readonly utrace?: UtraceOptions | false;
  };
  /** Plugins of your own, after the built-in ones (a `.mjs`/`.js` config only: JSON cannot hold code). */
  readonly extraPlugins?: readonly AnyPlugin[];
  /**
   * The ring-buffer events enabled when the session starts, as names or globs (`sched_*`,
   * `syscall_entry_*`, `*`), like `lttng enable-event -k`. Default `['*']`.
   */
  readonly events?: readonly string[];
  /** The ring buffer's geometry and mode (`lttng enable-channel`). Defaults: 4096 bytes, 4 sub-buffers, discard. */
  readonly buffer?: { readonly subbufSize?: number; readonly numSubbuf?: number; readonly mode?: 'discard' | 'overwrite' };
  /**
   * The workload: `'build'` (a shell forking compiler drivers; the default), or a module
   * exporting a program (a generator function of user ops), path relative to the config file.
   */
  readonly workload?: 'build' | { readonly module: string; readonly export?: string };
  /**
   * The tracing activities of the default session, each on by default when its plugins are in
   * the stack: the marker probes (scheduler and syscall statistics), the ktrace session
   * (lttng-sessiond setting the trace flag while the shell forks), the function tracer
   * (a DYNAMIC ftrace ops writing func_entry into the ring buffer), strace (a utrace engine on
   * the first compiler driver).
   */
  readonly tracers?: { readonly markerProbes?: boolean; readonly ktraceSession?: boolean; readonly functionTracer?: boolean; readonly strace?: boolean };
  /**
   * The session timeline: at a tick, enable or disable ring-buffer events (names or globs), as
   * `lttng enable-event` / `disable-event` would mid-session. Run by a kernel thread
   * (`lttng-timeline`) that sleeps until each tick.
   */
  readonly timeline?: ReadonlyArray<TimelineStep>;
  /** Which outputs besides the log and summary. Defaults: both on. */
  readonly outputs?: { readonly ctf?: boolean; readonly chrome?: boolean };
}

/**
 * One step of the session timeline, at tick `at`: ring-buffer events to enable or disable
 * (names or globs, `lttng enable-event` / `disable-event`), and an ftrace ops to register (a
 * DYNAMIC function tracer on the functions its filter globs select, writing func_entry into the
 * ring buffer when there is one) or to unregister, by label.
 */
export interface TimelineStep {
  readonly at: number;
  readonly enable?: readonly string[];
  readonly disable?: readonly string[];
  readonly ftrace?: { readonly register: readonly string[]; readonly label?: string } | { readonly unregister: string | true };
}

/** Types a config in a `.mjs`/`.js`/`.ts` editor: `export default defineConfig({ ... })`. */
export function defineConfig(config: TracelabConfig): TracelabConfig {
  return config;
}

/** The file names `tracelab run` looks for in its directory when no `--config` is given, in order. */
export const CONFIG_FILES = ['tracelab.config.mjs', 'tracelab.config.js', 'tracelab.config.json'] as const;

/** A checked config: what the run needs, resolved against the config file's directory. */
export interface ResolvedConfig {
  /** The config file (absolute), or null for the built-in default. */
  readonly file: string | null;
  readonly cpus: number | undefined;
  readonly seed: number | undefined;
  readonly maxSteps: number | undefined;
  readonly out: string | undefined;
  readonly plugins: Required<NonNullable<TracelabConfig['plugins']>>;
  readonly extraPlugins: readonly AnyPlugin[];
  readonly events: readonly string[] | undefined;
  readonly buffer: NonNullable<TracelabConfig['buffer']> | undefined;
  /** The workload's program, or null for the build. */
  readonly workload: Program | null;
  readonly workloadName: string;
  readonly tracers: Required<NonNullable<TracelabConfig['tracers']>>;
  readonly timeline: NonNullable<TracelabConfig['timeline']>;
  readonly outputs: Required<NonNullable<TracelabConfig['outputs']>>;
}

/**
 * Checks a config read from `file`: every wrong key gets `INVALID_CONFIG` naming the file, the
 * key path (`plugins.ringBuffer.subbufSize`, `timeline[2].at`) and what is accepted; unknown
 * keys name the nearest known one. Plugin options are checked by the plugins themselves when
 * the stack is built (their own coded errors, which `configScenario`'s caller reports with the
 * key path).
 */
export function checkConfig(
  raw: unknown,
  file: string,
): Omit<ResolvedConfig, 'workload' | 'workloadName'> & { readonly workloadRef: TracelabConfig['workload'] } {
  const r = new ConfigReader(file);
  // A pipeline of checks, one per key group (internal/config-checks.ts). They run in this
  // order and the first problem is the one reported: the order is part of the behaviour.
  const c = checkTopLevel(r, raw);
  const plugins = checkPlugins(r, c);
  const extraPlugins = checkExtraPlugins(r, c);
  const buffer = checkBuffer(r, c);
  const events = checkEvents(r, c, plugins, buffer);
  const workloadRef = checkWorkload(r, c);
  const tracers = checkTracers(r, c, plugins);
  const timeline = checkTimeline(r, c, plugins);
  const outputKeys = checkOutputKeys(r, c);
  const out = checkOut(r, c);
  const { cpus, seed, maxSteps } = checkNumbers(r, c);
  const outputs = checkOutputs(r, outputKeys);
  return { file, cpus, seed, maxSteps, out, plugins, extraPlugins, events, buffer, workloadRef, tracers, timeline, outputs };
}

/** Imports a module by path (a config, a workload), as a coded error when it cannot be loaded. */
async function importModule(file: string, what: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new TracelabError('INVALID_CONFIG', `${file}: the ${what} could not be loaded: ${(err as Error).message}`, { file });
  }
}

/**
 * Reads and checks a config file: `.json` as JSON, `.mjs`/`.js` by importing it (its default
 * export, or the module itself). A `.ts` config is refused with what to do instead: Node 20
 * cannot load TypeScript without a compiler, and tracelab adds none at run time.
 */
export async function loadConfig(path: string, cwd: string): Promise<ResolvedConfig> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new TracelabError('INVALID_CONFIG', `${file}: no such config file`, { file });
  const ext = extname(file);
  let raw: unknown;
  if (ext === '.json') {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new TracelabError('INVALID_CONFIG', `${file}: not valid JSON: ${(err as Error).message}`, { file });
    }
  } else if (ext === '.mjs' || ext === '.js') {
    const m = await importModule(file, 'config');
    raw = m['default'] ?? m;
  } else if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    throw new TracelabError(
      'INVALID_CONFIG',
      `${file}: a TypeScript config cannot be loaded on Node 20 without a compiler; compile it (tsc) and pass the .js, or write tracelab.config.mjs with \`import { defineConfig } from '@tracelab/cli'\` for the same types in an editor`,
      { file },
    );
  } else {
    throw new TracelabError('INVALID_CONFIG', `${file}: a config is a .mjs, .js or .json file, got ${ext === '' ? 'no extension' : ext}`, { file });
  }
  if (ext === '.json' && typeof raw === 'object' && raw !== null && 'extraPlugins' in raw) {
    throw new TracelabError('INVALID_CONFIG', `${file}: extraPlugins: a JSON config cannot hold plugins (they are code); use tracelab.config.mjs`, {
      file,
      key: 'extraPlugins',
    });
  }
  const checked = checkConfig(raw, file);
  const { workloadRef, ...rest } = checked;
  if (workloadRef === undefined || workloadRef === 'build') return { ...rest, workload: null, workloadName: 'build' };
  const modFile = resolve(file, '..', workloadRef.module);
  const m = await importModule(modFile, 'workload module');
  const name = workloadRef.export ?? 'default';
  const program = m[name];
  if (typeof program !== 'function') {
    throw new TracelabError(
      'INVALID_CONFIG',
      `${file}: workload: ${modFile} has no ${name === 'default' ? 'default export' : `export ${JSON.stringify(name)}`} that is a program (a generator function of user ops); its exports: ${Object.keys(m).join(', ') || 'none'}`,
      { file, key: 'workload' },
    );
  }
  return { ...rest, workload: program as Program, workloadName: `${workloadRef.module}#${name}` };
}

/** The config `tracelab run` uses without `--config`: the first of CONFIG_FILES in `cwd`, or null. */
export function findConfig(cwd: string): string | null {
  for (const f of CONFIG_FILES) if (existsSync(resolve(cwd, f))) return resolve(cwd, f);
  return null;
}
