import { TracelabError } from '@tracelab/core';
import type { Scenario } from '@tracelab/explore';
import { commitAfterMigration } from './commit-after-migration.js';
import { detachDuringCallback } from './detach-during-callback.js';
import { fgraphReturn } from './fgraph-return.js';
import { forkFlagRace } from './fork-flag-race.js';
import { ftraceDirect } from './ftrace-direct.js';
import { ftraceRecursion } from './ftrace-recursion.js';
import { irqNestedCommit } from './irq-nested-commit.js';
import { livepatchBpf } from './livepatch-bpf.js';
import { markerArrayFree } from './marker-array-free.js';
import { markerPublish } from './marker-publish.js';
import { optprobeFree } from './optprobe-free.js';
import { srcuReaderDrain } from './srcu-reader-drain.js';
import { subbufCommitOrder } from './subbuf-commit-order.js';
import { trampolineFree } from './trampoline-free.js';
import { utraceExitFlags } from './utrace-exit-flags.js';

/**
 * The catalog, by name. Adding a scenario is one file exporting a `defineScenario(...)` (with
 * `sourceModule` pointing at its export from this package) plus its line here and its export
 * in index.ts.
 */
export const catalog: ReadonlyMap<string, Scenario> = new Map<string, Scenario>([
  [forkFlagRace.name, forkFlagRace],
  [markerArrayFree.name, markerArrayFree],
  [detachDuringCallback.name, detachDuringCallback],
  [trampolineFree.name, trampolineFree],
  [commitAfterMigration.name, commitAfterMigration],
  [utraceExitFlags.name, utraceExitFlags],
  [markerPublish.name, markerPublish],
  [subbufCommitOrder.name, subbufCommitOrder],
  [ftraceRecursion.name, ftraceRecursion],
  [irqNestedCommit.name, irqNestedCommit],
  [optprobeFree.name, optprobeFree],
  [fgraphReturn.name, fgraphReturn],
  [ftraceDirect.name, ftraceDirect],
  [srcuReaderDrain.name, srcuReaderDrain],
  [livepatchBpf.name, livepatchBpf],
]);

/** The scenario named `name`, or `INVALID_OPTION` listing the catalog. */
export function scenario(name: string): Scenario {
  const s = catalog.get(name);
  if (s === undefined) {
    throw new TracelabError('INVALID_OPTION', `unknown scenario ${JSON.stringify(name)}; scenarios: ${[...catalog.keys()].join(', ')}`, {
      reason: 'UNKNOWN_SCENARIO',
      scenario: name,
    });
  }
  return s;
}
