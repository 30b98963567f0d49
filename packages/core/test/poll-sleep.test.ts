import { describe, expect, it } from 'vitest';
import {
  callRcu,
  createKernel,
  current,
  definePlugin,
  getState,
  intMapGet,
  msleep,
  pollSleep,
  rcuReadLock,
  rcuReadUnlock,
  replaySchedule,
  schedPoint,
  waitEvent,
  type Kernel,
  type KernelState,
  type KPath,
  type PollDone,
} from '@tracelab/core';
import { SEEDS, expectClean, points } from './helpers.js';

/**
 * `pollSleep`: the wait between two looks of a poll loop. A look that would fail is not run
 * while nothing but the clock could tell it ran (no other timer pending, no interrupt source);
 * otherwise the wait is `msleep`'s (docs/core.md, "Poll loops").
 */

type Wait = (ticks: number, done: PollDone) => KPath<void>;
const asPoll: Wait = pollSleep;
const asMsleep: Wait = (ticks) => msleep(ticks);

/** Whether `pid` has exited. */
const gone =
  (pid: number): PollDone =>
  (s: KernelState) => {
    const t = intMapGet(s.tasks, pid);
    return t === undefined || t.state === 'zombie' || t.state === 'dead';
  };

interface Looks {
  failed: number;
  ok: number;
}

/** A poller that looks until `target()` has exited, waiting with `wait` between looks; first, until `ready(state)`, it yields at preemption points. */
function* poller(target: () => number, wait: Wait, looks: Looks, ready: PollDone = () => true): KPath<void> {
  while (!ready(yield* getState())) yield* schedPoint();
  for (;;) {
    if (gone(target())(yield* getState())) {
      looks.ok++;
      return;
    }
    looks.failed++;
    yield* wait(1, gone(target()));
  }
}

interface Setup {
  readonly seed: number;
  readonly wait: Wait;
  /** A third thread asleep this many ticks from the start (a timer pending meanwhile). */
  readonly sleeper?: number;
  readonly interrupts?: boolean;
  /** The worker queues an RCU-sched callback, then works in a read-side section (a grace period runs meanwhile). */
  readonly rcu?: boolean;
  /** A plugin taps the context switch. */
  readonly switchHook?: boolean;
  /** `createKernel({ pollLoops })`; default 'on-change'. */
  readonly pollLoops?: 'every-tick' | 'on-change';
}

const switchTap = definePlugin({
  name: 'switch-tap',
  version: '0.1.0',
  core: '^0.1.0',
  register(ctx) {
    ctx.tap('contextSwitch', () => undefined);
    return {};
  },
});

/** Preemptions taken for `pid`: a running task switched out, `pid` switched in. */
function preemptionsFor(k: Kernel, pid: number): number {
  return k.log.filter((e) => e.type === 'sched/switch' && e.next === pid && e.preempted).length;
}

function runPoll(o: Setup): { looks: Looks; log: string; done: boolean; preemptions: number } {
  const k = createKernel({
    cpus: 2,
    seed: o.seed,
    pollLoops: o.pollLoops ?? 'on-change',
    ...(o.interrupts === true ? { interrupts: { timer: true } } : {}),
    ...(o.switchHook === true ? { plugins: [switchTap] } : {}),
  });
  const looks: Looks = { failed: 0, ok: 0 };
  const worker = k.spawnKthread(
    (function* () {
      if (o.rcu !== true) return yield* points(12);
      // A grace period runs through the worker's read-side section: no quiescent state until its end.
      yield* callRcu(() => undefined);
      yield* rcuReadLock();
      yield* points(12);
      yield* rcuReadUnlock();
    })(),
    { comm: 'worker' },
  );
  // With a sleeper, the poll begins once it sleeps: its timer is pending through the whole poll.
  const sleeper = o.sleeper === undefined ? -1 : k.spawnKthread(msleep(o.sleeper), { comm: 'sleeper' });
  // With an RCU reader, the poll begins once the grace period runs.
  const ready: PollDone = (s) => (sleeper < 0 || intMapGet(s.tasks, sleeper)?.state === 'sleeping') && (o.rcu !== true || s.rcu.gp !== null);
  const pollerPid = k.spawnKthread(
    poller(() => worker, o.wait, looks, ready),
    { comm: 'poller' },
  );
  const r = k.run({ maxSteps: 5_000 });
  expectClean(k, r);
  return { looks, log: JSON.stringify(k.log.map(({ seq: _seq, ...e }) => e)), done: r.done, preemptions: preemptionsFor(k, pollerPid) };
}

