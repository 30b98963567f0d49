import { describe, expect, it } from 'vitest';
import {
  HARDIRQ_OFFSET,
  NMI_OFFSET,
  createKernel,
  current,
  definePlugin,
  inInterrupt,
  inIrq,
  inNmi,
  irqsDisabled,
  localIrqDisable,
  localIrqEnable,
  localIrqRestore,
  localIrqSave,
  msleep,
  preemptDisable,
  preemptEnable,
  printk,
  rcuIdleEnter,
  rcuIdleExit,
  randomStrategy,
  replaySchedule,
  schedPoint,
  synchronizeRcu,
  type ChoiceKind,
  type HookArgs,
  type InterruptOptions,
  type Kernel,
  type KernelEvent,
  type KPath,
  type Program,
  type Strategy,
} from '@tracelab/core';

/**
 * Interrupts and NMIs (issue 18, docs/core.md "Interrupts"): nested contexts on a CPU whose
 * arrival is the strategy's `irq` choice.
 */

interface Seen {
  pid: number;
  count: number;
  irq: boolean;
  nmi: boolean;
  intr: boolean;
  irqOff: boolean;
}

/** A plugin whose irq/nmi handlers are the test's. */
function handlers(h: { irq?: (a: HookArgs['irq']) => KPath<void>; nmi?: (a: HookArgs['nmi']) => KPath<void> }) {
  return definePlugin({
    name: 'irqtest',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      if (h.irq !== undefined) ctx.tap('irq', h.irq);
      if (h.nmi !== undefined) ctx.tap('nmi', h.nmi);
      return {};
    },
  });
}

function* probe(into: Seen[]): KPath<void> {
  const me = yield* current();
  into.push({ pid: me.pid, count: me.preemptCount, irq: yield* inIrq(), nmi: yield* inNmi(), intr: yield* inInterrupt(), irqOff: yield* irqsDisabled() });
}

/** Every interrupt that can arrive does (the last deliverable source: the timer when both can); no preemption at points; CPU and task 0. */
function always(kinds: ChoiceKind[] = []): Strategy {
  return {
    name: 'always-irq',
    create: () => ({
      choose(kind, n) {
        kinds.push(kind);
        return kind === 'irq' ? n - 1 : 0;
      },
    }),
  };
}

/** Only NMIs (source 1 of the list: NMI first), never the timer. */
const nmiOnly: Strategy = { name: 'nmi-only', create: () => ({ choose: (kind) => (kind === 'irq' ? 1 : 0) }) };

const computing: Program = function* computing(u) {
  yield u.compute(30);
  yield u.exit(0);
};

function entries(k: Kernel, name?: string): KernelEvent<'irq/entry'>[] {
  return k.log.filter((e): e is KernelEvent<'irq/entry'> => e.type === 'irq/entry' && (name === undefined || e.name === name));
}

describe('interrupt sources', () => {
  it('none configured: no irq choice is ever asked, and no interrupt arrives', () => {
    const kinds: ChoiceKind[] = [];
    const seen: Seen[] = [];
    const k = createKernel({ cpus: 1, strategy: always(kinds), plugins: [handlers({ irq: () => probe(seen) })] });
    k.spawn(computing);
    k.spawn(computing);
    expect(k.run().done).toBe(true);
    expect(kinds).not.toContain('irq');
    expect(seen).toEqual([]);
    expect(entries(k)).toEqual([]);
    expect('interrupts' in k.log[0]!).toBe(false);
  });

  it('a timer tick runs the irq handlers in the interrupted task, hardirq part raised, interrupts off', () => {
    const seen: Seen[] = [];
    const k = createKernel({ cpus: 1, strategy: always(), interrupts: { timer: { period: 5 } }, plugins: [handlers({ irq: () => probe(seen) })] });
    const pid = k.spawn(computing);
    expect(k.run().done).toBe(true);
    expect(k.log[0]).toMatchObject({ type: 'kernel/created', interrupts: { timer: 5, nmi: 0 } });
    const ticks = entries(k, 'timer');
    expect(ticks.length).toBeGreaterThan(3);
    // At most one tick per period on the CPU.
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!.time - ticks[i - 1]!.time).toBeGreaterThanOrEqual(5);
    expect(seen.length).toBe(ticks.length);
    expect(seen.some((s) => s.pid === pid)).toBe(true);
    for (const s of seen) expect(s).toMatchObject({ count: HARDIRQ_OFFSET, irq: true, nmi: false, intr: true, irqOff: true });
    // After each handler the count is back: no step ends with the hardirq part set.
    expect(k.state.cpus[0]!.preemptCount).toBe(0);
  });

  it('refuses a bad interrupts option with INVALID_OPTION, naming it', () => {
    expect(() => createKernel({ interrupts: { tick: true } as unknown as InterruptOptions })).toThrow(/unknown source "tick"/);
    expect(() => createKernel({ interrupts: { timer: { period: 0 } } })).toThrow(/timer\.period must be a positive integer/);
    try {
      createKernel({ interrupts: 'timer' as unknown as InterruptOptions });
      expect.unreachable();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('INVALID_OPTION');
    }
  });
});

