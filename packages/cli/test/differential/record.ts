/**
 * Writes engine-digests.json: run once on the engine before a change to the core's execution
 * (see digests.ts), never by hand. `npm run record:engine-digests` from the repository root.
 */
import { writeFileSync } from 'node:fs';
import { engineDigests, SEEDS } from './digests.js';

const out = process.argv[2] ?? 'packages/cli/test/differential/engine-digests.json';
const started = process.hrtime.bigint();
const digests = engineDigests(SEEDS);
writeFileSync(out, JSON.stringify({ seeds: SEEDS, recordedWith: process.env['RECORDED_WITH'] ?? 'unknown', digests }, null, 1) + '\n');
process.stderr.write(`${Object.keys(digests).length} keys x ${SEEDS} seeds in ${Number(process.hrtime.bigint() - started) / 1e9} s -> ${out}\n`);
