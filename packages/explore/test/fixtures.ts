import {
  current,
  definePlugin,
  intMapValues,
  emit,
  getState,
  waitEvent,
  wakeUp,
  mutexLock,
  mutexUnlock,
  preemptDisable,
  preemptEnable,
  rcuReadLock,
  rcuReadUnlock,
  schedPoint,
  smpCallFunctionSingle,
  synchronizeRcu,
  type KPath,
  type KernelState,
} from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';

declare module '@tracelab/core' {
  interface EventMap {
    'counter/store': { pid: number; value: number };
    'counter/done': { pid: number };
    'gate/open': { gate: string };
    'gates/open': { gate: string };
    'window/set': { open: boolean };
    'window/seen': { onCpu: number };
    'pane/set': { open: boolean };
    'flagpole/last': { by: string };
    'flagpole/raise': { by: string };
    'order-a/done': { by: string };
    'order-b/done': { by: string };
    'stash/put': { value: number };
    'stash/saw': { value: number };
  }
  interface PluginStates {
    counter: { value: number; done: number };
    gate: { open: boolean };
    gates: Record<string, boolean>;
    window: { open: boolean; seen: boolean };
    pane: { open: boolean; passes: number };
    flagpole: { last: boolean; raised: boolean };
    'order-a': { done: boolean };
    'order-b': { done: boolean };
    stash: { saw: number[] };
  }
}

/** A shared counter; `counter/store` writes it. Invariant: never fewer increments stored than workers done. */
function counterPlugin() {
  return definePlugin<Record<string, never>, { value: number; done: number }>({
    name: 'counter',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ value: 0, done: 0 });
      ctx.onReset(); // everything it keeps is in its slice
      ctx.on('counter/store', (s, e) => {
        s.value = e.value;
      });
      ctx.on('counter/done', (s) => {
        s.done += 1;
      });
      ctx.invariant('counter/no-lost-update', (st) => {
        const c = st.plugins.counter!;
        return c.value < c.done ? `${c.done} increments done, but the counter is ${c.value}` : null;
      });
      return {};
    },
  });
}

/** A gate a task waits on (its own slice, so opening it touches nothing of the counter's). */
function gatePlugin() {
  return definePlugin<Record<string, never>, { open: boolean }>({
    name: 'gate',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({ open: false });
      ctx.onReset();
      ctx.on('gate/open', (s) => {
        s.open = true;
      });
      return {};
    },
  });
}

/** Named gates, each opened once (`gates/open`); one slice for all of them. */
function gatesPlugin() {
  return definePlugin<Record<string, never>, Record<string, boolean>>({
    name: 'gates',
    version: '0.1.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.initSlice({});
      ctx.onReset();
      ctx.on('gates/open', (s, e) => {
        s[e.gate] = true;
      });
      return {};
    },
  });
}

/** counter++ as a load and a store with a scheduling point between; under a mutex when `locked`. */
function* increment(locked: boolean, pid: number, work: number): KPath<void> {
  for (let i = 0; i < work; i++) yield* schedPoint(); // private work first
  if (locked) yield* mutexLock('counter_mutex');
  const v = (yield* getState()).plugins.counter!.value;
  yield* schedPoint();
  yield* emit({ type: 'counter/store', pid, value: v + 1 });
  if (locked) yield* mutexUnlock('counter_mutex');
  yield* emit({ type: 'counter/done', pid });
}

/** The lost update: `racy` does load/store without the mutex, `fixed` under it. Scale: workers. */
export const lostUpdate = defineScenario({
  name: 'lost-update',
  description: 'kernel threads increment a shared counter (load, then store)',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 500,
  scale: { name: 'workers', default: 3, min: 2 },
  variants: [
    { name: 'fixed', description: 'under a mutex', safe: true },
    { name: 'racy', description: 'no mutex', safe: false, expect: ['counter/no-lost-update'] },
  ],
  plugins: () => [counterPlugin()],
  setup(kernel, { variant, scale }) {
    for (let w = 0; w < scale; w++) kernel.spawnKthread(increment(variant === 'fixed', w, 2), { comm: `inc${w}` });
  },
});

