/**
 * @tracelab/utrace benchmarks (issue 6):
 * 1. The hook cost on a task with no engine: a syscall with utrace loaded (one flag test per
 *    tracehook) against the same syscall with no utrace plugin (target: within 1.1x).
 * 2. A reporting pass with 1, 4 and 16 engines, each with a report_syscall_exit that returns
 *    UTRACE_RESUME at once: the syscall's cost above the no-engine syscall, per engine.
 * 3. The same with 4 engines whose callback runs kernel code (one state read), so each callback
 *    is two events (start, return) instead of one; and the strace-like logger engine on the
 *    same syscall. Peers: the no-engine syscall of the same run.
 * Every kernel of a round is built and run back to back, rounds interleave the stacks, and the
 * median of the rounds is reported (the first round only warms the JIT up).
 */
import { createKernel, getState, type Program } from '@tracelab/core';
import {
  UTRACE_ATTACH_CREATE,
  UTRACE_EVENT_SYSCALL_EXIT,
  UTRACE_RESUME,
  attachSyscallLogger,
  utrace,
  type UtraceEngine,
  type UtraceEngineOps,
} from '@tracelab/utrace';
import { median, row, timeOnce, type Benchmark, type Row } from './harness.js';

const SYSCALLS = 5_000;
const SAMPLES = 5;
const ENGINE_COUNTS = [1, 4, 16] as const;

const caller: Program = function* caller(u) {
  yield u.sleep(400);
  for (let i = 0; i < SYSCALLS; i++) yield u.syscall('getpid');
};

const QUICK: UtraceEngineOps<null> = {
  name: 'bench',
  // eslint-disable-next-line require-yield -- a callback is a kernel path even with no scheduling point
  *reportSyscallExit() {
    return UTRACE_RESUME;
  },
};

const READS_STATE: UtraceEngineOps<null> = {
  name: 'bench-reads',
  *reportSyscallExit() {
    yield* getState();
    return UTRACE_RESUME;
  },
};

interface Stack {
  readonly key: string;
  /** null: no utrace plugin at all. */
  readonly engines: number | null;
  readonly ops?: UtraceEngineOps<null> | 'logger';
}

const STACKS: readonly Stack[] = [
  { key: 'none', engines: null },
  { key: 'idle', engines: 0 },
  ...ENGINE_COUNTS.map((n) => ({ key: `quick${n}`, engines: n, ops: QUICK })),
  { key: 'reads4', engines: 4, ops: READS_STATE },
  { key: 'logger', engines: 1, ops: 'logger' as const },
];

/** ns per syscall for one stack. */
function syscallNs(stack: Stack): number {
  const kernel = createKernel({ cpus: 1, seed: 1, plugins: stack.engines === null ? [] : [utrace()] });
  const pid = kernel.spawn(caller, { comm: 'caller' });
  const api = kernel.api.utrace;
  for (let i = 0; i < (stack.engines ?? 0); i++) {
    if (stack.ops === 'logger') {
      if (typeof kernel.call(attachSyscallLogger(api, pid)) === 'number') throw new Error('utrace bench: logger attach failed');
      continue;
    }
    const e = kernel.call(api.attachTask(pid, UTRACE_ATTACH_CREATE, stack.ops!, null)) as UtraceEngine;
    kernel.call(api.setEvents(pid, e, UTRACE_EVENT_SYSCALL_EXIT));
  }
  const { ns, value } = timeOnce(() => kernel.run());
  if (!value.done || value.violations.length > 0) throw new Error(`utrace bench: the ${stack.key} run did not finish cleanly`);
  let callbacks = 0;
  for (const e of kernel.log) if (e.type === 'utrace/callback') callbacks++;
  if (callbacks < (stack.engines ?? 0) * (SYSCALLS - 1)) throw new Error(`utrace bench: ${callbacks} callbacks in the ${stack.key} run`);
  return ns / SYSCALLS;
}

export const utraceBench: Benchmark = {
  name: 'utrace',
  run(): Row[] {
    const samples = new Map<string, number[]>(STACKS.map((s) => [s.key, []]));
    for (let round = 0; round < SAMPLES + 1; round++) {
      for (const stack of STACKS) {
        const ns = syscallNs(stack);
        if (round > 0) samples.get(stack.key)!.push(ns);
      }
    }
    const m = (key: string): number => median(samples.get(key)!);
    const none = m('none');
    const idle = m('idle');
    const rows: Row[] = [
      row('utrace syscall, no engine (utrace loaded)', 'ns/syscall', idle, none, 'syscall with no utrace plugin'),
      { name: 'utrace syscall overhead, no engine / no utrace', unit: 'ratio', ours: idle / none, peer: 1.1, peerName: 'target', speedup: 1.1 / (idle / none) },
    ];
    for (const n of ENGINE_COUNTS) {
      rows.push(
        row(
          `utrace reporting pass, ${n} engine${n > 1 ? 's' : ''}, per engine`,
          'ns/engine',
          (m(`quick${n}`) - idle) / n,
          idle,
          'the whole syscall with no engine',
        ),
      );
    }
    // Per engine above, each pass's fixed cost (the slow-path hooks, start_report, the pass's own
    // utrace/report event) is shared among the engines; the marginal cost of one more engine:
    const marginal = (m('quick16') - m('quick1')) / 15;
    rows.push(row('utrace reporting pass, marginal cost of an engine (16 vs 1)', 'ns/engine', marginal, idle, 'the whole syscall with no engine'));
    rows.push(row('utrace reporting pass, fixed cost per pass', 'ns/pass', m('quick1') - idle - marginal, idle, 'the whole syscall with no engine'));
    rows.push(
      row('utrace reporting pass, 4 engines running kernel code, per engine', 'ns/engine', (m('reads4') - idle) / 4, idle, 'the whole syscall with no engine'),
    );
    rows.push(row('utrace syscall-logger engine (strace), getpid', 'ns/syscall', m('logger'), idle, 'syscall with no engine'));
    return rows;
  },
};
