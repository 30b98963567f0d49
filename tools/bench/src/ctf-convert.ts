/**
 * `tracelab convert --to text` against `babeltrace2 --clock-seconds --no-delta` on the same
 * trace, in the same run, at 1,000,000 and 3,000,000 events (the `ctf reader` benchmark's
 * trace: tracelab's CTF writer, 2 CPUs, 4 KiB packets, two event classes of 4 and 5 fields
 * with strings, a hexadecimal integer and an enum). Per trace size, interleaved, three samples
 * of each (median, wall clock, output to /dev/null):
 * - ours, in process: the command (`main(['convert', DIR, '--to', 'text', '--out',
 *   '/dev/null'])`) in the bench process, after a warm-up run on a small trace;
 * - ours, as a process: `node packages/cli/dist/bin.js convert ...`, which adds node's start
 *   and the CLI's module loading (what a user waits for);
 * - babeltrace2 as a process (its start is a few ms).
 * Without the babeltrace2 binary the rows are left out with a note.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { convertText, writeBenchTrace } from './ctf-reader.js';
import { median, row, timeOnceWall, type Benchmark, type Row } from './harness.js';

const SIZES = [1_000_000, 3_000_000] as const;
const SAMPLES = 3;

function cliBin(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@tracelab/cli/package.json')), 'dist', 'bin.js');
}

/** Wall-clock ns of a process run; undefined when it cannot run or fails. */
function timeProcess(cmd: string, args: readonly string[]): number | undefined {
  const { value, ns } = timeOnceWall(() => spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  return value.error !== undefined || value.status !== 0 ? undefined : ns;
}

export const ctfConvertBench: Benchmark = {
  name: 'ctf convert',
  run(): Row[] {
    const bin = cliBin();
    const rows: Row[] = [];
    // Warm-up: the compiled paths of the command, on a small trace.
    const warm = mkdtempSync(join(tmpdir(), 'bench-convert-warm-'));
    try {
      writeBenchTrace(warm, 50_000);
      convertText(warm);
    } finally {
      rmSync(warm, { recursive: true, force: true });
    }
    for (const events of SIZES) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-convert-'));
      try {
        writeBenchTrace(dir, events);
        const mib = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0) / (1 << 20);
        const inProcess: number[] = [];
        const asProcess: number[] = [];
        const bt2: number[] = [];
        let bt2Missing = false;
        for (let s = 0; s < SAMPLES; s++) {
          inProcess.push(timeOnceWall(() => convertText(dir)).ns);
          const p = timeProcess(process.execPath, [bin, 'convert', dir, '--to', 'text', '--out', '/dev/null']);
          if (p === undefined) throw new Error(`ctf convert bench: ${bin} convert ${dir} failed`);
          asProcess.push(p);
          const b = timeProcess('babeltrace2', ['--clock-seconds', '--no-delta', '-w', '/dev/null', dir]);
          if (b === undefined) bt2Missing = true;
          else bt2.push(b);
        }
        const name = `tracelab convert --to text, ${events.toLocaleString('en-US')} events (${mib.toFixed(0)} MiB), to /dev/null`;
        const ours = median(inProcess) / events;
        const oursProcess = median(asProcess) / events;
        if (bt2Missing) {
          process.stderr.write(
            `  ${name}: ${ours.toFixed(0)} ns/event in process, ${oursProcess.toFixed(0)} as a process; babeltrace2 not found, its rows are skipped\n`,
          );
          continue;
        }
        const peer = median(bt2) / events;
        rows.push(row(`${name}: in process`, 'ns/event', ours, peer, 'babeltrace2 --clock-seconds --no-delta'));
        rows.push(row(`${name}: node bin.js as a process`, 'ns/event', oursProcess, peer, 'babeltrace2 --clock-seconds --no-delta'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    return rows;
  },
};
