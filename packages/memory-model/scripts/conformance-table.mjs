// Regenerates the conformance table in docs/memory-model.md from the committed litmus files:
//   npm run build && node packages/memory-model/scripts/conformance-table.mjs
// (test/conformance.test.ts fails when the committed table is stale).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { conformance, conformanceMarkdown } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, '..', 'litmus');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.litmus'))
  .sort()
  .map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }));
const s = conformance(files, () => performance.now());
const doc = join(here, '..', '..', '..', 'docs', 'memory-model.md');
const text = readFileSync(doc, 'utf8');
const BEGIN = '<!-- conformance:begin (scripts/conformance-table.mjs) -->';
const END = '<!-- conformance:end -->';
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a < 0 || b < a) throw new Error(`${doc}: no ${BEGIN} ... ${END} markers`);
writeFileSync(doc, text.slice(0, a + BEGIN.length) + '\n' + conformanceMarkdown(s) + '\n' + text.slice(b));
console.log(`${s.total} files, ${s.ran} run, ${s.agree} agree, ${s.falseAlarms} false alarms, ${s.ms.toFixed(0)} ms`);
