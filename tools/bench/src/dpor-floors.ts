/**
 * Where a DPOR tree's schedules come from (issue 20; docs/explore.md §4a, fifth pass). Over the
 * runs of one DPOR search (bound 2, or unbounded at the smallest scale), four counts of distinct
 * runs, each under a coarser equivalence than the last:
 *
 * - **CPU threads** (what DPOR explores today): each CPU's steps in order, with their local
 *   choices, and their happens-before frontier under the recorded footprints. Equals
 *   `dpor.traces` when the search completes.
 * - **CPU threads, no conflicts** (the local floor): the same with every conflict dropped, so
 *   only each CPU's own sequence of local choices (which task a switch picked, preempted or not,
 *   interrupts, memory) tells runs apart. No footprint narrowing can take a CPU-thread search
 *   below it.
 * - **task threads**: the steps of each task in order (a switch-in by an idle CPU counts as the
 *   task's), scheduling choices (`cpu`, `preempt`, `task`) left out of the labels, the scheduler's
 *   own objects (`cpu:`, `pc:`, `runq:`, `rq:`, and task records written only by a switch) left
 *   out of the conflicts; a step that read its CPU (`cpu:`/`pc:`) carries the CPU in its label.
 *   The count a search with tasks as its threads and the CPU as a resource would need at best,
 *   and optimistic: it drops the dependencies through CPU availability too (a step that blocks,
 *   exits or turns preemption off enables or disables another task's dispatch).
 * - **task threads, CPU as an object**: the same, but the CPU objects (`cpu:`, `pc:`) kept: two
 *   tasks that run on one CPU in turn are ordered by it, as a lock's holders are. The count a
 *   task-thread search that treats the CPU like a lock would need: the pessimistic end.
 * - **task threads, no conflicts**: its local floor.
 * - **task threads, placed**: the task-thread count with every step that touched per-CPU state
 *   labelled with its CPU: it read or wrote a CPU's objects (`cpu:`, `pc:`: its current task, its
 *   preempt count) or wrote `rcu` (a quiescent state is reported for the CPU that passes it). The
 *   core's per-step work is per CPU, so a task model must tell these steps apart by placement, as
 *   the plain task count does only for explicit CPU reads.
 * - **task threads, every step placed**: every step labelled with its CPU: what is left of the
 *   task model's gain when placement always matters. (Not monotone with the last: a label that
 *   depends on the footprint can split steps the all-placed label keeps together.)
 * - **CPU threads, CPUs renamed**: the CPU-thread trace up to a renaming of the CPUs (the least
 *   key over every permutation of their ids): what a symmetry reduction would need at best, for
 *   a scenario whose CPUs and code are interchangeable.
 *
 * An estimate, not a search: it counts classes among the runs the CPU-thread search made, which
 * covers every class when that search completes. What it settles is where the schedules come
 * from, and so which change could shrink them.
 */
import { footprintsConflict, observedGroups, type StepFootprint } from '@tracelab/core';
import { Dpor, runSchedule, type Choice } from '@tracelab/explore';
import { catalog } from '@tracelab/scenarios';
import { row, type Benchmark, type Row } from './harness.js';

/** Scenario variant, bound (null: unbounded at the smallest scale), and a cap on schedules. */
const CASES: ReadonlyArray<readonly [string, string, number | null, number]> = [
  ['fork-flag-race', 'fixed', 1, 5_000],
  ['marker-array-free', 'fixed', 2, 10_000],
  ['detach-during-callback', 'fixed', 2, 5_000],
  ['utrace-exit-flags', 'fixed', 2, 5_000],
  ['marker-publish', 'fixed', 2, 5_000],
  ['subbuf-commit-order', 'fixed', 2, 5_000],
  ['utrace-exit-flags', 'fixed', null, 20_000],
  ['marker-publish', 'fixed', null, 20_000],
];

const SCHEDULING: ReadonlySet<string> = new Set(['cpu', 'preempt', 'task']);
const queueObject = (o: string): boolean => o.startsWith('runq:') || o.startsWith('rq:');
const schedulerObject = (o: string): boolean => o.startsWith('cpu:') || o.startsWith('pc:') || queueObject(o);

interface Labelled {
  readonly thread: string;
  readonly label: string;
  readonly fp: StepFootprint;
}

/** The local choices of step k (those between its first choice and the next step's). */
function localChoices(steps: readonly StepFootprint[], k: number, choices: readonly Choice[], keep: (c: Choice) => boolean): string {
  const end = k + 1 < steps.length ? steps[k + 1]!.choiceAt : choices.length;
  const out: string[] = [];
  for (let c = steps[k]!.choiceAt; c < end; c++) if (keep(choices[c]!)) out.push(`${choices[c]!.kind[0]}${choices[c]!.value}`);
  return out.join(',');
}

