import { describe, expect, it } from 'vitest';
import {
  createKernel,
  definePlugin,
  getState,
  kthreadRun,
  localIrqDisable,
  localIrqEnable,
  msleep,
  preemptDisable,
  printk,
  rcuReadLock,
  randomStrategy,
  schedPoint,
  smpCallFunctionSingle,
  type InterruptOptions,
  type Kernel,
  type KPath,
  type Strategy,
} from '../src/index.js';

/**
 * docs/core.md decision 21: an idle CPU with an `idle` tap runs one pass of its loop each time
 * it goes idle or an interrupt wakes it, and is halted (not stepped) in between.
 */

/** A plugin whose idle tap logs `pass`, spends `points` scheduling points, and logs `pass-end`. */
function idleTap(points = 1) {
  return definePlugin({
    name: 'idletap',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.onReset(); // nothing kept outside the state
      ctx.tap('idle', function* (): KPath<void> {
        yield* printk('pass');
        for (let i = 0; i < points; i++) yield* schedPoint();
        yield* printk('pass-end');
      });
      return {};
    },
  });
}

function kernel(options: { strategy?: Strategy; interrupts?: InterruptOptions; seed?: number; points?: number } = {}): Kernel {
  const { points, ...rest } = options;
  return createKernel({ cpus: 2, plugins: [idleTap(points)], ...rest });
}

/** A kthread that sleeps `ticks` between `rounds` short bursts of work. */
function* sleeper(rounds: number, ticks: number): KPath<void> {
  for (let i = 0; i < rounds; i++) {
    yield* schedPoint();
    yield* msleep(ticks);
  }
}

/** Answers every `irq` choice yes (a tick whenever one is due), the rest at random from `seed`. */
function alwaysIrq(seed: number): Strategy {
  return {
    name: 'always-irq',
    create: () => {
      const inner = randomStrategy().create(seed);
      return { choose: (kind, n, pids, state) => (kind === 'irq' ? 1 : inner.choose(kind, n, pids, state)) };
    },
  };
}

/** A plugin named `leaky` whose idle tap logs `pass` and, on CPU 1, runs `leak()` and returns. */
function leakOnCpu1(leak: () => KPath<void>) {
  return definePlugin({
    name: 'leaky',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.onReset();
      ctx.tap('idle', function* ({ cpu }): KPath<void> {
        yield* printk('pass');
        if (cpu === 1) yield* leak();
      });
      return {};
    },
  });
}

/**
 * A ticking kernel (tick every `period`) with a `sleeper(rounds, ticks)`, run to its end (done
 * asserted).
 */
function tickingRun(o: { seed: number; period: number; rounds: number; ticks: number; points?: number; strategy?: Strategy }): Kernel {
  const { period, rounds, ticks, ...rest } = o;
  const k = kernel({ ...rest, interrupts: { timer: { period } } });
  k.spawnKthread(sleeper(rounds, ticks), { comm: 'sleeper' });
  expect(k.run({ maxSteps: 5_000 }).done).toBe(true);
  return k;
}

type CpuEvent = 'pass' | 'pass-end' | 'enter' | 'leave' | 'irq' | 'irq-exit';

/**
 * Per CPU, in log order: its idle loop's passes (`pass`, `pass-end`), switches to and from its
 * idle task (`enter`, `leave`), and interrupts on its idle task (`irq` entry, `irq-exit`).
 */
function cpuEvents(k: Kernel): Map<number, CpuEvent[]> {
  const out = new Map<number, CpuEvent[]>();
  const add = (cpu: number, what: CpuEvent): void => {
    if (!out.has(cpu)) out.set(cpu, []);
    out.get(cpu)!.push(what);
  };
  for (const e of k.log) {
    if (e.type === 'kernel/printk' && (e.text === 'pass' || e.text === 'pass-end')) add(e.cpu, e.text);
    else if (e.type === 'sched/switch' && e.next === 0) add(e.cpu, 'enter');
    else if (e.type === 'sched/switch' && e.prev === 0) add(e.cpu, 'leave');
    else if (e.type === 'irq/entry' && e.pid === 0) add(e.cpu, 'irq');
    else if (e.type === 'irq/exit' && e.pid === 0) add(e.cpu, 'irq-exit');
  }
  return out;
}

