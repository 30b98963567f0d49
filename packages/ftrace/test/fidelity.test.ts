/**
 * Issue 22: the ftrace semantics of SEMANTICS.md 4.2 that had no test. Each test names its section.
 */
import { EBUSY, EINVAL, createKernel, current, definePlugin, fn, msleep, rcuIsWatching, schedPoint, type KPath } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { describe, expect, test } from 'vitest';
import { FTRACE_INVARIANTS, TICK_FUNCTION, ftrace, type FtraceOps, type FtraceOptions } from '@tracelab/ftrace';
import { eventsOf, kernelWith, seeds } from '@tracelab/testing';
import { counter, failingRuns, ftraceStack, noop, session, worker } from './helpers.js';

/**
 * Workers calling sys_getpid through the list caller, and a tracer registering and
 * unregistering a DYNAMIC ops on it while they run.
 */
function listRace(seed: number, options: FtraceOptions) {
  // No DYNAMIC trampolines (the 3.18-4.11 PREEMPT behaviour): the DYNAMIC ops is reached
  // through the list caller only.
  const k = kernelWith({ plugins: ftraceStack({ ...options, listWalk: 'steps', dynamicTrampolines: false }), seed });
  for (let i = 0; i < 4; i++) k.spawn(worker(20), { comm: `w${i}` });
  // Static ops registered first: a walk spends a few steps on them before it reaches the DYNAMIC one.
  for (let i = 0; i < 3; i++) k.call(k.api.ftrace.registerFtraceFunction({ func: noop, filter: ['sys_getpid'], label: `static${i}` }));
  const dyn: FtraceOps = { func: noop, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'dyn' };
  k.spawnKthread(session(k.api.ftrace, dyn, 3, 8), { comm: 'tracer' });
  return k;
}

describe('SEMANTICS.md 4.2(b) the list function as interleavable steps, and the unregister wait for list-caller ops', () => {
  test('with the wait (ftrace_shutdown synchronizes for every DYNAMIC ops), no walker reaches a freed ops', () => {
    const x = failingRuns(25, (seed) => listRace(seed, {}));
    expect(x.map((f) => f.result.violations[0])).toEqual([]);
    // The walks did interleave with the unregistration: in some seeds a walk that called the
    // DYNAMIC ops ended after the ops had left the list (it held the old list across it).
    const overlapped = seeds(25).filter((seed) => {
      const k = listRace(seed, {});
      k.run({ maxSteps: 200_000 });
      const removed = eventsOf(k, 'ftrace/ops-removed').at(-1)!;
      return eventsOf(k, 'ftrace/list-call').some((e) => e.ops.includes(removed.ops) && e.seq > removed.seq);
    });
    expect(overlapped.length).toBeGreaterThan(0);
  });

  test('unsafe shutdownWait trampoline-only: an ops with no trampoline returns at once, its owner frees it, and a walker still on the list reaches it', () => {
    const x = failingRuns(25, (seed) => listRace(seed, { shutdownWait: 'trampoline-only' }));
    expect(x.length).toBeGreaterThan(0);
    for (const f of x) {
      expect(f.result.violations[0]!.name).toBe(FTRACE_INVARIANTS.opsUseAfterFree);
      expect(f.result.violations[0]!.message).toMatch(/walking the ops list for sys_getpid, reached ops \d+ after its owner freed it/);
    }
  });
});

describe('SEMANTICS.md 4.2(a) ops flags beyond DYNAMIC: SAVE_REGS and IPMODIFY', () => {
  test('IPMODIFY needs SAVE_REGS (-EINVAL), and a second IPMODIFY ops on a function already modified is refused (-EBUSY)', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const a = counter();
    expect(k.call(api.registerFtraceFunction({ func: a.func, filter: ['sys_getpid'], flags: ['IPMODIFY'] }))).toBe(-EINVAL);
    const livepatch: FtraceOps = { func: a.func, filter: ['sys_getpid'], flags: ['SAVE_REGS', 'IPMODIFY'], label: 'livepatch' };
    expect(k.call(api.registerFtraceFunction(livepatch))).toBe(0);
    const kprobe: FtraceOps = { func: noop, filter: ['sys_getpid', 'sys_getppid'], flags: ['SAVE_REGS', 'IPMODIFY'], label: 'kprobe' };
    expect(k.call(api.registerFtraceFunction(kprobe))).toBe(-EBUSY);
    // An IPMODIFY ops on another function, and a plain SAVE_REGS ops on the same one, are fine.
    expect(k.call(api.registerFtraceFunction({ func: noop, filter: ['sys_getppid'], flags: ['SAVE_REGS', 'IPMODIFY'] }))).toBe(0);
    expect(k.call(api.registerFtraceFunction({ func: noop, filter: ['sys_getpid'], flags: ['SAVE_REGS'] }))).toBe(0);
    // Once the first is gone, the function may be modified again.
    expect(k.call(api.unregisterFtraceFunction(livepatch))).toBe(0);
    expect(k.call(api.registerFtraceFunction({ ...kprobe, filter: ['sys_getpid'] }))).toBe(0);
    k.run();
    expect(k.violations).toEqual([]);
  });
});

