import { createPrng, TracelabError, type Kernel } from '@tracelab/core';
import {
  candidateOf,
  defaultScale,
  defineScenario,
  isFailure,
  randomWalk,
  replay as exploreReplay,
  replayString,
  runSchedule,
  scheduleSeed,
  shrink,
  watchGracePeriods,
  type ReplayResult,
  type RunOutcome,
  type Scenario,
} from '@tracelab/explore';
import { MECHANISM_NAMES, MECHANISMS, NMI_PERIOD_PER_CPU, UNSAFE_OPTIONS, type MechanismName } from './mechanisms.js';
import { PIPE_LEN, Rig, TORTURE_SRCU_DOMAIN } from './rig.js';
import { drawWorkload, programOf } from './workload.js';

/** The invariant torture's own readers and section checks (Reader Pipe, freed objects, lock exclusion) report under. */
export const TORTURE_INVARIANT = 'torture/checks';

/** The rig of each kernel a torture scenario set up (host data the per-seed summary reads). */
const rigs = new WeakMap<Kernel, Rig>();

/** Preemption probabilities the per-seed random walk cycles through (few preemptions, some, many). */
const PREEMPT_P = [0.05, 0.15, 0.4] as const;

/**
 * One seed of one mechanism as an explore scenario, so that explore's replay strings and
 * shrinking work on it unchanged. The seed fixes the workload (CPUs, mix, shells) and the churn
 * plan; the variant is `safe` or an unsafe option; the scale is the churn rounds. `plugins` makes
 * the run's rig and `setup` picks it up: explore calls them in that order for every run.
 */
export function tortureScenario(mechanism: MechanismName, seed: number): Scenario {
  const m = MECHANISMS[mechanism];
  if (m === undefined)
    throw new TracelabError('INVALID_OPTION', `torture: unknown mechanism ${JSON.stringify(mechanism)}; mechanisms: ${MECHANISM_NAMES.join(', ')}`);
  const w0 = drawWorkload(seed);
  // guarded by: explore's call order (plugins, then createKernel, then setup, in one thread)
  let pending: Rig | null = null;
  const ticksOf = (variant: string): boolean => m.ticks?.({ variant, opt: createPrng(scheduleSeed(seed, 2)) }) === true;
  const nmiOf = (variant: string): boolean => ticksOf(variant) && m.nmi?.({ variant, opt: createPrng(scheduleSeed(seed, 3)) }) === true;
  return defineScenario({
    name: `torture-${mechanism}`,
    description: `torture ${mechanism}, seed ${seed}: ${m.description}`,
    source: 'rcutorture (kernel/rcu/rcutorture.c), swarm-tested',
    cpus: w0.cpus,
    maxSteps: m.maxSteps,
    scale: { name: 'rounds', default: w0.rounds, min: 1 },
    variants: [
      { name: 'safe', description: 'every option at its safe default', safe: true },
      ...m.unsafe.map((u) => ({ name: u.name, description: `${u.option}: ${u.description}`, safe: false, expect: u.expect })),
    ],
    plugins(variant) {
      const rig = new Rig();
      pending = rig;
      return m.plugins({ w: drawWorkload(seed), variant, rig, opt: createPrng(scheduleSeed(seed, 1)), ticks: ticksOf(variant), nmi: nmiOf(variant) });
    },
    interrupts: (variant) =>
      ticksOf(variant)
        ? {
            timer: { period: m.tickPeriod?.(w0.cpus) ?? TICK_PERIOD },
            ...(nmiOf(variant) ? { nmi: { period: m.nmiPeriod?.(w0.cpus) ?? NMI_PERIOD_PER_CPU * w0.cpus } } : {}),
          }
        : undefined,
    setup(kernel, { variant, scale }) {
      const rig = pending ?? new Rig();
      pending = null;
      rig.kernel = kernel;
      rigs.set(kernel, rig);
      const w = drawWorkload(seed);
      w.shells.forEach((plan, i) => kernel.spawn(programOf(plan), { comm: `sh${i}` }));
      m.setup({ kernel, w, rig, variant, rounds: scale });
      // 200 steps per CPU (explore's catalog uses 200 in all, on 2 CPUs): torture puts readers
      // in every hook, so a clone or an exit is a long kernel path, and with up to 8 CPUs a
      // pending CPU gets an eighth of the steps. At 200 in all, a clone slowed that way on an
      // 8-CPU seed read as a stall (seed 9218 of rcu-sched) though its grace period ended.
      watchGracePeriods(kernel, STALL_STEPS_PER_CPU * w.cpus);
      kernel.invariant(TORTURE_INVARIANT, () => rig.failure);
    },
  });
}