/**
 * Pairs of consecutive passes of one CPU with nothing that wakes it between the first pass's end
 * and the second pass: no idle entry and no interrupt. `woken` counts those whose first pass
 * took an interrupt inside it (the arch idle routine then returns at once).
 */
function backToBack(k: Kernel): { bare: number; woken: number } {
  let bare = 0;
  let woken = 0;
  for (const events of cpuEvents(k).values()) {
    let inPass = false;
    let irqInPass = false;
    let wakeSinceEnd = true;
    for (const what of events) {
      if (what === 'pass') {
        if (!wakeSinceEnd) {
          if (irqInPass) woken++;
          else bare++;
        }
        inPass = true;
        irqInPass = false;
      } else if (what === 'pass-end') {
        inPass = false;
        wakeSinceEnd = false;
      } else if (what === 'irq' && inPass) irqInPass = true;
      else if (what === 'enter' || what === 'irq') wakeSinceEnd = true;
    }
  }
  return { bare, woken };
}

describe('idle CPUs halt between passes of their idle loop (decision 21)', () => {
  it('without interrupts, a CPU runs one pass each time it goes idle with nothing to run, and none between', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const k = kernel({ seed });
      // Bound to CPU 0: each sleep leaves CPU 0 idle with nothing runnable anywhere.
      k.spawnKthread(sleeper(3, 20), { comm: 'sleeper', cpu: 0 });
      const r = k.run({ maxSteps: 5_000 });
      expect(r.done).toBe(true);
      expect(k.violations).toEqual([]);
      expect(backToBack(k)).toEqual({ bare: 0, woken: 0 });
      // CPU 0 went idle at each of the three sleeps and ran exactly one pass each time before
      // the sleeper's timer woke it (the last entry, after the exit, ends the run).
      const cpu0 = cpuEvents(k)
        .get(0)!
        .filter((w) => w === 'enter' || w === 'leave' || w === 'pass');
      const stretches = cpu0.join(' ').split('enter').slice(1, -1);
      expect(stretches).toHaveLength(3);
      for (const s of stretches) expect(s.trim()).toBe('pass leave');
      // The clock jumps over the sleeps (no CPU is eligible), so the run is a few dozen steps,
      // where polling idle CPUs stepped through every tick of them.
      expect(r.steps).toBeLessThan(60);
    }
  });

  it('a halted CPU is woken by a task it may run: it switches in without another pass', () => {
    // Always the last eligible CPU: CPU 1 steps first, runs its boot pass and halts.
    const lastCpu: Strategy = { name: 'last-cpu', create: () => ({ choose: (kind, n) => (kind === 'cpu' ? n - 1 : 0) }) };
    const k = kernel({ strategy: lastCpu });
    k.spawnKthread(sleeper(1, 5), { comm: 'first', cpu: 0 });
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    expect(cpuEvents(k).get(1)).toEqual(['pass', 'pass-end']);
    const late = k.spawnKthread(sleeper(2, 3), { comm: 'late', cpu: 1 });
    const before = k.log.length;
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    const switchedIn = k.log.slice(before).filter((e) => e.type === 'sched/switch' && e.next === late);
    expect(switchedIn.length).toBe(3);
    for (const e of switchedIn) expect(e.cpu).toBe(1);
    // Woken by the task: the first thing CPU 1 did was switch to it, no pass first; each sleep
    // of the task then left it idle for one pass, and so did its exit: the run drains that last
    // pass before it returns (decision 22).
    expect(cpuEvents(k).get(1)!.slice(2)).toEqual([
      'leave',
      'enter',
      'pass',
      'pass-end',
      'leave',
      'enter',
      'pass',
      'pass-end',
      'leave',
      'enter',
      'pass',
      'pass-end',
    ]);
  });

  it('with a timer tick, a halted idle CPU is woken by its tick and runs another pass after the handler', () => {
    let woken = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const k = tickingRun({ seed, period: 4, rounds: 4, ticks: 15 });
      expect(k.violations).toEqual([]);
      expect(backToBack(k).bare).toBe(0);
      for (const events of cpuEvents(k).values())
        for (let i = 2; i < events.length; i++) if (events[i] === 'pass' && events[i - 1] === 'irq-exit' && events[i - 2] === 'irq') woken++;
    }
    expect(woken).toBeGreaterThan(10);
  });

  it('the interrupt that wakes a halted CPU is asked of no one: with every irq choice answered "no", only halted idle CPUs take ticks', () => {
    const asked: number[] = [];
    const never: Strategy = {
      name: 'never-irq',
      create: () => {
        const inner = randomStrategy().create(7);
        return {
          choose(kind, n, pids, state) {
            if (kind === 'irq') {
              asked.push(pids[0]!);
              return 0;
            }
            return inner.choose(kind, n, pids, state);
          },
        };
      },
    };
    const k = kernel({ strategy: never, interrupts: { timer: { period: 3 } } });
    k.spawnKthread(sleeper(4, 12), { comm: 'sleeper' });
    expect(k.run({ maxSteps: 5_000 }).done).toBe(true);
    // Ticks were offered both to the sleeper and to idle CPUs inside a pass, and all refused.
    expect(asked).toContain(0);
    expect(asked.some((pid) => pid !== 0)).toBe(true);
    const entries = k.log.filter((e) => e.type === 'irq/entry');
    expect(entries.length).toBeGreaterThan(0);
    // Every tick that arrived woke a halted idle CPU, so none arrived inside a pass.
    for (const e of entries) expect(e.type === 'irq/entry' && e.pid).toBe(0);
    expect(backToBack(k).woken).toBe(0);
  });

  it('an NMI wakes a halted idle CPU too (no timer configured)', () => {
    const k = kernel({ seed: 3, interrupts: { nmi: { period: 5 } } });
    k.spawnKthread(sleeper(3, 20), { comm: 'sleeper' });
    expect(k.run({ maxSteps: 5_000 }).done).toBe(true);
    const nmis = k.log.filter((e) => e.type === 'irq/entry' && e.name === 'nmi' && e.pid === 0);
    expect(nmis.length).toBeGreaterThan(2);
    expect(backToBack(k).bare).toBe(0);
    let passAfterNmi = 0;
    for (const events of cpuEvents(k).values())
      for (let i = 1; i < events.length; i++) if (events[i] === 'pass' && events[i - 1] === 'irq-exit') passAfterNmi++;
    expect(passAfterNmi).toBeGreaterThan(2);
  });

  it('an IPI wakes a halted idle CPU: the function runs there, then its loop runs another pass', () => {
    const lastCpu: Strategy = { name: 'last-cpu', create: () => ({ choose: (kind, n) => (kind === 'cpu' ? n - 1 : 0) }) };
    const k = kernel({ strategy: lastCpu });
    const ran: number[] = [];
    k.spawnKthread(
      (function* (): KPath<void> {
        // CPU 1 ran its boot pass first (the strategy) and is halted by now.
        yield* schedPoint();
        yield* smpCallFunctionSingle(1, () => {
          ran.push(1);
        });
        yield* printk('returned');
      })(),
      { comm: 'sender', cpu: 0 },
    );
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    expect(ran).toEqual([1]);
    expect(cpuEvents(k).get(1)).toEqual(['pass', 'pass-end', 'irq', 'irq-exit', 'pass', 'pass-end']);
  });

  it('an interrupt inside a pass ends that pass in no halt: the loop runs another at once', () => {
    const always = alwaysIrq(11);
    let woken = 0;
    for (let seed = 1; seed <= 5; seed++) {
      // A pass longer than the tick period takes a tick inside it, and the next one is not due yet
      // when that pass ends, so the one after it follows with no wake between.
      const k = tickingRun({ strategy: always, seed, points: 8, period: 5, rounds: 3, ticks: 25 });
      const b = backToBack(k);
      expect(b.bare).toBe(0);
      woken += b.woken;
    }
    expect(woken).toBeGreaterThan(3);
  });

  /**
   * Runs a sleeper bound to CPU 0 (CPU 1 only passes and halts) on `k`, resets it, and runs it
   * again: each run's per-CPU events.
   */
  function acrossReset(k: Kernel, ticks: number): [string, string] {
    const runOnce = (): string => {
      k.spawnKthread(sleeper(2, ticks), { comm: 'sleeper', cpu: 0 });
      expect(k.run({ maxSteps: 2_000 }).done).toBe(true);
      return JSON.stringify([...cpuEvents(k)].sort());
    };
    const first = runOnce();
    k.reset();
    return [first, runOnce()];
  }

  it('kernel.reset puts every CPU back to running its first pass', () => {
    const [first, second] = acrossReset(kernel({ seed: 5 }), 10);
    expect(first).toContain('"pass"');
    expect(second).toBe(first);
  });

  it('kernel.reset leaves no repass over either (ticks inside long passes)', () => {
    // Ticks inside long passes (a repass pending) and CPUs halted when a run ends: a reset must
    // leave none of it to the next run, which then logs what the first one did.
    for (let seed = 1; seed <= 8; seed++) {
      const [first, second] = acrossReset(kernel({ seed, points: 6, interrupts: { timer: { period: 3 } } }), 7);
      expect(first).toContain('"pass"');
      expect(second, `seed ${seed}`).toBe(first);
    }
  });

  it('a CPU halted with a pass done is not stepped: the strategy is never offered it while nothing wakes it', () => {
    // One CPU works for a while; the other runs its boot pass and halts. Every cpu choice after
    // that pass offers only the working CPU, so none is asked.
    const offered: Array<readonly number[]> = [];
    const rec: Strategy = {
      name: 'rec',
      create: () => ({
        choose(kind, n, pids) {
          if (kind === 'cpu') offered.push([...pids]);
          return kind === 'cpu' ? n - 1 : 0;
        },
      }),
    };
    const k = createKernel({ cpus: 2, plugins: [idleTap()], strategy: rec });
    k.spawnKthread(
      (function* busy(): KPath<void> {
        for (let i = 0; i < 30; i++) yield* schedPoint();
      })(),
      { comm: 'busy', cpu: 0 },
    );
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    expect(cpuEvents(k).get(1)).toEqual(['pass', 'pass-end']);
    expect(offered.length).toBeGreaterThan(0);
    expect(offered.length).toBeLessThan(5);
  });
});

