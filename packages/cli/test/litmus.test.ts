import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type LitmusJson } from '@tracelab/cli';

const LITMUS = join(import.meta.dirname, '..', '..', 'memory-model', 'litmus');

function io() {
  const cwd = mkdtempSync(join(tmpdir(), 'tracelab-litmus-'));
  const out: string[] = [];
  const err: string[] = [];
  return { cwd, out, err, io: { cwd, out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
}

describe('tracelab litmus', () => {
  it("prints herd7's verdict line, and for a reachable outcome a witness with both replay strings", () => {
    const t = io();
    expect(main(['litmus', join(LITMUS, 'sb.litmus'), join(LITMUS, 'sb-mb-mb.litmus')], t.io)).toBe(0);
    const text = t.out.join('\n');
    expect(text).toMatch(/^Observation sb Sometimes 1 3$/m);
    expect(text).toMatch(/^Observation sb-mb-mb Never 0 3$/m);
    expect(text).toMatch(/P0: W x=1; R y=0 <- init/);
    const lkmm = /witness \(replay (S2:\S+)\)/.exec(text)![1]!;
    const kernel = /kernel schedule: (S2:\S+)/.exec(text)![1]!;

    const r = io();
    expect(main(['litmus', join(LITMUS, 'sb.litmus'), '--replay', lkmm], r.io)).toBe(0);
    expect(r.out.join('\n')).toMatch(/^Execution sb \(replay .*\) satisfies the condition/m);
    const k = io();
    expect(main(['litmus', join(LITMUS, 'sb.litmus'), '--kernel', kernel], k.io)).toBe(0);
    expect(k.out.join('\n')).toMatch(/ran to the end; final: .*0:r0=0.*1:r0=0/);
  });

  it('--json: one entry per file, Unsupported naming the construct and its line', () => {
    const t = io();
    expect(main(['litmus', join(LITMUS, 'mp.litmus'), join(LITMUS, 'mp-srcu.litmus'), '--json'], t.io)).toBe(0);
    const j = JSON.parse(t.out.join('\n')) as LitmusJson[];
    expect(j.map((e) => [e.name, e.result, e.positive, e.negative])).toEqual([
      ['mp', 'Sometimes', 1, 3],
      ['mp-srcu', 'Unsupported', 0, 0],
    ]);
    expect(j[0]!.witness!.replay).toMatch(/^S2:/);
    expect(j[0]!.witness!.final).toMatchObject({ '1:r0': 1, '1:r1': 0 });
    expect(j[1]!.unsupported).toEqual({ construct: 'synchronize_srcu()', line: 17 });
  });

  it('a directory: every file; --check exits 1 on a disagreement with a Result: line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-litmus-dir-'));
    writeFileSync(join(dir, 'a.litmus'), 'C a\n(* Result: Never *)\n{}\nP0(int *x)\n{\n WRITE_ONCE(*x, 1);\n}\nexists (x=1)\n');
    writeFileSync(join(dir, 'notes.txt'), 'not a litmus test');
    const t = io();
    expect(main(['litmus', dir], t.io)).toBe(0);
    expect(t.out).toContain('Observation a Always 1 0');
    const c = io();
    expect(main(['litmus', dir, '--check'], c.io)).toBe(1);
    expect(c.out.join('\n')).toMatch(/DISAGREES with its Result: Never/);
  });

  it('an unparsable file is a LITMUS_PARSE error naming the line (exit 2), the others still run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-litmus-bad-'));
    writeFileSync(join(dir, 'bad.litmus'), 'C bad\n{}\nP0(int *x)\n{\n WRITE_ONCE(*x 1);\n}\nexists (x=1)\n');
    writeFileSync(join(dir, 'good.litmus'), 'C good\n{}\nP0(int *x)\n{\n WRITE_ONCE(*x, 1);\n}\nexists (x=1)\n');
    const t = io();
    expect(main(['litmus', dir], t.io)).toBe(2);
    expect(t.err.join('\n')).toMatch(/LITMUS_PARSE: .*bad\.litmus:5: expected ','/);
    expect(t.out).toContain('Observation good Always 1 0');
    const n = io();
    expect(main(['litmus'], n.io)).toBe(2);
    expect(main(['litmus', join(dir, 'missing.litmus')], n.io)).toBe(2);
  });
});
