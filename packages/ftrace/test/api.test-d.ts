import { expectTypeOf, test } from 'vitest';
import { createKernel, type KernelEvent, type KPath } from '@tracelab/core';
import { rcuTasks } from '@tracelab/rcu-tasks';
import { ftrace, type FtraceOps, type FtraceSite, type FtraceState } from '@tracelab/ftrace';

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
  // @ts-expect-error only DYNAMIC is a flag callers set
  const bad: FtraceOps = { func: Math.abs, flags: ['SAVE_REGS'] };
  void bad;
});