describe('SEMANTICS.md 4.2(a) FTRACE_OPS_FL_RECURSION and the assist function', () => {
  /**
   * A callback that calls a traced function itself (trace_helper, which its own ops traces):
   * each traced call re-enters the callback unless a recursion guard stops it.
   */
  function reentrant(flags: FtraceOps['flags'], ownGuard: boolean, listToo: boolean) {
    const k = kernelWith({ plugins: ftraceStack(), seed: 2 });
    const seen: string[] = [];
    let depth = 0;
    const ops: FtraceOps = {
      label: 'reentrant',
      filter: ['sys_getpid', 'trace_helper'],
      ...(flags !== undefined ? { flags } : {}),
      func: (ip) => {
        if (ownGuard && depth > 0) return undefined;
        seen.push(ip);
        return (function* (): KPath<void> {
          depth++;
          try {
            yield* fn(
              'trace_helper',
              (function* helperBody(): KPath<void> {
                yield* schedPoint();
              })(),
            );
          } finally {
            depth--;
          }
        })();
      },
    };
    expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
    // A second ops on the same functions sends them through the list caller.
    if (listToo) expect(k.call(k.api.ftrace.registerFtraceFunction({ func: noop, filter: ['sys_getpid', 'trace_helper'], label: 'other' }))).toBe(0);
    k.spawn(worker(2));
    k.run({ maxSteps: 50_000 });
    return { k, seen, target: k.api.ftrace.site('sys_getpid')!.target };
  }

  test('with RECURSION (5.11 on: the ops asks for protection) the trampoline calls the assist function: the nested call is stopped by the guard', () => {
    const { k, seen, target } = reentrant(['RECURSION'], false, false);
    expect(target).toBe('trampoline');
    expect(k.violations).toEqual([]);
    expect(seen).toEqual(['sys_getpid']); // once per getpid (worker(2) makes one getpid), never for the nested trace_helper
    // The refused nested call is in the log.
    expect(k.log.filter((e) => e.type === 'ftrace/recursion-refused').map((e) => e.ip)).toEqual(['trace_helper']);
  });

  test('the list function takes the same guard', () => {
    const { k, seen, target } = reentrant(undefined, false, true);
    expect(target).toBe('list');
    expect(k.violations).toEqual([]);
    expect(seen).toEqual(['sys_getpid']);
  });

  test('without RECURSION, a callback that protects itself: called directly, and its own guard stops the nesting', () => {
    const { k, seen } = reentrant(undefined, true, false);
    expect(k.violations).toEqual([]);
    expect(seen).toEqual(['sys_getpid']);
    expect(k.log.filter((e) => e.type === 'ftrace/recursion-refused')).toEqual([]);
  });

  test('without RECURSION, a callback that does not protect itself: runaway recursion, ftrace/no-runaway-recursion fires', () => {
    const { k } = reentrant(undefined, false, false);
    expect(k.violations[0]?.name).toBe(FTRACE_INVARIANTS.recursion);
    expect(k.violations[0]?.message).toMatch(/re-entered ops \d+'s callback 9 deep through trace_helper/);
  });
});

describe('SEMANTICS.md 6: the recursion guard is per context (task, hard interrupt, NMI)', () => {
  /**
   * An ops with RECURSION (guarded) on sys_getpid and on irq_traced, a function the timer
   * interrupt's handler calls. Its callback for sys_getpid spans scheduling points, so a tick
   * can arrive while the task is inside it; a per-task guard would refuse the handler's call.
   */
  function irqKernel(seed: number, options: FtraceOptions = {}) {
    const calls: Array<{ ip: string; insideGetpid: boolean }> = [];
    let insideGetpid = 0;
    const ticker = definePlugin({
      name: 'ticker',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('irq', function* onTick() {
          yield* fn(
            'irq_traced',
            (function* irqTracedBody(): KPath<void> {
              yield* current();
            })(),
          );
        });
        return {};
      },
    });
    const k = createKernel({ cpus: 2, seed, interrupts: { timer: { period: 2 } }, plugins: [ticker, rcuTasks(), ftrace(options)] });
    const ops: FtraceOps = {
      label: 'guarded',
      filter: ['sys_getpid', 'irq_traced'],
      flags: ['RECURSION'],
      func: (ip) => {
        calls.push({ ip, insideGetpid: insideGetpid > 0 });
        if (ip !== 'sys_getpid') return undefined;
        return (function* slowCallback(): KPath<void> {
          insideGetpid++;
          try {
            for (let i = 0; i < 4; i++) yield* schedPoint();
          } finally {
            insideGetpid--;
          }
        })();
      },
    };
    expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
    for (let i = 0; i < 2; i++) k.spawn(worker(8), { comm: `w${i}` });
    k.run({ maxSteps: 50_000 });
    return { k, calls };
  }

  test("a tick inside the task's guarded callback is traced (its own context), over 20 seeds; nothing is refused", () => {
    let nested = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { k, calls } = irqKernel(seed);
      expect(k.violations).toEqual([]);
      expect(eventsOf(k, 'ftrace/recursion-refused')).toEqual([]);
      nested += calls.filter((c) => c.ip === 'irq_traced' && c.insideGetpid).length;
      expect(calls.some((c) => c.ip === 'irq_traced')).toBe(true);
    }
    expect(nested).toBeGreaterThan(5);
  });

  test("recursionGuard 'per-task' (one bit per task): a tick inside the task's callback is refused and its event lost; the invariant names the contexts", () => {
    let caught = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { k, calls } = irqKernel(seed, { recursionGuard: 'per-task' });
      const lost = eventsOf(k, 'ftrace/recursion-lost');
      // Refused only when the tick came inside its own task's callback (the bit its task holds),
      // never without the invariant; ticks elsewhere are traced.
      for (const e of lost) expect(e).toMatchObject({ ip: 'irq_traced', context: `${e.pid}:irq`, holder: String(e.pid) });
      if (lost.length > 0) {
        caught++;
        expect(k.violations[0]?.name).toBe(FTRACE_INVARIANTS.recursionContext);
        expect(k.violations[0]?.message).toMatch(
          /refused irq_traced called from a hard interrupt on pid \d+, which was not recursion: the guard bit was held by pid \d+'s task context/,
        );
      } else {
        expect(k.violations).toEqual([]);
        expect(calls.some((c) => c.ip === 'irq_traced')).toBe(true);
      }
    }
    expect(caught).toBeGreaterThan(3);
  });

  test('each idle task is a context of its own (all are pid 0): two CPUs in default_idle at once are neither refused nor counted as recursion', () => {
    for (const flags of [['RECURSION'], undefined] as const) {
      let overlap = 0;
      for (let seed = 1; seed <= 10; seed++) {
        // A ticking kernel: an idle CPU halts after each pass of its loop, and its tick wakes it
        // for the next (core: idle CPUs halt), so both keep re-entering default_idle.
        const k = kernelWith({ plugins: ftraceStack({ traceIdle: true, idleTrampolines: 'allow' }), seed, interrupts: { timer: { period: 3 } } });
        let inside = 0;
        const ops: FtraceOps = {
          label: 'idle',
          filter: ['default_idle'],
          ...(flags !== undefined ? { flags: [...flags] } : {}),
          func: () =>
            (function* longIdleCallback(): KPath<void> {
              inside++;
              if (inside > 1) overlap++;
              try {
                for (let i = 0; i < 3; i++) yield* schedPoint();
              } finally {
                inside--;
              }
            })(),
        };
        expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
        // A sleeper keeps the run going while both CPUs idle.
        k.spawnKthread(msleep(60), { comm: 'sleeper' });
        k.run({ maxSteps: 3_000 });
        expect(k.violations).toEqual([]);
        expect(eventsOf(k, 'ftrace/recursion-refused')).toEqual([]);
      }
      expect(overlap, String(flags)).toBeGreaterThan(10);
    }
  });
});

