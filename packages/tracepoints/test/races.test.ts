import { describe, expect, it } from 'vitest';
import { msleep, randomStrategy, schedPoint, type Kernel, type KPath } from '@tracelab/core';
import { TRACEPOINTS_INVARIANTS, type TracepointProbe, type TracepointsApi, type TracepointsOptions } from '@tracelab/tracepoints';
import { kernelWith } from './helpers.js';

/*
 * Each unsafe variant removes one wait; each test runs the same workload over seeds with the
 * variant (some seed must break the named invariant) and without it (every seed clean).
 */

// TRACEPOINTS_SEEDS=n widens the sweep (docs/tracepoints.md: the defaults were also run clean over 150).
const SEEDS = Array.from({ length: Number(process.env['TRACEPOINTS_SEEDS'] ?? 30) }, (_, i) => i + 1);

const plain = (tag: string): TracepointProbe => {
  const p: TracepointProbe = () => undefined;
  Object.defineProperty(p, 'name', { value: tag });
  return p;
};

/** A probe of a faultable tracepoint: it sleeps (as a fault on user memory would) in the middle. */
const sleeper = (tag: string): TracepointProbe => {
  const p = function* (): KPath<void> {
    yield* msleep(1);
  };
  Object.defineProperty(p, 'name', { value: tag });
  return p;
};

function* readerLoop(api: TracepointsApi, name: string, n: number): KPath<void> {
  for (let i = 0; i < n; i++) {
    yield* api.trace(name, i);
    yield* schedPoint();
  }
}

/** Something else runnable, so that a preempted reader's CPU has another task to switch to. */
function* spinner(n: number): KPath<void> {
  for (let i = 0; i < n; i++) yield* schedPoint();
}

interface Outcome {
  readonly violation: string | null;
  readonly message: string | null;
}

function runWorkload(options: TracepointsOptions, seed: number, setup: (k: Kernel, api: TracepointsApi) => void, preempt = 0.1): Outcome {
  const k = kernelWith(options, { seed, strategy: randomStrategy({ preemptProbability: preempt }) });
  setup(k, k.api.tracepoints);
  const r = k.run({ maxSteps: 400_000 });
  const oops = k.log.find((e) => e.type === 'kernel/oops');
  if (oops !== undefined) throw new Error(`seed ${seed}: oops ${JSON.stringify(oops)}`);
  const v = r.violations[0];
  if (v === undefined && !r.done) throw new Error(`seed ${seed}: the run did not finish`);
  return { violation: v?.name ?? null, message: v?.message ?? null };
}

function sweep(options: TracepointsOptions, setup: (k: Kernel, api: TracepointsApi) => void, preempt?: number): Outcome[] {
  return SEEDS.map((seed) => runWorkload(options, seed, setup, preempt));
}

/** Two probes stay; a third comes and goes: every change publishes a new array and releases the old one. */
function churnArrays(faultable: boolean) {
  return (k: Kernel, api: TracepointsApi): void => {
    api.defineTracepoint('tp', { faultable });
    const probe = faultable ? sleeper : plain;
    const a = probe('a');
    const c = probe('c');
    const b = probe('b');
    k.spawnKthread(function* setup() {
      yield* api.probeRegister('tp', a, 'da');
      yield* api.probeRegister('tp', c, 'dc');
      for (let i = 0; i < 15; i++) {
        yield* api.probeRegister('tp', b, 'db');
        yield* schedPoint();
        yield* api.probeUnregister('tp', b, 'db');
        yield* schedPoint();
      }
    });
    k.spawnKthread(() => readerLoop(api, 'tp', 40), { comm: 'reader' });
  };
}

/** The 1->0->1 sequence, again and again: a's data must never reach b's static call. */
function flipSingle(faultable: boolean) {
  return (k: Kernel, api: TracepointsApi): void => {
    api.defineTracepoint('tp', { faultable });
    const a = plain('a');
    const b = plain('b');
    k.spawnKthread(function* updater() {
      for (let i = 0; i < 15; i++) {
        yield* api.probeRegister('tp', a, 'da');
        yield* schedPoint();
        yield* api.probeUnregister('tp', a, 'da');
        yield* api.probeRegister('tp', b, 'db');
        yield* schedPoint();
        yield* api.probeUnregister('tp', b, 'db');
      }
    });
    k.spawnKthread(() => readerLoop(api, 'tp', 60), { comm: 'reader' });
    if (faultable) k.spawnKthread(() => spinner(200), { comm: 'spinner' });
  };
}

/** The 2->1 sequence: [a, b] loses a, so the static call goes straight to b; a's data must not reach it. */
function twoToOne(k: Kernel, api: TracepointsApi): void {
  api.defineTracepoint('tp');
  const a = plain('a');
  const b = plain('b');
  k.spawnKthread(function* updater() {
    yield* api.probeRegister('tp', b, 'db');
    for (let i = 0; i < 15; i++) {
      yield* api.probeRegisterPrio('tp', a, 'da', 20);
      yield* schedPoint();
      yield* api.probeUnregister('tp', a, 'da');
      yield* schedPoint();
    }
  });
  k.spawnKthread(() => readerLoop(api, 'tp', 60), { comm: 'reader' });
}

const names = (xs: Outcome[]): Array<string | null> => xs.map((x) => x.violation);

