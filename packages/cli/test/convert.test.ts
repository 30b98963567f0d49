import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctfTextLines, ctfToChromeTrace, readCtfTrace, validateChromeTrace } from '@tracelab/formats';
import { main } from '@tracelab/cli';

const FIXTURES = join(__dirname, '../../formats/test/fixtures');

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-convert-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

/** A copy of a fixture trace inside the test's cwd. */
function trace(t: ReturnType<typeof io>, fixture: string, name = 'trace'): string {
  cpSync(join(FIXTURES, fixture), join(t.cwd, name), { recursive: true });
  return name;
}

interface Ev {
  name: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid?: number;
  args?: Record<string, unknown>;
}

describe('tracelab convert', () => {
  it('LTTng trace to Chrome JSON (the default) next to the trace: valid, per-CPU tracks, one instant per event, running spans from sched_switch', () => {
    const t = io();
    trace(t, 'lttng-ust/percpu');
    expect(main(['convert', 'trace'], t.io)).toBe(0);
    expect(t.out.at(-1)).toBe('events: 120, lost: 0');
    const json = JSON.parse(readFileSync(join(t.cwd, 'trace.json'), 'utf8'));
    expect(validateChromeTrace(json)).toEqual([]);
    const evs = json.traceEvents as Ev[];
    const instants = evs.filter((e) => e.ph === 'i');
    expect(instants).toHaveLength(120);
    expect(new Set(instants.map((e) => e.tid))).toEqual(new Set([0, 1]));
    expect(evs.filter((e) => e.name === 'thread_name').map((e) => e.args!['name'])).toEqual(['CPU 0', 'CPU 1']);
    const num = instants.find((e) => e.name === 'tl:numbers')!;
    // 64-bit values beyond 2^53 are decimal strings in JSON; contexts join the fields.
    expect(typeof num.args!['u64']).toBe('string');
    expect(BigInt(num.args!['u64'] as string)).toBeGreaterThan(2n ** 53n);
    expect(num.args!['procname']).toBe('tl_app');
    // tl:sched_switch switches CPU c to a task (next_tid), so each CPU shows running spans
    // between consecutive switches, idle (tid 0) left blank; they never overlap.
    for (const cpu of [0, 1]) {
      const switches = instants.filter((e) => e.name === 'tl:sched_switch' && e.tid === cpu);
      const spans = evs.filter((e) => e.ph === 'X' && e.tid === cpu).sort((a, b) => a.ts! - b.ts!);
      expect(spans.length).toBe(switches.filter((s) => s.args!['next_tid'] !== 0).length);
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.ts!).toBeGreaterThanOrEqual(spans[i - 1]!.ts! + spans[i - 1]!.dur!);
      for (const s of spans) {
        const from = switches.find((w) => w.ts === s.ts)!;
        expect(s.name).toBe(`${String(from.args!['next_comm'])} [${String(from.args!['next_tid'])}]`);
      }
    }
  });

  it('streams: the written document holds exactly the events of the whole-trace conversions (readCtfTrace, then ctfToChromeTrace or ctfTextLines), lost-event markers included', () => {
    const t = io();
    // A trace with lost events (discarded counters) on two CPUs.
    const name = trace(t, 'lttng-ust/discard');
    const dir = join(t.cwd, name);
    const key = (e: Ev): string => JSON.stringify(e);
    expect(main(['convert', name, '--out', 'c.json'], t.io)).toBe(0);
    const streamed = JSON.parse(readFileSync(join(t.cwd, 'c.json'), 'utf8')) as { traceEvents: Ev[]; otherData: Record<string, string> };
    expect(streamed.traceEvents.filter((e) => e.name.startsWith('lost ')).length).toBeGreaterThan(0);
    const whole = ctfToChromeTrace(readCtfTrace(dir), { metadata: { trace: dir } }) as unknown as { traceEvents: Ev[]; otherData: Record<string, string> };
    expect(validateChromeTrace(streamed)).toEqual([]);
    expect(streamed.traceEvents.map(key).sort()).toEqual(whole.traceEvents.map(key).sort());
    expect(streamed.otherData).toEqual(whole.otherData);
    expect(main(['convert', name, '--to', 'text', '--out', 'c.txt'], t.io)).toBe(0);
    expect(readFileSync(join(t.cwd, 'c.txt'), 'utf8')).toBe(ctfTextLines(readCtfTrace(dir)).join('\n') + '\n');
  });

  it('--to text prints babeltrace2-like lines on stdout and the summary on stderr', () => {
    const t = io();
    trace(t, 'handmade/kernel-compact');
    expect(main(['convert', 'trace', '--to', 'text'], t.io)).toBe(0);
    const lines = t.out.join('\n').split('\n');
    expect(lines).toHaveLength(72);
    expect(lines[0]).toBe('[1700000005.297000000] kbox kev_0: { cpu_id = 0 }, { seq = 0, val = 0 }');
    expect(t.err).toEqual(['events: 72, lost: 20']);
    const bt = spawnSync('babeltrace2', ['--clock-seconds', '--no-delta', join(t.cwd, 'trace')], { encoding: 'utf8' });
    if (bt.status === 0) expect(lines).toEqual(bt.stdout.trimEnd().split('\n'));
  });

  it('--out FILE writes there and prints the summary last on stdout; lost events show on their CPU', () => {
    const t = io();
    trace(t, 'lttng-ust/discard');
    expect(main(['convert', 'trace', '--out', 'x.json'], t.io)).toBe(0);
    const json = JSON.parse(readFileSync(join(t.cwd, 'x.json'), 'utf8'));
    expect(validateChromeTrace(json)).toEqual([]);
    const summary = /^events: (\d+), lost: (\d+)$/.exec(t.out.at(-1)!)!;
    expect(Number(summary[1]) + Number(summary[2])).toBe(2400);
    const lost = (json.traceEvents as Ev[]).filter((e) => e.name.startsWith('lost '));
    expect(lost.reduce((n, e) => n + (e.args!['count'] as number), 0)).toBe(Number(summary[2]));
    expect(main(['convert', 'trace', '--to', 'text', '--out', 'x.txt'], t.io)).toBe(0);
    expect(readFileSync(join(t.cwd, 'x.txt'), 'utf8').trimEnd().split('\n')).toHaveLength(Number(summary[1]));
  });

  it('a damaged trace: writes every event read before the damage, the summary, the error with file and offset; exit 1', () => {
    const t = io();
    trace(t, 'lttng-ust/percpu');
    const file = join(t.cwd, 'trace', 'ch0_0');
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(0xdeadbeef, 4096);
    writeFileSync(file, bytes);
    expect(main(['convert', 'trace', '--to', 'text'], t.io)).toBe(1);
    const lines = t.out.join('\n').split('\n');
    expect(lines.length).toBeGreaterThan(60);
    expect(lines.length).toBeLessThan(120);
    expect(t.err[0]).toBe(`events: ${lines.length}, lost: 0`);
    expect(t.err[1]).toBe(`tracelab: CTF_BAD_MAGIC: ${file}: byte 4096: packet 1: magic 0xdeadbeef is not CTF's 0xc1fc1fc1`);
    // Chrome output too: the file holds what could be read.
    expect(main(['convert', 'trace'], t.io)).toBe(1);
    expect(validateChromeTrace(JSON.parse(readFileSync(join(t.cwd, 'trace.json'), 'utf8')))).toEqual([]);
  });

  it('bad metadata: exit 1 with the line', () => {
    const t = io();
    trace(t, 'handmade/features-be');
    const meta = join(t.cwd, 'trace', 'metadata');
    writeFileSync(meta, readFileSync(meta, 'utf8').replace('uint16_t id;', 'uint16_t id'));
    expect(main(['convert', 'trace', '--to', 'text'], t.io)).toBe(1);
    expect(t.err).toContain('events: 0, lost: 0');
    expect(t.err.at(-1)).toMatch(/^tracelab: CTF_METADATA: .*metadata: line \d+: syntax error: expected ";" or "," after a field, found "uint32_clock_t"$/);
  });

  it('bad usage exits 2: no directory, unknown format, unknown option, not a trace', () => {
    const t = io();
    expect(main(['convert'], t.io)).toBe(2);
    expect(main(['convert', 'x', '--to', 'pdf'], t.io)).toBe(2);
    expect(main(['convert', 'x', '--frobnicate'], t.io)).toBe(2);
    expect(main(['convert', 'nowhere'], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/convert needs the CTF trace directory/);
    expect(t.err.join('\n')).toMatch(/--to must be chrome or text/);
    expect(t.err.join('\n')).toMatch(/nowhere does not exist/);
    expect(existsSync(join(t.cwd, 'nowhere.json'))).toBe(false);
  });
});

