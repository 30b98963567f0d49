import type { Kernel, PluginStack } from '@tracelab/core';
import { buildWorkload } from './workloads.js';

/**
 * A scenario the CLI can run: a plugin stack and a setup that spawns the workload. The
 * catalog of the source threads' races moves to @tracelab/scenarios; until then the CLI
 * ships the default workload.
 */
export interface CliScenario {
  readonly name: string;
  readonly description: string;
  plugins(): PluginStack;
  setup(kernel: Kernel): void;
}

export const defaultScenario: CliScenario = {
  name: 'default',
  description: 'a build: a shell forks compiler drivers that read sources through user buffers, compute, fork an assembler, write objects, and exit',
  plugins: () => [],
  setup(kernel) {
    kernel.spawn(buildWorkload(), { comm: 'sh' });
  },
};

export const scenarios: ReadonlyMap<string, CliScenario> = new Map([[defaultScenario.name, defaultScenario]]);
