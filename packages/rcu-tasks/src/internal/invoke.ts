import { isKPath, type Command, type KPath } from '@tracelab/core';
import type { Closure } from './instance.js';

const SCHEDULING: ReadonlySet<Command['op']> = new Set(['point', 'switch', 'spin']);

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
  let input: unknown;
  let thrown: { err: unknown } | null = null;
  for (;;) {
    let r: IteratorResult<Command, void>;
    try {
      r = thrown !== null ? gen.throw(thrown.err) : gen.next(input);
    } catch (err) {
      return describe(err);
    }
    thrown = null;
    if (r.done === true) return null;
    const cmd = r.value;
    if (SCHEDULING.has(cmd.op)) {
      try {
        gen.return(undefined);
      } catch {
        // its cleanup failed too; it is abandoned either way
      }
      return `BUG: callback ${cb.label} tried to sleep or reschedule (${cmd.op}); RCU-tasks callbacks must not block`;
    }
    try {
      input = yield cmd;
    } catch (err) {
      // The command failed (an undeclared event type, say): the callback gets the error, as
      // kernel code would, and may handle it.
      thrown = { err };
    }
  }
}