describe('SEMANTICS.md 4.2(b) ftrace_caller\'s two globals: the "slight race" between ftrace_trace_function and function_trace_op', () => {
  /**
   * Workers calling sys_getpid through ftrace_caller, and a tracer going from one ops to two
   * (the list function) and back to one, the other one, several times: each time the lone ops
   * changes, ftrace_trace_function and function_trace_op change.
   */
  function swap(seed: number, slightRaceFix: boolean) {
    const k = kernelWith({ plugins: ftraceStack({ directCaller: true, slightRaceFix, dynamicTrampolines: false }), seed });
    for (let i = 0; i < 4; i++) k.spawn(worker(30), { comm: `w${i}` });
    const a = counter();
    const b = counter();
    const opsA: FtraceOps = { func: a.func, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'A' };
    const opsB: FtraceOps = { func: b.func, filter: ['sys_getpid'], flags: ['DYNAMIC'], label: 'B' };
    k.spawnKthread(
      (function* tracer(): KPath<void> {
        const api = k.api.ftrace;
        yield* api.registerFtraceFunction(opsA);
        for (let i = 0; i < 3; i++) {
          const [from, to] = i % 2 === 0 ? [opsA, opsB] : [opsB, opsA];
          yield* api.registerFtraceFunction(to);
          yield* api.unregisterFtraceFunction(from);
        }
        yield* api.unregisterFtraceFunction(opsB);
      })(),
      { comm: 'tracer' },
    );
    return { k, r: k.run({ maxSteps: 200_000 }), calls: a.total() + b.total() };
  }

  test('unsafe (the two stored back to back): a caller that loaded the old op calls the new callback with it', () => {
    const found = Array.from({ length: 30 }, (_, i) => i + 1)
      .map((seed) => swap(seed, false).r.violations[0])
      .filter((v) => v !== undefined);
    expect(found.length).toBeGreaterThan(0);
    for (const v of found) {
      expect(v.name).toBe(FTRACE_INVARIANTS.opMismatch);
      expect(v.message).toMatch(/in ftrace_caller for sys_getpid, called ops \d+'s callback with ops \d+ as function_trace_op/);
    }
  });

  // With only the first synchronization, a caller whose section began after it loads the old op
  // and then the new function (seen while writing this test): the second one (the
  // ftrace_sync_ipi after the op's store) is what closes it in this sequentially consistent model.
  test('with the fix (list function first, every CPU synchronized, then the op, every CPU synchronized again, then the function): none over the same seeds, and the callbacks were called directly', () => {
    let calls = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const { k, r, calls: n } = swap(seed, true);
      expect(r.violations).toEqual([]);
      expect(r.done).toBe(true);
      calls += n;
      expect(eventsOf(k, 'ftrace/trace-function').some((e) => e.func !== null)).toBe(true);
    }
    expect(calls).toBeGreaterThan(0);
  });
});

