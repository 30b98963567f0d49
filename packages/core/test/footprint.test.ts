import { describe, expect, it } from 'vitest';
import {
  createKernel,
  current,
  definePlugin,
  emit,
  conflictObjects,
  footprintsConflict,
  getState,
  mutexLock,
  spinLock,
  spinUnlock,
  waitEvent,
  wakeUp,
  mutexUnlock,
  schedPoint,
  OBSERVER_HOST,
  type KPath,
  type StepFootprint,
} from '@tracelab/core';
import { FootprintRecorder } from '../src/internal/footprint.js';

/** Runs `threads` (one kernel thread each) on 2 CPUs, all picks 0, and returns every step's footprint. */
function footprints(threads: Array<() => KPath<void>>): { steps: StepFootprint[]; hash: string } {
  const k = createKernel({ cpus: 2, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
  const steps: StepFootprint[] = [];
  k.recordFootprints((s) => steps.push(s));
  threads.forEach((t, i) => k.spawnKthread(t(), { comm: `t${i}` }));
  const r = k.run({ maxSteps: 200 });
  expect(r.violations).toEqual([]);
  return { steps, hash: k.logHash() };
}

/** Spawns `n` kernel threads that each make two points. */
function spawnTwoPointers(k: ReturnType<typeof createKernel>, n: number): void {
  for (let i = 0; i < n; i++)
    k.spawnKthread(
      (function* () {
        yield* schedPoint();
        yield* schedPoint();
      })(),
      { comm: `t${i}` },
    );
}

/** A thread that makes a point, takes and drops lock `name` within one step, and makes a point. */
const takeAndDrop = (take: (name: string) => KPath<void>, drop: (name: string) => KPath<void>) => (name: string) =>
  function* (): KPath<void> {
    yield* schedPoint();
    yield* take(name);
    yield* drop(name);
    yield* schedPoint();
  };

/** The steps that touched `object` (read or wrote it). */
const touching = (steps: StepFootprint[], object: string) => steps.filter((s) => s.writes.includes(object) || s.reads.includes(object));

describe('step footprints', () => {
  it("names the step's task, the tasks it only switched, and whether it ended preemptible", () => {
    const k = createKernel({ cpus: 1, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    let seen = -1;
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* schedPoint();
        seen = (yield* current()).cpu;
        yield* schedPoint();
      })(),
      { comm: 'a' },
    );
    k.spawnKthread(
      (function* (): KPath<void> {
        yield* schedPoint();
      })(),
      { comm: 'b' },
    );
    k.run({ maxSteps: 50 });
    expect(seen).toBe(0);
    const pidA = 1; // the first task spawned
    // The first step switches a in from the idle task: a switch, not a's step.
    expect(steps[0]!.pid).toBe(0);
    expect(steps[0]!.switched).toContain(pidA);
    expect(steps[0]!.preemptible).toBe(false);
    // The step that asked for its CPU read `cpu:0`, and ended at a point with preemption on.
    const asked = steps.find((s) => s.pid === pidA && s.reads.includes('cpu:0'));
    expect(asked).toBeDefined();
    expect(asked!.preemptible).toBe(true);
    // No other step of a read its CPU: the read is recorded only when the code looks.
    expect(steps.filter((s) => s.pid === pidA && s.reads.includes('cpu:0')).length).toBe(1);
    // a's first own step (task/linked writes its record) does not list a as only switched.
    const first = steps.find((s) => s.pid === pidA)!;
    expect(first.writes).toContain(`task:${pidA}`);
    expect(first.switched ?? []).not.toContain(pidA);
  });

  it('a mutex step and a step of an unrelated task never conflict', () => {
    const { steps } = footprints([
      function* () {
        yield* mutexLock('a');
        yield* schedPoint();
        yield* mutexUnlock('a');
      },
      function* () {
        yield* schedPoint();
        yield* schedPoint();
      },
    ]);
    const lockSteps = steps.filter((s) => s.writes.includes('lock:a'));
    expect(lockSteps.length).toBe(2);
    // The other thread's point steps: neither lock nor runqueue writes (the first switch-ins excepted).
    const others = steps.filter((s) => s.writes.length === 0 && s.reads.every((o) => !o.startsWith('lock:')));
    expect(others.length).toBeGreaterThan(0);
    for (const l of lockSteps) for (const o of others) expect(footprintsConflict({ ...l, cpu: 0 }, { ...o, cpu: 1 })).toBe(false);
  });

  it('two lockers of one lock conflict; lockers of two locks do not', () => {
    const locker = (name: string) =>
      function* () {
        // The first step switches the thread in (a runqueue write): the lock comes after it.
        yield* schedPoint();
        yield* mutexLock(name);
        yield* schedPoint(); // held across a step: the lock changes at each end of it
        yield* mutexUnlock(name);
        // ... and before the exit (do_exit takes the tasklist lock: a conflict of its own).
        yield* schedPoint();
      };
    const one = footprints([locker('m'), locker('m')]).steps.filter((s) => s.writes.includes('lock:m'));
    expect(one.length).toBeGreaterThanOrEqual(2);
    expect(footprintsConflict({ ...one[0]!, cpu: 0 }, { ...one[one.length - 1]!, cpu: 1 })).toBe(true);
    const two = footprints([locker('x'), locker('y')]).steps;
    const x = two.find((s) => s.writes.includes('lock:x'))!;
    const y = two.find((s) => s.writes.includes('lock:y'))!;
    expect(x.reads).toContain('lock:x');
    expect(footprintsConflict({ ...x, cpu: 0 }, { ...y, cpu: 1 })).toBe(false);
    // conflictObjects says why: the lock both write; nothing for the two locks.
    expect(conflictObjects({ ...one[0]!, cpu: 0 }, { ...one[one.length - 1]!, cpu: 1 })).toContain('lock:m');
    expect(conflictObjects({ ...x, cpu: 0 }, { ...y, cpu: 1 })).toEqual([]);
  });

  it('spin locks: two spinners of one lock conflict, spinners of two locks do not', () => {
    const spinner = takeAndDrop(spinLock, spinUnlock);
    // The first take creates the lock's record (a write); the second finds it free and leaves it
    // so (a read): they still conflict.
    const one = touching(footprints([spinner('s'), spinner('s')]).steps, 'lock:s');
    expect(one.length).toBeGreaterThanOrEqual(2);
    expect(one[0]!.writes).toContain('lock:s');
    expect(footprintsConflict({ ...one[0]!, cpu: 0 }, { ...one[one.length - 1]!, cpu: 1 })).toBe(true);
    const two = footprints([spinner('s1'), spinner('s2')]).steps;
    const a = two.find((s) => s.writes.includes('lock:s1'))!;
    const b = two.find((s) => s.writes.includes('lock:s2'))!;
    expect(footprintsConflict({ ...a, cpu: 0 }, { ...b, cpu: 1 })).toBe(false);
  });

  it('a lock a step takes and drops within itself is only read by it: two such steps commute, a holder across steps conflicts with them', () => {
    const quick = takeAndDrop(mutexLock, mutexUnlock);
    const holder = function* () {
      yield* schedPoint();
      yield* mutexLock('m');
      yield* schedPoint();
      yield* mutexUnlock('m');
      yield* schedPoint();
    };
    // The first use of a lock creates its record (a write); the later take-and-drops leave it as
    // they found it, so they read it and write nothing of it.
    const { steps } = footprints([quick('m'), quick('m'), quick('m')]);
    const users = touching(steps, 'lock:m');
    expect(users.length).toBe(3);
    expect(users[0]!.writes).toContain('lock:m');
    for (const u of users.slice(1)) {
      expect(u.reads).toContain('lock:m');
      expect(u.writes).not.toContain('lock:m');
    }
    expect(footprintsConflict({ ...users[1]!, cpu: 0 }, { ...users[2]!, cpu: 1 })).toBe(false);
    // A step that takes the lock and keeps it (and the one that drops it) writes it: it conflicts
    // with a take-and-drop, which finds the lock held in one order and free in the other.
    const mixed = footprints([holder, quick('m')]).steps;
    const held = mixed.filter((s) => s.writes.includes('lock:m'));
    expect(held.length).toBeGreaterThanOrEqual(2);
    for (const h of held) expect(footprintsConflict({ ...h, cpu: 0 }, { ...users[1]!, cpu: 1 })).toBe(true);
  });

  it('a wake-up reads the wait queue a sleeper writes: they conflict; a wake-up on another channel does not', () => {
    let go = false;
    const { steps } = footprints([
      function* () {
        yield* waitEvent('wq-a', () => go);
      },
      function* () {
        yield* schedPoint();
        go = true;
        yield* wakeUp('wq-a');
        yield* wakeUp('wq-b');
      },
    ]);
    const sleep = steps.find((s) => s.writes.includes('wq:wq-a'))!;
    const waker = steps.find((s) => s.reads.includes('wq:wq-a'))!;
    expect(sleep).toBeDefined();
    expect(waker.reads).toContain('wq:wq-b');
    expect(footprintsConflict({ ...sleep, cpu: 0 }, { ...waker, cpu: 1 })).toBe(true);
    expect(footprintsConflict({ ...sleep, cpu: 0 }, { cpu: 1, choiceAt: 0, reads: ['wq:wq-b'], writes: [], clockRead: false, observed: [] })).toBe(false);
  });

  it('a read through getState is recorded (a read-only step conflicts with the writer of what it read)', () => {
    const { steps } = footprints([
      function* () {
        const s = yield* getState();
        // Reads the lock without taking it: logs nothing.
        void s.locks['m'];
        yield* schedPoint();
      },
      function* () {
        yield* mutexLock('m');
        yield* mutexUnlock('m');
      },
    ]);
    const reader = steps.find((s) => s.reads.includes('lock:m') && !s.writes.includes('lock:m'));
    const writer = steps.find((s) => s.writes.includes('lock:m'));
    expect(reader).toBeDefined();
    expect(reader!.writes.filter((w) => w.startsWith('lock:'))).toEqual([]);
    expect(footprintsConflict({ ...reader!, cpu: 0 }, { ...writer!, cpu: 1 })).toBe(true);
  });

  it('the clock: a step that looks at current().now conflicts with every step; one that does not, not', () => {
    let keys: string[] = [];
    const { steps } = footprints([
      function* () {
        const me = yield* current();
        // While recording, current() is still a plain record: its four fields, enumerable.
        keys = Object.keys(me).sort();
        void me.pid;
        yield* schedPoint();
        const again = yield* current();
        if (again.now < 0) throw new Error('time runs backwards');
      },
    ]);
    expect(keys).toEqual(['cpu', 'now', 'pid', 'preemptCount']);
    expect(steps.some((s) => s.clockRead)).toBe(true);
    expect(steps.filter((s) => s.clockRead)).toHaveLength(1);
    const clocked = steps.find((s) => s.clockRead)!;
    expect(footprintsConflict({ ...clocked, cpu: 0 }, { cpu: 1, choiceAt: 0, reads: [], writes: [], clockRead: false, observed: [] })).toBe(true);
  });

  it('current() while recording: each field the code reads is recorded, however it reads it', () => {
    // Four threads, each reading current() one way between two points: only the pid; the CPU;
    // a copy (a spread reads every field); its keys (which read no field).
    type Cur = { pid: number; cpu: number; preemptCount: number; now: number };
    const ways: Array<(me: Cur) => unknown> = [(me) => me.pid, (me) => me.cpu, (me) => ({ ...me }), (me) => Object.keys(me)];
    const seen: unknown[] = [];
    const { steps } = footprints(
      ways.map(
        (way) =>
          function* () {
            yield* schedPoint();
            const me = yield* current();
            seen.push(way(me));
            yield* schedPoint();
          },
      ),
    );
    // The values are those of a plain record: the copy has all four fields, and so do its keys.
    expect(Object.keys(seen[2] as object).sort()).toEqual(['cpu', 'now', 'pid', 'preemptCount']);
    expect((seen[3] as string[]).sort()).toEqual(['cpu', 'now', 'pid', 'preemptCount']);
    // What the steps read of the CPU and the clock: the CPU alone (the thread that read .cpu);
    // the CPU, its preempt count and the clock (the copy); nothing else anywhere.
    const what = (s: StepFootprint) =>
      [...s.reads.filter((r) => r.startsWith('cpu:') || r.startsWith('pc:')).map((r) => r.split(':')[0]!), ...(s.clockRead ? ['clock'] : [])].sort().join('+');
    expect(
      steps
        .map(what)
        .filter((w) => w !== '')
        .sort(),
    ).toEqual(['clock+cpu+pc', 'cpu']);
  });

  it("a plugin's events write its slice; its code's slice reads and its invariants' reads are recorded", () => {
    const counter = definePlugin<{ bump(): KPath<void> }, { n: number }>({
      name: 'counter',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.initSlice({ n: 0 });
        (ctx.on as (type: string, reducer: (s: { n: number }) => void) => void)('counter/bump', (s) => {
          s.n++;
        });
        ctx.invariant('counter/small', (state) => ((state.plugins as Record<string, { n: number }>)['counter']!.n > 10 ? 'too big' : null));
        return {
          *bump() {
            const n = ctx.slice().n;
            yield* (emit as (e: unknown) => KPath<unknown>)({ type: 'counter/bump', n });
          },
        };
      },
    });
    const k = createKernel({ cpus: 2, seed: 1, plugins: [counter], strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    const api = (k.api as unknown as { counter: { bump(): KPath<void> } }).counter;
    k.spawnKthread(
      (function* () {
        yield* api.bump();
      })(),
    );
    k.run({ maxSteps: 50 });
    const bump = touching(steps, 'plugin:counter').find((s) => s.writes.includes('plugin:counter'))!;
    expect(bump.reads).toContain('plugin:counter');
    expect(steps.some((s) => s.observed.includes('plugin:counter'))).toBe(true);
  });

  it("what the checks read is kept by owner: a plugin's checks (its slice always among them) under its name, the host's invariants and monitors under (host)", () => {
    const counter = definePlugin<Record<string, never>, { n: number }>({
      name: 'counter',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.initSlice({ n: 0 });
        ctx.invariant('counter/small', (state) => ((state.plugins as Record<string, { n: number }>)['counter']!.n > 10 ? 'too big' : null));
        ctx.invariant('counter/locks', (state) => (state.locks['m'] === null ? 'never' : null), { reads: ['lock:m'] });
        ctx.liveness('counter/module', { hot: (state) => (state.modules['x'] !== undefined ? 'module x loaded' : null) });
        return {};
      },
    });
    // A plugin whose only check reads what it keeps outside the state: it observes its slice,
    // which every event of it writes.
    const outside = { n: 0 };
    const quiet = definePlugin<Record<string, never>, Record<string, never>>({
      name: 'quiet',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.initSlice({});
        ctx.invariant('quiet/outside', () => (outside.n > 1 ? 'outside' : null));
        return {};
      },
    });
    const k = createKernel({ cpus: 2, seed: 1, plugins: [counter, quiet], strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    k.invariant('host/rcu', (state) => (state.rcu === null ? 'no rcu' : null));
    k.liveness('host/kernel', { hot: (state) => (state.kernel === null ? 'no kernel' : null) });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    k.spawnKthread(
      (function* () {
        yield* schedPoint();
      })(),
    );
    k.run({ maxSteps: 50 });
    const checked = steps.filter((s) => s.observed.length > 0);
    expect(checked.length).toBeGreaterThan(0);
    for (const s of checked) {
      const by = Object.fromEntries((s.observedBy ?? []).map((g) => [g.owner, [...g.objects].sort()]));
      expect(by).toEqual({ counter: ['lock:m', 'module:x', 'plugin:counter'], quiet: ['plugin:quiet'], [OBSERVER_HOST]: ['kernel', 'rcu'] });
      // `observed` is the owners' union; the owners come by name.
      expect([...s.observed].sort()).toEqual(['kernel', 'lock:m', 'module:x', 'plugin:counter', 'plugin:quiet', 'rcu']);
      expect((s.observedBy ?? []).map((g) => g.owner)).toEqual([OBSERVER_HOST, 'counter', 'quiet']);
    }
  });

  it('footprintsConflict with a list per owner: both steps must write what one owner observes', () => {
    const writer = (cpu: number, w: string): StepFootprint => ({ cpu, choiceAt: 0, reads: [], writes: [w], clockRead: false, observed: [] });
    const a = writer(0, 'plugin:x');
    const b = writer(1, 'plugin:y');
    expect(footprintsConflict(a, b, ['plugin:x', 'plugin:y'])).toBe(true);
    expect(footprintsConflict(a, b, [['plugin:x', 'plugin:y']])).toBe(true);
    expect(footprintsConflict(a, b, [['plugin:x'], ['plugin:y']])).toBe(false);
    expect(footprintsConflict(a, b, [['plugin:x'], ['plugin:*']])).toBe(true);
    expect(conflictObjects(a, b, [['plugin:x'], ['plugin:y', 'plugin:x']])).toEqual(['observed']);
    expect(conflictObjects(a, b, [['plugin:x'], ['plugin:y']])).toEqual([]);
  });

  it("a plugin's keyed footprint: its events touch only the keys they name; an event without one touches all of the plugin's data", () => {
    // A plugin keeping a table outside the state: `put` writes one key, `get` reads one, `clear` names nothing.
    const box = definePlugin<Record<'put' | 'get' | 'clear', (key: string) => KPath<void>>, null>({
      name: 'box',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.declareEvents(['box/put', 'box/get', 'box/clear']);
        ctx.footprint('box/put', (e) => ({ writes: [(e as unknown as { key: string }).key] }));
        ctx.footprint('box/get', (e) => ({ reads: [(e as unknown as { key: string }).key] }));
        const op = (type: string) =>
          function* (key: string): KPath<void> {
            yield* schedPoint();
            yield* (emit as (e: unknown) => KPath<unknown>)({ type, key });
            yield* schedPoint();
          };
        ctx.onReset();
        return { put: op('box/put'), get: op('box/get'), clear: op('box/clear') };
      },
    });
    const k = createKernel({ cpus: 2, seed: 1, plugins: [box], strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    const api = (k.api as unknown as { box: Record<'put' | 'get' | 'clear', (key: string) => KPath<void>> }).box;
    for (const [op, key] of [
      ['put', 'a'],
      ['get', 'b'],
      ['get', 'a'],
      ['get', 'a'],
      ['clear', 'a'],
    ] as const)
      k.spawnKthread(api[op](key));
    k.run({ maxSteps: 200 });
    const put = steps.find((s) => s.writes.includes('@box:a'))!;
    const [getA1, getA2] = steps.filter((s) => s.reads.includes('@box:a'));
    const getB = steps.find((s) => s.reads.includes('@box:b'))!;
    const clear = steps.find((s) => s.writes.includes('@box:*'))!;
    expect([put, getA1, getA2, getB, clear].every((s) => s !== undefined)).toBe(true);
    // A keyed event writes no slice; one without a footprint writes the slice and every key.
    expect(put.writes).not.toContain('plugin:box');
    expect(clear.writes).toEqual(expect.arrayContaining(['plugin:box', '@box:*']));
    const other = (s: StepFootprint) => ({ ...s, cpu: s.cpu + 10 });
    expect(footprintsConflict(put, other(getA1!))).toBe(true);
    expect(footprintsConflict(put, other(getB))).toBe(false);
    expect(footprintsConflict(getA1!, other(getA2!))).toBe(false);
    expect(footprintsConflict(clear, other(getB))).toBe(true);
    expect(conflictObjects(put, other(getA1!))).toEqual(['@box:a']);
  });

  it('refuses a keyed footprint for an event the plugin does not own, and one that names no key', () => {
    const plugin = (register: (ctx: Parameters<Parameters<typeof definePlugin>[0]['register']>[0]) => void) =>
      definePlugin({ name: 'bad', version: '0.0.0', core: '*', register: (ctx) => void register(ctx) });
    const build = (register: Parameters<typeof plugin>[0]) => () => createKernel({ cpus: 1, seed: 1, plugins: [plugin(register)] });
    expect(build((ctx) => ctx.footprint('bad/never-declared', () => ({})))).toThrow(/PLUGIN_INVALID|not declared/);
    expect(build((ctx) => ctx.footprint('other/x', () => ({})))).toThrow(/namespaced as bad/);
    // A footprint that gives no list of keys, or throws, changes nothing in the run (the event
    // is taken as touching all of the plugin's data): the step ends as without recording, and
    // then the host gets a coded error naming the plugin and the event. The log is kept.
    const badKernel = (footprint: () => unknown) =>
      createKernel({
        cpus: 1,
        seed: 1,
        plugins: [
          definePlugin<{ go(): KPath<void> }, null>({
            name: 'bad',
            version: '0.0.0',
            core: '*',
            register(ctx) {
              ctx.declareEvents(['bad/x']);
              ctx.footprint('bad/x', footprint as () => { writes: string[] });
              return {
                *go() {
                  yield* (emit as (e: unknown) => KPath<unknown>)({ type: 'bad/x' });
                  yield* schedPoint();
                },
              };
            },
          }),
        ],
      });
    const plain = badKernel(() => ({}));
    plain.spawnKthread((plain.api as unknown as { bad: { go(): KPath<void> } }).bad.go());
    plain.run({ maxSteps: 20 });
    for (const [footprint, message] of [
      [() => ({ writes: '*' }), /plugin bad: the footprint of bad\/x must give writes as a list of non-empty keys/],
      [() => ({ reads: ['a:*'] }), /plugin bad: the footprint of bad\/x must give reads .*none ending in ':\*'/],
      [
        () => {
          throw new Error('boom');
        },
        /plugin bad: the footprint of bad\/x threw: .*boom/,
      ],
    ] as const) {
      const k = badKernel(footprint);
      const seen: StepFootprint[] = [];
      k.recordFootprints((f) => seen.push(f));
      k.spawnKthread((k.api as unknown as { bad: { go(): KPath<void> } }).bad.go());
      expect(() => k.run({ maxSteps: 20 })).toThrow(message);
      expect(k.log.some((e) => e.type === 'kernel/oops')).toBe(false);
      // The failing step never reached the sink.
      expect(seen.some((f) => f.writes.some((w) => w.startsWith('@bad:') || w === 'plugin:bad'))).toBe(false);
      const upTo = k.log.findIndex((e) => (e.type as string) === 'bad/x');
      expect(upTo).toBeGreaterThan(0);
      expect(k.log.slice(0, upTo + 1).map((e) => JSON.stringify(e))).toEqual(plain.log.slice(0, upTo + 1).map((e) => JSON.stringify(e)));
    }
  });

  it("touched(): a plugin's own code names the outside data a step read or wrote without an event", () => {
    let touch: ((f: { reads?: string[]; writes?: string[] }) => void) | null = null;
    const cell = definePlugin<{ set(key: string): KPath<void>; peek(key: string): KPath<void> }, null>({
      name: 'cell',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        // guarded by: the kernel's one step at a time; put back at reset
        const values = new Map<string, number>();
        ctx.onReset(() => values.clear());
        touch = (f) => ctx.touched(f);
        return {
          *set(key) {
            yield* schedPoint();
            values.set(key, 1);
            ctx.touched({ writes: [key] });
            yield* schedPoint();
          },
          *peek(key) {
            yield* schedPoint();
            ctx.touched({ reads: [key === 'all' ? '*' : key] });
            yield* schedPoint();
          },
        };
      },
    });
    const run = (record: boolean): StepFootprint[] => {
      const k = createKernel({ cpus: 2, seed: 1, plugins: [cell], strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
      const steps: StepFootprint[] = [];
      if (record) k.recordFootprints((f) => steps.push(f));
      const api = (k.api as unknown as { cell: { set(key: string): KPath<void>; peek(key: string): KPath<void> } }).cell;
      k.spawnKthread(api.set('a'));
      k.spawnKthread(api.peek('a'));
      k.spawnKthread(api.peek('b'));
      k.spawnKthread(api.peek('all'));
      k.run({ maxSteps: 200 });
      // Host-side, between steps: no step to name, recording or not.
      touch!({ writes: ['a'] });
      return steps;
    };
    const steps = run(true);
    const set = steps.find((f) => f.writes.includes('@cell:a'))!;
    const peekA = steps.find((f) => f.reads.includes('@cell:a'))!;
    const peekB = steps.find((f) => f.reads.includes('@cell:b'))!;
    const peekAll = steps.find((f) => f.reads.includes('@cell:*'))!;
    expect([set, peekA, peekB, peekAll].every((f) => f !== undefined)).toBe(true);
    // No event of the plugin in these steps: its slice is not written.
    expect(set.writes).not.toContain('plugin:cell');
    const other = (f: StepFootprint) => ({ ...f, cpu: f.cpu + 10 });
    expect(conflictObjects(set, other(peekA))).toEqual(['@cell:a']);
    expect(footprintsConflict(set, other(peekB))).toBe(false);
    expect(footprintsConflict(set, other(peekAll))).toBe(true);
    // The host-side call after the run named nothing.
    expect(steps.filter((f) => f.writes.includes('@cell:a'))).toHaveLength(1);
    expect(run(false)).toEqual([]);
    // Bad keys are refused, recording or not, naming the plugin.
    for (const bad of [{ writes: 'a' }, { reads: [''] }, { writes: ['x:*'] }, { reads: [3] }])
      expect(() => touch!(bad as unknown as { writes: string[] })).toThrow(/^plugin cell: touched\(\) must give (reads|writes) as a list of non-empty keys/);
  });

  it('touching(f, path): every step the path runs in names f, across its scheduling points; errors thrown into it reach it', () => {
    let caught = 0;
    const wrap = definePlugin<{ work(): KPath<void>; spin(): KPath<void> }, null>({
      name: 'wrap',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.onReset();
        return {
          work: () =>
            ctx.touching(
              { writes: ['k'] },
              (function* (): KPath<void> {
                yield* schedPoint();
                yield* schedPoint();
              })(),
            ),
          // Loops without a scheduling point: the soft-lockup error is thrown into it, through the wrapper.
          spin: () =>
            ctx.touching(
              { reads: ['k'] },
              (function* (): KPath<void> {
                for (;;) {
                  try {
                    yield* current();
                  } catch {
                    caught++;
                    return;
                  }
                }
              })(),
            ),
        };
      },
    });
    const k = createKernel({ cpus: 1, seed: 1, plugins: [wrap], strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((f) => steps.push(f));
    const api = (k.api as unknown as { wrap: { work(): KPath<void>; spin(): KPath<void> } }).wrap;
    const worker = k.spawnKthread(api.work(), { comm: 'worker' });
    const other = k.spawnKthread(
      (function* (): KPath<void> {
        yield* schedPoint();
      })(),
      { comm: 'other' },
    );
    const spinner = k.spawnKthread(api.spin(), { comm: 'spinner' });
    const r = k.run({ maxSteps: 200 });
    expect(r.violations).toEqual([]);
    // The worker's steps after its switch-in run the path: each names the object.
    const mine = steps.filter((f) => f.pid === worker && !f.switched?.length);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(steps.filter((f) => f.pid === worker && f.writes.includes('@wrap:k')).length).toBeGreaterThanOrEqual(3);
    expect(steps.some((f) => f.pid === other && (f.writes.includes('@wrap:k') || f.reads.includes('@wrap:k')))).toBe(false);
    expect(caught).toBe(1);
    expect(steps.some((f) => f.pid === spinner && f.reads.includes('@wrap:k'))).toBe(true);
    // Keys are checked when it is called.
    const bad = createKernel({
      cpus: 1,
      seed: 1,
      plugins: [
        definePlugin<{ go(): KPath<void> }, null>({
          name: 'bad',
          version: '0.0.0',
          core: '*',
          register(ctx) {
            return {
              go: () =>
                ctx.touching(
                  { writes: ['x:*'] },
                  (function* (): KPath<void> {
                    yield* schedPoint();
                  })(),
                ),
            };
          },
        }),
      ],
    });
    expect(() => (bad.api as unknown as { bad: { go(): KPath<void> } }).bad.go()).toThrow(/plugin bad: touched\(\) must give writes/);
  });

  it("touching(f, path) forwards return() (the path's finally blocks run) and lets an error the path throws out", () => {
    let touchingOf: (<T>(path: KPath<T>) => KPath<T>) | null = null;
    createKernel({
      cpus: 1,
      seed: 1,
      plugins: [
        definePlugin<Record<string, never>, null>({
          name: 'fwd',
          version: '0.0.0',
          core: '*',
          register(ctx) {
            touchingOf = (path) => ctx.touching({ writes: ['k'] }, path);
            return {};
          },
        }),
      ],
    });
    let cleaned = false;
    const wrapped = touchingOf!(
      (function* (): KPath<number> {
        try {
          yield* schedPoint();
          return 1;
        } finally {
          cleaned = true;
        }
      })(),
    );
    expect(wrapped.next().done).toBe(false);
    expect(wrapped.return(7)).toEqual({ done: true, value: 7 });
    expect(cleaned).toBe(true);
    const failing = touchingOf!(
      (function* (): KPath<void> {
        yield* schedPoint();
        throw new Error('out of the path');
      })(),
    );
    failing.next();
    expect(() => failing.next()).toThrow('out of the path');
  });

  it('recording changes nothing in the run: the same log with and without', () => {
    const threads = [
      function* () {
        yield* mutexLock('m');
        yield* schedPoint();
        yield* mutexUnlock('m');
      },
      function* () {
        yield* mutexLock('m');
        yield* mutexUnlock('m');
      },
    ];
    const k = createKernel({ cpus: 2, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    threads.forEach((t, i) => k.spawnKthread(t(), { comm: `t${i}` }));
    k.run({ maxSteps: 200 });
    expect(footprints(threads).hash).toBe(k.logHash());
  });

  it('a preemption point reads the predicate rq:nonempty, which only a step changing the emptiness writes', () => {
    // Three threads on one CPU: while one runs the others are queued, so its points may preempt.
    const k = createKernel({ cpus: 1, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    const empty: boolean[] = [];
    k.recordFootprints((s) => {
      steps.push(s);
      empty.push(k.state.runqueue.length === 0);
    });
    spawnTwoPointers(k, 3);
    expect(k.run({ maxSteps: 100 }).done).toBe(true);
    // The points with a queued task that switch nothing read the predicate, never the membership.
    const points = steps.filter((s) => s.reads.includes('rq:nonempty') && !s.writes.some((w) => w.startsWith('cpu:')));
    expect(points.length).toBeGreaterThan(0);
    for (const s of points) expect(s.reads.filter((r) => r.startsWith('runq:'))).toEqual([]);
    // A step writes the predicate exactly when the runqueue's emptiness differs across it.
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.writes.includes('rq:nonempty')).toBe(empty[i] !== empty[i - 1]);
    // A switch that leaves the runqueue non-empty writes the membership of the tasks it moved
    // only: it commutes with a point.
    const quiet = steps.find((s) => s.writes.some((w) => w.startsWith('runq:')) && !s.writes.includes('rq:nonempty'))!;
    const loud = steps.find((s) => s.writes.includes('rq:nonempty'))!;
    const point = { cpu: 1, choiceAt: 0, reads: ['rq:nonempty'], writes: [], clockRead: false, observed: [] };
    expect(quiet).toBeDefined();
    expect(footprintsConflict({ ...quiet, cpu: 0 }, point)).toBe(false);
    expect(footprintsConflict({ ...loud, cpu: 0 }, point)).toBe(true);
  });

  it('a point reads the runqueue only when that decided its step: empty (no preemption offered), or preempting (picks a task)', () => {
    // One CPU; `solo` makes points while nothing is queued, then wakes `late` and makes points
    // with `late` queued: the first `preempt` choice answers 0, the second 1.
    let asked = 0;
    const k = createKernel({
      cpus: 1,
      seed: 1,
      strategy: { name: 'second', create: () => ({ choose: (kind) => (kind === 'preempt' ? (asked++ === 1 ? 1 : 0) : 0) }) },
    });
    const steps: StepFootprint[] = [];
    const queued: number[] = [];
    k.recordFootprints((s) => steps.push(s));
    const open = new Set<string>();
    k.spawnKthread(
      (function* () {
        yield* waitEvent('late', () => open.has('late'));
      })(),
      { comm: 'late' },
    );
    k.spawnKthread(
      (function* () {
        yield* schedPoint();
        yield* schedPoint();
        open.add('late');
        yield* wakeUp('late');
        queued.push(steps.length);
        yield* schedPoint();
        yield* schedPoint();
        yield* schedPoint();
      })(),
      { comm: 'solo' },
    );
    expect(k.run({ maxSteps: 100 }).done).toBe(true);
    expect(asked).toBeGreaterThanOrEqual(2);
    const solo = steps.filter((s) => s.pid === 2);
    // Points with nothing queued: the predicate was read.
    const lone = solo.filter((s) => s.reads.includes('rq:nonempty') && !s.writes.some((w) => w.startsWith('runq:')));
    expect(lone.length).toBeGreaterThan(0);
    // The point that did not preempt, with `late` queued, read nothing of the runqueue.
    // (The wake-up ran in step queued[0]; the next step began at the point after it.)
    const kept = steps[queued[0]! + 1]!;
    expect(kept.pid).toBe(2);
    expect(kept.switched).toEqual([]);
    expect(kept.reads.filter((r) => r === 'rq:nonempty' || r.startsWith('runq:'))).toEqual([]);
    // The point that preempted read the membership it picked from.
    const switched = solo.filter((s) => s.writes.includes('cpu:0') && s.switched !== undefined && s.switched.includes(1));
    expect(switched.length).toBe(1);
    expect(switched[0]!.reads).toContain('runq:*');
  });

  it('the runqueue is membership objects: a step writes runq:<pid> for each task it queued or dequeued, net', () => {
    // One CPU, preempting at every point: each switch dequeues the next task and queues the one
    // it preempts. A step's runq writes are exactly the tasks whose membership differs across it.
    const k = createKernel({ cpus: 1, seed: 1, strategy: { name: 'ones', create: () => ({ choose: (kind) => (kind === 'preempt' ? 1 : 0) }) } });
    const steps: StepFootprint[] = [];
    const before: number[][] = [];
    const after: number[][] = [];
    k.recordFootprints((s) => {
      steps.push(s);
      after.push([...k.state.runqueue]);
    });
    spawnTwoPointers(k, 3);
    before.push([...k.state.runqueue]);
    expect(k.run({ maxSteps: 100 }).done).toBe(true);
    for (let i = 1; i < steps.length; i++) before.push(after[i - 1]!);
    let moved = 0;
    for (let i = 0; i < steps.length; i++) {
      const b = new Set(before[i]);
      const a = new Set(after[i]);
      const changed = [...new Set([...b, ...a])].filter((p) => b.has(p) !== a.has(p)).map((p) => `runq:${p}`);
      expect(steps[i]!.writes.filter((w) => w.startsWith('runq:')).sort()).toEqual(changed.sort());
      if (changed.length === 2) moved++;
    }
    expect(moved).toBeGreaterThan(0); // a preemption queues one task and takes another
  });

  it('a switch picking its next task reads the whole membership; a wake-up of another task conflicts with it, two wake-ups do not', () => {
    const k = createKernel({ cpus: 2, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    // The sleepers' condition is the test's own (nothing of the kernel state): only the
    // wake-ups and the switches touch what the test looks at.
    const open = new Set<string>();
    for (const ch of ['a', 'b'])
      k.spawnKthread(
        (function* () {
          yield* waitEvent(ch, () => open.has(ch));
        })(),
        { comm: `s${ch}` },
      );
    k.spawnKthread(
      (function* () {
        yield* schedPoint();
        open.add('a');
        yield* wakeUp('a');
        yield* schedPoint();
        open.add('b');
        yield* wakeUp('b');
      })(),
      { comm: 'waker' },
    );
    expect(k.run({ maxSteps: 200 }).done).toBe(true);
    const picks = steps.filter((s) => s.writes.some((w) => w.startsWith('cpu:')) && s.writes.some((w) => w.startsWith('runq:')));
    expect(picks.length).toBeGreaterThan(0);
    for (const s of picks) expect(s.reads).toContain('runq:*');
    const wakes = steps.filter(
      (s) => s.writes.some((w) => w.startsWith('wq:')) && s.writes.some((w) => w.startsWith('runq:')) && !s.writes.some((w) => w.startsWith('cpu:')),
    );
    expect(wakes.length).toBe(2);
    const [wa, wb] = wakes as [StepFootprint, StepFootprint];
    expect(footprintsConflict({ ...wa, cpu: 0 }, { ...wb, cpu: 1, reads: [], writes: wb.writes.filter((w) => w.startsWith('runq:')) })).toBe(false);
    expect(footprintsConflict({ ...wa, cpu: 0 }, { ...picks[0]!, cpu: 1 })).toBe(true);
  });

  it('with CPU bindings a preemption point reads the runqueue membership itself (which tasks may run here)', () => {
    const k = createKernel({ cpus: 2, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s));
    for (let i = 0; i < 2; i++)
      k.spawnKthread(
        (function* () {
          yield* schedPoint();
          yield* schedPoint();
        })(),
        { comm: `t${i}`, cpu: 0 },
      );
    k.run({ maxSteps: 100 });
    expect(steps.some((s) => s.reads.includes('runq:*'))).toBe(true);
    expect(steps.some((s) => s.reads.includes('rq:nonempty'))).toBe(false);
  });

  it("two releases update the kernel's count and the parent's children commutatively; a reader or a plain writer of either conflicts", () => {
    const point = function* (): KPath<void> {
      yield* schedPoint();
    };
    const { steps } = footprints([point, point]);
    const releases = steps.filter((s) => (s.updates ?? []).includes('kernel'));
    expect(releases).toHaveLength(2);
    // Kernel threads are children of pid 0 and reap themselves.
    for (const r of releases) {
      expect(r.updates).toEqual(expect.arrayContaining(['kernel', 'task:0']));
      expect(r.writes).toEqual(expect.arrayContaining(['kernel', 'task:0']));
    }
    const [a, b] = [
      { ...releases[0]!, cpu: 0 },
      { ...releases[1]!, cpu: 1 },
    ];
    const why = conflictObjects(a, b);
    expect(why).not.toContain('kernel');
    expect(why).not.toContain('task:0');
    // The same two objects as plain writes of both steps conflict.
    const plain = (s: StepFootprint): StepFootprint => ({ ...s, updates: [] });
    expect(conflictObjects(plain(a), b)).toEqual(expect.arrayContaining(['kernel', 'task:0']));
    expect(conflictObjects(a, plain(b))).toEqual(expect.arrayContaining(['kernel', 'task:0']));
    // An update conflicts with a read of its object, and with a walk of the whole family.
    const reader = (o: string): StepFootprint => ({ cpu: 1, choiceAt: 0, reads: [o], writes: [], clockRead: false, observed: [] });
    expect(footprintsConflict(a, reader('kernel'))).toBe(true);
    expect(footprintsConflict(a, reader('task:*'))).toBe(true);
    expect(footprintsConflict(a, reader('task:7'))).toBe(false);
    // Two updates of an object the checks observe conflict: a check sees each intermediate count.
    const only = (s: StepFootprint): StepFootprint => ({ ...s, reads: [], writes: ['kernel'], updates: ['kernel'] });
    expect(footprintsConflict(only(a), only(b))).toBe(false);
    expect(footprintsConflict(only(a), only(b), ['kernel'])).toBe(true);
  });

  it('a step that updates an object and also writes it plainly lists it as a plain write only', () => {
    // The recorder's rule, driven directly (in the kernel, a thread that exits with children
    // reparents them to pid 0, a plain write of task:0, and may release itself in that step).
    const out: StepFootprint[] = [];
    const state = createKernel({ cpus: 1, seed: 1 }).state;
    const rec = new FootprintRecorder(
      () => state,
      (s) => out.push(s),
      () => [],
      () => undefined,
    );
    rec.begin(0);
    rec.update('kernel');
    rec.update('task:0');
    rec.write('kernel');
    rec.end(0);
    expect(out[0]!.writes).toEqual(expect.arrayContaining(['kernel', 'task:0']));
    expect(out[0]!.updates).toEqual(['task:0']);
    rec.begin(1);
    rec.write('kernel');
    rec.end(0);
    expect(out[1]!.updates).toBeUndefined();
  });

  it("an invariant's declared reads must be a list of object names: the host's bad list is INVALID_OPTION, a plugin's PLUGIN_INVALID, each naming the check", () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    expect(() => k.invariant('mine', () => null, { reads: 'tflags:*' as never })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringMatching(/kernel\.invariant mine: reads must be a non-empty list of footprint object names, got string/),
      }),
    );
    for (const [reads, why] of [
      [[''], /reads\[0\] must be a footprint object name/],
      [['tflag:*'], /reads\[0\] must be a footprint object name .*got "tflag:\*"/],
      [[1n], /reads\[0\] .*got bigint/],
      [[], /reads must be a non-empty list of footprint object names, got an empty list/],
      // A hole in the list is not a name.
      [new Array<string>(2).fill('tflags:*', 1), /reads\[0\] .*got undefined/],
    ] as const)
      expect(() => k.invariant('mine', () => null, { reads: reads as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(why) }),
      );
    expect(() => k.invariant('mine', () => null, null as never)).toThrow(/options must be an object, got null/);
    k.invariant('fine', () => null, { reads: ['tflags:*', 'plugin:ktrace', 'lock:tasklist_lock', 'rcu', '@markers:probe/x', 'rq:nonempty:1'] });
    const bad = definePlugin({
      name: 'bad-reads',
      version: '0.0.0',
      core: '*',
      register(ctx) {
        ctx.invariant('bad-reads/check', () => null, { reads: [42] as never });
        return {};
      },
    });
    expect(() => createKernel({ cpus: 1, seed: 1, plugins: [bad] })).toThrow(
      expect.objectContaining({
        code: 'PLUGIN_INVALID',
        message: expect.stringMatching(/plugin bad-reads: invariant bad-reads\/check: reads\[0\] must be a footprint object name/),
      }),
    );
  });

  it('refuses a sink that is not a function, and a fromStep that is not a step number', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    expect(() => k.recordFootprints(42 as never)).toThrow(/sink must be a function/);
    for (const bad of [-1, 1.5, Number.NaN, '2'])
      expect(() => k.recordFootprints(() => undefined, bad as never)).toThrow(/fromStep must be a non-negative integer/);
  });
});

describe('recording from a step on (fromStep: an explorer re-running a prefix it knows)', () => {
  /** Two threads on two CPUs that lock, read the state and make points; every pick 0. */
  function run(fromStep: number | undefined): { steps: StepFootprint[]; hash: string; total: number } {
    const k = createKernel({ cpus: 2, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
    const steps: StepFootprint[] = [];
    k.recordFootprints((s) => steps.push(s), fromStep);
    for (const name of ['a', 'b'])
      k.spawnKthread(
        (function* () {
          yield* mutexLock('m');
          yield* schedPoint();
          yield* mutexUnlock('m');
          const s = yield* getState();
          void s.tasks;
          yield* schedPoint();
          yield* spinLock('s');
          yield* spinUnlock('s');
        })(),
        { comm: name },
      );
    const r = k.run({ maxSteps: 200 });
    expect(r.violations).toEqual([]);
    return { steps, hash: k.logHash(), total: r.steps };
  }

  it('hears nothing of the steps before it, and from it on the footprints a whole recording gives', () => {
    const whole = run(undefined);
    expect(whole.steps.length).toBe(whole.total);
    for (const from of [1, 4, whole.total - 1]) {
      const part = run(from);
      expect(part.hash).toBe(whole.hash);
      expect(part.steps).toEqual(whole.steps.slice(from));
    }
    expect(run(whole.total + 5).steps).toEqual([]);
  });

  it('hands out the recording view before it starts: a state kept into a recorded step records its reads there', () => {
    const keeper = (fromStep: number): StepFootprint[] => {
      const k = createKernel({ cpus: 1, seed: 1, strategy: { name: 'zeros', create: () => ({ choose: () => 0 }) } });
      const steps: StepFootprint[] = [];
      k.recordFootprints((s) => steps.push(s), fromStep);
      // Step 0 switches the keeper in; step 1 takes the state and keeps it; step 3 reads lock
      // `kept` through it, and reads the tasks through the state as it is then.
      k.spawnKthread(
        (function* () {
          const s = yield* getState();
          void s.locks['early'];
          yield* schedPoint();
          yield* schedPoint();
          void s.locks['kept'];
        })(),
        { comm: 'keeper' },
      );
      k.run({ maxSteps: 50 });
      return steps;
    };
    const whole = keeper(0);
    expect(whole[1]!.reads).toContain('lock:early');
    expect(whole[3]!.reads).toContain('lock:kept');
    const part = keeper(2);
    expect(part).toEqual(whole.slice(2));
    // The read made through it before the recorder started is no recorded step's.
    expect(part.some((f) => f.reads.includes('lock:early'))).toBe(false);
  });
});
