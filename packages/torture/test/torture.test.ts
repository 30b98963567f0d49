import { describe, expect, it } from 'vitest';
import { TracelabError } from '@tracelab/core';
import { defaultScale, lenientReplay, randomWalk, replayString, runSchedule, scheduleSeed } from '@tracelab/explore';
import {
  drawWorkload,
  encodeTortureReplay,
  MECHANISM_NAMES,
  OP_KINDS,
  PIPE_LEN,
  replayTorture,
  runSeed,
  torture,
  tortureScenario,
  UNSAFE_OPTIONS,
  type MechanismName,
} from '@tracelab/torture';

/**
 * CI's torture run: 300 seeds per mechanism in the safe configuration, every invariant and
 * liveness monitor on. The seeds and schedules are fixed, so a violation here is a bug that
 * replays from the printed string.
 */
const CI_SEEDS = 300;

/** Mechanisms built on a grace period. */
const GRACE_PERIODS: readonly MechanismName[] = ['markers', 'tracepoints', 'ktrace', 'rcu-tasks', 'ftrace', 'ring-buffer', 'rcu-sched', 'srcu', 'kprobes'];
/** Mechanisms with torture readers (the ring buffer's readers are its own probes; locks have sections, not readers). */
const READERS: readonly MechanismName[] = ['markers', 'tracepoints', 'ktrace', 'rcu-tasks', 'ftrace', 'utrace', 'rcu-sched', 'srcu', 'kprobes'];
/**
 * Mechanisms whose writer marks an object removed while readers can still hold it. markers,
 * ftrace and kprobes count the removal only once the unregister has returned (earlier would be
 * a false alarm), so a reader there rarely sees it; utrace frees at the last put.
 */
const READERS_AFTER_REMOVAL: readonly MechanismName[] = ['tracepoints', 'rcu-tasks', 'rcu-sched', 'srcu'];

describe('safe configurations', () => {
  it.each(MECHANISM_NAMES)('%s: no violation over 300 seeds, readers that outlived a removal counted, grace periods and churn done', (mechanism) => {
    const r = torture({ mechanism, seeds: CI_SEEDS, shrinkFailures: 1 });
    const m = r.mechanisms[0]!;
    const detail = m.violations.map((v) => `seed ${v.seed}: ${v.invariant}: ${v.message}\n  ${v.shrunk?.replay ?? v.replay}`).join('\n');
    expect(detail).toBe('');
    expect(r.ok).toBe(true);
    expect(m.seeds).toBe(CI_SEEDS);
    // Every seed ran to its end: a run cut at the step limit checks less than it claims.
    expect(m.cut).toBe(0);
    // The swarm covered every machine size and turned each kind off on some seeds.
    expect(m.swarm.cpus.every((n) => n > 0)).toBe(true);
    for (const k of OP_KINDS) expect(m.swarm.kinds[k]).toBeLessThan(CI_SEEDS);
    // The churn happened: something was registered, toggled or replaced on most seeds.
    expect(Object.values(m.ops).reduce((a, b) => a + b, 0)).toBeGreaterThan(CI_SEEDS);
    // Grace periods ended (the mechanisms built on them), readers reached objects, and where the
    // writer unpublishes an object while readers may still hold it, some reads came after the
    // removal (slot 1): that is what makes the empty slots 2.. mean something.
    if (GRACE_PERIODS.includes(mechanism)) expect(Object.values(m.gracePeriods).reduce((a, b) => a + b, 0)).toBeGreaterThan(CI_SEEDS);
    if (READERS.includes(mechanism)) expect(m.readerPipe[0]).toBeGreaterThan(0);
    if (READERS_AFTER_REMOVAL.includes(mechanism)) expect(m.readerPipe[1]).toBeGreaterThan(0);
    expect(m.readerPipe.slice(2).every((n) => n === 0)).toBe(true);
  });
});

/** Seeds an unsafe option may take before it is caught: the target. */
const CATCH_WITHIN = 2000;

describe('unsafe options: a torture test that cannot catch a broken implementation proves nothing', () => {
  it.each(UNSAFE_OPTIONS.map((u) => [u.name, u] as const))('%s is caught, by an invariant it is expected to break', (_name, u) => {
    const r = torture({ unsafe: u.name, seeds: CATCH_WITHIN, shrinkRuns: 100 });
    const m = r.mechanisms[0]!;
    expect(r.ok).toBe(true);
    expect(m.mechanism).toBe(u.mechanism);
    expect(m.caughtAt).not.toBeNull();
    const v = m.violations[0]!;
    expect(u.expect).toContain(v.invariant);
    // The seeds counted are those up to the catch, and it replays: the string reproduces the same violation.
    expect(m.seeds).toBe(m.caughtAt! - m.firstSeed + 1);
    expect(replayTorture(v.replay).violation?.name).toBe(v.invariant);
    expect(replayTorture(v.shrunk!.replay).violation?.name).toBe(v.shrunk!.invariant);
  });
});