describe('pollSleep', () => {
  it('runs no look that would fail while nothing else is timed, but the first and those for which the worker is preempted', () => {
    let msleepMore = 0;
    let preempted = 0;
    for (const seed of SEEDS(40)) {
      const p = runPoll({ seed, wait: asPoll });
      expect(p.done).toBe(true);
      expect(p.looks.ok).toBe(1);
      // The worker's preemption points still offer a preemption for the poller, as its wake-up
      // each tick would in the polling kernel, once a point: each taken is a look.
      expect(p.looks.failed).toBeLessThanOrEqual(1 + p.preemptions);
      expect(p.preemptions).toBeLessThanOrEqual(12);
      preempted += p.preemptions;
      // The same poll loop waiting with msleep looks again at every tick the worker is busy.
      if (runPoll({ seed, wait: asMsleep }).looks.failed > 1) msleepMore++;
    }
    expect(msleepMore).toBeGreaterThan(20);
    expect(preempted).toBeGreaterThan(0);
  });

  it("sets aside two pollers' failed looks alike: a poller's timer does not make another's looks count", () => {
    for (const seed of SEEDS(30)) {
      const k = createKernel({ cpus: 2, seed, pollLoops: 'on-change' });
      const a: Looks = { failed: 0, ok: 0 };
      const b: Looks = { failed: 0, ok: 0 };
      const worker = k.spawnKthread(points(20), { comm: 'worker' });
      const pa = k.spawnKthread(
        poller(() => worker, asPoll, a),
        { comm: 'poller-a' },
      );
      const pb = k.spawnKthread(
        poller(() => worker, asPoll, b),
        { comm: 'poller-b' },
      );
      const r = k.run({ maxSteps: 5_000 });
      expectClean(k, r);
      expect([a.ok, b.ok]).toEqual([1, 1]);
      // A preemption for parked pollers wakes both.
      const preemptions = preemptionsFor(k, pa) + preemptionsFor(k, pb);
      expect(a.failed).toBeLessThanOrEqual(1 + preemptions);
      expect(b.failed).toBeLessThanOrEqual(1 + preemptions);
    }
  });

  it("counts another poller's longer wait as a pending timer: its timer would fire later, counted in other steps", () => {
    // poller-b waits 4 ticks between looks; while its timer is pending, poller-a (1 tick) looks
    // every tick, as it would under msleep.
    let looksWhileBWaits = 0;
    for (const seed of SEEDS(30)) {
      const k = createKernel({ cpus: 2, seed, pollLoops: 'on-change' });
      const a: Looks = { failed: 0, ok: 0 };
      const worker = k.spawnKthread(points(20), { comm: 'worker' });
      const pa = k.spawnKthread(
        poller(() => worker, asPoll, a),
        { comm: 'poller-a' },
      );
      const pb = k.spawnKthread(
        (function* () {
          while (!gone(worker)(yield* getState())) yield* pollSleep(4, gone(worker));
        })(),
        { comm: 'poller-b' },
      );
      const r = k.run({ maxSteps: 5_000 });
      expectClean(k, r);
      looksWhileBWaits += Math.max(0, a.failed - 1 - preemptionsFor(k, pa) - preemptionsFor(k, pb));
    }
    expect(looksWhileBWaits).toBeGreaterThan(30);
  });

  it("polls every tick, as msleep does, while another task's timer is pending", () => {
    for (const seed of SEEDS(20)) {
      const p = runPoll({ seed, wait: asPoll, sleeper: 1_000 });
      const m = runPoll({ seed, wait: asMsleep, sleeper: 1_000 });
      expect(p.log).toBe(m.log);
      expect(p.looks).toEqual(m.looks);
    }
  });

  it("polls every tick, as msleep does, under the default pollLoops ('every-tick')", () => {
    for (const seed of SEEDS(20)) {
      const p = runPoll({ seed, wait: asPoll, pollLoops: 'every-tick' });
      const m = runPoll({ seed, wait: asMsleep, pollLoops: 'every-tick' });
      expect(p.log).toBe(m.log);
    }
    expect(runPoll({ seed: 1, wait: asPoll, pollLoops: 'every-tick' }).looks.failed).toBeGreaterThan(1);
  });

  it('polls every tick, as msleep does, while an RCU-sched grace period runs', () => {
    let failed = 0;
    for (const seed of SEEDS(20)) {
      // The same log up to the grace period's end (from there on, the looks may be set aside).
      const upToGpEnd = (log: string): string => log.slice(0, log.indexOf('"type":"rcu/gp-end"'));
      const p = runPoll({ seed, wait: asPoll, rcu: true });
      const m = runPoll({ seed, wait: asMsleep, rcu: true });
      expect(upToGpEnd(p.log)).toBe(upToGpEnd(m.log));
      failed += p.looks.failed;
    }
    // The poller did look while the grace period ran (two or more failed looks a seed).
    expect(failed).toBeGreaterThan(40);
  });

  it('polls every tick, as msleep does, with a context-switch hook registered', () => {
    for (const seed of SEEDS(20)) {
      const p = runPoll({ seed, wait: asPoll, switchHook: true });
      const m = runPoll({ seed, wait: asMsleep, switchHook: true });
      expect(p.log).toBe(m.log);
    }
  });

  it('polls every tick, as msleep does, with interrupt sources configured', () => {
    for (const seed of SEEDS(20)) {
      const p = runPoll({ seed, wait: asPoll, interrupts: true });
      const m = runPoll({ seed, wait: asMsleep, interrupts: true });
      expect(p.log).toBe(m.log);
    }
  });

  it('wakes a poller whose timer was set aside once another timer is armed, and polls from then on', () => {
    // The worker stays busy (its CPU always has something to do); a second thread sleeps 6
    // ticks after a few steps. Its timer makes the parked poller's looks visible again: the
    // poller looks while it sleeps.
    let seedsWithLooks = 0;
    for (const seed of SEEDS(30)) {
      const k = createKernel({ cpus: 2, seed, pollLoops: 'on-change' });
      const window = { from: -1, to: -1 };
      const lookedAt: number[] = [];
      const worker = k.spawnKthread(points(40), { comm: 'worker' });
      k.spawnKthread(
        (function* () {
          yield* points(4);
          window.from = (yield* current()).now;
          yield* msleep(6);
          window.to = (yield* current()).now;
        })(),
        { comm: 'napper' },
      );
      const pollerPid = k.spawnKthread(
        (function* () {
          for (;;) {
            const s = yield* getState();
            if (gone(worker)(s)) return;
            lookedAt.push((yield* current()).now);
            yield* pollSleep(1, gone(worker));
          }
        })(),
        { comm: 'poller' },
      );
      const r = k.run({ maxSteps: 5_000 });
      expectClean(k, r);
      expect(window.to).toBeGreaterThan(window.from);
      // Outside the nap, the poller looked once before it (its first look), once after, and once
      // for each preemption of the worker taken for it.
      expect(lookedAt.filter((t) => t < window.from || t > window.to).length).toBeLessThanOrEqual(2 + preemptionsFor(k, pollerPid));
      if (lookedAt.some((t) => t > window.from && t <= window.to)) seedsWithLooks++;
    }
    expect(seedsWithLooks).toBeGreaterThan(15);
  });

  it('wakes every parked poller when no CPU has anything else to do: its looks are what passes time', () => {
    // The target never exits: it sleeps on a channel nobody wakes. The poller looks each tick
    // to the step limit, as with msleep, rather than the run ending with every task asleep.
    const k = createKernel({ cpus: 2, seed: 1, pollLoops: 'on-change' });
    const looks: Looks = { failed: 0, ok: 0 };
    const target = k.spawnKthread(
      waitEvent('never', () => false),
      { comm: 'stuck' },
    );
    k.spawnKthread(
      poller(() => target, asPoll, looks),
      { comm: 'poller' },
    );
    const r = k.run({ maxSteps: 300 });
    expect(r.done).toBe(false);
    expect(looks.failed).toBeGreaterThan(100);
  });

  it('hands a test that throws to the poller, whose code fails at its wait with the cause named', () => {
    const k = createKernel({ cpus: 2, seed: 1, pollLoops: 'on-change' });
    const worker = k.spawnKthread(points(12), { comm: 'worker' });
    k.spawnKthread(
      (function* () {
        yield* pollSleep(1, (s) => {
          if (intMapGet(s.tasks, worker) !== undefined) throw new Error('bad test');
          return true;
        });
      })(),
      { comm: 'poller' },
    );
    k.run({ maxSteps: 5_000 });
    const oops = k.log.find((e) => e.type === 'kernel/oops');
    expect(oops).toBeDefined();
    expect(JSON.stringify(oops)).toMatch(/its pollSleep test threw: .*bad test/);
  });

  it('refuses a test that is not a function, naming it', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    k.spawnKthread(pollSleep(1, 'later' as unknown as PollDone), { comm: 'poller' });
    k.run({ maxSteps: 100 });
    const oops = JSON.stringify(k.log.find((e) => e.type === 'kernel/oops'));
    // The task's oops names the call and what it was given.
    expect(oops).toMatch(/"where":"pid \d+ \(poller\)"/);
    expect(oops).toMatch(/pollSleep\(1, done\): done must be a function of the state, got string/);
  });

  it("records 'on-change' in the log header, and refuses a pollLoops it does not know", () => {
    expect(createKernel({ pollLoops: 'on-change' }).log[0]).toMatchObject({ type: 'kernel/created', pollLoops: 'on-change' });
    expect(createKernel({ pollLoops: 'every-tick' }).log[0]).not.toHaveProperty('pollLoops');
    expect(createKernel().log[0]).not.toHaveProperty('pollLoops');
    expect(() => createKernel({ pollLoops: 'sometimes' as 'on-change' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: `createKernel: pollLoops must be 'every-tick' or 'on-change', got "sometimes"` }),
    );
  });

  it('replays: the same schedule gives the same log', () => {
    for (const seed of SEEDS(10)) {
      const run = (k: ReturnType<typeof createKernel>): string => {
        const w = k.spawnKthread(points(12), { comm: 'worker' });
        k.spawnKthread(
          poller(() => w, asPoll, { failed: 0, ok: 0 }),
          { comm: 'poller' },
        );
        k.run();
        return k.logHash();
      };
      const a = createKernel({ cpus: 2, seed, pollLoops: 'on-change' });
      const hash = run(a);
      expect(run(createKernel({ cpus: 2, seed, pollLoops: 'on-change', strategy: replaySchedule(a.schedule) }))).toBe(hash);
    }
  });
});
