import { msleep, type KPath, type Program } from '@tracelab/core';
import { defineScenario, watchGracePeriods } from '@tracelab/explore';
import { attachSyscallLogger, detachEngine, utrace, type UtraceApi } from '@tracelab/utrace';

/**
 * A traced task opening `opens` files (the logger's report_syscall_entry reads each path from
 * its memory), then exiting at once: the tracer's detach may meet the running callback, the
 * task's death, or its reap (release_task in its own exit: it has no parent), and must be safe
 * against all three (see docs/scenarios.md).
 */
function app(opens: number): Program {
  return function* app(u) {
    for (let i = 0; i < opens; i++) yield u.syscall('open', { path: `/var/log/app${i}.log`, flags: 0 });
  };
}

/** The tracer (strace): attach the syscall logger, let it watch a tick, detach it and put its reference. */
function* tracer(api: UtraceApi, pid: number, barrier: boolean): KPath<number> {
  const e = yield* attachSyscallLogger(api, pid);
  if (typeof e === 'number') return e;
  yield* msleep(1);
  return yield* detachEngine(api, pid, e, { barrier });
}

/**
 * Detaching an engine whose callback is running (thread 002, "[RFC,PATCH 14/14] utrace core",
 * December 2009): the syscall logger's report_syscall_entry reads the path from the traced
 * task's memory (a scheduling point, and a page-fault sleep on a cold page) while the tracer,
 * on the other CPU or after preempting it, detaches the engine and puts its last reference,
 * which frees the engine's data.
 */
export const detachDuringCallback = defineScenario({
  name: 'detach-during-callback',
  description: "a tracer detaches the syscall logger and puts its last reference while the engine's callback runs on the traced task's CPU (utrace)",
  source: 'shared/seeds/002_22e5d0510c3943e7.txt: [RFC,PATCH 14/14] utrace core',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 400,
  scale: { name: 'opens', default: 3, min: 1 },
  // The tracer's utrace_barrier looks once a tick; nothing else in this stack (no RCU, no switch
  // or wake-up hooks, no other reader of the tracer's task) can tell a failed look from none, so
  // those looks are set aside (docs/core.md, "Poll loops"; docs/explore.md §4a, eighteenth pass:
  // the unreduced DFS reaches the same final states either way at bounds 2 and 3).
  pollLoops: () => 'on-change',
  sourceModule: { module: '@tracelab/scenarios', exportName: 'detachDuringCallback' },
  variants: [
    {
      name: 'fixed',
      description:
        'control(DETACH); on -EINPROGRESS or -ESRCH utrace_barrier() until no callback can come (report_reap included), on -EALREADY detach again; then enginePut',
      safe: true,
    },
    {
      name: 'no-barrier',
      description: 'control(DETACH), then enginePut at once: the last put frees the data the running callback uses',
      safe: false,
      expect: ['utrace/engine-lifetime'],
    },
  ],
  plugins: () => [utrace()],
  setup(kernel, { variant, scale }) {
    const pid = kernel.spawn(app(scale), { comm: 'app' });
    kernel.spawnKthread(tracer(kernel.api.utrace, pid, variant !== 'no-barrier'), { comm: 'tracer' });
    watchGracePeriods(kernel);
  },
});
