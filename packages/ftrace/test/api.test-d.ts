import { expectTypeOf, test } from 'vitest';
import { createKernel, type KernelEvent, type KPath } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftrace, type FtraceDirectOps, type FtraceDirectTrampoline, type FtraceOps, type FtraceSite, type FtraceState } from '@tracelab/ftrace';

test('kernel.api.ftrace, the slice and the events are typed through declaration merging', () => {
  const k = createKernel({ plugins: [rcuTasks(), ftrace()] });
  const ops: FtraceOps = { func: (ip, parentIp) => void [ip, parentIp], filter: ['sys_read'], flags: ['DYNAMIC'] };
  expectTypeOf(k.api.ftrace.registerFtraceFunction(ops)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.unregisterFtraceFunction(ops)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.site('sys_read')).toEqualTypeOf<FtraceSite | undefined>();
  expectTypeOf(k.state.plugins.ftrace).toEqualTypeOf<Readonly<FtraceState> | undefined>();
  expectTypeOf<KernelEvent<'ftrace/tramp-freed'>['tramp']>().toEqualTypeOf<number>();
  // @ts-expect-error freeTrampolineAfter is 'rcu-tasks' or 'rcu-sched'
  ftrace({ freeTrampolineAfter: 'rcu' });
  // @ts-expect-error a direct ops' caller sets only DYNAMIC: register_ftrace_direct sets the rest
  const bad: FtraceDirectOps = { filter: ['sys_read'], flags: ['SAVE_REGS'] };
  void bad;
});

test('direct calls are typed', () => {
  const k = createKernel({ plugins: [rcuTasks(), ftrace({ directImagePut: 'immediate' })] });
  const dops: FtraceDirectOps = { filter: ['sys_read'], flags: ['DYNAMIC'] };
  const image: FtraceDirectTrampoline = { func: (ip, parentIp) => void [ip, parentIp], label: 'bpf' };
  expectTypeOf(k.api.ftrace.registerFtraceDirect(dops, image)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.modifyFtraceDirect(dops, image)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.unregisterFtraceDirect(dops)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.bpfTrampImagePut(image)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ftrace.opsId(dops)).toEqualTypeOf<number | undefined>();
  expectTypeOf<KernelEvent<'ftrace/direct-functions'>['tramp']>().toEqualTypeOf<number | null>();
  // @ts-expect-error a direct ops has no func: ftrace sets call_direct_funcs
  const withFunc: FtraceDirectOps = { filter: ['sys_read'], func: Math.abs };
  // @ts-expect-error callers cannot set DIRECT: register_ftrace_direct does
  const direct: FtraceOps = { func: () => undefined, flags: ['DIRECT'] };
  // @ts-expect-error directImagePut is 'rcu-tasks' or 'immediate'
  ftrace({ directImagePut: 'never' });
  void [withFunc, direct];
});
