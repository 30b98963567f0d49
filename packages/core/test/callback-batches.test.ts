import { describe, expect, it } from 'vitest';
import {
  callbackPath,
  createKernel,
  gpKthread,
  invokeCallbackBatch,
  msleep,
  printk,
  waitEventTimeout,
  wakeUp,
  type CallbackBatch,
  type KPath,
  type QueuedCallback,
} from '@tracelab/core';
import { printks } from './helpers.js';

function* runPlain(cb: QueuedCallback): KPath<string | null> {
  try {
    yield* callbackPath(cb.fn());
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('invokeCallbackBatch', () => {
  it('runs first..last in queue order, takes each out of the map, fails a missing closure, and counts what ran', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    const ran: string[] = [];
    const closures = new Map<number, QueuedCallback>([
      [1, { fn: () => void ran.push('a'), label: 'a' }],
      [
        3,
        {
          fn: () => {
            throw new Error('broke');
          },
          label: 'c',
        },
      ],
      [4, { fn: () => void ran.push('d'), label: 'd' }],
      [5, { fn: () => void ran.push('e'), label: 'e' }],
    ]);
    const reports: Array<[number, string, string | null]> = [];
    const invoked = k.call(
      invokeCallbackBatch(closures, { gp: 1, first: 1, last: 4 }, runPlain, function* (id, label, failure) {
        reports.push([id, label, failure]);
        yield* printk(`report ${id}`);
      }),
    );
    expect(invoked).toBe(2);
    expect(ran).toEqual(['a', 'd']);
    expect(reports).toEqual([
      [1, 'a', null],
      [2, '?', 'callback 2 has no closure (queued by a step that was rolled back)'],
      [3, 'c', 'broke'],
      [4, 'd', null],
    ]);
    expect(printks(k).map((p) => p.text)).toEqual(['report 1', 'report 2', 'report 3', 'report 4']);
    // Only the batch's ids are taken out; a later one stays for the next batch.
    expect([...closures.keys()]).toEqual([5]);
  });
});

describe('gpKthread', () => {
  it('takes everything queued so far, runs a grace period, invokes the batch, again while callbacks come, and exits when none is queued', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    // The list's counters, as a plugin's slice would hold them (written only by this test's hooks).
    const list = { completed: 0, takenThrough: 0, nextCallbackId: 3 };
    const batches: CallbackBatch[] = [];
    let exitedPid = 0;
    const pid = k.spawnKthread(
      gpKthread({
        counters: () => list,
        *exit(p) {
          exitedPid = p;
          yield* printk('exit');
        },
        *gracePeriod(batch) {
          batches.push(batch);
          list.takenThrough = batch.last;
          yield* msleep(1);
          list.completed = batch.gp;
          // A callback queued during the first grace period waits for the next one.
          if (batch.gp === 1) list.nextCallbackId = 4;
        },
        *invoke(batch) {
          yield* printk(`invoke ${batch.first}..${batch.last}`);
        },
      }),
      { comm: 'gp' },
    );
    k.run();
    expect(batches).toEqual([
      { gp: 1, first: 1, last: 2 },
      { gp: 2, first: 3, last: 3 },
    ]);
    expect(exitedPid).toBe(pid);
    expect(printks(k).map((p) => p.text)).toEqual(['invoke 1..2', 'invoke 3..3', 'exit']);
  });
});

describe('waitEventTimeout', () => {
  it('returns true when woken with the condition true, false once the ticks have passed', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    let flag = false;
    const got: Array<[boolean, number]> = [];
    k.spawnKthread(
      (function* () {
        got.push([yield* waitEventTimeout('ch', () => flag, 50), k.state.clock.now]);
        got.push([yield* waitEventTimeout('ch', () => false, 5), k.state.clock.now]);
      })(),
      { comm: 'waiter' },
    );
    k.spawnKthread(
      (function* () {
        yield* msleep(3);
        flag = true;
        yield* wakeUp('ch');
      })(),
      { comm: 'waker' },
    );
    const r = k.run();
    expect(r.done).toBe(true);
    expect(got.map(([ok]) => ok)).toEqual([true, false]);
    // Woken at the waker's tick, long before 50; then gave up 5 ticks after the second call.
    expect(got[0]![1]).toBeLessThan(10);
    expect(got[1]![1] - got[0]![1]).toBeGreaterThanOrEqual(5);
  });
});

describe('gpKthread idle hook', () => {
  it('goes on with the next round when idle says work came, and exits when it says stop', () => {
    const k = createKernel({ cpus: 1, seed: 1 });
    let next = 2; // one callback queued before the start
    let taken = 0;
    let completed = 0;
    const rounds: number[] = [];
    let idles = 0;
    k.spawnKthread(
      gpKthread({
        counters: () => ({ completed, takenThrough: taken, nextCallbackId: next }),
        *idle() {
          yield* msleep(1); // waits a tick for work
          idles++;
          if (idles === 1) {
            next++; // a call came while it was idle
            return true;
          }
          return false;
        },
        *exit() {
          yield* printk('exit');
        },
        *gracePeriod(b: CallbackBatch) {
          taken = b.last;
          completed = b.gp;
          rounds.push(b.gp);
          yield* msleep(1);
        },
        *invoke() {
          yield* printk('invoke'); // nothing to run
        },
      }),
      { comm: 'gp' },
    );
    expect(k.run().done).toBe(true);
    expect(rounds).toEqual([1, 2]);
    expect(idles).toBe(2);
  });
});
