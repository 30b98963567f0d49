import { drive, isKPath, type KPath } from '@tracelab/core';
import type { Closure } from './instance.js';

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs a callback to completion inside the GP kthread, forwarding its commands (emit, state,
 * wakeUp...) so that they act as the kthread's. A callback runs with bottom halves disabled in
 * the kernel and must not block: a scheduling command abandons it. Returns null when it
 * completed, else why it failed.
 */
export function* invokeCallback(cb: Closure): KPath<string | null> {
  let gen: KPath<void>;
  try {
    // A plain-function callback has done its work when it returns.
    const out = cb.fn();
    if (!isKPath(out)) return null;
    gen = out as KPath<void>;
  } catch (err) {
    return describe(err);
  }
  // The callback's commands (emit, state, wakeUp...) act as the kthread's; an error a command
  // throws (an undeclared event type, say) goes back into the callback, which may handle it.
  const out = yield* drive(gen, {
    failed: describe,
    atomic: (cmd) => `BUG: callback ${cb.label} tried to sleep or reschedule (${cmd.op}); RCU-tasks callbacks must not block`,
  });
  return out === undefined ? null : out;
}
