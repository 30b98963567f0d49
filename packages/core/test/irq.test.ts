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
  replay,
  replaySchedule,
  schedPoint,
  smpCallFunctionSingle,
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

/**
 * Every interrupt that is offered arrives (an NMI is offered first, then the tick); no
 * preemption at points; CPU and task 0. The sources' periods keep some steps for the tasks:
 * an interrupt that arrives takes the step.
 */
function always(kinds: ChoiceKind[] = []): Strategy {
  return {
    name: 'always-irq',
    create: () => ({
      choose(kind) {
        kinds.push(kind);
        return kind === 'irq' || kind === 'nmi' ? 1 : 0;
      },
    }),
  };
}

/** Every NMI offered arrives, never a tick (the two are separate choices, `nmi` and `irq`). */
const nmiOnly: Strategy = { name: 'nmi-only', create: () => ({ choose: (kind) => (kind === 'nmi' ? 1 : 0) }) };

/** Cut a run that would starve its tasks short: the tests assert `done`. */
const MAX_STEPS = 20_000;

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
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    expect(kinds).not.toContain('irq');
    expect(kinds).not.toContain('nmi');
    expect(kinds).not.toContain('ipi');
    expect(seen).toEqual([]);
    expect(entries(k)).toEqual([]);
    expect('interrupts' in k.log[0]!).toBe(false);
  });

  it('a timer tick runs the irq handlers in the interrupted task, hardirq part raised, interrupts off', () => {
    const seen: Seen[] = [];
    const k = createKernel({ cpus: 1, strategy: always(), interrupts: { timer: { period: 5 } }, plugins: [handlers({ irq: () => probe(seen) })] });
    const pid = k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
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
    // Periods of 3: at most two steps in three go to interrupts, so the call goes on.
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: { period: 3 }, nmi: { period: 3 } },
      plugins: [handlers({ irq: () => probe(seen), nmi: () => probe(nmis) })],
    });
    k.call(
      (function* () {
        yield* localIrqDisable();
        yield* printk('disabled');
        for (let i = 0; i < 10; i++) yield* schedPoint();
        const flags = yield* localIrqSave();
        expect(flags).toBe(true);
        yield* localIrqRestore(flags);
        expect(yield* irqsDisabled()).toBe(true);
        yield* printk('enable');
        yield* localIrqEnable();
        for (let i = 0; i < 3; i++) yield* schedPoint();
      })(),
      { maxSteps: MAX_STEPS },
    );
    const off = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'enable')!.seq;
    const on = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'disabled')!.seq;
    const inside = k.log.filter((e) => e.seq > on && e.seq < off && e.type === 'irq/entry') as KernelEvent<'irq/entry'>[];
    // The strategy delivers every interrupt it is offered: only NMIs were offered inside.
    expect(inside.length).toBeGreaterThan(2);
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
      // An NMI every third step at most, a tick every eighth: the handler (three steps) and
      // the NMIs leave steps for the task.
      interrupts: { timer: { period: 8 }, nmi: { period: 3 } },
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
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    const nested = nmis.filter((s) => s.irq && s.nmi);
    // Nested in ticks taken on the task (and on the idle task before it ran): both parts set.
    expect(nested.some((s) => s.pid === pid)).toBe(true);
    for (const s of nested) expect(s).toMatchObject({ count: HARDIRQ_OFFSET + NMI_OFFSET, intr: true, irqOff: true });
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
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    expect(entries(k, 'timer')).toEqual([]);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops).toMatchObject({ plugin: 'irqtest', where: 'hook nmi', killed: null });
    expect(oops.message).toMatch(/scheduling while atomic.*\(in NMI context\)/);
    expect(entries(k, 'nmi').length).toBeGreaterThan(1);
  });

  /** A plugin whose `task/sleep` reducer records every sleep folded, rolled back or not. */
  function sleepWatcher(folded: number[]) {
    return definePlugin({
      name: 'sleepwatch',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({});
        ctx.on('task/sleep', (_slice, e) => {
          folded.push(e.pid);
        });
        return {};
      },
    });
  }

  it('a hard interrupt handler that sleeps on the idle task is oopsed with the atomic-context BUG before any sleep is logged', () => {
    const folded: number[] = [];
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: { period: 5 } },
      plugins: [
        sleepWatcher(folded),
        handlers({
          *irq() {
            if ((yield* current()).pid === 0) yield* msleep(1);
          },
        }),
      ],
    });
    k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    // The first step finds the CPU idle with a task to run: the tick arrives on the idle task.
    const entry = entries(k, 'timer')[0]!;
    expect(entry.pid).toBe(0);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops).toMatchObject({ plugin: 'irqtest', where: 'hook irq', pid: 0, killed: null });
    expect(oops.message).toMatch(
      /^BUG: scheduling while atomic: pid 0 \(swapper\/0\) went to sleep on cpu 0 with preempt count 65536 \(in hard interrupt context\)$/,
    );
    // Refused at the sleep itself: no task/sleep was ever folded, not even one rolled back.
    expect(folded).toEqual([]);
    expect(k.log.some((e) => e.type === 'task/sleep' && e.pid === 0)).toBe(false);
  });

  it('a hard interrupt handler that sleeps in a task is oopsed before the sleep is folded, and the task goes on', () => {
    const folded: number[] = [];
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: { period: 3 } },
      plugins: [
        sleepWatcher(folded),
        handlers({
          *irq() {
            if ((yield* current()).pid !== 0) yield* synchronizeRcu();
          },
        }),
      ],
    });
    const pid = k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops.pid).toBe(pid);
    expect(oops.message).toMatch(new RegExp(`^BUG: scheduling while atomic: pid ${pid} .* \\(in hard interrupt context\\)$`));
    // The handler's callback queueing was rolled back with it, and no sleep reached the fold.
    expect(k.log.some((e) => e.type === 'rcu/callback-queued')).toBe(false);
    expect(folded).toEqual([]);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });
});

