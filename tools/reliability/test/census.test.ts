import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CASES, censusMarkdown, ROOT, runCensus, totals, type Outcome } from '../src/census.js';

// The census feeds the built CLI and packages (child processes): build them first.
beforeAll(() => {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: ROOT, stdio: 'inherit' });
}, 180_000);

const DOC = join(ROOT, 'docs/reliability.md');
const BEGIN = '<!-- census:begin -->';
const END = '<!-- census:end -->';

describe('the bad-input census (docs/reliability.md)', () => {
  let outcomes: Outcome[] = [];
  beforeAll(async () => {
    outcomes = await runCensus();
    if (process.env['CENSUS_WRITE'] === '1') {
      const doc = readFileSync(DOC, 'utf8');
      const at = doc.indexOf(BEGIN);
      const end = doc.indexOf(END);
      writeFileSync(DOC, `${doc.slice(0, at + BEGIN.length)}\n${censusMarkdown(outcomes)}\n${doc.slice(end)}`);
    }
    if (process.env['CENSUS_PRINT'] === '1') process.stdout.write(censusMarkdown(outcomes) + '\n');
  }, 600_000);

  it(`covers at least 60 inputs across every surface`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.surface)).size).toBeGreaterThanOrEqual(9);
    expect(new Set(CASES.map((c) => c.id)).size).toBe(CASES.length);
  });

  it('no raw stack trace, no hang, nothing silently wrong, nothing unclear (but the recorded limits)', () => {
    const bad = outcomes.filter((o) => o.owner === undefined && o.verdict !== 'clear error' && o.verdict !== 'handled');
    expect(bad.map((o) => `${o.id}: ${o.verdict}: ${o.sees}`)).toEqual([]);
  });

  it('docs/reliability.md holds these verdicts and totals', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const [i, o] of outcomes.entries())
      expect(doc, o.id).toMatch(new RegExp(`^\\| ${i + 1} \\| ${o.surface.replace(/[()]/g, '\\$&')} \\|.*\\| ${o.verdict} \\|$`, 'm'));
    const t = totals(outcomes);
    expect(doc).toContain(`**Totals (${outcomes.length} inputs):** clear error ${t['clear error']} `);
  });
});