/**
 * A grace period that ends only when a long-running kernel thread gets off its CPU: `hog`
 * loops in kernel mode (never a quiescent state by itself), `waiter` runs synchronize_sched,
 * two `other` user tasks compute longer, so one of them always waits for a CPU. In
 * `fixed` the hog is preemptible, so the grace period ends as soon as a schedule preempts it
 * (or when it finishes); in `stuck-reader` the hog loops inside an RCU-sched read section
 * (preemption off), so the grace period cannot end while every other task keeps running.
 */
export const gpHog = defineScenario({
  name: 'gp-hog',
  description: 'a grace period waits for a CPU-bound kernel thread',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 3000,
  variants: [
    { name: 'fixed', description: 'the hog is preemptible', safe: true },
    { name: 'stuck-reader', description: 'the hog loops inside rcu_read_lock_sched', safe: false, expect: ['explore/grace-period-ends'] },
  ],
  plugins: () => [],
  setup(kernel, { variant }) {
    const reader = variant === 'stuck-reader';
    kernel.spawnKthread(
      (function* hog(): KPath<void> {
        if (reader) yield* rcuReadLock();
        for (let i = 0; i < 150; i++) yield* schedPoint();
        if (reader) yield* rcuReadUnlock();
      })(),
      { comm: 'hog' },
    );
    kernel.spawnKthread(
      (function* waiter(): KPath<void> {
        yield* synchronizeRcu();
      })(),
      { comm: 'waiter' },
    );
    for (let o = 0; o < 2; o++) {
      kernel.spawn(
        function* other(u) {
          yield u.compute(300); // user mode: a quiescent state for RCU-sched wherever it runs
        },
        { comm: `other${o}` },
      );
    }
    watchGracePeriods(kernel, 100);
  },
});

/**
 * A preemption point whose runqueue predicate matters: `inc` increments the counter (load, a
 * point, store) while `late` sleeps until `opener` opens the gate and wakes it, then increments
 * too. Three tasks on two CPUs: `late` reaches a CPU either when one frees up or by preempting
 * `inc` at its point, which it may only do once the wake-up has made the runqueue non-empty.
 * `racy` loses an update when `late`'s increment lands between `inc`'s load and store; `fixed`
 * takes the mutex.
 */
export const wakePreempt = defineScenario({
  name: 'wake-preempt',
  description: 'a woken task preempts an incrementer at its point',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 300,
  variants: [
    { name: 'fixed', description: 'under a mutex', safe: true },
    { name: 'racy', description: 'no mutex', safe: false, expect: ['counter/no-lost-update'] },
  ],
  plugins: () => [counterPlugin(), gatePlugin()],
  setup(kernel, { variant }) {
    const locked = variant === 'fixed';
    kernel.spawnKthread(increment(locked, 1, 1), { comm: 'inc' });
    kernel.spawnKthread(
      (function* (): KPath<void> {
        yield* waitEvent('gate', (st) => st.plugins.gate!.open);
        yield* increment(locked, 2, 0);
      })(),
      { comm: 'late' },
    );
    kernel.spawnKthread(
      (function* (): KPath<void> {
        yield* emit({ type: 'gate/open', gate: 'gate' });
        yield* wakeUp('gate');
      })(),
      { comm: 'opener' },
    );
  },
});

