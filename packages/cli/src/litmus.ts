import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { findKernelWitness, parseLitmus, runLitmus, runLitmusOnKernel, type LitmusExecution, type LitmusOutcome } from '@tracelab/memory-model';
import type { CliIo } from './cli.js';

export const LITMUS_USAGE = `  tracelab litmus <file|dir>... [--json] [--check] [--replay STRING | --kernel STRING]
      checks litmus tests (the C dialect of the kernel's tools/memory-model/litmus-tests) against
      the Linux-kernel memory model over every candidate execution, and prints herd7's line
      'Observation <name> Never|Sometimes|Always <positive> <negative>' with a witness and its
      replay string when the condition is reachable; --check exits 1 when a test's 'Result:'
      line disagrees; --replay prints one execution of one test; --kernel re-runs one test on
      the simulated kernel with the memory-model plugin from a kernel schedule`;

/** What `--json` prints per test. */
export interface LitmusJson {
  readonly file: string;
  readonly name: string;
  readonly result: LitmusOutcome['result'];
  readonly positive: number;
  readonly negative: number;
  readonly witness?: LitmusExecution & { readonly kernelSchedule: string | null };
  readonly unsupported?: { readonly construct: string; readonly line: number };
  /** The test's own `Result:` line, when it has one. */
  readonly expected?: string;
}

function bad(message: string): never {
  throw new TracelabError('INVALID_OPTION', message);
}

/** The `.litmus` files under each argument (directories recursively, in name order). */
function litmusFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      bad(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        const q = join(p, e);
        if (statSync(q).isDirectory() || e.endsWith('.litmus')) walk(q);
      }
    } else out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

function printExecution(io: CliIo, w: LitmusExecution, indent: string): void {
  w.threads.forEach((evs, i) => io.out(`${indent}P${i}: ${evs.join('; ')}`));
  for (const [loc, vs] of Object.entries(w.co)) io.out(`${indent}co ${loc}: ${vs.map(String).join(' -> ')}`);
  io.out(
    `${indent}final: ${Object.entries(w.final)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}`,
  );
}

/** `tracelab litmus`. Exit code: 0, 1 (`--check` found a disagreement), 2 (bad input, an unparsable file). */
export function cmdLitmus(argv: readonly string[], io: CliIo): number {
  let json = false;
  let check = false;
  let replay: string | undefined;
  let kernel: string | undefined;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--check') check = true;
    else if (a === '--replay') replay = argv[++i] ?? bad('--replay needs a replay string');
    else if (a === '--kernel') kernel = argv[++i] ?? bad('--kernel needs a kernel schedule');
    else if (a.startsWith('--')) bad(`unknown option ${a}\n${LITMUS_USAGE}`);
    else paths.push(a);
  }
  if (paths.length === 0) bad(`litmus needs a file or directory\n${LITMUS_USAGE}`);
  const files = litmusFiles(paths);
  if ((replay !== undefined || kernel !== undefined) && files.length !== 1) bad('--replay and --kernel take exactly one litmus file');

  if (kernel !== undefined) {
    const test = parseLitmus(readFileSync(files[0]!, 'utf8'), files[0]!);
    const r = runLitmusOnKernel(test, { schedule: kernel });
    const final = [...[...r.regs].sort(([a], [b]) => (a < b ? -1 : 1)), ...r.mem].map(([k, v]) => `${k}=${String(v)}`).join(' ');
    io.out(`${test.name}: ${r.done ? 'ran to the end' : 'did not finish'}; final: ${final}`);
    return 0;
  }

  const results: LitmusJson[] = [];
  let parseErrors = 0;
  let disagree = 0;
  for (const file of files) {
    let test;
    try {
      test = parseLitmus(readFileSync(file, 'utf8'), file);
    } catch (err) {
      if (err instanceof TracelabError && err.code === 'LITMUS_PARSE') {
        io.err(`tracelab: ${err.code}: ${err.message}`);
        parseErrors++;
        continue;
      }
      throw err;
    }
    const r = runLitmus(test, replay === undefined ? {} : { replay });
    const kernelSchedule = r.witness === undefined || replay !== undefined ? null : findKernelWitness(test);
    const entry: LitmusJson = {
      file,
      name: r.name,
      result: r.result,
      positive: r.positive,
      negative: r.negative,
      ...(r.witness === undefined ? {} : { witness: { ...r.witness, kernelSchedule } }),
      ...(r.unsupported === undefined ? {} : { unsupported: r.unsupported }),
      ...(r.expected === null ? {} : { expected: r.expected }),
    };
    results.push(entry);
    if (r.expected !== null && r.result !== 'Unsupported' && r.expected !== r.result) disagree++;
    if (json) continue;
    if (replay !== undefined && r.witness !== undefined) {
      io.out(`Execution ${r.name} (replay ${r.witness.replay}) ${r.witness.satisfies ? 'satisfies' : 'does not satisfy'} the condition`);
      printExecution(io, r.witness, '  ');
      continue;
    }
    if (r.result === 'Unsupported') {
      io.out(`Observation ${r.name} Unsupported 0 0`);
      io.out(`  unsupported: ${r.unsupported!.construct} at ${file}:${r.unsupported!.line}`);
      continue;
    }
    io.out(`Observation ${r.name} ${r.result} ${r.positive} ${r.negative}`);
    if (check && r.expected !== null && r.expected !== r.result) io.out(`  DISAGREES with its Result: ${r.expected}`);
    if (r.witness !== undefined) {
      io.out(`  witness (replay ${r.witness.replay}):`);
      printExecution(io, r.witness, '    ');
      io.out(kernelSchedule === null ? '  kernel: no run of the operational model reached it in 64 random walks' : `  kernel schedule: ${kernelSchedule}`);
    }
  }
  if (json) io.out(JSON.stringify(results, null, 2));
  if (parseErrors > 0) return 2;
  return check && disagree > 0 ? 1 : 0;
}
