import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctfTextLines, openCtfTrace, readCtfTrace } from '@tracelab/formats';

const FIXTURES = join(__dirname, 'fixtures');
const TRACES = ['tracelab/run-seed5', 'lttng-ust/percpu', 'lttng-ust/discard', 'lttng-ust/bt2-ctf', 'handmade/kernel-compact', 'handmade/features-be'];

describe('openCtfTrace: the streaming reader', () => {
  it.each(TRACES)("%s: yields the whole-trace reader's events in the same order, with the same lost counts", (t) => {
    const dir = join(FIXTURES, t);
    const whole = readCtfTrace(dir);
    const s = openCtfTrace(dir, { windowBytes: 4096 });
    const streamed = [...s];
    expect(streamed.map((e) => `${e.stream}@${e.offset}`)).toEqual(whole.events.map((e) => `${e.stream}@${e.offset}`));
    expect(ctfTextLines({ ...whole, events: streamed })).toEqual(ctfTextLines(whole));
    expect(s.lost).toBe(whole.lost);
    expect(s.streams).toEqual(whole.streams);
  });

  it('reads a stream file a window at a time, not whole (4 KiB window: one read per 4 KiB packet)', () => {
    const dir = join(FIXTURES, 'tracelab/run-seed5');
    const s = openCtfTrace(dir, { windowBytes: 4096 });
    let n = 0;
    for (const _ of s) n++;
    const packets = s.streams.reduce((k, x) => k + x.packets, 0);
    expect(n).toBeGreaterThan(0);
    // A reader holding each file whole would read each once.
    expect(packets).toBeGreaterThan(s.streams.length);
    expect(s.fileReads).toBe(packets);
  });

  it('can be iterated once, and stops early without reading the rest', () => {
    const s = openCtfTrace(join(FIXTURES, 'tracelab/run-seed5'), { windowBytes: 4096 });
    for (const _ of s) break;
    expect(s.count).toBe(1);
    expect(s.fileReads).toBe(s.streams.length);
    expect(() => [...s]).toThrow(/iterated once/);
  });
});
