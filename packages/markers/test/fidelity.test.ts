/**
 * Issue 22: the markers semantics of SEMANTICS.md 2.1 that had no test, and the rcu_pending
 * invariant seen firing. Each test names its section.
 */
import { describe, expect, it } from 'vitest';
import { createKernel, msleep, type Kernel, type KPath } from '@tracelab/core';
import { markers, type MarkerProbe, type MarkersOptions } from '@tracelab/markers';
import { withFaults, type MarkersFaults } from '../src/internal/faults.js';
import { eventsOf, kernelWith, nop } from './helpers.js';

const FMT = 'v %d';
const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);

function kernel(seed: number, options: MarkersOptions = {}, faults: MarkersFaults = {}): Kernel {
  return createKernel({ cpus: 2, seed, plugins: [markers(withFaults({ coreMarkers: false, ...options }, faults))] });
}

describe('SEMANTICS.md 2.1(b) marker_synchronize_unregister', () => {
  /**
   * A reader marks `ev` in a loop; a writer unregisters the probe, then (if `sync`) calls
   * marker_synchronize_unregister, then "frees" the probe's private data. Returns whether the
   * probe ran on freed data.
   */
  function usedAfterFree(seed: number, sync: boolean): boolean {
    const k = kernel(seed);
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    const priv = { freed: false };
    let bad = false;
    const probe: MarkerProbe = (p) => {
      if ((p as typeof priv).freed) bad = true;
    };
    // Two probes: unregistering one is the N->1 transition, which keeps the entry (removing it
    // would wait for the pending free, a grace period, inside the unregistration itself).
    k.call(api.probeRegister('ev', FMT, nop()));
    k.call(api.probeRegister('ev', FMT, probe, priv));
    k.spawnKthread(
      (function* reader(): KPath<void> {
        for (let i = 0; i < 100; i++) yield* api.mark('ev', null, i);
      })(),
      { comm: 'reader' },
    );
    k.spawnKthread(
      (function* writer(): KPath<void> {
        yield* msleep(1 + (seed % 5));
        yield* api.probeUnregister('ev', probe, priv);
        if (sync) yield* api.synchronizeUnregister();
        priv.freed = true; // kfree(probe_private)
      })(),
      { comm: 'writer' },
    );
    k.run();
    expect(k.violations).toEqual([]);
    return bad;
  }

  it('with it, no reader ever runs the probe on freed private data; without it, some seed does', () => {
    // The window is one scheduling point of the reader (between reading the probe and calling
    // it) against the whole unregistration.
    const many = Array.from({ length: 60 }, (_, i) => i + 1);
    const without = many.filter((seed) => usedAfterFree(seed, false));
    expect(without.length).toBeGreaterThan(0);
    expect(many.filter((seed) => usedAfterFree(seed, true))).toEqual([]);
  });

  it('waits for a full RCU-sched grace period', () => {
    const k = kernelWith();
    const before = k.state.rcu.completed;
    k.call(k.api.markers.synchronizeUnregister());
    expect(k.state.rcu.completed).toBeGreaterThan(before);
  });
});

describe('SEMANTICS.md 2.1(d) rcu_pending => exactly one old array in flight (markers/rcu-pending)', () => {
  /** Two threads churn probes on one marker. The first violation, if any. */
  function churn(seed: number, options: MarkersOptions, faults: MarkersFaults): { name: string; message: string } | undefined {
    const k = kernel(seed, options, faults);
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    for (let t = 0; t < 2; t++) {
      const probes = [nop(), nop()];
      k.spawnKthread(
        (function* churner(): KPath<void> {
          for (let i = 0; i < 6; i++) {
            for (const p of probes) yield* api.probeRegister('ev', FMT, p);
            for (const p of probes) yield* api.probeUnregister('ev', p);
          }
        })(),
        { comm: `churn${t}` },
      );
    }
    k.run({ maxSteps: 100_000 });
    return k.violations[0];
  }

  it('fires when rcu_barrier_sched is skipped: the one rcu_head is reused with a free in flight', () => {
    const k = kernel(1, {}, { skipRcuBarrier: true });
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    expect(() =>
      k.call(
        (function* () {
          yield* api.probeRegister('ev', FMT, nop());
          yield* api.probeRegister('ev', FMT, nop());
        })(),
      ),
    ).toThrow(/markers\/rcu-pending violated: marker ev: 2 frees in flight on its one rcu_head/);
    // With the barrier, the same two registrations are clean.
    const ok = kernel(1);
    ok.api.markers.defineMarker('ev', FMT);
    ok.call(
      (function* () {
        yield* ok.api.markers.probeRegister('ev', FMT, nop());
        yield* ok.api.markers.probeRegister('ev', FMT, nop());
      })(),
    );
    ok.run();
    expect(ok.violations).toEqual([]);
  });

  it('rcu_pending sharing a word with ptype (seed 001): harmless while rcu_barrier_sched orders the callback before every ptype write', () => {
    for (const seed of SEEDS) expect(churn(seed, { rcuPendingBitfield: true }, {})?.message).toBeUndefined();
  });

  it('rcu_pending sharing a word with ptype, and no barrier: a ptype write puts back the rcu_pending the callback had just cleared', () => {
    const shared = SEEDS.map((seed) => churn(seed, { rcuPendingBitfield: true }, { skipRcuBarrier: true })).filter((v) => v !== undefined);
    expect(shared.every((v) => v.name === 'markers/rcu-pending')).toBe(true);
    expect(shared.some((v) => /rcu_pending is set with no free in flight/.test(v.message))).toBe(true);
    // Plain ints: the missing barrier shows only as two frees on one rcu_head, never as a lost clear.
    const plain = SEEDS.map((seed) => churn(seed, {}, { skipRcuBarrier: true })).filter((v) => v !== undefined);
    expect(plain.length).toBeGreaterThan(0);
    expect(plain.some((v) => /no free in flight|clear with a free/.test(v.message))).toBe(false);
  });

  it('the state keeps the count the invariant reads', () => {
    const k = kernelWith();
    const api = k.api.markers;
    api.defineMarker('ev', FMT);
    k.call(api.probeRegister('ev', FMT, nop()));
    expect(k.state.plugins.markers!.entries['ev']!.inFlight).toBe(1);
    k.run();
    expect(k.state.plugins.markers!.entries['ev']!.inFlight).toBe(0);
    expect(eventsOf(k, 'markers/array-freed')).toHaveLength(1);
  });
});
