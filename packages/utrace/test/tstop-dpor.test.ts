/**
 * DPOR against the unreduced DFS on utrace's stop and kill paths, where `utrace/stopped` and
 * `utrace/flags` declare `tstop:*` instead of the task table (docs/explore.md §4a, thirteenth
 * pass). A task stops itself (SIGSTOP); a tracer makes the stop its engine's (control STOP), then
 * lets it go (RESUME) and detaches; a third task sends SIGKILL. With the `controlSkipsReset`
 * fault, RESUME clears ENGINE_STOP and leaves the task in TASK_TRACED: `utrace/stopped` fails then
 * unless the SIGKILL is already pending, so whether it fails depends on the order of the kill and
 * the RESUME. What this does not show: that the `tstop` parts are needed. The tracer's paths read
 * the task's record, which orders these steps by itself; with the stop bits taken out of `tstop`,
 * or the checks' observed objects ignored altogether, it still passes (checked). The audits in
 * tstop-footprint.test.ts guard the parts; this guards DPOR's footprints of the signal, stop and
 * wake-up paths, which no other reduced-against-unreduced test ran.
 */
import { describe, expect, it } from 'vitest';
import { EINPROGRESS, SIGKILL, schedPoint, type Kernel, type KPath } from '@tracelab/core';
import { auditReduction, defineScenario } from '@tracelab/explore';
import { UTRACE_ATTACH_CREATE, UTRACE_DETACH, UTRACE_EVENT_QUIESCE, UTRACE_INVARIANTS, UTRACE_RESUME, UTRACE_STOP, utrace } from '@tracelab/utrace';
import { withFaults } from '../src/internal/faults.js';
import { selfStopper, sender } from './helpers.js';

/** The tracer: attach, make the stop its engine's (retrying while it is not stopped yet), resume, detach. */
function* tracer(k: Kernel, pid: number): KPath<void> {
  const u = k.api.utrace;
  const e = yield* u.attachTask(pid, UTRACE_ATTACH_CREATE, { name: 'tstop' }, null);
  if (typeof e === 'number') return;
  if ((yield* u.setEvents(pid, e, UTRACE_EVENT_QUIESCE)) === 0) {
    for (let i = 0; i < 8; i++) {
      const r = yield* u.control(pid, e, UTRACE_STOP);
      if (r !== -EINPROGRESS) break;
      yield* schedPoint();
    }
    yield* u.control(pid, e, UTRACE_RESUME);
  }
  yield* u.control(pid, e, UTRACE_DETACH);
  yield* u.enginePut(e);
}

const stopKill = defineScenario({
  name: 'utrace-stop-kill',
  description: 'a stop made an engine’s, resumed, and a SIGKILL racing the resume',
  source: 'test fixture',
  cpus: 2,
  maxSteps: 400,
  variants: [
    { name: 'fixed', description: 'utrace as it is', safe: true },
    { name: 'skips-reset', description: 'controlSkipsReset: RESUME leaves the task in TASK_TRACED', safe: false, expect: [UTRACE_INVARIANTS.stopped] },
  ],
  plugins: (variant) => [utrace(variant === 'skips-reset' ? withFaults({}, { controlSkipsReset: true }) : {})],
  setup(kernel) {
    const pid = kernel.spawn(selfStopper, { comm: 'stopper' });
    kernel.spawnKthread(tracer(kernel, pid), { comm: 'tracer' });
    kernel.spawn(sender(pid, SIGKILL), { comm: 'kill' });
  },
});

describe('utrace-stop-kill: DPOR reaches what the unreduced DFS reaches on the stop, kill and resume paths', () => {
  for (const [variant, bound] of [
    ['fixed', 1],
    ['skips-reset', 1],
    ['skips-reset', 2],
  ] as const) {
    it(`${variant}, bound ${bound}: the same final states and violations`, () => {
      const a = auditReduction(stopKill, { variant, bound });
      expect(a.missed).toEqual([]);
      expect(a.extra).toEqual([]);
      expect(a.agrees).toBe(true);
      expect(a.dfs.cut, 'runs cut at maxSteps').toBe(0);
      expect(a.dpor.cut, 'runs cut at maxSteps').toBe(0);
      expect(a.dpor.schedules).toBeLessThanOrEqual(a.dfs.schedules);
      if (variant === 'skips-reset') expect(a.dfs.violations).toEqual([UTRACE_INVARIANTS.stopped]);
      // Not every schedule fails: the kill can come first.
      expect(a.dfs.states).toBeGreaterThan(0);
    }, 300_000);
  }
});
