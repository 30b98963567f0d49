import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '@tracelab/cli';
import { viewerBundle, type ViewerMeta } from '@tracelab/viewer';

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-view-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

/** The metadata a page carries (JSON with `<` written as \u003c, which JSON.parse reads back). */
function metaOf(html: string): ViewerMeta {
  return JSON.parse(/<script type="application\/json" id="tl-meta">([\s\S]*?)<\/script>/.exec(html)![1]!) as ViewerMeta;
}

describe('tracelab view', () => {
  const t = io();
  expect(main(['run', '--out', 'run'], t.io)).toBe(0);
  const runDir = join(t.cwd, 'run');
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { logHash: string; events: number };

  it('a run folder: DIR/report.html, carrying the log, the run summary and its hash; at most 1.5x the log plus the bundle', () => {
    const v = io();
    expect(main(['view', runDir], v.io)).toBe(0);
    const file = join(runDir, 'report.html');
    const html = readFileSync(file, 'utf8');
    const meta = metaOf(html);
    expect(meta).toMatchObject({
      source: 'run',
      logHash: summary.logHash,
      title: expect.stringMatching(/^tracelab run default/) as unknown,
      violations: [],
      counterexample: null,
    });
    expect(v.out.join('\n')).toContain(`wrote ${file} (${summary.events} events`);
    const log = statSync(join(runDir, 'events.ndjson')).size;
    expect(statSync(file).size).toBeLessThanOrEqual(1.5 * log + Buffer.byteLength(viewerBundle()));
  });

  it('an explore folder: the counterexample with its schedule, the violation at its event, the replay string', () => {
    const x = io();
    expect(main(['explore', 'fork-flag-race', '--variant', 'no-recopy', '--budget', '200', '--out', 'cx'], x.io)).toBe(1);
    const replayString = /replay string {2}(\S+)/.exec(x.out.join('\n'))![1]!;
    const v = io();
    expect(main(['view', join(x.cwd, 'cx'), '--out', 'cx.html'], v.io)).toBe(0);
    const meta = metaOf(readFileSync(join(v.cwd, 'cx.html'), 'utf8'));
    const events = readFileSync(join(x.cwd, 'cx', 'events.ndjson'), 'utf8').split('\n').length - 1;
    expect(meta.source).toBe('explore');
    expect(meta.counterexample!.replay).toBe(replayString);
    expect(meta.counterexample!.steps.length).toBeGreaterThan(0);
    expect(meta.counterexample!.steps.some((s) => s.preemption)).toBe(true);
    expect(meta.violations).toEqual([expect.objectContaining({ name: 'ktrace/flag', seq: events - 1 })]);
    expect(v.out.join('\n')).toMatch(/counterexample .*: \d+ choices, [1-9]\d* preemption/);
  });

  it('a truncated log: the page is written all the same, exit 1, the error names the line', () => {
    const v = io();
    const dir = join(v.cwd, 'cut');
    mkdirSync(dir);
    const lines = readFileSync(join(runDir, 'events.ndjson'), 'utf8').split('\n');
    writeFileSync(join(dir, 'events.ndjson'), lines.slice(0, 700).join('\n') + '\n' + lines[700]!.slice(0, 25));
    copyFileSync(join(runDir, 'summary.json'), join(dir, 'summary.json'));
    expect(main(['view', dir], v.io)).toBe(1);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    expect(v.err.join('\n')).toMatch(/LOG_TRUNCATED: .*events\.ndjson: line 701 is cut short .*the page shows the 700 events before line 701/);
  });

  it('bad usage: no folder, a folder without events.ndjson, an unknown option (exit 2)', () => {
    const v = io();
    expect(main(['view'], v.io)).toBe(2);
    expect(main(['view', v.cwd], v.io)).toBe(2);
    expect(v.err.join('\n')).toContain(`${join(v.cwd, 'events.ndjson')} does not exist`);
    expect(main(['view', runDir, '--open'], v.io)).toBe(2);
    expect(v.err.join('\n')).toContain('unknown option --open');
  });
});
