/**
 * The CTF reader against babeltrace2 2.0.4 on the same trace, in the same run: a trace of
 * 300,000 events over 2 CPUs written by tracelab's CTF writer (LTTng's packet layout, 4 KiB
 * packets, events of 4 to 7 fields with a string), then
 * - decode, streamed: `openCtfTrace` iterated (every event decoded into objects and merged in
 *   time order, then dropped) against `babeltrace2 --output-format=dummy` (decode, merge,
 *   discard);
 * - text, streamed: `tracelab convert --to text --out /dev/null` (the command, in this
 *   process), against `babeltrace2 --clock-seconds --no-delta` writing to /dev/null;
 * - decode, whole trace: `readCtfTrace`, which keeps every event (what a caller that wants
 *   them all in memory pays), against the same babeltrace2 run;
 * - memory: `tracelab convert --to text --out /dev/null` on a trace 5x larger, its peak RSS
 *   beside the trace's size (and babeltrace2's peak RSS when GNU time is installed).
 * babeltrace2 runs as a process: its ~3 ms startup is under 2% of its time here. Without the
 * babeltrace2 binary its rows are left out with a note.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { main } from '@tracelab/cli';
import { CtfPacketBuilder, openCtfTrace, readCtfTrace, writeCtfTrace, type CtfTraceClass } from '@tracelab/formats';
import { median, row, timeOnceWall, type Benchmark, type Row } from './harness.js';

const EVENTS = 300_000;
/** The memory row's trace: 5x the timed one. */
const BIG_EVENTS = 1_500_000;
const SAMPLES = 3;

/** Decodes every event of the trace, streamed, and drops it; the count. */
function streamDecode(dir: string): number {
  let n = 0;
  for (const _ of openCtfTrace(dir)) n++;
  return n;
}

/** `tracelab convert DIR --to text --out /dev/null`, in this process (the command itself). */
export function convertText(dir: string): number {
  const said: string[] = [];
  const io = { cwd: process.cwd(), out: (t: string) => void said.push(t), err: (t: string) => void said.push(t) };
  const status = main(['convert', dir, '--to', 'text', '--out', '/dev/null'], io);
  if (status !== 0) throw new Error(`ctf reader bench: convert exited ${status}: ${said.join('\n')}`);
  return said.length;
}

function bytesOf(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** Peak RSS in MiB of `tracelab convert --to text --out /dev/null DIR`, from the child itself. */
function convertPeakMiB(dir: string): number {
  const bin = join(dirname(createRequire(import.meta.url).resolve('@tracelab/cli/package.json')), 'dist', 'bin.js');
  const probe = `process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n')); process.argv.splice(1, 0, ${JSON.stringify(bin)}); await import(${JSON.stringify(bin)});`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe, 'convert', dir, '--to', 'text', '--out', '/dev/null'], { encoding: 'utf8' });
  const m = /maxrss (\d+)/.exec(r.stderr);
  if (r.status !== 0 || m === null) throw new Error(`ctf reader bench: convert failed (${r.status}): ${r.stderr}`);
  return Number(m[1]) / 1024;
}

/** babeltrace2's peak RSS in MiB writing text to /dev/null, through GNU time; undefined without it. */
function bt2PeakMiB(dir: string): number | undefined {
  if (!existsSync('/usr/bin/time')) return undefined;
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss %M', 'babeltrace2', '--clock-seconds', '--no-delta', '-w', '/dev/null', dir], { encoding: 'utf8' });
  const m = /maxrss (\d+)/.exec(r.stderr);
  return r.status === 0 && m !== null ? Number(m[1]) / 1024 : undefined;
}

const traceClass: CtfTraceClass = {
  uuid: '3c9a1f0e-2b4d-4e6f-8a1b-2c3d4e5f6a7b',
  clock: { name: 'monotonic', freq: 1_000_000_000, offsetSeconds: 1_700_000_000, offset: 0 },
  env: { hostname: 'bench' },
  eventClasses: [
    {
      id: 0,
      name: 'sched_switch',
      fields: [
        { name: 'prev_comm', type: { kind: 'array', element: 'char', length: 16 } },
        { name: 'prev_tid', type: { kind: 'integer', size: 32, signed: true } },
        { name: 'next_comm', type: { kind: 'array', element: 'char', length: 16 } },
        { name: 'next_tid', type: { kind: 'integer', size: 32, signed: true } },
      ],
    },
    {
      id: 1,
      name: 'syscall_entry',
      fields: [
        { name: 'nr', type: { kind: 'integer', size: 32, signed: false } },
        { name: 'arg0', type: { kind: 'integer', size: 64, signed: false, base: 16 } },
        { name: 'arg1', type: { kind: 'integer', size: 64, signed: false } },
        { name: 'name', type: { kind: 'string' } },
        {
          name: 'state',
          type: {
            kind: 'enum',
            container: { kind: 'integer', size: 8, signed: false },
            mappings: [
              { label: 'R', start: 0, end: 0 },
              { label: 'S', start: 1, end: 1 },
            ],
          },
        },
      ],
    },
  ],
};

