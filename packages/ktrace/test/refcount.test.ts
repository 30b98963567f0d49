import { describe, expect, it } from 'vitest';
import {
  EINVAL,
  TracelabError,
  createKernel,
  current,
  emit,
  intMapGet,
  intMapValues,
  msleep,
  schedPoint,
  type Kernel,
  type KPath,
  type Program,
} from '@tracelab/core';
import { KERNEL_TRACE_MUTEX, TIF_KERNEL_TRACE, ktrace, type KtraceOptions } from '@tracelab/ktrace';
import { eventsOf, expectClean, seeds } from '@tracelab/testing';
import { daemon } from './helpers.js';

const sleeper: Program = function* sleeper(u) {
  for (let i = 0; i < 50; i++) yield u.sleep(100);
};

function listedFlags(k: Kernel): boolean[] {
  return [...intMapValues(k.state.tasks)].filter((t) => t.listed && !t.kthread).map((t) => t.flags[TIF_KERNEL_TRACE] === true);
}

describe('refcount transitions', () => {
  it('walks on 0→1 and 1→0 only; 1→2 and 2→1 just count', () => {
    const k = createKernel({ cpus: 2, seed: 7, plugins: [ktrace()] });
    for (let i = 0; i < 3; i++) k.spawn(sleeper, { comm: `s${i}` });
    // Let them start: a host-started task is on the task list once its fork tail has run.
    k.run({ until: (s) => [1, 2, 3].every((pid) => intMapGet(s.tasks, pid)?.listed === true) });
    const walks = () => eventsOf(k, 'ktrace/walk-start').map((e) => e.op);
    const api = k.api.ktrace;

    expect(k.call(api.setKernelTraceFlagAllTasks())).toBe(0); // 0 → 1: walk
    expect(api.refcount()).toBe(1);
    expect(walks()).toEqual(['set']);
    expect(listedFlags(k)).toEqual([true, true, true]);
    expect([1, 2, 3].map((pid) => api.isTraced(pid))).toEqual([true, true, true]);

    expect(k.call(api.setKernelTraceFlagAllTasks())).toBe(0); // 1 → 2: no walk
    expect(api.refcount()).toBe(2);
    expect(walks()).toEqual(['set']);

    expect(k.call(api.clearKernelTraceFlagAllTasks())).toBe(0); // 2 → 1: no walk, still traced
    expect(api.refcount()).toBe(1);
    expect(walks()).toEqual(['set']);
    expect(listedFlags(k)).toEqual([true, true, true]);

    expect(k.call(api.clearKernelTraceFlagAllTasks())).toBe(0); // 1 → 0: walk clears
    expect(api.refcount()).toBe(0);
    expect(walks()).toEqual(['set', 'clear']);
    expect(listedFlags(k)).toEqual([false, false, false]);
    expect(api.isTraced(1)).toBe(false);

    const slice = k.state.plugins.ktrace!;
    expect(slice).toMatchObject({ refcount: 0, sets: 2, clears: 2, inFlight: 0, walk: null, walks: 2 });
    // The walk visits every thread on the list, kernel threads included (the kcall threads).
    const end = eventsOf(k, 'ktrace/walk-end')[0]!;
    expect(end.visited).toBeGreaterThanOrEqual(4);
    expectClean(k, k.run());
  });

  it('an unbalanced clear returns -EINVAL and leaves the refcount at 0 (it never goes negative)', () => {
    const k = createKernel({ cpus: 1, plugins: [ktrace()] });
    expect(k.call(k.api.ktrace.clearKernelTraceFlagAllTasks())).toBe(-EINVAL);
    expect(k.api.ktrace.refcount()).toBe(0);
    expect(k.state.plugins.ktrace).toMatchObject({ sets: 0, clears: 0, inFlight: 0 });
    expect(k.log.some((e) => e.type === 'kernel/printk' && /unbalanced clear/.test(e.text))).toBe(true);
    expect(eventsOf(k, 'ktrace/walk-start')).toEqual([]);
  });

  it('the refcount and the walk run under kernel_trace_mutex, the walk under the tasklist read lock', () => {
    const k = createKernel({ cpus: 2, seed: 3, plugins: [ktrace()] });
    k.spawn(sleeper);
    const held: string[] = [];
    const sub = k.events$.subscribe((e) => {
      if (e.type === 'ktrace/refcount' || e.type === 'ktrace/walk-start') {
        const s = k.stateAt(e.seq);
        const m = s.locks[KERNEL_TRACE_MUTEX];
        const t = s.locks.tasklist_lock;
        held.push(`${e.type}: mutex ${m?.kind === 'mutex' && m.owner === e.pid ? 'held' : 'free'}`);
        if (e.type === 'ktrace/walk-start') held.push(`tasklist read ${t?.kind === 'rwlock' && t.readers.includes(e.pid) ? 'held' : 'free'}`);
      }
    });
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    sub.unsubscribe();
    expect(held).toEqual(['ktrace/refcount: mutex held', 'ktrace/walk-start: mutex held', 'tasklist read held']);
  });

  it('concurrent setters and clearers: one walk per transition, walks never overlap, the count is exact', () => {
    for (const seed of seeds(100)) {
      const k = createKernel({ cpus: 2, seed, plugins: [ktrace()] });
      for (let d = 0; d < 3; d++) k.spawn(daemon, { comm: 'daemon' });
      const api = k.api.ktrace;
      const session = (after: number, hold: number) =>
        (function* (): KPath<void> {
          yield* msleep(after);
          yield* api.setKernelTraceFlagAllTasks();
          if (hold > 0) yield* msleep(hold);
          else yield* schedPoint();
          yield* api.clearKernelTraceFlagAllTasks();
        })();
      k.spawnKthread(session(1, 0), { comm: 'tracer-a' });
      k.spawnKthread(session(1, 2), { comm: 'tracer-b' });
      k.spawnKthread(session(2, 0), { comm: 'tracer-c' });
      const result = k.run();
      expectClean(k, result);
      // Walk start/end strictly alternate (the mutex), and each walk is a transition.
      const walkEvents = k.log.filter((e) => e.type === 'ktrace/walk-start' || e.type === 'ktrace/walk-end').map((e) => e.type);
      for (let i = 0; i < walkEvents.length; i++) expect(walkEvents[i]).toBe(i % 2 === 0 ? 'ktrace/walk-start' : 'ktrace/walk-end');
      const values = eventsOf(k, 'ktrace/refcount').map((e) => e.value);
      const transitions = values.filter((v, i) => (v === 1 && (i === 0 || values[i - 1] === 0)) || v === 0).length;
      expect(eventsOf(k, 'ktrace/walk-start').length).toBe(transitions);
      expect(k.state.plugins.ktrace).toMatchObject({ refcount: 0, sets: 3, clears: 3 });
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('refcountOutsideMutex: true', () => {
  const setup = (seed: number, options: KtraceOptions) => {
    const k = createKernel({ cpus: 2, seed, plugins: [ktrace(options)] });
    for (let d = 0; d < 3; d++) k.spawn(daemon, { comm: 'daemon' });
    const api = k.api.ktrace;
    // Two tracer sessions: one starts tracing as the other stops.
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* api.setKernelTraceFlagAllTasks();
        yield* msleep(2);
        yield* api.clearKernelTraceFlagAllTasks();
      })(),
      { comm: 'tracer-a' },
    );
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* msleep(2);
        yield* api.setKernelTraceFlagAllTasks();
        yield* msleep(50);
      })(),
      { comm: 'tracer-b' },
    );
    return k;
  };

  it('loses updates or runs walks out of order on some seeds; the default is clean on the same seeds', () => {
    const t0 = process.hrtime.bigint();
    const names = new Set<string>();
    let failing = 0;
    let raced = 0;
    for (const seed of seeds(300)) {
      const safe = setup(seed, {});
      expectClean(safe, safe.run());
      expect(safe.api.ktrace.refcount()).toBe(1);
      // Did this seed hit the race window: kernel_trace_mutex contended, or two calls in flight at once?
      const contended = eventsOf(safe, 'lock/wait').some((e) => e.lock === KERNEL_TRACE_MUTEX);
      let inFlight = 0;
      let overlapped = false;
      for (const e of safe.log) {
        if (e.type === 'ktrace/call') overlapped ||= ++inFlight >= 2;
        else if (e.type === 'ktrace/return') inFlight--;
      }
      if (contended || overlapped) raced++;
      const unsafe = setup(seed, { refcountOutsideMutex: true });
      const r = unsafe.run();
      if (r.violations.length > 0) {
        failing++;
        names.add(r.violations[0]!.name);
      }
    }
    process.stdout.write(
      `refcountOutsideMutex: ${failing}/300 seeds fail (${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms, both stacks); invariants hit: ${[...names].join(', ')}; default raced on ${raced}/300\n`,
    );
    // "Clean" means something only if the default ran into the window on many of the seeds.
    // (132 of 300 since host-started tasks run their own fork tail: the daemons start later.)
    expect(raced).toBeGreaterThanOrEqual(100);
    expect(failing).toBeGreaterThan(0);
    // Both failure modes show up: a lost update, and a clear walk that ran after a set walk.
    expect([...names].sort()).toEqual(['ktrace/flag', 'ktrace/refcount']);
  });
});

