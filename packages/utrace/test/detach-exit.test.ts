/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { describe, expect, test } from 'vitest';
import { EALREADY, EINPROGRESS, ESRCH, createKernel, getState, msleep, type Kernel, type KPath, type Program } from '@tracelab/core';
import {
  UTRACE_ATTACH_CREATE,
  UTRACE_DETACH,
  UTRACE_EVENT_DEATH,
  UTRACE_EVENT_REAP,
  UTRACE_INVARIANTS,
  UTRACE_RESUME,
  attachSyscallLogger,
  detachEngine,
  utrace,
  type UtraceApi,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { eventsOf, expectClean, kernelWith } from '@tracelab/testing';
import { call } from './helpers.js';

/** A traced task that opens a few files (the logger reads each path from its memory) and exits at once. */
function app(opens: number): Program {
  return function* app(u) {
    for (let i = 0; i < opens; i++) yield u.syscall('open', { path: `/var/log/app${i}.log`, flags: 0 });
  };
}

/** A second engine on the task whose report_death sleeps: a long death pass, which the reap may have to wait for. */
const slowDeath: UtraceEngineOps<null> = {
  name: 'slow-death',
  *reportDeath() {
    yield* msleep(2);
    return UTRACE_RESUME;
  },
};

/** The tracer (pid of its own): attach the logger (and maybe the slow-death engine), watch `after` ticks, detach. */
function* tracer(api: UtraceApi, pid: number, after: number, death: boolean, barrier: boolean): KPath<number> {
  const e = yield* attachSyscallLogger(api, pid);
  if (typeof e === 'number') return e;
  if (death) {
    // Its reference is kept for the whole run: the reap drops the engine.
    const d = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, slowDeath, null);
    if (typeof d !== 'number') yield* api.setEvents(pid, d, UTRACE_EVENT_DEATH | UTRACE_EVENT_REAP);
  }
  yield* msleep(after);
  return yield* detachEngine(api, pid, e, { barrier });
}

/**
 * Seed `seed` (random strategy, 2 CPUs): the app is released by itself (no parent: release_task
 * in its own exit) or by its parent in wait4; with or without a slow report_death on another
 * engine; the tracer detaches 1..4 ticks after attaching, around the app's exit.
 */
function exitKernel(seed: number, barrier: boolean): { k: Kernel; tracerPid: number } {
  const k = createKernel({ cpus: 2, seed, plugins: [utrace()] });
  const opens = 1 + (seed % 3);
  const death = seed % 4 >= 2;
  let pid: number;
  if (seed % 2 === 0) {
    pid = k.spawn(app(opens), { comm: 'app' });
  } else {
    const kids: number[] = [];
    k.spawn(
      function* sh(u) {
        kids.push(yield u.fork(app(opens)));
        yield u.wait();
      },
      { comm: 'sh' },
    );
    k.run({ until: () => kids.length > 0 });
    pid = kids[0]!;
  }
  const tracerPid = k.spawnKthread(tracer(k.api.utrace, pid, 1 + (seed % 4), death, barrier), { comm: 'tracer' });
  return { k, tracerPid };
}

const SEEDS = 300;

