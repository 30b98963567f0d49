/**
 * The thread's headline (Steven Rostedt, 2014): 1000 functions, each traced by its own ops.
 * Through per-ops trampolines a traced call costs the same with 1 ops or 1000; through the list
 * caller every call walks every ops and tests its hashes. Both are the real fast path
 * (`site.call`), set up through the simulated kernel's registration path, measured in one run.
 */
import { createKernel, type KPath } from '@tracelab/core';
import { ftrace, type FtraceApi, type FtraceOps, type FtraceSite } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { measure, median, row, type Benchmark, type Row } from './harness.js';

const OPS_COUNTS = [1, 10, 100, 1000] as const;
/** Calls per timed loop. */
const BATCH = 10_000;
const OPTS = { iterations: 40, samples: 5, opsPerCall: BATCH, warmup: 40 } as const;
/** The list caller at 1000 ops is ~1000x slower: fewer iterations keep it to ~a second. */
const SLOW_OPTS = { iterations: 1, samples: 3, opsPerCall: BATCH, warmup: 1 } as const;

/** The ops the floor's direct call passes its callback. */
const DIRECT_OPS: FtraceOps = { func: () => undefined };

/** Kept a small integer so adding to it never allocates. */
let sink = 0;

/** Each ops has its own callback closure, as separate tracers would. */
const makeCallback = (): FtraceOps['func'] => () => {
  sink = (sink + 1) | 0;
};

function* registerAll(api: FtraceApi, ops: readonly FtraceOps[]): KPath<number> {
  for (const o of ops) {
    const r = yield* api.registerFtraceFunction(o);
    if (r !== 0) return r;
  }
  return 0;
}

/**
 * A kernel with `n` DYNAMIC ops, ops i tracing bench_fn_i only (of up to 1000 functions). `trampolines: false` is the list caller everywhere (dynamicTrampolines: false).
 * The invariants are off: they re-verify every record against every ops after each step,
 * which is quadratic at this size; the registration path is the same.
 */
function sitesWith(n: number, trampolines: boolean): FtraceSite[] {
  const kernel = createKernel({ cpus: 1, plugins: [rcuTasks(), ftrace({ dynamicTrampolines: trampolines, checks: false })] });
  const api = kernel.api.ftrace;
  const ops: FtraceOps[] = [];
  for (let i = 0; i < n; i++) ops.push({ func: makeCallback(), filter: [`bench_fn_${i}`], flags: ['DYNAMIC'], label: `ops${i}` });
  const ret = kernel.call(registerAll(api, ops), { maxSteps: 10_000_000 });
  if (ret !== 0) throw new Error(`ftrace bench: registerFtraceFunction returned ${ret}`);
  // The traced functions' sites (the untraced ones of the 1000 stay nops and are not called).
  const sites: FtraceSite[] = [];
  for (let i = 0; i < n; i++) {
    const s = api.site(`bench_fn_${i}`);
    const want = trampolines ? 'trampoline' : 'list';
    if (s === undefined || s.target !== want) throw new Error(`ftrace bench: bench_fn_${i} targets ${s?.target ?? 'nothing'}, expected ${want}`);
    sites.push(s);
  }
  return sites;
}

/** Calls of the traced functions round-robin: the same loop and index pattern for every n. */
function indexes(n: number): Int32Array {
  const idx = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) idx[i] = i % n;
  return idx;
}

/**
 * One loop for every configuration: the same code calls 1 site or 1000, as the same mcount
 * call instruction runs in every traced function. Every configuration is warmed up through it
 * before anything is timed, so all are measured in the same JIT state (otherwise the first one
 * timed, seeing a single site, is inlined and the rest are not).
 */
function callLoop(sites: readonly FtraceSite[], idx: Int32Array): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) sites[idx[i]!]!.call('bench');
  };
}

function directLoop(): () => void {
  const f = makeCallback();
  return () => {
    for (let i = 0; i < BATCH; i++) f('bench', 'bench', DIRECT_OPS);
  };
}

/** Checks that one call of each traced site ran exactly its callback once. */
function checkCalls(sites: readonly FtraceSite[], n: number, what: string): void {
  const before = sink;
  for (let i = 0; i < n; i++) sites[i]!.call('check');
  if (((sink - before) | 0) !== n) throw new Error(`ftrace bench: ${what} with ${n} ops ran ${(sink - before) | 0} callbacks for ${n} calls`);
}

/** Rounds of measurements, interleaved across configurations (machine load drifts). */
const ROUNDS = 5;

export const ftraceBench: Benchmark = {
  name: 'ftrace',
  run(): Row[] {
    const unit = 'ns/call';
    const configs = OPS_COUNTS.flatMap((n) =>
      [true, false].map((trampolines) => ({ n, trampolines, sites: sitesWith(n, trampolines), times: [] as number[] })),
    );
    for (const c of configs) checkCalls(c.sites, c.n, c.trampolines ? 'trampolines' : 'the list caller');
    const loops = configs.map((c) => callLoop(c.sites, indexes(c.n)));
    for (const loop of loops) loop();
    for (let r = 0; r < ROUNDS; r++) {
      configs.forEach((c, i) => {
        c.times.push(measure(loops[i]!, !c.trampolines && c.n >= 100 ? SLOW_OPTS : OPTS));
      });
    }
    const med = (n: number, trampolines: boolean) => median(configs.find((c) => c.n === n && c.trampolines === trampolines)!.times);
    const rows: Row[] = [];
    for (const n of OPS_COUNTS) {
      rows.push(row(`ftrace traced call via trampolines, ${n} ops on ${n} functions`, unit, med(n, true), med(n, false), `list caller, ${n} ops (same run)`));
    }
    rows.push(row('ftrace traced call via trampoline, 1 ops', unit, med(1, true), measure(directLoop(), OPTS), 'direct call of the callback (floor)'));
    const flat = med(1000, true) / med(1, true);
    rows.push({ name: 'ftrace trampoline flatness, 1000 ops / 1 ops', unit: 'ratio', ours: flat, peer: 1.2, peerName: 'target (<= 1.2)', speedup: 1.2 / flat });
    const gain = med(1000, false) / med(1000, true);
    rows.push({ name: 'ftrace list caller / trampolines at 1000 ops', unit: 'x', ours: gain, peer: 100, peerName: 'target (>= 100)', speedup: gain / 100 });
    return rows;
  },
};