describe('preemption on interrupt exit', () => {
  it('the tick preempts the interrupted task when another waits, though no preempt choice ever says yes', () => {
    const run = (interrupts: InterruptOptions | undefined) => {
      const k = createKernel({ cpus: 1, strategy: always(), ...(interrupts !== undefined ? { interrupts } : {}) });
      k.spawn(computing, { comm: 'a' });
      k.spawn(computing, { comm: 'b' });
      expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
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

  it('no preemption on the way out when the interrupted code has preemption disabled; once enabled, the next tick preempts', () => {
    const k = createKernel({ cpus: 1, strategy: always(), interrupts: { timer: { period: 2 } } });
    k.spawn(computing, { comm: 'a' });
    const v = k.call(
      (function* () {
        yield* preemptDisable();
        yield* printk('off');
        for (let i = 0; i < 12; i++) yield* schedPoint();
        const pc = (yield* current()).preemptCount;
        yield* printk('on');
        yield* preemptEnable();
        for (let i = 0; i < 12; i++) yield* schedPoint();
        return pc;
      })(),
      { maxSteps: MAX_STEPS },
    );
    expect(v).toBe(1);
    const call = k.log.find((e): e is KernelEvent<'task/spawned'> => e.type === 'task/spawned' && e.comm === 'kcall')!;
    const off = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'off')!.seq;
    const on = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'on')!.seq;
    // Ticks arrived in the region (the runqueue held the user task) yet the kcall kept the CPU.
    const ticks = entries(k, 'timer').filter((e) => e.pid === call.pid && e.seq > off && e.seq < on);
    expect(ticks.length).toBeGreaterThan(2);
    const out = k.log.filter((e): e is KernelEvent<'sched/switch'> => e.type === 'sched/switch' && e.prev === call.pid);
    expect(out.filter((e) => e.seq > off && e.seq < on)).toEqual([]);
    // After the region a tick's return preempts it (no preempt choice ever says yes here).
    const after = out.find((e) => e.seq > on)!;
    expect(after).toMatchObject({ preempted: true });
    expect(k.log[after.seq - 1]).toMatchObject({ type: 'irq/exit', name: 'timer', pid: call.pid });
  });
});

describe('RCU and interrupts', () => {
  it("SEMANTICS.md §0/§6: an interrupt is not a quiescent state: a grace period never ends while a handler that began before it is inside, on a user task's CPU", () => {
    // Each handler run on cpu 0 over a user task gets a generation number; `inside` is the one running.
    let gen = 0;
    let inside = 0;
    let handlerRuns = 0;
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
            inside = ++gen;
            handlerRuns++;
            for (let i = 0; i < 4; i++) yield* schedPoint();
            inside = 0;
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
    let startedInside = 0;
    let gps = 0;
    k.spawnKthread(
      (function* () {
        for (let i = 0; i < 40; i++) {
          const started = inside;
          if (started !== 0) startedInside++;
          yield* synchronizeRcu();
          gps++;
          // A GP that began while handler `started` ran must not end before that handler left.
          if (started !== 0 && inside === started) endedInside++;
        }
      })(),
      { comm: 'updater' },
    );
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    expect(gps).toBe(40);
    expect(handlerRuns).toBeGreaterThan(5);
    // The check had cases to look at: grace periods requested while a handler was inside.
    expect(startedInside).toBeGreaterThan(0);
    expect(endedInside).toBe(0);
  });

  /** Round-robin over the eligible CPUs; a tick whenever it would interrupt the idle task; no NMI, no preemption. */
  const idleTicks: Strategy = {
    name: 'idle-ticks',
    create: () => {
      let turn = 0;
      return {
        choose(kind, n, pids) {
          if (kind === 'cpu') return turn++ % n;
          if (kind === 'irq') return pids[0] === 0 ? 1 : 0;
          return 0;
        },
      };
    },
  };

  /**
   * Where each idle CPU stands at each event: inside its idle routine's EQS (between the idle
   * hook's printks), inside an interrupt handler on the idle task, and what the rcu events say.
   */
  function idleRcuTrace(k: Kernel) {
    const eqs = new Set<number>();
    const inIrqOnIdle = new Set<number>();
    const starts: Array<{ pending: readonly number[]; eqs: number[]; irq: number[] }> = [];
    const qsInIrq: number[] = [];
    for (const e of k.log) {
      if (e.type === 'kernel/printk' && e.text === 'eqs-in') eqs.add(e.cpu);
      if (e.type === 'kernel/printk' && e.text === 'eqs-out') eqs.delete(e.cpu);
      if (e.type === 'irq/entry' && e.pid === 0) inIrqOnIdle.add(e.cpu);
      if (e.type === 'irq/exit' && e.pid === 0) inIrqOnIdle.delete(e.cpu);
      if (e.type === 'rcu/gp-start') starts.push({ pending: e.pending, eqs: [...eqs], irq: [...inIrqOnIdle] });
      if (e.type === 'rcu/qs' && inIrqOnIdle.has(e.cpu)) qsInIrq.push(e.seq);
    }
    return { starts, qsInIrq };
  }

  /**
   * `eqsPoints`: the scheduling points the idle routine spends with RCU not watching. An idle CPU
   * halts after each pass, and the tick that wakes it arrives at the top of its loop (core: idle
   * CPUs halt), so a tick lands inside the EQS only when one falls due during a pass.
   */
  function idleEqsKernel(handlerPoints: number, eqsPoints = 1) {
    return createKernel({
      cpus: 2,
      strategy: idleTicks,
      // A tick at most every 16 ticks: a handler (a few steps of its CPU) leaves the idle task
      // time to run its loop, and to switch to the updater.
      interrupts: { timer: { period: 16 } },
      plugins: [
        definePlugin({
          name: 'idleirq',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            // The idle routine: RCU stops watching around it (the idle loop's EQS).
            ctx.tap('idle', function* () {
              yield* rcuIdleEnter();
              yield* printk('eqs-in');
              for (let i = 0; i < eqsPoints; i++) yield* schedPoint();
              yield* printk('eqs-out');
              yield* rcuIdleExit();
            });
            ctx.tap('irq', function* () {
              if ((yield* current()).pid !== 0) return;
              for (let i = 0; i < handlerPoints; i++) yield* schedPoint();
            });
            return {};
          },
        }),
      ],
    });
  }

  function updater(k: Kernel, n: number): void {
    k.call(
      (function* () {
        for (let i = 0; i < n; i++) {
          yield* synchronizeRcu();
          yield* schedPoint();
        }
      })(),
      { maxSteps: MAX_STEPS },
    );
  }

  it("SEMANTICS.md §6 (RCU not watching in the idle loop): an interrupt on an idle CPU inside its EQS makes RCU watch it for the handler's duration (rcu_irq_enter/exit)", () => {
    // An EQS longer than the tick's period: a tick falls due inside it.
    const k = idleEqsKernel(4, 24);
    updater(k, 12);
    const { starts, qsInIrq } = idleRcuTrace(k);
    // Grace periods began both with the idle CPU quietly in its EQS and with a tick's handler
    // running inside that EQS: the first need not wait for it, the second must.
    const quiet = starts.filter((s) => s.eqs.length > 0 && s.irq.length === 0);
    const watched = starts.filter((s) => s.eqs.some((c) => s.irq.includes(c)));
    expect(quiet.length).toBeGreaterThan(0);
    expect(watched.length).toBeGreaterThan(0);
    for (const s of quiet) for (const c of s.eqs) expect(s.pending).not.toContain(c);
    for (const s of watched) for (const c of s.eqs.filter((c) => s.irq.includes(c))) expect(s.pending).toContain(c);
    // And no quiescent state is reported for a CPU while its handler runs: only after it returns.
    expect(qsInIrq).toEqual([]);
  });

  it('SEMANTICS.md §6: with interrupt sources the idle task is never switched away inside its EQS (the stand-in for a stalled idle CPU is off)', () => {
    const k = idleEqsKernel(1);
    updater(k, 6);
    const inEqs = new Set<number>();
    let switchesInEqs = 0;
    let switchesFromIdle = 0;
    for (const e of k.log) {
      if (e.type === 'kernel/printk' && e.text === 'eqs-in') inEqs.add(e.cpu);
      if (e.type === 'kernel/printk' && e.text === 'eqs-out') inEqs.delete(e.cpu);
      if (e.type === 'sched/switch' && e.prev === 0) {
        switchesFromIdle++;
        if (inEqs.has(e.cpu)) switchesInEqs++;
      }
    }
    expect(switchesFromIdle).toBeGreaterThan(0);
    expect(switchesInEqs).toBe(0);
  });

  it('SEMANTICS.md §0 (an irq-disabled region is an RCU-sched reader): a task with interrupts off is never preempted, so no context switch ends a grace period inside it', () => {
    // Every preempt choice says yes, and a user task keeps the runqueue non-empty.
    const yes: Strategy = { name: 'preempt-always', create: () => ({ choose: (kind) => (kind === 'preempt' ? 1 : 0) }) };
    const k = createKernel({ cpus: 1, strategy: yes, interrupts: { nmi: { period: 50 } } });
    k.spawn(computing);
    const pid = k.call(
      (function* () {
        const me = yield* current();
        yield* localIrqDisable();
        yield* printk('off');
        for (let i = 0; i < 8; i++) yield* schedPoint();
        yield* printk('on');
        yield* localIrqEnable();
        for (let i = 0; i < 8; i++) yield* schedPoint();
        return me.pid;
      })(),
      { maxSteps: MAX_STEPS },
    );
    const off = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'off')!.seq;
    const on = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'on')!.seq;
    const switchedOut = k.log.filter((e): e is KernelEvent<'sched/switch'> => e.type === 'sched/switch' && e.prev === pid);
    expect(switchedOut.filter((e) => e.seq > off && e.seq < on)).toEqual([]);
    // Once interrupts are back on, the same strategy preempts it at once.
    expect(switchedOut.some((e) => e.seq > on && e.preempted)).toBe(true);
  });

  it('rcu_idle_enter/exit inside an interrupt handler is a BUG', () => {
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: true },
      plugins: [
        handlers({
          *irq() {
            yield* rcuIdleEnter();
          },
        }),
      ],
    });
    k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops.message).toBe('BUG: rcu_idle_enter on cpu 0 (in hard interrupt context)');
  });
});