export function writeBenchTrace(dir: string, events = EVENTS): void {
  const streams: Uint8Array[] = [];
  for (const cpu of [0, 1]) {
    const b = new CtfPacketBuilder(traceClass, cpu, 4096);
    let ts = 1_000_000 + cpu * 3;
    for (let i = 0; i < events / 2; i++) {
      ts += 97 + (i % 13);
      if (i % 4 === 0) b.add(0, ts, [`task${i % 7}`, i % 1000, `task${(i + 1) % 7}`, (i + 1) % 1000]);
      else b.add(1, ts, [i % 300, 0x7fff0000 + i, i * 3, i % 2 === 0 ? 'openat' : 'read', i % 2]);
    }
    streams.push(b.finish());
  }
  writeCtfTrace(dir, traceClass, streams);
}

function timeBt2(args: readonly string[]): number | undefined {
  const runs: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const { value, ns } = timeOnceWall(() => spawnSync('babeltrace2', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    if (value.error !== undefined || value.status !== 0) return undefined;
    runs.push(ns);
  }
  return median(runs);
}

export const ctfReaderBench: Benchmark = {
  name: 'ctf reader',
  run(): Row[] {
    const dir = mkdtempSync(join(tmpdir(), 'bench-ctf-'));
    try {
      writeBenchTrace(dir);
      // Correctness first: the reader sees every event.
      const check = readCtfTrace(dir);
      if (check.events.length !== EVENTS) throw new Error(`ctf reader: read ${check.events.length} of ${EVENTS} events`);
      const decode: number[] = [];
      const text: number[] = [];
      const whole: number[] = [];
      for (let s = 0; s < SAMPLES; s++) {
        decode.push(timeOnceWall(() => streamDecode(dir)).ns);
        text.push(timeOnceWall(() => convertText(dir)).ns);
        whole.push(timeOnceWall(() => readCtfTrace(dir).events.length).ns);
      }
      const ours = median(decode) / EVENTS;
      const oursText = median(text) / EVENTS;
      const oursWhole = median(whole) / EVENTS;
      const bt2Dummy = timeBt2(['--output-format=dummy', dir]);
      const bt2Text = timeBt2(['--clock-seconds', '--no-delta', '-w', '/dev/null', dir]);
      const rows: Row[] = [];
      const name = `ctf read, ${EVENTS.toLocaleString('en-US')} events, 2 streams`;
      // The memory row: a trace 5x larger through the CLI's streamed convert.
      const big = mkdtempSync(join(tmpdir(), 'bench-ctf-big-'));
      let peak: number;
      let bt2Peak: number | undefined;
      let bigMiB: number;
      try {
        writeBenchTrace(big, BIG_EVENTS);
        bigMiB = bytesOf(big) / (1 << 20);
        peak = convertPeakMiB(big);
        bt2Peak = bt2Dummy === undefined ? undefined : bt2PeakMiB(big);
      } finally {
        rmSync(big, { recursive: true, force: true });
      }
      const bigName = `tracelab convert --to text, ${BIG_EVENTS.toLocaleString('en-US')} events (${bigMiB.toFixed(0)} MiB of streams): peak RSS`;
      if (bt2Dummy === undefined || bt2Text === undefined) {
        process.stderr.write(
          `  ${name}: ${ours.toFixed(0)} ns/event decode, ${oursText.toFixed(0)} ns/event text; babeltrace2 not found, its rows are skipped\n`,
        );
        rows.push(row(bigName, 'MiB', peak, bigMiB, 'the trace size'));
        return rows;
      }
      rows.push(row(`${name}: decode, streamed`, 'ns/event', ours, bt2Dummy / EVENTS, 'babeltrace2 --output-format=dummy'));
      rows.push(row(`${name}: text, tracelab convert to /dev/null`, 'ns/event', oursText, bt2Text / EVENTS, 'babeltrace2 text output to /dev/null'));
      rows.push(row(`${name}: decode, whole trace in memory (readCtfTrace)`, 'ns/event', oursWhole, bt2Dummy / EVENTS, 'babeltrace2 --output-format=dummy'));
      rows.push(row(bigName, 'MiB', peak, bigMiB, 'the trace size'));
      if (bt2Peak !== undefined) rows.push(row(`${bigName}, against babeltrace2's`, 'MiB', peak, bt2Peak, 'babeltrace2 text to /dev/null, peak RSS'));
      return rows;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
