/**
 * The long-run benchmark's child process (run.ts, "long run"): builds of about `events` events
 * in all, with the log streamed to `file`; prints its figures as JSON. A process of its
 * own, so that the peak RSS is the run's alone.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { buildWorkload } from '@tracelab/cli';
import { createKernel, type Program } from '@tracelab/core';

const [file, eventsArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: long-run.js <log file> [events]');
const events = Number(eventsArg ?? 10_000_000);
/**
 * The simulation benchmark's build (200 jobs, files: 10: 56,084 events) run again and again by
 * a make that forks one build, waits for it, and forks the next: the task count stays that of
 * one build, so the run's memory is the log's question alone.
 */
const PER_BUILD = 56_084;
const builds = Math.max(1, Math.round(events / PER_BUILD));
const build = buildWorkload({ jobs: 200, files: 10 });
const make: Program = function* make(u) {
  for (let b = 0; b < builds; b++) {
    yield u.fork(build);
    yield u.wait();
  }
  yield u.exit(0);
};
const kernel = createKernel({ cpus: 2, seed: 1, logFile: file });
kernel.spawn(make, { comm: 'make' });
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
process.stdout.write(JSON.stringify({ events: logged, steps: r.steps, ms, bytes: statSync(file).size, maxRssKiB }) + '\n');