/**
 * The local-preemption rule's fixture (docs/explore.md §4a, third pass). One CPU, two kernel
 * threads: `watcher` makes a point, then a step S that logs nothing and writes nothing shared,
 * a point, and a store; `other` (queued behind it) acts only if `watcher` is not done yet, so
 * the first (non-preemptive) run, where `watcher` finishes first, shows no conflict with S.
 * With one CPU only preemptions reorder them, and one final state needs the preemption right
 * before S:
 * - `peek`: S reads the counter (`getState`, no event) and the store writes what it read + 1;
 *   `other` stores 10, and the final 11 needs `watcher` preempted before S.
 * - `clock`: S does nothing; `other` stores the clock (`current().now`), which is one step
 *   earlier when `watcher` is preempted before S than after it.
 * - `private`: S does nothing and `other` opens a gate nobody reads: preempting before S gives
 *   nothing new, so the rule may set those alternatives aside.
 */
export const localSteps = defineScenario({
  name: 'local-steps',
  description: 'a step that logs nothing, and a preemption right before it',
  source: 'test fixture',
  cpus: 1,
  maxSteps: 100,
  variants: [
    { name: 'peek', description: 'the silent step reads the counter', safe: true },
    { name: 'clock', description: 'the other task stores the clock', safe: true },
    { name: 'private', description: 'nothing shared', safe: true },
  ],
  plugins: () => [counterPlugin(), gatePlugin()],
  setup(kernel, { variant }) {
    kernel.spawnKthread(
      (function* watcher(): KPath<void> {
        yield* schedPoint();
        const seen = variant === 'peek' ? (yield* getState()).plugins.counter!.value : 0;
        yield* schedPoint();
        yield* emit({ type: 'counter/store', pid: 1, value: seen + 1 });
        yield* emit({ type: 'counter/done', pid: 1 });
      })(),
      { comm: 'watcher' },
    );
    kernel.spawnKthread(
      (function* other(): KPath<void> {
        if (variant === 'private') {
          yield* emit({ type: 'gate/open', gate: 'gate' });
          return;
        }
        if ((yield* getState()).plugins.counter!.done > 0) return;
        yield* emit({ type: 'counter/store', pid: 2, value: variant === 'peek' ? 10 : 100 + (yield* current()).now });
      })(),
      { comm: 'other' },
    );
  },
});

/**
 * Two sleepers, two wakers, two CPUs (the runqueue's membership objects, docs/explore.md §4a,
 * fourth pass). Each waker opens its own gate and, a step later, wakes its own sleeper; a woken
 * sleeper appends its id to the counter (value * 10 + id, read and stored in one step), so the
 * final counter says which sleeper ran first. `w1` exits after its wake-up; `long` holds its CPU
 * with preemption off for a few steps after its own, so the sleeper it wakes can run only on the
 * CPU `w1` leaves, unless `long` is done first. The two wake-ups queue different tasks and
 * commute (`runq:1`, `runq:2`). A switch that picks from the runqueue reads its whole
 * membership (`runq:*`): `w1`'s exit races with `long`'s wake-up, and only that race's other
 * order lets the freed CPU find both sleepers queued and run `s2` first.
 */
export const wakePick = defineScenario({
  name: 'wake-pick',
  description: 'two wakers each queue their own sleeper; whoever runs first decides the counter',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 300,
  variants: [{ name: 'fixed', description: 'nothing to find: what a search must reach are the final states', safe: true }],
  plugins: () => [counterPlugin(), gatesPlugin()],
  setup(kernel) {
    for (const id of [1, 2])
      kernel.spawnKthread(
        (function* sleeper(): KPath<void> {
          yield* waitEvent(`g${id}`, (st) => st.plugins.gates![`g${id}`] === true);
          const v = (yield* getState()).plugins.counter!.value;
          yield* emit({ type: 'counter/store', pid: id, value: v * 10 + id });
        })(),
        { comm: `s${id}` },
      );
    kernel.spawnKthread(
      (function* w1(): KPath<void> {
        yield* emit({ type: 'gates/open', gate: 'g1' });
        yield* schedPoint(); // the gates share a slice: the wake-up is a step of its own
        yield* wakeUp('g1');
      })(),
      { comm: 'w1' },
    );
    kernel.spawnKthread(
      (function* long(): KPath<void> {
        yield* preemptDisable();
        yield* emit({ type: 'gates/open', gate: 'g2' });
        yield* schedPoint();
        yield* wakeUp('g2');
        for (let i = 0; i < 3; i++) yield* schedPoint();
        yield* preemptEnable();
      })(),
      { comm: 'long' },
    );
  },
});

