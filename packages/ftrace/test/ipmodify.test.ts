/**
 * The IPMODIFY/DIRECT sharing protocol (docs/ftrace.md, decision 12): a live patch (an IPMODIFY
 * ops that moves the saved ip to its new body) and a direct trampoline on the same function.
 * ftrace asks the direct ops through its ops_func (ENABLE_SHARE_IPMODIFY_SELF / _PEER,
 * DISABLE_SHARE_IPMODIFY_PEER); BPF's answer rebuilds its trampoline with ORIG_STACK, so its
 * call of the function honours the redirect.
 */
import { EAGAIN, EBUSY, EINVAL, ENOENT, TracelabError, msleep, type Kernel, type KPath, type Strategy } from '@tracelab/core';
import { describe, expect, test } from 'vitest';
import {
  FTRACE_INVARIANTS,
  type BpfTrampolineSpec,
  type FtraceDirectOps,
  type FtraceDirectTrampoline,
  type FtraceOps,
  type FtraceOpsCmd,
  type FtraceOptions,
  type FtraceRegs,
} from '@tracelab/ftrace';
import { eventsOf, expectClean, expectReplayIdentity, kernelWith } from '@tracelab/testing';
import { failingRuns, ftraceStack, worker } from './helpers.js';

/** A live patch of sys_getpid (klp_ftrace_handler): IPMODIFY, SAVE_REGS, DYNAMIC as klp's ops are; its callback moves the saved ip to the new body. */
function livePatch(): FtraceOps {
  return {
    func: (_ip, _parent, _ops, regs) => regs?.setIp('klp_sys_getpid'),
    filter: ['sys_getpid'],
    flags: ['IPMODIFY', 'SAVE_REGS', 'DYNAMIC'],
    label: 'klp',
  };
}

/** A direct ops whose ops_func answers `ret` and records what it was told. */
function directOps(ret: number | null, filter: string[] = ['sys_getpid']): { d: FtraceDirectOps; told: Array<[FtraceOpsCmd, string]> } {
  const told: Array<[FtraceOpsCmd, string]> = [];
  const d: FtraceDirectOps = {
    filter,
    label: 'direct',
    ...(ret === null ? {} : { opsFunc: (cmd: FtraceOpsCmd, ip: string) => (told.push([cmd, ip]), ret) }),
  };
  return { d, told };
}

function image(label: string, callOrig = false): FtraceDirectTrampoline {
  return { label, callOrig, func: () => undefined };
}

/** Runs one sys_getpid in a user task and the kernel to its end. */
function getpid(k: Kernel): void {
  k.spawn(function* one(u) {
    yield u.syscall('getpid');
  });
  k.run();
}

const bodies = (k: Kernel): string[] => eventsOf(k, 'ftrace/call-body').map((e) => `${e.via}:${e.body}`);

