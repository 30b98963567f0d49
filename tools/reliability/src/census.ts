/**
 * The bad-input and fault census of docs/reliability.md, reproducible: each case feeds one bad
 * input (CLI arguments, replay strings, run folders, damaged logs and CTF traces, plugin
 * options, probes, host-API misuse) to the built CLI or library in a child process, with a
 * time limit, and classifies what the user sees from its exit status and output alone:
 *
 * - `clear error`: a non-zero exit with a coded message (`tracelab: ...` from the CLI,
 *   `ERR <CODE>: ...` from a library call) that says what is wrong;
 * - `handled`: the input is legal but hostile (a probe that throws, a cap that applies) and
 *   the outcome the case names is reported (a contained plugin failure, a warning);
 * - `unclear`: it failed, but with a message too short to act on or without a code;
 * - `raw stack trace`: an uncaught exception's stack, or a V8 crash;
 * - `hang`: still running at the time limit;
 * - `silently wrong`: exit 0 where the input is wrong, or a handled case without its report.
 *
 * `runCensus()` runs them all (two at a time); `censusMarkdown()` renders the table.
 * Run `CENSUS_WRITE=1 npx vitest run tools/reliability` to rewrite docs/reliability.md.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/dist/bin.js');
const CTF_FIXTURE = join(ROOT, 'packages/formats/test/fixtures/tracelab/run-seed5');

export type Verdict = 'clear error' | 'handled' | 'unclear' | 'raw stack trace' | 'hang' | 'silently wrong';
export const VERDICTS: readonly Verdict[] = ['clear error', 'handled', 'unclear', 'raw stack trace', 'hang', 'silently wrong'];

export type Surface =
  | 'cli run'
  | 'cli explore'
  | 'replay string'
  | 'cli replay DIR'
  | 'cli convert (CTF)'
  | 'cli'
  | 'library: core'
  | 'library: plugins'
  | 'library: explore'
  | 'probes';

export interface Case {
  readonly id: string;
  readonly surface: Surface;
  /** The bad input, as a person would describe it. */
  readonly input: string;
  /** An error, or a legal-but-hostile input whose report matches `handled` (stdout + stderr). */
  readonly expect: 'error' | { readonly handled: RegExp; readonly status?: readonly number[] };
  /**
   * A limit the census records but cannot assert away, with why (a synchronous JavaScript loop
   * that never yields cannot be interrupted in-process).
   */
  readonly owner?: string;
  /** CLI arguments (run in the case's own folder). */
  readonly cli?: readonly string[];
  /** ESM code run with the packages importable; `W` is the case's folder. */
  readonly lib?: string;
  /** Makes the case's folder (a run folder, a damaged trace...). */
  readonly prepare?: (w: string, base: Base) => void;
  /** Time limit in ms (default 20 s). */
  readonly timeout?: number;
}

/** What `prepare` can copy: a real run folder and a real CTF trace. */
export interface Base {
  readonly run: string;
  readonly ctf: string;
}

export interface Outcome {
  readonly id: string;
  readonly surface: Surface;
  readonly input: string;
  readonly owner: string | undefined;
  readonly verdict: Verdict;
  /** What the user sees: the first line that says something, trimmed. */
  readonly sees: string;
  readonly status: number | null;
}

/** A replay string the catalog test prints for fork-flag-race (docs/scenarios.md). */
export const GOOD_REPLAY = 'no-recopy@1:S2:4.11:1011:1evtvxw';

const lib = (code: string): string => code;

function packets(file: string): Buffer[] {
  const b = readFileSync(file);
  return Array.from({ length: b.length / 4096 }, (_, i) => Buffer.from(b.subarray(i * 4096, (i + 1) * 4096)));
}

function damageCtf(w: string, base: Base, edit: (p: Buffer[]) => Buffer[]): void {
  cpSync(base.ctf, join(w, 't'), { recursive: true });
  const f = join(w, 't', 'channel0_0');
  writeFileSync(f, Buffer.concat(edit(packets(f))));
}

function copyRun(w: string, base: Base, edit?: (dir: string) => void): void {
  cpSync(base.run, join(w, 'r'), { recursive: true });
  edit?.(join(w, 'r'));
}

const KERNEL = `import { createKernel } from '@tracelab/core';`;
const SHELL = `function* shell(u) { yield u.syscall('getpid', {}); yield u.compute(2); yield u.exit(0); }`;

