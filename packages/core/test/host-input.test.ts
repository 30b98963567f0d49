import { describe, expect, it } from 'vitest';
import { filter, map } from 'rxjs';
import { createKernel, current, definePlugin, type Program } from '@tracelab/core';
import { shell } from './helpers.js';

/** Issue 13 §4: lenient parsing, re-entrant runs, throwing subscribers, a looping hook. */
describe('host input is checked', () => {
  it('createKernel refuses an unknown key naming it and the accepted ones, and null', () => {
    expect(() => createKernel({ cpu: 4 } as never)).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message:
          'createKernel: unknown option "cpu" (options: cpus, seed, strategy, plugins, faultLatency, faultInjection, logFile, watchdog, interrupts, reclaim, pollLoops)',
      }),
    );
    expect(() => createKernel(null as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/createKernel: options must be an object .* got null/) }),
    );
    expect(() => createKernel({ faultInjection: 'yes' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(createKernel({}).state.cpus).toHaveLength(2);
  });

  it('run refuses a negative, fractional or NaN maxSteps and unknown keys', () => {
    const k = createKernel();
    k.spawn(shell);
    for (const bad of [-5, Number.NaN, 1.5, '10']) {
      expect(() => k.run({ maxSteps: bad as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/run: maxSteps must be a non-negative integer/) }),
      );
    }
    expect(() => k.run({ maxStep: 3 } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/unknown option "maxStep"/) }),
    );
    expect(k.steps).toBe(0);
    expect(k.run({ maxSteps: 0 }).steps).toBe(0);
    expect(k.run().done).toBe(true);
  });
});

describe('subscribers', () => {
  it('a throwing subscriber is contained and reported with who raised it; the run and the process go on', async () => {
    const k = createKernel();
    k.spawn(shell);
    const seen: string[] = [];
    k.events$.subscribe(function countSwitches(e) {
      if (e.type === 'sched/switch') throw new Error('subscriber bug');
    });
    k.events$
      .pipe(
        filter((e) => e.type === 'task/exit'),
        map((e) => e.type),
      )
      .subscribe((t) => seen.push(t));
    k.select((s) => s.clock.now).subscribe(() => {
      throw new Error('state bug');
    });
    const r = k.run();
    expect(r.done).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    const ev = k.subscriberErrors.filter((x) => x.stream === 'events$');
    expect(ev.length).toBeGreaterThan(0);
    expect(ev[0]).toMatchObject({ subscriber: 'countSwitches', message: expect.stringContaining('subscriber bug') });
    expect(k.subscriberErrors.some((x) => x.stream === 'state$' && /subscriber #\d+/.test(x.subscriber) && x.message.includes('state bug'))).toBe(true);
    // Nothing was left for RxJS to throw on a later tick: an uncaught error there fails this test.
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('an operator that throws, with no error handler downstream, is contained too', async () => {
    const k = createKernel();
    k.spawn(shell);
    k.events$
      .pipe(
        map(() => {
          throw new Error('operator bug');
        }),
      )
      .subscribe(function sink() {
        // never reached: the operator throws first
      });
    expect(k.run().done).toBe(true);
    expect(k.subscriberErrors[0]).toMatchObject({
      stream: 'events$',
      subscriber: 'an operator piped before sink',
      message: expect.stringContaining('operator bug'),
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('run or call from a subscriber is refused with RUN_REENTRANT, and the outer run counts right', () => {
    const k = createKernel();
    k.spawn(shell);
    let tried = 0;
    k.events$.subscribe(function nested(e) {
      if (e.type !== 'task/exit') return;
      tried++;
      k.run({ maxSteps: 5 });
    });
    const r = k.run();
    expect(r.done).toBe(true);
    expect(tried).toBeGreaterThan(0);
    expect(k.subscriberErrors.length).toBe(tried);
    for (const x of k.subscriberErrors) expect((x.error as { code?: string }).code).toBe('RUN_REENTRANT');
    expect(k.steps).toBe(r.steps);
  });
});

describe('a hook that loops without a scheduling point', () => {
  it('is a soft lockup naming its plugin, which is disabled; the task and the kernel go on', () => {
    const looper = definePlugin({
      name: 'looper',
      version: '1.0.0',
      core: '^0.1.0',
      register(ctx) {
        ctx.tap('exec', function* spin() {
          for (;;) yield* current();
        });
      },
    });
    const k = createKernel({ cpus: 2, plugins: [looper] });
    const prog: Program = function* sh(u) {
      yield u.exec('ls', function* (u2) {
        yield u2.exec('cat', function* (u3) {
          yield u3.exit(4);
        });
      });
    };
    const pid = k.spawn(prog);
    const r = k.run();
    expect(r.violations).toEqual([]);
    expect(r.done).toBe(true);
    const oops = k.log.filter((e) => e.type === 'kernel/oops');
    expect(oops).toHaveLength(1);
    expect(oops[0]).toMatchObject({
      plugin: 'looper',
      where: 'hook exec',
      killed: null,
      message: expect.stringMatching(/BUG: soft lockup: pid \d+ \(sh\) on cpu \d ran 1000000 commands without a scheduling point/),
    });
    expect(k.state.kernel.disabledPlugins).toHaveProperty('looper');
    expect(k.log.find((e) => e.type === 'task/exit' && e.pid === pid)).toMatchObject({ code: 4 });
  });
});