describe('tracelab convert: packet order and continuity', () => {
  it('a dropped packet is a warning on stderr, counted in the summary, and exit 1', () => {
    const t = io();
    const name = trace(t, 'tracelab/run-seed5');
    const file = join(t.cwd, name, 'channel0_0');
    const b = readFileSync(file);
    writeFileSync(file, Buffer.concat([b.subarray(0, 4096), b.subarray(8192)]));
    expect(main(['convert', name, '--to', 'text', '--out', 'o.txt'], t.io)).toBe(1);
    expect(t.err.join('\n')).toMatch(/warning: CTF_PACKETS_MISSING: .*channel0_0: byte 4096: 1 packet missing/);
    expect(t.out.join('\n')).toMatch(/events: \d+, lost: 0, missing packets: 1/);
  });

  it('a stream appended to itself is an error, its events not doubled', () => {
    const t = io();
    const name = trace(t, 'tracelab/run-seed5');
    const clean = io();
    expect(main(['convert', trace(clean, 'tracelab/run-seed5'), '--to', 'text', '--out', 'o.txt'], clean.io)).toBe(0);
    const file = join(t.cwd, name, 'channel0_0');
    const b = readFileSync(file);
    writeFileSync(file, Buffer.concat([b, b]));
    expect(main(['convert', name, '--to', 'text', '--out', 'o.txt'], t.io)).toBe(1);
    expect(t.err.join('\n')).toMatch(/CTF_PACKET_ORDER: .*packet_seq_num 0 after 2/);
    expect(t.out.join('\n')).toContain(clean.out.join('\n').match(/events: \d+, lost: \d+/)![0]);
  });
});