/**
 * A window a kthread opens and closes again, and an idle loop that looks through it: the idle
 * tap reads the window and logs `window/seen` if it finds it open, which the invariant refuses.
 * Only a pass of the other CPU's idle loop between the open and the close sees it (the idle CPU
 * runs a pass when it goes idle, at boot included, and then halts: docs/core.md decision 21).
 * In the default schedule the other CPU's boot pass is still due when the kthread exits: the
 * run drains it then (decision 22), with the window closed, and only a race with the open or
 * the close moves it to where it fails.
 */
export const idleWindow = defineScenario({
  name: 'idle-window',
  description: 'a kthread opens and closes a window; an idle pass that sees it open fails',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [{ name: 'racy', description: 'the window opens with the idle CPU free to look', safe: false, expect: ['window/never-seen'] }],
  plugins: () => [
    definePlugin<Record<string, never>, { open: boolean; seen: boolean }>({
      name: 'window',
      version: '0.1.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({ open: false, seen: false });
        ctx.onReset();
        ctx.on('window/set', (s, e) => {
          s.open = e.open;
        });
        ctx.on('window/seen', (s) => {
          s.seen = true;
        });
        ctx.tap('idle', function* ({ cpu }) {
          if ((yield* getState()).plugins.window!.open) yield* emit({ type: 'window/seen', onCpu: cpu });
        });
        ctx.invariant('window/never-seen', (st) => (st.plugins.window!.seen ? 'an idle pass saw the window open' : null));
        return {};
      },
    }),
  ],
  setup(kernel, { scale }) {
    kernel.spawnKthread(
      (function* opener(): KPath<void> {
        yield* schedPoint();
        yield* emit({ type: 'window/set', open: true });
        yield* schedPoint();
        yield* emit({ type: 'window/set', open: false });
        yield* schedPoint();
      })(),
      // Scale: the CPU it is bound to, plus one (1: CPU 0, 2: CPU 1).
      { comm: 'opener', cpu: scale - 1 },
    );
  },
  scale: { name: 'cpu', default: 1, min: 1 },
});

/**
 * An idle pass that spans a scheduling point: CPU 0's idle tap opens a pane, reaches a point and
 * closes it, while the run's only task, bound to CPU 1, exits after one step. A run that ended
 * at that exit could end with the pane open (CPU 0 halfway through its pass), a final state no
 * race with the task names; the drain (docs/core.md decision 22) finishes the pass, so every
 * run ends with the pane closed, as every maximal run of the unreduced search does.
 */
export const halfPass = defineScenario({
  name: 'half-pass',
  description: 'an idle pass opens a pane and closes it a scheduling point later; the only task exits meanwhile',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 200,
  variants: [{ name: 'only', description: 'the one configuration', safe: true }],
  plugins: () => [
    definePlugin<Record<string, never>, { open: boolean; passes: number }>({
      name: 'pane',
      version: '0.1.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({ open: false, passes: 0 });
        ctx.onReset();
        ctx.on('pane/set', (s, e) => {
          s.open = e.open;
          if (!e.open) s.passes++;
        });
        ctx.tap('idle', function* ({ cpu }) {
          if (cpu !== 0) return;
          yield* emit({ type: 'pane/set', open: true });
          yield* schedPoint();
          yield* emit({ type: 'pane/set', open: false });
        });
        return {};
      },
    }),
  ],
  setup(kernel) {
    kernel.spawnKthread(
      (function* short(): KPath<void> {
        yield* schedPoint();
      })(),
      { comm: 'short', cpu: 1 },
    );
  },
});

