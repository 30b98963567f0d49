/**
 * @tracelab/utrace: utrace (UTRACE_API_VERSION 20091216, "[RFC,PATCH 14/14] utrace core") as a
 * tracelab plugin: tracing engines attached per task with event masks and report callbacks,
 * resume actions folded by minimum, stop/resume, detach and utrace_barrier, examine, and the
 * clone/exec/exit/death/reap ordering. See the package README and docs/utrace.md.
 */
import { definePlugin, option, pluginOptions, type TracelabPlugin } from '@tracelab/core';
import type { UtraceApi, UtraceState } from './events.js';
import { utraceApi } from './internal/api.js';
import { registerInvariants } from './internal/check.js';
import { tapHooks } from './internal/hooks.js';
import { registerReducers } from './internal/reducers.js';
import type { Utrace } from './internal/state.js';

export * from './constants.js';
export type {
  UtraceApi,
  UtraceCallbackResult,
  UtraceEngine,
  UtraceEngineOps,
  UtraceEngineState,
  UtraceExaminer,
  UtraceRegs,
  UtraceSigAction,
  UtraceSigInfo,
  UtraceState,
  UtraceTaskState,
} from './events.js';
export { UTRACE_INVARIANTS } from './internal/reducers.js';
export { defaultDisposition } from './utrace-signal.js';
export {
  SYSCALL_LOGGER_OPS,
  PTRACE_OPS,
  attachSyscallLogger,
  ptraceAttach,
  ptraceCont,
  ptraceDetach,
  syscallLoggerOps,
  type PtraceData,
  type SyscallLoggerData,
} from './engines.js';
export { detachEngine, type DetachOptions } from './detach.js';
import { faultsOf } from './internal/faults.js';
export { traceFirstComm, summarizeUtrace, formatUtraceSummary, type TraceFirstCommOptions, type UtraceSummary } from './session.js';

export const UTRACE_VERSION = '0.1.0';

export interface UtraceOptions {
  /**
   * Register the invariants (engine lifetime, stopped-by-an-engine, death before reap, no
   * callback after detach, aggregate is the minimum, utrace_flags cover the masks). Default
   * true. Turn them off only to watch a misbehaving tracer run on past its first violation.
   */
  readonly checks?: boolean;
  /**
   * When `ops.release` runs and the engine's data is freed. `'tracer-put'` (default, what every
   * recorded seed was found with): at the tracer's last enginePut, so a tracer that puts while
   * a callback may still run (a detach that said -EINPROGRESS, no utrace_barrier) frees data the
   * callback uses. `'last-kref'`: as the kernel's engine->release, at the last reference, the
   * attached list's included, so the data outlives every callback.
   */
  readonly releaseAt?: 'tracer-put' | 'last-kref';
}

/** `utrace(options)` resolved: an unknown key and a value of the wrong kind throw `INVALID_OPTION` naming the key and what it accepts. */
const resolveOptions: (options: unknown) => Required<UtraceOptions> = pluginOptions('utrace', {
  checks: option.boolean(true),
  releaseAt: option.oneOf<Required<UtraceOptions>['releaseAt']>('tracer-put', ['tracer-put', 'last-kref']),
});

/**
 * The plugin factory: `createKernel({ plugins: [utrace()] })`, then
 * `kernel.call(kernel.api.utrace.attachTask(pid, UTRACE_ATTACH_CREATE, ops, data))`.
 * Throws `INVALID_OPTION` for an unknown option key, a wrong type, or options that are not an object.
 */
export function utrace(options: UtraceOptions = {}): TracelabPlugin<UtraceApi, UtraceState> {
  const opts = resolveOptions(options);
  const faults = faultsOf(options);
  return definePlugin<UtraceApi, UtraceState>({
    name: 'utrace',
    version: UTRACE_VERSION,
    core: '^0.1.0',
    // releaseAt is recorded only when set, so the logs of runs that do not use it are unchanged.
    options: opts.releaseAt === 'tracer-put' ? { checks: opts.checks } : opts,
    register(ctx) {
      // This kernel's plugin state: the engines' closures by id, and the fixed options.
      const ut: Utrace = { registry: new Map(), faults, releaseAt: opts.releaseAt };
      // Resettable: the engines' closures are the only thing kept outside the slice, and the
      // engines of the previous run are gone with its state.
      ctx.onReset(() => ut.registry.clear());
      registerReducers(ctx);
      tapHooks(ctx, ut);
      if (opts.checks) registerInvariants(ctx);
      return utraceApi(ctx, ut);
    },
  });
}
