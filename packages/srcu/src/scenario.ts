import { msleep, type KPath } from '@tracelab/core';
import { defineScenario, unsafeOptionVariants } from '@tracelab/explore';
import type { SrcuApi } from './events.js';
import { srcu } from './internal/plugin.js';
import { SRCU_INVARIANTS } from './internal/reducers.js';

/** The domain the scenario's readers and updater share (DEFINE_STATIC_SRCU). */
const DOMAIN = 'ss';

/** `fixed` is upstream; each unsafe variant is srcu's `unsafe` option of the same name and takes one step of the grace period away. */
const VARIANTS = unsafeOptionVariants('SCAN1 on the idle slot, flip, SCAN2 on the old slot; each check sums unlocks, then (smp_mb A) locks', {
  'single-scan': {
    description: 'flip, then one drain check of the old slot: a reader that loaded the index before the previous flip is missed',
    expect: [SRCU_INVARIANTS.gpWaitsForReaders],
  },
  'locks-before-unlocks': {
    description: 'the drain check sums the locks first: a reader that migrates mid-check adds an unlock without its lock',
    expect: [SRCU_INVARIANTS.gpWaitsForReaders],
  },
});

/** Grace periods the updater waits for, back to back (a late reader needs two to be missed). */
const GRACE_PERIODS = 2;
/** Ticks the long reader sleeps inside each of its two sections: one section spans a grace period. */
const LONG_SECTION = 12;
/** Sections each churning reader runs, a tick each. */
const CHURN_SECTIONS = 3;

/**
 * A reader: `sections` times, lock, sleep `ticks` inside (an SRCU reader may block, and wakes on
 * whichever CPU is free: it migrates), unlock with the index the lock returned. With `wait` it
 * starts once the updater's first grace period has.
 */
function* reader(api: SrcuApi, sections: number, ticks: number, wait: boolean): KPath<void> {
  // A churning reader starts once a grace period has (it polls, a tick at a time).
  while (wait && api.completed(DOMAIN) === 0 && !api.gpInProgress(DOMAIN)) yield* msleep(1);
  for (let i = 0; i < sections; i++) {
    const idx = yield* api.srcuReadLock(DOMAIN);
    yield* msleep(ticks);
    yield* api.srcuReadUnlock(DOMAIN, idx);
  }
}

/** The updater: waits for `GRACE_PERIODS` SRCU grace periods, one after the other. */
function* updater(api: SrcuApi): KPath<void> {
  for (let i = 0; i < GRACE_PERIODS; i++) yield* api.synchronizeSrcu(DOMAIN);
}

/**
 * SRCU readers that sleep and migrate while an updater waits for grace periods: the reader
 * counters' drain check under exploration. `fixed` is srcutree.c's grace period (SCAN1, flip,
 * SCAN2, unlock sums before lock sums); each unsafe variant ends a grace period while a reader
 * that locked before it is still inside (`srcu/gp-waits-for-readers`).
 */
export const scenario = defineScenario({
  name: 'srcu-reader-drain',
  description: 'SRCU readers sleep and migrate while synchronize_srcu drains their per-CPU counters (srcu)',
  source: 'kernel/rcu/srcutree.c (srcu_read_lock, srcu_readers_active_idx_check, srcu_advance_state); SEMANTICS.md §0',
  cpus: 2,
  maxSteps: 1500,
  scale: { name: 'readers', default: 3, min: 2 },
  // Worker threads (`--workers`) import this very module again.
  sourceModule: { module: import.meta.url, exportName: 'scenario' },
  variants: VARIANTS.variants,
  plugins: (variant) => [srcu({ staticDomains: [DOMAIN], ...VARIANTS.options(variant) })],
  setup(kernel, { scale }) {
    const api = kernel.api.srcu;
    kernel.spawnKthread(updater(api), { comm: 'updater' });
    // reader0 holds long sections, each across a grace period; the others, once a grace period
    // has begun, churn short ones: one of them locking around a flip is the late reader.
    kernel.spawnKthread(reader(api, 2, LONG_SECTION, false), { comm: 'reader0' });
    for (let i = 1; i < scale; i++) kernel.spawnKthread(reader(api, CHURN_SECTIONS, 1, true), { comm: `reader${i}` });
  },
});

export default scenario;
