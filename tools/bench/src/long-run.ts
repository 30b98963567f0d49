/**
 * The long-run benchmark's child process (run.ts, "long run"): one build workload of about
 * `events` events with the log streamed to `file`; prints its figures as JSON. A process of its
 * own, so that the peak RSS is the run's alone.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { buildWorkload } from '@tracelab/cli';
import { createKernel } from '@tracelab/core';

const [file, eventsArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: long-run.js <log file> [events]');
const events = Number(eventsArg ?? 10_000_000);
/** ~280 events per job with files: 10 (the simulation benchmark's 200 jobs log 56,084). */
const jobs = Math.ceil(events / 280);
const kernel = createKernel({ cpus: 2, seed: 1, logFile: file });
kernel.spawn(buildWorkload({ jobs, files: 10 }), { comm: 'sh' });
const t0 = process.hrtime.bigint();
const r = kernel.run();
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
if (!r.done || r.violations.length > 0) throw new Error(`long run did not finish cleanly: ${r.violations[0]?.message ?? 'not done'}`);
const maxRssKiB = process.resourceUsage().maxRSS;
// The events are the file's lines (kernel.log keeps none of them once written).
let logged = 0;
const fd = openSync(file, 'r');
const buf = Buffer.alloc(1 << 20);
for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) for (let i = 0; i < n; i++) if (buf[i] === 10) logged++;
closeSync(fd);
process.stdout.write(
  JSON.stringify({ events: logged, steps: r.steps, ms, bytes: statSync(file).size, maxRssKiB }) + '\n',
);
