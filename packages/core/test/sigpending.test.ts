import { describe, expect, it } from 'vitest';
import {
  createKernel,
  definePlugin,
  emit,
  getState,
  intMapGet,
  SIGCONT,
  SIGTERM,
  SIGUSR1,
  TIF_SIGPENDING,
  type Kernel,
  type SignalAction,
  type SignalInjection,
} from '@tracelab/core';
import { expectClean, SEEDS } from './helpers.js';

/**
 * TIF_SIGPENDING without a queued signal (issue 22, utrace §3: UTRACE_INTERRUPT forces the signal
 * path). A plugin sets the flag; at the task's next exit to user mode the core clears it
 * (recalc_sigpending) and runs the `signal` hook once with `sig: 0`, before any queued signal.
 */
describe('TIF_SIGPENDING forces the signal path', () => {
  /** A plugin that records what its `signal` hook sees: the signal, and whether the flag was still set. */
  function recorder(seen: Array<{ sig: number; flag: boolean }>, answer: (sig: number) => SignalAction | undefined = () => undefined) {
    return definePlugin({
      name: 'sigrec',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('signal', function* ({ pid, sig }) {
          const s = yield* getState();
          seen.push({ sig, flag: intMapGet(s.tasks, pid)?.flags[TIF_SIGPENDING] === true });
          return answer(sig);
        });
      },
    });
  }
  const setFlag = (k: Kernel, pid: number): void => {
    k.call(
      (function* () {
        yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
      })(),
    );
  };
  const syscallExits = (k: Kernel, pid: number): number => k.log.filter((e) => e.type === 'syscall/exit' && e.pid === pid).length;

  it('with nothing queued: the hook runs once with sig 0 at the next exit to user mode, the flag already cleared; nothing is delivered', () => {
    for (const seed of SEEDS(4)) {
      const seen: Array<{ sig: number; flag: boolean }> = [];
      const k = createKernel({ cpus: 2, seed, plugins: [recorder(seen)] });
      const pid = k.spawn(function* worker(u) {
        for (let i = 0; i < 6; i++) yield u.syscall('getpid');
      });
      k.run({ until: (s) => k.log.some((e) => e.type === 'syscall/exit' && e.pid === pid) && intMapGet(s.tasks, pid) !== undefined });
      const before = syscallExits(k, pid);
      expect(before).toBeLessThan(6);
      setFlag(k, pid);
      const r = k.run();
      expectClean(k, r);
      expect(seen).toEqual([{ sig: 0, flag: false }]);
      // It came on the way out of the very next syscall: the flag was cleared there, before it.
      const cleared = k.log.findIndex((e) => e.type === 'task/flags' && e.pid === pid && e.clear.includes(TIF_SIGPENDING));
      const nextExit = k.log.findIndex((e, i) => i > 0 && e.type === 'syscall/exit' && e.pid === pid && syscallExitsBefore(k, i, pid) === before);
      expect(cleared).toBeGreaterThan(0);
      expect(cleared).toBeLessThan(nextExit);
      expect(k.log.some((e) => e.type === 'signal/deliver')).toBe(false);
      expect(intMapGet(k.state.tasks, pid)?.flags[TIF_SIGPENDING]).toBeUndefined();
    }
  });

  it('with a signal queued too: the forced pass comes first, then the signal is taken as usual', () => {
    const seen: Array<{ sig: number; flag: boolean }> = [];
    const k = createKernel({ cpus: 1, seed: 1, plugins: [recorder(seen, (sig) => (sig === 0 ? 'terminate' : 'ignore'))] });
    const pid = k.spawn(function* worker(u) {
      yield u.sleep(5);
      for (let i = 0; i < 3; i++) yield u.syscall('getpid');
    });
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    k.call(
      (function* () {
        yield* emit({ type: 'signal/generate', pid, sig: SIGUSR1, from: 0 });
        yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
      })(),
    );
    const r = k.run();
    expectClean(k, r);
    // The sig-0 pass's answer is ignored (there is no signal to act on): the task lives on.
    expect(seen.map((x) => x.sig)).toEqual([0, SIGUSR1]);
    expect(k.log.filter((e) => e.type === 'signal/deliver')).toEqual([expect.objectContaining({ pid, sig: SIGUSR1, action: 'ignore' })]);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });

  it('a handler that sets the flag again gets another pass at once; without a signal hook the flag is just cleared', () => {
    const seen: Array<{ sig: number; flag: boolean }> = [];
    let again = 2;
    const rearm = definePlugin({
      name: 'rearm',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('signal', function* ({ pid, sig }) {
          seen.push({ sig, flag: false });
          if (sig === 0 && again-- > 0) yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
          return undefined;
        });
      },
    });
    const k = createKernel({ cpus: 1, seed: 1, plugins: [rearm] });
    const pid = k.spawn(function* worker(u) {
      yield u.sleep(5);
      yield u.syscall('getpid');
    });
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    setFlag(k, pid);
    expectClean(k, k.run());
    // Three passes, all on the way out of the nanosleep: none waited for another syscall.
    expect(seen.map((x) => x.sig)).toEqual([0, 0, 0]);
    const flagEvents = k.log.filter((e) => e.type === 'task/flags' && e.pid === pid);
    const firstPass = flagEvents.findIndex((e) => e.type === 'task/flags' && e.clear.includes(TIF_SIGPENDING));
    const sleepExit = k.log.findIndex((e) => e.type === 'syscall/exit' && e.pid === pid && e.name === 'nanosleep');
    const lastClear = k.log.findLastIndex((e) => e.type === 'task/flags' && e.pid === pid && e.clear.includes(TIF_SIGPENDING));
    expect(firstPass).toBeGreaterThanOrEqual(0);
    expect(lastClear).toBeLessThan(sleepExit);

    const bare = createKernel({ cpus: 1, seed: 1 });
    const p2 = bare.spawn(function* worker(u) {
      yield u.sleep(5);
      yield u.syscall('getpid');
    });
    bare.run({ until: (s) => intMapGet(s.tasks, p2)?.waitingOn === 'timer' });
    setFlag(bare, p2);
    expectClean(bare, bare.run());
    expect(bare.log.filter((e) => e.type === 'task/flags' && e.pid === p2 && e.clear.includes(TIF_SIGPENDING))).toHaveLength(1);
  });
});