describe('a run drains what is under way when its last task exits (decision 22)', () => {
  /** The log index of the last task's final switch-out: the task table is empty from there on. */
  function drainStart(k: Kernel): number {
    return k.log.findLastIndex((e) => e.type === 'sched/switch' && (e.prevState === 'dead' || e.prevState === 'zombie'));
  }

  /** Per CPU, `pass` count less `pass-end` count: a pass started and never finished. */
  function unfinished(k: Kernel): number[] {
    return [...cpuEvents(k).values()].map((ev) => ev.filter((w) => w === 'pass').length - ev.filter((w) => w === 'pass-end').length);
  }

  /** Two short workers, unbound: on either CPU, exiting in either order. */
  function* worker(points: number): KPath<void> {
    for (let i = 0; i < points; i++) yield* schedPoint();
  }

  it('no pass is left half-run or due: every CPU that went idle at the end ran its pass, and finished it', () => {
    let lateOther = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const k = kernel({ seed, points: 3 });
      k.spawnKthread(worker(2), { comm: 'a' });
      k.spawnKthread(worker(4), { comm: 'b' });
      const r = k.run({ maxSteps: 2_000 });
      expect(r.done).toBe(true);
      expect(unfinished(k), `seed ${seed}`).toEqual([0, 0]);
      const exitAt = drainStart(k);
      for (const [cpu, events] of cpuEvents(k)) {
        // The CPU's last switch to its idle task is followed by a pass: going idle makes one due.
        const lastEnter = events.lastIndexOf('enter');
        if (lastEnter >= 0) expect(events.slice(lastEnter + 1), `seed ${seed} cpu ${cpu}`).toContain('pass');
      }
      // Some seeds end with the other CPU's pass still running at the exit: it is finished.
      const after = k.log.slice(exitAt + 1);
      if (after.some((e) => e.type === 'kernel/printk' && e.text === 'pass-end' && e.cpu !== k.log[exitAt]!.cpu)) lateOther++;
      // Nothing left: another run takes no step.
      expect(k.run({ maxSteps: 100 }).steps).toBe(0);
    }
    expect(lateOther).toBeGreaterThan(0);
  });

  it('the drain takes the interrupts that were due when the last task went, and none that fall due later: it ends', () => {
    // Passes longer than the tick period: each pass takes a tick and so runs another. A drain
    // that let ticks keep falling due would run to the step limit.
    let drainedIrqs = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const k = kernel({ seed, points: 6, interrupts: { timer: { period: 3 } } });
      k.spawnKthread(sleeper(2, 7), { comm: 'sleeper', cpu: 0 });
      const r = k.run({ maxSteps: 5_000 });
      expect(r.done).toBe(true);
      expect(r.steps, `seed ${seed}`).toBeLessThan(500);
      expect(unfinished(k), `seed ${seed}`).toEqual([0, 0]);
      const exitAt = drainStart(k);
      drainedIrqs += k.log.slice(exitAt + 1).filter((e) => e.type === 'irq/entry').length;
      expect(k.run({ maxSteps: 100 }).steps).toBe(0);
    }
    expect(drainedIrqs).toBeGreaterThan(0);
  });

  it('every tick the drain delivers was due by the tick of the exit, and some were due at that very tick', () => {
    // A tick is due `period` after the CPU's last one (the first at 0); the drain's limit is the
    // tick at which the last task was gone (the time of its final switch-out).
    let atTheExit = 0;
    let before = 0;
    for (const period of [2, 3, 4, 5]) {
      for (let seed = 1; seed <= 40; seed++) {
        const k = tickingRun({ seed, period, rounds: 2, ticks: 5, points: 2 });
        const start = drainStart(k);
        const limit = k.log[start]!.time;
        const last = new Map<number, number>();
        k.log.forEach((e, i) => {
          if (e.type !== 'irq/entry' || e.name !== 'timer') return;
          const due = last.has(e.cpu) ? last.get(e.cpu)! + period : 0;
          last.set(e.cpu, e.time);
          if (i <= start) return;
          expect(due, `period ${period} seed ${seed}`).toBeLessThanOrEqual(limit);
          if (due === limit) atTheExit++;
          else before++;
        });
      }
    }
    expect(atTheExit).toBeGreaterThan(0);
    expect(before).toBeGreaterThan(0);
  });

  it('a task spawned after a drained run has its ticks again', () => {
    const k = kernel({ seed: 3, interrupts: { timer: { period: 4 } } });
    k.spawnKthread(worker(2), { comm: 'first' });
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    const before = k.log.length;
    k.spawnKthread(worker(40), { comm: 'second', cpu: 0 });
    expect(k.run({ maxSteps: 2_000 }).done).toBe(true);
    const ticksOnSecond = k.log.slice(before).filter((e) => e.type === 'irq/entry' && e.pid !== 0);
    expect(ticksOnSecond.length).toBeGreaterThan(3);
  });
  it('a run stopped partway through the drain is not done: step by step, it ends where one run ends', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const make = (): Kernel => {
        const k = kernel({ seed, points: 5 });
        k.spawnKthread(worker(2), { comm: 'a' });
        return k;
      };
      const whole = make();
      const r = whole.run({ maxSteps: 1_000 });
      expect(r.done).toBe(true);
      const stepwise = make();
      let steps = 0;
      let midDrain = 0;
      for (;;) {
        const one = stepwise.run({ maxSteps: 1 });
        steps += one.steps;
        if (one.done) break;
        if (stepwise.state.tasks.size === 0) midDrain++;
        expect(one.steps, `seed ${seed}`).toBe(1);
      }
      expect(steps, `seed ${seed}`).toBe(r.steps);
      expect(stepwise.logHash()).toBe(whole.logHash());
      // The drain took steps after the exit, each a run that returned not done.
      expect(midDrain, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it('in the drain each CPU takes at most one tick, the one already due, even with every irq choice answered yes', () => {
    const always = alwaysIrq(5);
    let drained = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const k = tickingRun({ strategy: always, seed, points: 6, period: 3, rounds: 2, ticks: 7 });
      const exitAt = drainStart(k);
      const perCpu = new Map<number, number>();
      for (const e of k.log.slice(exitAt + 1)) if (e.type === 'irq/entry') perCpu.set(e.cpu, (perCpu.get(e.cpu) ?? 0) + 1);
      for (const [cpu, n] of perCpu) expect(n, `seed ${seed} cpu ${cpu}`).toBe(1);
      drained += perCpu.size;
    }
    expect(drained).toBeGreaterThan(5);
  });

  it('a spawn an oops rolls back in the drain leaves the interrupt limit in place', () => {
    // CPU 0's idle pass spawns a kthread and then throws: the oops takes the spawn back. The
    // limit the drain set at the exit must come back with it: no tick after the oops.
    let fired = false;
    const tap = definePlugin({
      name: 'spawner',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.onReset(); // `fired` is this test's, not the plugin's
        ctx.tap('idle', function* ({ cpu }): KPath<void> {
          const now = (yield* getState()).clock.now;
          if (!fired && cpu === 0 && now >= 8) {
            fired = true;
            yield* kthreadRun(worker(1), 'kid');
            throw new Error('boom');
          }
          yield* schedPoint();
          yield* schedPoint();
        });
        return {};
      },
    });
    const k = createKernel({ cpus: 2, seed: 2, plugins: [tap], interrupts: { timer: { period: 3 } } });
    k.spawnKthread(worker(3), { comm: 'a', cpu: 1 });
    expect(k.run({ maxSteps: 5_000 }).done).toBe(true);
    const oopsAt = k.log.findIndex((e) => e.type === 'kernel/oops');
    expect(oopsAt).toBeGreaterThan(drainStart(k));
    expect(k.log.slice(oopsAt + 1).filter((e) => e.type === 'irq/entry')).toEqual([]);
  });

  it('kernel.reset clears the interrupt limit: a task-less run after it is the same as on a fresh kernel', () => {
    const ticking = () => kernel({ seed: 4, points: 2, interrupts: { timer: { period: 3 } } });
    const used = ticking();
    used.spawnKthread(sleeper(2, 9), { comm: 'sleeper' });
    expect(used.run({ maxSteps: 5_000 }).done).toBe(true);
    used.reset();
    used.run({ maxSteps: 5_000 });
    const fresh = ticking();
    fresh.run({ maxSteps: 5_000 });
    expect(used.log.filter((e) => e.type === 'irq/entry').length).toBeGreaterThan(0);
    expect(used.logHash()).toBe(fresh.logHash());
  });

  it("an IPI wakes a halted CPU whose idle pass ends with interrupts off (do_idle's shape), and it is taken", () => {
    // do_idle runs with interrupts off and the arch routine enables them as it halts. Here the
    // pass enables them at its start and disables them at its end; the sender waits for the IPI.
    const doIdle = definePlugin({
      name: 'do-idle',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.onReset();
        ctx.tap('idle', function* ({ cpu }): KPath<void> {
          if (cpu !== 0) return;
          yield* localIrqEnable();
          yield* printk('pass');
          yield* schedPoint();
          yield* localIrqDisable();
        });
        return {};
      },
    });
    let ran = false;
    const k = createKernel({ cpus: 2, seed: 1, plugins: [doIdle] });
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < 6; i++) yield* schedPoint(); // CPU 0 runs its boot pass and halts
        yield* smpCallFunctionSingle(
          0,
          () => {
            ran = true;
          },
          true,
        );
      })(),
      { comm: 'sender', cpu: 1 },
    );
    const r = k.run({ maxSteps: 400 });
    expect(r.done).toBe(true);
    expect(ran).toBe(true);
    expect(k.log.some((e) => e.type === 'irq/entry' && e.name === 'ipi' && e.cpu === 0)).toBe(true);
    expect(r.steps).toBeLessThan(100);
  });

  it('an idle hook that leaves interrupts off does not keep an IPI out: the CPU halts with them enabled (sti; hlt), takes it, and the drain ends', () => {
    const leaky = leakOnCpu1(localIrqDisable);
    let ran = false;
    const k = createKernel({ cpus: 2, seed: 1, plugins: [leaky] });
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* schedPoint();
        yield* schedPoint();
        yield* smpCallFunctionSingle(
          1,
          () => {
            ran = true;
          },
          false,
        );
      })(),
      { comm: 't', cpu: 0 },
    );
    const r = k.run({ maxSteps: 300 });
    expect(r.done).toBe(true);
    expect(r.steps).toBeLessThan(100);
    expect(ran).toBe(true);
    expect(k.log.some((e) => e.type === 'irq/entry' && e.name === 'ipi' && e.cpu === 1)).toBe(true);
    // Leaving them off at the end of a pass is do_idle's own shape: no oops.
    expect(k.log.filter((e) => e.type === 'kernel/oops')).toEqual([]);
  });

  it("a halted CPU whose idle hook left interrupts off is woken by its tick: the halt enabled them, as cpuidle's return does", () => {
    const leaky = leakOnCpu1(localIrqDisable);
    const k = createKernel({ cpus: 2, seed: 1, plugins: [leaky], interrupts: { timer: { period: 4 } } });
    k.spawnKthread(
      (function* (): KPath<void> {
        for (let i = 0; i < 30; i++) yield* schedPoint();
      })(),
      { comm: 't', cpu: 0 },
    );
    const r = k.run({ maxSteps: 1000 });
    expect(r.done).toBe(true);
    // CPU 1's first pass (at boot) leaves interrupts off; its ticks come after it all the same.
    const firstPass = k.log.findIndex((e) => e.type === 'kernel/printk' && e.cpu === 1);
    expect(firstPass).toBeGreaterThanOrEqual(0);
    const ticks = k.log.slice(firstPass).filter((e) => e.type === 'irq/entry' && e.name === 'timer' && e.cpu === 1);
    expect(ticks.length).toBeGreaterThan(0);
  });

  it('an idle hook that leaks a preempt count or an RCU read lock is oopsed and its CPU halts, where it used to poll for ever', () => {
    for (const leak of ['preempt', 'rcu'] as const) {
      const leaky = leakOnCpu1(leak === 'preempt' ? preemptDisable : rcuReadLock);
      const k = createKernel({ cpus: 2, seed: 1, plugins: [leaky] });
      k.spawnKthread(worker(2), { comm: 't', cpu: 0 });
      const r = k.run({ maxSteps: 300 });
      expect(r.done, leak).toBe(true);
      expect(r.steps, leak).toBeLessThan(30);
      const oopses = k.log.filter((e) => e.type === 'kernel/oops');
      expect(oopses.map((e) => [e.plugin, e.where, e.cpu, e.preemptCount])).toEqual([['leaky', 'hook idle', 1, 0]]);
      expect(oopses[0]!.message).toMatch(/scheduling while atomic.*preempt count 1, entered with 0/);
      expect(k.state.kernel.disabledPlugins['leaky']).toBeDefined();
      expect(k.state.cpus[1]!.preemptCount).toBe(0);
    }
  });
});
