import { resolve } from 'node:path';
import { TracelabError } from '@tracelab/core';
import type { ResolvedConfig, TimelineStep, TracelabConfig } from '../config.js';

/**
 * The checks `checkConfig` runs over a config, one per key group, each failing with
 * `INVALID_CONFIG` naming the file, the key path and what is accepted. `checkConfig` runs them
 * in a fixed order and the first problem is the one reported, so the order is part of the
 * behaviour (a config with two wrong keys names the same one every time).
 */

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

/** Reads values out of one config file; every problem is `INVALID_CONFIG` naming the file and the key path. Holds no state. */
export class ConfigReader {
  constructor(readonly file: string) {}

  bad(path: string, what: string): never {
    throw new TracelabError('INVALID_CONFIG', `${this.file}: ${path}: ${what}`, { file: this.file, key: path });
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.bad(path, `must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    return v as Record<string, unknown>;
  }

  /** Fails on the first key of `o` not in `known`, naming the nearest known one when it is close. */
  keys(o: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      const near = [...known].sort((a, b) => distance(k, a) - distance(k, b))[0];
      const hint = near !== undefined && distance(k, near) <= Math.max(2, Math.floor(near.length / 3)) ? `; did you mean ${JSON.stringify(near)}?` : '';
      this.bad(path === '' ? k : `${path}.${k}`, `unknown key${hint} (accepted: ${known.join(', ')})`);
    }
  }

  int(v: unknown, path: string, min: number, max: number): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      this.bad(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v as number;
  }

  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.bad(path, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  }

  globs(v: unknown, path: string): readonly string[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((g) => typeof g !== 'string' || g === ''))
      this.bad(path, `must be an array of event names or globs (\`sched_*\`, \`*\`), got ${JSON.stringify(v)}`);
    return v as string[];
  }
}

type Config = Record<string, unknown>;
type Plugins = ResolvedConfig['plugins'];

/** The config is an object of known top-level keys. */
export function checkTopLevel(r: ConfigReader, raw: unknown): Config {
  const c = r.object(raw, '(the config)');
  r.keys(c, TOP_KEYS, '');
  return c;
}

/** `plugins`: known plugin names, each options object or `false`; a missing one is `{}` (its defaults). */
export function checkPlugins(r: ConfigReader, c: Config): Plugins {
  const p = c['plugins'] === undefined ? {} : r.object(c['plugins'], 'plugins');
  r.keys(p, PLUGIN_KEYS, 'plugins');
  return Object.fromEntries(
    PLUGIN_KEYS.map((k) => {
      const v = p[k];
      if (v === undefined) return [k, {}];
      if (v === false) return [k, false];
      return [k, r.object(v, `plugins.${k}`)];
    }),
  ) as unknown as Plugins;
}

/** `extraPlugins`: plugin objects (anything with a `register` function). */
export function checkExtraPlugins(r: ConfigReader, c: Config): ResolvedConfig['extraPlugins'] {
  const extra = c['extraPlugins'];
  if (
    extra !== undefined &&
    (!Array.isArray(extra) || extra.some((x) => typeof x !== 'object' || x === null || typeof (x as { register?: unknown }).register !== 'function'))
  ) {
    r.bad('extraPlugins', "must be an array of plugin objects (what a plugin package's factory returns: { name, version, core, register })");
  }
  return (extra as ResolvedConfig['extraPlugins'] | undefined) ?? [];
}

/** `buffer`: known keys and a known mode (the sizes are the ring buffer's to check). */
export function checkBuffer(r: ConfigReader, c: Config): ResolvedConfig['buffer'] {
  const b = c['buffer'] === undefined ? undefined : r.object(c['buffer'], 'buffer');
  if (b !== undefined) {
    r.keys(b, BUFFER_KEYS, 'buffer');
    if (b['mode'] !== undefined && b['mode'] !== 'discard' && b['mode'] !== 'overwrite')
      r.bad('buffer.mode', `must be 'discard' or 'overwrite', got ${JSON.stringify(b['mode'])}`);
  }
  return b as ResolvedConfig['buffer'];
}

/** `events`: names or globs; it and `buffer` need the ring buffer in the stack. */
export function checkEvents(r: ConfigReader, c: Config, plugins: Plugins, buffer: ResolvedConfig['buffer']): readonly string[] | undefined {
  const events = r.globs(c['events'], 'events');
  if ((events !== undefined || buffer !== undefined) && plugins.ringBuffer === false)
    r.bad(events !== undefined ? 'events' : 'buffer', 'needs the ring buffer, which plugins.ringBuffer: false leaves out');
  return events;
}

/** `workload`: `'build'`, or `{ module, export? }` (loaded later, by `loadConfig`). */
export function checkWorkload(r: ConfigReader, c: Config): TracelabConfig['workload'] {
  const w = c['workload'];
  if (w !== undefined && w !== 'build') {
    const wo = r.object(w, 'workload');
    r.keys(wo, WORKLOAD_KEYS, 'workload');
    if (typeof wo['module'] !== 'string' || wo['module'] === '')
      r.bad('workload.module', `must be the path of a module exporting a program, got ${JSON.stringify(wo['module'])}`);
    if (wo['export'] !== undefined && (typeof wo['export'] !== 'string' || wo['export'] === ''))
      r.bad('workload.export', `must be an export name, got ${JSON.stringify(wo['export'])}`);
  }
  return w as TracelabConfig['workload'];
}

/** `tracers`: each on by default when the plugins it needs are in the stack; on without them is an error. */
export function checkTracers(r: ConfigReader, c: Config, plugins: Plugins): ResolvedConfig['tracers'] {
  const t = c['tracers'] === undefined ? {} : r.object(c['tracers'], 'tracers');
  r.keys(t, TRACER_KEYS, 'tracers');
  const needs: Record<(typeof TRACER_KEYS)[number], ReadonlyArray<(typeof PLUGIN_KEYS)[number]>> = {
    markerProbes: ['markers'],
    ktraceSession: ['ktrace'],
    functionTracer: ['ftrace', 'ringBuffer'],
    strace: ['utrace'],
  };
  return Object.fromEntries(
    TRACER_KEYS.map((k) => {
      const present = needs[k].every((n) => plugins[n] !== false);
      const on = r.bool(t[k], `tracers.${k}`, present);
      if (on && !present) r.bad(`tracers.${k}`, `needs ${needs[k].map((n) => `plugins.${n}`).join(' and ')}, which the config leaves out`);
      return [k, on];
    }),
  ) as unknown as ResolvedConfig['tracers'];
}

/** `timeline`: an array of steps (`checkTimelineStep`), whose ftrace unregisters follow their registers. */
export function checkTimeline(r: ConfigReader, c: Config, plugins: Plugins): ResolvedConfig['timeline'] {
  const tl = c['timeline'];
  if (tl !== undefined && !Array.isArray(tl)) r.bad('timeline', `must be an array of { at, enable?, disable? }, got ${typeof tl}`);
  const timeline = ((tl as unknown[] | undefined) ?? []).map((step, i) => checkTimelineStep(r, step, i, plugins));
  checkUnregisterOrder(r, timeline);
  return timeline;
}

/** `timeline[i]`: a tick, and something to do at it; event changes need the ring buffer. */
function checkTimelineStep(r: ConfigReader, step: unknown, i: number, plugins: Plugins): TimelineStep {
  const s = r.object(step, `timeline[${i}]`);
  r.keys(s, STEP_KEYS, `timeline[${i}]`);
  const at = r.int(s['at'], `timeline[${i}].at`, 1, Number.MAX_SAFE_INTEGER);
  if (at === undefined) r.bad(`timeline[${i}].at`, 'is required: the tick the step happens at (1 or more)');
  const enable = r.globs(s['enable'], `timeline[${i}].enable`);
  const disable = r.globs(s['disable'], `timeline[${i}].disable`);
  const ftraceStep = s['ftrace'] === undefined ? undefined : checkTimelineFtrace(r, s['ftrace'], `timeline[${i}].ftrace`, plugins);
  if (enable === undefined && disable === undefined && ftraceStep === undefined)
    r.bad(`timeline[${i}]`, 'does nothing: give enable or disable (event names or globs), or ftrace');
  if ((enable !== undefined || disable !== undefined) && plugins.ringBuffer === false)
    r.bad(`timeline[${i}]`, 'enables or disables ring-buffer events, and plugins.ringBuffer: false leaves the ring buffer out');
  return {
    at: at!,
    ...(enable !== undefined ? { enable } : {}),
    ...(disable !== undefined ? { disable } : {}),
    ...(ftraceStep !== undefined ? { ftrace: ftraceStep } : {}),
  };
}

/** `timeline[i].ftrace` (at `where`): `{ register: [globs], label? }` or `{ unregister: label | true }`, with ftrace in the stack. */
function checkTimelineFtrace(r: ConfigReader, v: unknown, where: string, plugins: Plugins): NonNullable<TimelineStep['ftrace']> {
  const f = r.object(v, where);
  if (plugins.ftrace === false) r.bad(where, 'registers or removes an ftrace ops, and plugins.ftrace: false leaves ftrace out');
  if ('register' in f) {
    r.keys(f, ['register', 'label'], where);
    const register = r.globs(f['register'], `${where}.register`);
    if (register === undefined || register.length === 0) r.bad(`${where}.register`, 'must list the functions to trace (names or globs such as `sys_*`)');
    if (f['label'] !== undefined && (typeof f['label'] !== 'string' || f['label'] === ''))
      r.bad(`${where}.label`, `must be a name for the ops, got ${JSON.stringify(f['label'])}`);
    return { register: register!, ...(f['label'] !== undefined ? { label: f['label'] as string } : {}) };
  }
  if ('unregister' in f) {
    r.keys(f, ['unregister'], where);
    if (f['unregister'] !== true && (typeof f['unregister'] !== 'string' || f['unregister'] === ''))
      r.bad(
        `${where}.unregister`,
        `must be the label of an ops registered earlier in the timeline, or true for the unlabelled one, got ${JSON.stringify(f['unregister'])}`,
      );
    return { unregister: f['unregister'] as string | true };
  }
  return r.bad(where, 'must be { register: [globs], label? } or { unregister: label | true }');
}

/** An unregister names an ops a step before it (by tick) registered. */
function checkUnregisterOrder(r: ConfigReader, timeline: readonly TimelineStep[]): void {
  const labels = new Set<string>();
  for (const step of [...timeline.entries()].sort(([, a], [, b]) => a.at - b.at)) {
    const [i, st] = step;
    const f = st.ftrace;
    if (f === undefined) continue;
    if ('register' in f) labels.add(f.label ?? 'timeline');
    else if (!labels.has(f.unregister === true ? 'timeline' : f.unregister)) {
      r.bad(
        `timeline[${i}].ftrace.unregister`,
        `no earlier step registers ${f.unregister === true ? 'an unlabelled ops' : `an ops labelled ${JSON.stringify(f.unregister)}`}`,
      );
    }
  }
}

/** `outputs`: an object of known keys (its switches are read last, by `checkOutputs`). */
export function checkOutputKeys(r: ConfigReader, c: Config): Config {
  const o = c['outputs'] === undefined ? {} : r.object(c['outputs'], 'outputs');
  r.keys(o, OUTPUT_KEYS, 'outputs');
  return o;
}

/** `out`: a folder path, resolved against the config file's folder. */
export function checkOut(r: ConfigReader, c: Config): string | undefined {
  const out = c['out'];
  if (out !== undefined && (typeof out !== 'string' || out === '')) r.bad('out', `must be a folder path, got ${JSON.stringify(out)}`);
  return out === undefined ? undefined : resolve(resolve(r.file, '..'), out as string);
}

/** `cpus`, `seed`, `maxSteps`: integers in their ranges. */
export function checkNumbers(r: ConfigReader, c: Config): Pick<ResolvedConfig, 'cpus' | 'seed' | 'maxSteps'> {
  return {
    cpus: r.int(c['cpus'], 'cpus', 1, 64),
    seed: r.int(c['seed'], 'seed', 0, 0xffffffff),
    maxSteps: r.int(c['maxSteps'], 'maxSteps', 1, Number.MAX_SAFE_INTEGER),
  };
}

/** `outputs.ctf`, `outputs.chrome`: switches, on by default. */
export function checkOutputs(r: ConfigReader, o: Config): ResolvedConfig['outputs'] {
  return { ctf: r.bool(o['ctf'], 'outputs.ctf', true), chrome: r.bool(o['chrome'], 'outputs.chrome', true) };
}