describe('replay', () => {
  it('interrupt arrivals are choices of the schedule string: replaySchedule re-runs the same log', () => {
    const make = (strategy: Strategy) => {
      const k = createKernel({
        cpus: 2,
        seed: 11,
        strategy,
        interrupts: { timer: { period: 3 }, nmi: { period: 7 } },
        plugins: [handlers({ irq: () => probe([]), nmi: () => probe([]) })],
      });
      k.spawn(computing);
      k.spawn(computing);
      expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
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

describe('reset, replay and rollback with interrupts', () => {
  /** A resettable stack whose tick handler spans points and whose NMI handler probes. */
  function resettable() {
    return definePlugin({
      name: 'irqreset',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.onReset();
        ctx.tap('irq', function* () {
          yield* schedPoint();
        });
        ctx.tap('nmi', function* () {
          yield* printk('nmi');
        });
        return {};
      },
    });
  }

  function workload(k: Kernel): void {
    k.spawn(computing);
    k.spawnKthread(
      (function* () {
        const flags = yield* localIrqSave();
        for (let i = 0; i < 5; i++) yield* schedPoint();
        yield* localIrqRestore(flags);
        for (let i = 0; i < 5; i++) yield* schedPoint();
      })(),
      { comm: 'irqsoff' },
    );
  }

  it('kernel.reset: every schedule re-run on a reset kernel gives the log hash of a fresh kernel (due times, need-resched and the irqs-off flags reset)', () => {
    const interrupts: InterruptOptions = { timer: { period: 3 }, nmi: { period: 5 } };
    const pooled = createKernel({ cpus: 2, seed: 1, strategy: randomStrategy({ irqProbability: 0.5 }), interrupts, plugins: [resettable()] });
    let sawIrqs = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const strategy = randomStrategy({ irqProbability: 0.5 });
      const seeded: Strategy = { name: strategy.name, create: () => strategy.create(seed) };
      const fresh = createKernel({ cpus: 2, seed: 1, strategy: seeded, interrupts, plugins: [resettable()] });
      workload(fresh);
      expect(fresh.run({ maxSteps: MAX_STEPS }).done).toBe(true);
      pooled.reset({ strategy: seeded });
      workload(pooled);
      expect(pooled.run({ maxSteps: MAX_STEPS }).done).toBe(true);
      expect(pooled.logHash()).toBe(fresh.logHash());
      sawIrqs += entries(fresh).length;
    }
    expect(sawIrqs).toBeGreaterThan(10);
  });

  it('replay(log) of a run with interrupts folds to the same state and hash', () => {
    const k = createKernel({
      cpus: 2,
      seed: 5,
      strategy: randomStrategy({ irqProbability: 0.4 }),
      interrupts: { timer: { period: 3 }, nmi: { period: 4 } },
      plugins: [resettable()],
    });
    workload(k);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    expect(entries(k, 'timer').length).toBeGreaterThan(0);
    expect(entries(k, 'nmi').length).toBeGreaterThan(0);
    const r = replay(k.log as KernelEvent[], { plugins: [resettable()] });
    expect(r.logHash()).toBe(k.logHash());
    expect(r.state.cpus).toEqual(k.state.cpus);
  });

  it('a hook handler that disabled interrupts and then failed is rolled back: the flag is taken back with its segment (journalled)', () => {
    const k = createKernel({
      cpus: 1,
      interrupts: { timer: { period: 4 } },
      plugins: [
        definePlugin({
          name: 'leaky',
          version: '1.0.0',
          core: '^0.1.0',
          register(ctx) {
            // Runs in do_exit, in the exiting task's context.
            ctx.tap('exit', function* () {
              yield* localIrqDisable();
              throw new Error('probe failed');
            });
            return {};
          },
        }),
      ],
    });
    const pid = k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    // One oops, the handler's. Had its interrupts-off flag survived the rollback, the task's
    // final schedule() in do_exit would be a second BUG (scheduling with interrupts disabled).
    const oopses = k.log.filter((e): e is KernelEvent<'kernel/oops'> => e.type === 'kernel/oops');
    expect(oopses).toHaveLength(1);
    expect(oopses[0]).toMatchObject({ plugin: 'leaky', where: 'hook exit', pid, killed: null });
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });

  it('local_irq_restore that would enable interrupts inside a handler is a BUG, as local_irq_enable is', () => {
    const k = createKernel({
      cpus: 1,
      strategy: always(),
      interrupts: { timer: true },
      plugins: [
        handlers({
          *irq() {
            yield* localIrqRestore(false);
          },
        }),
      ],
    });
    k.spawn(computing);
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops.message).toMatch(/local_irq_restore enabling interrupts in interrupt context/);
  });
});

describe('IPIs (smp_call_function_single)', () => {
  /** Round-robin over the eligible CPUs, every pending IPI delivered, nothing else. */
  function rrIpi(kinds: ChoiceKind[] = []): Strategy {
    return {
      name: 'rr-ipi',
      create: () => {
        let turn = 0;
        return {
          choose(kind, n) {
            kinds.push(kind);
            if (kind === 'cpu') return turn++ % n;
            return kind === 'ipi' ? 1 : 0;
          },
        };
      },
    };
  }

  interface Ran {
    cpu: number;
    pid: number;
    count: number;
    irqOff: boolean;
  }

  function* record(into: Ran[]): KPath<void> {
    const me = yield* current();
    into.push({ cpu: me.cpu, pid: me.pid, count: me.preemptCount, irqOff: yield* irqsDisabled() });
  }

  it('runs the function on the target CPU in hard interrupt context (an idle CPU is woken for it); the caller spins until it ran; no interrupt sources needed', () => {
    const kinds: ChoiceKind[] = [];
    const make = (strategy: Strategy) => {
      const ran: Ran[] = [];
      const k = createKernel({ cpus: 2, strategy });
      const target = k.call(
        (function* () {
          const me = yield* current();
          const to = 1 - me.cpu;
          yield* smpCallFunctionSingle(to, () => record(ran));
          yield* printk(`returned ${ran.length}`);
          return to;
        })(),
        { maxSteps: MAX_STEPS },
      );
      return { k, ran, target };
    };
    const { k, ran, target } = make(rrIpi(kinds));
    expect(kinds).toContain('ipi');
    // The target was idle with nothing to run: the pending IPI made it eligible.
    expect(ran).toEqual([{ cpu: target, pid: 0, count: HARDIRQ_OFFSET, irqOff: true }]);
    const entry = k.log.find((e): e is KernelEvent<'irq/entry'> => e.type === 'irq/entry')!;
    expect(entry).toMatchObject({ name: 'ipi', pid: 0, cpu: target });
    const exit = k.log.find((e) => e.type === 'irq/exit')!;
    const returned = k.log.find((e) => e.type === 'kernel/printk')!;
    expect(returned).toMatchObject({ text: 'returned 1' });
    expect(returned.seq).toBeGreaterThan(exit.seq);
    // The schedule string re-runs it, IPI choice included.
    expect(make(replaySchedule(k.schedule)).k.logHash()).toBe(k.logHash());
  });

  it('is not delivered while the target has interrupts disabled; it arrives once they are back on', () => {
    const ran: Ran[] = [];
    let aCpu = -1;
    let sent = false;
    const k = createKernel({ cpus: 2, strategy: rrIpi() });
    const a = k.spawnKthread(
      (function* () {
        yield* localIrqDisable();
        aCpu = (yield* current()).cpu;
        yield* printk('off');
        while (!sent) yield* schedPoint();
        for (let i = 0; i < 6; i++) yield* schedPoint();
        yield* printk('on');
        yield* localIrqEnable();
        for (let i = 0; i < 4; i++) yield* schedPoint();
      })(),
      { comm: 'irqsoff' },
    );
    k.spawnKthread(
      (function* () {
        while (aCpu < 0) yield* schedPoint();
        sent = true;
        yield* smpCallFunctionSingle(aCpu, () => record(ran));
        yield* printk('returned');
      })(),
      { comm: 'sender' },
    );
    expect(k.run({ maxSteps: MAX_STEPS }).done).toBe(true);
    const on = k.log.find((e) => e.type === 'kernel/printk' && e.text === 'on')!.seq;
    const entry = k.log.find((e): e is KernelEvent<'irq/entry'> => e.type === 'irq/entry')!;
    expect(entry).toMatchObject({ name: 'ipi', pid: a, cpu: aCpu });
    expect(entry.seq).toBeGreaterThan(on);
    expect(ran).toEqual([{ cpu: aCpu, pid: a, count: HARDIRQ_OFFSET, irqOff: true }]);
    expect(k.log.find((e) => e.type === 'kernel/printk' && e.text === 'returned')!.seq).toBeGreaterThan(entry.seq);
  });

  it("to the caller's own CPU: the function runs at once, interrupts off, not in interrupt context, with no IPI", () => {
    const ran: Ran[] = [];
    const k = createKernel({ cpus: 2, strategy: rrIpi() });
    const cpu = k.call(
      (function* () {
        const me = yield* current();
        yield* smpCallFunctionSingle(me.cpu, () => record(ran));
        return me.cpu;
      })(),
    );
    expect(ran).toEqual([{ cpu, pid: 1, count: 1, irqOff: true }]);
    expect(entries(k)).toEqual([]);
  });

  it('a function that sleeps is the atomic-context BUG on the target (an oops naming no plugin), and the caller still returns', () => {
    const k = createKernel({ cpus: 2, strategy: rrIpi() });
    k.call(
      (function* () {
        const me = yield* current();
        yield* smpCallFunctionSingle(1 - me.cpu, function* () {
          yield* msleep(1);
        });
      })(),
      { maxSteps: MAX_STEPS },
    );
    const oops = k.log.find((e) => e.type === 'kernel/oops') as KernelEvent<'kernel/oops'>;
    expect(oops).toMatchObject({ plugin: null, killed: null, pid: 0 });
    expect(oops.where).toMatch(/^smp_call_function_single on cpu [01]$/);
    expect(oops.message).toMatch(/^BUG: scheduling while atomic: pid 0 .* \(in hard interrupt context\)$/);
  });

  it('calling it with interrupts disabled is a BUG, and so is a bad cpu', () => {
    const k = createKernel({ cpus: 2 });
    expect(() =>
      k.call(
        (function* () {
          yield* localIrqDisable();
          yield* smpCallFunctionSingle(0, () => undefined);
        })(),
      ),
    ).toThrow(/BUG: smp_call_function_single on cpu \d with interrupts disabled/);
    expect(() => k.call(smpCallFunctionSingle(2, () => undefined))).toThrow(/cpu must be an integer from 0 to 1, got 2/);
  });
});
