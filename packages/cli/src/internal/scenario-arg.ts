import type { Scenario } from '@tracelab/explore';
import { loadScenario, moduleRef, scenarioRef, type ScenarioRef } from '@tracelab/explore-queue';
import { catalog, scenario } from '@tracelab/scenarios';

/** Whether a scenario argument names a module (`path/to/file.js#exportName`) rather than the catalog. */
export function isModuleSpec(name: string): boolean {
  return catalog.get(name) === undefined && /[/#]|\.m?js$/.test(name);
}

/**
 * A catalog name, else a module path (`file.js#exportName`, `#default` when left out): the
 * scenario, with its `sourceModule` set so explore's worker threads (and queue workers) load the
 * same module, and where workers load it. An unknown plain name throws the catalog's error.
 */
export async function resolveScenario(name: string, cwd: string): Promise<{ sc: Scenario; ref: ScenarioRef }> {
  const known = catalog.get(name);
  if (known !== undefined) return { sc: known, ref: scenarioRef(known) };
  if (!isModuleSpec(name)) scenario(name); // throws: unknown scenario, naming the catalog
  const ref = moduleRef(name, cwd);
  const loaded = await loadScenario(ref);
  const sc: Scenario = loaded.sourceModule !== undefined ? loaded : { ...loaded, sourceModule: { module: ref.module, exportName: ref.exportName } };
  return { sc, ref: { ...ref, name: sc.name } };
}
