import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '@tracelab/cli';

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-cli-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

describe('tracelab run --max-steps', () => {
  it('bounds the whole run, session end included, records the bound, and replay honours it', () => {
    const t = io();
    expect(main(['run', '--seed', '3', '--max-steps', '700', '--out', 'o'], t.io)).toBe(0);
    const summary = JSON.parse(readFileSync(join(t.cwd, 'o', 'summary.json'), 'utf8'));
    expect(summary.steps).toBe(700);
    expect(summary).toMatchObject({ maxSteps: 700, cut: true });
    expect(summary.tasks.exited).toBeLessThan(summary.tasks.started);
    expect(t.out.join('\n')).toMatch(/cut at --max-steps 700/);
    t.out.length = 0;
    expect(main(['replay', 'o'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/fold .* ok[\s\S]*re-run .* ok/);
    expect(t.out.join('\n')).toMatch(/700 steps/);
  });

  it('a run that ends below the bound is not cut', () => {
    const t = io();
    expect(main(['run', '--seed', '3', '--max-steps', '10000000', '--out', 'o'], t.io)).toBe(0);
    const summary = JSON.parse(readFileSync(join(t.cwd, 'o', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ maxSteps: 10000000, cut: false });
    expect(summary.tasks.exited).toBe(summary.tasks.started);
  });
});

describe('tracelab run --max-steps: a cut in the drain (docs/core.md decision 22)', () => {
  it('a run cut after its last task exited but before its idle passes ended is cut', async () => {
    // With ftrace tracing the idle loop, the last exit leaves idle passes due: the run drains them.
    const t = io();
    writeFileSync(join(t.cwd, 'c.json'), JSON.stringify({ seed: 3, plugins: { ftrace: { traceIdle: true } } }));
    expect(await main(['run', '--config', 'c.json', '--out', 'full'], t.io)).toBe(0);
    const full = JSON.parse(readFileSync(join(t.cwd, 'full', 'summary.json'), 'utf8'));
    expect(full.cut).toBe(false);
    expect(await main(['run', '--config', 'c.json', '--max-steps', String(full.steps - 1), '--out', 'cut'], t.io)).toBe(0);
    const cut = JSON.parse(readFileSync(join(t.cwd, 'cut', 'summary.json'), 'utf8'));
    expect(cut.tasks.exited).toBe(cut.tasks.started);
    expect(cut).toMatchObject({ steps: full.steps - 1, cut: true });
  });
});

describe('tracelab replay: a mismatch names where', () => {
  it('names the first line where the log and the re-run differ, with both lines', () => {
    const t = io();
    expect(main(['run', '--seed', '2', '--max-steps', '400', '--out', 'o'], t.io)).toBe(0);
    const path = join(t.cwd, 'o', 'events.ndjson');
    const lines = readFileSync(path, 'utf8').split('\n');
    const original = lines[40]!;
    lines[40] = original.replace(/"time":(\d+)/, (_, n: string) => `"time":${Number(n) + 1}`);
    expect(lines[40]).not.toBe(original);
    writeFileSync(path, lines.join('\n'));
    t.out.length = 0;
    expect(main(['replay', 'o'], t.io)).toBe(1);
    const text = t.out.join('\n');
    expect(text).toContain('MISMATCH');
    expect(text).toContain('first difference at line 41');
    expect(text).toContain(`log     ${lines[40]}`);
    expect(text).toContain(`re-run  ${original}`);
  });

  it('checks summary.json against the log header', () => {
    const t = io();
    expect(main(['run', '--seed', '2', '--max-steps', '400', '--out', 'o'], t.io)).toBe(0);
    const path = join(t.cwd, 'o', 'summary.json');
    const summary = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...summary, seed: 5, cpus: 3 }));
    t.out.length = 0;
    expect(main(['replay', 'o'], t.io)).toBe(1);
    expect(t.out.join('\n')).toMatch(/summary\.json says seed 5, the log header says seed 2/);
    expect(t.out.join('\n')).toMatch(/summary\.json says cpus 3, the log header says cpus 2/);
  });
});
