import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CORE_VERSION, TracelabError } from '@tracelab/core';
import { EXPLORE_VERSION, runSchedule, type ChunkPlan, type Scenario } from '@tracelab/explore';

/** This package's version (part of every exploration's code version). */
export const EXPLORE_QUEUE_VERSION = '0.1.0';

/**
 * Where a worker on another machine imports a scenario from: `(await import(module))[exportName]`,
 * with `module` a package name (resolved where explore-queue is installed) or a `file:` URL.
 * `name` is the scenario's own name, checked after loading.
 */
export interface ScenarioRef {
  readonly name: string;
  readonly module: string;
  readonly exportName: string;
}

/** The ref of a scenario that says where it lives (`sourceModule`); `INVALID_OPTION` otherwise. */
export function scenarioRef(s: Scenario): ScenarioRef {
  if (s.sourceModule === undefined) {
    throw new TracelabError(
      'INVALID_OPTION',
      `scenario ${s.name} has no sourceModule, so workers cannot load it; give it one, or name it by module path (file.js#exportName)`,
    );
  }
  return { name: s.name, module: s.sourceModule.module, exportName: s.sourceModule.exportName };
}

/**
 * The ref of `path#exportName` (export `default` when no `#`), a module path relative to `cwd`:
 * the form a worker on any machine can import, provided the file is at the same path there.
 */
export function moduleRef(spec: string, cwd: string, name = ''): ScenarioRef {
  const hash = spec.lastIndexOf('#');
  const path = hash < 0 ? spec : spec.slice(0, hash);
  const exportName = hash < 0 ? 'default' : spec.slice(hash + 1);
  if (path === '' || exportName === '')
    throw new TracelabError('INVALID_OPTION', `scenario module ${JSON.stringify(spec)}: expected path/to/module.js#exportName`);
  return { name, module: pathToFileURL(isAbsolute(path) ? path : resolve(cwd, path)).href, exportName };
}

/** Imports the scenario a ref names; `INVALID_OPTION` when the module or the export is not there. */
export async function loadScenario(ref: ScenarioRef): Promise<Scenario> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(ref.module)) as Record<string, unknown>;
  } catch (err) {
    throw new TracelabError(
      'INVALID_OPTION',
      `cannot import scenario module ${ref.module}: ${err instanceof Error ? err.message : String(err)}`,
      { module: ref.module },
      { cause: err },
    );
  }
  const s = mod[ref.exportName] as Scenario | undefined;
  if (s === undefined || s === null || typeof s.setup !== 'function' || typeof s.plugins !== 'function') {
    throw new TracelabError('INVALID_OPTION', `${ref.module} exports no scenario named ${ref.exportName}`, { module: ref.module, exportName: ref.exportName });
  }
  if (ref.name !== '' && s.name !== ref.name)
    throw new TracelabError('INVALID_OPTION', `${ref.module}#${ref.exportName} is scenario ${s.name}, not ${ref.name}`);
  return s;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The code version of an exploration: the versions of the core, explore and this package, the
 * scenario's module, and the log hash of the variant's non-preemptive default run. Package
 * versions do not move between builds of a work tree; the default run's log does when the
 * scenario, a plugin or the core behaves differently, so a worker built from other sources
 * refuses the chunks (and a coordinator does not resume results of other code).
 */
export function codeVersion(s: Scenario, ref: ScenarioRef, variant: string, scale: number): string {
  const run = runSchedule(s, variant, scale, { pick: (p) => (p.kind === 'cpu' && p.same >= 0 ? p.same : 0) });
  return sha256(JSON.stringify([CORE_VERSION, EXPLORE_VERSION, EXPLORE_QUEUE_VERSION, ref.module, ref.exportName, run.kernel.logHash()])).slice(0, 16);
}

/**
 * The exploration id: the scenario, variant, strategy, seed, budget (and the rest of the plan:
 * scale, self-check period, chunk size) and the code version. The same command on the same
 * code gives the same id, which is how a restarted coordinator finds its results; two
 * explorations that differ in any of these never share a key.
 */
export function explorationId(plan: ChunkPlan, version: string): string {
  const p = plan;
  return sha256(JSON.stringify([p.scenario, p.variant, p.strategy, p.seed, p.budget, p.scale, p.selfCheckEvery, p.k, p.chunkSize, version])).slice(0, 20);
}
