import { expectTypeOf, test } from 'vitest';
import type { Kernel, KernelEvent, RunResult, Violation } from '@tracelab/core';
import { eventsOf, findUnsafe, kernelWith, overSeeds, type KernelSetup } from '@tracelab/testing';

declare const k: Kernel;

test('eventsOf is typed by the event type, and so is its predicate', () => {
  expectTypeOf(eventsOf(k, 'task/exit')).toEqualTypeOf<Array<KernelEvent<'task/exit'>>>();
  eventsOf(k, 'task/exit', (e) => {
    expectTypeOf(e.code).toEqualTypeOf<number>();
    return true;
  });
  // @ts-expect-error: not an event type
  eventsOf(k, 'task/exited');
});

test('kernelWith takes undefined for any option but plugins', () => {
  const seed: number | undefined = undefined;
  expectTypeOf(kernelWith({ plugins: [], seed, strategy: undefined })).toEqualTypeOf<Kernel>();
  // @ts-expect-error: plugins is required
  const setup: KernelSetup = { seed: 1 };
  void setup;
});

test('findUnsafe gives the seed, the violation and the run; overSeeds checks get the run and the seed', () => {
  const found = findUnsafe(10, () => k, 'x');
  expectTypeOf(found.seed).toEqualTypeOf<number>();
  expectTypeOf(found.violation).toEqualTypeOf<Violation>();
  expectTypeOf(found.result).toEqualTypeOf<RunResult>();
  overSeeds(
    3,
    () => k,
    (kernel, result, seed) => {
      expectTypeOf(kernel).toEqualTypeOf<Kernel>();
      expectTypeOf(result).toEqualTypeOf<RunResult>();
      expectTypeOf(seed).toEqualTypeOf<number>();
    },
  );
});