describe('what an IPMODIFY callback does to a call', () => {
  test('a live patch alone: its callback moves the saved ip, and the call runs the new body', () => {
    const k = kernelWith(ftraceStack());
    expect(k.call(k.api.ftrace.registerFtraceFunction(livePatch()))).toBe(0);
    getpid(k);
    expectClean(k, k.run());
    expect(eventsOf(k, 'ftrace/ip-modified')).toMatchObject([{ ip: 'sys_getpid', to: 'klp_sys_getpid' }]);
    expect(eventsOf(k, 'ftrace/call-body')).toMatchObject([{ ip: 'sys_getpid', body: 'klp_sys_getpid', redirect: 'klp_sys_getpid', via: 'return' }]);
  });

  test('an ops without IPMODIFY may not move the saved ip: setIp throws FTRACE_SET_IP_INVALID, its callback faults and the call runs the original body', () => {
    const k = kernelWith(ftraceStack());
    const thrown: unknown[] = [];
    const ops: FtraceOps = {
      func: (_i, _p, _o, regs) => {
        try {
          regs?.setIp('klp_sys_getpid');
        } catch (err) {
          thrown.push(err);
          throw err;
        }
      },
      filter: ['sys_getpid'],
      flags: ['SAVE_REGS'],
      label: 'naughty',
    };
    expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
    getpid(k);
    expectClean(k, k.run());
    expect(thrown).toHaveLength(1);
    expect(thrown[0]).toBeInstanceOf(TracelabError);
    expect(thrown[0]).toMatchObject({
      code: 'FTRACE_SET_IP_INVALID',
      detail: { ops: k.api.ftrace.opsId(ops), label: `naughty#${k.api.ftrace.opsId(ops)}`, ip: 'sys_getpid', target: 'klp_sys_getpid' },
    });
    const fault = eventsOf(k, 'ftrace/callback-fault');
    expect(fault).toMatchObject([{ ops: k.api.ftrace.opsId(ops), ip: 'sys_getpid' }]);
    expect(fault[0]!.message).toMatch(/from ops naughty#\d+ in a call of sys_getpid: the ops does not set FTRACE_OPS_FL_IPMODIFY/);
    expect(eventsOf(k, 'ftrace/call-body')).toEqual([]);
  });

  test('setIp from host code after the callback returned, or to a name that is not a function, throws FTRACE_SET_IP_INVALID', () => {
    const k = kernelWith(ftraceStack());
    let kept: FtraceRegs | undefined;
    const ops: FtraceOps = {
      func: (_i, _p, _o, regs) => {
        kept = regs;
        regs?.setIp('klp sys_getpid');
      },
      filter: ['sys_getpid'],
      flags: ['IPMODIFY', 'SAVE_REGS'],
      label: 'klp',
    };
    expect(k.call(k.api.ftrace.registerFtraceFunction(ops))).toBe(0);
    getpid(k);
    expectClean(k, k.run());
    // In the callback: a bad target is a fault, and the call is not redirected.
    expect(eventsOf(k, 'ftrace/callback-fault')[0]!.message).toMatch(
      /ftrace_regs_set_instruction_pointer\("klp sys_getpid"\) from ops klp#\d+ in a call of sys_getpid: the target is not a function name/,
    );
    expect(eventsOf(k, 'ftrace/call-body')).toEqual([]);
    // From host code nothing catches it: the caller gets the coded error.
    expect(kept).toBeDefined();
    let err: unknown;
    try {
      kept!.setIp('klp_sys_getpid');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TracelabError);
    expect(err).toMatchObject({ code: 'FTRACE_SET_IP_INVALID', detail: { ops: null, ip: 'sys_getpid', target: 'klp_sys_getpid' } });
    expect((err as Error).message).toMatch(/of a call of sys_getpid outside any callback/);
    expect(kept!.ip).toBe('sys_getpid');
  });
});

describe('ENABLE_SHARE_IPMODIFY_SELF: a direct ops registers on a function a live patch traces', () => {
  test('without an ops_func the direct ops is refused with -EBUSY, and its direct_functions entries are taken back', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    const { d } = directOps(null, ['sys_getpid', 'sys_getppid']);
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(-EBUSY);
    expect(eventsOf(k, 'ftrace/ops-func')).toMatchObject([
      { ops: api.opsId(d), ip: 'sys_getpid', cmd: 'enable-share-ipmodify-self', ret: -EBUSY, missing: true },
    ]);
    expect(k.state.plugins.ftrace!.directFunctions).toEqual({});
    expect(k.state.plugins.ftrace!.ops[api.opsId(d)!]).toBeUndefined();
    expect(api.record('sys_getpid')).toMatchObject({ refcount: 1 });
    expect(api.record('sys_getppid')?.refcount ?? 0).toBe(0);
    expectClean(k, k.run());
  });

  test("its ops_func is told SELF for the shared function only, under ftrace_lock, before the ops goes on the list (the model's order, decision 12); 0 shares it", () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    const { d, told } = directOps(0, ['sys_getpid', 'sys_getppid']);
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
    expect(told).toEqual([['enable-share-ipmodify-self', 'sys_getpid']]);
    const asked = eventsOf(k, 'ftrace/ops-func')[0]!;
    const registered = eventsOf(k, 'ftrace/ops-registered').at(-1)!;
    expect(asked.seq).toBeLessThan(registered.seq);
    const locks = k.stateAt(asked.seq).locks;
    const owner = (locks['direct_mutex'] as { owner: number | null }).owner;
    expect(owner).not.toBeNull();
    expect(locks['ftrace_lock']).toMatchObject({ kind: 'mutex', owner });
    expect(api.record('sys_getpid')).toMatchObject({ refcount: 2, target: 'list', direct: true });
    expectClean(k, k.run());
  });

  test('an error from the ops_func fails the registration with it; the entries are taken back, so a retry can succeed (reset_direct)', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    let answer = -EAGAIN;
    const d: FtraceDirectOps = { filter: ['sys_getpid'], label: 'retry', opsFunc: () => answer };
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(-EAGAIN);
    expect(k.state.plugins.ftrace!.directFunctions).toEqual({});
    answer = 0;
    expect(k.call(api.registerFtraceDirect(d, image('two')))).toBe(0);
    expect(Object.keys(k.state.plugins.ftrace!.directFunctions!)).toEqual(['sys_getpid']);
    expectClean(k, k.run());
  });
});

