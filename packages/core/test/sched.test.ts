import { describe, expect, it } from 'vitest';
import {
  callRcu,
  copyFromUser,
  createKernel,
  current,
  definePlugin,
  emit,
  getState,
  intMapGet,
  kthreadRun,
  CLONE_VFORK,
  ENOSYS,
  msleep,
  printk,
  preemptDisable,
  preemptEnable,
  rcuReadLock,
  rcuReadUnlock,
  synchronizeRcu,
  type HookArgs,
  type KernelEvent,
} from '@tracelab/core';
import { SEEDS, points, printks, say, shell, expectClean } from './helpers.js';

declare module '@tracelab/core' {
  interface EventMap {
    'probe/fork-stage': { stage: 'dup' | 'link'; parent: number; child: number; listed: boolean; writer: number | null };
    'probe/copy': { notCopied: number; data: string; preemptCount: number };
  }
}

describe('preemption', () => {
  it('never preempts a CPU whose preempt count is above zero, and does preempt otherwise', () => {
    let preemptions = 0;
    for (const seed of SEEDS(30)) {
      const k = createKernel({ cpus: 2, seed });
      for (let i = 0; i < 3; i++) {
        k.spawnKthread(
          (function* () {
            for (let r = 0; r < 3; r++) {
              yield* preemptDisable();
              yield* points(4);
              yield* preemptEnable();
              yield* points(4);
            }
          })(),
        );
      }
      k.spawn(shell);
      const res = k.run();
      expectClean(k, res);
      for (const e of k.log) {
        if (e.type !== 'sched/switch' || !e.preempted) continue;
        preemptions++;
        expect(k.stateAt(e.seq - 1).cpus[e.cpu]!.preemptCount).toBe(0);
      }
    }
    expect(preemptions).toBeGreaterThan(30);
  });
});

describe('RCU-sched', () => {
  it('never ends a grace period while a reader that began before it is still inside', () => {
    let overlapped = 0;
    for (const seed of SEEDS(60)) {
      const k = createKernel({ cpus: 3, seed });
      for (let i = 0; i < 2; i++) {
        k.spawnKthread(
          (function* () {
            for (let r = 0; r < 2; r++) {
              yield* rcuReadLock();
              yield* say(`in ${i}`);
              yield* points(5);
              yield* say(`out ${i}`);
              yield* rcuReadUnlock();
              yield* points(2);
            }
          })(),
        );
      }
      let invoked = -1;
      k.spawnKthread(
        (function* () {
          yield* points(3);
          yield* callRcu(function* () {
            invoked = (yield* getState()).clock.now;
          }, 'test');
          yield* synchronizeRcu();
          yield* say('synced');
        })(),
      );
      const res = k.run();
      expectClean(k, res);
      expect(invoked).toBeGreaterThan(0);
      // Reader sections as [in, out] seqs, and grace periods as [start, end] seqs.
      const sections: Array<[number, number]> = [];
      const open = new Map<string, number>();
      for (const p of printks(k)) {
        if (p.text.startsWith('in ')) open.set(p.text.slice(3), p.seq);
        if (p.text.startsWith('out ')) sections.push([open.get(p.text.slice(4))!, p.seq]);
      }
      for (const e of k.log) {
        if (e.type !== 'rcu/gp-end') continue;
        const start = k.log.find((s): s is KernelEvent<'rcu/gp-start'> => s.type === 'rcu/gp-start' && s.gp === e.gp)!;
        for (const [inSeq, outSeq] of sections) {
          if (inSeq < start.seq && outSeq > start.seq) {
            overlapped++;
            expect(outSeq).toBeLessThan(e.seq);
          }
        }
      }
    }
    expect(overlapped).toBeGreaterThan(5);
  });
});

