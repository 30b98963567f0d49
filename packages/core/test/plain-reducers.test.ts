import { describe, expect, it } from 'vitest';
import { createKernel, definePlugin, emit, replay, type KernelState, type PluginStack, type TracelabPlugin } from '@tracelab/core';
import { shell } from './helpers.js';

// Plain reducers (`ctx.onPlain(type, reducer)`): the frozen slice in, the new slice
// out, frozen by the core; docs/core.md §2, "Plain reducers".

declare module '@tracelab/core' {
  interface EventMap {
    'seen/forked': { child: number };
  }
}

interface Seen {
  readonly forks: number;
  readonly byChild: Readonly<Record<string, { readonly child: number; readonly n: number }>>;
  readonly order: readonly number[];
  /** Never written: keeps its identity through every fold. */
  readonly quiet: { readonly hits: number };
}

const QUIET = Object.freeze({ hits: 0 });

function deepFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (!Object.isFrozen(v)) return false;
  return Object.values(v).every(deepFrozen);
}

/**
 * The same slice folded two ways: `draft` writes an immer draft, `plain` builds new objects.
 * Each fork emits `seen/forked` twice in one step (no snapshot between them), so the second fold
 * gets what the first returned as the core left it. `inputs` records whether each plain
 * reducer's input was deeply frozen (test-only; reducers are otherwise pure).
 */
function seenPlugin(mode: 'draft' | 'plain', inputs: boolean[] = []): TracelabPlugin<unknown, Seen> {
  return definePlugin<unknown, Seen>({
    name: 'seen',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ forks: 0, byChild: {}, order: [], quiet: QUIET });
      if (mode === 'draft') {
        ctx.on('seen/forked', (s, e) => {
          s.forks += 1;
          const prev = s.byChild[String(e.child)];
          if (prev === undefined) s.byChild[String(e.child)] = { child: e.child, n: 1 };
          else prev.n += 1;
          s.order.push(e.child);
        });
        ctx.on('sched/switch', () => undefined);
      } else {
        ctx.onPlain('seen/forked', (s, e) => {
          inputs.push(deepFrozen(s));
          const prev = s.byChild[String(e.child)];
          const entry = prev === undefined ? { child: e.child, n: 1 } : { ...prev, n: prev.n + 1 };
          return { ...s, forks: s.forks + 1, byChild: { ...s.byChild, [String(e.child)]: entry }, order: [...s.order, e.child] };
        });
        ctx.onPlain('sched/switch', (s) => s);
      }
      ctx.tap(
        'fork',
        function* ({ child }) {
          yield* emit({ type: 'seen/forked', child });
          yield* emit({ type: 'seen/forked', child });
        },
        { stage: 'link' },
      );
    },
  });
}

const run = (plugins: PluginStack, seed = 3) => {
  const k = createKernel({ cpus: 2, seed, plugins });
  k.spawn(shell);
  const res = k.run();
  expect(res.done).toBe(true);
  return k;
};

const slice = (s: KernelState, name = 'seen'): Seen => (s.plugins as Record<string, unknown>)[name] as Seen;

