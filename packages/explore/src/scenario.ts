import { TracelabError, type InterruptOptions, type Kernel, type KernelOptions, type PluginStack, type PollLoops, type Strategy } from '@tracelab/core';

/** One variant of a scenario: the fixed design, or an unsafe one argued in the thread. */
export interface ScenarioVariant {
  /** `[a-z0-9-]+`; `fixed` for the design the thread settled on. */
  readonly name: string;
  readonly description: string;
  /** True for a fixed variant (exploration must find nothing), false for an unsafe one. */
  readonly safe: boolean;
  /** For an unsafe variant: the invariants its failure may name (what a test expects). */
  readonly expect?: readonly string[];
}

/** A knob that shrinking may turn down to make a counterexample smaller (fewer tasks, rounds). */
export interface ScenarioScale {
  /** What it counts, for messages ("children", "rounds"). */
  readonly name: string;
  readonly default: number;
  readonly min: number;
  /** The largest value exploration and replay strings accept. Default max(64, 16 x default). */
  readonly max?: number;
}

/** Where a worker thread imports a scenario from: `(await import(module))[exportName]`. */
export interface ScenarioSource {
  readonly module: string;
  readonly exportName: string;
}

/** What a scenario's `setup` gets besides the kernel. */
export interface SetupContext {
  readonly variant: string;
  /** The scale knob's value (the default unless a shrunk counterexample turned it down). */
  readonly scale: number;
}

/**
 * A small kernel setup with named variants. The engine builds one kernel per schedule:
 * `createKernel({ cpus, seed: EXPLORE_KERNEL_SEED, strategy, plugins: plugins(variant),
 * interrupts: interrupts?.(variant), reclaim: reclaim?.(variant) })` (`scenarioKernelOptions`),
 * then `setup(kernel, ctx)`, then `kernel.run({ maxSteps })`. Everything `setup` starts must
 * run under the explored strategy: spawn tasks and kernel threads (`spawnKthread`), do not
 * `kernel.call` (it runs the scheduler before exploration starts). `setup` must be
 * deterministic: the same variant and scale give the same kernel.
 */
export interface Scenario {
  /** `[a-z0-9-]+`, the catalog key. */
  readonly name: string;
  /** One line for the catalog. */
  readonly description: string;
  /** The source thread the race comes from (a seed file or a citation). */
  readonly source: string;
  readonly cpus: number;
  /** Steps after which a schedule is cut off (counted as explored, not as a failure). */
  readonly maxSteps: number;
  readonly variants: readonly ScenarioVariant[];
  readonly scale?: ScenarioScale;
  /** How worker threads load this scenario (omit it and exploration stays in one thread). */
  readonly sourceModule?: ScenarioSource;
  /**
   * The scenario's two CPUs are interchangeable (two CPUs only): its setup binds no task to a CPU, and nothing it
   * runs (its plugins and interrupt sources included) treats one CPU id otherwise than another,
   * so a schedule with two CPUs' ids swapped runs the same events to the same outcome. The
   * `dpor` search then explores one of each pair of mirror-image schedules at the start, where
   * every CPU is idle (docs/explore.md §4a, sixth pass), and checks the promise by running the
   * mirror image of the first schedule and every 16th after it. Default false.
   */
  readonly symmetricCpus?: boolean;
  plugins(variant: string): PluginStack;
  /**
   * The variant's interrupt sources (core `createKernel({ interrupts })`, issue 18), or
   * undefined for none. Omitted: no variant has interrupts, and its schedules are as before.
   */
  interrupts?(variant: string): InterruptOptions | undefined;
  /**
   * Whether the variant's kernel is under memory pressure (core `createKernel({ reclaim })`:
   * the strategy's `evict` choice may evict a resident user page before any step). Omitted or
   * false: pages stay resident once faulted in, and schedules are as before.
   */
  reclaim?(variant: string): boolean;
  /**
   * How the variant's poll loops wait (core `createKernel({ pollLoops })`): `'on-change'` sets
   * aside the looks of a `pollSleep` loop that nothing in the kernel could tell from no look
   * (docs/core.md, "Poll loops"). A modelling choice for a stack in which nothing reads the poller
   * between its looks. Omitted: `'every-tick'`, the loop looks once a tick.
   */
  pollLoops?(variant: string): PollLoops;
  setup(kernel: Kernel, ctx: SetupContext): void;
}

/** The seed every explored kernel is created with: the strategy, not the header, varies. */
export const EXPLORE_KERNEL_SEED = 1;