describe('copyFromUser', () => {
  const probe = definePlugin({
    name: 'probe',
    version: '1.0.0',
    core: '^0.1.0',
    register(ctx) {
      ctx.declareEvents(['probe/copy']);
      // A syscall that copies with preemption disabled, as a non-faultable probe would.
      ctx.defineSyscall('atomic_copy', function* (args) {
        yield* preemptDisable();
        const r = yield* copyFromUser(args['path'] ?? 0, 16);
        const me = yield* current();
        yield* preemptEnable();
        yield* emit({ type: 'probe/copy', notCopied: r.notCopied, data: r.data, preemptCount: me.preemptCount });
        return r.notCopied;
      });
    },
  });

  it('faults and sleeps, and the task can resume on another CPU', () => {
    let migrated = 0;
    for (const seed of SEEDS(30)) {
      const k = createKernel({ cpus: 2, seed });
      k.spawn(shell);
      k.spawn(function* busy(u) {
        yield u.compute(40);
      });
      expectClean(k, k.run());
      const faultCpu = new Map<number, number>();
      for (const e of k.log) {
        if (e.type === 'fault/page' && !e.user) faultCpu.set(e.pid, e.cpu);
        if (e.type === 'fault/resolved' && !e.user && faultCpu.has(e.pid) && faultCpu.get(e.pid) !== e.cpu) migrated++;
      }
      // The opened path arrived intact through the fault.
      const opens = k.log
        .filter((e): e is KernelEvent<'fs/open'> => e.type === 'fs/open')
        .map((e) => e.path)
        .sort();
      expect(opens).toEqual(['/src/file0.c', '/src/file1.c', '/src/file2.c']);
    }
    expect(migrated).toBeGreaterThan(0);
  });

  it('with preemption disabled, stops at a missing page instead of sleeping', () => {
    const k = createKernel({ cpus: 1, seed: 3, plugins: [probe] });
    k.spawn(function* p(u) {
      yield u.syscall('atomic_copy', { path: '/etc/hosts' });
      yield u.syscall('open', { path: '/etc/hosts' }); // faults the page in, sleeping
      yield u.exit(0);
    });
    expectClean(k, k.run());
    const copy = k.log.find((e): e is KernelEvent<'probe/copy'> => e.type === 'probe/copy')!;
    expect(copy.notCopied).toBe(16);
    expect(copy.data).toBe('');
    expect(copy.preemptCount).toBe(1);
    // No sleep happened inside the atomic copy: its syscall made no page fault.
    const sysEnter = k.log.findIndex((e) => e.type === 'syscall/enter' && e.name === 'atomic_copy');
    const sysExit = k.log.findIndex((e) => e.type === 'syscall/exit' && e.name === 'atomic_copy');
    expect(k.log.slice(sysEnter, sysExit).some((e) => e.type === 'fault/page' || e.type === 'task/sleep')).toBe(false);
    expect(k.log.some((e) => e.type === 'fault/page' && !e.user)).toBe(true);
  });
});

