import { expectTypeOf, test } from 'vitest';
import { createKernel, type KernelEvent, type KPath } from '@tracelab/core';
import { ktrace, type KtraceState } from '@tracelab/ktrace';

test('kernel.api.ktrace, the slice and the events are typed through declaration merging', () => {
  const k = createKernel({ plugins: [ktrace()] });
  expectTypeOf(k.api.ktrace.setKernelTraceFlagAllTasks()).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ktrace.clearKernelTraceFlagAllTasks()).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.ktrace.isTraced).toEqualTypeOf<(pid: number) => boolean>();
  expectTypeOf(k.state.plugins.ktrace).toEqualTypeOf<Readonly<KtraceState> | undefined>();
  expectTypeOf<KernelEvent<'ktrace/syscall-entry'>['name']>().toEqualTypeOf<string>();
  expectTypeOf<KernelEvent<'ktrace/walk-end'>['visited']>().toEqualTypeOf<number>();
  // @ts-expect-error walk is 'tasklist' or 'rcu'
  ktrace({ walk: 'list' });
});
