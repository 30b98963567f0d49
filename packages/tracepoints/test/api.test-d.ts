import { expectTypeOf, test } from 'vitest';
import { createKernel, type KPath } from '@tracelab/core';
import { tracepoints, type TracepointsApi, type TracepointsState } from '@tracelab/tracepoints';

test('the API and the slice are typed through the core maps', () => {
  const k = createKernel({ plugins: [tracepoints()] });
  expectTypeOf(k.api.tracepoints).toEqualTypeOf<TracepointsApi>();
  expectTypeOf(k.api.tracepoints.probeRegister('tp', () => undefined, 1)).toEqualTypeOf<KPath<number>>();
  expectTypeOf(k.api.tracepoints.trace('tp', 1, 'x')).toEqualTypeOf<KPath<void>>();
  expectTypeOf(k.state.plugins.tracepoints).toEqualTypeOf<TracepointsState | undefined>();
});