describe('fork', () => {
  it('runs the dup stage outside the tasklist lock and the link stage under its write lock, in that order', () => {
    const stages = definePlugin({
      name: 'probe',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.declareEvents(['probe/fork-stage']);
        for (const stage of ['dup', 'link'] as const) {
          ctx.tap(
            'fork',
            function* ({ parent, child }) {
              const s = yield* getState();
              const lock = s.locks['tasklist_lock'];
              const writer = lock !== undefined && lock.kind !== 'mutex' ? lock.writer : null;
              const listed = intMapGet(s.tasks, child)?.listed === true;
              yield* emit({ type: 'probe/fork-stage', stage, parent, child, listed, writer });
            },
            { stage },
          );
        }
      },
    });
    for (const seed of SEEDS(10)) {
      const k = createKernel({ cpus: 2, seed, plugins: [stages] });
      k.spawn(shell);
      expectClean(k, k.run());
      const byChild = new Map<number, Array<KernelEvent<'probe/fork-stage'>>>();
      for (const e of k.log) if (e.type === 'probe/fork-stage') byChild.set(e.child, [...(byChild.get(e.child) ?? []), e]);
      // The shell's three forks, and the shell itself: the host started it, so it ran both
      // stages as its own first code (parent 0), taking the tasklist lock itself.
      expect(byChild.size).toBe(4);
      for (const [child, evs] of byChild) {
        expect(evs.map((e) => e.stage)).toEqual(['dup', 'link']);
        const [dup, link] = evs as [KernelEvent<'probe/fork-stage'>, KernelEvent<'probe/fork-stage'>];
        expect(dup.listed).toBe(false);
        expect(dup.writer).toBe(null);
        expect(link.listed).toBe(true);
        if (link.parent === 0) {
          expect(link.writer).toBe(child);
          // Nothing of its program ran before: its first syscall comes after the link stage.
          const first = k.log.find((e) => e.type === 'syscall/enter' && e.pid === child)!;
          expect(first.seq).toBeGreaterThan(link.seq);
          continue;
        }
        expect(link.writer).toBe(link.parent);
        const wake = k.log.find((e) => e.type === 'sched/wakeup' && e.pid === child)!;
        expect(wake.seq).toBeGreaterThan(link.seq);
      }
      expect([...byChild.values()].filter((evs) => evs[0]!.parent === 0).length).toBe(1);
    }
  });

  it('runs prelock before the write lock and prelink under it, before the insertion, only for taps that name them; other stacks log as before', () => {
    const seen: Array<{ stage: string; parent: number; child: number; listed: boolean; writer: number | null }> = [];
    const stages = (all: boolean) =>
      definePlugin({
        name: 'probe',
        version: '1.0.0',
        core: '^0.1.0',
        register(ctx) {
          const record = function* ({ stage, parent, child }: HookArgs['fork']) {
            const s = yield* getState();
            const lock = s.locks['tasklist_lock'];
            const writer = lock !== undefined && lock.kind !== 'mutex' ? lock.writer : null;
            seen.push({ stage, parent, child, listed: intMapGet(s.tasks, child)?.listed === true, writer });
          };
          if (all) for (const stage of ['prelock', 'prelink'] as const) ctx.tap('fork', record, { stage });
          // A tap with no stage: dup and link only.
          ctx.tap('fork', record);
        },
      });
    const k = createKernel({ cpus: 2, seed: 3, plugins: [stages(true)] });
    k.spawn(shell);
    expectClean(k, k.run());
    const forked = seen.filter((e) => e.parent !== 0);
    expect(forked.length).toBeGreaterThan(0);
    for (const child of new Set(forked.map((e) => e.child))) {
      const evs = forked.filter((e) => e.child === child);
      expect(evs.map((e) => e.stage)).toEqual(['dup', 'prelock', 'prelink', 'link']);
      expect(evs.map((e) => e.listed)).toEqual([false, false, false, true]);
      expect(evs[1]!.writer).toBe(null);
      expect(evs[2]!.writer).not.toBe(null);
    }
    // The same stack without the named stages logs exactly what a stage-less tap did before.
    seen.length = 0;
    const a = createKernel({ cpus: 2, seed: 3, plugins: [stages(false)] });
    a.spawn(shell);
    a.run();
    expect(seen.map((e) => e.stage).filter((x) => x === 'prelock' || x === 'prelink')).toEqual([]);
  });
});

describe('kthreadRun', () => {
  it('starts a kernel thread from kernel code: it gets its own pid, runs concurrently and exits', () => {
    for (const seed of SEEDS(10)) {
      const k = createKernel({ cpus: 2, seed });
      const pid = k.call(
        (function* starter() {
          const child = yield* kthreadRun(
            (function* worker() {
              yield* printk('worker running');
              yield* msleep(2);
              yield* printk('worker done');
            })(),
            'worker/0',
          );
          yield* printk(`started ${child}`);
          return child;
        })(),
        { comm: 'starter' },
      );
      expect(pid).toBeGreaterThan(0);
      const spawned = k.log.find((e) => e.type === 'task/spawned' && e.pid === pid) as KernelEvent<'task/spawned'> | undefined;
      expect(spawned).toMatchObject({ comm: 'worker/0', kthread: true });
      const r = k.run();
      expect(r.done).toBe(true);
      const texts = printks(k).map((p) => p.text);
      expect(texts).toEqual(expect.arrayContaining(['worker running', 'worker done', `started ${pid}`]));
      expect(
        printks(k)
          .filter((p) => p.text.startsWith('worker'))
          .every((p) => p.pid === pid),
      ).toBe(true);
      expect(k.log.some((e) => e.type === 'task/exit' && e.pid === pid)).toBe(true);
      expectClean(k, r);
    }
  });
});

