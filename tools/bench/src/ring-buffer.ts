/**
 * The ring buffer's fast path, as a probe uses it: reserve a record, write the CTF event header
 * `{ u32 id; u64 timestamp }` and a 32-byte payload (4 x u64, LTTng's `rec32` in
 * tools/bench/lttng), commit. Peers measured in the same run:
 *  - the same 44 bytes copied with `Uint8Array.set` (what a generic copy costs),
 *  - the same eleven 32-bit stores into a plain ArrayBuffer ring, with no reserve/commit (the
 *    bare write: what reserve + commit add on top),
 *  - an array push of an object per event,
 *  - 4 KiB payloads against `Uint8Array.set` of the same bytes (the memory-bandwidth bound),
 *  - LTTng-UST's enabled tracepoint with the same payload (tools/bench/lttng/run.sh), when gcc,
 *    liblttng-ust-dev and lttng-tools are installed. LTTng reads a clock per event
 *    (clock_gettime, ~18 ns); tracelab's probes take the simulated clock, so the comparison is
 *    shown both without and with a host clock read (`performance.now()`) per event.
 *
 * Every case has its own loop function: closures created at one site share V8 feedback and
 * optimized code, which would make the 32 B and 4 KiB cases slow each other down.
 * Rings are 4 MiB x 8 (32 MiB, LTTng's channel in run.sh), overwrite mode, no consumer: the
 * figure is the producer's, as LTTng's is (its consumer is another process). Each case uses two
 * rings (two CPUs' buffers), switching every batch, and the copy peers two plain rings of the
 * same size: with a single buffer V8 folds its fields into constants (a const-field
 * specialization no multi-CPU tracer gets), which made the 32 B figure ~35% too good.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '@tracelab/ring-buffer';
import { measure, row, type Benchmark, type Row } from './harness.js';

const BATCH = 10_000;
const OPTS = { iterations: 100, samples: 9, opsPerCall: BATCH, warmup: 200 } as const;
const SUBBUF = 4 << 20;
const NUM_SUBBUF = 8;
const RING_BYTES = SUBBUF * NUM_SUBBUF;
const EVENT_ID = 3;
/** Event header (u32 id + u64 timestamp) + 4 x u64. */
const SLOT32 = 12 + 32;
const uuid = new Uint8Array(16).fill(1);
let sink = 0;

function newRing(): RingBuffer {
  return new RingBuffer({ cpu: 0, subbufSize: SUBBUF, numSubbuf: NUM_SUBBUF, mode: 'overwrite', uuid, streamId: 0 });
}

/** reserve + header + 4 x u64 payload + commit, timestamps from a counter (the simulated clock). */
function ring32Loop(): () => void {
  const rings = [newRing(), newRing()];
  let cpu = 0;
  let ts = 0;
  let v = 0;
  return () => {
    const b = rings[cpu]!;
    cpu ^= 1;
    const u32 = b.u32;
    const dv = b.dv;
    const words = b.wordStores;
    for (let i = 0; i < BATCH; i++) {
      const t = ++ts;
      const o = b.reserve(SLOT32, t);
      if (o < 0) continue;
      const p = b.writeEventHeader(b.pos, EVENT_ID, t);
      const a = v++;
      if ((p & 3) === 0 && words) {
        const w = p >>> 2;
        u32[w] = a;
        u32[w + 1] = 0;
        u32[w + 2] = a + 1;
        u32[w + 3] = 0;
        u32[w + 4] = a + 2;
        u32[w + 5] = 0;
        u32[w + 6] = a + 3;
        u32[w + 7] = 0;
      } else {
        dv.setUint32(p, a, true);
        dv.setUint32(p + 4, 0, true);
        dv.setUint32(p + 8, a + 1, true);
        dv.setUint32(p + 12, 0, true);
        dv.setUint32(p + 16, a + 2, true);
        dv.setUint32(p + 20, 0, true);
        dv.setUint32(p + 24, a + 3, true);
        dv.setUint32(p + 28, 0, true);
      }
      b.commit(o, SLOT32, true);
    }
    if (v > 0x3fffffff) v = 0;
    sink = (sink + u32[30]!) | 0;
    b.deliveries.length = 0;
  };
}