/** How many syscall exits of `pid` the log has before index `i`. */
function syscallExitsBefore(k: Kernel, i: number, pid: number): number {
  let n = 0;
  for (let j = 0; j < i; j++) {
    const e = k.log[j]!;
    if (e.type === 'syscall/exit' && e.pid === pid) n++;
  }
  return n;
}

describe('TIF_SIGPENDING at fork', () => {
  it('is not inherited: copy_process clears it in the child (the parent still takes its forced pass)', () => {
    const seen: Array<{ pid: number; sig: number }> = [];
    const forcer = definePlugin({
      name: 'forcer',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        // The host-started parent gets a slow-path flag of this plugin; at its clone's entry it
        // gets TIF_SIGPENDING, so copy_process's dup sees it (as if an INTERRUPT came then).
        ctx.tap(
          'fork',
          function* ({ parent, child }) {
            if (parent === 0) yield* emit({ type: 'task/flags', pid: child, set: ['TIF_TEST_ENTRY'], clear: [] });
          },
          { stage: 'dup' },
        );
        ctx.tap(
          'syscallEntry',
          function* ({ pid, name }) {
            if (name === 'clone') yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
          },
          { flag: 'TIF_TEST_ENTRY' },
        );
        ctx.tap('signal', ({ pid, sig }) => {
          seen.push({ pid, sig });
          return undefined;
        });
      },
    });
    const k = createKernel({ cpus: 2, seed: 1, plugins: [forcer] });
    let child = 0;
    const parentPid = k.spawn(function* parent(u) {
      child = (yield u.fork(function* kid(u2) {
        yield u2.syscall('getpid');
      })) as number;
      yield u.wait();
    });
    expectClean(k, k.run());
    expect(child).toBeGreaterThan(0);
    const dup = k.log.find((e) => e.type === 'fork/dup' && e.child === child)!;
    expect(dup.type === 'fork/dup' && dup.flags.includes(TIF_SIGPENDING)).toBe(false);
    expect(seen).toEqual([{ pid: parentPid, sig: 0 }]);
  });
});