describe('ENABLE_SHARE_IPMODIFY_PEER and DISABLE_SHARE_IPMODIFY_PEER: a live patch comes to, and leaves, a function a direct ops traces', () => {
  test('the direct ops is told PEER before the live patch registers and DISABLE after it is unregistered, once per shared function', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const { d, told } = directOps(0, ['sys_getpid', 'sys_getppid']);
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
    const klp = livePatch();
    expect(k.call(api.registerFtraceFunction(klp))).toBe(0);
    expect(told).toEqual([['enable-share-ipmodify-peer', 'sys_getpid']]);
    const peer = eventsOf(k, 'ftrace/ops-func')[0]!;
    // Under direct_mutex, not ftrace_lock.
    const locks = k.stateAt(peer.seq).locks;
    expect((locks['direct_mutex'] as { owner: number | null }).owner).not.toBeNull();
    expect((locks['ftrace_lock'] as { owner: number | null } | undefined)?.owner ?? null).toBeNull();
    expect(peer.seq).toBeLessThan(eventsOf(k, 'ftrace/ops-registered', (e) => e.label.startsWith('klp'))[0]!.seq);
    expect(k.call(api.unregisterFtraceFunction(klp))).toBe(0);
    expect(told).toEqual([
      ['enable-share-ipmodify-peer', 'sys_getpid'],
      ['disable-share-ipmodify-peer', 'sys_getpid'],
    ]);
    const disable = eventsOf(k, 'ftrace/ops-func')[1]!;
    expect(disable.seq).toBeGreaterThan(eventsOf(k, 'ftrace/ops-shutdown', (e) => e.ops === api.opsId(klp))[0]!.seq);
    expectClean(k, k.run());
  });

  test('a direct ops without an ops_func makes the live patch fail with -EBUSY; an ops_func error fails it with that error', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const { d } = directOps(null);
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
    const klp = livePatch();
    expect(k.call(api.registerFtraceFunction(klp))).toBe(-EBUSY);
    expect(eventsOf(k, 'ftrace/ops-func')).toMatchObject([{ ops: api.opsId(d), cmd: 'enable-share-ipmodify-peer', ret: -EBUSY, missing: true }]);
    expect(api.record('sys_getpid')).toMatchObject({ refcount: 1, direct: true, directEn: true });
    // Never registered, so nothing to clean up on unregister.
    expect(k.call(api.unregisterFtraceFunction(klp))).toBe(-ENOENT);
    expect(eventsOf(k, 'ftrace/ops-func')).toHaveLength(1);
    expectClean(k, k.run());
    // An ops_func that answers an error: the live patch fails with that error, and stays off.
    const k2 = kernelWith(ftraceStack());
    const api2 = k2.api.ftrace;
    const { d: d2, told } = directOps(-EINVAL);
    expect(k2.call(api2.registerFtraceDirect(d2, image('one')))).toBe(0);
    const klp2 = livePatch();
    expect(k2.call(api2.registerFtraceFunction(klp2))).toBe(-EINVAL);
    expect(told).toEqual([['enable-share-ipmodify-peer', 'sys_getpid']]);
    expect(eventsOf(k2, 'ftrace/ops-func')).toMatchObject([{ ops: api2.opsId(d2), cmd: 'enable-share-ipmodify-peer', ret: -EINVAL }]);
    expect(eventsOf(k2, 'ftrace/callback-fault')).toEqual([]);
    expect(api2.record('sys_getpid')).toMatchObject({ refcount: 1, direct: true, directEn: true });
    getpid(k2);
    expectClean(k2, k2.run());
    expect(eventsOf(k2, 'ftrace/ip-modified')).toEqual([]);
  });
});

