import { describe, expect, it } from 'vitest';
import type { Kernel } from '@tracelab/core';
import { FTRACE_INVARIANTS, type FtraceOps } from '@tracelab/ftrace';
import { expectClean, forgeEvent, kernelWith } from '@tracelab/testing';
import { ftraceStack, noop } from './helpers.js';

const dyn = (filter: string[], label: string, notrace: string[] = []): FtraceOps => ({ func: noop, filter, notrace, flags: ['DYNAMIC'], label });

function registered(...ops: FtraceOps[]): { k: Kernel; tramp: (o: FtraceOps) => number } {
  const k = kernelWith(ftraceStack());
  for (const o of ops) expect(k.call(k.api.ftrace.registerFtraceFunction(o))).toBe(0);
  k.run();
  expectClean(k);
  return { k, tramp: (o) => k.state.plugins.ftrace!.ops[k.api.ftrace.opsId(o)!]!.trampoline! };
}

describe('the invariants still fire on every kind of change they follow', () => {
  it('a record whose refcount disagrees with the registered ops (the record changed)', () => {
    const A = dyn(['sys_getpid'], 'A');
    const { k, tramp } = registered(A, dyn(['sys_getppid'], 'B'));
    forgeEvent(k, { type: 'ftrace/rec', ip: 'sys_getpid', refcount: 2, tramp: tramp(A) });
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.refcount });
    expect(k.violations[0]!.message).toMatch(/record sys_getpid has refcount 2, but 1 registered ops trace it \(A#1\)/);
  });

  it('an ops that leaves the list without its records being lowered (the ops entry changed)', () => {
    const A = dyn(['sys_getpid'], 'A');
    const { k } = registered(A);
    forgeEvent(k, { type: 'ftrace/ops-removed', ops: k.api.ftrace.opsId(A)! });
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.refcount });
    expect(k.violations[0]!.message).toMatch(/record sys_getpid has refcount 1, but 0 registered ops trace it/);
  });

  it('an empty-filter ops leaving the list re-checks every record', () => {
    const all: FtraceOps = { func: noop, notrace: ['do_exit'], flags: ['DYNAMIC'], label: 'all' };
    const { k } = registered(dyn(['sys_getpid'], 'A'), all);
    forgeEvent(k, { type: 'ftrace/ops-removed', ops: k.api.ftrace.opsId(all)! });
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.refcount });
    expect(k.violations[0]!.message).toMatch(/has refcount [12], but [01] registered ops trace it/);
  });

  it('a trampoline retired while a record still has TRAMP on it (only the trampoline changed)', () => {
    const A = dyn(['sys_getpid'], 'A');
    const { k, tramp } = registered(A);
    forgeEvent(k, { type: 'ftrace/tramp-retired', tramp: tramp(A), ops: k.api.ftrace.opsId(A)!, wait: 'rcu-tasks' });
    // The refcount invariant re-checks the records with TRAMP on the trampoline that changed.
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.refcount });
    expect(k.violations[0]!.message).toMatch(
      /record sys_getpid has TRAMP \(trampoline #1\) with refcount 1; TRAMP needs exactly one tracing ops owning an allocated trampoline/,
    );
  });

  it('a site whose state target disagrees with the hot site the fast path calls', () => {
    const A = dyn(['sys_getpid'], 'A');
    const { k, tramp } = registered(A);
    forgeEvent(k, { type: 'ftrace/site-patched', ip: 'sys_getpid', from: tramp(A), to: 'list' });
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.siteTarget });
    expect(k.violations[0]!.message).toMatch(/site sys_getpid: the registry has refcount 1, TRAMP 1, target 1; the state has 1, 1, list/);
  });
});
