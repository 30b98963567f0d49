import { replay, TracelabError, type KernelEvent, type ReplayedKernel } from '@tracelab/core';
import { stackOf } from './stack.js';

/** What is wrong with a log, and where: the 1-based line, a code, a message. */
export interface LogError {
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

/**
 * A log as the viewer holds it: the events that could be folded (every event before the
 * first bad line), the replayed kernel (null when not even the header could be folded), and
 * the error, if any. Built once; nothing writes it afterwards.
 */
export interface LoadedLog {
  readonly events: readonly KernelEvent[];
  readonly kernel: ReplayedKernel | null;
  readonly error: LogError | null;
}

/**
 * Splits NDJSON into events, stopping at the first line that is not a JSON object: an empty
 * line, bad JSON, or a last line cut short (no newline). Returns the events before it.
 */
export function parseNdjson(text: string): { events: unknown[]; error: LogError | null } {
  const events: unknown[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    line++;
    let end = text.indexOf('\n', start);
    const clean = end >= 0;
    if (!clean) end = text.length;
    const body = text.slice(start, end);
    start = end + 1;
    if (body.trim().length === 0) {
      if (!clean) break;
      return { events, error: { line, code: 'LOG_CORRUPT', message: `line ${line} is empty` } };
    }
    try {
      events.push(JSON.parse(body));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (!clean) return { events, error: { line, code: 'LOG_TRUNCATED', message: `line ${line} is cut short (${body.length} bytes, no newline): ${why}` } };
      return { events, error: { line, code: 'LOG_CORRUPT', message: `line ${line} is not valid JSON: ${why}` } };
    }
  }
  return { events, error: null };
}

function lineOf(err: unknown): number | null {
  if (!(err instanceof TracelabError)) return null;
  const line = (err.detail as { line?: unknown } | undefined)?.line;
  return typeof line === 'number' && Number.isInteger(line) ? line : null;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Parses a log and replays it with the stack its header registers. A bad line (unparsable,
 * out of sequence, an undeclared type, a reducer that throws, a plugin the viewer lacks) ends
 * the log there: the events before it are replayed and the error names the line.
 */
export function loadLog(text: string): LoadedLog {
  const parsed = parseNdjson(text);
  return loadEvents(parsed.events, parsed.error);
}

/**
 * `loadLog` for events already parsed (the page parses once, draws, then replays): `error` is
 * what parsing found after the last of `values`.
 */
export function loadEvents(values: readonly unknown[], parseError: LogError | null): LoadedLog {
  let events = values;
  let error = parseError;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (events.length === 0) return { events: [], kernel: null, error: error ?? { line: 1, code: 'LOG_EMPTY', message: 'the log holds no events' } };
    try {
      const kernel = replay(events, { plugins: stackOf(events as KernelEvent[]) });
      return { events: kernel.log, kernel, error };
    } catch (err) {
      const line = lineOf(err);
      const code = err instanceof TracelabError ? err.code : 'LOG_REPLAY_FAILED';
      // The first error found wins the banner only if it comes first in the file.
      if (line === null)
        return { events: events as KernelEvent[], kernel: null, error: { line: error?.line ?? events.length + 1, code, message: describe(err) } };
      error = { line, code, message: describe(err) };
      events = events.slice(0, line - 1);
    }
  }
  return { events: events as KernelEvent[], kernel: null, error };
}