describe('what an ops_func may answer: 0 or a negative errno', () => {
  const bad: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['1', 1],
    ['"ok"', 'ok'],
    ['-0.5', -0.5],
  ];
  test.each(bad)(
    'SELF answered %s: a callback fault naming the ops, the command and the function, and the direct registration fails with -EINVAL',
    (_name, answer) => {
      const k = kernelWith(ftraceStack());
      const api = k.api.ftrace;
      expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
      const d = { filter: ['sys_getpid'], label: 'odd', opsFunc: () => answer } as unknown as FtraceDirectOps;
      expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(-EINVAL);
      const id = api.opsId(d);
      const faults = eventsOf(k, 'ftrace/callback-fault');
      expect(faults).toMatchObject([{ ops: id, ip: 'sys_getpid' }]);
      expect(faults[0]!.message).toMatch(
        /^ops_func of odd#\d+ for enable-share-ipmodify-self on sys_getpid returned .*, not 0 or a negative errno: counted as -EINVAL$/,
      );
      expect(eventsOf(k, 'ftrace/ops-func')).toMatchObject([{ ops: id, cmd: 'enable-share-ipmodify-self', ret: -EINVAL }]);
      // Refused like any error: its entries taken back, the ops not listed.
      expect(k.state.plugins.ftrace!.directFunctions).toEqual({});
      expect(api.record('sys_getpid')).toMatchObject({ refcount: 1 });
      expectClean(k, k.run());
    },
  );

  test.each(bad)('PEER answered %s (plain, or from a kernel path): the live patch fails with -EINVAL, not with the answer', (_name, answer) => {
    for (const asPath of [false, true]) {
      const k = kernelWith(ftraceStack());
      const api = k.api.ftrace;
      const opsFunc = asPath
        ? function* odd(): KPath<unknown> {
            yield* msleep(1);
            return answer;
          }
        : () => answer;
      const d = { filter: ['sys_getpid'], label: 'odd', opsFunc } as unknown as FtraceDirectOps;
      expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
      expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(-EINVAL);
      const faults = eventsOf(k, 'ftrace/callback-fault');
      expect(faults).toMatchObject([{ ops: api.opsId(d), ip: 'sys_getpid' }]);
      expect(faults[0]!.message).toMatch(/^ops_func of odd#\d+ for enable-share-ipmodify-peer on sys_getpid returned /);
      expect(eventsOf(k, 'ftrace/ops-func')).toMatchObject([{ cmd: 'enable-share-ipmodify-peer', ret: -EINVAL }]);
      expect(api.record('sys_getpid')).toMatchObject({ refcount: 1 });
      expectClean(k, k.run());
    }
  });

  test('a throwing ops_func is a callback fault naming the command, and counts as -EINVAL', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const d: FtraceDirectOps = {
      filter: ['sys_getpid'],
      label: 'thrower',
      opsFunc: () => {
        throw new RangeError('no');
      },
    };
    expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(-EINVAL);
    expect(eventsOf(k, 'ftrace/callback-fault').map((e) => e.message)).toEqual([
      `ops_func of thrower#${api.opsId(d)} for enable-share-ipmodify-peer on sys_getpid threw RangeError: no: counted as -EINVAL`,
    ]);
    expectClean(k, k.run());
  });
});

/** A BPF trampoline on sys_getpid with an fexit program (BPF_TRAMP_F_CALL_ORIG). */
function fexit(): { spec: BpfTrampolineSpec; runs: () => number } {
  let runs = 0;
  return { spec: { func: 'sys_getpid', fexit: true, progs: () => void runs++ }, runs: () => runs };
}

