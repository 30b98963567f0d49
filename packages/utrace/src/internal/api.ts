import type { PluginContext } from '@tracelab/core';
import type { UtraceApi, UtraceEngine, UtraceState } from '../events.js';
import { utraceEnginePut } from '../utrace-engine.js';
import { utraceAttachTask, utraceBarrier, utraceControl, utraceFinishExamine, utracePrepareExamine, utraceSetEvents, utraceWaitForStop } from '../utrace.js';
import { INITIAL_UTRACE_STATE } from './reducers.js';
import type { Utrace } from './state.js';

/** `kernel.api.utrace`: the kernel paths of ../utrace.ts bound to this kernel's plugin state, and the host-side reads of the slice. */
export function utraceApi(ctx: PluginContext<UtraceState>, ut: Utrace): UtraceApi {
  const slice = (): UtraceState => ctx.slice() ?? INITIAL_UTRACE_STATE;
  return {
    attachTask: (pid, flags, ops, data) => utraceAttachTask(ut, pid, flags, ops, data),
    setEvents: (pid, engine, mask) => utraceSetEvents(ut, pid, engine, mask),
    control: (pid, engine, action) => utraceControl(ut, pid, engine, action),
    barrier: (pid, engine) => utraceBarrier(pid, engine),
    prepareExamine: (pid, engine) => utracePrepareExamine(pid, engine),
    finishExamine: (pid, engine, examiner) => utraceFinishExamine(pid, engine, examiner),
    enginePut: (engine) => utraceEnginePut(ut, engine),
    waitForStop: (pid) => utraceWaitForStop(pid),
    engineState: (engine: UtraceEngine | number) => slice().engines[typeof engine === 'number' ? engine : engine.id],
    taskState: (pid: number) => slice().tasks[pid],
    engines: (pid: number) => {
      const t = slice().tasks[pid];
      if (t === undefined) return [];
      return [...t.attached, ...t.attaching].map((id) => ut.registry.get(id)?.handle).filter((h): h is UtraceEngine => h !== undefined);
    },
  };
}
