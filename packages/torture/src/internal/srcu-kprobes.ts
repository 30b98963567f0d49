/* eslint-disable require-yield -- SRCU callbacks are kernel paths (generators) even when they take no scheduling point */
/**
 * Torture for the two mechanisms added in the second wave's fidelity work: SRCU (sleepable
 * readers of a domain, srcutree.c) and optimized kprobes (detour buffers freed after an RCU-tasks
 * grace period). Kept apart from mechanisms.ts, which holds the first nine.
 */
import { msleep, schedPoint, type Kernel, type KPath } from '@tracelab/core';
import { kprobes } from '@tracelab/kprobes';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { srcu } from '@tracelab/srcu';
import type { Mechanism } from './mechanisms.js';
import { TORTURE_SRCU_DOMAIN, type Rig, type TortureObject } from './rig.js';
import { between, pick } from './workload.js';

// ---- SRCU -------------------------------------------------------------------------------------

/** A second static domain whose readers hold long sections: they must not hold up the first domain's grace periods. */
const OTHER_DOMAIN = 'torture_srcu_other';
/** A domain created and destroyed at run time (init_srcu_struct / cleanup_srcu_struct). */
const DYNAMIC_DOMAIN = 'torture_srcu_dyn';

/** One read-side section of a reader thread. */
interface SrcuSection {
  /** Ticks slept inside the section (0: a scheduling point instead; the reader may be preempted and migrate either way). */
  readonly sleep: number;
  /** A nested section of the same domain inside this one (srcu_read_lock nests). */
  readonly nest: boolean;
}

/**
 * An SRCU reader thread: lock, load the current object, sleep or be preempted (an SRCU reader may
 * block and wakes on whichever CPU is free, so its lock and unlock are counted on different
 * CPUs), look at the object again, unlock with the index the lock returned.
 */
function* srcuReaderThread(kernel: Kernel, rig: Rig, plan: readonly SrcuSection[]): KPath<void> {
  const api = kernel.api.srcu;
  for (const s of plan) {
    rig.count('reader:srcu');
    const idx = yield* api.srcuReadLock(TORTURE_SRCU_DOMAIN);
    const o = rig.current.srcu;
    rig.read(o, 'srcu reader');
    const inner = s.nest ? yield* api.srcuReadLock(TORTURE_SRCU_DOMAIN) : -1;
    if (s.sleep > 0) yield* msleep(s.sleep);
    else yield* schedPoint();
    rig.read(o, 'srcu reader');
    if (s.nest) yield* api.srcuReadUnlock(TORTURE_SRCU_DOMAIN, inner);
    rig.read(o, 'srcu reader');
    yield* api.srcuReadUnlock(TORTURE_SRCU_DOMAIN, idx);
    yield* msleep(1);
  }
}

/** A reader of the other domain: long sections, which the torture domain's grace periods must not wait for. */
function* otherDomainReader(kernel: Kernel, rig: Rig, sections: number, sleep: number): KPath<void> {
  const api = kernel.api.srcu;
  for (let i = 0; i < sections; i++) {
    rig.count('reader:srcu-other');
    const idx = yield* api.srcuReadLock(OTHER_DOMAIN);
    yield* msleep(sleep);
    yield* api.srcuReadUnlock(OTHER_DOMAIN, idx);
  }
}

type SrcuRetire = 'synchronize' | 'call' | 'barrier';

/** The writer: replace the current object, then synchronize_srcu and free, call_srcu(free), or call_srcu and srcu_barrier. */
function* srcuWriter(kernel: Kernel, rig: Rig, plan: readonly { gap: number; how: SrcuRetire }[]): KPath<void> {
  const api = kernel.api.srcu;
  for (const step of plan) {
    yield* msleep(step.gap);
    const old = rig.replace('srcu');
    if (step.how === 'synchronize') {
      yield* api.synchronizeSrcu(TORTURE_SRCU_DOMAIN);
      rig.count('synchronize-srcu');
      rig.free(old);
      continue;
    }
    yield* api.callSrcu(
      TORTURE_SRCU_DOMAIN,
      function* freeTortureObject(): KPath<void> {
        rig.free(old);
      },
      'torture_free',
    );
    rig.count('call-srcu');
    if (step.how === 'barrier') {
      yield* api.srcuBarrier(TORTURE_SRCU_DOMAIN);
      rig.count('srcu-barrier');
      // srcu_barrier returns after every callback queued before it ran: the free above included.
      if (!old.freed) rig.fail(`srcu_barrier returned before the callback freeing object #${old.id} (queued before it) ran`);
    }
  }
}