describe("the BPF trampoline's ops_func (bpf_tramp_ftrace_ops_func): its call of the function honours the live patch", () => {
  test('linked first: PEER rebuilds it with ORIG_STACK, its orig call runs the new body; DISABLE rebuilds it without, and both old images are put after RCU-tasks', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const { spec: tr, runs } = fexit();
    expect(k.call(api.bpfTrampolineLink(tr))).toBe(0);
    getpid(k);
    const klp = livePatch();
    expect(k.call(api.registerFtraceFunction(klp))).toBe(0);
    getpid(k);
    expect(k.call(api.unregisterFtraceFunction(klp))).toBe(0);
    getpid(k);
    expectClean(k, k.run());
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.flags)).toEqual([['CALL_ORIG'], ['CALL_ORIG', 'ORIG_STACK', 'SHARE_IPMODIFY'], ['CALL_ORIG']]);
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([
      ['enable-share-ipmodify-peer', 0],
      ['disable-share-ipmodify-peer', 0],
    ]);
    expect(bodies(k)).toEqual(['orig-call:sys_getpid', 'orig-call:klp_sys_getpid', 'orig-call:sys_getpid']);
    expect(runs()).toBe(3);
    const [first, second] = eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.tramp);
    expect(eventsOf(k, 'ftrace/tramp-retired', (e) => e.tramp === first || e.tramp === second).map((e) => [e.tramp, e.wait])).toEqual([
      [first, 'rcu-tasks'],
      [second, 'rcu-tasks'],
    ]);
    expect(eventsOf(k, 'ftrace/tramp-freed', (e) => e.tramp === first || e.tramp === second).map((e) => e.tramp)).toEqual([first, second]);
    expect(k.call(api.bpfTrampolineUnlink(tr))).toBe(0);
    expect(k.call(api.bpfTrampolineUnlink(tr))).toBe(-EINVAL);
    expectClean(k, k.run());
  });

  test('linked after the live patch: SELF answers -EAGAIN, the update builds the image again with ORIG_STACK and registers it', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    expect(k.call(api.bpfTrampolineLink(fexit().spec))).toBe(0);
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([
      ['enable-share-ipmodify-self', -EAGAIN],
      ['enable-share-ipmodify-self', 0],
    ]);
    expect(eventsOf(k, 'ftrace/direct-functions').map((e) => e.op)).toEqual(['add', 'remove', 'add']);
    // The first image was never attached: freed at once.
    expect(eventsOf(k, 'ftrace/tramp-retired')).toMatchObject([{ wait: 'none' }]);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.flags)).toEqual([['CALL_ORIG', 'ORIG_STACK', 'SHARE_IPMODIFY']]);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['orig-call:klp_sys_getpid']);
  });

  test('an fentry-only trampoline does not call the function: SELF answers 0 with no rebuild, and it returns into the saved ip', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    expect(k.call(api.bpfTrampolineLink({ func: 'sys_getpid', progs: () => undefined }))).toBe(0);
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([['enable-share-ipmodify-self', 0]]);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.flags)).toEqual([[]]);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['return:klp_sys_getpid']);
  });

  /** A live patch, then an fentry program, then an fexit one (which modify_ftrace_direct attaches). */
  function fentryThenFexit(): { k: Kernel; entry: BpfTrampolineSpec; exit: BpfTrampolineSpec } {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    const entry: BpfTrampolineSpec = { func: 'sys_getpid', progs: () => undefined };
    const exit = fexit().spec;
    expect(k.call(api.bpfTrampolineLink(entry))).toBe(0);
    expect(k.call(api.bpfTrampolineLink(exit))).toBe(0);
    return { k, entry, exit };
  }

  test('an fexit program joins an fentry one after the live patch: modify_ftrace_direct asks SELF again, and the update rebuilds with ORIG_STACK', () => {
    const { k, entry } = fentryThenFexit();
    const api = k.api.ftrace;
    // Register (fentry only): 0. Modify to a CALL_ORIG image: -EAGAIN, nothing moved; the retry with ORIG_STACK: 0.
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([
      ['enable-share-ipmodify-self', 0],
      ['enable-share-ipmodify-self', -EAGAIN],
      ['enable-share-ipmodify-self', 0],
    ]);
    expect(eventsOf(k, 'ftrace/direct-functions').map((e) => e.op)).toEqual(['add', 'modify']);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.flags)).toEqual([[], ['CALL_ORIG', 'ORIG_STACK', 'SHARE_IPMODIFY']]);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['orig-call:klp_sys_getpid']);
    // The fentry program leaves: the fexit one still makes the image call the function, and the
    // rebuilt image keeps ORIG_STACK (SHARE_IPMODIFY is still set), so its call still runs the patch.
    expect(k.call(api.bpfTrampolineUnlink(entry))).toBe(0);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').at(-1)!.flags).toEqual(['CALL_ORIG', 'ORIG_STACK', 'SHARE_IPMODIFY']);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['orig-call:klp_sys_getpid', 'orig-call:klp_sys_getpid']);
  });

  test('then the fexit program leaves: an fentry-only image (SHARE_IPMODIFY kept, no CALL_ORIG) that returns into the patch', () => {
    const { k, exit } = fentryThenFexit();
    const api = k.api.ftrace;
    getpid(k);
    expect(k.call(api.bpfTrampolineUnlink(exit))).toBe(0);
    // The modify asks SELF once more; an image that does not call the function answers 0.
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([
      ['enable-share-ipmodify-self', 0],
      ['enable-share-ipmodify-self', -EAGAIN],
      ['enable-share-ipmodify-self', 0],
      ['enable-share-ipmodify-self', 0],
    ]);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').map((e) => e.flags)).toEqual([[], ['CALL_ORIG', 'ORIG_STACK', 'SHARE_IPMODIFY'], ['SHARE_IPMODIFY']]);
    expect(eventsOf(k, 'ftrace/direct-functions').map((e) => e.op)).toEqual(['add', 'modify', 'modify']);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['orig-call:klp_sys_getpid', 'return:klp_sys_getpid']);
  });

  test("'register-only' (6.0 to 6.17 with the reset_direct fix backported): the same sequence moves to an image that calls the original body, and the patch is bypassed", () => {
    const k = kernelWith(ftraceStack({ ipmodifyShare: 'register-only' }));
    const api = k.api.ftrace;
    expect(k.call(api.registerFtraceFunction(livePatch()))).toBe(0);
    expect(k.call(api.bpfTrampolineLink({ func: 'sys_getpid', progs: () => undefined }))).toBe(0);
    expect(k.call(api.bpfTrampolineLink(fexit().spec))).toBe(0);
    expect(eventsOf(k, 'ftrace/ops-func').map((e) => [e.cmd, e.ret])).toEqual([['enable-share-ipmodify-self', 0]]);
    expect(eventsOf(k, 'ftrace/bpf-tramp-update').at(-1)!.flags).toEqual(['CALL_ORIG']);
    getpid(k);
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.ipmodifyBypassed });
    expect(bodies(k)).toEqual(['orig-call:sys_getpid']);
  });

  test('host misuse throws INVALID_OPTION; linking twice is -EBUSY', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    expect(() => api.bpfTrampolineLink({ func: 'sys getpid', progs: () => undefined })).toThrow(TracelabError);
    expect(() => api.bpfTrampolineLink({ func: 'sys_getpid', progs: () => undefined, fexit: 1 } as unknown as BpfTrampolineSpec)).toThrow(
      /tr.fexit must be a boolean/,
    );
    expect(() => api.registerFtraceDirect({ filter: ['sys_getpid'], opsFunc: 3 } as unknown as FtraceDirectOps, image('x'))).toThrow(
      /ops.opsFunc must be a function/,
    );
    expect(() => api.registerFtraceDirect({ filter: ['sys_getpid'] }, { func: () => undefined, callOrig: 'yes' } as unknown as FtraceDirectTrampoline)).toThrow(
      /callOrig must be a boolean/,
    );
    // ORIG_STACK says how the trampoline calls the function: without callOrig there is no call.
    for (const tramp of [
      { func: () => undefined, origStack: true },
      { func: () => undefined, callOrig: false, origStack: true },
    ]) {
      let err: unknown;
      try {
        api.registerFtraceDirect({ filter: ['sys_getpid'] }, tramp);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/origStack needs callOrig: true/) });
    }
    expect(k.call(api.registerFtraceDirect({ filter: ['sys_getpid'] }, { func: () => undefined, callOrig: true, origStack: true }))).toBe(0);
    const { spec: tr } = fexit();
    const k2 = kernelWith(ftraceStack());
    expect(k2.call(k2.api.ftrace.bpfTrampolineLink(tr))).toBe(0);
    expect(k2.call(k2.api.ftrace.bpfTrampolineLink(tr))).toBe(-EBUSY);
    expectClean(k2, k2.run());
    expectClean(k, k.run());
  });
});

