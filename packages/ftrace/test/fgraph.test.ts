/**
 * Issue 22, SEMANTICS.md 4.2: the function graph tracer's return trampolines (kernel/trace/fgraph.c).
 */
import { EBUSY, EINVAL, ENOENT, ENOSPC, fn, msleep, type Kernel, type KPath, type Program, type Strategy } from '@tracelab/core';
import { describe, expect, it } from 'vitest';
import { FTRACE_INVARIANTS, type FgraphOps, type FtraceOptions } from '@tracelab/ftrace';
import { eventsOf, expectClean, expectReplayIdentity, findUnsafe, kernelWith, overSeeds } from '@tracelab/testing';
import { ftraceStack } from './helpers.js';

/** A kernel path nesting `fn(name)` `n` deep, sleeping a tick at the bottom. */
function* nest(name: string, n: number): KPath<void> {
  if (n === 0) return yield* msleep(1);
  yield* fn(name, nest(name, n - 1));
}

/** An fgraph ops that logs `+func@depth` at each entry and `-func@depth` at each return, into `seen`. */
function logger(seen: string[], filter: string[], wants: (func: string) => boolean = () => true): FgraphOps {
  return {
    entry: (t) => {
      seen.push(`+${t.func}@${t.depth}`);
      return wants(t.func);
    },
    ret: (t) => {
      seen.push(`-${t.func}@${t.depth}`);
    },
    filter,
    label: 'logger',
  };
}

describe('the shadow return stack: push at entry, pop through return_to_handler', () => {
  it('nested traced calls push a frame each, and their returns pop them innermost first, calling the return handler with the entry depth', () => {
    const k = kernelWith(ftraceStack());
    const seen: string[] = [];
    expect(k.call(k.api.ftrace.registerFtraceGraph(logger(seen, ['outer_fn', 'inner_fn'])))).toBe(0);
    const pid = k.spawnKthread(fn('outer_fn', fn('inner_fn', msleep(3))), { comm: 'nest' });
    // While the thread sleeps inside inner_fn, both return addresses are on its shadow stack.
    k.run({ until: (s) => s.plugins.ftrace?.retStacks?.[String(pid)]?.length === 2 });
    expect(k.state.plugins.ftrace!.retStacks![String(pid)]!.map((f) => f.func)).toEqual(['outer_fn', 'inner_fn']);
    expectClean(k, k.run());
    expect(seen).toEqual(['+outer_fn@0', '+inner_fn@1', '-inner_fn@1', '-outer_fn@0']);
    expect(eventsOf(k, 'ftrace/fgraph-return').map((e) => [e.ip, e.depth])).toEqual([
      ['inner_fn', 1],
      ['outer_fn', 0],
    ]);
    expect(k.state.plugins.ftrace!.retStacks).toEqual({});
  });

  it('an entry handler that declines gets no return: nothing is pushed for that call', () => {
    const k = kernelWith(ftraceStack());
    const seen: string[] = [];
    expect(k.call(k.api.ftrace.registerFtraceGraph(logger(seen, ['outer_fn', 'inner_fn'], (f) => f === 'inner_fn')))).toBe(0);
    k.spawnKthread(fn('outer_fn', fn('inner_fn', msleep(1))), { comm: 'nest' });
    expectClean(k, k.run());
    expect(seen).toEqual(['+outer_fn@0', '+inner_fn@0', '-inner_fn@0']);
    expect(eventsOf(k, 'ftrace/fgraph-push').map((e) => e.ip)).toEqual(['inner_fn']);
  });

  it('a second ops on the same function shares the frame: both return handlers run, each ops in its own fgraph_array slot', () => {
    const k = kernelWith(ftraceStack());
    const a: string[] = [];
    const b: string[] = [];
    expect(k.call(k.api.ftrace.registerFtraceGraph(logger(a, ['inner_fn'])))).toBe(0);
    expect(k.call(k.api.ftrace.registerFtraceGraph(logger(b, ['inner_fn'])))).toBe(0);
    k.spawnKthread(fn('inner_fn', msleep(1)), { comm: 'one' });
    expectClean(k, k.run());
    expect([a, b]).toEqual([
      ['+inner_fn@0', '-inner_fn@0'],
      ['+inner_fn@0', '-inner_fn@0'],
    ]);
    expect(eventsOf(k, 'ftrace/fgraph-push')[0]).toMatchObject({ idx: [0, 1], gops: [1, 2] });
  });

  it('shadow stacks of tasks that exit inside traced functions are freed at exit (ftrace_graph_exit_task)', () => {
    const k = kernelWith(ftraceStack());
    expect(k.call(k.api.ftrace.registerFtraceGraph({ filter: ['do_exit'], label: 'exit' }))).toBe(0);
    const sh: Program = function* sh(u) {
      yield u.exit(0);
    };
    const pid = k.spawn(sh);
    expectClean(k, k.run());
    // do_exit never returns: its frame is still pending when the stack is freed.
    expect(eventsOf(k, 'ftrace/fgraph-stack-freed', (e) => e.pid === pid)).toMatchObject([{ pid, pending: 1 }]);
    expect(eventsOf(k, 'ftrace/fgraph-return')).toEqual([]);
    expect(k.state.plugins.ftrace!.retStacks).toEqual({});
  });
});

