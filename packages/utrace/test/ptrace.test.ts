import { describe, expect, test } from 'vitest';
import { EEXIST, SIGUSR1, type Kernel } from '@tracelab/core';
import { ptraceAttach, ptraceCont, ptraceDetach, type PtraceData, type UtraceEngine } from '@tracelab/utrace';
import { call, eventsOf, expectClean, kernelWith } from './helpers.js';

/** A tracee that makes syscalls for a while (signals are delivered on the way out of them), and a sender. */
function setup(seed: number): { k: Kernel; tracee: number } {
  const k = kernelWith({ seed });
  const tracee = k.spawn(function* tracee(u) { for (let i = 0; i < 30; i++) { yield u.syscall('getpid'); yield u.sleep(1); } }, { comm: 'tracee' });
  k.spawn(function* sender(u) { yield u.sleep(6); yield u.kill(tracee, SIGUSR1); }, { comm: 'sender' });
  return { k, tracee };
}

describe('the ptrace-like engine', () => {
  test('exclusive attach; a signal stops the tracee; PTRACE_CONT without the signal lets it run on', () => {
    const { k, tracee } = setup(1);
    const u = k.api.utrace;
    const e = call(k, ptraceAttach(u, tracee)) as UtraceEngine<PtraceData>;
    expect(call(k, ptraceAttach(u, tracee))).toBe(-EEXIST);
    expect(call(k, u.waitForStop(tracee))).toBe(0);
    expect(e.data.stopSig).toBe(SIGUSR1);
    expect(typeof call(k, u.prepareExamine(tracee, e))).toBe('object');
    expect(call(k, ptraceCont(u, tracee, e, 0))).toBe(0);
    expect(call(k, ptraceDetach(u, tracee, e))).toBe(0);
    const r = k.run();
    expectClean(k, r);
    expect(eventsOf(k, 'signal/deliver').find((d) => d.pid === tracee)!.action).toBe('ignore');
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(0);
  });

  test('PTRACE_CONT with the signal delivers it: the tracee dies of SIGUSR1', () => {
    const { k, tracee } = setup(2);
    const u = k.api.utrace;
    const e = call(k, ptraceAttach(u, tracee)) as UtraceEngine<PtraceData>;
    expect(call(k, u.waitForStop(tracee))).toBe(0);
    expect(call(k, ptraceCont(u, tracee, e, SIGUSR1))).toBe(0);
    const r = k.run();
    expectClean(k, r);
    expect(eventsOf(k, 'task/exit').find((x) => x.pid === tracee)!.code).toBe(128 + SIGUSR1);
    expect(eventsOf(k, 'utrace/ptrace-stop').length).toBe(1);
  });
});
