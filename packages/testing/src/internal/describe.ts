import { canonicalJson, type Kernel, type KernelEvent, type Violation, type WaitingTask } from '@tracelab/core';

/** One violation on one line: the invariant, what broke, where, and the string that replays it. */
export function describeViolation(v: Violation): string {
  return `violation ${v.name} at seq ${v.seq} (tick ${v.time}): ${v.message}\n    replay: ${v.schedule}`;
}

export function describeOops(e: KernelEvent<'kernel/oops'>): string {
  const who = e.plugin === null ? 'the core' : `plugin ${e.plugin}`;
  const killed = e.killed === null ? '' : `, killed pid ${e.killed}`;
  return `oops at seq ${e.seq} in ${who} (${e.where}, pid ${e.pid}${killed}): ${e.message}`;
}

export function describeWaiting(w: readonly WaitingTask[]): string {
  return w.map((t) => `${t.comm} (pid ${t.pid}) ${t.state}${t.on === null ? '' : ` on ${t.on}`}`).join(', ');
}

/** Why a run is not clean, one entry per problem; empty when it is. */
export function problemsOf(
  kernel: Pick<Kernel, 'violations' | 'log' | 'steps' | 'schedule'>,
  result: { readonly violations?: readonly Violation[]; readonly done?: boolean; readonly waiting?: readonly WaitingTask[] } | undefined,
  requireDone: boolean,
): string[] {
  const problems: string[] = [];
  // result.violations is the kernel's own array when the result came from this kernel's run;
  // a result built by hand (or from another run) may hold others, so both are read, once each.
  const seen = new Set<Violation>();
  for (const v of [...kernel.violations, ...(result?.violations ?? [])]) {
    if (seen.has(v)) continue;
    seen.add(v);
    problems.push(describeViolation(v));
  }
  for (const e of kernel.log) if (e.type === 'kernel/oops') problems.push(describeOops(e as KernelEvent<'kernel/oops'>));
  if (requireDone && result?.done === false && kernel.violations.length === 0) {
    const waiting = result.waiting !== undefined && result.waiting.length > 0 ? `; waiting for the host: ${describeWaiting(result.waiting)}` : '';
    problems.push(`the run did not finish (${kernel.steps} steps${waiting})\n    replay: ${kernel.schedule}`);
  }
  return problems;
}

/** The first event at which two logs differ, for a replay that did not match. */
export function firstDifference(a: readonly KernelEvent[], b: readonly KernelEvent[]): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = canonicalJson(a[i]);
    const y = canonicalJson(b[i]);
    if (x !== y) return `first difference at seq ${i}:\n    recorded: ${x}\n    replayed: ${y}`;
  }
  if (a.length !== b.length) return `the logs agree for ${n} events, then the recorded one has ${a.length} and the replayed one ${b.length}`;
  return 'the logs hold the same events (the hashes differ in what the events do not show)';
}