describe('choice context', () => {
  it('tells the strategy which task each option stands for', () => {
    const asked: Array<{ kind: string; n: number; pids: number[]; c: number; at: number; curr: number[]; rq: number[] }> = [];
    // eslint-disable-next-line prefer-const -- assigned once, after the strategy that reads it is made
    let k!: ReturnType<typeof createKernel>;
    const strategy = {
      name: 'recording',
      create(seed: number) {
        let x = seed;
        return {
          choose(kind: string, n: number, pids: readonly number[]) {
            x = (x * 1103515245 + 12345) >>> 0;
            const c = (x >>> 16) % n;
            asked.push({ kind, n, pids: [...pids], c, at: k.log.length, curr: k.state.cpus.map((cpu) => cpu.curr), rq: [...k.state.runqueue] });
            return c;
          },
        };
      },
    };
    k = createKernel({ cpus: 2, seed: 7, strategy });
    for (let i = 0; i < 4; i++) k.spawn(shell, { comm: `sh${i}` });
    expect(k.run().done).toBe(true);
    const kinds = new Set(asked.map((a) => a.kind));
    expect(kinds).toEqual(new Set(['cpu', 'task', 'preempt']));
    for (const a of asked) {
      if (a.kind === 'preempt') expect(a.pids.length).toBeGreaterThanOrEqual(2);
      else expect(a.pids.length).toBe(a.n);
      if (a.kind === 'task') {
        // The chosen runqueue entry is the task the CPU switches to next.
        const sw = k.log.slice(a.at).find((e) => e.type === 'sched/switch') as KernelEvent<'sched/switch'>;
        expect(sw.next).toBe(a.pids[a.c]);
      }
      // Eligible CPUs in id order: their running tasks are a subsequence of the CPUs' tasks.
      if (a.kind === 'cpu') expect(a.curr.filter((pid) => a.pids.includes(pid))).toEqual(expect.arrayContaining(a.pids));
      if (a.kind === 'preempt') {
        expect(a.curr).toContain(a.pids[0]);
        expect(a.pids.slice(1)).toEqual(a.rq);
      }
    }
  });
});