describe('a SignalInjection from the forced pass (sig 0)', () => {
  /** A plugin whose forced-pass answer is `inject`; a queued signal gets `'ignore'`. */
  function injecting(inject: unknown) {
    return definePlugin({
      name: 'injector',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('signal', ({ sig }) => (sig === 0 ? (inject as SignalInjection) : 'ignore'));
      },
    });
  }
  /** A worker asleep, with SIGUSR1 queued and TIF_SIGPENDING set. */
  function forced(inject: unknown): { k: Kernel; pid: number } {
    const k = createKernel({ cpus: 1, seed: 1, plugins: [injecting(inject)] });
    const pid = k.spawn(function* worker(u) {
      yield u.sleep(5);
      yield u.syscall('getpid');
    });
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    k.call(
      (function* () {
        yield* emit({ type: 'signal/generate', pid, sig: SIGUSR1, from: 0 });
        yield* emit({ type: 'task/flags', pid, set: [TIF_SIGPENDING], clear: [] });
      })(),
    );
    return { k, pid };
  }

  it("is acted on without touching the queue: a 'stop' stops the task with SIGUSR1 still queued; SIGCONT ends it, then SIGUSR1 is taken", () => {
    const { k, pid } = forced({ sig: SIGTERM, action: 'stop' });
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(k.log.filter((e) => e.type === 'signal/deliver')).toEqual([expect.objectContaining({ pid, sig: SIGTERM, action: 'stop', injected: true })]);
    expect(intMapGet(k.state.tasks, pid)).toMatchObject({ state: 'stopped', pendingSignals: [SIGUSR1] });
    k.spawn(function* sender(u) {
      yield u.kill(pid, SIGCONT);
    });
    expectClean(k, k.run());
    const after = k.log.filter((e) => e.type === 'signal/deliver' && e.pid === pid).slice(1);
    expect(after[0]).toMatchObject({ sig: SIGUSR1, action: 'ignore' });
    expect(after[0]).not.toHaveProperty('injected');
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });

  it("'terminate' exits with 128 + sig, sig 0 included (utrace's stand-in)", () => {
    const { k, pid } = forced({ sig: 0, action: 'terminate' });
    expectClean(k, k.run());
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 128 });
    expect(k.log.some((e) => e.type === 'syscall/exit' && e.pid === pid && e.name === 'getpid')).toBe(false);
  });

  it('a sig out of 0..64 or an unknown action throws HOOK_RESULT_INVALID naming it: an oops that kills the task, nothing delivered', () => {
    for (const [bad, what] of [
      [{ sig: 99, action: 'terminate' }, 'injected sig 99'],
      [{ sig: 1.5, action: 'terminate' }, 'injected sig 1.5'],
      [{ sig: SIGUSR1, action: 'hold' }, 'injected action "hold"'],
    ] as const) {
      const { k, pid } = forced(bad);
      k.run();
      const oops = k.log.filter((e) => e.type === 'kernel/oops');
      expect(oops).toEqual([expect.objectContaining({ pid, killed: pid, plugin: null })]);
      expect(oops[0]!.type === 'kernel/oops' && oops[0]!.message).toContain(`signal hook (sig 0, pid ${pid}): ${what}`);
      expect(k.log.some((e) => e.type === 'signal/deliver')).toBe(false);
    }
  });
});

describe('a SignalInjection for a real signal', () => {
  /** A worker asleep with `queued` queued, and a plugin answering each real signal with `answer(sig)`. */
  function stolen(queued: readonly number[], answer: (sig: number) => unknown): { k: Kernel; pid: number } {
    const plugin = definePlugin({
      name: 'stealer',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('signal', ({ sig }) => (sig === 0 ? undefined : (answer(sig) as SignalInjection | SignalAction | undefined)));
      },
    });
    const k = createKernel({ cpus: 1, seed: 1, plugins: [plugin] });
    const pid = k.spawn(function* worker(u) {
      yield u.sleep(5);
      yield u.syscall('getpid');
    });
    k.run({ until: (s) => intMapGet(s.tasks, pid)?.waitingOn === 'timer' });
    k.call(
      (function* () {
        for (const sig of queued) yield* emit({ type: 'signal/generate', pid, sig, from: 0 });
      })(),
    );
    return { k, pid };
  }

  it('is acted on in its place: SIGUSR1 answered with SIGTERM/terminate exits with 143, SIGUSR1 dequeued (`dequeued`)', () => {
    const { k, pid } = stolen([SIGUSR1], () => ({ sig: SIGTERM, action: 'terminate' }));
    expectClean(k, k.run());
    expect(k.log.filter((e) => e.type === 'signal/deliver')).toEqual([expect.objectContaining({ pid, sig: SIGTERM, action: 'terminate', dequeued: SIGUSR1 })]);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 128 + SIGTERM });
  });

  it('the stolen signal leaves the queue, a queued signal of the injected number stays: SIGUSR1 answered with SIGTERM/ignore, then SIGTERM is taken', () => {
    const { k, pid } = stolen([SIGUSR1, SIGTERM], (sig) => (sig === SIGUSR1 ? { sig: SIGTERM, action: 'ignore' } : 'ignore'));
    expectClean(k, k.run());
    expect(k.log.filter((e) => e.type === 'signal/deliver')).toEqual([
      expect.objectContaining({ pid, sig: SIGTERM, action: 'ignore', dequeued: SIGUSR1 }),
      expect.objectContaining({ pid, sig: SIGTERM, action: 'ignore' }),
    ]);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 0 });
  });

  it('under its own number it is a plain delivery (no `dequeued`); a bad one throws HOOK_RESULT_INVALID naming the signal', () => {
    const same = stolen([SIGUSR1], () => ({ sig: SIGUSR1, action: 'ignore' }));
    expectClean(same.k, same.k.run());
    const d = same.k.log.filter((e) => e.type === 'signal/deliver');
    expect(d).toEqual([expect.objectContaining({ pid: same.pid, sig: SIGUSR1, action: 'ignore' })]);
    expect(d[0]).not.toHaveProperty('dequeued');
    const bad = stolen([SIGUSR1], () => ({ sig: 99, action: 'terminate' }));
    bad.k.run();
    const oops = bad.k.log.filter((e) => e.type === 'kernel/oops');
    expect(oops[0]!.type === 'kernel/oops' && oops[0]!.message).toContain(`signal hook (sig ${SIGUSR1}, pid ${bad.pid}): injected sig 99`);
  });
});