describe('plain reducers', () => {
  it('fold to the slice the same reducer written for immer gives, with the same log', () => {
    const drafted = run([seenPlugin('draft')]);
    const plain = run([seenPlugin('plain')]);
    expect(plain.logHash()).toBe(drafted.logHash());
    expect(slice(plain.state)).toEqual(slice(drafted.state));
    expect(slice(plain.state).forks).toBeGreaterThanOrEqual(8);
    expect(Object.values(slice(plain.state).byChild).every((c) => c.n === 2)).toBe(true);
  });

  it('freeze what the reducer returns, deeply, before the next fold sees it', () => {
    const inputs: boolean[] = [];
    const k = run([seenPlugin('plain', inputs)]);
    // The second event of each pair is folded in the same step as the first: only the core's
    // freeze of the first result makes that input frozen (a snapshot would come later).
    expect(inputs.length).toBe(slice(k.state).forks);
    expect(inputs.every((f) => f)).toBe(true);
  });

  it('keep the identity of a slice returned unchanged, and of the parts a new slice keeps', () => {
    const initial = Object.freeze({ calls: 0, part: Object.freeze({ x: 1 }) });
    const still = definePlugin<unknown, typeof initial>({
      name: 'still',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice(initial);
        ctx.onPlain('sched/switch', (s) => s);
      },
    });
    const k = run([still, seenPlugin('plain')]);
    expect(k.log.some((e) => e.type === 'sched/switch')).toBe(true);
    expect(slice(k.state, 'still')).toBe(initial);
    expect(slice(k.state).quiet).toBe(QUIET);
  });

  it('a reducer writing its frozen input fails like a throwing reducer: oops, named, the event applied without it', () => {
    let spawnedSeen = 0;
    const tally = definePlugin<unknown, { spawned: number }>({
      name: 'tally',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({ spawned: 0 });
        ctx.onPlain('task/spawned', (s) => ({ spawned: s.spawned + 1 }));
      },
    });
    const brittle = definePlugin<unknown, { n: number }>({
      name: 'brittle',
      version: '1.0.0',
      core: '^0.1.0',
      dependsOn: { tally: '^1.0.0' },
      register(ctx) {
        ctx.initSlice({ n: 0 });
        ctx.onPlain('task/spawned', (s) => {
          spawnedSeen++;
          (s as { n: number }).n = 1;
          return s;
        });
      },
    });
    const k = run([tally, brittle]);
    const i = k.log.findIndex((e) => e.type === 'kernel/oops');
    expect(k.log[i]).toMatchObject({ plugin: 'brittle', where: 'reducer for task/spawned', message: expect.stringMatching(/read[- ]only|Cannot assign/) });
    expect(k.log[i + 1]!.type).toBe('task/spawned');
    expect(spawnedSeen).toBe(1);
    // The slice is as before the event, and the event's other fold (tally's, undone with it
    // and applied again without brittle) counted once per logged task/spawned.
    expect(slice(k.state, 'brittle')).toEqual({ n: 0 });
    expect((slice(k.state, 'tally') as unknown as { spawned: number }).spawned).toBe(k.log.filter((e) => e.type === 'task/spawned').length);
    expect(k.state.kernel.disabledPlugins['brittle']).toMatch(/read[- ]only|Cannot assign/);
    expect(replay(k.log, { plugins: [tally, brittle] }).state).toEqual(k.state);
  });

  it('a reducer returning undefined fails the event with PLUGIN_INVALID naming plugin and type', () => {
    const slip = definePlugin<unknown, { n: number }>({
      name: 'slip',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({ n: 0 });
        ctx.onPlain('task/spawned', (() => undefined) as never);
      },
    });
    const k = run([slip]);
    const oops = k.log.find((e) => e.type === 'kernel/oops');
    expect(oops).toMatchObject({ plugin: 'slip', where: 'reducer for task/spawned' });
    expect((oops as unknown as { message: string }).message).toMatch(/plain reducer for task\/spawned returned undefined/);
    expect(slice(k.state, 'slip')).toEqual({ n: 0 });
  });

  it('replay and stateAt fold them the same way', () => {
    const drafted = run([seenPlugin('draft')]);
    const plain = run([seenPlugin('plain')]);
    const r = replay(plain.log, { plugins: [seenPlugin('plain')] });
    expect(r.logHash()).toBe(plain.logHash());
    expect(r.state).toEqual(plain.state);
    const n = plain.log.length;
    for (const seq of [0, Math.floor(n / 3), Math.floor(n / 2), n - 2]) {
      const at = plain.stateAt(seq);
      expect(slice(at)).toEqual(slice(drafted.stateAt(seq)));
      expect(slice(at)).toEqual(slice(r.stateAt(seq)));
      expect(deepFrozen(slice(at))).toBe(true);
    }
  });

  it('refuses a reducer that is not a function, naming the plugin and the type', () => {
    const bad = (register: TracelabPlugin['register']) => () => createKernel({ plugins: [{ name: 'odd', version: '1.0.0', core: '^0.1.0', register }] });
    expect(bad((ctx) => ctx.onPlain('odd/x' as never, 1 as never))).toThrow(
      expect.objectContaining({ code: 'PLUGIN_INVALID', message: expect.stringMatching(/plugin odd: the reducer for odd\/x must be a function/) }),
    );
  });
});