export const CASES: readonly Case[] = [
  // ---- tracelab run -----------------------------------------------------------------------
  { id: 'run-seed-empty', surface: 'cli run', input: "--seed ''", expect: 'error', cli: ['run', '--seed', ''] },
  { id: 'run-seed-negative', surface: 'cli run', input: '--seed -1', expect: 'error', cli: ['run', '--seed', '-1'] },
  { id: 'run-seed-text', surface: 'cli run', input: '--seed abc', expect: 'error', cli: ['run', '--seed', 'abc'] },
  { id: 'run-cpus-zero', surface: 'cli run', input: '--cpus 0', expect: 'error', cli: ['run', '--cpus', '0'] },
  { id: 'run-cpus-65', surface: 'cli run', input: '--cpus 65', expect: 'error', cli: ['run', '--cpus', '65'] },
  { id: 'run-cpus-fraction', surface: 'cli run', input: '--cpus 1.5', expect: 'error', cli: ['run', '--cpus', '1.5'] },
  { id: 'run-max-steps-zero', surface: 'cli run', input: '--max-steps 0', expect: 'error', cli: ['run', '--max-steps', '0'] },
  { id: 'run-max-steps-text', surface: 'cli run', input: '--max-steps lots', expect: 'error', cli: ['run', '--max-steps', 'lots'] },
  {
    id: 'run-max-steps-bound',
    surface: 'cli run',
    input: '--max-steps 500 (the run is cut)',
    expect: { handled: /cut at --max-steps 500/, status: [0] },
    cli: ['run', '--max-steps', '500', '--out', 'o'],
  },
  { id: 'run-out-missing', surface: 'cli run', input: '--out with no value', expect: 'error', cli: ['run', '--out'] },
  { id: 'run-unknown-option', surface: 'cli run', input: '--frob', expect: 'error', cli: ['run', '--frob'] },
  { id: 'run-unknown-scenario', surface: 'cli run', input: 'scenario nope', expect: 'error', cli: ['run', 'nope'] },
  { id: 'run-extra-arg', surface: 'cli run', input: 'two scenarios', expect: 'error', cli: ['run', 'default', 'default'] },
  {
    id: 'run-out-file',
    surface: 'cli run',
    input: '--out names a file',
    expect: 'error',
    cli: ['run', '--out', 'f'],
    prepare: (w) => writeFileSync(join(w, 'f'), 'x'),
  },
  {
    id: 'run-out-under-file',
    surface: 'cli run',
    input: '--out under a file',
    expect: 'error',
    cli: ['run', '--out', 'f/o'],
    prepare: (w) => writeFileSync(join(w, 'f'), 'x'),
  },
  { id: 'cli-unknown-command', surface: 'cli', input: 'tracelab frobnicate', expect: 'error', cli: ['frobnicate'] },
  { id: 'cli-no-command', surface: 'cli', input: 'tracelab (no command)', expect: { handled: /run a simulated kernel[\s\S]*help/, status: [2] }, cli: [] },

  // ---- tracelab explore -------------------------------------------------------------------
  { id: 'explore-no-scenario', surface: 'cli explore', input: 'no scenario', expect: 'error', cli: ['explore'] },
  { id: 'explore-unknown-scenario', surface: 'cli explore', input: 'unknown scenario', expect: 'error', cli: ['explore', 'nope', '--variant', 'fixed'] },
  { id: 'explore-no-variant', surface: 'cli explore', input: 'no --variant', expect: 'error', cli: ['explore', 'fork-flag-race'] },
  { id: 'explore-unknown-variant', surface: 'cli explore', input: 'unknown variant', expect: 'error', cli: ['explore', 'fork-flag-race', '--variant', 'nope'] },
  {
    id: 'explore-budget-zero',
    surface: 'cli explore',
    input: '--budget 0',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '0'],
  },
  {
    id: 'explore-budget-text',
    surface: 'cli explore',
    input: '--budget many',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', 'many'],
  },
  {
    id: 'explore-workers-zero',
    surface: 'cli explore',
    input: '--workers 0',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--workers', '0'],
  },
  {
    id: 'explore-workers-100',
    surface: 'cli explore',
    input: '--workers 100 on a small machine',
    expect: { handled: /100 workers asked, \d+ started/, status: [0] },
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--budget', '32', '--workers', '100'],
  },
  {
    id: 'explore-strategy-bogus',
    surface: 'cli explore',
    input: '--strategy bogus',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'bogus'],
  },
  {
    id: 'explore-bound-negative',
    surface: 'cli explore',
    input: '--bound -1',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--bound', '-1'],
  },
  {
    id: 'explore-reduction-unknown',
    surface: 'cli explore',
    input: '--reduction bogus',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dfs', '--reduction', 'bogus'],
  },
  {
    id: 'explore-reduction-not-dfs',
    surface: 'cli explore',
    input: '--reduction with --strategy dpor',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'fixed', '--strategy', 'dpor', '--reduction', 'none'],
  },
  {
    id: 'explore-out-file',
    surface: 'cli explore',
    input: '--out names a file',
    expect: 'error',
    cli: ['explore', 'fork-flag-race', '--variant', 'no-recopy', '--budget', '50', '--out', 'f'],
    prepare: (w) => writeFileSync(join(w, 'f'), 'x'),
  },

  // ---- replay strings ---------------------------------------------------------------------
  {
    id: 'replay-good',
    surface: 'replay string',
    input: 'a valid counterexample (control)',
    expect: { handled: /VIOLATION ktrace\/flag/, status: [1] },
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY],
  },
  {
    id: 'replay-cut-last',
    surface: 'replay string',
    input: 'last character cut',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY.slice(0, -1)],
  },
  {
    id: 'replay-cut-body',
    surface: 'replay string',
    input: 'one choice cut from the body',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY.replace(':1011:', ':101:')],
  },
  {
    id: 'replay-changed-choice',
    surface: 'replay string',
    input: 'one choice changed',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY.replace(':1011:', ':1001:')],
  },
  {
    id: 'replay-other-scale',
    surface: 'replay string',
    input: 'the same schedule under another scale',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY.replace('@1:', '@2:')],
  },
  {
    id: 'replay-other-variant',
    surface: 'replay string',
    input: 'the same schedule under another variant',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', GOOD_REPLAY.replace('no-recopy', 'rcu-walk')],
  },
  {
    id: 'replay-other-scenario',
    surface: 'replay string',
    input: "another scenario's counterexample",
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'no-barrier@1:S2:2.8:01:1idwz7y'],
  },
  { id: 'replay-s1', surface: 'replay string', input: 'an old S1 string', expect: 'error', cli: ['replay', 'fork-flag-race', 'no-recopy@1:S1:1011'] },
  {
    id: 'replay-s1-huge',
    surface: 'replay string',
    input: 'no-recopy@1:S1:0{10000000000} (was a V8 abort)',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'no-recopy@1:S1:0{10000000000}'],
  },
  {
    id: 'replay-s2-huge',
    surface: 'replay string',
    input: 'an S2 string with a 10^10 repeat count',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'no-recopy@1:S2:4.11:0{10000000000}:0000000'],
  },
  {
    id: 'replay-scale-huge',
    surface: 'replay string',
    input: 'scale 10^15 (ran to maxSteps, "no violation")',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'no-recopy@1000000000000000:S2:4.11:1011:1evtvxw'],
  },
  {
    id: 'replay-steps-huge',
    surface: 'replay string',
    input: 'a step count past the scenario limit',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'no-recopy@1:S2:4.99999999999:1011:0000000'],
  },
  { id: 'replay-garbage', surface: 'replay string', input: 'garbage', expect: 'error', cli: ['replay', 'fork-flag-race', '%%%'] },
  { id: 'replay-empty', surface: 'replay string', input: 'an empty string', expect: 'error', cli: ['replay', 'fork-flag-race', ''] },
  {
    id: 'replay-unknown-variant',
    surface: 'replay string',
    input: 'unknown variant',
    expect: 'error',
    cli: ['replay', 'fork-flag-race', 'nope:S2:0.1::0000000'],
  },
  { id: 'replay-unknown-scenario', surface: 'replay string', input: 'unknown scenario', expect: 'error', cli: ['replay', 'nope', GOOD_REPLAY] },

  // ---- tracelab replay DIR ----------------------------------------------------------------
  { id: 'replaydir-missing', surface: 'cli replay DIR', input: 'a folder that does not exist', expect: 'error', cli: ['replay', 'missing'] },
  {
    id: 'replaydir-no-summary',
    surface: 'cli replay DIR',
    input: 'no summary.json',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => rmSync(join(d, 'summary.json'))),
  },
  {
    id: 'replaydir-summary-bad-json',
    surface: 'cli replay DIR',
    input: 'summary.json is not JSON',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => writeFileSync(join(d, 'summary.json'), '{"scenario":')),
  },
  {
    id: 'replaydir-summary-array',
    surface: 'cli replay DIR',
    input: 'summary.json is [] ',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => writeFileSync(join(d, 'summary.json'), '[]')),
  },
  {
    id: 'replaydir-summary-seed',
    surface: 'cli replay DIR',
    input: 'summary.json seed edited (was not checked)',
    expect: { handled: /MISMATCH summary\.json says seed 99, the log header says seed 1/, status: [1] },
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => editJson(join(d, 'summary.json'), (s) => ({ ...s, seed: 99 }))),
  },
  {
    id: 'replaydir-summary-s1',
    surface: 'cli replay DIR',
    input: 'summary.json with an S1 schedule',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => editJson(join(d, 'summary.json'), (s) => ({ ...s, schedule: 'S1:0101' }))),
  },
  {
    id: 'replaydir-log-corrupt',
    surface: 'cli replay DIR',
    input: 'a log line that is not JSON',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => editLines(join(d, 'events.ndjson'), (l) => ((l[5] = '{"type":'), l))),
  },
  {
    id: 'replaydir-log-tampered',
    surface: 'cli replay DIR',
    input: 'a log line edited (valid JSON; showed two hashes only)',
    expect: { handled: /first difference at line 41/, status: [1] },
    cli: ['replay', 'r'],
    prepare: (w, b) =>
      copyRun(w, b, (d) =>
        editLines(join(d, 'events.ndjson'), (l) => ((l[40] = l[40]!.replace(/"time":(\d+)/, (_, n: string) => `"time":${Number(n) + 1}`)), l)),
      ),
  },
  {
    id: 'replaydir-log-cut',
    surface: 'cli replay DIR',
    input: 'the log cut mid-line',
    expect: { handled: /warning: .*events\.ndjson|MISMATCH/, status: [1, 2] },
    cli: ['replay', 'r'],
    prepare: (w, b) =>
      copyRun(w, b, (d) => {
        const t = readFileSync(join(d, 'events.ndjson'), 'utf8');
        writeFileSync(join(d, 'events.ndjson'), t.slice(0, Math.floor(t.length / 2)));
      }),
  },
  {
    id: 'replaydir-log-empty',
    surface: 'cli replay DIR',
    input: 'an empty log',
    expect: 'error',
    cli: ['replay', 'r'],
    prepare: (w, b) => copyRun(w, b, (d) => writeFileSync(join(d, 'events.ndjson'), '')),
  },

  // ---- tracelab convert (CTF) -------------------------------------------------------------
  { id: 'convert-missing', surface: 'cli convert (CTF)', input: 'a folder that does not exist', expect: 'error', cli: ['convert', 'missing'] },
  {
    id: 'convert-no-metadata',
    surface: 'cli convert (CTF)',
    input: 'a folder with no metadata',
    expect: 'error',
    cli: ['convert', 'e'],
    prepare: (w) => mkdirSync(join(w, 'e')),
  },
  {
    id: 'convert-to-bogus',
    surface: 'cli convert (CTF)',
    input: '--to bogus',
    expect: 'error',
    cli: ['convert', 't', '--to', 'bogus'],
    prepare: (w, b) => cpSync(b.ctf, join(w, 't'), { recursive: true }),
  },
  {
    id: 'convert-metadata-garbage',
    surface: 'cli convert (CTF)',
    input: 'metadata that is not TSDL',
    expect: 'error',
    cli: ['convert', 't', '--to', 'text'],
    prepare: (w, b) => {
      cpSync(b.ctf, join(w, 't'), { recursive: true });
      writeFileSync(join(w, 't', 'metadata'), '/* CTF 1.8 */ trace { garbage');
    },
  },
  {
    id: 'convert-truncated',
    surface: 'cli convert (CTF)',
    input: 'a stream cut inside a packet',
    expect: 'error',
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => [p[0]!, p[1]!.subarray(0, 1000)]),
  },
  {
    id: 'convert-bad-magic',
    surface: 'cli convert (CTF)',
    input: 'a packet with a bad magic',
    expect: 'error',
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => ((p[1]![0] = 0), p)),
  },
  {
    id: 'convert-dropped-packet',
    surface: 'cli convert (CTF)',
    input: 'a dropped packet (was silent, 105 events)',
    expect: { handled: /warning: CTF_PACKETS_MISSING/, status: [1] },
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => [p[0]!, p[2]!]),
  },
  {
    id: 'convert-appended',
    surface: 'cli convert (CTF)',
    input: 'a stream appended to itself (was doubled, exit 0)',
    expect: 'error',
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => [...p, ...p]),
  },
  {
    id: 'convert-swapped',
    surface: 'cli convert (CTF)',
    input: 'two packets swapped (was re-sorted silently)',
    expect: 'error',
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => [p[1]!, p[0]!, p[2]!]),
  },
  {
    id: 'convert-time-backward',
    surface: 'cli convert (CTF)',
    input: "a packet's time going backward",
    expect: 'error',
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => (p[1]!.writeBigUInt64LE(1n, 32), p[1]!.writeBigUInt64LE(2n, 40), p)),
  },
  {
    id: 'convert-discarded-backward',
    surface: 'cli convert (CTF)',
    input: 'events_discarded going backward',
    expect: { handled: /warning: CTF_DISCARDED_BACKWARD/, status: [1] },
    cli: ['convert', 't', '--to', 'text', '--out', 'o.txt'],
    prepare: (w, b) => damageCtf(w, b, (p) => (p[1]!.writeBigUInt64LE(5n, 72), p[2]!.writeBigUInt64LE(0n, 72), p)),
  },

  // ---- library: core ----------------------------------------------------------------------
  {
    id: 'core-cpus-zero',
    surface: 'library: core',
    input: 'createKernel({ cpus: 0 })',
    expect: 'error',
    lib: lib(`${KERNEL} createKernel({ cpus: 0, seed: 1 });`),
  },
  {
    id: 'core-cpu-typo',
    surface: 'library: core',
    input: 'createKernel({ cpu: 4 }) (typo)',
    expect: 'error',
    lib: lib(`${KERNEL} createKernel({ cpu: 4, seed: 1 });`),
  },
  { id: 'core-null-options', surface: 'library: core', input: 'createKernel(null)', expect: 'error', lib: lib(`${KERNEL} createKernel(null);`) },
  {
    id: 'core-run-negative',
    surface: 'library: core',
    input: 'run({ maxSteps: -5 })',
    expect: 'error',
    lib: lib(`${KERNEL} ${SHELL} const k = createKernel({ cpus: 1, seed: 1 }); k.spawn(shell); return k.run({ maxSteps: -5 });`),
  },
  {
    id: 'core-run-nan',
    surface: 'library: core',
    input: 'run({ maxSteps: NaN })',
    expect: 'error',
    lib: lib(`${KERNEL} ${SHELL} const k = createKernel({ cpus: 1, seed: 1 }); k.spawn(shell); return k.run({ maxSteps: NaN });`),
  },
  {
    id: 'core-spawn-non-generator',
    surface: 'library: core',
    input: 'spawn of a plain function',
    expect: 'error',
    lib: lib(
      `${KERNEL} const k = createKernel({ cpus: 1, seed: 1 }); k.spawn(function plain(u) { return 1; }); const r = k.run(); return { done: r.done, violations: r.violations.length, oopses: k.log.filter((e) => e.type === 'kernel/oops').length };`,
    ),
  },
  {
    id: 'core-spawn-number',
    surface: 'library: core',
    input: 'spawn(42)',
    expect: 'error',
    lib: lib(`${KERNEL} createKernel({ cpus: 1, seed: 1 }).spawn(42);`),
  },
  {
    id: 'core-call-plain-function',
    surface: 'library: core',
    input: 'call(() => 1) (a plain function: run in a kernel thread, its value returned)',
    expect: { handled: /"value":1/, status: [0] },
    lib: lib(`${KERNEL} return { value: createKernel({ cpus: 1, seed: 1 }).call(() => 1) };`),
  },
  {
    id: 'core-call-non-function',
    surface: 'library: core',
    input: 'call(42)',
    expect: 'error',
    lib: lib(`${KERNEL} createKernel({ cpus: 1, seed: 1 }).call(42);`),
  },
  {
    id: 'core-subscriber-throws',
    surface: 'library: core',
    input: 'an events$ subscriber that throws',
    expect: { handled: /OK/, status: [0] },
    lib: lib(
      `${KERNEL} ${SHELL} const k = createKernel({ cpus: 1, seed: 1 }); k.events$.subscribe(() => { throw new Error('subscriber bug'); }); k.spawn(shell); const r = k.run(); await new Promise((res) => setTimeout(res, 50)); return { done: r.done };`,
    ),
  },
  {
    id: 'core-replay-garbage-log',
    surface: 'library: core',
    input: 'replay() of a log that is not NDJSON',
    expect: 'error',
    lib: lib(`import { replay } from '@tracelab/core'; replay('not json\\n');`),
  },
  {
    id: 'core-replay-empty-log',
    surface: 'library: core',
    input: 'replay() of an empty log',
    expect: 'error',
    lib: lib(`import { replay } from '@tracelab/core'; replay('');`),
  },
  {
    id: 'core-schedule-garbage',
    surface: 'library: core',
    input: "replaySchedule('garbage')",
    expect: 'error',
    lib: lib(`import { replaySchedule } from '@tracelab/core'; replaySchedule('garbage');`),
  },
  {
    id: 'core-schedule-huge',
    surface: 'library: core',
    input: 'decodeSchedule of 10^12 zeros',
    expect: 'error',
    lib: lib(`import { decodeSchedule, encodeScheduleRuns } from '@tracelab/core'; decodeSchedule(encodeScheduleRuns([[0, 1e12]]));`),
  },
  {
    id: 'core-plugin-duplicate',
    surface: 'library: core',
    input: 'the same plugin twice',
    expect: 'error',
    lib: lib(`${KERNEL} import { markers } from '@tracelab/markers'; createKernel({ cpus: 1, seed: 1, plugins: [markers(), markers()] });`),
  },
  {
    id: 'core-plugin-missing-dep',
    surface: 'library: core',
    input: 'a plugin without its dependency',
    expect: 'error',
    lib: lib(`${KERNEL} import { ftrace } from '@tracelab/ftrace'; createKernel({ cpus: 1, seed: 1, plugins: [ftrace()] });`),
  },
  {
    id: 'core-plugin-not-object',
    surface: 'library: core',
    input: 'plugins: [42]',
    expect: 'error',
    lib: lib(`${KERNEL} createKernel({ cpus: 1, seed: 1, plugins: [42] });`),
  },

  // ---- library: plugins -------------------------------------------------------------------
  {
    id: 'rb-subbuf-100',
    surface: 'library: plugins',
    input: 'ringBuffer({ subbufSize: 100 })',
    expect: 'error',
    lib: lib(`import { ringBuffer } from '@tracelab/ring-buffer'; ringBuffer({ subbufSize: 100 });`),
  },
  {
    id: 'rb-unknown-key',
    surface: 'library: plugins',
    input: 'ringBuffer({ subbufsize: 4096 }) (typo)',
    expect: 'error',
    lib: lib(`import { ringBuffer } from '@tracelab/ring-buffer'; ringBuffer({ subbufsize: 4096 });`),
  },
  {
    id: 'rb-subbuf-128',
    surface: 'library: plugins',
    input: 'ringBuffer({ subbufSize: 128 }), the minimum (never ended)',
    expect: { handled: /"done":true/, status: [0] },
    lib: lib(
      `${KERNEL} import { rcuTasks } from '@tracelab/rcu-tasks'; import { tracepoints } from '@tracelab/tracepoints'; import { ringBuffer } from '@tracelab/ring-buffer'; ${SHELL} const k = createKernel({ cpus: 2, seed: 1, plugins: [rcuTasks(), tracepoints(), ringBuffer({ subbufSize: 128 })] }); for (let i = 0; i < 4; i++) k.spawn(shell); const r = k.run({ maxSteps: 200000 }); return { done: r.done, steps: r.steps };`,
    ),
  },
  {
    id: 'rb-mode-bogus',
    surface: 'library: plugins',
    input: "ringBuffer({ mode: 'bogus' })",
    expect: 'error',
    lib: lib(`import { ringBuffer } from '@tracelab/ring-buffer'; ringBuffer({ mode: 'bogus' });`),
  },
  {
    id: 'markers-unknown-key',
    surface: 'library: plugins',
    input: 'markers({ bogus: 1 })',
    expect: 'error',
    lib: lib(`import { markers } from '@tracelab/markers'; markers({ bogus: 1 });`),
  },
  {
    id: 'rcu-tasks-bad-option',
    surface: 'library: plugins',
    input: 'rcuTasks({ stallTimeout: -1 })',
    expect: 'error',
    lib: lib(`import { rcuTasks } from '@tracelab/rcu-tasks'; rcuTasks({ stallTimeout: -1 });`),
  },
  {
    id: 'explore-lib-scale-huge',
    surface: 'library: explore',
    input: 'explore({ scale: 10^15 })',
    expect: 'error',
    lib: lib(
      `import { explore } from '@tracelab/explore'; import { scenario } from '@tracelab/scenarios'; explore(scenario('fork-flag-race'), { variant: 'fixed', scale: 1e15 });`,
    ),
  },
  {
    id: 'explore-lib-budget-nan',
    surface: 'library: explore',
    input: 'explore({ budget: NaN })',
    expect: 'error',
    lib: lib(
      `import { explore } from '@tracelab/explore'; import { scenario } from '@tracelab/scenarios'; explore(scenario('fork-flag-race'), { variant: 'fixed', budget: NaN });`,
    ),
  },

  // ---- probes -----------------------------------------------------------------------------
  {
    id: 'probe-not-function',
    surface: 'probes',
    input: 'probeRegister with a probe that is not a function',
    expect: 'error',
    lib: lib(
      `${KERNEL} import { markers } from '@tracelab/markers'; const k = createKernel({ cpus: 1, seed: 1, plugins: [markers()] }); k.api.markers.defineMarker('m', '%d'); return k.call(k.api.markers.probeRegister('m', '%d', 42));`,
    ),
  },
  {
    id: 'probe-throws',
    surface: 'probes',
    input: 'a marker probe that throws',
    expect: { handled: /markers\/probe-fault[^\n]*probe bug/, status: [0] },
    lib: lib(
      `${KERNEL} import { markers } from '@tracelab/markers'; const k = createKernel({ cpus: 1, seed: 1, plugins: [markers()] }); k.api.markers.defineMarker('m', '%d'); k.call(k.api.markers.probeRegister('m', '%d', () => { throw new Error('probe bug'); }, {})); k.call(k.api.markers.mark('m', null, 1)); return k.log.filter((e) => e.type === 'markers/probe-fault' || e.type === 'kernel/oops').map((e) => e.type + ': ' + e.message);`,
    ),
  },
  {
    id: 'probe-loops',
    surface: 'probes',
    input: 'a hook that loops without a scheduling point (commands, no point)',
    expect: { handled: /soft lockup|"plugin":"looper"/, status: [0, 1] },
    timeout: 30_000,
    lib: lib(
      `${KERNEL} ${SHELL} const plugin = { name: 'looper', version: '1.0.0', core: '*', register(ctx) { ctx.tap('contextSwitch', function* () { for (;;) yield { op: 'state' }; }); return {}; } }; const k = createKernel({ cpus: 1, seed: 1, plugins: [plugin] }); k.spawn(shell); const r = k.run({ maxSteps: 1000 }); return { violations: r.violations.map((v) => v.name + ' ' + v.message), oopses: k.log.filter((e) => e.type === 'kernel/oops').map((e) => ({ plugin: e.plugin, message: e.message })) };`,
    ),
  },
  {
    id: 'probe-loops-sync',
    surface: 'probes',
    input: 'a hook whose body is a synchronous loop that never yields',
    expect: { handled: /KERNEL_WATCHDOG: plugin looper's hook contextSwitch/, status: [70] },
    timeout: 30_000,
    lib: lib(
      `${KERNEL} ${SHELL} const plugin = { name: 'looper', version: '1.0.0', core: '*', register(ctx) { ctx.tap('contextSwitch', function* () { for (;;) { /* no yield */ } }); return {}; } }; const k = createKernel({ cpus: 1, seed: 1, plugins: [plugin] }); k.spawn(shell); const r = k.run({ maxSteps: 1000 }); return { violations: r.violations.map((v) => v.name + ' ' + v.message), disabled: k.log.filter((e) => e.type === 'kernel/plugin-disabled').map((e) => e.plugin) };`,
    ),
  },
];