describe('ftrace under timer ticks (issue 18)', () => {
  it("a third of the safe seeds take ticks; there callbacks run in hard-interrupt context, nested in a task's guarded callback, and stay clean", () => {
    let ticking = 0;
    let nested = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const sc = tortureScenario('ftrace', seed);
      const irq = sc.interrupts?.('safe');
      if (irq === undefined) continue;
      ticking++;
      expect(irq).toEqual({ timer: { period: 3 } });
      const out = runSchedule(sc, 'safe', defaultScale(sc), randomWalk(scheduleSeed(seed, 0), 0.15));
      expect(out.violation).toBeNull();
      expect(out.kernel.api.ftrace.options.traceTick).toBe(true);
      // A tick's update_process_times on a trampoline while its task was inside a callback
      // of its own (on a trampoline too): the per-context guard let it through.
      const depth = new Map<number, number>();
      for (const e of out.kernel.log) {
        if (e.type === 'ftrace/tramp-enter') {
          if (e.ip === 'update_process_times' && (depth.get(e.pid) ?? 0) > 0) nested++;
          depth.set(e.pid, (depth.get(e.pid) ?? 0) + 1);
        } else if (e.type === 'ftrace/tramp-exit') depth.set(e.pid, (depth.get(e.pid) ?? 1) - 1);
      }
      expect(out.kernel.log.some((e) => e.type === 'ftrace/recursion-lost')).toBe(false);
    }
    // A draw of 1 in 3 per seed (10 of these 60 seeds on 2026-12-05): some tick, most do not.
    expect(ticking).toBeGreaterThan(5);
    expect(ticking).toBeLessThan(45);
    expect(nested).toBeGreaterThan(0);
  });
});

describe('the ring buffer under timer ticks (issue 18)', () => {
  it("a third of the safe seeds record from the tick handler: reserves nest in tasks' windows, and every run is clean", () => {
    let ticking = 0;
    let nested = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const sc = tortureScenario('ring-buffer', seed);
      if (sc.interrupts?.('safe') === undefined) continue;
      ticking++;
      const out = runSchedule(sc, 'safe', defaultScale(sc), randomWalk(scheduleSeed(seed, 0), 0.15));
      expect(out.violation).toBeNull();
      const rb = out.kernel.api['ring-buffer'];
      const reg = out.kernel.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'ring-buffer');
      expect(reg).toMatchObject({ options: { interrupts: true } });
      expect(out.kernel.log.some((e) => e.type === 'irq/entry' && e.name === 'timer')).toBe(true);
      if (Math.max(...rb.nestingPeak()) >= 2) nested++;
    }
    expect(ticking).toBeGreaterThan(5);
    expect(ticking).toBeLessThan(45);
    expect(nested).toBeGreaterThan(0);
  });
});

describe('the ring buffer: reader swap, sampling NMIs and the trace clock drawn per seed (issue 22)', () => {
  it("half the seeds swap the reader's sub-buffer; half the ticking seeds take NMIs, half of those under the ktime_get clock (NMI records lost to -EIO, counted); every run is clean", () => {
    let swap = 0;
    let nmi = 0;
    let clockLost = 0;
    for (let seed = 1; seed <= 90; seed++) {
      const sc = tortureScenario('ring-buffer', seed);
      const irq = sc.interrupts?.('safe');
      const out = runSchedule(sc, 'safe', defaultScale(sc), randomWalk(scheduleSeed(seed, 0), 0.15));
      expect(out.violation).toBeNull();
      const reg = out.kernel.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'ring-buffer');
      const opts = (reg as { options: { readerSwap?: boolean; traceClock?: string } }).options;
      if (opts.readerSwap === true) swap++;
      if (irq?.nmi !== undefined) {
        nmi++;
        expect(out.kernel.log.some((e) => e.type === 'irq/entry' && e.name === 'nmi')).toBe(true);
      } else expect(opts.traceClock).toBeUndefined();
      if (opts.traceClock === 'ktime-get' && out.kernel.log.some((e) => e.type === 'ring-buffer/record-lost' && e.reason === 'clock')) clockLost++;
    }
    expect(swap).toBeGreaterThan(20);
    expect(swap).toBeLessThan(70);
    expect(nmi).toBeGreaterThan(3);
    expect(clockLost).toBeGreaterThan(0);
  });
});