/** What exploration, replay and the CLI create a scenario variant's kernel with. */
export function scenarioKernelOptions(scenario: Scenario, variant: string, strategy: Strategy): KernelOptions {
  const interrupts = scenario.interrupts?.(variant);
  const reclaim = scenario.reclaim?.(variant) === true;
  const pollLoops = scenario.pollLoops?.(variant);
  return {
    cpus: scenario.cpus,
    seed: EXPLORE_KERNEL_SEED,
    plugins: scenario.plugins(variant),
    strategy,
    ...(interrupts !== undefined ? { interrupts } : {}),
    ...(reclaim ? { reclaim } : {}),
    ...(pollLoops !== undefined ? { pollLoops } : {}),
  };
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Checks a scenario's shape once (names, variants, scale) and returns it frozen. */
export function defineScenario(s: Scenario): Scenario {
  const where = `scenario ${JSON.stringify(s?.name)}`;
  if (typeof s !== 'object' || s === null) throw new TracelabError('INVALID_OPTION', 'defineScenario: expected a scenario object');
  if (typeof s.name !== 'string' || !NAME.test(s.name)) throw new TracelabError('INVALID_OPTION', `${where}: name must match ${NAME}`);
  if (!Number.isInteger(s.cpus) || s.cpus < 1 || s.cpus > 64) throw new TracelabError('INVALID_OPTION', `${where}: cpus must be an integer from 1 to 64`);
  if (!Number.isInteger(s.maxSteps) || s.maxSteps < 1) throw new TracelabError('INVALID_OPTION', `${where}: maxSteps must be a positive integer`);
  if (!Array.isArray(s.variants) || s.variants.length === 0) throw new TracelabError('INVALID_OPTION', `${where}: needs at least one variant`);
  const seen = new Set<string>();
  for (const v of s.variants) {
    if (typeof v.name !== 'string' || !NAME.test(v.name))
      throw new TracelabError('INVALID_OPTION', `${where}: variant name ${JSON.stringify(v.name)} must match ${NAME}`);
    if (seen.has(v.name)) throw new TracelabError('INVALID_OPTION', `${where}: variant ${v.name} twice`);
    seen.add(v.name);
  }
  if (s.symmetricCpus !== undefined && typeof s.symmetricCpus !== 'boolean')
    throw new TracelabError('INVALID_OPTION', `${where}: symmetricCpus must be true or false, got ${JSON.stringify(s.symmetricCpus)}`);
  // The rule and its check are argued for two CPUs (docs/explore.md §4a, sixth pass): with three,
  // a renamed run's defaults are not the renamed defaults, and one swap checks one pair.
  if (s.symmetricCpus === true && s.cpus !== 2)
    throw new TracelabError(
      'INVALID_OPTION',
      `${where}: symmetricCpus is for two CPUs (the symmetry rule is argued and checked for a pair), got cpus ${s.cpus}`,
    );
  if (s.pollLoops !== undefined && typeof s.pollLoops !== 'function')
    throw new TracelabError('INVALID_OPTION', `${where}: pollLoops must be a function of the variant, got ${typeof s.pollLoops}`);
  if (s.scale !== undefined) {
    const { min, default: d } = s.scale;
    if (!Number.isInteger(min) || !Number.isInteger(d) || min < 0 || d < min)
      throw new TracelabError('INVALID_OPTION', `${where}: scale needs integers 0 <= min <= default`);
    if (s.scale.max !== undefined && (!Number.isInteger(s.scale.max) || s.scale.max < d))
      throw new TracelabError('INVALID_OPTION', `${where}: scale.max must be an integer >= default`);
  }
  return Object.freeze(s);
}

/** The variant named `name`, or `UNKNOWN_VARIANT` listing the known ones. */
export function variantOf(s: Scenario, name: string): ScenarioVariant {
  const v = s.variants.find((x) => x.name === name);
  if (v === undefined) {
    throw new TracelabError(
      'INVALID_OPTION',
      `scenario ${s.name} has no variant ${JSON.stringify(name)}; variants: ${s.variants.map((x) => x.name).join(', ')}`,
      { reason: 'UNKNOWN_VARIANT', scenario: s.name, variant: name },
    );
  }
  return v;
}

/** The scale a run uses when none is given. */
export function defaultScale(s: Scenario): number {
  return s.scale?.default ?? 0;
}

/** An unsafe variant that is one value of its plugin's `unsafe` option: what it does, and the invariants its failure may name. */
export interface UnsafeOptionVariant {
  readonly description: string;
  readonly expect: readonly string[];
}

/** A scenario's variants and the plugin options each one runs with (`unsafeOptionVariants`). */
export interface UnsafeOptionVariants<U extends string> {
  readonly variants: readonly ScenarioVariant[];
  /** The plugin's options for `variant`: `{ unsafe: variant }` for an unsafe one, `{}` for `fixed`. */
  options(variant: string): { readonly unsafe?: U };
}

/**
 * The variants of a scenario whose unsafe variants are the values of its plugin's `unsafe`
 * option (srcu, kprobes): `fixed` first (safe, `fixed` describes it), then one per entry of
 * `unsafe`, named by its option value. The names and the options come from the one table, so a
 * variant cannot run with another's options, and passing `options(variant)` to the plugin
 * type-checks the names against its `unsafe` values.
 */
export function unsafeOptionVariants<U extends string>(fixed: string, unsafe: Readonly<Record<U, UnsafeOptionVariant>>): UnsafeOptionVariants<U> {
  const names = Object.keys(unsafe) as U[];
  return {
    variants: [
      { name: 'fixed', description: fixed, safe: true },
      ...names.map((name): ScenarioVariant => ({ name, description: unsafe[name].description, safe: false, expect: unsafe[name].expect })),
    ],
    options: (variant) => ((names as readonly string[]).includes(variant) ? { unsafe: variant as U } : {}),
  };
}