/**
 * A step left to the drain, behind a pass that polls (the second review of the drain): the only
 * task, bound to CPU 1, queues an IPI for CPU 0 without waiting, marks itself the last, and
 * exits; CPU 1's idle pass then polls, scheduling point after point, until the IPI's function
 * has raised the flag, which the invariant refuses. The non-preemptive default keeps stepping
 * CPU 1, so the default run is cut at `maxSteps` in the drain with the IPI never taken: a run
 * that is not maximal, whose pending IPI only the cut rule (explore dpor.ts `pendingAtCut`)
 * tries. Variant `alive`: the sender itself polls after queuing the IPI (no idle pass polls), so
 * the run is cut with the task alive and CPU 0 idle with nothing queued but the IPI.
 */
export const ipiDrain = defineScenario({
  name: 'ipi-drain',
  description: 'an IPI left to the drain, behind an idle pass that polls until it lands',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 60,
  variants: [
    { name: 'racy', description: 'the IPI raises what the invariant refuses', safe: false, expect: ['flagpole/never-raised'] },
    { name: 'alive', description: 'the same, with the sender polling', safe: false, expect: ['flagpole/never-raised'] },
  ],
  plugins: () => [
    definePlugin<Record<string, never>, { last: boolean; raised: boolean }>({
      name: 'flagpole',
      version: '0.1.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({ last: false, raised: false });
        ctx.onReset();
        ctx.on('flagpole/last', (s) => {
          s.last = true;
        });
        ctx.on('flagpole/raise', (s) => {
          s.raised = true;
        });
        ctx.tap('idle', function* ({ cpu }) {
          if (cpu !== 1) return;
          for (;;) {
            const p = (yield* getState()).plugins.flagpole!;
            if (!p.last || p.raised) return;
            yield* schedPoint();
          }
        });
        ctx.invariant('flagpole/never-raised', (st) => (st.plugins.flagpole!.raised ? 'the IPI raised the flag' : null));
        return {};
      },
    }),
  ],
  setup(kernel, { variant }) {
    kernel.spawnKthread(
      (function* sender(): KPath<void> {
        yield* schedPoint();
        yield* smpCallFunctionSingle(
          0,
          function* (): KPath<void> {
            yield* emit({ type: 'flagpole/raise', by: 'ipi' });
          },
          false,
        );
        if (variant === 'alive') {
          while (!(yield* getState()).plugins.flagpole!.raised) yield* schedPoint();
          return;
        }
        yield* emit({ type: 'flagpole/last', by: 'sender' });
      })(),
      { comm: 'sender', cpu: 1 },
    );
  },
});

/**
 * A check that reads only thread flags (core `InvariantOptions.reads`): two kernel threads, each
 * bound to its CPU. `early` sets flag Y, makes a point, then sets X; `late` sets X. The check
 * refuses "`late` has X while `early` has Y and not X", a state only an interleaving of late's
 * step between early's two passes through (two preemptions). The flag steps touch only their own
 * records (`task:<pid>`, `tflags:<pid>`). Variants: `declared` (the check declares `tflags:*`),
 * `recorded` (no declaration: what the view sees it read, the task table, is observed). (A third
 * that declared nothing was found as well: on so small a fixture the switch-ins' and exits'
 * races reorder these steps without the check, so it could not show the contract's role; the
 * observed-set test and the scenarios' tflags audit do.)
 */
