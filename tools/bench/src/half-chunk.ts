/**
 * A child process of the explore-queue bench: runs one half of fork-flag-race/fixed's schedules
 * (chunk 0 or 1 of a plan cut in two) once its parent says go, and prints the milliseconds the
 * chunk took. Two of these at once, with no queue between them, are the most two processes on
 * this machine can give: the peer of the queue's two workers.
 */
import { planChunks, runPlannedChunk } from '@tracelab/explore';
import { catalog } from '@tracelab/scenarios';
import { wallNow } from './harness.js';

const [budgetArg, chunkArg] = process.argv.slice(2);
const budget = Number(budgetArg);
const chunk = Number(chunkArg);
const s = catalog.get('fork-flag-race')!;
const base = { variant: 'fixed', selfCheckEvery: 0 } as const;
// Warm up as the queue's workers are warmed: module load, the kernel pool, the JIT.
runPlannedChunk(s, planChunks(s, { ...base, budget: 512, chunkSize: 512 }), 0);
const plan = planChunks(s, { ...base, budget, chunkSize: Math.ceil(budget / 2) });
process.stdout.write('ready\n');
process.stdin.once('data', () => {
  const t0 = wallNow();
  runPlannedChunk(s, plan, chunk);
  process.stdout.write(`${Number(wallNow() - t0) / 1e6}\n`);
  process.exit(0);
});
