import { createKernel, type Kernel, type KernelOptions, type PluginStack } from '@tracelab/core';
import { describeValue, invalidOption } from './internal/invalid.js';

/**
 * What `kernelWith` takes besides a bare stack: `createKernel`'s options with `plugins`
 * required. Every other key may also be `undefined`, meaning "the core's default", so a test
 * helper can pass its own optional parameters straight through
 * (`kernelWith({ plugins, seed, strategy })` with `strategy` possibly undefined) under
 * `exactOptionalPropertyTypes`.
 */
export type KernelSetup = { readonly plugins: PluginStack } & { readonly [K in Exclude<keyof KernelOptions, 'plugins'>]?: KernelOptions[K] | undefined };

// Every key of KernelSetup, checked by the compiler both ways (a key added to KernelOptions
// must be listed here, and nothing else can be).
const SETUP_KEYS: { readonly [K in keyof KernelSetup]-?: true } = {
  plugins: true,
  cpus: true,
  seed: true,
  strategy: true,
  faultLatency: true,
  logFile: true,
  watchdog: true,
  faultInjection: true,
  interrupts: true,
  reclaim: true,
  pollLoops: true,
};

/**
 * A kernel with a plugin stack: `kernelWith([rcuTasks()])`, or
 * `kernelWith({ plugins: [utrace()], seed: 3, cpus: 4, strategy, interrupts: { timer: true } })`.
 *
 * Nothing is spawned and nothing runs. Options left out (or `undefined`) take the core's
 * defaults (2 CPUs, seed 1, the random strategy), so `kernelWith(stack)` logs exactly what
 * `createKernel({ plugins: stack })` does.
 *
 * Throws `INVALID_OPTION` when `setup` is neither an array nor an object, when `plugins` is
 * missing or not an array, or for a key `createKernel` does not take (named, with the keys it
 * does). Values are checked by `createKernel` (`INVALID_OPTION`, `PLUGIN_*` codes).
 */
export function kernelWith(setup: PluginStack | KernelSetup): Kernel {
  if (Array.isArray(setup)) return createKernel({ plugins: setup as PluginStack });
  if (typeof setup !== 'object' || setup === null)
    throw invalidOption('kernelWith', `expects a plugin stack (an array) or { plugins, seed?, cpus?, ... }, got ${describeValue(setup)}`);
  const given = setup as KernelSetup;
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!Object.hasOwn(SETUP_KEYS, key)) throw invalidOption('kernelWith', `unknown option "${key}" (options: ${Object.keys(SETUP_KEYS).join(', ')})`, { key });
    if (value !== undefined) options[key] = value;
  }
  if (!Array.isArray(given.plugins)) throw invalidOption('kernelWith', `plugins must be an array of plugins, got ${describeValue(given.plugins)}`);
  return createKernel(options as KernelOptions);
}
