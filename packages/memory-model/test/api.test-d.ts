import { describe, expectTypeOf, it } from 'vitest';
import { createKernel, type KernelEvent, type KPath, type TracelabErrorCode } from '@tracelab/core';
import { memoryModel, runLitmus, type LitmusOutcome, type MemValue, type MemoryModelApi } from '@tracelab/memory-model';

describe('memory-model types', () => {
  it("kernel.api['memory-model'] is the plugin API, its paths kernel paths", () => {
    const k = createKernel({ plugins: [memoryModel()] });
    expectTypeOf(k.api['memory-model']).toEqualTypeOf<MemoryModelApi>();
    expectTypeOf(k.api['memory-model'].readOnce('x')).toEqualTypeOf<KPath<MemValue>>();
    expectTypeOf(k.api['memory-model'].atomicAddReturn('x', 1)).toEqualTypeOf<KPath<number>>();
    // @ts-expect-error: an unknown ordering
    k.api['memory-model'].xchg('x', 1, 'seq_cst');
  });

  it('its events and error code join the core maps', () => {
    const e = {} as KernelEvent;
    if (e.type === 'memory-model/load') expectTypeOf(e.newest).toEqualTypeOf<number>();
    expectTypeOf<'LITMUS_PARSE'>().toMatchTypeOf<TracelabErrorCode>();
    expectTypeOf(runLitmus).returns.toEqualTypeOf<LitmusOutcome>();
  });
});
