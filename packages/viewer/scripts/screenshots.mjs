// Regenerates docs/viewer-run.png and docs/viewer-counterexample.png: runs the built CLI
// (`npm run build` first), writes the two viewer pages, and has Debian's Chromium take the
// screenshots. Usage: node packages/viewer/scripts/screenshots.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/cli/dist/bin.js');
const work = mkdtempSync(join(tmpdir(), 'tracelab-shots-'));
const tracelab = (...args) => {
  try {
    execFileSync(process.execPath, [bin, ...args], { cwd: work, stdio: 'pipe' });
  } catch (err) {
    if (err.status !== 1) throw err; // explore exits 1 when it finds the violation
  }
};

tracelab('run', '--out', 'run');
tracelab('view', 'run');
tracelab('explore', 'trampoline-free', '--variant', 'rcu-sched', '--out', 'cx');
tracelab('view', 'cx');

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'tracelab-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const page = await context.newPage();
const ready = () => page.waitForSelector('#tracelab-viewer[data-ready="true"][data-log-hash]', { timeout: 120_000 });

// A run: the first preemption inside the RCU-tasks grace period the function tracer's
// trampoline waits for.
const events = readFileSync(join(work, 'run', 'events.ndjson'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const gpStart = events.find((e) => e.type === 'rcu-tasks/gp-start')?.seq ?? 0;
const seq = events.find((e) => e.seq > gpStart && e.type === 'sched/switch' && e.preempted)?.seq ?? gpStart;
await page.goto(pathToFileURL(join(work, 'run', 'report.html')).href + `#seq=${seq}`);
await ready();
await page.screenshot({ path: join(root, 'docs/viewer-run.png'), fullPage: true });

// A counterexample: stepped to its last preemption.
await page.goto(pathToFileURL(join(work, 'cx', 'report.html')).href);
await ready();
await page.click('[data-go="first"]');
for (let i = 0; i < 3; i++) await page.click('[data-go="next-preemption"]');
await page.screenshot({ path: join(root, 'docs/viewer-counterexample.png'), fullPage: true });
await context.close();
console.log(`wrote docs/viewer-run.png and docs/viewer-counterexample.png (pages in ${work})`);