describe('local_irq_*', () => {
  it('no hard interrupt arrives inside an interrupts-disabled region; an NMI does', () => {
    const seen: Seen[] = [];
    const nmis: Seen[] = [];
    const k = createKernel({ cpus: 1, strategy: always(), interrupts: { timer: { period: 1 }, nmi: { period: 1 } }, plugins: [handlers({ irq: () => probe(seen), nmi: () => probe(nmis) })] });
    k.call(
      (function* () {
        yield* localIrqDisable();
        for (let i = 0; i < 10; i++) yield* schedPoint();
        const flags = yield* localIrqSave();
        expect(flags).toBe(true);
        yield* localIrqRestore(flags);
        expect(yield* irqsDisabled()).toBe(true);
        yield* printk('enable');
        yield* localIrqEnable();
        for (let i = 0; i < 3; i++) yield* schedPoint();
      })(),
    );
    const off = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'enable')!.seq;
    const callStart = k.log.find((e) => e.type === 'task/spawned' && e.comm === 'kcall')!.seq;
    const inside = k.log.filter((e) => e.seq > callStart && e.seq < off && e.type === 'irq/entry') as KernelEvent<'irq/entry'>[];
    // The strategy delivers every interrupt it is offered: only NMIs were offered inside.
    expect(inside.length).toBeGreaterThan(3);
    expect(inside.every((e) => e.name === 'nmi')).toBe(true);
    const after = entries(k, 'timer').filter((e) => e.seq > off);
    expect(after.length).toBeGreaterThan(0);
    // The NMIs inside saw interrupts off.
    expect(nmis.some((s) => s.irqOff && s.nmi && !s.irq && s.count === NMI_OFFSET)).toBe(true);
  });

  it('sleeping with interrupts disabled is a BUG, and local_irq_enable in a handler is one too', () => {
    const k = createKernel({ cpus: 1 });
    expect(() =>
      k.call(
        (function* () {
          yield* localIrqDisable();
          yield* msleep(2);
        })(),
      ),
    ).toThrow(/scheduling with interrupts disabled/);
    const k2 = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: true },
      plugins: [
        handlers({
          *irq() {
            yield* localIrqEnable();
          },
        }),
      ],
    });
    k2.spawn(computing);
    k2.run();
    const oops = k2.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'> | undefined;
    expect(oops).toMatchObject({ plugin: 'irqtest', where: 'hook irq' });
    expect(oops!.message).toMatch(/local_irq_enable in interrupt context/);
  });
});

