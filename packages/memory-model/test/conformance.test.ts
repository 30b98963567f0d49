import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conformance, conformanceMarkdown } from '@tracelab/memory-model';

const DIR = join(import.meta.dirname, '..', 'litmus');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.litmus'))
  .sort()
  .map((f) => ({ file: f, text: readFileSync(join(DIR, f), 'utf8') }));
const summary = conformance(files);

describe('conformance with LKMM over the committed litmus files', () => {
  it('every file records its LKMM verdict', () => {
    for (const r of summary.rows) expect(['Never', 'Sometimes', 'Always'], r.file).toContain(r.lkmm);
  });

  it('the kernel tests: at least 90% run, at least 95% of those agree, no false alarm', () => {
    const k = summary.kernel;
    expect(k.total).toBeGreaterThanOrEqual(35);
    expect(k.ran / k.total).toBeGreaterThanOrEqual(0.9);
    expect(k.agree / k.ran).toBeGreaterThanOrEqual(0.95);
    expect(k.falseAlarms).toBe(0);
  });

  it('all files: at least 90% run, at least 95% of those agree, no false alarm', () => {
    expect(summary.ran / summary.total).toBeGreaterThanOrEqual(0.9);
    expect(summary.agree / summary.ran).toBeGreaterThanOrEqual(0.95);
    expect(summary.falseAlarms).toBe(0);
  });

  it('docs/memory-model.md carries the current table', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'memory-model.md'), 'utf8');
    const a = doc.indexOf('-->', doc.indexOf('<!-- conformance:begin')) + 3;
    const b = doc.indexOf('<!-- conformance:end -->');
    expect(doc.slice(a, b).trim()).toBe(conformanceMarkdown(summary).trim());
  });
});
