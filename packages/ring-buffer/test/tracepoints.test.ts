/**
 * The ring buffer's tracepoints on @tracelab/tracepoints (issue 16, SEMANTICS.md 2.2(d) and
 * 1(d)): its call sites and probe registrations go through the tracepoints plugin, so that
 * plugin's invariants watch the ring buffer's readers, and the syscall flag is
 * syscall_regfunc / syscall_unregfunc on sys_enter and sys_exit.
 */
import { describe, expect, test } from 'vitest';
import { intMapValues, randomStrategy, schedPoint, type Kernel, type KernelEvent, type KPath } from '@tracelab/core';
import { failAllocs, kernelWith } from '@tracelab/testing';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { TRACEPOINTS_INVARIANTS, tracepoints, type TracepointsOptions } from '@tracelab/tracepoints';
import { RING_BUFFER_INVARIANTS, TIF_SYSCALL_TRACEPOINT, ringBuffer, type RingBufferApi, type TracepointProbe } from '../src/index.js';

const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);
const U32 = { kind: 'integer', size: 32, signed: false } as const;

const plain = (tag: string): TracepointProbe => {
  const p: TracepointProbe = () => undefined;
  Object.defineProperty(p, 'name', { value: tag });
  return p;
};

function kernel(seed: number, tp: TracepointsOptions): Kernel {
  return kernelWith({
    cpus: 2,
    seed,
    strategy: randomStrategy({ preemptProbability: 0.1 }),
    plugins: [rcuTasks(), tracepoints(tp), ringBuffer({ enableAll: false })],
  });
}

function* readerLoop(api: RingBufferApi, n: number): KPath<void> {
  for (let i = 0; i < n; i++) {
    yield* api.trace('ev', { n: i });
    yield* schedPoint();
  }
}

/** The first violation of each seed (null: clean and finished). */
function sweep(tp: TracepointsOptions, setup: (k: Kernel, api: RingBufferApi) => void): (string | null)[] {
  return SEEDS.map((seed) => {
    const k = kernel(seed, tp);
    const api = k.api['ring-buffer'];
    api.defineTracepoint({ name: 'ev', fields: [{ name: 'n', type: U32 }] });
    setup(k, api);
    const r = k.run({ maxSteps: 200_000 });
    expect(k.log.find((e) => e.type === 'kernel/oops')).toBeUndefined();
    if (r.violations.length === 0) expect(r.done).toBe(true);
    return r.violations[0]?.name ?? null;
  });
}

/** a:da, then b:db, each connected and disconnected again and again through the ring buffer's API (1->0->1). */
function flip(k: Kernel, api: RingBufferApi): void {
  const a = plain('a');
  const b = plain('b');
  k.spawnKthread(function* updater() {
    for (let i = 0; i < 15; i++) {
      yield* api.tracepointProbeRegister('ev', a, 'da');
      yield* schedPoint();
      yield* api.tracepointProbeUnregister('ev', a, 'da');
      yield* api.tracepointProbeRegister('ev', b, 'db');
      yield* schedPoint();
      yield* api.tracepointProbeUnregister('ev', b, 'db');
    }
  });
  k.spawnKthread(() => readerLoop(api, 60), { comm: 'reader' });
}

/** Two probes stay, a third comes and goes: each change publishes a new array and releases the old one. */
function churn(k: Kernel, api: RingBufferApi): void {
  const [a, b, c] = [plain('a'), plain('b'), plain('c')];
  k.spawnKthread(function* updater() {
    yield* api.tracepointProbeRegister('ev', a, 'da');
    yield* api.tracepointProbeRegister('ev', c, 'dc');
    for (let i = 0; i < 15; i++) {
      yield* api.tracepointProbeRegister('ev', b, 'db');
      yield* schedPoint();
      yield* api.tracepointProbeUnregister('ev', b, 'db');
      yield* schedPoint();
    }
  });
  k.spawnKthread(() => readerLoop(api, 40), { comm: 'reader' });
}

describe('SEMANTICS.md 2.2(d) for the ring buffer: its readers are checked by the tracepoints plugin', () => {
  test(`a ring-buffer reader calls a probe only with data registered during its section: without the 1->0->1 wait ('no-transition-sync') a seed breaks ${TRACEPOINTS_INVARIANTS.registeredDuringCall}; with it none of 30 does`, () => {
    expect(sweep({ unsafe: ['no-transition-sync'] }, flip)).toContain(TRACEPOINTS_INVARIANTS.registeredDuringCall);
    expect(sweep({}, flip).every((v) => v === null)).toBe(true);
  });

  test(`the use of a freed probe array by a ring-buffer reader is ${TRACEPOINTS_INVARIANTS.freedArray}: freeing without a grace period ('free-immediately') breaks a seed; the call_rcu release none of 30`, () => {
    expect(sweep({ unsafe: ['free-immediately'] }, churn)).toContain(TRACEPOINTS_INVARIANTS.freedArray);
    expect(sweep({}, churn).every((v) => v === null)).toBe(true);
  });
});

