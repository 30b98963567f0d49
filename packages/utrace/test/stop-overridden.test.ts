/* eslint-disable require-yield -- engine callbacks are kernel paths (generators) even when they take no scheduling point */
import { describe, expect, test } from 'vitest';
import { msleep, type KPath } from '@tracelab/core';
import { detachEngine, UTRACE_ATTACH_CREATE, UTRACE_EVENT_SYSCALL_ENTRY, UTRACE_RESUME, UTRACE_STOP, type UtraceEngineOps, utrace } from '@tracelab/utrace';
import { kernelWith } from '@tracelab/testing';

/**
 * Found by `tracelab torture` (issue 13; `utrace#22:safe@1:S1:01001010{4}1`): a tracer asks
 * UTRACE_STOP of a running task (-EINPROGRESS: the stop is pending), then the task's next
 * reporting pass starts with the pass action at STOP because the engine holds ENGINE_STOP, and
 * the engine's own callback returns UTRACE_RESUME, which clears its ENGINE_STOP (the callback
 * overrides the tracer's request, as the utrace API allows). No engine wants the task stopped
 * any more, yet it entered TASK_TRACED on the stale ENGINE_STOP bit in utrace_flags and stayed
 * there until the tracer's detach: SEMANTICS 3(d), "a utrace-stopped task has at least one
 * attached engine with ENGINE_STOP" and "the task wakes iff the last ENGINE_STOP clears".
 */
describe("a STOP request overridden by the engine's own callback", () => {
  test('never leaves the task in TASK_TRACED with no engine holding ENGINE_STOP (seeds 1..40, the override happening on some)', () => {
    let overridden = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const k = kernelWith({ plugins: [utrace()], seed, cpus: 2 });
      const api = k.api.utrace;
      const ops: UtraceEngineOps<null> = {
        name: 'overrider',
        *reportSyscallEntry() {
          return UTRACE_RESUME;
        },
      };
      // The app computes in user mode while the tracer asks for the stop, so its next kernel
      // entry is a syscall-entry pass (not the notify-resume pass at a syscall's exit).
      const pid = k.spawn(
        function* app(u) {
          yield u.sleep(2);
          yield u.compute(8);
          for (let i = 0; i < 4; i++) yield u.syscall('getpid');
        },
        { comm: 'app' },
      );
      k.spawnKthread(
        (function* tracer(): KPath<void> {
          const e = yield* api.attachTask(pid, UTRACE_ATTACH_CREATE, ops, null);
          if (typeof e === 'number') throw new Error(`attach: ${e}`);
          yield* api.setEvents(pid, e, UTRACE_EVENT_SYSCALL_ENTRY);
          yield* msleep(3);
          yield* api.control(pid, e, UTRACE_STOP);
          yield* msleep(30);
          yield* detachEngine(api, pid, e);
        })(),
        { comm: 'tracer' },
      );
      const r = k.run();
      // SEMANTICS 3(d) is the oracle: utrace/stopped fires if the task is stopped with no engine holding ENGINE_STOP.
      expect({ seed, violations: r.violations.map((v) => `${v.name}: ${v.message}`) }).toEqual({ seed, violations: [] });
      expect(r.done).toBe(true);
      // The case in point: a syscall-entry pass that began at STOP (the engine held it) and whose callback returned RESUME.
      if (k.log.some((e) => e.type === 'utrace/report' && e.event === 'SYSCALL_ENTRY' && e.held.length > 0 && e.folded.includes(UTRACE_RESUME))) overridden++;
    }
    expect(overridden).toBeGreaterThan(0);
  });
});
