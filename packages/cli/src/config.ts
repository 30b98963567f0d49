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

const TOP_KEYS = ['cpus', 'seed', 'maxSteps', 'out', 'plugins', 'extraPlugins', 'events', 'buffer', 'workload', 'tracers', 'timeline', 'outputs'] as const;
const PLUGIN_KEYS = ['markers', 'ktrace', 'rcuTasks', 'ftrace', 'ringBuffer', 'utrace'] as const;
const BUFFER_KEYS = ['subbufSize', 'numSubbuf', 'mode'] as const;
const TRACER_KEYS = ['markerProbes', 'ktraceSession', 'functionTracer', 'strace'] as const;
const OUTPUT_KEYS = ['ctf', 'chrome'] as const;
const STEP_KEYS = ['at', 'enable', 'disable', 'ftrace'] as const;
const WORKLOAD_KEYS = ['module', 'export'] as const;

/** Edit distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
  }
  return d[a.length]![b.length]!;
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
  const bad = (path: string, what: string): never => {
    throw new TracelabError('INVALID_CONFIG', `${file}: ${path}: ${what}`, { file, key: path });
  };
  const object = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      bad(path, `must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    return v as Record<string, unknown>;
  };
  const keys = (o: Record<string, unknown>, known: readonly string[], path: string): void => {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      const near = [...known].sort((a, b) => distance(k, a) - distance(k, b))[0];
      const hint = near !== undefined && distance(k, near) <= Math.max(2, Math.floor(near.length / 3)) ? `; did you mean ${JSON.stringify(near)}?` : '';
      bad(path === '' ? k : `${path}.${k}`, `unknown key${hint} (accepted: ${known.join(', ')})`);
    }
  };
  const int = (v: unknown, path: string, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (v: unknown, path: string, dflt: boolean): boolean => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') bad(path, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const globs = (v: unknown, path: string): readonly string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((g) => typeof g !== 'string' || g === ''))
      bad(path, `must be an array of event names or globs (\`sched_*\`, \`*\`), got ${JSON.stringify(v)}`);
    return v as string[];
  };
  const dir = resolve(file, '..');
  const c = object(raw, '(the config)');
  keys(c, TOP_KEYS, '');
  const p = c['plugins'] === undefined ? {} : object(c['plugins'], 'plugins');
  keys(p, PLUGIN_KEYS, 'plugins');
  const plugins = Object.fromEntries(
    PLUGIN_KEYS.map((k) => {
      const v = p[k];
      if (v === undefined) return [k, {}];
      if (v === false) return [k, false];
      return [k, object(v, `plugins.${k}`)];
    }),
  ) as unknown as ResolvedConfig['plugins'];
  const extra = c['extraPlugins'];
  if (
    extra !== undefined &&
    (!Array.isArray(extra) || extra.some((x) => typeof x !== 'object' || x === null || typeof (x as { register?: unknown }).register !== 'function'))
  ) {
    bad('extraPlugins', "must be an array of plugin objects (what a plugin package's factory returns: { name, version, core, register })");
  }
  const b = c['buffer'] === undefined ? undefined : object(c['buffer'], 'buffer');
  if (b !== undefined) {
    keys(b, BUFFER_KEYS, 'buffer');
    if (b['mode'] !== undefined && b['mode'] !== 'discard' && b['mode'] !== 'overwrite')
      bad('buffer.mode', `must be 'discard' or 'overwrite', got ${JSON.stringify(b['mode'])}`);
  }
  const events = globs(c['events'], 'events');
  if ((events !== undefined || b !== undefined) && plugins.ringBuffer === false)
    bad(events !== undefined ? 'events' : 'buffer', 'needs the ring buffer, which plugins.ringBuffer: false leaves out');
  const w = c['workload'];
  if (w !== undefined && w !== 'build') {
    const wo = object(w, 'workload');
    keys(wo, WORKLOAD_KEYS, 'workload');
    if (typeof wo['module'] !== 'string' || wo['module'] === '')
      bad('workload.module', `must be the path of a module exporting a program, got ${JSON.stringify(wo['module'])}`);
    if (wo['export'] !== undefined && (typeof wo['export'] !== 'string' || wo['export'] === ''))
      bad('workload.export', `must be an export name, got ${JSON.stringify(wo['export'])}`);
  }
  const t = c['tracers'] === undefined ? {} : object(c['tracers'], 'tracers');
  keys(t, TRACER_KEYS, 'tracers');
  const needs: Record<(typeof TRACER_KEYS)[number], ReadonlyArray<(typeof PLUGIN_KEYS)[number]>> = {
    markerProbes: ['markers'],
    ktraceSession: ['ktrace'],
    functionTracer: ['ftrace', 'ringBuffer'],
    strace: ['utrace'],
  };
  const tracers = Object.fromEntries(
    TRACER_KEYS.map((k) => {
      const present = needs[k].every((n) => plugins[n] !== false);
      const on = bool(t[k], `tracers.${k}`, present);
      if (on && !present) bad(`tracers.${k}`, `needs ${needs[k].map((n) => `plugins.${n}`).join(' and ')}, which the config leaves out`);
      return [k, on];
    }),
  ) as unknown as ResolvedConfig['tracers'];
  const tl = c['timeline'];
  if (tl !== undefined && !Array.isArray(tl)) bad('timeline', `must be an array of { at, enable?, disable? }, got ${typeof tl}`);
  const timeline = ((tl as unknown[] | undefined) ?? []).map((step, i) => {
    const s = object(step, `timeline[${i}]`);
    keys(s, STEP_KEYS, `timeline[${i}]`);
    const at = int(s['at'], `timeline[${i}].at`, 1, Number.MAX_SAFE_INTEGER);
    if (at === undefined) bad(`timeline[${i}].at`, 'is required: the tick the step happens at (1 or more)');
    const enable = globs(s['enable'], `timeline[${i}].enable`);
    const disable = globs(s['disable'], `timeline[${i}].disable`);
    let ftraceStep: TimelineStep['ftrace'];
    if (s['ftrace'] !== undefined) {
      const f = object(s['ftrace'], `timeline[${i}].ftrace`);
      const where = `timeline[${i}].ftrace`;
      if (plugins.ftrace === false) bad(where, 'registers or removes an ftrace ops, and plugins.ftrace: false leaves ftrace out');
      if ('register' in f) {
        keys(f, ['register', 'label'], where);
        const register = globs(f['register'], `${where}.register`);
        if (register === undefined || register.length === 0) bad(`${where}.register`, 'must list the functions to trace (names or globs such as `sys_*`)');
        if (f['label'] !== undefined && (typeof f['label'] !== 'string' || f['label'] === ''))
          bad(`${where}.label`, `must be a name for the ops, got ${JSON.stringify(f['label'])}`);
        ftraceStep = { register: register!, ...(f['label'] !== undefined ? { label: f['label'] as string } : {}) };
      } else if ('unregister' in f) {
        keys(f, ['unregister'], where);
        if (f['unregister'] !== true && (typeof f['unregister'] !== 'string' || f['unregister'] === ''))
          bad(
            `${where}.unregister`,
            `must be the label of an ops registered earlier in the timeline, or true for the unlabelled one, got ${JSON.stringify(f['unregister'])}`,
          );
        ftraceStep = { unregister: f['unregister'] as string | true };
      } else bad(where, 'must be { register: [globs], label? } or { unregister: label | true }');
    }
    if (enable === undefined && disable === undefined && ftraceStep === undefined)
      bad(`timeline[${i}]`, 'does nothing: give enable or disable (event names or globs), or ftrace');
    if ((enable !== undefined || disable !== undefined) && plugins.ringBuffer === false)
      bad(`timeline[${i}]`, 'enables or disables ring-buffer events, and plugins.ringBuffer: false leaves the ring buffer out');
    return {
      at: at!,
      ...(enable !== undefined ? { enable } : {}),
      ...(disable !== undefined ? { disable } : {}),
      ...(ftraceStep !== undefined ? { ftrace: ftraceStep } : {}),
    };
  });
  // An unregister names an ops a step before it registered.
  const labels = new Set<string>();
  for (const step of [...timeline.entries()].sort(([, a], [, b]) => a.at - b.at)) {
    const [i, st] = step;
    const f = st.ftrace;
    if (f === undefined) continue;
    if ('register' in f) labels.add(f.label ?? 'timeline');
    else if (!labels.has(f.unregister === true ? 'timeline' : f.unregister)) {
      bad(
        `timeline[${i}].ftrace.unregister`,
        `no earlier step registers ${f.unregister === true ? 'an unlabelled ops' : `an ops labelled ${JSON.stringify(f.unregister)}`}`,
      );
    }
  }
  const o = c['outputs'] === undefined ? {} : object(c['outputs'], 'outputs');
  keys(o, OUTPUT_KEYS, 'outputs');
  const out = c['out'];
  if (out !== undefined && (typeof out !== 'string' || out === '')) bad('out', `must be a folder path, got ${JSON.stringify(out)}`);
  return {
    file,
    cpus: int(c['cpus'], 'cpus', 1, 64),
    seed: int(c['seed'], 'seed', 0, 0xffffffff),
    maxSteps: int(c['maxSteps'], 'maxSteps', 1, Number.MAX_SAFE_INTEGER),
    out: out === undefined ? undefined : resolve(dir, out as string),
    plugins,
    extraPlugins: (extra as AnyPlugin[] | undefined) ?? [],
    events,
    buffer: b as ResolvedConfig['buffer'],
    workloadRef: w as TracelabConfig['workload'],
    tracers,
    timeline,
    outputs: { ctf: bool(o['ctf'], 'outputs.ctf', true), chrome: bool(o['chrome'], 'outputs.chrome', true) },
  };
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
