import type { Command, KPath } from './paths.js';

const SCHEDULING: ReadonlySet<string> = new Set(['point', 'switch', 'spin']);

/** A command that may switch the CPU to another task: a scheduling point, a sleep, a spin on a lock. */
export function isSchedulingCommand(cmd: Command): boolean {
  return SCHEDULING.has(cmd.op);
}

/** How `drive` runs a kernel path on behalf of the code that drives it. */
export interface DriveOptions<R> {
  /**
   * An exception escaping the path: what `drive` returns in its place. Left out, the exception
   * propagates, as through `yield*`.
   */
  readonly failed?: (err: unknown) => R;
  /**
   * For a path that must not block (an RCU callback, softirq work): the first scheduling
   * command it issues (a sleep, a scheduling point, a spin on a lock) abandons it (its
   * `finally` blocks run; an exception they throw is dropped) and `atomic(cmd)` is returned.
   */
  readonly atomic?: (cmd: Command) => R;
  /**
   * Runs once, before the path's first command goes up to the runtime: a path that returns
   * without issuing any never calls it (utrace tells a quick callback from one that ran).
   */
  readonly beforeFirstCommand?: () => KPath<void>;
  /** Runs each time the path resumes after a scheduling command (the core's hook runner takes a rollback checkpoint there). */
  readonly afterScheduling?: () => void;
}

/**
 * Runs `gen` from inside another kernel path, each command it yields passed up to the runtime
 * and each answer (or the error the runtime throws) passed back down, so the path runs exactly
 * as through `yield*`, with the options above in between. The one loop plugins that run other
 * code's paths (RCU callbacks, utrace engine callbacks) use instead of writing it again.
 */
export function* drive<T, R = never>(gen: KPath<T>, options: DriveOptions<R> = {}): KPath<T | R> {
  const { failed, atomic, beforeFirstCommand, afterScheduling } = options;
  let first = true;
  let input: unknown;
  let error: unknown;
  let throwing = false;
  for (;;) {
    let r: IteratorResult<Command, T>;
    try {
      r = throwing ? gen.throw(error) : gen.next(input);
    } catch (err) {
      if (failed === undefined) throw err;
      return failed(err);
    }
    if (r.done === true) return r.value;
    const cmd = r.value;
    if (atomic !== undefined && isSchedulingCommand(cmd)) {
      try {
        gen.return(undefined as T);
      } catch {
        // its cleanup failed too; it is abandoned either way
      }
      return atomic(cmd);
    }
    if (first) {
      first = false;
      if (beforeFirstCommand !== undefined) yield* beforeFirstCommand();
    }
    try {
      input = yield cmd;
      throwing = false;
    } catch (err) {
      error = err;
      throwing = true;
    }
    if (afterScheduling !== undefined && isSchedulingCommand(cmd)) afterScheduling();
  }
}