/**
 * Workers call sys_getpid while an admin thread applies a live patch and links an fexit program
 * on it, in `order`: `'bpf-first'`, `'klp-first'`, or `'fentry-then-fexit'` (the live patch, then
 * an fentry program, then an fexit one, which modify_ftrace_direct attaches). All stay on. One
 * thread keeps the order fixed; the workers' calls interleave with every step.
 */
type Order = 'bpf-first' | 'klp-first' | 'fentry-then-fexit';
function sharedRace(seed: number, options: FtraceOptions = {}, order: Order = 'bpf-first', strategy?: Strategy): Kernel {
  const k = kernelWith({ plugins: ftraceStack(options), seed, strategy });
  for (let i = 0; i < 3; i++) k.spawn(worker(24), { comm: `w${i}` });
  const api = k.api.ftrace;
  const steps: Array<() => KPath<number>> =
    order === 'bpf-first'
      ? [() => api.bpfTrampolineLink(fexit().spec), () => api.registerFtraceFunction(livePatch())]
      : [
          () => api.registerFtraceFunction(livePatch()),
          ...(order === 'fentry-then-fexit' ? [() => api.bpfTrampolineLink({ func: 'sys_getpid', progs: () => undefined })] : []),
          () => api.bpfTrampolineLink(fexit().spec),
        ];
  k.spawnKthread(
    (function* admin(): KPath<number> {
      for (const step of steps) {
        yield* msleep(2);
        const r = yield* step();
        if (r !== 0) return r;
      }
      return 0;
    })(),
    { comm: 'admin' },
  );
  return k;
}

