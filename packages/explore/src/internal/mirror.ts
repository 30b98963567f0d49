import { TracelabError, canonicalEqual, canonicalJson, type KernelEvent } from '@tracelab/core';
import type { Scenario } from '../scenario.js';
import { runSchedule, type KernelPool, type RunOutcome } from './run.js';

/**
 * The mirror-image check of a scenario that declares its CPUs interchangeable
 * (`Scenario.symmetricCpus`; docs/explore.md §4a, sixth pass). The schedule of `outcome` is
 * re-run with two CPUs' ids swapped: the CPU its first `cpu` choice took and the next one among
 * that choice's options. Every `cpu` choice then takes the swapped CPU, and every other choice
 * the same option. The promise holds for the run if the mirror image is a schedule of the
 * scenario (each swapped CPU is an option where it is asked) and runs the same events, its CPU
 * ids renamed (`renamed`), to the same end (the same violation, or none; finished or cut alike;
 * the same step count).
 * Throws `SCHEDULE_DIVERGED` naming the schedule and what differed; returns true when a check
 * ran (false: the run made no `cpu` choice between two CPUs).
 */
export function checkMirror(scenario: Scenario, variant: string, scale: number, outcome: RunOutcome, index: number, pool?: KernelPool): boolean {
  const first = outcome.choices.find((c) => c.kind === 'cpu' && (c.cpus?.length ?? 0) >= 2);
  if (first === undefined) return false;
  const a = first.cpus![first.value]!;
  const b = first.cpus!.find((c) => c !== a)!;
  const swap = (c: number): number => (c === a ? b : c === b ? a : c);
  const fail = (what: string): never => {
    throw new TracelabError(
      'SCHEDULE_DIVERGED',
      `explore: scenario ${scenario.name} declares symmetricCpus, but schedule #${index} and its mirror image (CPUs ${a} and ${b} swapped) ran differently: ${what}; its CPUs are not interchangeable (drop symmetricCpus, or make its setup and plugins treat the CPUs alike)`,
      { scenario: scenario.name, schedule: index, cpus: [a, b] },
    );
  };
  const choices = outcome.choices;
  // `pool`: one that does not hold `outcome`'s kernel (the mirror image runs beside it).
  const mirror = runSchedule(
    scenario,
    variant,
    scale,
    {
      pick: (p) => {
        const c = choices[p.index];
        if (c === undefined || c.kind !== p.kind)
          return fail(
            `choice ${p.index} is a ${p.kind} choice in the mirror image, ${c === undefined ? 'past the end' : `a ${c.kind} choice`} in the schedule`,
          );
        if (p.kind !== 'cpu') return c.value;
        const want = swap(c.cpus![c.value]!);
        const o = p.cpus!.indexOf(want);
        return o >= 0 ? o : fail(`at choice ${p.index} the mirror image cannot step CPU ${want} (its options: CPUs ${p.cpus!.join(', ')})`);
      },
    },
    pool,
  );
  if (mirror.kernel === outcome.kernel) throw new Error("internal: checkMirror's pool holds the schedule's own kernel");
  const end = (o: RunOutcome): string => `${o.violation?.name ?? 'no violation'}, ${o.done ? 'finished' : 'cut'} after ${o.steps} steps`;
  if (end(mirror) !== end(outcome)) fail(`${end(outcome)} against ${end(mirror)}`);
  const x = outcome.kernel.log;
  const y = mirror.kernel.log;
  if (x.length !== y.length) fail(`${x.length} events against ${y.length}`);
  for (let i = 0; i < x.length; i++) {
    if (sameRenamedEvent(x[i]!, y[i]!, swap)) continue;
    const want = canonicalJson(renamedEvent(x[i]!, swap));
    const got = canonicalJson(renamedEvent(y[i]!, (c) => c));
    fail(`event ${i} is ${want} in the schedule, its CPUs renamed, and ${got} in the mirror image`);
  }
  return true;
}

/**
 * Whether `renamedEvent(x, to)` and `renamedEvent(y, identity)` have the same canonical JSON,
 * decided without building either (the check compares every event of every sampled run; the
 * strings are made only for the message of one that differs).
 */