function cpuThreads(steps: readonly StepFootprint[], choices: readonly Choice[]): Labelled[] {
  return steps.map((fp, k) => ({ thread: `cpu${fp.cpu}`, label: localChoices(steps, k, choices, (c) => c.kind !== 'cpu'), fp }));
}

/** Which steps carry their CPU in the label: those that read it (the default), or a wider rule. */
type Placed = (fp: StepFootprint) => boolean;
const readsCpu: Placed = (fp) => fp.reads.some((r) => r.startsWith('cpu:') || r.startsWith('pc:'));
const touchesCpu: Placed = (fp) => readsCpu(fp) || fp.writes.some((w) => w.startsWith('cpu:') || w.startsWith('pc:') || w === 'rcu');
const always: Placed = () => true;

/** `strip`: the objects left out of the conflicts (the scheduler's, or only the runqueue's). */
function taskThreads(steps: readonly StepFootprint[], choices: readonly Choice[], strip: (o: string) => boolean, placedBy: Placed = readsCpu): Labelled[] {
  const out: Labelled[] = [];
  for (let k = 0; k < steps.length; k++) {
    const fp = steps[k]!;
    let thread = String(fp.pid ?? 0);
    if (thread === '0') {
      const inTask = (fp.switched ?? []).find((p) => p !== 0);
      if (inTask !== undefined) thread = String(inTask);
      else if (fp.writes.length === 0)
        continue; // an idle poll that found nothing: no action of any task
      else thread = `idle${fp.cpu}`;
    }
    const switchedOnly = new Set((fp.switched ?? []).map((p) => `task:${p}`));
    const placed = placedBy(fp) ? `@${fp.cpu}` : '';
    out.push({
      thread,
      label: localChoices(steps, k, choices, (c) => !SCHEDULING.has(c.kind)) + placed,
      fp: { ...fp, reads: fp.reads.filter((r) => !strip(r)), writes: fp.writes.filter((w) => !strip(w) && !switchedOnly.has(w)) },
    });
  }
  return out;
}

/**
 * A canonical key of a run's trace: each thread's steps in order, each with its label and its
 * happens-before frontier (how many steps of every thread precede it), under `conflict`.
 */
function traceKey(steps: readonly Labelled[], conflict: (a: StepFootprint, b: StepFootprint) => boolean): string {
  const ids = [...new Set(steps.map((s) => s.thread))].sort();
  const index = new Map(ids.map((t, i) => [t, i]));
  const n = ids.length;
  const clocks: Int32Array[] = [];
  const count = new Int32Array(n);
  const perThread: string[][] = ids.map(() => []);
  for (let j = 0; j < steps.length; j++) {
    const tj = index.get(steps[j]!.thread)!;
    const past = new Int32Array(n);
    for (let i = 0; i < j; i++) {
      if (index.get(steps[i]!.thread) !== tj && !conflict(steps[i]!.fp, steps[j]!.fp)) continue;
      const ci = clocks[i]!;
      for (let q = 0; q < n; q++) if (ci[q]! > past[q]!) past[q] = ci[q]!;
    }
    count[tj]!++;
    past[tj] = count[tj]!;
    clocks.push(past);
    perThread[tj]!.push(`${steps[j]!.label}/${past.join(',')}`);
  }
  return ids.map((t, i) => `${t}:${perThread[i]!.join(' ')}`).join('|');
}

export interface Floors {
  readonly schedules: number;
  readonly complete: boolean;
  readonly cpu: number;
  readonly cpuFloor: number;
  readonly task: number;
  readonly taskCpuObject: number;
  readonly taskFloor: number;
  readonly taskPlaced: number;
  readonly taskAllPlaced: number;
  readonly cpuSymmetric: number;
}

