/**
 * SEMANTICS.md 3(e): utrace_set_events racing exit_notify. New death events go into utrace_flags
 * under the tasklist read lock after a fresh look at exit_state; exit_notify sets exit_state
 * under the write lock and tracehook_report_death reads utrace_flags after it (past the write
 * unlock, a scheduling point). So either set_events comes first and report_death follows, or it
 * sees exit_state and says -EALREADY. Never flags set after report_death looked (the engine then
 * waits for a report_death that never comes, and release_task defers its reap for ever).
 */
import { describe, expect, test } from 'vitest';
import { EALREADY, ESRCH, createKernel, schedPoint, type Kernel, type KPath } from '@tracelab/core';
import { UTRACE_ATTACH_CREATE, UTRACE_EVENT_DEATH, UTRACE_RESUME, utrace, type UtraceEngine, type UtraceEngineOps } from '@tracelab/utrace';
import { withFaults, type UtraceFaults } from '../src/internal/faults.js';
import { call } from './helpers.js';

interface Race {
  k: Kernel;
  pid: number;
  engine: UtraceEngine;
  ret: number;
  deaths: number;
  reaped: boolean;
  /** Log positions: the tracer's set_events (its `utrace/events-set`, or where it returned), and the task's exit_state. */
  setAt: number;
  zombieAt: number;
}

/**
 * A task sleeps, makes a few syscalls and exits (it reaps itself). A tracer on the other CPU
 * attaches an engine with no events, lets `seed % 12` scheduling points pass (which lands its
 * set_events before, during or after the exit, depending on the seed), then asks for DEATH.
 */
function race(seed: number, faults: UtraceFaults = {}): Race {
  const k = createKernel({ cpus: 2, seed, plugins: [utrace(withFaults({}, faults))] });
  const u = k.api.utrace;
  let deaths = 0;
  const ops: UtraceEngineOps<null> = {
    name: 'late-death',
    reportDeath() {
      deaths++;
      return UTRACE_RESUME;
    },
  };
  const pid = k.spawn(function* app(u2) {
    yield u2.sleep(2);
    for (let i = 0; i < 3; i++) yield u2.syscall('getpid');
    yield u2.exit(0);
  });
  const out: { engine: UtraceEngine | null; ret: number; at: number } = { engine: null, ret: 1, at: -1 };
  k.spawnKthread(
    (function* tracer(): KPath<void> {
      const e = yield* u.attachTask(pid, UTRACE_ATTACH_CREATE, ops, null);
      if (typeof e === 'number') throw new Error(`attach: ${e}`);
      out.engine = e;
      for (let i = 0; i < seed % 12; i++) yield* schedPoint();
      out.ret = yield* u.setEvents(pid, e, UTRACE_EVENT_DEATH);
      out.at = k.log.length;
    })(),
    { comm: 'tracer' },
  );
  const r = k.run();
  expect(r.violations).toEqual([]);
  expect(r.done).toBe(true);
  const engine = out.engine!;
  const log = k.log;
  const set = log.findIndex((e) => e.type === 'utrace/events-set' && e.engine === engine.id);
  const zombieAt = log.findIndex((e) => e.type === 'task/zombie' && e.pid === pid);
  const reaped = log.some((e) => e.type === 'utrace/engine-reaped' && e.engine === engine.id);
  return { k, pid, engine, ret: out.ret, deaths, reaped, setAt: set >= 0 ? set : out.at, zombieAt };
}

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

describe('SEMANTICS.md 3(e) set_events racing exit_notify (the tasklist read lock)', () => {
  test('both orders happen, and each is consistent: 0 before exit_state (report_death comes), -EALREADY after it (no report_death), -ESRCH once reaped; the engine is reaped either way', () => {
    const seen = { before: 0, already: 0, reaped: 0 };
    for (const seed of SEEDS) {
      const r = race(seed);
      expect([0, -EALREADY, -ESRCH]).toContain(r.ret);
      expect(r.reaped).toBe(true);
      if (r.ret === 0) {
        seen.before++;
        expect(r.setAt).toBeLessThan(r.zombieAt);
        expect(r.deaths).toBe(1);
      } else {
        if (r.ret === -EALREADY) seen.already++;
        else seen.reaped++;
        expect(r.setAt).toBeGreaterThan(r.zombieAt);
        expect(r.deaths).toBe(0);
      }
      // After the reap the engine is gone: set_events says -ESRCH.
      expect(call(r.k, r.k.api.utrace.setEvents(r.pid, r.engine, 0))).toBe(-ESRCH);
    }
    expect(seen.before).toBeGreaterThan(0);
    expect(seen.already).toBeGreaterThan(0);
    expect(seen.reaped).toBeGreaterThan(0);
  });

  test('without the read lock (a test-only fault: check exit_state, then set the flags after a scheduling point), set_events says 0 on some seed where report_death never comes and the engine is never reaped', () => {
    const broken = SEEDS.map((seed) => race(seed, { setEventsSkipsTasklistLock: true })).filter((r) => r.ret === 0 && r.deaths === 0);
    expect(broken.length).toBeGreaterThan(0);
    for (const r of broken) {
      // The flags were set after exit_notify had set exit_state (and report_death had looked).
      expect(r.setAt).toBeGreaterThan(r.zombieAt);
      expect(r.reaped).toBe(false);
      expect(r.k.log.some((e) => e.type === 'utrace/reap' && e.pid === r.pid && e.deferred === true)).toBe(true);
    }
  });
});