describe('SEMANTICS.md 4.2(b) FTRACE_OPS_FL_RCU: the list and assist functions skip an RCU ops where RCU is not watching', () => {
  /**
   * An ops on the idle loop's default_idle (run with RCU not watching) and on the tick's
   * update_process_times (a handler: RCU watches), whose callback notes whether RCU watched it.
   */
  function idleKernel(seed: number, flags: NonNullable<FtraceOps['flags']>, idleTrampolines: 'refuse' | 'allow') {
    const k = createKernel({
      cpus: 2,
      seed,
      interrupts: { timer: { period: 2 } },
      plugins: [rcuTasks(), ftrace({ traceIdle: true, traceTick: true, idleTrampolines })],
    });
    const watched: Array<{ ip: string; watching: boolean }> = [];
    const ops: FtraceOps = {
      label: 'rcu-user',
      filter: ['default_idle', TICK_FUNCTION],
      flags,
      func: (ip) =>
        (function* noteWatching(): KPath<void> {
          watched.push({ ip, watching: yield* rcuIsWatching() });
        })(),
    };
    expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
    k.spawnKthread(msleep(40), { comm: 'sleeper' });
    k.run({ maxSteps: 5_000 });
    return { k, watched };
  }

  for (const idleTrampolines of ['refuse', 'allow'] as const) {
    const through = idleTrampolines === 'refuse' ? 'the list function' : 'a trampoline (the assist function)';
    test(`through ${through}: with RCU the callback is never called unwatched (skipped, ftrace/rcu-skip), and still is from a tick on an idle CPU; without it, it is called unwatched`, () => {
      let skipped = 0;
      let tickOnIdle = 0;
      let unwatched = 0;
      for (let seed = 1; seed <= 5; seed++) {
        const withRcu = idleKernel(seed, ['RCU'], idleTrampolines);
        expect(withRcu.k.violations).toEqual([]);
        expect(withRcu.watched.every((w) => w.watching)).toBe(true);
        expect(withRcu.watched.some((w) => w.ip === 'default_idle')).toBe(false);
        const skips = eventsOf(withRcu.k, 'ftrace/rcu-skip');
        expect(skips.every((e) => e.ip === 'default_idle' && e.pid === 0)).toBe(true);
        skipped += skips.length;
        tickOnIdle += withRcu.watched.filter((w) => w.ip === TICK_FUNCTION).length;
        const without = idleKernel(seed, [], idleTrampolines);
        expect(eventsOf(without.k, 'ftrace/rcu-skip')).toEqual([]);
        unwatched += without.watched.filter((w) => w.ip === 'default_idle' && !w.watching).length;
      }
      expect(skipped).toBeGreaterThan(5);
      expect(tickOnIdle).toBeGreaterThan(0);
      expect(unwatched).toBeGreaterThan(5);
    });
  }
});
