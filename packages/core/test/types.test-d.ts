import { describe, expectTypeOf, it } from 'vitest';
import {
  createKernel,
  definePlugin,
  emit,
  type EventInput,
  type KernelEvent,
  type KernelState,
  type KPath,
  type PluginContext,
  type TaskState,
} from '@tracelab/core';

// A plugin's declaration merging, as a plugin package writes it in its events.ts.
declare module '@tracelab/core' {
  interface EventMap {
    'typed/hit': { pid: number; what: string };
  }
  interface PluginStates {
    typed: { hits: number };
  }
  interface PluginApis {
    typed: { hits(): number; fire(pid: number): KPath<void> };
  }
}

describe('event types', () => {
  it('narrow a KernelEvent by its type, with the header fields read-only', () => {
    const e = {} as KernelEvent;
    if (e.type === 'sched/switch') {
      expectTypeOf(e.prev).toEqualTypeOf<number>();
      expectTypeOf(e.preempted).toEqualTypeOf<boolean>();
    }
    expectTypeOf<KernelEvent<'typed/hit'>>().toHaveProperty('what').toEqualTypeOf<string>();
    expectTypeOf<KernelEvent<'typed/hit'>>().toHaveProperty('seq').toEqualTypeOf<number>();
  });

  it('reject a payload that does not match its type, and unknown types', () => {
    expectTypeOf<{ type: 'typed/hit'; pid: 1; what: 'x' }>().toMatchTypeOf<EventInput>();
    // @ts-expect-error what is a string
    const bad: EventInput = { type: 'typed/hit', pid: 1, what: 2 };
    // @ts-expect-error no such event type
    const unknown: EventInput = { type: 'typed/miss', pid: 1 };
    void bad;
    void unknown;
    expectTypeOf(emit({ type: 'typed/hit', pid: 1, what: 'x' })).toEqualTypeOf<KPath<KernelEvent<'typed/hit'>>>();
  });
});

describe('plugin types', () => {
  it('type the slice draft, the reducer event and the API through declaration merging', () => {
    const typed = definePlugin<{ hits(): number; fire(pid: number): KPath<void> }, { hits: number }>({
      name: 'typed',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        expectTypeOf(ctx).toEqualTypeOf<PluginContext<{ hits: number }>>();
        ctx.initSlice({ hits: 0 });
        ctx.on('typed/hit', (slice, event, state) => {
          expectTypeOf(slice.hits).toEqualTypeOf<number>();
          expectTypeOf(event.what).toEqualTypeOf<string>();
          expectTypeOf(state).toEqualTypeOf<KernelState>();
          slice.hits += 1;
        });
        ctx.onPlain('sched/switch', (slice, event, state) => {
          expectTypeOf(slice).toEqualTypeOf<{ hits: number }>();
          expectTypeOf(event.next).toEqualTypeOf<number>();
          expectTypeOf(state).toEqualTypeOf<KernelState>();
          return slice.hits > 0 ? { hits: slice.hits } : slice;
        });
        expectTypeOf(ctx.onPlain).parameter(1).returns.toEqualTypeOf<{ hits: number }>();
        return {
          hits: () => ctx.slice().hits,
          *fire(pid) {
            yield* emit({ type: 'typed/hit', pid, what: 'fire' });
          },
        };
      },
    });
    const kernel = createKernel({ plugins: [typed] });
    expectTypeOf(kernel.api.typed.hits).returns.toEqualTypeOf<number>();
    expectTypeOf(kernel.state.plugins.typed).toEqualTypeOf<{ hits: number } | undefined>();
  });

  it('keep the state read-only', () => {
    const t = {} as TaskState;
    // @ts-expect-error state is immutable
    t.pid = 3;
    const s = {} as KernelState;
    // @ts-expect-error state is immutable
    s.clock.now = 3;
  });
});