export const flagPair = defineScenario({
  name: 'flag-pair',
  description: 'a flags-only check ordering steps that touch different task records',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 60,
  variants: [
    { name: 'declared', description: 'the check declares tflags:*', safe: false, expect: ['flag-pair/order'] },
    { name: 'recorded', description: 'the check declares nothing; its reads are recorded', safe: false, expect: ['flag-pair/order'] },
  ],
  plugins: (variant) => [
    definePlugin<Record<string, never>, Record<string, never>>({
      name: 'flag-pair',
      version: '0.1.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.initSlice({});
        // It finds the two threads by `comm`, which is not among the declared reads: neither
        // task's comm changes in this fixture, so the declaration still covers what can change.
        const check = (s: KernelState): string | null => {
          const byComm = (comm: string) => [...intMapValues(s.tasks)].find((t) => t.comm === comm);
          const late = byComm('late');
          const early = byComm('early');
          return late?.flags['X'] === true && early?.flags['Y'] === true && early.flags['X'] !== true ? "late set X between early's Y and X" : null;
        };
        if (variant === 'recorded') ctx.invariant('flag-pair/order', check);
        else ctx.invariant('flag-pair/order', check, { reads: ['tflags:*'] });
        return {};
      },
    }),
  ],
  setup(kernel) {
    // The event itself, not setThreadFlag: its look-up reads the task table, which would order
    // the steps without the check.
    const set = function* (flag: string): KPath<void> {
      const me = (yield* current()).pid;
      yield* emit({ type: 'task/flags', pid: me, set: [flag], clear: [] });
    };
    kernel.spawnKthread(
      (function* early(): KPath<void> {
        yield* schedPoint();
        yield* set('Y');
        yield* schedPoint();
        yield* set('X');
        yield* schedPoint();
      })(),
      { comm: 'early', cpu: 0 },
    );
    kernel.spawnKthread(
      (function* late(): KPath<void> {
        yield* schedPoint();
        yield* set('X');
        yield* schedPoint();
      })(),
      { comm: 'late', cpu: 1 },
    );
  },
});

/**
 * Steps that only the checks order (docs/explore.md §4a, thirteenth pass). Two kernel threads, one
 * step of work each after a scheduling point: `a` (CPU 1) writes one object, `b` (CPU 0) another,
 * and nothing else they do touches the other's objects. Whether DPOR runs them in both orders
 * depends only on who reads the two objects after each step. Variants:
 * - `flags`: each sets a thread flag on itself (`task/flags`: `tflags:<pid>`); one check, declaring
 *   `tflags:*`, refuses "a has A while b is listed without B" (b is listed from its first step to
 *   its exit). Unsafe: found only if a's flag step is raced with b's, which only the check's
 *   declared read (and the core's `tflags` writes) can make happen.
 * - `joined`: each emits its plugin's event (`plugin:order-a`, `plugin:order-b`); plugin order-a's
 *   check reads both slices and refuses "a done while b not". Unsafe, for the same reason.
 *   `joined-crowded`: the same behind 40 plugins that each check their own slice.
 * - `one-owner`: the same steps; plugin order-a registers two checks, one per slice, that never
 *   fail. One owner's checks read both objects: the steps are raced.
 * - `two-owners`: the same, each plugin's check reading its own slice: no owner reads both, so
 *   the steps commute, as with no checks at all (`unchecked`).
 */