/**
 * A domain's life at run time: init_srcu_struct, callbacks queued, srcu_barrier, then
 * cleanup_srcu_struct, which must succeed (no reader, no callback, no grace period left after the
 * barrier), `rounds` times over.
 */
function* dynamicDomain(kernel: Kernel, rig: Rig, rounds: number, callbacks: number): KPath<void> {
  const api = kernel.api.srcu;
  for (let i = 0; i < rounds; i++) {
    yield* api.initSrcuStruct(DYNAMIC_DOMAIN);
    rig.count('init-srcu-struct');
    for (let j = 0; j < callbacks; j++)
      yield* api.callSrcu(
        DYNAMIC_DOMAIN,
        function* dynCallback(): KPath<void> {
          rig.count('srcu-dyn-callback-invoked');
        },
        'torture_dyn',
      );
    yield* api.srcuBarrier(DYNAMIC_DOMAIN);
    const r = yield* api.cleanupSrcuStruct(DYNAMIC_DOMAIN);
    rig.count('cleanup-srcu-struct');
    if (r !== 0) rig.fail(`cleanup_srcu_struct(${DYNAMIC_DOMAIN}) returned ${r} after srcu_barrier with no reader`);
  }
}

export const srcuMechanism: Mechanism = {
  name: 'srcu',
  description:
    'SRCU readers that sleep, nest and migrate inside their sections; a writer that replaces the object, then synchronize_srcu and free, call_srcu(free), or call_srcu and srcu_barrier; readers of a second domain; a domain initialised and cleaned up at run time',
  flavours: ['srcu'],
  maxSteps: 30_000,
  unsafe: [
    {
      name: 'single-scan',
      mechanism: 'srcu',
      option: "srcu({ unsafe: 'single-scan' })",
      description: 'the grace period flips the index and drains the old slot only: a reader that loaded the index before the previous flip is missed',
      expect: ['srcu/gp-waits-for-readers', 'srcu/callback-after-gp', 'torture/checks'],
    },
    {
      name: 'locks-before-unlocks',
      mechanism: 'srcu',
      option: "srcu({ unsafe: 'locks-before-unlocks' })",
      description: 'the drain check sums the lock counts before the unlock counts: a reader that migrates mid-check adds an unlock without its lock',
      expect: ['srcu/gp-waits-for-readers', 'srcu/callback-after-gp', 'torture/checks'],
    },
  ],
  plugins: ({ variant }) => [
    srcu({
      staticDomains: [TORTURE_SRCU_DOMAIN, OTHER_DOMAIN],
      ...(variant === 'single-scan' || variant === 'locks-before-unlocks' ? { unsafe: variant } : {}),
    }),
  ],
  setup({ kernel, w, rig, rounds }) {
    const readers = between(w.prng, 2, 4);
    for (let j = 0; j < readers; j++) {
      const plan: SrcuSection[] = [];
      for (let i = 0; i < rounds * 2; i++) plan.push({ sleep: between(w.prng, 0, 3), nest: w.prng.below(4) === 0 });
      kernel.spawnKthread(srcuReaderThread(kernel, rig, plan), { comm: `torture_sr${j}` });
    }
    if (w.prng.below(2) === 0) kernel.spawnKthread(otherDomainReader(kernel, rig, rounds, between(w.prng, 4, 12)), { comm: 'torture_sro' });
    const plan: { gap: number; how: SrcuRetire }[] = [];
    for (let i = 0; i < rounds * 2; i++) plan.push({ gap: between(w.prng, 0, 2), how: pick(w.prng, ['synchronize', 'call', 'barrier'] as const) });
    kernel.spawnKthread(srcuWriter(kernel, rig, plan), { comm: 'torture_sw' });
    if (w.prng.below(2) === 0) kernel.spawnKthread(dynamicDomain(kernel, rig, rounds, between(w.prng, 0, 3)), { comm: 'torture_srd' });
  },
};