/** Ticks between timer interrupts on a seed whose mechanism takes them (`Mechanism.ticks`). */
export const TICK_PERIOD = 3;

/** The RCU-sched stall bound, in steps per CPU of the seed's kernel. */
export const STALL_STEPS_PER_CPU = 200;

/** What one seed's run gives the summary. Plain data: workers post it as it is. */
export interface SeedResult {
  readonly seed: number;
  readonly cpus: number;
  readonly kinds: readonly string[];
  readonly steps: number;
  /** Every task exited. */
  readonly done: boolean;
  readonly ops: Readonly<Record<string, number>>;
  /** Grace periods completed, by flavour (`sched`, `tasks`, `trace`, `srcu`: the torture domain's). */
  readonly gps: Readonly<Record<string, number>>;
  readonly pipe: readonly number[];
  /** A liveness alarm dropped because the random walk starved a CPU (explore's fairness rule). */
  readonly unfair: boolean;
  /** The violation, with the unshrunk replay string. */
  readonly failure: null | { readonly invariant: string; readonly message: string; readonly replay: string };
}

/** `<mechanism>#<seed>:<explore replay string>`: names one run of one torture seed. */
export function encodeTortureReplay(mechanism: MechanismName, seed: number, exploreString: string): string {
  return `${mechanism}#${seed}:${exploreString}`;
}

const FORMAT = /^([a-z0-9-]+)#(\d+):(.+)$/;

export function decodeTortureReplay(s: string): { mechanism: MechanismName; seed: number; replay: string } {
  const m = FORMAT.exec(typeof s === 'string' ? s.trim() : '');
  if (m === null)
    throw new TracelabError(
      'SCHEDULE_INVALID',
      `torture replay string ${JSON.stringify(s)} is not <mechanism>#<seed>:<variant>[@<rounds>]:S2:<choices>.<steps>:<body>:<check> (tracelab torture prints one)`,
    );
  const mechanism = m[1] as MechanismName;
  if (!MECHANISM_NAMES.includes(mechanism))
    throw new TracelabError('SCHEDULE_INVALID', `torture replay string: unknown mechanism ${JSON.stringify(m[1])}; mechanisms: ${MECHANISM_NAMES.join(', ')}`);
  const seed = Number(m[2]);
  if (!Number.isSafeInteger(seed) || seed > 0xffffffff)
    throw new TracelabError('SCHEDULE_INVALID', `torture replay string: seed ${m[2]} is out of range 0..2^32-1`);
  return { mechanism, seed, replay: m[3]! };
}

/** Re-runs one torture run from its replay string: the same log and hash as the run that printed it. */
export function replayTorture(s: string): ReplayResult & { readonly rigFailure: string | null } {
  const t = decodeTortureReplay(s);
  const r = exploreReplay(tortureScenario(t.mechanism, t.seed), t.replay);
  return { ...r, rigFailure: rigs.get(r.kernel)?.failure ?? null };
}

function gpsOf(kernel: Kernel): Record<string, number> {
  const gps: Record<string, number> = { sched: 0, tasks: 0, trace: 0, srcu: 0 };
  for (const e of kernel.log) {
    if (e.type === 'rcu/gp-end') gps.sched!++;
    else if (e.type === 'rcu-tasks/gp-end') gps[(e as unknown as { flavour: string }).flavour]!++;
    else if (e.type === 'srcu/gp-end' && (e as unknown as { domain: string }).domain === TORTURE_SRCU_DOMAIN) gps.srcu!++;
  }
  return gps;
}