describe('rcu-tasks: exitTasks and exit-path readers drawn per seed (issue 22)', () => {
  it("half the seeds run upstream's exit SRCU, half the model's scan; exit-path readers with final preempt-disabled regions on some, and an exit-SRCU wait that waits for a task; every run is clean", () => {
    let exitSrcu = 0;
    let tails = 0;
    let waited = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const sc = tortureScenario('rcu-tasks', seed);
      const out = runSchedule(sc, 'safe', defaultScale(sc), randomWalk(scheduleSeed(seed, 0), 0.15));
      expect(out.violation).toBeNull();
      const reg = out.kernel.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'rcu-tasks');
      if ((reg as { options: { exitTasks?: string } }).options.exitTasks === 'exit-srcu') {
        exitSrcu++;
        // Some exit-SRCU wait found a task inside its exit path (the reaper's children, reading).
        if (out.kernel.log.some((e) => e.type === 'rcu-tasks/exit-srcu-wait' && e.pids.length > 0)) waited++;
      }
      const torture = out.kernel.log.find((e) => e.type === 'kernel/plugin-registered' && e.name === 'torture');
      if (((torture as { options: { exitPath?: { tail: number } } }).options.exitPath?.tail ?? 0) > 0) tails++;
    }
    expect(exitSrcu).toBeGreaterThan(15);
    expect(exitSrcu).toBeLessThan(45);
    expect(tails).toBeGreaterThan(5);
    expect(waited).toBeGreaterThan(0);
  });
});

describe('the Reader Pipe', () => {
  it("counts a reader that reaches a freed object, and the busted writer's runs are caught by torture's own check", () => {
    const r = runSeed('rcu-sched', 1, 'busted-rcu-sched-writer');
    expect(r.failure?.invariant).toBe('torture/checks');
    expect(r.failure?.message).toMatch(/after it was freed/);
    expect(r.pipe.length).toBe(PIPE_LEN + 1);
  });

  it('is a function of the seed: the same seed gives the same counts and steps', () => {
    expect(runSeed('rcu-tasks', 5, 'safe')).toEqual(runSeed('rcu-tasks', 5, 'safe'));
  });
});

describe('swarm workloads', () => {
  it('draw 1 to 8 CPUs and switch operation kinds off per seed; a seed with fork off never forks', () => {
    const cpus = new Set<number>();
    let noFork = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const w = drawWorkload(seed);
      cpus.add(w.cpus);
      expect(w.kinds.length).toBeGreaterThan(0);
      if (!w.kinds.includes('fork')) noFork = seed;
    }
    expect([...cpus].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(noFork).toBeGreaterThan(0);
    // The all-default schedule of that seed (no choice recorded), replayed from its string.
    const sc = tortureScenario('locks', noFork);
    const plain = runSchedule(sc, 'safe', defaultScale(sc), { pick: () => 0 });
    const run = replayTorture(encodeTortureReplay('locks', noFork, replayString(sc, 'safe', defaultScale(sc), [], plain.steps)));
    expect(run.logHash).toBe(plain.kernel.logHash());
    const userForks = run.kernel.log.filter((e) => e.type === 'fork/dup');
    expect(userForks).toEqual([]);
  });
});