// ---- optimized kprobes ------------------------------------------------------------------------

/** Functions the writers probe and the callers run (a few, so writers collide with -EEXIST and callers hit probes). */
const PROBED = ['do_sys_open', 'vfs_read', 'vfs_write', 'do_fork'] as const;

interface KprobePlanStep {
  readonly fn: string;
  readonly hold: number;
}

/**
 * A kprobe writer: registers an optimized probe whose handler touches a fresh object, keeps it,
 * unregisters it, and frees the object when unregister returns (the detour buffer is freed
 * inside unregister, after its grace period; the handler's data is the writer's to free).
 */
function* kprobeWriter(kernel: Kernel, rig: Rig, label: string, plan: readonly KprobePlanStep[]): KPath<void> {
  const api = kernel.api.kprobes;
  for (const step of plan) {
    const o: TortureObject = rig.obj('tasks');
    const r = yield* api.registerKprobe(step.fn, (fn) => rig.read(o, `kprobe ${label} on ${fn}`));
    rig.count('kprobe-register');
    if (r !== 0) {
      rig.count('kprobe-register-busy');
      yield* msleep(1);
      continue;
    }
    yield* msleep(step.hold);
    const u = yield* api.unregisterKprobe(step.fn);
    rig.count('kprobe-unregister');
    if (u !== 0) rig.fail(`unregister_kprobe(${step.fn}) returned ${u} for a probe ${label} registered`);
    rig.remove(o);
    rig.free(o);
  }
}

/** A caller: runs drawn functions (each a few scheduling points long), sleeping now and then. */
function* kprobeCaller(kernel: Kernel, rig: Rig, calls: readonly { fn: string; work: number; sleep: boolean }[]): KPath<void> {
  const api = kernel.api.kprobes;
  for (const c of calls) {
    yield* api.callFunction(c.fn, c.work);
    rig.count('kprobe-call');
    if (c.sleep) yield* msleep(1);
  }
}

export const kprobesMechanism: Mechanism = {
  name: 'kprobes',
  description:
    'optimized kprobes registered and unregistered on hot functions (collisions give -EEXIST) while kernel threads run them, preempted inside the detour buffers; probe data freed when unregister returns',
  flavours: ['sched', 'tasks'],
  maxSteps: 30_000,
  unsafe: [
    {
      name: 'free-after-rcu-sched',
      mechanism: 'kprobes',
      option: "kprobes({ unsafe: 'free-after-rcu-sched' })",
      description: 'the detour buffer is freed after an RCU-sched grace period: a task preempted inside it resumes in freed memory',
      expect: ['kprobes/no-detour-use-after-free', 'torture/checks'],
    },
    {
      name: 'optimize-without-wait',
      mechanism: 'kprobes',
      option: "kprobes({ unsafe: 'optimize-without-wait' })",
      description:
        'the optimizer writes the jump without waiting for an RCU-tasks grace period: a task preempted inside the covered instructions resumes inside the jump',
      expect: ['kprobes/no-resume-inside-jump', 'torture/checks'],
    },
  ],
  plugins: ({ variant }) => [rcuTasks(), kprobes(variant === 'free-after-rcu-sched' || variant === 'optimize-without-wait' ? { unsafe: variant } : {})],
  setup({ kernel, w, rig, rounds }) {
    const writers = between(w.prng, 1, 2);
    for (let j = 0; j < writers; j++) {
      const plan: KprobePlanStep[] = [];
      for (let i = 0; i < rounds; i++) plan.push({ fn: pick(w.prng, PROBED), hold: between(w.prng, 0, 4) });
      kernel.spawnKthread(kprobeWriter(kernel, rig, `torture_kp${j}`, plan), { comm: `torture_kw${j}` });
    }
    const callers = between(w.prng, 2, 4);
    for (let j = 0; j < callers; j++) {
      const calls: { fn: string; work: number; sleep: boolean }[] = [];
      for (let i = 0; i < rounds * 3; i++) calls.push({ fn: pick(w.prng, PROBED), work: between(w.prng, 0, 3), sleep: w.prng.below(3) === 0 });
      kernel.spawnKthread(kprobeCaller(kernel, rig, calls), { comm: `torture_kc${j}` });
    }
  },
};
