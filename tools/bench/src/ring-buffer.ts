/**
 * The ring buffer's fast path (reserve + write a record + commit on a per-CPU buffer, with a
 * consumer taking delivered sub-buffers out) against the memory-bandwidth bound (a plain
 * `TypedArray.set` copy of the same bytes), an array push of objects, and LTTng-UST's enabled
 * tracepoint (tools/bench/lttng, when the toolchain and liblttng-ust-dev are installed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '@tracelab/ring-buffer';
import { measure, row, type Benchmark, type Row } from './harness.js';

const BATCH = 10_000;
const OPTS = { iterations: 100, samples: 9, opsPerCall: BATCH, warmup: 200 } as const;
const uuid = new Uint8Array(16).fill(1);
let sink = 0;

/** 32-byte payload: 8 u32 words; the record is the 12-byte event header + payload. */
function ringLoop(payload: number): () => void {
  const b = new RingBuffer({ cpu: 0, subbufSize: 1 << 20, numSubbuf: 4, mode: 'overwrite', uuid, streamId: 0 });
  const slot = 12 + payload;
  const words = payload >> 2;
  const src = new Uint8Array(payload).fill(7);
  const u32 = new Uint32Array(b.bytes);
  let ts = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const o = b.reserve(slot, ++ts);
      if (o < 0) continue;
      const pos = b.pos;
      const dv = b.dv;
      dv.setUint32(pos, 3, true);
      dv.setUint32(pos + 4, ts, true);
      dv.setUint32(pos + 8, 0, true);
      if (words <= 8) {
        // small records: word stores (TypedArray.set has a ~14 ns fixed cost); pos is not
        // 4-aligned in general, so go through the DataView
        for (let w = 0; w < words; w++) dv.setUint32(pos + 12 + w * 4, i + w, true);
      } else {
        b.u8.set(src, pos + 12);
      }
      b.commit(o, slot, true);
    }
    sink = (sink + u32[0]!) | 0;
    b.deliveries.length = 0;
  };
}

function typedSetLoop(bytes: number): () => void {
  const ring = new Uint8Array(4 << 20);
  const src = new Uint8Array(bytes).fill(7);
  let at = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      ring.set(src, at);
      at += bytes;
      if (at + bytes > ring.length) at = 0;
    }
    sink = (sink + ring[0]!) | 0;
  };
}

function pushLoop(): () => void {
  let arr: { id: number; ts: number; a: number; b: number; c: number; d: number }[] = [];
  return () => {
    for (let i = 0; i < BATCH; i++) arr.push({ id: 3, ts: i, a: i, b: i + 1, c: i + 2, d: i + 3 });
    if (arr.length > 1_000_000) arr = [];
  };
}

/** Builds and runs tools/bench/lttng/bench.c; null with a reason when the toolchain or LTTng-UST is absent. */
function lttngNsPerEvent(): { ns: number } | { skip: string } {
  const dir = fileURLToPath(new URL('../lttng/', import.meta.url));
  if (!existsSync('/usr/include/lttng/tracepoint.h')) return { skip: 'liblttng-ust-dev not installed (no /usr/include/lttng/tracepoint.h)' };
  try {
    const out = mkdtempSync(join(tmpdir(), 'tl-lttng-'));
    execFileSync('sh', [join(dir, 'run.sh'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const text = execFileSync('cat', [join(out, 'result.txt')], { encoding: 'utf8' });
    const ns = Number(/ns_per_event=([\d.]+)/.exec(text)?.[1]);
    return Number.isFinite(ns) ? { ns } : { skip: `no figure in ${text.slice(0, 80)}` };
  } catch (e) {
    return { skip: `build or run failed: ${String((e as Error).message).split('\n')[0]}` };
  }
}

export const ringBufferBench: Benchmark = {
  name: 'ring-buffer',
  run(): Row[] {
    const unit = 'ns/event';
    const r32 = measure(ringLoop(32), OPTS);
    const set44 = measure(typedSetLoop(44), OPTS);
    const push = measure(pushLoop(), OPTS);
    const r4k = measure(ringLoop(4096), { ...OPTS, iterations: 10, opsPerCall: BATCH });
    const set4k = measure(typedSetLoop(4108), { ...OPTS, iterations: 10, opsPerCall: BATCH });
    const rows: Row[] = [
      row('ring-buffer reserve + 32 B write + commit', unit, r32, set44, 'Uint8Array.set of the same 44 bytes'),
      row('ring-buffer reserve + 32 B write + commit', unit, r32, push, 'array push of a 6-field object'),
      row('ring-buffer reserve + 32 B write + commit (events/s)', 'events/s', 1e9 / r32, 50e6, 'target 50 M events/s'),
      row('ring-buffer reserve + 4 KiB write + commit (GB/s)', 'GB/s', 4108 / r4k, 4108 / set4k, 'Uint8Array.set of the same 4108 bytes (bandwidth bound)'),
    ];
    const lt = lttngNsPerEvent();
    if ('ns' in lt) rows.push(row('ring-buffer reserve + 32 B write + commit', unit, r32, lt.ns, 'LTTng-UST enabled tracepoint, 32 B payload'));
    else console.log(`ring-buffer: LTTng-UST row skipped: ${lt.skip}`);
    return rows;
  },
};