// TRACEPOINTS_RACE_COUNTS=1 prints, per test, how many of the seeds break (docs/tracepoints.md quotes them).
const report = (what: string, xs: Outcome[]): void => {
  if (process.env['TRACEPOINTS_RACE_COUNTS'] === '1')
    console.log(`${what}: ${xs.filter((x) => x.violation !== null).length}/${xs.length} seeds: ${xs.find((x) => x.message !== null)?.message ?? '-'}`);
};

describe('unsafe variants against their waits (SEMANTICS.md 2.2(d)/(e))', () => {
  it(`item 16/26: 'free-immediately' lets a call site read a freed array (${TRACEPOINTS_INVARIANTS.freedArray}); call_rcu keeps every seed clean`, () => {
    const bad = sweep({ unsafe: 'free-immediately' }, churnArrays(false));
    report('free-immediately', bad);
    expect(names(bad)).toContain(TRACEPOINTS_INVARIANTS.freedArray);
    expect(names(sweep({}, churnArrays(false))).every((v) => v === null)).toBe(true);
  });

  it(`item 16/26 (race: wrong flavour): 'free-with-call-rcu' frees a faultable array while a reader sleeps in a probe; call_rcu_tasks_trace keeps every seed clean`, () => {
    const bad = sweep({ unsafe: 'free-with-call-rcu' }, churnArrays(true));
    report('free-with-call-rcu', bad);
    expect(names(bad)).toContain(TRACEPOINTS_INVARIANTS.freedArray);
    expect(names(sweep({}, churnArrays(true))).every((v) => v === null)).toBe(true);
  });

  it(`item 13/27: 'no-transition-sync' lets a 1->0->1 sequence call the new probe with the old data (${TRACEPOINTS_INVARIANTS.registeredDuringCall}); the 1->0->1 wait keeps every seed clean`, () => {
    const bad = sweep({ unsafe: 'no-transition-sync' }, flipSingle(false));
    report('no-transition-sync 1->0->1', bad);
    expect(names(bad)).toContain(TRACEPOINTS_INVARIANTS.registeredDuringCall);
    expect(bad.find((x) => x.violation !== null)?.message).toMatch(/probe b#\d+ with data s:"da"/);
    expect(names(sweep({}, flipSingle(false))).every((v) => v === null)).toBe(true);
  });

  it(`item 19/27: 'no-transition-sync' lets a 2->1 transition call the survivor with the removed probe's data; the 2->1 wait keeps every seed clean`, () => {
    const bad = sweep({ unsafe: 'no-transition-sync' }, twoToOne);
    report('no-transition-sync 2->1', bad);
    expect(names(bad)).toContain(TRACEPOINTS_INVARIANTS.registeredDuringCall);
    expect(bad.find((x) => x.violation !== null)?.message).toMatch(/probe b#\d+ with data s:"da"/);
    expect(names(sweep({}, twoToOne)).every((v) => v === null)).toBe(true);
  });

  it(`item 13/21/27 (faultable 1->0->1): an RCU-sched-only wait ('no-tasks-trace-transition-sync', upstream's tp_rcu_cond_sync) misses a preempted Tasks-Trace reader; the added Tasks-Trace wait keeps every seed clean`, () => {
    const bad = sweep({ unsafe: 'no-tasks-trace-transition-sync' }, flipSingle(true), 0.5);
    report('no-tasks-trace-transition-sync', bad);
    expect(names(bad)).toContain(TRACEPOINTS_INVARIANTS.registeredDuringCall);
    expect(bad.find((x) => x.violation !== null)?.message).toMatch(/probe (a#\d+ with data s:"db"|b#\d+ with data s:"da")/);
    expect(names(sweep({}, flipSingle(true), 0.5)).every((v) => v === null)).toBe(true);
  });

  it(`item 24: tracepoint_synchronize_unregister waits Tasks-Trace for faultable probes; 'synchronize-unregister-rcu-only' lets the caller free data a sleeping probe still uses`, () => {
    const uafSeeds = (options: TracepointsOptions): number[] => {
      const hit: number[] = [];
      for (const seed of SEEDS) {
        const k = kernelWith(options, { seed });
        const api = k.api.tracepoints;
        api.defineTracepoint('sys_enter', { faultable: true });
        const data = { freed: false };
        const probe = function* reads(d: unknown): KPath<void> {
          yield* msleep(2);
          if ((d as { freed: boolean }).freed && !hit.includes(seed)) hit.push(seed);
        };
        k.spawnKthread(function* tracer() {
          yield* api.probeRegister('sys_enter', probe, data);
          yield* msleep(1);
          yield* api.probeUnregister('sys_enter', probe, data);
          yield* api.synchronizeUnregister();
          data.freed = true; // kfree(data): the caller's part, after the wait
        });
        k.spawnKthread(() => readerLoop(api, 'sys_enter', 10), { comm: 'reader' });
        const r = k.run({ maxSteps: 200_000 });
        expect(r.violations).toEqual([]);
      }
      return hit;
    };
    const hit = uafSeeds({ unsafe: 'synchronize-unregister-rcu-only' });
    if (process.env['TRACEPOINTS_RACE_COUNTS'] === '1') console.log(`synchronize-unregister-rcu-only: ${hit.length}/${SEEDS.length} seeds`);
    expect(hit.length).toBeGreaterThan(0);
    expect(uafSeeds({})).toEqual([]);
  });
});