/** Every permutation of 0..n-1 (n is a scenario's CPU count: 2, at most a handful). */
function permutations(n: number): number[][] {
  if (n <= 1) return [[0]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

/** The CPU-thread steps with CPU ids renamed by `perm` (threads, and the per-CPU objects of the footprints). */
function renamed(steps: readonly Labelled[], perm: readonly number[]): Labelled[] {
  const obj = (o: string): string => o.replace(/^(cpu|pc|rq:nonempty):(\d+)$/, (_m, f: string, c: string) => `${f}:${perm[Number(c)]}`);
  return steps.map((l) => ({
    thread: `cpu${perm[l.fp.cpu]}`,
    label: l.label,
    fp: { ...l.fp, cpu: perm[l.fp.cpu]!, reads: l.fp.reads.map(obj), writes: l.fp.writes.map(obj) },
  }));
}

/** The four counts over the runs of one DPOR search of `variant` (bounded: its last tree only). */
export function dporFloors(name: string, variant: string, bound: number | null, cap: number): Floors {
  const s = catalog.get(name);
  if (s === undefined) throw new Error(`dpor floors: no scenario ${name}`);
  const scale = bound === null ? (s.scale?.min ?? 1) : (s.scale?.default ?? 1);
  const dpor = new Dpor(bound);
  const sets = {
    cpu: new Set<string>(),
    cpuFloor: new Set<string>(),
    task: new Set<string>(),
    taskCpuObject: new Set<string>(),
    taskFloor: new Set<string>(),
    taskPlaced: new Set<string>(),
    taskAllPlaced: new Set<string>(),
    cpuSymmetric: new Set<string>(),
  };
  const perms = permutations(s.cpus);
  let level = -1;
  let schedules = 0;
  /** What each owner's checks observed over every run so far (`StepFootprint.observedBy`). */
  const observedSoFar = new Map<string, Set<string>>();
  let complete = false;
  for (;;) {
    const picker = dpor.next();
    if (picker === null) {
      complete = true;
      break;
    }
    if (schedules >= cap) break;
    // A bounded search re-runs the smaller bounds first: count the last tree only.
    const at = dpor.stats.perBound.length - 1;
    if (at !== level) {
      for (const set of Object.values(sets)) set.clear();
      level = at;
    }
    const steps: StepFootprint[] = [];
    const sink = dpor.footprintSink();
    const outcome = runSchedule(s, variant, scale, picker, undefined, (fp) => {
      steps.push(fp);
      sink(fp);
    });
    dpor.record(outcome);
    schedules++;
    // What the checks observed over every run so far, per owner, as DPOR accumulates it.
    for (const f of steps) {
      for (const g of observedGroups(f)) {
        let set = observedSoFar.get(g.owner);
        if (set === undefined) observedSoFar.set(g.owner, (set = new Set()));
        for (const o of g.objects) set.add(o);
      }
    }
    const observed = [...observedSoFar.values()].map((set) => [...set]);
    const real = (a: StepFootprint, b: StepFootprint) => footprintsConflict(a, b, observed);
    const none = () => false;
    const byCpu = cpuThreads(steps, outcome.choices);
    const byTask = taskThreads(steps, outcome.choices, schedulerObject);
    sets.cpu.add(traceKey(byCpu, real));
    sets.cpuFloor.add(traceKey(byCpu, none));
    sets.task.add(traceKey(byTask, real));
    sets.taskCpuObject.add(traceKey(taskThreads(steps, outcome.choices, queueObject), real));
    sets.taskFloor.add(traceKey(byTask, none));
    sets.taskPlaced.add(traceKey(taskThreads(steps, outcome.choices, schedulerObject, touchesCpu), real));
    sets.taskAllPlaced.add(traceKey(taskThreads(steps, outcome.choices, schedulerObject, always), real));
    let least: string | null = null;
    for (const perm of perms) {
      const k = traceKey(renamed(byCpu, perm), real);
      if (least === null || k < least) least = k;
    }
    sets.cpuSymmetric.add(least!);
  }
  return {
    schedules,
    complete,
    cpu: sets.cpu.size,
    cpuFloor: sets.cpuFloor.size,
    task: sets.task.size,
    taskCpuObject: sets.taskCpuObject.size,
    taskFloor: sets.taskFloor.size,
    taskPlaced: sets.taskPlaced.size,
    taskAllPlaced: sets.taskAllPlaced.size,
    cpuSymmetric: sets.cpuSymmetric.size,
  };
}

export const dporFloorsBench: Benchmark = {
  name: 'dpor floors',
  run(): Row[] {
    const rows: Row[] = [];
    for (const [name, variant, bound, cap] of CASES) {
      const f = dporFloors(name, variant, bound, cap);
      const what = `${name}/${variant} ${bound === null ? 'unbounded, smallest scale' : `bound ${bound}`}${f.complete ? '' : `, cut at ${cap}`}`;
      process.stderr.write(
        `  ${what}: CPU threads ${f.cpu} (no conflicts ${f.cpuFloor}); task threads ${f.task} (CPU as an object ${f.taskCpuObject}, no conflicts ${f.taskFloor}, placed ${f.taskPlaced}, every step placed ${f.taskAllPlaced}); CPUs renamed ${f.cpuSymmetric}; ${f.schedules} schedules\n`,
      );
      rows.push(row(`dpor floors, ${what}, CPU threads without conflicts`, 'traces', f.cpuFloor, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, task threads`, 'traces', f.task, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, task threads, CPU as an object`, 'traces', f.taskCpuObject, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, task threads without conflicts`, 'traces', f.taskFloor, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, task threads, placed where per-CPU state is touched`, 'traces', f.taskPlaced, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, task threads, every step placed`, 'traces', f.taskAllPlaced, f.cpu, 'CPU threads (DPOR today)'));
      rows.push(row(`dpor floors, ${what}, CPU threads, CPUs renamed`, 'traces', f.cpuSymmetric, f.cpu, 'CPU threads (DPOR today)'));
    }
    return rows;
  },
};
