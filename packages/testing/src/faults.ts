import { TracelabError, emit, type EventInput, type EventType, type Kernel, type KPath, type Strategy } from '@tracelab/core';

/**
 * A strategy for a kernel created with `faultInjection: true` that fails exactly the
 * allocations whose 1-based index (counted over the run's `fault` choices) is in `which`, and
 * answers 0 to every other choice: `kernelWith({ plugins, faultInjection: true, strategy:
 * failAllocs(2) })` fails the run's second allocation (an -ENOMEM path) and nothing else.
 */
export function failAllocs(...which: number[]): Strategy {
  for (const n of which) {
    if (!Number.isInteger(n) || n < 1)
      throw new TracelabError('INVALID_OPTION', `failAllocs: ${String(n)} is not an allocation index (integers from 1)`, { which });
  }
  return {
    name: 'fail-allocs',
    create: () => {
      // Guarded by the run: one strategy instance per kernel run, called from its step loop only.
      let n = 0;
      return { choose: (kind) => (kind === 'fault' ? (which.includes(++n) ? 1 : 0) : 0) };
    },
  };
}

/**
 * Emits one event as a kernel path would (`kernel.call`), to show that an invariant fires on
 * a state no correct plugin reaches: a forged, inconsistent event. The violation this causes
 * is kept in `kernel.violations` (the INVARIANT_VIOLATED error `call` throws for it is
 * swallowed); any other error, such as an event type nobody declared, is thrown.
 */
export function forgeEvent<T extends EventType>(kernel: Kernel, event: EventInput<T>): void {
  try {
    kernel.call(
      (function* (): KPath<void> {
        yield* emit(event);
      })(),
    );
  } catch (err) {
    if (!(err instanceof TracelabError && err.code === 'INVARIANT_VIOLATED')) throw err;
  }
}
