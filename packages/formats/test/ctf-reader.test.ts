import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CtfEnumValue,
  CtfReadError,
  CtfVariantValue,
  ctfTextLines,
  metadataText,
  readCtfTrace,
  type CtfEvent,
  type CtfReadResult,
  type TsdlStruct,
} from '@tracelab/formats';

const FIXTURES = join(__dirname, 'fixtures');
const LTTNG = ['lttng-ust/percpu', 'lttng-ust/discard', 'lttng-ust/bt2-ctf'];
const HANDMADE = ['handmade/kernel-compact', 'handmade/features-be'];

const bt2 = spawnSync('babeltrace2', ['--version'], { encoding: 'utf8' });
const hasBt2 = bt2.status === 0;

/** babeltrace2's lines and the events it reports lost (the sum of its WARNING lines). */
function babeltrace(dir: string): { lines: string[]; lost: number; status: number | null } {
  const r = spawnSync('babeltrace2', ['--clock-seconds', '--no-delta', dir], { encoding: 'utf8' });
  const lost = [...r.stderr.matchAll(/Tracer discarded (\d+) events/g)].reduce((n, m) => n + Number(m[1]), 0);
  return { lines: r.stdout.split('\n').filter((l) => l.length > 0), lost, status: r.status };
}

function tmpCopy(fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctf-reader-'));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

function key(e: CtfEvent): string {
  return `${e.stream}|${String(e.timestamp)}|${e.name}`;
}

describe('CTF reader against babeltrace2', () => {
  for (const f of [...LTTNG, ...HANDMADE]) {
    it.skipIf(!hasBt2)(`${f}: the same events, field values, timestamps and lost count as babeltrace2 --clock-seconds`, () => {
      const dir = join(FIXTURES, f);
      const ours = readCtfTrace(dir);
      const theirs = babeltrace(dir);
      expect(theirs.status).toBe(0);
      expect(ours.events.length).toBe(theirs.lines.length);
      // Line by line: every timestamp, name, context and field value (hex, enums, floats with %g).
      expect(ctfTextLines(ours)).toEqual(theirs.lines);
      expect(ours.lost).toBe(theirs.lost);
    });
  }
});

describe('LTTng-UST 2.13 traces', () => {
  const percpu = readCtfTrace(join(FIXTURES, 'lttng-ust/percpu'));

  it('reads packetized metadata and one stream file per CPU', () => {
    expect(percpu.traces).toHaveLength(1);
    expect(percpu.traces[0]!.packetizedMetadata).toBe(true);
    expect(percpu.traces[0]!.hostname).toBe('vm');
    expect(percpu.traces[0]!.metadata.env['tracer_name']).toBe('lttng-ust');
    expect(percpu.streams.map((s) => [s.path, s.cpu])).toEqual([
      ['ch0_0', 0],
      ['ch0_1', 1],
    ]);
    // tl_app: 20 iterations x 3 events per thread, one thread pinned per CPU.
    expect(percpu.events).toHaveLength(120);
    for (const cpu of [0, 1]) expect(percpu.events.filter((e) => e.cpu === cpu)).toHaveLength(60);
    expect(percpu.lost).toBe(0);
  });

  it('merges the streams in time order and decodes the large event header (16-bit id, 32-bit timestamp, extended escape)', () => {
    for (let i = 1; i < percpu.events.length; i++) expect(percpu.events[i]!.timestamp! >= percpu.events[i - 1]!.timestamp!).toBe(true);
    const headers = percpu.events.map((e) => e.header['v'] as CtfVariantValue);
    expect(new Set(headers.map((h) => h.option))).toEqual(new Set(['compact', 'extended']));
    // LTTng writes the extended header (32-bit id, 64-bit timestamp) for a stream's first
    // event and when 32 bits cannot hold the time since the previous event (the 4.5 s sleep);
    // every other event, the first of later packets included, has the compact one.
    const cpu0 = percpu.events.filter((e) => e.cpu === 0);
    const gap = cpu0.findIndex((e, i) => i > 0 && e.timestamp! - cpu0[i - 1]!.timestamp! > 4_000_000_000n);
    expect(gap).toBeGreaterThan(0);
    for (const cpu of [0, 1]) {
      const evs = percpu.events.filter((e) => e.cpu === cpu);
      const extended = evs.filter((e) => (e.header['v'] as CtfVariantValue).option === 'extended');
      const needed = evs.filter((e, i) => i === 0 || e.timestamp! - evs[i - 1]!.timestamp! >= 2n ** 32n);
      expect(extended).toEqual(needed);
    }
    expect(new Set(percpu.events.filter((e) => e.cpu === 0).map((e) => e.packetContext['packet_seq_num']))).toEqual(new Set([0, 1]));
    // A compact header's 32 bits are the low bits of the reconstructed clock.
    for (const e of percpu.events) {
      const v = e.header['v'] as CtfVariantValue;
      if (v.option === 'compact') expect(BigInt((v.value as { timestamp: number }).timestamp)).toBe(BigInt(e.cycles!) % 2n ** 32n);
    }
  });

  it('decodes every field type tl_app writes, with 64-bit values beyond 2^53 as bigint', () => {
    const numbers = percpu.events.filter((e) => e.name === 'tl:numbers');
    expect(numbers).toHaveLength(40);
    for (const e of numbers) {
      // The C program: k = cpu * 1000 + i, big = 9007199254740993 + k, d = k * 0.5 - 3.25.
      const vtid = e.streamContext!['vtid'];
      expect(typeof vtid).toBe('number');
      const u8 = e.fields['u8'] as number;
      const s64 = e.fields['s64'] as bigint;
      const k = Number(-s64 - 9007199254740993n);
      expect(k % 1000).toBeLessThan(20);
      expect(Math.floor(k / 1000)).toBe(e.cpu);
      expect(u8).toBe(k % 100);
      expect(e.fields['s8']).toBe(0 - (k % 100));
      expect(e.fields['s16']).toBe(0 - 1000 * (k % 100));
      expect(e.fields['u32']).toBe(4000000000 - (k % 100));
      expect(e.fields['u64']).toBe((9007199254740993n + BigInt(k)) * 1000n);
      expect(e.fields['hex']).toBe(0xdead0000 + (k % 100));
      expect(e.fields['dbl']).toBe(k * 0.5 - 3.25);
      expect(e.fields['flt']).toBe(Math.fround((k * 0.5 - 3.25) / 4));
      expect(e.streamContext!['procname']).toBe('tl_app');
    }
    const shapes = percpu.events.filter((e) => e.name === 'tl:shapes');
    for (const e of shapes) {
      const msg = e.fields['msg'] as string;
      const m = /^cpu(\d)-ev(\d+) "q"$/.exec(msg)!;
      const i = Number(m[2]);
      const k = Number(m[1]) * 1000 + i;
      const vals = Array.from({ length: 8 }, (_, j) => k * 10 + j - 5);
      expect(e.fields['arr']).toEqual(vals.slice(0, 3));
      expect(e.fields['_seq_length']).toBe(i % 5);
      expect(e.fields['seq']).toEqual(vals.slice(0, i % 5));
      expect(e.fields['txt']).toBe(msg.slice(0, 8));
      expect(e.fields['seqtxt']).toBe(msg.slice(0, (i % 5) + 1));
      const st = e.fields['st'] as CtfEnumValue;
      expect(st).toBeInstanceOf(CtfEnumValue);
      expect(st.value).toBe(i % 5);
      expect(st.label).toBe(['RUNNING', 'SLEEPING', 'STOPPED', 'STOPPED', 'STOPPED'][i % 5]);
    }
  });

  it('counts lost events from the cumulative events_discarded of each stream', () => {
    const r = readCtfTrace(join(FIXTURES, 'lttng-ust/discard'));
    expect(r.lost).toBeGreaterThan(0);
    expect(r.discarded.reduce((n, d) => n + d.count, 0)).toBe(r.lost);
    // Per stream: the lost count is the last packet's events_discarded.
    for (const s of r.streams) {
      const last = r.events.filter((e) => e.stream === s.path).at(-1)!;
      expect(s.lost).toBe(Number(last.packetContext['events_discarded']));
    }
    // 400 events per thread: written + lost = emitted.
    expect(r.events.length + r.lost).toBe(2 * 400 * 3);
  });

  it("reads babeltrace2's own CTF writer output (uint64 stream_id and stream_instance_id, plain-text metadata)", () => {
    const r = readCtfTrace(join(FIXTURES, 'lttng-ust/bt2-ctf'));
    expect(r.traces[0]!.packetizedMetadata).toBe(false);
    expect(r.traces[0]!.metadata.packetHeader).toMatchObject({ kind: 'struct' });
    const header = r.traces[0]!.metadata.packetHeader as TsdlStruct;
    expect(header.fields.find((f) => f.name === 'stream_id')!.type).toMatchObject({ kind: 'integer', size: 64 });
    expect(header.fields.find((f) => f.name === 'stream_instance_id')!.type).toMatchObject({ kind: 'integer', size: 64 });
    // The same events as the trace it was written from.
    expect(r.events.map((e) => [String(e.timestamp), e.name, e.fields])).toEqual(percpu.events.map((e) => [String(e.timestamp), e.name, e.fields]));
  });

  it('finds the trace under a session directory (ust/uid/0/64-bit layout)', () => {
    const root = mkdtempSync(join(tmpdir(), 'ctf-session-'));
    cpSync(join(FIXTURES, 'lttng-ust/percpu'), join(root, 'ust/uid/0/64-bit'), { recursive: true });
    const r = readCtfTrace(root);
    expect(r.traces.map((t) => t.path)).toEqual(['ust/uid/0/64-bit']);
    expect(r.events[0]!.stream).toBe('ust/uid/0/64-bit/ch0_0');
    expect(r.events).toHaveLength(120);
  });
});

describe('layouts LTTng-UST does not write (hand-made traces)', () => {
  it('kernel compact header: 5-bit ids, 27-bit timestamps reconstructed across wraps, the extended escape for ids >= 31', () => {
    const r = readCtfTrace(join(FIXTURES, 'handmade/kernel-compact'));
    expect(r.events).toHaveLength(72);
    // The generator's times: per CPU, t += 47 ms + k * 1001 ns (300 ms at k = 25).
    for (const cpu of [0, 1]) {
      let t = 5_000_000_000 + cpu * 13_000;
      const evs = r.events.filter((e) => e.cpu === cpu);
      evs.forEach((e, k) => {
        t += k === 25 ? 300_000_000 : 47_000_000 + k * 1_001;
        expect(e.timestamp).toBe(1_700_000_000_000_000_000n + 250_000_000n + BigInt(t));
        expect(e.fields['seq']).toBe(k);
        expect(e.id).toBe((k * 7 + cpu) % 40);
        expect(e.name).toBe(`kev_${e.id}`);
        const v = e.header['v'] as CtfVariantValue;
        expect(v.option).toBe(e.id >= 31 || k === 25 ? 'extended' : 'compact');
      });
    }
    // The 27-bit timestamp wrapped between compact events (a reconstruction that ignored the
    // carry would go backwards).
    const compact = r.events.filter((e) => e.cpu === 0 && (e.header['v'] as CtfVariantValue).option === 'compact');
    const lows = compact.map((e) =>
      Number((e.header['v'] as CtfVariantValue).value && ((e.header['v'] as CtfVariantValue).value as { timestamp: number }).timestamp),
    );
    expect(lows.some((x, i) => i > 0 && x < lows[i - 1]!)).toBe(true);
    expect(r.lost).toBe(20);
  });

  it('big-endian bit fields, 32-bit-aligned 64-bit integers, floats, nested types, variants, sequences of structs, a 100 MHz clock', () => {
    const r = readCtfTrace(join(FIXTURES, 'handmade/features-be'));
    expect(r.events.map((e) => e.name)).toEqual([...Array<string>(6).fill('feat:bits'), 'feat:plain']);
    expect(r.events[0]!.streamId).toBe(7);
    r.events.slice(0, 6).forEach((e, i) => {
      const f = e.fields;
      expect([f['a3'], f['b5'], f['c13'], f['flag']]).toEqual([i % 8, 0 - i, 0x1abc + i, i % 2]);
      expect(f['big']).toBe(-(2n ** 62n) + BigInt(i));
      expect(f['f']).toBe(Math.fround(i * 1.5 - 0.3));
      expect(f['d']).toBe(1e-7 * (i + 1) * (i % 2 === 0 ? 1 : -1));
      expect(f['nested']).toEqual({ x: 200 + i, s: `nest-${i}` });
      expect(f['matrix']).toEqual([
        [i * 10, i * 10 + 1, i * 10 + 2],
        [i * 10 + 3, i * 10 + 4, i * 10 + 5],
      ]);
      const n = i % 3;
      expect(f['items']).toEqual(Array.from({ length: n }, (_, k) => ({ k, name: `item${k}` })));
      expect(f['ascii']).toBe(Array.from({ length: n }, (_, k) => String.fromCharCode(65 + k + i)).join(''));
      // 100 MHz: a cycle is 10 ns; the 32-bit header timestamps wrap every 42.9 s.
      const cycles = 4_000_000_000 + i * 1_000_000_007 + 5;
      expect(e.cycles).toBe(cycles);
      expect(e.timestamp).toBe(1_600_000_000_000_000_000n + (12345n + BigInt(cycles)) * 10n);
    });
    const kinds = r.events.slice(0, 6).map((e) => (e.fields['u'] as CtfVariantValue).option);
    expect(kinds).toEqual(['A', 'B', 'C', 'A', 'C', 'B']);
    expect((r.events[1]!.fields['u'] as CtfVariantValue).value).toBe('b\t1\n');
    expect((r.events[2]!.fields['u'] as CtfVariantValue).value).toEqual({ p: 2, q: 65533 });
  });
});

describe('damaged traces', () => {
  const good = readCtfTrace(join(FIXTURES, 'lttng-ust/percpu'));
  const keysOf = (r: { events: readonly CtfEvent[] }) => r.events.map(key);

  /** What the reader must keep: the other stream whole, the damaged one up to `n` events. */
  function expectKept(r: CtfReadResult, stream: string, n: number): void {
    const want = good.events.filter((e) => e.stream !== stream).concat(good.events.filter((e) => e.stream === stream).slice(0, n));
    expect(new Set(keysOf(r))).toEqual(new Set(want.map(key)));
    expect(r.events.length).toBe(want.length);
  }

  it('wrong magic in the second packet: CTF_BAD_MAGIC naming the file and offset, the first packet and the other stream kept', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const file = join(dir, 'ch0_0');
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(0xdeadbeef, 4096);
    writeFileSync(file, bytes);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error).toBeInstanceOf(CtfReadError);
    expect(r.error!.code).toBe('CTF_BAD_MAGIC');
    expect(r.error!.file).toBe(file);
    expect(r.error!.offset).toBe(4096);
    expect(r.error!.message).toContain(`${file}: byte 4096`);
    expect(r.error!.message).toContain('0xdeadbeef');
    const firstPacket = good.events.filter((e) => e.stream === 'ch0_0' && e.packetContext['packet_seq_num'] === 0).length;
    expectKept(r, 'ch0_0', firstPacket);
    // The default throws the same error, carrying the same events.
    let thrown: unknown;
    try {
      readCtfTrace(dir);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CtfReadError);
    expect((thrown as CtfReadError<CtfEvent>).code).toBe('CTF_BAD_MAGIC');
    expect(keysOf(thrown as CtfReadError<CtfEvent>)).toEqual(keysOf(r));
    if (hasBt2) expect(babeltrace(dir).status).toBe(1);
  });

  it('a byte-swapped magic says the byte order is wrong', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const meta = metadataText(readFileSync(join(dir, 'metadata'))).text.replace('byte_order = le;', 'byte_order = be;');
    writeFileSync(join(dir, 'metadata'), meta);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_BAD_MAGIC');
    expect(r.error!.message).toMatch(/byte-swapped.*wrong byte order/);
    expect(r.events).toHaveLength(0);
  });

  it('file cut mid-event: CTF_TRUNCATED at the cut event, every complete event before it kept', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const file = join(dir, 'ch0_1');
    // Cut 3 bytes into the 6th event of the stream.
    const sixth = good.events.filter((e) => e.stream === 'ch0_1')[5]!;
    truncateSync(file, sixth.offset + 3);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_TRUNCATED');
    expect(r.error!.file).toBe(file);
    expect(r.error!.offset).toBe(sixth.offset);
    expect(r.error!.message).toMatch(/declares 4096 bytes but the file ends \d+ bytes into it, in the middle of an event/);
    expectKept(r, 'ch0_1', 5);
    if (hasBt2) expect(babeltrace(dir).status).toBe(1);
  });

  it('truncated last packet (cut in its padding): its events kept, CTF_TRUNCATED', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const file = join(dir, 'ch0_0');
    truncateSync(file, 8192 - 16);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_TRUNCATED');
    expect(r.error!.offset).toBe(4096);
    expect(r.error!.message).toMatch(/file is cut in its padding/);
    expectKept(r, 'ch0_0', 60);
    if (hasBt2) expect(babeltrace(dir).status).toBe(1);
  });

  it('content_size greater than packet_size: CTF_BAD_PACKET', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const file = join(dir, 'ch0_1');
    const bytes = readFileSync(file);
    // Packet header 32 B (magic, uuid, u32 stream_id, u64 instance id), then 2 timestamps: content_size at 48.
    bytes.writeBigUInt64LE(4097n * 8n, 48);
    writeFileSync(file, bytes);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_BAD_PACKET');
    expect(r.error!.message).toContain('content_size 32776 bits is greater than packet_size 32768 bits');
    expectKept(r, 'ch0_1', 0);
  });

  it('unknown event id: CTF_UNKNOWN_EVENT, the events before it kept (as babeltrace2 prints them)', () => {
    const dir = tmpCopy('handmade/kernel-compact');
    const meta = readFileSync(join(dir, 'metadata'), 'utf8');
    // Drop the class of the 3rd event of cpu 0 (id 14) from the metadata.
    writeFileSync(join(dir, 'metadata'), meta.replace(/\nevent \{\n\tname = "kev_14";[^}]*\};\n\};\n/, '\n'));
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_UNKNOWN_EVENT');
    expect(r.error!.message).toContain('event id 14 is not an event class of stream class 0');
    expect(r.events.filter((e) => e.cpu === 0)).toHaveLength(2);
    if (hasBt2) {
      const bt = babeltrace(dir);
      expect(bt.status).toBe(1);
      expect(bt.lines.length).toBeLessThanOrEqual(r.events.length);
    }
  });

  it('unknown stream id: CTF_UNKNOWN_STREAM', () => {
    const dir = tmpCopy('lttng-ust/percpu');
    const file = join(dir, 'ch0_0');
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(3, 20);
    writeFileSync(file, bytes);
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_UNKNOWN_STREAM');
    expect(r.error!.message).toContain('stream_id 3 is not a stream class');
    expectKept(r, 'ch0_0', 0);
  });

  it('bad metadata: CTF_METADATA with the line of the syntax error, no events', () => {
    const dir = tmpCopy('handmade/kernel-compact');
    const meta = readFileSync(join(dir, 'metadata'), 'utf8').split('\n');
    const line = meta.findIndex((l) => l.includes('uint32_t stream_id;'));
    meta[line] = '\t\tuint32_t stream_id';
    writeFileSync(join(dir, 'metadata'), meta.join('\n'));
    const r = readCtfTrace(dir, { onError: 'stop' });
    expect(r.error!.code).toBe('CTF_METADATA');
    // The error is found at the next token, on the following line (as babeltrace2 reports it).
    expect(r.error!.message).toContain(`${join(dir, 'metadata')}: line ${line + 2}: syntax error`);
    expect(r.events).toHaveLength(0);
    expect(() => readCtfTrace(dir)).toThrow(/line \d+: syntax error/);
    if (hasBt2) {
      // babeltrace2 names the same line: "At line 19 in metadata stream: syntax error".
      const bt = spawnSync('babeltrace2', [dir], { encoding: 'utf8' });
      expect(bt.status).toBe(1);
      expect(bt.stderr).toContain(`At line ${line + 2} in metadata stream: syntax error`);
    }
  });

  it('no trace at all: CTF_NOT_FOUND', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctf-empty-'));
    expect(() => readCtfTrace(dir)).toThrow(expect.objectContaining({ code: 'CTF_NOT_FOUND' }));
    expect(() => readCtfTrace(join(dir, 'nope'))).toThrow(/does not exist/);
  });
});