describe("unsafe ipmodifyShare values: 'skip' (nobody asks the direct ops) and 'register-only' (modify_ftrace_direct does not)", () => {
  const N = 12;
  const ORDERS: Order[] = ['bpf-first', 'klp-first', 'fentry-then-fexit'];
  test.each(ORDERS)(`the default is clean over ${N} seeds, every redirected call running the live patch's body (%s)`, (order) => {
    expect(failingRuns(N, (seed) => sharedRace(seed, {}, order)).map((f) => f.result.violations[0])).toEqual([]);
    const k = sharedRace(1, {}, order);
    k.run({ maxSteps: 200_000 });
    const calls = eventsOf(k, 'ftrace/call-body', (e) => e.redirect !== null);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((e) => e.body === 'klp_sys_getpid')).toBe(true);
  });

  const unsafe: Array<['skip' | 'register-only', Order]> = [
    ['skip', 'bpf-first'],
    ['skip', 'klp-first'],
    ['skip', 'fentry-then-fexit'],
    ['register-only', 'fentry-then-fexit'],
  ];
  test.each(unsafe)("'%s' (%s): the fexit trampoline's orig call runs the original body, and ftrace/ipmodify-bypassed names it", (ipmodifyShare, order) => {
    const found = failingRuns(N, (seed) => sharedRace(seed, { ipmodifyShare }, order));
    // Every seed: once both are on, every call of sys_getpid bypasses the patch.
    expect(found).toHaveLength(N);
    for (const f of found) {
      const v = f.result.violations[0]!;
      expect(v.name).toBe(FTRACE_INVARIANTS.ipmodifyBypassed);
      expect(v.message).toMatch(
        /^pid \d+'s call of sys_getpid ran its original body, though an IPMODIFY callback redirected it to klp_sys_getpid: direct trampoline #\d+ called the function through orig_call/,
      );
    }
    expectReplayIdentity(found[0]!.kernel, ({ seed, strategy }) => sharedRace(seed, { ipmodifyShare }, order, strategy));
  });

  test("'register-only' still asks on register: in the other two orders it is clean", () => {
    for (const order of ['bpf-first', 'klp-first'] as const) {
      expect(failingRuns(N, (seed) => sharedRace(seed, { ipmodifyShare: 'register-only' }, order)).map((f) => f.result.violations[0])).toEqual([]);
    }
  });
});