describe('nesting', () => {
  it('an NMI inside a hard interrupt inside a task: both parts of the count', () => {
    const nmis: Seen[] = [];
    const irqs: Seen[] = [];
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: { period: 3 }, nmi: { period: 1 } },
      plugins: [
        handlers({
          *irq() {
            yield* probe(irqs);
            // A handler that spans a scheduling point (a spinlock, a preempt_enable): an NMI may arrive there.
            yield* schedPoint();
            yield* schedPoint();
          },
          nmi: () => probe(nmis),
        }),
      ],
    });
    const pid = k.spawn(computing);
    expect(k.run().done).toBe(true);
    const nested = nmis.filter((s) => s.irq && s.nmi);
    expect(nested.length).toBeGreaterThan(0);
    expect(nested[0]).toMatchObject({ pid, count: HARDIRQ_OFFSET + NMI_OFFSET, intr: true });
    // No hard interrupt inside a hard interrupt, and no NMI inside an NMI.
    expect(irqs.every((s) => s.count === HARDIRQ_OFFSET)).toBe(true);
    expect(nmis.every((s) => (s.count & (0xf << 20)) === NMI_OFFSET)).toBe(true);
    // Every entry has its exit, in nesting order.
    const stack: string[] = [];
    for (const e of k.log) {
      if (e.type === 'irq/entry') stack.push(e.name);
      if (e.type === 'irq/exit') expect(stack.pop()).toBe(e.name);
    }
    expect(stack).toEqual([]);
    expect(k.state.cpus[0]!.preemptCount).toBe(0);
  });

  it('only NMIs when the strategy picks them: an NMI handler that sleeps is oopsed (scheduling while atomic, NMI context)', () => {
    const k = createKernel({
      cpus: 1,
      strategy: nmiOnly,
      interrupts: { timer: true, nmi: true },
      plugins: [
        handlers({
          *nmi() {
            yield* msleep(1);
          },
        }),
      ],
    });
    k.spawn(computing);
    expect(k.run().done).toBe(true);
    expect(entries(k, 'timer')).toEqual([]);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops).toMatchObject({ plugin: 'irqtest', where: 'hook nmi', killed: null });
    expect(oops.message).toMatch(/scheduling while atomic.*\(in NMI context\)/);
  });

  it('a hard interrupt handler that sleeps is a kernel BUG oops (hard interrupt context), and the task goes on', () => {
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: true },
      plugins: [
        handlers({
          *irq() {
            yield* synchronizeRcu();
          },
        }),
      ],
    });
    const pid = k.spawn(computing);
    expect(k.run().done).toBe(true);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops.message).toMatch(/BUG: scheduling while atomic: pid \d+ .*\(in hard interrupt context\)/);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });
});

describe('preemption on interrupt exit', () => {
  it('the tick preempts the interrupted task when another waits, though no preempt choice ever says yes', () => {
    const run = (interrupts: InterruptOptions | undefined) => {
      const k = createKernel({ cpus: 1, strategy: always(), ...(interrupts !== undefined ? { interrupts } : {}) });
      k.spawn(computing, { comm: 'a' });
      k.spawn(computing, { comm: 'b' });
      expect(k.run().done).toBe(true);
      return k;
    };
    const without = run(undefined);
    expect(without.log.some((e) => e.type === 'sched/switch' && e.preempted)).toBe(false);
    const k = run({ timer: { period: 4 } });
    const preempts = k.log.filter((e): e is KernelEvent<'sched/switch'> => e.type === 'sched/switch' && e.preempted);
    expect(preempts.length).toBeGreaterThan(2);
    // Each comes right after a tick's exit on that CPU, in the same step.
    for (const p of preempts) {
      const before = k.log[p.seq - 1]!;
      expect(before.type).toBe('irq/exit');
      expect(before.time).toBe(p.time);
    }
  });

  it('no preemption on the way out when the interrupted code has preemption disabled', () => {
    const k = createKernel({ cpus: 1, strategy: always(), interrupts: { timer: { period: 2 } } });
    k.spawn(computing, { comm: 'a' });
    const v = k.call(
      (function* () {
        yield* preemptDisable();
        for (let i = 0; i < 12; i++) yield* schedPoint();
        const pc = (yield* current()).preemptCount;
        yield* preemptEnable();
        return pc;
      })(),
    );
    expect(v).toBe(1);
    const call = k.log.find((e) => e.type === 'task/spawned' && e.comm === 'kcall')!;
    // Ticks arrived in the region (the runqueue held the user task) yet the kcall was never preempted there.
    const ticks = entries(k, 'timer').filter((e) => e.pid === (call as KernelEvent<'task/spawned'>).pid);
    expect(ticks.length).toBeGreaterThan(2);
  });
});