/** The same, with a host clock read per event (`performance.now()` in ns), as LTTng reads one. */
function ring32ClockLoop(): () => void {
  const rings = [newRing(), newRing()];
  let cpu = 0;
  let v = 0;
  return () => {
    const b = rings[cpu]!;
    cpu ^= 1;
    const u32 = b.u32;
    const dv = b.dv;
    const words = b.wordStores;
    for (let i = 0; i < BATCH; i++) {
      const t = Math.floor(performance.now() * 1e6);
      const o = b.reserve(SLOT32, t);
      if (o < 0) continue;
      const p = b.writeEventHeader(b.pos, EVENT_ID, t);
      const a = v++;
      if ((p & 3) === 0 && words) {
        const w = p >>> 2;
        u32[w] = a;
        u32[w + 1] = 0;
        u32[w + 2] = a + 1;
        u32[w + 3] = 0;
        u32[w + 4] = a + 2;
        u32[w + 5] = 0;
        u32[w + 6] = a + 3;
        u32[w + 7] = 0;
      } else {
        dv.setUint32(p, a, true);
        dv.setUint32(p + 4, 0, true);
        dv.setUint32(p + 8, a + 1, true);
        dv.setUint32(p + 12, 0, true);
        dv.setUint32(p + 16, a + 2, true);
        dv.setUint32(p + 20, 0, true);
        dv.setUint32(p + 24, a + 3, true);
        dv.setUint32(p + 28, 0, true);
      }
      b.commit(o, SLOT32, true);
    }
    if (v > 0x3fffffff) v = 0;
    sink = (sink + u32[30]!) | 0;
    b.deliveries.length = 0;
  };
}

/** The bare write: the same eleven word stores into a plain ArrayBuffer ring, no reserve/commit. */
function bareStoresLoop(): () => void {
  const rings = [new Uint32Array(RING_BYTES >>> 2), new Uint32Array(RING_BYTES >>> 2)];
  const at = [0, 0];
  let cpu = 0;
  const lastWord = (RING_BYTES - SLOT32) >>> 2;
  let ts = 0;
  let v = 0;
  return () => {
    const u32 = rings[cpu]!;
    let w = at[cpu]!;
    for (let i = 0; i < BATCH; i++) {
      const t = ++ts;
      const a = v++;
      u32[w] = EVENT_ID;
      u32[w + 1] = t;
      u32[w + 2] = 0;
      u32[w + 3] = a;
      u32[w + 4] = 0;
      u32[w + 5] = a + 1;
      u32[w + 6] = 0;
      u32[w + 7] = a + 2;
      u32[w + 8] = 0;
      u32[w + 9] = a + 3;
      u32[w + 10] = 0;
      w += SLOT32 / 4;
      if (w > lastWord) w = 0;
    }
    at[cpu] = w;
    cpu ^= 1;
    if (v > 0x3fffffff) v = 0;
    sink = (sink + u32[30]!) | 0;
  };
}

function set44Loop(): () => void {
  return setLoop(SLOT32);
}

const BIG = 4096;
const SLOT4K = 12 + BIG;

/** reserve + header + a 4 KiB payload copied with `Uint8Array.set` + commit. */
function ring4kLoop(): () => void {
  const rings = [newRing(), newRing()];
  let cpu = 0;
  const src = new Uint8Array(BIG).fill(7);
  let ts = 0;
  return () => {
    const b = rings[cpu]!;
    cpu ^= 1;
    const u8 = b.u8;
    for (let i = 0; i < BATCH; i++) {
      const t = ++ts;
      const o = b.reserve(SLOT4K, t);
      if (o < 0) continue;
      u8.set(src, b.writeEventHeader(b.pos, EVENT_ID, t));
      b.commit(o, SLOT4K, true);
    }
    sink = (sink + u8[100]!) | 0;
    b.deliveries.length = 0;
  };
}

function set4kLoop(): () => void {
  return setLoop(SLOT4K);
}

/**
 * `Uint8Array.set` of `bytes`-byte records into two rings of the tracelab rings' size,
 * alternating per batch like the per-CPU rings: the same bytes through the same memory.
 * Called once per size only (see the comment at the top on shared feedback).
 */
function setLoop(bytes: number): () => void {
  const rings = [new Uint8Array(RING_BYTES), new Uint8Array(RING_BYTES)];
  const src = new Uint8Array(bytes).fill(7);
  const pos = [0, 0];
  let cpu = 0;
  return () => {
    const ring = rings[cpu]!;
    let at = pos[cpu]!;
    for (let i = 0; i < BATCH; i++) {
      ring.set(src, at);
      at += bytes;
      if (at + bytes > RING_BYTES) at = 0;
    }
    pos[cpu] = at;
    cpu ^= 1;
    sink = (sink + ring[0]!) | 0;
  };
}