describe('SEMANTICS.md 1(b)/(d): the syscall flag through sys_enter / sys_exit and syscall_regfunc', () => {
  test('R counts sys_enter and sys_exit (0..2), not the syscall events; the walk runs on 0->1 and 1->0 only; I2/I4 are checked after every step', () => {
    const k = kernelWith({ cpus: 2, seed: 1, plugins: [rcuTasks(), tracepoints(), ringBuffer({ enableAll: false })] });
    const api = k.api['ring-buffer'];
    const tp = k.api.tracepoints;
    const probe = plain('p');
    // The user tasks on the list: the sleeper and the task running each k.call.
    const users = () => [...intMapValues(k.state.tasks)].filter((t) => t.listed && !t.kthread && t.exitState === null);
    const flagged = (): boolean | 'mixed' | 'no task' => {
      const f = users().map((t) => t.flags[TIF_SYSCALL_TRACEPOINT] === true);
      if (f.length === 0) return 'no task';
      return f.every((x) => x) ? true : f.every((x) => !x) ? false : 'mixed';
    };
    // set_all / clear_all walks: the tasklist read lock taken (the workload takes none).
    const walks = (): number => k.log.filter((e) => e.type === 'lock/acquired' && e.lock === 'tasklist_lock' && !e.write).length;
    k.spawn(
      function* sleeper(u) {
        for (let i = 0; i < 1000; i++) yield u.compute(1);
      },
      { comm: 'u' },
    );
    k.run({ maxSteps: 10 });
    expect(flagged()).toBe(false);
    // Two entry events: one probe on sys_enter, one walk.
    expect(k.call(api.tracepointProbeRegister('syscall_entry_open', probe))).toBe(0);
    expect(k.call(api.enableEvent('syscall_entry_read'))).toBe(0);
    expect(tp.probes('sys_enter')).toHaveLength(1);
    expect(tp.enabled('sys_exit')).toBe(false);
    expect(flagged()).toBe(true);
    expect(walks()).toBe(1);
    // An exit event: sys_exit's 0->1 runs regfunc, R = 2, no walk (R was not 0).
    expect(k.call(api.enableEvent('syscall_exit_open'))).toBe(0);
    expect(tp.enabled('sys_exit')).toBe(true);
    expect(walks()).toBe(1);
    expect(k.log.filter((e) => e.type === 'tracepoints/regfunc').map((e) => e.name)).toEqual(['sys_enter', 'sys_exit']);
    // Entry events go one by one: sys_enter keeps its probe until the last.
    expect(k.call(api.tracepointProbeUnregister('syscall_entry_open', probe))).toBe(0);
    expect(tp.enabled('sys_enter')).toBe(true);
    expect(k.call(api.disableEvent('syscall_entry_read'))).toBe(0);
    expect(tp.enabled('sys_enter')).toBe(false);
    expect(flagged()).toBe(true); // R = 1 (sys_exit)
    expect(k.call(api.disableEvent('syscall_exit_open'))).toBe(0);
    expect(flagged()).toBe(false);
    expect(walks()).toBe(2);
    expect(k.log.filter((e) => e.type === 'tracepoints/unregfunc').map((e) => e.name)).toEqual(['sys_enter', 'sys_exit']);
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(Object.values(RING_BUFFER_INVARIANTS)).toContain('ring-buffer/syscall-refcount');
  });

  test("a session started before the workload: sys_enter and sys_exit are armed at boot (regfunc's boot form, R = 2), and every user task takes the syscall path", () => {
    const k = kernelWith({ cpus: 2, seed: 1, plugins: [rcuTasks(), tracepoints(), ringBuffer()] });
    expect(k.api.tracepoints.enabled('sys_enter')).toBe(true);
    expect(k.api.tracepoints.enabled('sys_exit')).toBe(true);
    k.spawn(
      function* opener(u) {
        yield u.syscall('open', { path: '/x', flags: 0 });
      },
      { comm: 'u' },
    );
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(k.log.some((e) => e.type === 'tracepoints/regfunc')).toBe(false);
    expect(k.log.some((e) => e.type === 'task/flags' && e.set.includes(TIF_SYSCALL_TRACEPOINT))).toBe(true);
  });
});

