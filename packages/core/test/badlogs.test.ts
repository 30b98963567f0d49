import { describe, expect, it } from 'vitest';
import { canonicalJson, createKernel, LOG_VERSION, replay } from '@tracelab/core';
import { shell } from './helpers.js';

function lines(): string[] {
  const k = createKernel({ seed: 1 });
  k.spawn(shell);
  k.run();
  return k.log.map((e) => canonicalJson(e));
}

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return undefined;
};

describe('bad logs', () => {
  it('a corrupt line fails with its line number', () => {
    const l = lines();
    l[9] = '{"type": "task/spawned", oops';
    expect(codeOf(() => replay(l.join('\n') + '\n'))).toMatchObject({ code: 'LOG_CORRUPT', message: expect.stringContaining('line 10') });
  });

  it('a truncated last line replays up to the last complete event and says so', () => {
    const l = lines();
    const full = replay(l.join('\n') + '\n');
    const cut = l.slice(0, 50).join('\n') + '\n' + l[50]!.slice(0, 17);
    const r = replay(cut);
    expect(r.report.events).toBe(50);
    expect(r.report.truncated).toMatchObject({ line: 51 });
    expect(r.state).toEqual(full.stateAt(49));
  });

  it('a foreign file is refused at line 1', () => {
    expect(codeOf(() => replay('{"hello":"world"}\n'))).toMatchObject({ code: 'LOG_FOREIGN' });
    expect(codeOf(() => replay(''))).toMatchObject({ code: 'LOG_EMPTY' });
  });

  it('a log of another format version is refused at line 1, saying which format it is and which this core reads', () => {
    const l = lines();
    expect(JSON.parse(l[0]!)).toMatchObject({ type: 'kernel/created', logVersion: LOG_VERSION });
    // A format-1 log (before the preempt count was published per step) has no logVersion.
    const { logVersion: _dropped, ...v1 } = JSON.parse(l[0]!) as Record<string, unknown>;
    const old = [canonicalJson(v1), ...l.slice(1)].join('\n') + '\n';
    expect(codeOf(() => replay(old))).toEqual({ code: 'LOG_VERSION', message: expect.stringMatching(/format version 1 .*no logVersion.*reads format 2 only/) });
    const future = [canonicalJson({ ...JSON.parse(l[0]!), logVersion: 3 }), ...l.slice(1)].join('\n') + '\n';
    expect(codeOf(() => replay(future))).toMatchObject({ code: 'LOG_VERSION', message: expect.stringContaining('format version 3') });
    expect(replay(l.join('\n') + '\n').report.events).toBe(l.length);
  });

  it('a missing event, an unknown type or a different plugin stack is named', () => {
    const l = lines();
    const gap = [...l.slice(0, 20), ...l.slice(21)];
    expect(codeOf(() => replay(gap.join('\n')))).toMatchObject({ code: 'LOG_SEQUENCE', message: expect.stringContaining('line 21') });
    const alien = [...l];
    alien[12] = JSON.stringify({ ...JSON.parse(alien[12]!), type: 'alien/event' });
    expect(codeOf(() => replay(alien.join('\n')))).toMatchObject({ code: 'LOG_INVALID_EVENT', message: expect.stringContaining('alien/event') });
    const extra = { name: 'extra', version: '1.0.0', core: '^0.1.0', register: () => ({}) };
    expect(codeOf(() => replay(l.join('\n'), { plugins: [extra] }))).toMatchObject({ code: 'LOG_PLUGIN_MISMATCH' });
    const noHeader = [...l];
    noHeader[3] = JSON.stringify({ ...JSON.parse(noHeader[3]!), seq: 'x' });
    expect(codeOf(() => replay(noHeader.join('\n')))).toMatchObject({ code: 'LOG_INVALID_EVENT', message: expect.stringContaining('line 4') });
  });
});