describe('__ftrace_hash_update_ipmodify on register and on a filter change: an IPMODIFY ops names its functions, one IPMODIFY ops per function', () => {
  /** A live patch that redirects each function it traces to `klp_<name>`, on `filter`. */
  function patchOf(filter: string[], label = 'klp'): FtraceOps {
    return { func: (ip, _parent, _ops, regs) => regs?.setIp(`klp_${ip}`), filter, flags: ['IPMODIFY', 'SAVE_REGS', 'DYNAMIC'], label };
  }
  const printks = (k: Kernel): string[] => eventsOf(k, 'kernel/printk').map((e) => e.text);

  test.each([{}, { ipmodifyShare: 'skip' as const }])(
    'an empty filter (every function) is -EINVAL on register, before any ops_func is asked, with or without a notrace list (%o)',
    (options) => {
      const k = kernelWith(ftraceStack(options));
      const api = k.api.ftrace;
      const { d, told } = directOps(0);
      expect(k.call(api.registerFtraceDirect(d, image('one')))).toBe(0);
      const all = patchOf([]);
      expect(k.call(api.registerFtraceFunction(all))).toBe(-EINVAL);
      expect(k.call(api.registerFtraceFunction({ ...patchOf([]), notrace: ['sys_getppid'] }))).toBe(-EINVAL);
      expect(printks(k).filter((m) => /IPMODIFY ops with an empty filter would modify every function: -EINVAL/.test(m))).toHaveLength(2);
      expect(told).toEqual([]);
      expect(eventsOf(k, 'ftrace/ops-registered', (e) => e.label.startsWith('klp#'))).toEqual([]);
      getpid(k);
      expectClean(k, k.run());
      expect(eventsOf(k, 'ftrace/ip-modified')).toEqual([]);
      // The same ops with a filter registers.
      expect(k.call(api.ftraceSetFilter(all, ['sys_getpid']))).toBe(0);
      expect(k.call(api.registerFtraceFunction(all))).toBe(0);
    },
  );

  test('a registered live patch may not widen to every function (-EINVAL) nor onto a function another IPMODIFY ops modifies (-EBUSY); nothing changes, and it keeps patching', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const klp = patchOf(['sys_getpid']);
    const kprobe = patchOf(['sys_getppid'], 'kprobe');
    expect(k.call(api.registerFtraceFunction(klp))).toBe(0);
    expect(k.call(api.registerFtraceFunction(kprobe))).toBe(0);
    expect(k.call(api.ftraceSetFilter(klp, []))).toBe(-EINVAL);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid', 'sys_getppid']))).toBe(-EBUSY);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getp*']))).toBe(-EBUSY);
    expect(printks(k).filter((m) => /sys_getppid is already modified by IPMODIFY ops kprobe#\d+: -EBUSY/.test(m))).toHaveLength(2);
    expect(eventsOf(k, 'ftrace/filter-set')).toEqual([]);
    expect(k.api.ftrace.record('sys_getpid')?.refcount).toBe(1);
    expect(k.api.ftrace.record('sys_getppid')?.refcount).toBe(1);
    getpid(k);
    expectClean(k, k.run());
    expect(bodies(k)).toEqual(['return:klp_sys_getpid']);
    // A function no other IPMODIFY ops modifies is fine; once the kprobe left, so is sys_getppid.
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid', 'sys_gettid']))).toBe(0);
    expect(k.call(api.unregisterFtraceFunction(kprobe))).toBe(0);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid', 'sys_getppid']))).toBe(0);
    // And the filter it took is now its own: a second IPMODIFY ops there is refused.
    expect(k.call(api.registerFtraceFunction(patchOf(['sys_getppid'], 'late')))).toBe(-EBUSY);
    expectClean(k, k.run());
  });

  test('an IPMODIFY ops takes no notrace set (-EINVAL), registered or not; a plain ops does', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const klp = patchOf(['sys_getpid']);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid'], ['sys_getppid']))).toBe(-EINVAL);
    expect(k.call(api.registerFtraceFunction(klp))).toBe(0);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid'], ['sys_getppid']))).toBe(-EINVAL);
    expect(printks(k).filter((m) => /an IPMODIFY ops takes no notrace hash: -EINVAL/.test(m))).toHaveLength(2);
    const plain: FtraceOps = { func: () => undefined, filter: ['sys_getpid'], label: 'plain' };
    expect(k.call(api.ftraceSetFilter(plain, ['sys_getpid'], ['sys_getppid']))).toBe(0);
    expectClean(k, k.run());
  });

  test('as upstream, a direct ops on a function a live patch newly traces is told nothing: a filter change onto an fexit trampoline bypasses the patch there', () => {
    const k = kernelWith(ftraceStack());
    const api = k.api.ftrace;
    const klp = patchOf(['sys_getpid']);
    expect(k.call(api.registerFtraceFunction(klp))).toBe(0);
    expect(k.call(api.bpfTrampolineLink({ func: 'sys_getppid', fexit: true, progs: () => undefined }))).toBe(0);
    expect(k.call(api.ftraceSetFilter(klp, ['sys_getpid', 'sys_getppid']))).toBe(0);
    // register_ftrace_function asks through prepare_direct_functions_for_ipmodify; ftrace_set_filter does not.
    expect(eventsOf(k, 'ftrace/ops-func')).toEqual([]);
    k.spawn(function* one(u) {
      yield u.syscall('getppid');
    });
    k.run();
    expect(k.violations[0]).toMatchObject({ name: FTRACE_INVARIANTS.ipmodifyBypassed });
    expect(bodies(k)).toEqual(['orig-call:sys_getppid']);
  });
});