describe('RCU and interrupts', () => {
  it('an interrupt is not a quiescent state: a grace period never ends while a user task on its CPU is inside a handler', () => {
    const marks: Array<{ seq: number; inside: boolean }> = [];
    let inside = false;
    const k = createKernel({
      cpus: 2,
      seed: 3,
      strategy: randomStrategy({ irqProbability: 0.5 }),
      interrupts: { timer: { period: 2 } },
      plugins: [
        handlers({
          *irq() {
            const me = yield* current();
            if (me.cpu !== 0 || me.pid === 0) return;
            inside = true;
            marks.push({ seq: -1, inside: true });
            for (let i = 0; i < 4; i++) yield* schedPoint();
            inside = false;
            marks.push({ seq: -1, inside: false });
          },
        }),
      ],
    });
    // A user task that stays in user mode (quiescent by itself) on some CPU, and an updater.
    k.spawn(function* user(u) {
      yield u.compute(200);
      yield u.exit(0);
    });
    let endedInside = 0;
    let gps = 0;
    k.spawnKthread(
      (function* () {
        for (let i = 0; i < 40; i++) {
          const started = inside;
          yield* synchronizeRcu();
          gps++;
          // A GP that began while a handler was inside on cpu 0 must not end before it left.
          if (started && inside) endedInside++;
        }
      })(),
      { comm: 'updater' },
    );
    expect(k.run().done).toBe(true);
    expect(gps).toBe(40);
    expect(marks.filter((m) => m.inside).length).toBeGreaterThan(5);
    expect(endedInside).toBe(0);
  });

  it('RCU watches an idle CPU inside an interrupt: a handler on an idle CPU in rcuIdleEnter/Exit holds up a grace period', () => {
    const order: string[] = [];
    let handlerInside = false;
    const k = createKernel({
      cpus: 2,
      strategy: { name: 'idle-irq', create: () => ({ choose: (kind, n) => (kind === 'irq' ? n - 1 : kind === 'cpu' ? n - 1 : 0) }) },
      interrupts: { timer: { period: 1 } },
      plugins: [
        definePlugin({
          name: 'idleirq',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            ctx.tap('idle', function* () {
              yield* rcuIdleEnter();
              yield* schedPoint();
              yield* rcuIdleExit();
            });
            ctx.tap('irq', function* () {
              const me = yield* current();
              if (me.pid !== 0 || handlerInside) return;
              handlerInside = true;
              order.push('irq-in');
              for (let i = 0; i < 6; i++) yield* schedPoint();
              order.push('irq-out');
              handlerInside = false;
            });
            return {};
          },
        }),
      ],
    });
    k.call(
      (function* () {
        for (let i = 0; i < 6; i++) {
          const started = handlerInside;
          yield* synchronizeRcu();
          order.push(started && handlerInside ? 'gp-end-inside' : 'gp-end');
        }
      })(),
      { maxSteps: 5000 },
    );
    expect(order).toContain('irq-in');
    expect(order).not.toContain('gp-end-inside');
  });
});

describe('replay', () => {
  it('interrupt arrivals are choices of the schedule string: replaySchedule re-runs the same log', () => {
    const make = (strategy: Strategy) => {
      const k = createKernel({ cpus: 2, seed: 11, strategy, interrupts: { timer: { period: 3 }, nmi: { period: 7 } }, plugins: [handlers({ irq: () => probe([]), nmi: () => probe([]) })] });
      k.spawn(computing);
      k.spawn(computing);
      expect(k.run().done).toBe(true);
      return k;
    };
    const a = make(randomStrategy({ irqProbability: 0.4 }));
    expect(entries(a, 'timer').length).toBeGreaterThan(0);
    expect(entries(a, 'nmi').length).toBeGreaterThan(0);
    const b = make(replaySchedule(a.schedule));
    expect(b.logHash()).toBe(a.logHash());
    // And the choices matter: refusing every interrupt gives another run.
    const c = make({ name: 'none', create: () => ({ choose: (kind) => (kind === 'irq' ? 0 : 0) }) });
    expect(entries(c)).toEqual([]);
  });
});