function pushLoop(): () => void {
  let arr: { id: number; ts: number; a: number; b: number; c: number; d: number }[] = [];
  return () => {
    for (let i = 0; i < BATCH; i++) arr.push({ id: EVENT_ID, ts: i, a: i, b: i + 1, c: i + 2, d: i + 3 });
    if (arr.length > 1_000_000) arr = [];
  };
}

interface LttngFigures {
  /** ns/event of the disabled tracepoint (no session enables it), or why it was not measured. */
  readonly disabled: number | string;
  /** ns/event of the enabled tracepoint (median of 5 passes), or why it was not measured. */
  readonly enabled: number | string;
  readonly note: string;
}

/** Builds and runs tools/bench/lttng (run.sh); every figure it could not take comes back as a reason. */
function lttng(): LttngFigures {
  const script = fileURLToPath(new URL('../lttng/run.sh', import.meta.url));
  const out = mkdtempSync(join(tmpdir(), 'tl-lttng-'));
  try {
    try {
      execFileSync('sh', [script, out], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      const why = (err.stderr?.toString().trim() || err.message).split('\n')[0]!;
      return { disabled: why, enabled: why, note: '' };
    }
    const kv = new Map(
      readFileSync(join(out, 'result.txt'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    const num = (k: string): number | string => {
      const v = Number(kv.get(k));
      return kv.has(k) && Number.isFinite(v) ? v : `no ${k} in run.sh output`;
    };
    const enabled = kv.has('enabled_skip') ? kv.get('enabled_skip')! : num('enabled_ns_per_event_median');
    const note = kv.has('enabled_events')
      ? `${kv.get('enabled_events')} events, ${kv.get('enabled_discarded')} discarded, ${kv.get('enabled_trace_bytes')} trace bytes; fastest pass ${kv.get('enabled_ns_per_event_min')} ns`
      : '';
    return { disabled: num('disabled_ns_per_event_median'), enabled, note };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export const ringBufferBench: Benchmark = {
  name: 'ring-buffer',
  run(): Row[] {
    const unit = 'ns/event';
    const r32 = measure(ring32Loop(), OPTS);
    const bare = measure(bareStoresLoop(), OPTS);
    const set44 = measure(set44Loop(), OPTS);
    const push = measure(pushLoop(), OPTS);
    const r32clock = measure(ring32ClockLoop(), OPTS);
    const big = { ...OPTS, iterations: 5, warmup: 20 };
    const r4k = measure(ring4kLoop(), big);
    const set4k = measure(set4kLoop(), big);
    const name32 = 'ring-buffer reserve + 32 B write + commit';
    const rows: Row[] = [
      row(name32, unit, r32, set44, `Uint8Array.set of the same ${SLOT32} bytes`),
      row(name32, unit, r32, bare, 'the same 11 word stores into a plain ArrayBuffer (bare write, no reserve/commit)'),
      row(name32, unit, r32, push, 'array push of a 6-field object'),
      row(`${name32} (events/s)`, 'events/s', 1e9 / r32, 50e6, 'target 50 M events/s'),
      row(
        'ring-buffer reserve + 4 KiB write + commit (GB/s)',
        'GB/s',
        SLOT4K / r4k,
        SLOT4K / set4k,
        `Uint8Array.set of the same ${SLOT4K} bytes (bandwidth bound; aim: 50%)`,
      ),
    ];
    const lt = lttng();
    if (typeof lt.enabled === 'number') {
      rows.push(row(name32, unit, r32, lt.enabled, 'LTTng-UST enabled tracepoint, same 32 B payload (reads clock_gettime)'));
      rows.push(row(`${name32} + performance.now()`, unit, r32clock, lt.enabled, 'LTTng-UST enabled tracepoint, same 32 B payload (reads clock_gettime)'));
      console.log(`ring-buffer: LTTng-UST enabled run: ${lt.note}`);
    } else {
      rows.push(row(`${name32} + performance.now()`, unit, r32clock, r32, 'the same without a host clock read'));
      console.log(`ring-buffer: LTTng-UST enabled-tracepoint row skipped: ${lt.enabled}`);
    }
    if (typeof lt.disabled === 'number')
      console.log(
        `ring-buffer: LTTng-UST disabled tracepoint (the guard alone): ${lt.disabled} ns/hit, for reference (no tracelab peer: a disabled tracelab tracepoint is a simulated kernel path)`,
      );
    else if (lt.disabled !== lt.enabled) console.log(`ring-buffer: LTTng-UST disabled tracepoint not measured: ${lt.disabled}`);
    return rows;
  },
};
