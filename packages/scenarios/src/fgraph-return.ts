import { msleep, type KPath, type Program } from '@tracelab/core';
import { defineScenario } from '@tracelab/explore';
import { ftrace, type FgraphOps, type FtraceApi, type FtraceOptions } from '@tracelab/ftrace';
import { rcuTasks } from '@tracelab/rcu-tasks';

/**
 * `fixed` is upstream's fgraph (Linux 6.9 on): a shadow-stack frame holds the fgraph_array
 * slots of the ops that asked for the return, and an unregistered ops' slot holds
 * fgraph_stub. `ret-stack-ops` keeps the ops itself in the frame.
 */
const OPTIONS: Readonly<Record<string, FtraceOptions>> = {
  fixed: {},
  'ret-stack-ops': { fgraphReturn: 'ret-stack-ops' },
};

/** Ticks a sleeper sleeps inside the traced sys_nanosleep. */
const NAP = 3;
/** Ticks the tracer keeps its fgraph ops registered. */
const KEEP = 1;

/** A user task that naps once: sys_nanosleep is entered, and returns `NAP` ticks later. */
const sleeper: Program = function* sleeper(u) {
  yield u.sleep(NAP);
};

/**
 * The tracer (a module with a graph tracer of its own, a BPF program on function exits):
 * registers an fgraph ops whose return handler measures sys_nanosleep, keeps it `KEEP` ticks,
 * unregisters it; once unregister_ftrace_graph returns, its owner frees it.
 */
function* tracer(api: FtraceApi): KPath<number> {
  const gops: FgraphOps = {
    ret: () => {
      // a sleep-time histogram would be updated here
    },
    filter: ['sys_nanosleep'],
    label: 'sleeptime',
  };
  const r = yield* api.registerFtraceGraph(gops);
  if (r !== 0) return r;
  yield* msleep(KEEP);
  return yield* api.unregisterFtraceGraph(gops);
}

/**
 * Function graph return trampolines (issue 22, SEMANTICS.md 4.2): a task that entered a
 * graph-traced function has return_to_handler as its return address and a frame on its shadow
 * stack, and nothing waits for it to return: it may sleep there for as long as it likes. A
 * tracer unregisters its fgraph ops and frees it meanwhile. Upstream's frame names the ops by
 * its slot in fgraph_array, which holds fgraph_stub after the unregister, so the late return
 * calls nothing; a frame that held the ops itself would call the freed ops' return handler.
 */
export const fgraphReturn = defineScenario({
  name: 'fgraph-return',
  description: 'a task sleeps inside a graph-traced function while the tracer unregisters and frees its fgraph ops (ftrace function graph)',
  source: 'kernel/trace/fgraph.c (fgraph_array, fgraph_stub, ftrace_return_to_handler, ftrace_graph_exit_task); issue 22, SEMANTICS.md 4.2',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 1000,
  scale: { name: 'sleepers', default: 1, min: 1 },
  sourceModule: { module: '@tracelab/scenarios', exportName: 'fgraphReturn' },
  variants: [
    {
      name: 'fixed',
      description: "the frame holds the ops' fgraph_array slot: the late return finds fgraph_stub there and calls nothing",
      safe: true,
    },
    {
      name: 'ret-stack-ops',
      description: 'the frame holds the ops itself: the late return calls the return handler of the ops its owner freed when unregister returned',
      safe: false,
      expect: ['ftrace/no-fgraph-ops-use-after-free'],
    },
  ],
  plugins: (variant) => [rcuTasks(), ftrace(OPTIONS[variant] ?? {})],
  setup(kernel, { scale }) {
    kernel.spawnKthread(tracer(kernel.api.ftrace), { comm: 'tracer' });
    for (let i = 0; i < scale; i++) kernel.spawn(sleeper, { comm: `s${i}` });
  },
});
