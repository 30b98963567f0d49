import { readFileSync } from 'node:fs';
import { TracelabError } from '@tracelab/core';

/**
 * The command framework: every `tracelab` command is one `CommandSpec` entry (name, one-line
 * summary, help text, how it takes `--json`, and its function). `main` handles what every
 * command shares: `-h`/`--help` and `help <command>`, `--version`, `--json`, `-q`/`-v`, and the
 * exit code of bad usage. Adding a command is adding its entry to the list in cli.ts.
 */

/** How loud a command is: `-q` only errors (and `--json` output), `-v` the details. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

/** What `main` resolved from the shared flags, for the command to read. */
export interface CommandContext {
  readonly verbosity: Verbosity;
  /** `--json` was given (a `json: 'native'` command also sees it in its argv). */
  readonly json: boolean;
}

export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly progress?: (text: string) => void;
  readonly cwd: string;
}

export interface CommandSpec<Io extends CommandIo = CommandIo> {
  readonly name: string;
  /** One line for `tracelab help`. */
  readonly summary: string;
  /** The full help (`tracelab help <name>`, `tracelab <name> --help`): synopsis, options, exit codes. */
  readonly help: string;
  /**
   * `'native'`: the command parses `--json` itself and prints one JSON document. `'lines'`
   * (default): `main` takes `--json` away and prints `{ command, exitCode, output }` with the
   * lines the command printed.
   */
  readonly json?: 'native' | 'lines';
  run(argv: readonly string[], io: Io, ctx: CommandContext): number | Promise<number>;
}

/** The version of @tracelab/cli (its package.json, next to src/ and dist/). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** The flags every command takes, taken out of argv (after `--` nothing is a flag). */
export function sharedFlags(argv: readonly string[]): { rest: string[]; help: boolean; json: boolean; verbosity: Verbosity } {
  const rest: string[] = [];
  let help = false;
  let json = false;
  let verbosity: Verbosity = 'normal';
  let literal = false;
  for (const a of argv) {
    if (literal) rest.push(a);
    else if (a === '--') literal = true;
    else if (a === '-h' || a === '--help') help = true;
    else if (a === '--json') json = true;
    else if (a === '-q' || a === '--quiet') verbosity = 'quiet';
    else if (a === '-v' || a === '--verbose') verbosity = 'verbose';
    else rest.push(a);
  }
  return { rest, help, json, verbosity };
}

/** `tracelab help`: every command with its summary, and the shared flags. */
export function overview(commands: readonly CommandSpec<never>[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `tracelab ${version}: run a simulated kernel under a tracer stack, write its traces, explore its schedules`,
    '',
    'usage: tracelab <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'every command takes:',
    '  -h, --help       its help (also: tracelab help <command>)',
    '  --json           one JSON document on stdout instead of text',
    '  -q, --quiet      errors only (no progress, no summary)',
    '  -v, --verbose    the details',
    '  --version        the version of tracelab',
    '',
    'exit codes: 0 ok; 1 what the command checks failed (an invariant, a mismatch, a damaged trace); 2 bad usage or input',
  ].join('\n');
}

/** `tracelab help <name>`. */
export function commandHelp(c: CommandSpec<never>): string {
  return `tracelab ${c.name}: ${c.summary}\n\n${c.help.replace(/\n+$/, '')}\n\nshared options: -h/--help, --json, -q/--quiet, -v/--verbose (tracelab help)`;
}

function quietIo<Io extends CommandIo>(io: Io): Io {
  const { progress: _progress, ...rest } = io;
  return { ...rest, out: () => undefined } as unknown as Io;
}

function quietProgress<Io extends CommandIo>(io: Io): Io {
  const { progress: _progress, ...rest } = io;
  return rest as unknown as Io;
}

/**
 * Runs one command with the shared flags (`--help`, `--json`, `-q`, `-v`) taken from its
 * arguments: `main` after it found the command, and `bin.js` for the commands it loads alone
 * (`convert`, so a conversion does not pay for loading every plugin). A `TracelabError` is
 * printed and gives 2.
 */
export function runCommand<Io extends CommandIo>(spec: CommandSpec<Io>, rest: readonly string[], io: Io): number | Promise<number> {
  const failed = (err: unknown): number => {
    if (err instanceof TracelabError) {
      io.err(`tracelab: ${err.message}`);
      return 2;
    }
    throw err;
  };
  try {
    const flags = sharedFlags(rest);
    if (flags.help) {
      io.out(commandHelp(spec as CommandSpec<never>));
      return 0;
    }
    const ctx: CommandContext = { verbosity: flags.verbosity, json: flags.json };
    const runIo = flags.verbosity === 'quiet' && !flags.json ? quietIo(io) : flags.json && io.progress !== undefined ? quietProgress(io) : io;
    if (!flags.json || spec.json === 'native') {
      const args = flags.json ? [...flags.rest, '--json'] : flags.rest;
      const r = spec.run(args, runIo, ctx);
      return typeof r === 'number' ? r : r.catch(failed);
    }
    // --json for a command that prints lines: its lines, in one document.
    const lines: string[] = [];
    const captured: Io = { ...quietProgress(io), out: (t: string) => void lines.push(...t.split('\n')) };
    const done = (code: number): number => {
      io.out(JSON.stringify({ command: spec.name, exitCode: code, output: lines }));
      return code;
    };
    const r = spec.run(flags.rest, captured, ctx);
    return typeof r === 'number' ? done(r) : r.catch(failed).then(done);
  } catch (err) {
    return failed(err);
  }
}