describe('handlers that throw', () => {
  it('are reported (ftrace/fgraph-fault) and do not stop the task: a throwing entry declines, a throwing return still pops its frame', () => {
    const k = kernelWith(ftraceStack());
    const gops: FgraphOps = {
      entry: (t) => {
        if (t.func === 'outer_fn') throw new Error('entry broke');
        return true;
      },
      ret: () => {
        throw new TypeError('ret broke');
      },
      filter: ['outer_fn', 'inner_fn'],
    };
    expect(k.call(k.api.ftrace.registerFtraceGraph(gops))).toBe(0);
    k.spawnKthread(fn('outer_fn', fn('inner_fn', msleep(1))), { comm: 'nest' });
    expectClean(k, k.run());
    expect(eventsOf(k, 'ftrace/fgraph-fault').map((e) => [e.ip, e.message])).toEqual([
      ['outer_fn', 'Error: entry broke'],
      ['inner_fn', 'TypeError: ret broke'],
    ]);
    expect(eventsOf(k, 'ftrace/fgraph-return').map((e) => e.ip)).toEqual(['inner_fn']);
    expect(k.state.plugins.ftrace!.retStacks).toEqual({});
  });
});

describe('the nesting limit (FTRACE_RETFUNC_DEPTH)', () => {
  it('entries past 50 frames are not traced and are counted in trace_overrun, which the return handlers see', () => {
    const k = kernelWith(ftraceStack());
    const overruns: number[] = [];
    const gops: FgraphOps = { ret: (t) => void overruns.push(t.overrun), filter: ['deep_fn'], label: 'deep' };
    expect(k.call(k.api.ftrace.registerFtraceGraph(gops))).toBe(0);
    const pid = k.spawnKthread(nest('deep_fn', 53), { comm: 'deep' });
    k.run({ until: (s) => s.plugins.ftrace?.fgraphOverrun?.[String(pid)] === 3 });
    expect(k.state.plugins.ftrace!.retStacks![String(pid)]!.length).toBe(50);
    expectClean(k, k.run());
    expect(eventsOf(k, 'ftrace/fgraph-push').length).toBe(50);
    expect(eventsOf(k, 'ftrace/fgraph-overrun').map((e) => e.overrun)).toEqual([1, 2, 3]);
    expect(eventsOf(k, 'ftrace/fgraph-return').map((e) => e.depth)).toEqual(Array.from({ length: 50 }, (_, i) => 49 - i));
    expect(overruns).toEqual(new Array(50).fill(3));
  });
});

describe('register and unregister', () => {
  it('-EBUSY for an ops already registered, -ENOENT for one that is not, -EINVAL for a filter that matches nothing, -ENOSPC past FGRAPH_ARRAY_SIZE slots', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const first: FgraphOps = { filter: ['sys_getpid'] };
    expect(k.call(api.registerFtraceGraph(first))).toBe(0);
    expect(k.call(api.registerFtraceGraph(first))).toBe(-EBUSY);
    expect(k.call(api.unregisterFtraceGraph({ filter: ['sys_getpid'] }))).toBe(-ENOENT);
    expect(k.call(api.registerFtraceGraph({ filter: ['nothing_*'] }))).toBe(-EINVAL);
    const more = Array.from({ length: 15 }, (): FgraphOps => ({ filter: ['sys_getpid'] }));
    for (const g of more) expect(k.call(api.registerFtraceGraph(g))).toBe(0);
    expect(k.call(api.registerFtraceGraph({ filter: ['sys_getpid'] }))).toBe(-ENOSPC);
    // A released slot goes to the back of the LRU: the next registration takes it only after the others.
    expect(k.call(api.unregisterFtraceGraph(first))).toBe(0);
    const again: FgraphOps = { filter: ['sys_getpid'] };
    expect(k.call(api.registerFtraceGraph(again))).toBe(0);
    expect(eventsOf(k, 'ftrace/fgraph-registered').at(-1)!.idx).toBe(0);
    expect(() => api.registerFtraceGraph({ entry: 3 } as unknown as FgraphOps)).toThrow(/gops.entry must be a function/);
    expect(() => api.registerFtraceGraph({ nope: 1 } as unknown as FgraphOps)).toThrow(/unknown fgraph ops field "nope"/);
  });

  it('unregistering the last ops disables the graph caller on its sites; a function traced by another ops keeps it', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const a: FgraphOps = { filter: ['sys_getpid', 'sys_getppid'] };
    const b: FgraphOps = { filter: ['sys_getppid'] };
    k.call(api.registerFtraceGraph(a));
    k.call(api.registerFtraceGraph(b));
    const from = k.log.length;
    expect(k.call(api.unregisterFtraceGraph(a))).toBe(0);
    const patched = k.log.slice(from).filter((e) => e.type === 'ftrace/fgraph-patched');
    expect(patched).toMatchObject([{ ip: 'sys_getpid', on: false }]);
    expect(k.state.plugins.ftrace!.fgraph).toMatchObject({ 1: { state: 'freed' }, 2: { state: 'registered' } });
  });
});