describe('vfork and clone completion', () => {
  it('the parent sleeps from clone until its vfork child execs or exits, and the cloneComplete hook runs first', () => {
    for (const seed of SEEDS(20)) {
      const order: string[] = [];
      const tracer = definePlugin({
        name: 'vforkwatch',
        version: '1.0.0',
        core: '^0.1.0',
        register(ctx) {
          // eslint-disable-next-line require-yield -- a hook handler is a kernel path even when it issues no command
          ctx.tap('fork', function* ({ stage, parent, cloneFlags }) {
            // Parent 0 is the host-started parent's own fork tail; this test watches the vfork.
            if (stage === 'dup' && parent !== 0) order.push(`fork dup flags=${cloneFlags}`);
          });
          ctx.tap('clone', function* ({ child }) {
            const s = yield* getState();
            order.push(`clone child=${intMapGet(s.tasks, child)?.state} listed=${intMapGet(s.tasks, child)?.listed}`);
          });
          ctx.tap('cloneComplete', function* ({ parent, child, cloneFlags }) {
            const s = yield* getState();
            order.push(`complete ${parent}->${child} flags=${cloneFlags} child=${intMapGet(s.tasks, child)?.state}`);
          });
          return {};
        },
      });
      const k = createKernel({ cpus: 2, seed, plugins: [tracer] });
      let childPid = -1;
      k.spawn(function* parent(u) {
        childPid = yield u.vfork(function* child(c) {
          yield c.compute(3);
          yield c.syscall('getpid');
          yield c.exec('/bin/true', function* t(x) {
            yield x.compute(2);
            yield x.exit(0);
          });
        });
        yield u.syscall('getppid');
        yield u.wait();
        yield u.exit(0);
      });
      const r = k.run();
      expectClean(k, r);
      const exec = k.log.find((e) => e.type === 'task/exec' && e.pid === childPid)!;
      const done = k.log.find((e) => e.type === 'fork/vfork-done') as KernelEvent<'fork/vfork-done'>;
      expect(done).toMatchObject({ child: childPid });
      expect(done.seq).toBeGreaterThan(exec.seq);
      // The parent made no syscall between clone and the child's exec.
      const parentPid = done.parent;
      const between = k.log.filter((e) => e.seq > k.log.find((x) => x.type === 'fork/dup')!.seq && e.seq < exec.seq);
      expect(between.some((e) => e.type === 'syscall/enter' && e.pid === parentPid)).toBe(false);
      expect(between.some((e) => e.type === 'syscall/enter' && e.pid === childPid)).toBe(true);
      // The clone syscall returns in the parent only after the vfork completion.
      const cloneExit = k.log.find((e) => e.type === 'syscall/exit' && e.pid === parentPid && e.name === 'clone')!;
      expect(cloneExit.seq).toBeGreaterThan(done.seq);
      expect(order[0]).toBe(`fork dup flags=${CLONE_VFORK}`);
      expect(order[1]).toBe('clone child=new listed=true');
      expect(order[2]).toMatch(new RegExp(`^complete ${parentPid}->${childPid} flags=${CLONE_VFORK} child=`));
    }
  });

  it('a vfork child that exits instead of execing releases its parent too, also when it is done before the parent waits', () => {
    const tracer = definePlugin({
      name: 'slowparent',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        // The parent sleeps after waking the child: the child runs to its exit first.
        ctx.tap('cloneComplete', function* () {
          yield* msleep(20);
        });
        return {};
      },
    });
    const k = createKernel({ cpus: 1, seed: 3, plugins: [tracer] });
    k.spawn(function* parent(u) {
      yield u.vfork(function* child(c) {
        yield c.exit(4);
      });
      const w = yield u.wait();
      yield u.exit(w.status);
    });
    const r = k.run();
    expectClean(k, r);
    const done = k.log.filter((e) => e.type === 'fork/vfork-done');
    expect(done).toHaveLength(1);
    const childExit = k.log.find((e) => e.type === 'task/exit' && e.pid === 2)!;
    expect(childExit).toMatchObject({ code: 4 });
    expect(childExit.seq).toBeLessThan(done[0]!.seq);
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === 1)).toMatchObject({ code: 4 });
  });

  it('a syscallEntry handler that returns abort skips the body: the task sees -ENOSYS', () => {
    const aborter = definePlugin({
      name: 'aborter',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap(
          'syscallEntry',
          // eslint-disable-next-line require-yield -- a hook handler is a kernel path even when it issues no command
          function* ({ name }) {
            return name === 'open' ? ('abort' as const) : undefined;
          },
          { flag: 'TIF_ABORT' },
        );
        ctx.tap('fork', function* ({ stage, child }) {
          if (stage === 'dup') yield* emit({ type: 'task/flags', pid: child, set: ['TIF_ABORT'], clear: [] });
        });
        return {};
      },
    });
    const k = createKernel({ cpus: 1, seed: 1, plugins: [aborter] });
    const rets: number[] = [];
    k.spawn(function* parent(u) {
      yield u.fork(function* child(c) {
        rets.push(yield c.syscall('open', { path: '/etc/passwd', flags: 0 }));
        rets.push(yield c.syscall('getpid'));
        yield c.exit(0);
      });
      yield u.wait();
      yield u.exit(0);
    });
    expectClean(k, k.run());
    expect(rets[0]).toBe(-ENOSYS);
    expect(rets[1]).toBeGreaterThan(0);
    expect(k.log.some((e) => e.type === 'fs/open')).toBe(false);
  });
});