function editJson(file: string, f: (o: Record<string, unknown>) => unknown): void {
  writeFileSync(file, JSON.stringify(f(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)));
}

function editLines(file: string, f: (lines: string[]) => string[]): void {
  writeFileSync(file, f(readFileSync(file, 'utf8').split('\n')).join('\n'));
}

/** The case's code in a module: its imports hoisted, the rest in an async function whose result is printed. */
const HARNESS = (code: string): string => {
  const imports = code.match(/import \{[^}]*\} from '[^']+';/g) ?? [];
  const body = imports.reduce((b, i) => b.replace(i, ''), code);
  return `${imports.join('\n')}
const W = process.env.W;
try {
  const r = await (async () => { ${body} })();
  console.log('OK ' + (JSON.stringify(r) ?? ''));
} catch (e) {
  if (e && e.name === 'TracelabError') { console.error('ERR ' + e.code + ': ' + e.message); process.exit(2); }
  throw e;
}`;
};

interface Raw {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function exec(cmd: string, args: readonly string[], cwd: string, env: Record<string, string>, timeout: number): Promise<Raw> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => void (stdout.length < 1_000_000 && (stdout += d.toString())));
    child.stderr.on('data', (d: Buffer) => void (stderr.length < 1_000_000 && (stderr += d.toString())));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