describe('bad input', () => {
  it('an unknown unsafe option is UNKNOWN_UNSAFE_OPTION listing every known one', () => {
    let err: unknown;
    try {
      torture({ unsafe: 'free-immediatly' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect((err as TracelabError).code).toBe('UNKNOWN_UNSAFE_OPTION');
    for (const u of UNSAFE_OPTIONS) expect((err as TracelabError).message).toContain(u.name);
  });

  it('an unknown mechanism, an option of another mechanism, and bad counts are INVALID_OPTION', () => {
    expect(() => torture({ mechanism: 'perf-events' as MechanismName })).toThrow(/unknown mechanism "perf-events"; mechanisms: markers/);
    expect(() => torture({ mechanism: 'markers', unsafe: 'no-barrier' })).toThrow(/no-barrier belongs to utrace, not markers/);
    expect(() => torture({ seeds: 0 })).toThrow(/seeds must be an integer/);
    expect(() => replayTorture('markers#x:safe:S2:0.0::0000000')).toThrow(/is not <mechanism>#<seed>/);
    expect(() => replayTorture('markers#1:safe:S1:')).toThrow(expect.objectContaining({ code: 'SCHEDULE_VERSION' }));
  });
});

/**
 * What torture found before the core's RCU-sched fix (commit "core: RCU-sched quiescent state
 * only outside read-side sections"): each string failed, with the invariant beside it, on the
 * old rule (a CPU in user mode or idle counted quiescent inside a context-switch hook). Some no
 * longer fit the fixed kernel's choice points exactly (an idle CPU with a hook frame left now
 * stays eligible), so they are re-run leniently (values clamped, zeros past the end): every one
 * must now run to its end clean.
 */
const FOUND_BEFORE_THE_RCU_FIX = [
  ['markers#12:safe:S1:1230012003001', 'torture/checks'],
  [
    'markers#10:safe:S1:1212110210{3}20202201{3}2020{4}211020201011011020{4}120100102210210202110{3}12101101{3}0{3}210122110110{6}202120{5}1001221{3}0021',
    'torture/checks',
  ],
  ['tracepoints#11:safe:S1:3140412201{7}001{8}403310141{3}0{3}1', 'ring-buffer/commit'],
  [
    'tracepoints#17:safe:S1:2310201201{3}0110020020{3}112120011011001020102011001001{3}210100101{7}011011010{3}1{3}0{5}101102101{3}01{4}0112',
    'ring-buffer/commit',
  ],
  ['ring-buffer#36:safe@1:S1:5030122142', 'ring-buffer/commit'],
  ['rcu-sched#2:safe@1:S1:101', 'torture/checks'],
  ['rcu-sched#7:safe@1:S1:1101100101{3}', 'torture/checks'],
] as const;

/**
 * The strings above are in the schedule format of the time (`S1:`: a base-36 digit or `(n)` per
 * choice, `{k}` repeating the token before it), before replay strings carried a step count and a
 * checksum (`S2`); decoded here, as the core no longer reads S1.
 */
function decodeS1(s: string): number[] {
  const out: number[] = [];
  const re = /(\(([0-9a-z]+)\)|[0-9a-z])(?:\{(\d+)\})?/gy;
  const body = s.slice(s.indexOf('S1:') + 3);
  for (let m = re.exec(body); m !== null && m.index < body.length; m = re.exec(body)) {
    const v = parseInt(m[2] ?? m[1]!, 36);
    for (let k = Number(m[3] ?? 1); k > 0; k--) out.push(v);
    if (re.lastIndex >= body.length) break;
  }
  return out;
}

describe('counterexamples found before the RCU-sched fix', () => {
  it('decodeS1 reads the old format', () => {
    expect(decodeS1('x:S1:0{4}122z(10)(rs){3}0')).toEqual([0, 0, 0, 0, 1, 2, 2, 35, 36, 1000, 1000, 1000, 0]);
  });

  it.each(FOUND_BEFORE_THE_RCU_FIX)('%s (was %s) runs clean now', (s) => {
    const m = /^([a-z-]+)#(\d+):([a-z0-9-]+)(?:@(\d+))?:(S1:.*)$/.exec(s)!;
    const sc = tortureScenario(m[1] as MechanismName, Number(m[2]));
    const o = runSchedule(sc, m[3]!, m[4] === undefined ? sc.scale!.default : Number(m[4]), lenientReplay(decodeS1(m[5]!)));
    expect(o.violation).toBeNull();
    expect(o.done).toBe(true);
  });
});

describe('seeds the 10,000-seed campaign once failed on (regressions, each fixed in the core or a plugin)', () => {
  it('rcu-tasks seed 1490: a host-started task leaving its fork tail for user mode is quiescent (task/to-user)', () => {
    const r = torture({ mechanism: 'rcu-tasks', firstSeed: 1490, seeds: 1 });
    expect(r.mechanisms[0]!.violations).toEqual([]);
  });
  it('tracepoints seed 8641: back-to-back RCU-sched grace periods are progress, not one stall', () => {
    const r = torture({ mechanism: 'tracepoints', firstSeed: 8641, seeds: 1 });
    expect(r.mechanisms[0]!.violations).toEqual([]);
  });
  it('rcu-sched seed 9218: a clone slowed by readers on an 8-CPU kernel is no stall (200 steps per CPU)', () => {
    const r = torture({ mechanism: 'rcu-sched', firstSeed: 9218, seeds: 1 });
    expect(r.mechanisms[0]!.violations).toEqual([]);
  });
  it('srcu seed 292: cleanup_srcu_struct right after srcu_barrier waits for the worker to exit (flush_delayed_work) instead of leaking the domain', () => {
    const r = torture({ mechanism: 'srcu', firstSeed: 292, seeds: 1 });
    expect(r.mechanisms[0]!.violations).toEqual([]);
    expect(r.mechanisms[0]!.ops['cleanup-srcu-struct']).toBeGreaterThan(0);
  });
});