export const checkOrder = defineScenario({
  name: 'check-order',
  description: 'two steps on different objects, ordered only by the checks that read them',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 40,
  variants: [
    { name: 'flags', description: 'one check declares tflags:*', safe: false, expect: ['check-order/between'] },
    { name: 'joined', description: 'one plugin check reads both slices', safe: false, expect: ['check-order/between'] },
    {
      name: 'joined-crowded',
      description: 'joined, behind 40 plugins with checks of their own',
      safe: false,
      expect: ['check-order/between'],
    },
    { name: 'one-owner', description: 'two checks of one plugin, one slice each', safe: true },
    { name: 'two-owners', description: 'a check per plugin, its own slice', safe: true },
    { name: 'unchecked', description: 'the same steps, no checks', safe: true },
  ],
  plugins: (variant) => {
    const slice = (name: 'order-a' | 'order-b') =>
      definePlugin<Record<string, never>, { done: boolean }>({
        name,
        version: '0.1.0',
        core: '^0.1.0',
        register(ctx) {
          ctx.initSlice({ done: false });
          ctx.on(`${name}/done`, (s) => {
            s.done = true;
          });
          const a = (st: KernelState): boolean => st.plugins['order-a']!.done;
          const b = (st: KernelState): boolean => st.plugins['order-b']!.done;
          if (name === 'order-a' && variant === 'flags') {
            // Listed tasks only (what `tflags` covers): b is listed from its first step to its exit.
            const listed = (st: KernelState, comm: string) => [...intMapValues(st.tasks)].find((t) => t.comm === comm && t.listed);
            const between = (st: KernelState): boolean => {
              const b = listed(st, 'b');
              return listed(st, 'a')?.flags['A'] === true && b !== undefined && b.flags['B'] !== true;
            };
            ctx.invariant('check-order/between', (st) => (between(st) ? 'a set A while b ran without B' : null), { reads: ['tflags:*'] });
          } else if (name === 'order-a' && (variant === 'joined' || variant === 'joined-crowded')) {
            ctx.invariant('check-order/between', (st) => (a(st) && !b(st) ? 'a done before b' : null));
          } else if (variant === 'one-owner' && name === 'order-a') {
            // Checks that hold on every state (a slice's `done` is a boolean): only what they read matters here.
            ctx.invariant('check-order/a-only', (st) => (typeof a(st) !== 'boolean' ? 'order-a: done is not a boolean' : null));
            ctx.invariant('check-order/b-only', (st) => (typeof b(st) !== 'boolean' ? 'order-b: done is not a boolean' : null));
          } else if (variant === 'two-owners') {
            const mine = name === 'order-a' ? a : b;
            ctx.invariant(`check-order/${name}`, (st) => (typeof mine(st) !== 'boolean' ? `${name}: done is not a boolean` : null));
          }
          return {};
        },
      });
    // Owners met before order-a's: its checks are the 41st owner, past the 32 bits DPOR keeps
    // one per owner (so past 8 too), which then share bits.
    const crowd =
      variant !== 'joined-crowded'
        ? []
        : Array.from({ length: 40 }, (_, i) =>
            definePlugin<Record<string, never>, Record<string, never>>({
              name: `crowd-${i}`,
              version: '0.1.0',
              core: '^0.1.0',
              register(ctx) {
                ctx.initSlice({});
                ctx.invariant(`crowd-${i}/quiet`, (st) => (st.plugins[`crowd-${i}`] === undefined ? 'no slice' : null));
                return {};
              },
            }),
          );
    return [...crowd, slice('order-a'), slice('order-b')];
  },
  setup(kernel, { variant }) {
    const work = (who: 'a' | 'b') =>
      function* (): KPath<void> {
        yield* schedPoint();
        if (variant === 'flags') {
          // The event itself, not setThreadFlag: its look-up reads the task table.
          const me = (yield* current()).pid;
          yield* emit({ type: 'task/flags', pid: me, set: [who.toUpperCase()], clear: [] });
        } else yield* emit({ type: who === 'a' ? 'order-a/done' : 'order-b/done', by: who });
        yield* schedPoint();
      };
    kernel.spawnKthread(work('b')(), { comm: 'b', cpu: 0 });
    kernel.spawnKthread(work('a')(), { comm: 'a', cpu: 1 });
  },
});

/** The stash-read fixture, in plain JS so that the CLI's tests load it by module path too. */
export { stashRead } from './fixtures/stash-read.mjs';

/** The sleep-poll fixture, in plain JS for the same reason: a poller whose default continuation starves the CPU it waits for. */
export { sleepPoll } from './fixtures/sleep-poll.mjs';

/** The alarm-starve fixture, in plain JS as sleep-poll is: a grace period a schedule holds up by never stepping the reader it waits for. */
export { alarmStarve } from './fixtures/alarm-starve.mjs';