describe('the invariants', () => {
  it('ktrace/flag catches a listed thread that lost the flag while the refcount is positive', () => {
    const k = createKernel({ cpus: 1, plugins: [ktrace()] });
    const pid = k.spawn(sleeper);
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    expect(() =>
      k.call(
        (function* (): KPath<void> {
          yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_KERNEL_TRACE] });
          yield* schedPoint();
        })(),
      ),
    ).toThrow(/ktrace\/flag/);
    expect(k.violations[0]!.message).toMatch(new RegExp(`pid ${pid} .*without TIF_KERNEL_TRACE while the refcount is 1`));
  });

  it('ktrace/flag catches a thread that keeps the flag after the last clear', () => {
    const k = createKernel({ cpus: 1, plugins: [ktrace()] });
    const pid = k.spawn(sleeper);
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    k.call(k.api.ktrace.clearKernelTraceFlagAllTasks());
    expect(() =>
      k.call(
        (function* (): KPath<void> {
          yield* emit({ type: 'task/flags', pid, set: [TIF_KERNEL_TRACE], clear: [] });
          yield* schedPoint();
        })(),
      ),
    ).toThrow(/ktrace\/flag/);
    expect(k.violations[0]!.message).toMatch(/still has TIF_KERNEL_TRACE with the refcount at 0/);
  });

  it('a caller that dies part-way is dropped from the calls in flight, so the checks come back on', () => {
    const k = createKernel({ cpus: 1, plugins: [ktrace()] });
    const pid = k.spawn(sleeper);
    let caller = -1;
    // A set caller killed by an oops after entering, before storing the refcount. (Any oops in
    // ktrace's own code would disable ktrace; here the caller's own path dies, blamed on no plugin.)
    expect(() =>
      k.call(
        (function* (): KPath<void> {
          const me = yield* current();
          caller = me.pid;
          yield* emit({ type: 'ktrace/call', op: 'set', pid: me.pid });
          yield* schedPoint();
          throw new Error('caller dies');
        })(),
      ),
    ).toThrow(/caller dies/);
    // The killed caller leaves through do_exit.
    k.run({ until: () => eventsOf(k, 'task/exit').some((e) => e.pid === caller) });
    expect(eventsOf(k, 'task/exit').some((e) => e.pid === caller)).toBe(true);
    expect(k.state.kernel.disabledPlugins).toEqual({});
    expect(k.state.plugins.ktrace).toMatchObject({ inFlight: 0, refcount: 0, sets: 0 });
    expect(k.state.plugins.ktrace!.callers).toEqual({});
    // The invariants are live again: a set and a tampered flag are caught.
    k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
    expect(k.api.ktrace.isTraced(pid)).toBe(true);
    expect(() =>
      k.call(
        (function* (): KPath<void> {
          yield* emit({ type: 'task/flags', pid, set: [], clear: [TIF_KERNEL_TRACE] });
          yield* schedPoint();
        })(),
      ),
    ).toThrow(/ktrace\/flag/);
  });

  it('a caller that dies after storing the refcount counts as a set: no false lost update, but the walk it never ran is reported', () => {
    const k = createKernel({ cpus: 1, plugins: [ktrace()] });
    let caller = -1;
    expect(() =>
      k.call(
        (function* (): KPath<void> {
          const me = yield* current();
          caller = me.pid;
          yield* emit({ type: 'ktrace/call', op: 'set', pid: me.pid });
          yield* emit({ type: 'ktrace/refcount', op: 'set', pid: me.pid, value: 1 });
          yield* schedPoint();
          throw new Error('caller dies');
        })(),
      ),
    ).toThrow(/caller dies/);
    // The killed caller leaves through do_exit.
    k.run({ until: () => eventsOf(k, 'task/exit').some((e) => e.pid === caller) });
    expect(eventsOf(k, 'task/exit').some((e) => e.pid === caller)).toBe(true);
    expect(k.state.plugins.ktrace).toMatchObject({ inFlight: 0, refcount: 1, sets: 1, clears: 0 });
    expect(k.state.plugins.ktrace!.callers).toEqual({});
    // ktrace/refcount agrees (1 = 1 set - 0 clears); ktrace/flag rightly reports the threads the
    // dead caller never flagged.
    expect(k.violations.map((v) => v.name)).toEqual(['ktrace/flag']);
  });

  it('host-started tasks fork themselves: one started while traced gets the flag in its own fork tail, under the tasklist lock', () => {
    for (const seed of seeds(10)) {
      const k = createKernel({ cpus: 2, seed, plugins: [ktrace()] });
      k.call(k.api.ktrace.setKernelTraceFlagAllTasks());
      const late = k.spawn(sleeper, { comm: 'late' });
      const kt = k.spawnKthread(function* lateKthread() {
        yield* msleep(5);
      });
      // Not on the task list yet: its fork tail has not run.
      expect(intMapGet(k.state.tasks, late)?.listed).toBe(false);
      expect(k.run({ maxSteps: 50 }).violations).toEqual([]);
      expect(k.api.ktrace.isTraced(late)).toBe(true);
      // The flag was written by its own fork hook (parent 0), not by a walk: the only walk
      // ran before it was started.
      const spawned = eventsOf(k, 'task/spawned').find((e) => e.pid === late)!;
      expect(eventsOf(k, 'ktrace/walk-start').every((w) => w.seq < spawned.seq)).toBe(true);
      const flagged = eventsOf(k, 'task/flags').find((e) => e.pid === late)!;
      expect(flagged.set).toEqual([TIF_KERNEL_TRACE]);
      expect(eventsOf(k, 'task/flags').some((e) => e.pid === kt && e.set.includes(TIF_KERNEL_TRACE))).toBe(true);
      // After the clear, a newly started task stays unflagged.
      k.call(k.api.ktrace.clearKernelTraceFlagAllTasks());
      const later = k.spawn(sleeper, { comm: 'later' });
      expect(k.run({ maxSteps: 50 }).violations).toEqual([]);
      expect(k.api.ktrace.isTraced(later)).toBe(false);
      expect(k.api.ktrace.isTraced(late)).toBe(false);
    }
  });
});

