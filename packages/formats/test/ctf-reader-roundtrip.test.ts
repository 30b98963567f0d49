import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CtfEnumValue, CtfPacketBuilder, clockToNs, ctfTextLines, readCtfTrace, writeCtfTrace, type CtfTraceClass } from '@tracelab/formats';

const traceClass: CtfTraceClass = {
  uuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  clock: { name: 'monotonic', freq: 1_000_000_000, offsetSeconds: 1_700_000_000, offset: 0 },
  env: { hostname: 'tracelab', domain: 'kernel' },
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
      id: 7,
      name: 'probe',
      loglevel: 13,
      fields: [
        { name: 'u8', type: { kind: 'integer', size: 8, signed: false } },
        { name: 's16', type: { kind: 'integer', size: 16, signed: true } },
        { name: 'u64', type: { kind: 'integer', size: 64, signed: false, base: 16 } },
        { name: 's64', type: { kind: 'integer', size: 64, signed: true } },
        { name: 'msg', type: { kind: 'string' } },
        { name: 'raw', type: { kind: 'array', element: 'byte', length: 4 } },
        {
          name: 'state',
          type: {
            kind: 'enum',
            container: { kind: 'integer', size: 8, signed: false },
            mappings: [
              { label: 'R', start: 0, end: 0 },
              { label: 'S', start: 1, end: 2 },
            ],
          },
        },
      ],
    },
  ],
};

interface Written {
  cpu: number;
  ts: bigint;
  id: number;
  values: (number | bigint | string | Uint8Array)[];
}

/** Two CPUs, small packets (several per CPU), some discarded events. */
function writeSample(dir: string): Written[] {
  const written: Written[] = [];
  const streams: Uint8Array[] = [];
  for (const cpu of [0, 1]) {
    const b = new CtfPacketBuilder(traceClass, cpu, 256);
    let ts = 1_000n + BigInt(cpu) * 7n;
    for (let i = 0; i < 40; i++) {
      ts += 1_000n + BigInt(i);
      const rec: Written =
        i % 3 === 0
          ? { cpu, ts, id: 0, values: [`t${i}`, i, `t${i + 1}`, i % 5 === 0 ? 0 : i + 1] }
          : { cpu, ts, id: 7, values: [i, -i * 100, 2n ** 63n + BigInt(i), -(2n ** 60n) - BigInt(i), `m${cpu}.${i} é`, new Uint8Array([i, 1, 2, 255]), i % 4] };
      if (i === 25) b.discard(3 + cpu);
      b.add(rec.id, rec.ts, rec.values);
      written.push(rec);
    }
    streams.push(b.finish());
  }
  writeCtfTrace(dir, traceClass, streams);
  return written;
}

describe('round trip: tracelab CTF writer to reader', () => {
  it('reads back every event the writer wrote, with its CPU, timestamp and values, and the discarded count', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctf-roundtrip-'));
    const written = writeSample(dir);
    const r = readCtfTrace(dir);
    expect(r.events).toHaveLength(written.length);
    expect(r.lost).toBe(3 + 4);
    expect(r.streams.every((s) => s.packets > 1)).toBe(true);
    for (const cpu of [0, 1]) {
      const got = r.events.filter((e) => e.cpu === cpu);
      const want = written.filter((w) => w.cpu === cpu);
      expect(got).toHaveLength(want.length);
      got.forEach((e, i) => {
        const w = want[i]!;
        expect(e.id).toBe(w.id);
        expect(e.cycles).toBe(Number(w.ts));
        expect(e.timestamp).toBe(1_700_000_000_000_000_000n + w.ts);
        expect(e.timestamp).toBe(clockToNs(r.traces[0]!.metadata.clocks.get('monotonic')!, w.ts));
        const f = e.fields;
        if (w.id === 0) {
          expect(e.name).toBe('sched_switch');
          expect([f['prev_comm'], f['prev_tid'], f['next_comm'], f['next_tid']]).toEqual(w.values);
        } else {
          expect(e.name).toBe('probe');
          expect(e.loglevel).toBe(13);
          const [u8, s16, u64, s64, msg, raw, state] = w.values;
          expect([f['u8'], f['s16'], f['u64'], f['s64'], f['msg']]).toEqual([u8, s16, u64, s64, msg]);
          expect(f['raw']).toEqual([...(raw as Uint8Array)]);
          expect(f['state']).toBeInstanceOf(CtfEnumValue);
          expect((f['state'] as CtfEnumValue).value).toBe(state);
          expect((f['state'] as CtfEnumValue).label).toBe(state === 0 ? 'R' : state === 3 ? undefined : 'S');
        }
      });
    }
  });

  it.skipIf(spawnSync('babeltrace2', ['--version']).status !== 0)('prints the same lines as babeltrace2 for the written trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctf-roundtrip-'));
    writeSample(dir);
    const bt = spawnSync('babeltrace2', ['--clock-seconds', '--no-delta', dir], { encoding: 'utf8' });
    expect(bt.status).toBe(0);
    expect(ctfTextLines(readCtfTrace(dir))).toEqual(bt.stdout.split('\n').filter((l) => l.length > 0));
  });
});