/**
 * The unregister race: tasks sleep inside a graph-traced sys_nanosleep (their frames pending)
 * while a tracer registers an fgraph ops, keeps it a few ticks, unregisters it and frees it.
 */
function sleepers(seed: number, options: FtraceOptions = {}, strategy?: Strategy): Kernel {
  const k = kernelWith({ plugins: ftraceStack(options), seed, strategy });
  const napper: Program = function* napper(u) {
    for (let i = 0; i < 3; i++) {
      yield u.sleep(3);
      yield u.compute(1);
    }
  };
  for (let i = 0; i < 3; i++) k.spawn(napper, { comm: `n${i}` });
  const api = k.api.ftrace;
  const gops: FgraphOps = {
    ret: () => {
      // what a return handler records is the trace's business; it must never run on a freed ops
    },
    filter: ['sys_nanosleep'],
    label: 'sleeptime',
  };
  k.spawnKthread(
    (function* tracer(): KPath<number> {
      const r = yield* api.registerFtraceGraph(gops);
      if (r !== 0) return r;
      yield* msleep(2);
      return yield* api.unregisterFtraceGraph(gops);
    })(),
    { comm: 'tracer' },
  );
  return k;
}

describe('unregister while a task is still inside the traced function', () => {
  it("fgraphReturn: 'fgraph-array' (upstream): a return after the unregister finds fgraph_stub in the ops' slot and skips it; clean over 30 seeds", () => {
    let stubbed = 0;
    overSeeds(
      30,
      (seed) => sleepers(seed),
      (k, r) => {
        expectClean(k, r);
        const freed = eventsOf(k, 'ftrace/fgraph-freed')[0]!;
        for (const ret of eventsOf(k, 'ftrace/fgraph-return', (e) => e.seq > freed.seq)) {
          expect(ret.gops).toEqual([]);
          expect(ret.stubbed).toEqual([0]);
          stubbed++;
        }
      },
    );
    // Tasks did sleep in sys_nanosleep across the unregister in many seeds.
    expect(stubbed).toBeGreaterThan(30);
  });

  it("fgraphReturn: 'ret-stack-ops' (unsafe): the return calls the freed ops' return handler from its stale frame, and the invariant names it; replayable", () => {
    const found = findUnsafe(10, (seed) => sleepers(seed, { fgraphReturn: 'ret-stack-ops' }), FTRACE_INVARIANTS.fgraphUseAfterFree);
    expect(found.violation.message).toMatch(
      /^pid \d+ returned from sys_nanosleep through return_to_handler and called the return handler of fgraph ops 1, which its owner had freed/,
    );
    const uaf = eventsOf(found.kernel, 'ftrace/fgraph-use-after-free')[0]!;
    const push = found.kernel.log.findLast((e) => e.type === 'ftrace/fgraph-push' && e.pid === uaf.pid && e.seq < uaf.seq)!;
    const freed = eventsOf(found.kernel, 'ftrace/fgraph-freed')[0]!;
    // The frame was pushed before the ops was unregistered and freed, and popped after.
    expect(push.seq).toBeLessThan(freed.seq);
    expect(uaf.seq).toBeGreaterThan(freed.seq);
    expectReplayIdentity(found.kernel, ({ seed, strategy }) => sleepers(seed, { fgraphReturn: 'ret-stack-ops' }, strategy));
  });
});