describe('options', () => {
  it('rejects options of the wrong type with INVALID_OPTION', () => {
    expect(() => ktrace({ walk: 'list' as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => ktrace({ forkRecopy: 'no' as never })).toThrow(/forkRecopy must be true, false, 'after-link', 'before-link' or 'before-lock'/);
    expect(ktrace().options).toEqual({ forkRecopy: true, walk: 'tasklist', refcountOutsideMutex: false, checks: true });
  });

  it("records forkRecopy 'after-link' as true and rcuView only when 'live', so logs recorded before these options replay", () => {
    expect(ktrace({ forkRecopy: 'after-link' }).options).toEqual(ktrace().options);
    expect(ktrace({ forkRecopy: 'before-link' }).options).toMatchObject({ forkRecopy: 'before-link' });
    expect(ktrace({ forkRecopy: 'before-lock' }).options).toMatchObject({ forkRecopy: 'before-lock' });
    expect(ktrace({ walk: 'rcu', rcuView: 'version' }).options).not.toHaveProperty('rcuView');
    expect(ktrace({ walk: 'rcu', rcuView: 'live' }).options).toMatchObject({ walk: 'rcu', rcuView: 'live' });
    expect(() => ktrace({ rcuView: 'fresh' as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('rejects unknown option keys and non-object options with INVALID_OPTION', () => {
    const typo = (() => {
      try {
        ktrace({ forkRecopie: false } as never);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(typo).toBeInstanceOf(TracelabError);
    expect(typo).toMatchObject({ code: 'INVALID_OPTION', detail: { option: 'forkRecopie' } });
    expect((typo as Error).message).toMatch(/unknown option "forkRecopie"/);
    expect((typo as Error).message).toMatch(/forkRecopy, walk, rcuView, refcountOutsideMutex, checks/);
    for (const bad of [null, 'rcu', [], 1]) {
      expect(() => ktrace(bad as never), JSON.stringify(bad)).toThrow(expect.objectContaining({ name: 'TracelabError', code: 'INVALID_OPTION' }));
    }
    expect(() => ktrace(undefined)).not.toThrow();
  });
});
