import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALLOW_FILE, checkWorkspace, functionLengths, LIMIT, measure, problems, readAllowList, sourceFiles } from '../fn-length.mjs';

/** The checker is a plain ES module (JSDoc-typed, `// @ts-check`) so `npm run lint` runs it without a build. */
type FnLength = { file: string; name: string; start: number; end: number; lines: number };

/** Issue 16's rule (docs/README.md, "Workspace decisions"): no function in packages/*\/src over 150 lines. */
const root = resolve(import.meta.dirname, '../../..');
const fixture = join(import.meta.dirname, 'fixtures/fn-length');
const LONG = 'packages/demo/src/internal/long.ts';
const script = join(root, 'tools/workspace/fn-length.mjs');

/** Runs the checker as `npm run lint` does; its exit code and what it printed. */
function runChecker(workspace: string): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [script, workspace], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout + e.stderr };
  }
}

describe('fn-length: measuring', () => {
  it('measures every kind of function from its first to its last line, under the name a reader looks for', () => {
    const src = [
      'export function decl() {', // 1
      '  const arrow = () => {', // 2
      '    return 1;',
      '  };', // 4
      '  return arrow;',
      '}', // 6
      'export const expr = function () {', // 7
      '  return 2;',
      '};', // 9
      'export class K {',
      '  constructor() {', // 11
      '    this.m();',
      '  }', // 13
      '  m(): void {}', // 14
      '  get g(): number {', // 15
      '    return 3;',
      '  }', // 17
      '}',
      'export const api = { call: (x: number) => x, run() {} };', // 19
      '[1].map((v) => {', // 20
      '  return v;',
      '});', // 22
      'export function overload(a: string): void;', // 23: a signature, no body
      'export function overload(a: unknown): void {}', // 24
    ].join('\n');
    const got = (functionLengths('f.ts', src) as FnLength[]).map((f) => [f.name, f.start, f.lines]);
    expect(got).toEqual([
      ['decl', 1, 6],
      ['arrow', 2, 3],
      ['expr', 7, 3],
      ['K.constructor', 11, 3],
      ['K.m', 14, 1],
      ['K.g', 15, 3],
      ['call', 19, 1],
      ['run', 19, 1],
      ['<anonymous in module>', 20, 3],
      ['overload', 24, 1],
    ]);
  });

  it('reports a 151-line function and a 151-line method, not a 150-line one', () => {
    expect(sourceFiles(fixture)).toEqual([LONG]);
    const fns = measure(fixture, [LONG]) as FnLength[];
    expect(fns.map((f) => [f.name, f.lines])).toEqual([
      ['over', 151],
      ['atLimit', 150],
      ['Demo.method', 151],
    ]);
    expect(LIMIT).toBe(150);
    const found = problems(fns, []) as string[];
    expect(found).toEqual([
      expect.stringMatching(/^packages\/demo\/src\/internal\/long\.ts:4: function over is 151 lines/),
      expect.stringMatching(/Demo\.method is 151 lines/),
    ]);
    expect(found.join('\n')).not.toContain('atLimit');
  });
});

describe('fn-length: the allow-list', () => {
  it('lets an entry allow its function, and reports an entry that allows nothing over the limit as stale, naming it', () => {
    const fns = measure(fixture, [LONG]) as FnLength[];
    const allow = readAllowList(join(fixture, ALLOW_FILE));
    const found = problems(fns, allow) as string[];
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/function over is 151 lines/);
    expect(found[1]).toMatch(/stale entry \{ file: "packages\/demo\/src\/internal\/long\.ts", name: "atLimit" \}: atLimit .* is 150 lines now, not over 150/);
    expect(found[2]).toMatch(/stale entry \{ file: "packages\/demo\/src\/gone\.ts", name: "split" \}: packages\/demo\/src\/gone\.ts has no function split/);
    expect(found.join('\n')).not.toContain('Demo.method');
  });

  it('as a command (what `npm run lint` runs): exits 1 on the fixture, printing each problem', () => {
    const bad = runChecker(fixture);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('function over is 151 lines');
    expect(bad.out).toContain('name: "atLimit"');
    expect(bad.out).toContain('name: "split"');
  });

  it('as a command: exits 0 once every long function is listed and no entry is stale', () => {
    const ws = mkdtempSync(join(tmpdir(), 'fn-length-'));
    try {
      cpSync(join(fixture, 'packages'), join(ws, 'packages'), { recursive: true });
      mkdirSync(join(ws, 'tools/workspace'), { recursive: true });
      const allow = ['over', 'Demo.method'].map((name) => ({ file: LONG, name, reason: 'being split (test)' }));
      writeFileSync(join(ws, ALLOW_FILE), JSON.stringify(allow));
      const good = runChecker(ws);
      expect(good.out).toContain('no function over 150 lines in packages/*/src but the 2 that');
      expect(good.code).toBe(0);
    } finally {
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('refuses an entry without a reason', () => {
    expect(() => readAllowList(join(import.meta.dirname, 'fixtures/fn-length-no-reason.json'))).toThrow(/entry 0 needs a non-empty string "reason"/);
  });

  it('holds on this workspace: every function over the limit is listed with a reason, and no entry is stale', () => {
    const { problems: found } = checkWorkspace(root, join(root, ALLOW_FILE)) as { problems: string[] };
    expect(found).toEqual([]);
    for (const e of readAllowList(join(root, ALLOW_FILE)) as Array<{ reason: string }>) expect(e.reason).toMatch(/\S/);
  });
});