const CRASH = /FATAL ERROR|heap out of memory|Aborted|core dumped/;

/** The verdict, from the exit status and the output alone. */
export function classify(c: Case, r: Raw): { verdict: Verdict; sees: string } {
  const text = `${r.stdout}\n${r.stderr}`;
  const firstErr =
    r.stderr
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? '';
  const firstOut =
    r.stdout
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? '';
  if (r.timedOut) return { verdict: 'hang', sees: `still running after ${(c.timeout ?? 20_000) / 1000} s` };
  if (CRASH.test(text) || (r.signal !== null && r.signal !== 'SIGKILL'))
    return { verdict: 'raw stack trace', sees: (text.match(CRASH)?.[0] ?? r.signal ?? '').trim() };
  if (STACK.test(r.stderr)) return { verdict: 'raw stack trace', sees: firstErr || 'an uncaught exception' };
  if (c.expect === 'error') {
    if (r.status === 0) return { verdict: 'silently wrong', sees: `exit 0: ${firstOut || firstErr || '(nothing)'}` };
    const coded = r.stderr.split('\n').find((l) => /^(tracelab: |ERR [A-Z_0-9]+: )/.test(l));
    if (coded === undefined) return { verdict: 'unclear', sees: `exit ${r.status}: ${firstErr || firstOut}` };
    const msg = coded.replace(/^(tracelab: |ERR )/, '');
    return { verdict: msg.length >= 25 ? 'clear error' : 'unclear', sees: msg };
  }
  const want = c.expect;
  const okStatus = want.status === undefined || want.status.includes(r.status ?? -1);
  const line = text
    .split('\n')
    .find((l) => want.handled.test(l))
    ?.trim();
  if (want.handled.test(text) && okStatus) return { verdict: 'handled', sees: line ?? firstOut };
  if (r.status === 0) return { verdict: 'silently wrong', sees: `exit 0 without the report: ${firstOut || firstErr || '(nothing)'}` };
  return { verdict: 'unclear', sees: `exit ${r.status}: ${firstErr || firstOut}` };
}

