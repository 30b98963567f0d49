import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { CtfReadError, ctfTextLines, ctfToChromeTrace, readCtfTrace, type CtfReadResult } from '@tracelab/formats';

/** The usage lines of `tracelab convert` (part of the CLI's usage text). */
export const CONVERT_USAGE = `  tracelab convert <ctf-dir> [--to chrome|text] [--out FILE]
      reads a CTF 1.8 trace (tracelab's, LTTng's, babeltrace2's) and writes it as
      Chrome/Perfetto JSON (default; to <ctf-dir>.json) or as text, one line per event like
      babeltrace2's (default: stdout); --out - is stdout; ends with "events: N, lost: M"`;

interface ConvertArgs {
  readonly dir: string;
  readonly to: 'chrome' | 'text';
  /** A path, or undefined for stdout. */
  readonly out: string | undefined;
}

function usage(message: string): never {
  throw new TracelabError('INVALID_OPTION', `${message}\nusage:\n${CONVERT_USAGE}`);
}

function parseConvert(argv: readonly string[], cwd: string): ConvertArgs {
  let dir: string | undefined;
  let to: 'chrome' | 'text' = 'chrome';
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--to') {
      const v = argv[++i];
      if (v !== 'chrome' && v !== 'text') usage(`--to must be chrome or text, got ${JSON.stringify(v ?? '')}`);
      to = v;
    } else if (a === '--out') {
      const v = argv[++i];
      if (v === undefined || v === '') usage('--out needs a file name (or - for stdout)');
      out = v;
    } else if (a.startsWith('-') && a !== '-') usage(`unknown option ${a}`);
    else if (dir === undefined) dir = a;
    else usage(`unexpected argument ${a}: convert takes one trace directory`);
  }
  if (dir === undefined) usage('convert needs the CTF trace directory');
  const abs = resolve(cwd, dir);
  // Chrome JSON goes next to the trace by default (a JSON document on a terminal is of no
  // use); text goes to stdout, as babeltrace2 prints it.
  const target = out === null ? (to === 'chrome' ? `${abs.replace(/\/+$/, '')}.json` : undefined) : out === '-' ? undefined : resolve(cwd, out);
  return { dir: abs, to, out: target };
}

/**
 * `tracelab convert`: a CTF trace to Chrome/Perfetto JSON or text. Returns 0, or 1 when the
 * trace is damaged or has warnings (packets missing, events_discarded going backward), after
 * writing every event read before the damage, the warnings and the summary line;
 * throws `INVALID_OPTION` (exit 2) on bad arguments or when the directory holds no CTF trace.
 */
export function cmdConvert(argv: readonly string[], io: { out(text: string): void; err(text: string): void; readonly cwd: string }): number {
  const args = parseConvert(argv, io.cwd);
  let result: CtfReadResult;
  try {
    result = readCtfTrace(args.dir, { onError: 'stop' });
  } catch (err) {
    if (err instanceof CtfReadError && err.ctfCode === 'CTF_NOT_FOUND') usage(err.message);
    throw err;
  }
  const body = args.to === 'chrome' ? JSON.stringify(ctfToChromeTrace(result, { metadata: { trace: args.dir } })) : ctfTextLines(result).join('\n');
  // The summary goes where it does not spoil the output: stdout when the output is a file,
  // stderr when the output itself is on stdout.
  const summary = `events: ${result.events.length}, lost: ${result.lost}${result.missingPackets > 0 ? `, missing packets: ${result.missingPackets}` : ''}`;
  if (args.out === undefined) {
    if (body.length > 0) io.out(body);
    io.err(summary);
  } else {
    writeFileSync(args.out, args.to === 'text' && body.length > 0 ? body + '\n' : body);
    io.out(`wrote ${args.out}`);
    io.out(summary);
  }
  // Warnings (packets missing, events_discarded going backward) say the trace is incomplete
  // or doubtful: printed, and exit 1 as for damage, so a script does not take it as whole.
  for (const w of result.warnings) io.err(`warning: ${w.code}: ${w.message}`);
  if (result.error !== undefined) {
    for (const e of result.errors) io.err(`tracelab: ${e.ctfCode}: ${e.message}`);
    return 1;
  }
  return result.warnings.length > 0 ? 1 : 0;
}