/** The run's choice values, trailing zeros cut (past its end a schedule replays as zeros). */
function valuesOf(o: RunOutcome): number[] {
  const values = o.choices.map((c) => c.value);
  let end = values.length;
  while (end > 0 && values[end - 1] === 0) end--;
  return values.slice(0, end);
}

/** The picker of seed `seed`: a random walk with a preemption probability drawn from the seed. */
function pickerOf(seed: number) {
  return randomWalk(scheduleSeed(seed, 0), PREEMPT_P[seed % PREEMPT_P.length]!);
}

function outcomeOf(mechanism: MechanismName, seed: number, variant: string): { sc: Scenario; outcome: RunOutcome } {
  const sc = tortureScenario(mechanism, seed);
  return { sc, outcome: runSchedule(sc, variant, defaultScale(sc), pickerOf(seed)) };
}

/** Runs one seed of one mechanism (`variant`: `safe` or an unsafe option of that mechanism). */
export function runSeed(mechanism: MechanismName, seed: number, variant: string): SeedResult {
  const { sc, outcome } = outcomeOf(mechanism, seed, variant);
  const rig = rigs.get(outcome.kernel)!;
  const failed = isFailure(outcome);
  const w = drawWorkload(seed);
  const failure = failed
    ? {
        invariant: outcome.violation!.name,
        message: outcome.violation!.message,
        replay: encodeTortureReplay(mechanism, seed, replayString(sc, variant, defaultScale(sc), valuesOf(outcome), outcome.steps)),
      }
    : null;
  return {
    seed,
    cpus: sc.cpus,
    kinds: w.kinds,
    steps: outcome.steps,
    done: outcome.done,
    ops: { ...rig.ops },
    gps: gpsOf(outcome.kernel),
    pipe: [...rig.pipe],
    unfair: outcome.violation !== null && !failed,
    failure,
  };
}

/** A failing seed's counterexample after shrinking (explore's shrinker, to a fixed point or `runs`). */
export interface Shrunk {
  readonly replay: string;
  readonly invariant: string;
  readonly message: string;
  readonly steps: number;
  readonly runs: number;
  readonly fixedPoint: boolean;
}

/** Re-runs a failing seed and shrinks its schedule; the replay string replays the shrunk run. */
export function shrinkSeed(mechanism: MechanismName, seed: number, variant: string, runs: number): Shrunk {
  const { sc, outcome } = outcomeOf(mechanism, seed, variant);
  if (!isFailure(outcome))
    throw new TracelabError(
      'SCHEDULE_DIVERGED',
      `torture: seed ${seed} of ${mechanism} failed where it ran first and not when re-run here (a worker running stale code? rebuild with tsc -b)`,
    );
  const invariant = outcome.violation!.name;
  const r = shrink(sc, variant, candidateOf(defaultScale(sc), outcome), invariant, runs);
  const best = r.best.outcome;
  const replay = encodeTortureReplay(mechanism, seed, replayString(sc, variant, r.best.scale, r.best.values, best.steps));
  return { replay, invariant: best.violation!.name, message: best.violation!.message, steps: best.steps, runs: r.runs, fixedPoint: r.fixedPoint };
}

/** The mechanism an unsafe option belongs to, or UNKNOWN_UNSAFE_OPTION listing the known ones. */
export function unsafeOption(name: string) {
  const u = UNSAFE_OPTIONS.find((x) => x.name === name);
  if (u === undefined) {
    throw new TracelabError(
      'UNKNOWN_UNSAFE_OPTION',
      `torture: unknown unsafe option ${JSON.stringify(name)}; unsafe options: ${UNSAFE_OPTIONS.map((x) => `${x.name} (${x.mechanism})`).join(', ')}`,
      { option: name, known: UNSAFE_OPTIONS.map((x) => x.name) },
    );
  }
  return u;
}

export { PIPE_LEN };