export function sameRenamedEvent(x: KernelEvent, y: KernelEvent, to: (cpu: number) => number): boolean {
  if (x.type !== y.type) return false;
  const member = (key: string, v: unknown): unknown => renamedField(key, v, to);
  let kept = 0;
  for (const key of Object.keys(x)) {
    const v = (x as unknown as Record<string, unknown>)[key];
    if (key === 'seq' || v === undefined || typeof v === 'function') continue;
    kept++;
    const w = (y as unknown as Record<string, unknown>)[key];
    if (w === undefined || typeof w === 'function' || !Object.prototype.hasOwnProperty.call(y, key)) return false;
    let same: boolean;
    if (key === 'cpus' && x.type === 'kernel/created') same = canonicalEqual(v, w);
    else if (key === 'pending' && x.type === 'rcu/gp-start')
      same = canonicalEqual(
        sortedCpus(v as number[], to),
        sortedCpus(w as number[], (c) => c),
      );
    else same = canonicalEqual(renamedField(key, v, to), w, member);
    if (!same) return false;
  }
  for (const key of Object.keys(y)) {
    const w = (y as unknown as Record<string, unknown>)[key];
    if (key !== 'seq' && w !== undefined && typeof w !== 'function') kept--;
  }
  return kept === 0;
}

function sortedCpus(cpus: readonly number[], to: (cpu: number) => number): number[] {
  return cpus.map(to).sort((a, b) => a - b);
}

/** Whether a field's name says it holds CPU ids (`CPU_FIELD`), once per name. */
const cpuField = new Map<string, boolean>();

/** A member's value with its CPU ids renamed, when its name says it holds them (as `renamed` does). */
function renamedField(key: string, v: unknown, to: (cpu: number) => number): unknown {
  let named = cpuField.get(key);
  if (named === undefined) cpuField.set(key, (named = CPU_FIELD.test(key)));
  if (!named) return v;
  if (typeof v === 'number') return v < 0 ? v : to(v);
  if (Array.isArray(v) && v.every((c) => typeof c === 'number')) return v.map((c: number) => (c < 0 ? c : to(c)));
  return v;
}

/** A field that names CPUs by id: `cpu`, `*_cpu`, `*Cpu`, or a list under `cpus`/`*Cpus`. */
const CPU_FIELD = /(^|_)cpus?$|Cpus?$/;

/**
 * The event with its CPU ids renamed, its `seq` left out (the header's only): the header's
 * `cpu`, the core's own CPU fields (`rcu/gp-start`'s `pending`, a set kept in id order, compared
 * as a set; `kernel/created`'s `cpus` is a count, left alone), and any field of a plugin's payload
 * named as `CPU_FIELD` says, lists in their order (a list in CPU-id order in both runs is an
 * asymmetry the check must see).
 */
export function renamedEvent(e: KernelEvent, to: (cpu: number) => number): unknown {
  const { type } = e;
  const out = renamed(e, '', to) as Record<string, unknown>;
  delete out['seq'];
  if (type === 'kernel/created') out['cpus'] = (e as KernelEvent<'kernel/created'>).cpus;
  if (type === 'rcu/gp-start') out['pending'] = (e as KernelEvent<'rcu/gp-start'>).pending.map(to).sort((a, b) => a - b);
  return out;
}

/**
 * `v` with the CPU ids under CPU fields renamed by `to`. A field that holds a CPU id under another
 * name, or a constant one, compares as it is: the check sees only what the names say, and a
 * scenario that hides a CPU id elsewhere is not covered by it.
 */
function renamed(v: unknown, key: string, to: (cpu: number) => number): unknown {
  if (CPU_FIELD.test(key)) {
    if (typeof v === 'number') return v < 0 ? v : to(v);
    if (Array.isArray(v) && v.every((c) => typeof c === 'number')) return v.map((c: number) => (c < 0 ? c : to(c)));
  }
  if (Array.isArray(v)) return v.map((e) => renamed(e, '', to));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = renamed((v as Record<string, unknown>)[k], k, to);
  return out;
}
