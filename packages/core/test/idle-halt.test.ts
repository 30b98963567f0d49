import { describe, expect, it } from 'vitest';
import {
  createKernel,
  definePlugin,
  msleep,
  printk,
  randomStrategy,
  schedPoint,
  type InterruptOptions,
  type Kernel,
  type KPath,
  type Strategy,
} from '../src/index.js';

/**
 * docs/core.md decision 21: an idle CPU with an `idle` tap runs one pass of its loop each time
 * it goes idle or an interrupt wakes it, and is halted (not stepped) in between.
 */

/** A plugin whose idle tap logs `pass` and spends `points` scheduling points in the routine. */
function idleTap(points = 1) {
  return definePlugin({
    name: 'idletap',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.tap('idle', function* (): KPath<void> {
        yield* printk('pass');
        for (let i = 0; i < points; i++) yield* schedPoint();
      });
      return {};
    },
  });
}

function kernel(options: { strategy?: Strategy; interrupts?: InterruptOptions; seed?: number } = {}): Kernel {
  return createKernel({ cpus: 2, plugins: [idleTap()], ...options });
}

/** A kthread that sleeps `ticks` between `rounds` short bursts of work. */
function* sleeper(rounds: number, ticks: number): KPath<void> {
  for (let i = 0; i < rounds; i++) {
    yield* schedPoint();
    yield* msleep(ticks);
  }
}

/**
 * For each CPU, what happened on it between two passes of its idle loop: the pass, a switch to
 * its idle task (`idle`), or an interrupt handler returning on its idle task (`irq`).
 */
function passesAndWakes(k: Kernel): Array<{ cpu: number; what: 'pass' | 'idle' | 'irq' }> {
  const out: Array<{ cpu: number; what: 'pass' | 'idle' | 'irq' }> = [];
  for (const e of k.log) {
    if (e.type === 'kernel/printk' && e.text === 'pass') out.push({ cpu: e.cpu, what: 'pass' });
    else if (e.type === 'sched/switch' && e.next === 0) out.push({ cpu: e.cpu, what: 'idle' });
    else if (e.type === 'irq/exit' && e.pid === 0) out.push({ cpu: e.cpu, what: 'irq' });
  }
  return out;
}

/** Two passes of one CPU's idle loop with neither an idle entry nor an interrupt between them. */
function backToBack(k: Kernel): number {
  const last = new Map<number, string>();
  let n = 0;
  for (const { cpu, what } of passesAndWakes(k)) {
    if (what === 'pass' && last.get(cpu) === 'pass') n++;
    last.set(cpu, what);
  }
  return n;
}

describe('idle CPUs halt between passes of their idle loop (decision 21)', () => {
  it('without interrupts, each CPU runs one pass each time it goes idle, and the run ends when its tasks do', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const k = kernel({ seed });
      k.spawnKthread(sleeper(3, 20), { comm: 'sleeper' });
      const r = k.run({ maxSteps: 5_000 });
      expect(r.done).toBe(true);
      expect(k.violations).toEqual([]);
      const events = passesAndWakes(k);
      expect(events.filter((e) => e.what === 'pass').length).toBeGreaterThan(0);
      expect(backToBack(k)).toBe(0);
      // Three sleeps of 20 ticks: the clock jumps over them (no CPU is eligible), so the run is a
      // few dozen steps, where polling idle CPUs stepped through every tick of the sleeps.
      expect(r.steps).toBeLessThan(60);
    }
  });

  it('a halted CPU is woken by a task it may run: a kthread bound to it, created later, runs there', () => {
    const k = kernel();
    k.spawnKthread(sleeper(1, 5), { comm: 'first', cpu: 0 });
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    const before = k.log.length;
    const late = k.spawnKthread(sleeper(2, 3), { comm: 'late', cpu: 1 });
    expect(k.run({ maxSteps: 1_000 }).done).toBe(true);
    const switchedIn = k.log.slice(before).filter((e) => e.type === 'sched/switch' && e.next === late);
    expect(switchedIn.length).toBeGreaterThan(0);
    for (const e of switchedIn) expect(e.cpu).toBe(1);
  });

  it('with a timer tick, a halted idle CPU is woken by its tick and runs another pass after the handler', () => {
    let woken = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const k = kernel({ seed, interrupts: { timer: { period: 4 } } });
      k.spawnKthread(sleeper(4, 15), { comm: 'sleeper' });
      expect(k.run({ maxSteps: 5_000 }).done).toBe(true);
      expect(k.violations).toEqual([]);
      expect(backToBack(k)).toBe(0);
      const events = passesAndWakes(k);
      for (let i = 1; i < events.length; i++)
        if (events[i]!.what === 'pass' && events.slice(0, i).findLast((e) => e.cpu === events[i]!.cpu)?.what === 'irq') woken++;
    }
    expect(woken).toBeGreaterThan(10);
  });

  it('the interrupt that wakes a halted CPU is asked of no one: with every irq choice answered "no", only halted idle CPUs take ticks', () => {
    const asked: number[] = [];
    const never: Strategy = {
      name: 'never-irq',
      create: () => {
        const inner = randomStrategy(7).create();
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
    const entries = k.log.filter((e) => e.type === 'irq/entry');
    expect(asked.length).toBeGreaterThan(0);
    expect(entries.length).toBeGreaterThan(0);
    // Every tick that arrived woke an idle CPU; none arrived where the strategy was asked.
    for (const e of entries) expect(e.type === 'irq/entry' && e.pid).toBe(0);
  });

  it('a CPU halted with a pass done is not stepped: the strategy is never offered it while nothing wakes it', () => {
    // One CPU works for a while; the other goes idle at boot, runs its pass and halts. Every
    // cpu choice after that pass offers only the working CPU.
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
    const passes = passesAndWakes(k).filter((e) => e.cpu === 1 && e.what === 'pass');
    expect(passes.length).toBe(1);
    // Before the halt, both CPUs were offered; after it, no choice was asked at all (one CPU).
    expect(offered.length).toBeGreaterThan(0);
    expect(offered.length).toBeLessThan(5);
  });
});
