/**
 * The engine's references, after kernel/utrace.c and include/linux/utrace.h: utrace_engine_put
 * (kref_put) and __utrace_engine_release (engine->release, then the engine freed). The tracer
 * holds the references utrace_attach_task gave it; the task's list holds one more until the
 * engine leaves it (utrace_reset after a detach, or utrace_maybe_reap after report_reap).
 */
import { current, emit, getState, type KPath } from '@tracelab/core';
import type { UtraceEngine } from './events.js';
import { engineS, type Utrace } from './internal/state.js';

/**
 * __utrace_engine_release with releaseAt 'last-kref': the list's reference to engine `id` was
 * just dropped (utrace_reset removed it, or utrace_maybe_reap after its report_reap). If the
 * tracer's references are gone too, this was the last kref: engine->release (`ops.release`)
 * runs now. With releaseAt 'tracer-put' this does nothing (the data went at the tracer's put).
 */
export function* utraceEngineRelease(ut: Utrace, id: number): KPath<void> {
  if (ut.releaseAt !== 'last-kref') return;
  const e = engineS(yield* getState(), id);
  const entry = ut.registry.get(id);
  if (e === undefined || e.refs > 0 || e.freed || entry === undefined || entry.released) return;
  const me = yield* current();
  yield* emit({ type: 'utrace/engine-freed', engine: id, by: me.pid });
  entry.released = true;
  entry.handle.ops.release?.(entry.handle.data);
}

/**
 * utrace_engine_put: drops one of the tracer's references. The last one frees the tracer's data
 * (`ops.release(data)`, `utrace/engine-freed`); the engine itself lives on while a list holds
 * it. With releaseAt 'last-kref' the data lives on with it, and goes at utraceEngineRelease.
 * A put with no reference left is a double put: a BUG (thrown, the caller oopses).
 */
export function* utraceEnginePut(ut: Utrace, engine: UtraceEngine): KPath<void> {
  const e = engineS(yield* getState(), engine.id);
  const entry = ut.registry.get(engine.id);
  if (e === undefined || e.freed || e.refs <= 0) {
    throw new Error(`utrace: enginePut on engine ${engine.id}, which has no reference left (a double put)`);
  }
  const refs = e.refs - 1;
  yield* emit({ type: 'utrace/engine-put', engine: engine.id, refs });
  if (refs > 0) return;
  // releaseAt 'last-kref': the list's reference keeps the engine, and its data, alive.
  if (ut.releaseAt === 'last-kref' && e.listed) return;
  // The tracer holds no reference any more: it frees its data. The engine itself is freed
  // when the list's reference goes too (at once if it is off every list already).
  const me = yield* current();
  yield* emit({ type: 'utrace/engine-freed', engine: engine.id, by: me.pid });
  if (entry !== undefined && !entry.released) {
    entry.released = true;
    entry.handle.ops.release?.(entry.handle.data);
  }
}
