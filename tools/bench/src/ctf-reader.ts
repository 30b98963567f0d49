/**
 * The CTF reader against babeltrace2 2.0.4 on the same trace, in the same run: a trace of
 * 300,000 events over 2 CPUs written by tracelab's CTF writer (LTTng's packet layout, 4 KiB
 * packets, events of 4 to 7 fields with a string), then
 * - decode: `readCtfTrace` (every event decoded into objects and merged in time order) against
 *   `babeltrace2 --output-format=dummy` (decode, merge, discard);
 * - text: `readCtfTrace` + `ctfTextLines` against `babeltrace2 --clock-seconds --no-delta`
 *   writing to /dev/null.
 * babeltrace2 runs as a process: its ~3 ms startup is under 2% of its time here. Without the
 * babeltrace2 binary its rows are left out with a note.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtfPacketBuilder, ctfTextLines, readCtfTrace, writeCtfTrace, type CtfTraceClass } from '@tracelab/formats';
import { median, row, timeOnceWall, type Benchmark, type Row } from './harness.js';

const EVENTS = 300_000;
const SAMPLES = 3;

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
        { name: 'state', type: { kind: 'enum', container: { kind: 'integer', size: 8, signed: false }, mappings: [{ label: 'R', start: 0, end: 0 }, { label: 'S', start: 1, end: 1 }] } },
      ],
    },
  ],
};

function writeBenchTrace(dir: string): void {
  const streams: Uint8Array[] = [];
  for (const cpu of [0, 1]) {
    const b = new CtfPacketBuilder(traceClass, cpu, 4096);
    let ts = 1_000_000 + cpu * 3;
    for (let i = 0; i < EVENTS / 2; i++) {
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
      for (let s = 0; s < SAMPLES; s++) {
        decode.push(timeOnceWall(() => readCtfTrace(dir)).ns);
        text.push(timeOnceWall(() => ctfTextLines(readCtfTrace(dir)).length).ns);
      }
      const ours = median(decode) / EVENTS;
      const oursText = median(text) / EVENTS;
      const bt2Dummy = timeBt2(['--output-format=dummy', dir]);
      const bt2Text = timeBt2(['--clock-seconds', '--no-delta', '-w', '/dev/null', dir]);
      const rows: Row[] = [];
      const name = `ctf read, ${EVENTS.toLocaleString('en-US')} events, 2 streams`;
      if (bt2Dummy === undefined || bt2Text === undefined) {
        process.stderr.write(`  ${name}: ${ours.toFixed(0)} ns/event decode, ${oursText.toFixed(0)} ns/event text; babeltrace2 not found, its rows are skipped\n`);
        return rows;
      }
      rows.push(row(`${name}: decode`, 'ns/event', ours, bt2Dummy / EVENTS, 'babeltrace2 --output-format=dummy'));
      rows.push(row(`${name}: decode + text lines`, 'ns/event', oursText, bt2Text / EVENTS, 'babeltrace2 text output to /dev/null'));
      return rows;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
