/**
 * @tracelab/utrace benchmarks (issue 6):
 * 1. The hook cost on a task with no engine: a syscall with utrace loaded (one flag test per
 *    tracehook) against the same syscall with no utrace plugin (target: within 1.1x).
 * 2. A reporting pass with 1, 4 and 16 engines, each with a report_syscall_exit that returns
 *    UTRACE_RESUME: the syscall's cost above the no-engine syscall, per engine.
 */
import { createKernel, type Program } from '@tracelab/core';
import { UTRACE_ATTACH_CREATE, UTRACE_EVENT_SYSCALL_EXIT, UTRACE_RESUME, utrace, type UtraceEngine, type UtraceEngineOps } from '@tracelab/utrace';
import { median, row, timeOnce, type Benchmark, type Row } from './harness.js';

const SYSCALLS = 5_000;
const SAMPLES = 3;
const ENGINE_COUNTS = [1, 4, 16] as const;

const caller: Program = function* caller(u) {
  yield u.sleep(400);
  for (let i = 0; i < SYSCALLS; i++) yield u.syscall('getpid');
};

const OPS: UtraceEngineOps<null> = {
  name: 'bench',
  // eslint-disable-next-line require-yield -- a callback is a kernel path even with no scheduling point
  *reportSyscallExit() {
    return UTRACE_RESUME;
  },
};

/** ns per syscall: `engines` null = no utrace plugin; 0 = utrace loaded, no engine. */
function syscallNs(engines: number | null): number {
  const kernel = createKernel({ cpus: 1, seed: 1, plugins: engines === null ? [] : [utrace()] });
  const pid = kernel.spawn(caller, { comm: 'caller' });
  for (let i = 0; i < (engines ?? 0); i++) {
    const e = kernel.call(kernel.api.utrace.attachTask(pid, UTRACE_ATTACH_CREATE, OPS, null)) as UtraceEngine;
    kernel.call(kernel.api.utrace.setEvents(pid, e, UTRACE_EVENT_SYSCALL_EXIT));
  }
  const { ns, value } = timeOnce(() => kernel.run());
  if (!value.done || value.violations.length > 0) throw new Error(`utrace bench: the run with ${engines} engines did not finish cleanly`);
  const callbacks = kernel.log.filter((e) => e.type === 'utrace/callback').length;
  if (callbacks < (engines ?? 0) * (SYSCALLS - 1)) throw new Error(`utrace bench: ${callbacks} callbacks with ${engines} engines`);
  return ns / SYSCALLS;
}

export const utraceBench: Benchmark = {
  name: 'utrace',
  run(): Row[] {
    const stacks: Array<number | null> = [null, 0, ...ENGINE_COUNTS];
    const samples = new Map<number | null, number[]>(stacks.map((s) => [s, []]));
    for (let s = 0; s < SAMPLES + 1; s++) {
      for (const stack of stacks) {
        const ns = syscallNs(stack);
        if (s > 0) samples.get(stack)!.push(ns); // the first round warms the JIT up
      }
    }
    const none = median(samples.get(null)!);
    const idle = median(samples.get(0)!);
    const rows: Row[] = [
      row('utrace syscall, no engine (utrace loaded)', 'ns/syscall', idle, none, 'syscall with no utrace plugin'),
      { name: 'utrace syscall overhead, no engine / no utrace', unit: 'ratio', ours: idle / none, peer: 1.1, peerName: 'target', speedup: 1.1 / (idle / none) },
    ];
    for (const n of ENGINE_COUNTS) {
      const with_ = median(samples.get(n)!);
      rows.push(row(`utrace reporting pass, ${n} engine${n > 1 ? 's' : ''}, per engine`, 'ns/engine', (with_ - idle) / n, idle, 'the whole syscall with no engine'));
    }
    return rows;
  },
};
