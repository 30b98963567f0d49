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

/**
 * Grace periods the updater waits for, a tick apart (a late reader needs two to be missed; four
 * give the late-reader window of `single-scan` and the mid-check window of
 * `locks-before-unlocks` enough chances; docs/srcu.md, "Issue 22 measurements").
 */
const GRACE_PERIODS = 4;
/** Ticks the long reader sleeps inside its one section: it spans grace periods. */
const LONG_SECTION = 8;
/** Sections each churning reader runs, back to back, none sleeping inside. */
const CHURN_SECTIONS = 6;

/**
 * A reader: `sections` times, lock, sleep `ticks` inside if any (an SRCU reader may block, and
 * wakes on whichever CPU is free: it migrates), unlock with the index the lock returned. No
 * reader polls for a grace period to start: every poll is a block and a wake-up, and each of
 * those is a free choice of the DFS (which task, which CPU), which is what kept the fixed
 * variant's bounded tree from completing.
 */
function* reader(api: SrcuApi, sections: number, ticks: number): KPath<void> {
  for (let i = 0; i < sections; i++) {
    const idx = yield* api.srcuReadLock(DOMAIN);
    if (ticks > 0) yield* msleep(ticks);
    yield* api.srcuReadUnlock(DOMAIN, idx);
  }
}

/** The updater: waits for `GRACE_PERIODS` SRCU grace periods, a tick apart. */
function* updater(api: SrcuApi): KPath<void> {
  for (let i = 0; i < GRACE_PERIODS; i++) {
    if (i > 0) yield* msleep(1);
    yield* api.synchronizeSrcu(DOMAIN);
  }
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
  scale: { name: 'readers', default: 2, min: 2 },
  // Worker threads (`--workers`) import this very module again.
  sourceModule: { module: import.meta.url, exportName: 'scenario' },
  variants: VARIANTS.variants,
  plugins: (variant) => [srcu({ staticDomains: [DOMAIN], ...VARIANTS.options(variant) })],
  setup(kernel, { scale }) {
    const api = kernel.api.srcu;
    kernel.spawnKthread(updater(api), { comm: 'updater' });
    // reader0 holds one long section across grace periods; the others churn sections with no
    // sleep inside: one of them preempted between its index load and its increment around a
    // flip is the late reader, one locking and unlocking during a drain check the hidden one.
    kernel.spawnKthread(reader(api, 1, LONG_SECTION), { comm: 'reader0' });
    for (let i = 1; i < scale; i++) kernel.spawnKthread(reader(api, CHURN_SECTIONS, 0), { comm: `reader${i}` });
  },
});

export default scenario;