describe("detach racing the traced task's exit and reap", () => {
  test(`with the barrier, the tracer never frees what report_death or report_reap still use (${SEEDS} seeds), and the exit is really raced`, () => {
    const failing: string[] = [];
    const first = new Map<number, number>();
    const runs: Array<{ k: Kernel; tracerPid: number }> = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = exitKernel(seed, true);
      const r = run.k.run();
      if (r.violations.length > 0) failing.push(`seed ${seed}: ${r.violations[0]!.name}: ${r.violations[0]!.message}`);
      else if (!r.done) failing.push(`seed ${seed}: the run did not finish`);
      else runs.push(run);
    }
    console.log(`detach vs exit, barrier: ${failing.length} of ${SEEDS} seeds fail${failing.length > 0 ? ` (first: ${failing[0]})` : ''}`);
    expect(failing).toEqual([]);
    let reapAfterEsrch = 0;
    for (const { k, tracerPid } of runs) {
      const controls = eventsOf(k, 'utrace/control').filter((c) => c.by === tracerPid && c.action === 6);
      const ret = controls[0]!.ret;
      first.set(ret, (first.get(ret) ?? 0) + 1);
      const logger = eventsOf(k, 'utrace/engine-attached')[0]!.engine;
      const freed = eventsOf(k, 'utrace/engine-freed').find((f) => f.engine === logger)!;
      // The tracer's put (which frees its data) comes after the engine's last callback.
      const lastCallback = k.log.filter((e) => (e.type === 'utrace/callback' || e.type === 'utrace/callback-return') && e.engine === logger).at(-1);
      if (lastCallback !== undefined) expect(lastCallback.seq).toBeLessThan(freed.seq);
      if (ret === -ESRCH) {
        // The reap had begun: the tracer's put came only after the reaper dropped the list's
        // reference (after the engine's report_reap, which may itself come after the DETACH).
        const reaped = eventsOf(k, 'utrace/engine-reaped').find((e) => e.engine === logger)!;
        expect(reaped.seq).toBeLessThan(freed.seq);
        if (eventsOf(k, 'utrace/callback').some((c) => c.engine === logger && c.callback === 'reportReap' && c.seq > controls[0]!.seq)) reapAfterEsrch++;
      }
      // -EALREADY: report_death was running; the tracer detached again once it was over.
      if (ret === -EALREADY) expect(controls.at(-1)!.ret).not.toBe(-EALREADY);
    }
    console.log(
      `  first control(DETACH) returned ${JSON.stringify(Object.fromEntries(first))}; report_reap ran after the tracer's -ESRCH on ${reapAfterEsrch} seeds`,
    );
    // The windows are really hit: the reap had begun (-ESRCH), report_death was running
    // (-EALREADY), a syscall callback was running (-EINPROGRESS).
    expect(first.get(-ESRCH) ?? 0).toBeGreaterThan(0);
    expect(first.get(-EALREADY) ?? 0).toBeGreaterThan(0);
    expect(first.get(-EINPROGRESS) ?? 0).toBeGreaterThan(0);
    expect(reapAfterEsrch).toBeGreaterThan(0);
  });

  test('without the barrier, the same seeds find the use-after-free, report_reap on freed data among them', () => {
    const failing: number[] = [];
    let viaReap = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { k } = exitKernel(seed, false);
      const r = k.run();
      if (r.violations.length === 0) continue;
      expect(r.violations[0]!.name).toBe(UTRACE_INVARIANTS.lifetime);
      failing.push(seed);
      if (/reportReap called on engine \d+ \(syscall-logger\) in pid \d+ after its data was freed/.test(r.violations[0]!.message)) viaReap++;
    }
    console.log(
      `detach vs exit, no barrier: ${failing.length} of ${SEEDS} seeds find the use-after-free (first: seed ${failing[0]}), ${viaReap} of them in report_reap`,
    );
    expect(failing.length).toBeGreaterThan(0);
    expect(viaReap).toBeGreaterThan(0);
  });

  test("the list's reference: an engine on the reaper's list outlives the tracer's put; barrier waits for its report_reap", () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const u = k.api.utrace;
    const seen: Array<{ listed: boolean; detached: boolean; freed: boolean }> = [];
    const slowReap: UtraceEngineOps<null> = {
      name: 'slow-reap',
      *reportReap(engine) {
        // In the reaper, with the engine already off the task's lists: the reaper's list holds it.
        const e = (yield* getState()).plugins.utrace!.engines[engine.id]!;
        seen.push({ listed: e.listed, detached: e.detached, freed: e.freed });
        yield* msleep(3);
      },
    };
    const pid = k.spawn(
      function* w(u2) {
        yield u2.sleep(10);
      },
      { comm: 'w' },
    );
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, slowReap, null)) as UtraceEngine;
    expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_REAP))).toBe(0);
    const out = call(
      k,
      (function* () {
        // Wait for the reap to begin (the task released itself: it has no parent).
        while ((yield* getState()).plugins.utrace?.tasks[pid]?.reap !== true) yield* msleep(1);
        const detach = yield* u.control(pid, e, UTRACE_DETACH);
        const listed = u.engineState(e)!.listed;
        const barrier = yield* u.barrier(pid, e);
        yield* u.enginePut(e);
        return { detach, listed, barrier };
      })(),
    );
    expectClean(k, k.run());
    expect(out).toEqual({ detach: -ESRCH, listed: true, barrier: -ESRCH });
    expect(seen).toEqual([{ listed: true, detached: true, freed: false }]);
    // report_reap returned, then the reaper dropped the list's reference, then the tracer put its own.
    const returned = eventsOf(k, 'utrace/callback-return').find((r) => r.engine === e.id && r.callback === 'reportReap')!;
    const reaped = eventsOf(k, 'utrace/engine-reaped').find((r) => r.engine === e.id)!;
    const freed = eventsOf(k, 'utrace/engine-freed').find((f) => f.engine === e.id)!;
    expect(returned.seq).toBeLessThan(reaped.seq);
    expect(reaped.seq).toBeLessThan(freed.seq);
    // Both references gone: the engine itself is gone.
    expect(u.engineState(e)).toBeUndefined();
  });

  test('a tracer that puts its last reference and leaves its engine attached: the engine lives on, and its next callback is the use-after-free', () => {
    const k = kernelWith({ plugins: [utrace()], seed: 1 });
    const u = k.api.utrace;
    const reaps: number[] = [];
    const ops: UtraceEngineOps<null> = {
      name: 'forgetful',
      *reportReap(_e, task) {
        reaps.push(task);
      },
    };
    const pid = k.spawn(
      function* w(u2) {
        yield u2.sleep(10);
      },
      { comm: 'w' },
    );
    const e = call(k, u.attachTask(pid, UTRACE_ATTACH_CREATE, ops, null)) as UtraceEngine;
    expect(call(k, u.setEvents(pid, e, UTRACE_EVENT_REAP))).toBe(0);
    call(k, u.enginePut(e));
    // The data is freed; the engine is still on the task's list.
    expect(u.engineState(e)).toMatchObject({ refs: 0, freed: true, listed: true, detached: false });
    const r = k.run();
    expect(r.violations[0]?.name).toBe(UTRACE_INVARIANTS.lifetime);
    expect(r.violations[0]?.message).toMatch(/reportReap called on engine \d+ \(forgetful\) in pid \d+ after its data was freed/);
  });
});