describe('SEMANTICS.md 1(e): func_add failing after syscall_regfunc (upstream fad217e16fde)', () => {
  // Allocation 1: syscall_entry_read's probe array (the event's own registration);
  // allocation 2: lttng's syscall probe on sys_enter, after syscall_regfunc counted R = 1.
  function run(tp: TracepointsOptions): { k: Kernel; ret: number; violations: string[] } {
    const k = kernelWith({
      cpus: 2,
      seed: 1,
      faultInjection: true,
      strategy: failAllocs(2),
      plugins: [rcuTasks(), tracepoints(tp), ringBuffer({ enableAll: false })],
    });
    k.spawn(
      function* sleeper(u) {
        for (let i = 0; i < 50; i++) yield u.compute(1);
      },
      { comm: 'u' },
    );
    let ret = 1;
    k.spawnKthread(function* lttng() {
      ret = yield* k.api['ring-buffer'].enableEvent('syscall_entry_read');
    });
    const r = k.run({ maxSteps: 100_000 });
    return { k, ret, violations: r.violations.map((v) => v.name) };
  }

  test('by default the failed connection undoes regfunc: R back to 0, the flag cleared again, every invariant holds', () => {
    const { k, ret, violations } = run({});
    expect(ret).toBe(0); // the event's own registration succeeded; the syscall probe waits for the next change
    expect(k.api.tracepoints.enabled('syscall_entry_read')).toBe(true);
    expect(k.api.tracepoints.enabled('sys_enter')).toBe(false);
    expect(k.log.filter((e) => e.type === 'tracepoints/regfunc' || e.type === 'tracepoints/unregfunc').map((e) => e.type)).toEqual([
      'tracepoints/regfunc',
      'tracepoints/unregfunc',
    ]);
    expect(violations).toEqual([]);
  });

  test('no-regfunc-undo: R stays 1 with no syscall tracepoint on, caught by ring-buffer/syscall-refcount (I2)', () => {
    const { k, violations } = run({ unsafe: 'no-regfunc-undo' });
    expect(k.api.tracepoints.enabled('sys_enter')).toBe(false);
    expect(violations).toEqual([RING_BUFFER_INVARIANTS.syscallRefcount]);
    expect(k.log.some((e) => e.type === 'tracepoints/unregfunc')).toBe(false);
  });
});

describe('SEMANTICS.md 1(d) I1 / 1(e) / 6: the syscall flag walk covers kernel threads (ring-buffer/syscall-flag)', () => {
  // A kernel thread started before the session, looping; then an event on sys_enter is
  // enabled (regfunc's walk) and, with `clear`, disabled again (unregfunc's walk).
  function run(syscallWalk: 'every-thread' | 'skip-kthreads', clear: boolean): { k: Kernel; kworker: number; violations: string[] } {
    const k = kernelWith({ cpus: 2, seed: 1, plugins: [rcuTasks(), tracepoints(), ringBuffer({ enableAll: false, syscallWalk })] });
    const kworker = k.spawnKthread(
      function* kworkerLoop() {
        for (let i = 0; i < 200; i++) yield* schedPoint();
      },
      { comm: 'kworker/0:1' },
    );
    k.spawnKthread(function* lttng() {
      yield* schedPoint();
      yield* k.api['ring-buffer'].enableEvent('syscall_entry_read');
      if (clear) yield* k.api['ring-buffer'].disableEvent('syscall_entry_read');
    });
    const r = k.run({ maxSteps: 100_000 });
    return { k, kworker, violations: r.violations.map((v) => `${v.name}: ${v.message}`) };
  }

  test('by default the walk sets and clears the flag on a kernel thread too, and I1 holds after every step', () => {
    for (const clear of [false, true]) {
      const { k, kworker, violations } = run('every-thread', clear);
      expect(violations).toEqual([]);
      const sets = k.log.filter((e): e is KernelEvent<'task/flags'> => e.type === 'task/flags' && e.pid === kworker);
      expect(sets.map((e) => (e.set.length > 0 ? 'set' : 'clear'))).toEqual(clear ? ['set', 'clear'] : ['set']);
    }
  });

  test("syscallWalk: 'skip-kthreads' leaves the kernel thread out of the walk: ring-buffer/syscall-flag names it", () => {
    const { kworker, violations } = run('skip-kthreads', false);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(
      new RegExp(`^ring-buffer/syscall-flag: pid ${kworker} \\(kworker/0:1, a kernel thread\\) is on the task list without TIF_SYSCALL_TRACEPOINT`),
    );
  });
});
