import type { KPath } from '@tracelab/core';
import { defineScenario } from '@tracelab/explore';
import { memoryModel, type MemoryModelApi } from '@tracelab/memory-model';

/** What the two sides decided, written once each by its own kernel thread (no sharing in the model). */
interface Outcome {
  /** utrace_add_engine() saw no EXIT_DEAD and kept the engine. */
  attached: boolean | null;
  /** tracehook_prepare_release_task() saw utrace_flags set and called utrace_release_task(). */
  reaped: boolean | null;
}

const PID = 42;
const EXIT_STATE = `task${PID}.exit_state`;
const UTRACE_FLAGS = `task${PID}.utrace_flags`;
const EXIT_DEAD = 'EXIT_DEAD';
const UTRACE_EVENT_REAP = 1;

/**
 * The last of the two sides to finish checks the pairing: an attached engine must be reaped.
 * `done` is a fully ordered counter, so the second one to bump it knows the first has decided.
 */
function* finish(api: MemoryModelApi, out: Outcome): KPath<void> {
  if ((yield* api.atomicAddReturn('done', 1)) < 2) return;
  yield* api.warnOn(
    out.attached === true && out.reaped === false,
    `an engine attached to pid ${PID} while it was being released is never reaped: utrace_add_engine saw no EXIT_DEAD and tracehook_prepare_release_task saw utrace_flags == 0`,
  );
}

/**
 * release_task() -> tracehook_prepare_release_task(): the exit state is stored, then (the
 * barrier the thread argues for) utrace_flags is read to decide whether utrace_release_task()
 * must reap engines.
 */
function* tracehookPrepareReleaseTask(api: MemoryModelApi, barrier: boolean, out: Outcome): KPath<void> {
  yield* api.writeOnce(EXIT_STATE, EXIT_DEAD);
  if (barrier) yield* api.smpMb();
  const flags = yield* api.readOnce(UTRACE_FLAGS);
  out.reaped = flags !== 0; // utrace_release_task() reaps every engine attached so far
  yield* finish(api, out);
}

/**
 * utrace_attach_task() -> utrace_add_engine(): the engine's event bits are stored into
 * utrace_flags, then (the pairing barrier) the exit state is read; a target already
 * EXIT_DEAD fails with -ESRCH and the engine is dropped.
 */
function* utraceAddEngine(api: MemoryModelApi, barrier: boolean, out: Outcome): KPath<void> {
  yield* api.writeOnce(UTRACE_FLAGS, UTRACE_EVENT_REAP);
  if (barrier) yield* api.smpMb();
  const state = yield* api.readOnce(EXIT_STATE);
  out.attached = state !== EXIT_DEAD;
  yield* finish(api, out);
}

const BARRIERS: Readonly<Record<string, { release: boolean; attach: boolean }>> = {
  fixed: { release: true, attach: true },
  'no-release-mb': { release: false, attach: true },
  'no-attach-mb': { release: true, attach: false },
};

/**
 * The smp_mb() pairing of utrace's exit path (thread 002, utrace review, Peter Zijlstra and
 * Oleg Nesterov): store ->exit_state, mb, load ->utrace_flags against store ->utrace_flags,
 * mb, load ->exit_state. It is the store-buffering pattern: with either barrier gone both
 * loads can miss the other side's store, and an engine attached to a task being released is
 * never reaped. A self-contained model of the pairing on the memory-model plugin (the utrace
 * plugin itself is not rewired).
 */
export const utraceExitFlags = defineScenario({
  name: 'utrace-exit-flags',
  description: 'release_task stores the exit state and reads utrace_flags while utrace_add_engine stores utrace_flags and reads the exit state (memory-model)',
  source: 'shared/seeds/002_22e5d0510c3943e7.txt: utrace review, tracehook_prepare_release_task / utrace_add_engine barrier pairing',
  cpus: 2,
  symmetricCpus: true,
  maxSteps: 400,
  sourceModule: { module: '@tracelab/scenarios', exportName: 'utraceExitFlags' },
  variants: [
    { name: 'fixed', description: 'smp_mb() on both sides: at least one side sees the other store', safe: true },
    {
      name: 'no-release-mb',
      description: 'tracehook_prepare_release_task without its smp_mb(): store buffering',
      safe: false,
      expect: ['memory-model/warn-on'],
    },
    { name: 'no-attach-mb', description: 'utrace_add_engine without its smp_mb(): store buffering', safe: false, expect: ['memory-model/warn-on'] },
  ],
  plugins: () => [memoryModel()],
  setup(kernel, { variant }) {
    const api = kernel.api['memory-model'];
    const b = BARRIERS[variant] ?? BARRIERS.fixed!;
    const out: Outcome = { attached: null, reaped: null };
    kernel.spawnKthread(tracehookPrepareReleaseTask(api, b.release, out), { comm: 'release_task' });
    kernel.spawnKthread(utraceAddEngine(api, b.attach, out), { comm: 'utrace_attach' });
  },
});
