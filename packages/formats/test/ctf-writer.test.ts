import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TracelabError } from '@tracelab/core';
import { describe, expect, test } from 'vitest';
import { CTF_PACKET_LAYOUT as L, CtfPacketBuilder, ctfEventSize, ctfMetadata, uuidBytes, writeCtfTrace, type CtfTraceClass } from '../src/index.js';
import { readCtfTrace } from '../src/ctf/reader.js';

export const TRACE_CLASS: CtfTraceClass = {
  uuid: '2a6422d0-6cee-11e0-8c08-cb07d7b3a564',
  clock: { name: 'monotonic', freq: 1_000_000_000, offsetSeconds: 1_700_000_000, offset: 0 },
  env: { hostname: 'tracelab', domain: 'kernel' },
  eventClasses: [
    {
      id: 0,
      name: 'sched_switch',
      fields: [
        { name: 'prev_comm', type: { kind: 'array', element: 'char', length: 16 } },
        { name: 'prev_tid', type: { kind: 'integer', size: 32, signed: true } },
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
    {
      id: 1,
      name: 'syscall_entry_open',
      fields: [
        { name: 'path', type: { kind: 'string' } },
        { name: 'flags', type: { kind: 'integer', size: 64, signed: false, base: 16 } },
        { name: 'mode', type: { kind: 'integer', size: 16, signed: false } },
      ],
    },
  ],
};

export function sampleTrace(dir: string): number {
  const b0 = new CtfPacketBuilder(TRACE_CLASS, 0, 256);
  const b1 = new CtfPacketBuilder(TRACE_CLASS, 1, 256);
  let n = 0;
  for (let i = 0; i < 30; i++) {
    b0.add(0, 1000 + 10 * i, ['bash', i, i % 2]);
    b1.add(1, 1005 + 10 * i, [`/etc/f${i}`, 0xffn + BigInt(i), i]);
    n += 2;
  }
  b1.discard(5);
  b1.add(1, 9999, ['é', 0, 0]);
  writeCtfTrace(dir, TRACE_CLASS, [b0.finish(), b1.finish()]);
  return n + 1;
}

describe('CTF writer', () => {
  test('metadata starts with the CTF 1.8 signature and declares the packet layout the writer uses', () => {
    const m = ctfMetadata(TRACE_CLASS);
    expect(m.startsWith('/* CTF 1.8 */')).toBe(true);
    expect(m).toContain('minor = 8;');
    expect(m).toContain('uuid = "2a6422d0-6cee-11e0-8c08-cb07d7b3a564";');
    expect(m).toMatch(/packet\.context := struct \{[^}]*timestamp_begin;[^}]*packet_seq_num;[^}]*events_discarded;[^}]*cpu_id;/);
    expect(m).toContain('name = "syscall_entry_open";');
  });

  test('packets: header fields at LTTng offsets, sizes in bits, events packed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctfw-'));
    sampleTrace(dir);
    const bytes = readFileSync(join(dir, 'channel0_0'));
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(dv.getUint32(L.magic, true)).toBe(0xc1fc1fc1);
    expect(new Uint8Array(bytes.subarray(L.uuid, L.uuid + 16))).toEqual(uuidBytes(TRACE_CLASS.uuid));
    expect(Number(dv.getBigUint64(L.packetSize, true))).toBe(256 * 8);
    const perEvent = ctfEventSize(TRACE_CLASS.eventClasses[0]!, ['bash', 0, 0]);
    expect(perEvent).toBe(12 + 16 + 4 + 1);
    const fit = Math.floor((256 - L.size) / perEvent);
    expect(Number(dv.getBigUint64(L.contentSize, true))).toBe((L.size + fit * perEvent) * 8);
    expect(bytes.length % 256).toBe(0);
    expect(Number(dv.getBigUint64(256 + L.packetSeqNum, true))).toBe(1);
  });

  test('round trip through the CTF reader: every event with its values, and the discarded count', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctfw-'));
    const n = sampleTrace(dir);
    const r = readCtfTrace(dir);
    expect(r.events.length).toBe(n);
    const open = r.events.filter((e) => e.name === 'syscall_entry_open');
    expect(open[3]!.fields['path']).toBe('/etc/f3');
    expect(Number(open[3]!.fields['flags'])).toBe(0xff + 3);
    expect(open[open.length - 1]!.fields['path']).toBe('é');
    expect(r.lost).toBe(5);
    const sw = r.events.filter((e) => e.name === 'sched_switch');
    expect(sw[7]!.fields['prev_tid']).toBe(7);
    expect(sw[7]!.cpu).toBe(0);
  });

  test('misuse throws INVALID_OPTION', () => {
    expect(() => ctfMetadata({ ...TRACE_CLASS, uuid: 'nope' })).toThrow(TracelabError);
    expect(() => ctfMetadata({ ...TRACE_CLASS, eventClasses: [TRACE_CLASS.eventClasses[0]!, { ...TRACE_CLASS.eventClasses[1]!, id: 0 }] })).toThrow(
      /two event classes have id 0/,
    );
    const b = new CtfPacketBuilder(TRACE_CLASS, 0, 256);
    b.add(0, 10, ['a', 1, 0]);
    expect(() => b.add(0, 9, ['a', 1, 0])).toThrow(/backwards/);
    expect(() => b.add(7, 11, [])).toThrow(/no event class with id 7/);
  });

  test('writeCtfTrace removes stale stream files (babeltrace2 parses every file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctfw-'));
    writeFileSync(join(dir, 'channel0_5'), 'stale');
    expect(writeCtfTrace(dir, TRACE_CLASS, [[]])).toEqual(['metadata', 'channel0_0']);
    expect(() => readFileSync(join(dir, 'channel0_5'))).toThrow();
  });
});
