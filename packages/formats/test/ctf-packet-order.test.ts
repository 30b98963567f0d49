import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CTF_PACKET_LAYOUT as L, readCtfTrace, type CtfReadResult } from '@tracelab/formats';

// A real tracelab trace (tracelab run --seed 5): 3 packets of 4096 bytes per CPU.
const RUN = join(__dirname, 'fixtures', 'tracelab', 'run-seed5');
const P = 4096;
const STREAM = 'channel0_0';

function damaged(edit: (packets: Buffer[]) => Buffer[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctf-order-'));
  cpSync(RUN, dir, { recursive: true });
  const b = readFileSync(join(RUN, STREAM));
  const packets = Array.from({ length: b.length / P }, (_, i) => Buffer.from(b.subarray(i * P, (i + 1) * P)));
  writeFileSync(join(dir, STREAM), Buffer.concat(edit(packets)));
  return dir;
}

const original = readCtfTrace(RUN);
/** Events of packet `i` of channel0_0 in the undamaged trace. */
const inPacket = (i: number) => original.events.filter((e) => e.stream === STREAM && e.offset >= i * P && e.offset < (i + 1) * P).length;
const read = (dir: string): CtfReadResult => readCtfTrace(dir, { onError: 'stop' });

describe('CTF packet order and continuity (as babeltrace2 2.0.4 checks them)', () => {
  it('the undamaged trace: contiguous sequence numbers, no warning', () => {
    expect(original.warnings).toEqual([]);
    expect(original.missingPackets).toBe(0);
    expect(inPacket(1)).toBeGreaterThan(0);
  });

  it('a dropped packet is a warning with the count of missing packets (babeltrace2: "Tracer discarded 1 packet")', () => {
    const r = read(damaged((p) => [p[0]!, p[2]!]));
    expect(r.error).toBeUndefined();
    expect(r.missingPackets).toBe(1);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatchObject({ code: 'CTF_PACKETS_MISSING', file: expect.stringContaining(STREAM), offset: P, count: 1 });
    expect(r.warnings[0]!.message).toMatch(/1 packet missing: packet_seq_num 2 follows 0 .*events .* lost, not counted/);
    expect(r.events.length).toBe(original.events.length - inPacket(1));
  });

  it('a stream appended to itself is an error at the first repeated packet, not doubled events', () => {
    const r = read(damaged((p) => [...p, ...p]));
    expect(r.error).toMatchObject({ ctfCode: 'CTF_PACKET_ORDER', offset: 3 * P });
    expect(r.error!.message).toMatch(/packet_seq_num 0 after 2/);
    expect(r.events.length).toBe(original.events.length);
    expect(r.lost).toBe(original.lost);
  });

  it('swapped packets are an error, not silently re-sorted; the events before are kept', () => {
    const r = read(damaged((p) => [p[1]!, p[0]!, p[2]!]));
    expect(r.error).toMatchObject({ ctfCode: 'CTF_PACKET_ORDER', offset: P });
    expect(r.error!.message).toMatch(/packet_seq_num 0 after 1/);
    expect(r.events.length).toBe(original.events.length - inPacket(0) - inPacket(2));
  });

  it('a packet whose time goes backward is an error (babeltrace2 stops there too)', () => {
    const r = read(
      damaged((p) => {
        p[1]!.writeBigUInt64LE(1n, L.timestampBegin);
        p[1]!.writeBigUInt64LE(2n, L.timestampEnd);
        return p;
      }),
    );
    expect(r.error).toMatchObject({ ctfCode: 'CTF_PACKET_ORDER', offset: P });
    expect(r.error!.message).toMatch(/timestamp_begin .* before the previous packet's end/);
  });

  it('events_discarded going backward is a warning, and no negative or wrapped count is lost', () => {
    const r = read(
      damaged((p) => {
        p[1]!.writeBigUInt64LE(5n, L.eventsDiscarded);
        p[2]!.writeBigUInt64LE(0n, L.eventsDiscarded);
        return p;
      }),
    );
    expect(r.error).toBeUndefined();
    expect(r.lost).toBe(original.lost + 5);
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'CTF_DISCARDED_BACKWARD', offset: 2 * P })]);
    expect(r.warnings[0]!.message).toMatch(/events_discarded went from 5 to 0/);
  });

  const hasBt2 = spawnSync('babeltrace2', ['--version']).status === 0;
  it.skipIf(!hasBt2)('babeltrace2 agrees: it warns about the dropped packet and fails on the appended stream', () => {
    const drop = spawnSync('babeltrace2', [damaged((p) => [p[0]!, p[2]!])], { encoding: 'utf8' });
    expect(drop.status).toBe(0);
    expect(drop.stderr).toMatch(/Tracer discarded 1 packet /);
    const dup = spawnSync('babeltrace2', [damaged((p) => [...p, ...p])], { encoding: 'utf8' });
    expect(dup.status).not.toBe(0);
  });
});