/** The base run folder and CTF trace the damage cases copy. */
async function makeBase(root: string): Promise<Base> {
  const run = join(root, 'base-run');
  const r = await exec(process.execPath, [BIN, 'run', '--seed', '1', '--max-steps', '3000', '--out', run], root, {}, 60_000);
  if (r.status !== 0) throw new Error(`census: the base run failed: ${r.stderr}`);
  return { run, ctf: CTF_FIXTURE };
}

/** Runs every case (two at a time) and returns the outcomes in case order. */
export async function runCensus(cases: readonly Case[] = CASES, parallel = 2): Promise<Outcome[]> {
  const root = mkdtempSync(join(tmpdir(), 'tracelab-census-'));
  const base = await makeBase(root);
  const out: Outcome[] = new Array<Outcome>(cases.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= cases.length) return;
      const c = cases[i]!;
      const w = join(root, c.id);
      mkdirSync(w, { recursive: true });
      c.prepare?.(w, base);
      const timeout = c.timeout ?? 20_000;
      const raw =
        c.cli !== undefined
          ? await exec(process.execPath, [BIN, ...c.cli], w, {}, timeout)
          : await exec(process.execPath, ['--input-type=module', '-e', HARNESS(c.lib!)], ROOT, { W: w }, timeout);
      const { verdict, sees } = classify(c, raw);
      out[i] = { id: c.id, surface: c.surface, input: c.input, owner: c.owner, verdict, sees: tidy(sees, root), status: raw.status };
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

/** One line, temporary paths replaced, at most 160 characters, no table breakers. */
function tidy(s: string, root: string): string {
  const t = s
    .split(root)
    .join('<tmp>')
    .split(ROOT)
    .join('<repo>/')
    .replace(/\/tmp\/[\w.-]+/g, '<tmp>')
    .replace(/\|/g, '\\|')
    .replace(/\s+/g, ' ')
    .trim();
  return t.length > 160 ? `${t.slice(0, 157)}...` : t;
}

export function totals(outcomes: readonly Outcome[]): Record<Verdict, number> {
  const t = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const o of outcomes) t[o.verdict]++;
  return t;
}

/** The census table with its totals, as docs/reliability.md holds it. */
export function censusMarkdown(outcomes: readonly Outcome[]): string {
  const t = totals(outcomes);
  const n = outcomes.length;
  const pct = (k: number): string => `${Math.round((100 * k) / n)}%`;
  const lines = [
    `| # | surface | input | what the user sees | verdict |`,
    `|---|---|---|---|---|`,
    ...outcomes.map(
      (o, i) =>
        `| ${i + 1} | ${o.surface} | ${o.input.replace(/\|/g, '\\|')}${o.owner !== undefined ? ` *(a recorded limit: ${o.owner})*` : ''} | ${o.sees === '' ? '(nothing)' : `\`${o.sees.replace(/`/g, "'")}\``} | ${o.verdict} |`,
    ),
    '',
    `**Totals (${n} inputs):** ${VERDICTS.map((v) => `${v} ${t[v]} (${pct(t[v])})`).join(', ')}.`,
  ];
  return lines.join('\n');
}
