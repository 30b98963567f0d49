import { expectTypeOf, test } from 'vitest';
import { createKernel, type KernelEvent, type KPath } from '@tracelab/core';
import { rcuTasks, type RcuTasksState, type RcuTasksSummary, summarizeRcuTasks } from '@tracelab/rcu-tasks';
import { cb } from './helpers.js';

test("kernel.api['rcu-tasks'], the slice and the events are typed through declaration merging", () => {
  const k = createKernel({ plugins: [rcuTasks()] });
  const api = k.api['rcu-tasks'];
  expectTypeOf(api.callRcuTasks(cb(), 'x')).toEqualTypeOf<KPath<number>>();
  expectTypeOf(api.synchronizeRcuTasks()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(api.rcuBarrierTasks()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(api.rcuReadLockTrace()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(api.rcuReadUnlockTrace()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(api.callRcuTasksTrace(cb())).toEqualTypeOf<KPath<number>>();
  expectTypeOf(api.synchronizeRcuTasksTrace()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(api.rcuBarrierTasksTrace()).toEqualTypeOf<KPath<void>>();
  expectTypeOf(k.state.plugins['rcu-tasks']).toEqualTypeOf<Readonly<RcuTasksState> | undefined>();
  expectTypeOf<KernelEvent<'rcu-tasks/gp-end'>['gp']>().toEqualTypeOf<number>();
  expectTypeOf(summarizeRcuTasks(k.log)).toEqualTypeOf<RcuTasksSummary>();
  // @ts-expect-error flavours are 'tasks' and 'trace'
  api.completed('rude');
  // @ts-expect-error hz is a number
  rcuTasks({ hz: '10' });
});
