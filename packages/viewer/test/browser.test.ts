/**
 * The viewer page in a real browser: Debian's Chromium driven by playwright-core. Skipped, with
 * a message, only when /usr/bin/chromium is absent (.ci/run installs it).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { replay, type KernelEvent, type ReplayedKernel } from '@tracelab/core';
import { explore } from '@tracelab/explore';
import { scenario } from '@tracelab/scenarios';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterexampleOf, loadLog, renderViewer, stackOf, stateDigest, viewerBundle, type ViewerMeta } from '../src/index.js';
import { ndjson, tracedRun } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`viewer browser tests SKIPPED: ${CHROMIUM} is absent (Debian package chromium; .ci/run installs it)`);

/** Where to save screenshots of the pages (unset: none are taken). */
const SHOTS = process.env['VIEWER_SCREENSHOTS'];

/**
 * CPU seconds (user + system) used so far by the processes of the browser started with
 * `profile` as its user data dir, and by the renderers among them; null where /proc is not.
 * On a loaded machine wall time says little; a page's CPU time still says what it costs.
 */
function browserCpu(profile: string): { all: number; renderers: number } | null {
  if (!existsSync('/proc/self/stat')) return null;
  const procs: Array<{ pid: number; ppid: number; cpu: number; cmd: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      procs.push({ pid: Number(d), ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100, cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8') });
    } catch {
      // The process ended while we read it.
    }
  }
  const root = procs.find((p) => p.cmd.includes(profile) && !p.cmd.includes('--type='));
  if (root === undefined) return null;
  const mine = new Set([root.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (mine.has(p.pid) || !mine.has(p.ppid)) continue;
      mine.add(p.pid);
      grew = true;
    }
  }
  let all = 0;
  let renderers = 0;
  for (const p of procs) {
    if (!mine.has(p.pid)) continue;
    all += p.cpu;
    if (p.cmd.includes('--type=renderer')) renderers += p.cpu;
  }
  return { all, renderers };
}

describe.skipIf(!haveChromium)('the viewer page in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracelab-viewer-'));
  const profile = mkdtempSync(join(tmpdir(), 'tracelab-chromium-'));
  let context: BrowserContext;

  /** A page that records console errors, page errors and every request it makes. */
  async function open(file: string, hash = ''): Promise<{ page: Page; problems: string[]; requests: string[] }> {
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href + hash);
    await page.waitForSelector('#tracelab-viewer[data-ready="true"]', { timeout: 60_000 });
    return { page, problems, requests };
  }

  function write(name: string, log: string, meta: Partial<ViewerMeta> = {}): string {
    const file = join(dir, name);
    writeFileSync(file, renderViewer({ log, meta }));
    return file;
  }

  const shownState = (page: Page) =>
    page.evaluate(() => {
      const panel = document.querySelector('[data-state-seq]')!;
      return { seq: Number(panel.getAttribute('data-state-seq')), digest: panel.getAttribute('data-state-digest') };
    });

  beforeAll(async () => {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
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
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  });

  describe('a run', () => {
    const run = tracedRun({ shells: 2, jobs: 4, files: 3 });
    const log = ndjson(run);
    const kernel: ReplayedKernel = replay(log, { plugins: stackOf(run.log) });
    let file: string;
    beforeAll(() => {
      file = write('run.html', log, { title: 'a traced build', source: 'run', logHash: run.logHash() });
    });

    it('loads offline without console errors, counts the events and checks the log hash', async () => {
      const { page, problems, requests } = await open(file);
      expect(problems).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
      expect(await page.getAttribute('#tracelab-viewer', 'data-events')).toBe(String(run.log.length));
      await page.waitForSelector('#tracelab-viewer[data-log-hash]');
      expect(await page.getAttribute('#tracelab-viewer', 'data-log-hash')).toBe(run.logHash());
      await page.close();
    });

    it('draws a lane per CPU with the spans of its context switches, and pixels in them', async () => {
      const { page } = await open(file);
      // Lanes are drawn at animation frames: wait for two.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null)))));
      const lanes = await page.$$eval('[data-cpu-lane]', (els) =>
        els.map((el) => {
          const c = el.querySelector('canvas')!;
          const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let colored = 0;
          for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i]! - px[i + 1]!) > 20 || Math.abs(px[i + 1]! - px[i + 2]!) > 20) colored++;
          return {
            cpu: Number(el.getAttribute('data-cpu-lane')),
            spans: Number(el.getAttribute('data-spans')),
            preemptions: Number(el.getAttribute('data-preemptions')),
            colored,
          };
        }),
      );
      const switches = (cpu: number) =>
        run.log.filter((e) => e.type === 'sched/switch' && e.cpu === cpu && (e as KernelEvent<'sched/switch'>).next !== 0).length;
      const preempted = (cpu: number) =>
        run.log.filter((e) => e.type === 'sched/switch' && e.cpu === cpu && (e as KernelEvent<'sched/switch'>).preempted).length;
      expect(lanes.map((l) => l.cpu)).toEqual([0, 1]);
      for (const l of lanes) {
        expect(l.spans).toBe(switches(l.cpu));
        expect(l.preemptions).toBe(preempted(l.cpu));
        expect(l.colored).toBeGreaterThan(100);
      }
      await page.close();
    });

    it('#seq=N shows the state stateAt(N) gives, on load and on a hash change', async () => {
      const last = run.log.length - 1;
      for (const n of [0, 137, Math.floor(last / 2)]) {
        const { page } = await open(file, `#seq=${n}`);
        expect(await shownState(page)).toEqual({ seq: n, digest: stateDigest(kernel.stateAt(n)) });
        if (n === 137) {
          await page.evaluate((m) => (location.hash = `#seq=${m}`), last);
          await page.waitForSelector(`[data-state-seq="${last}"]`);
          expect(await shownState(page)).toEqual({ seq: last, digest: stateDigest(kernel.stateAt(last)) });
          if (SHOTS !== undefined) await page.screenshot({ path: join(SHOTS, 'viewer-run-fixture.png'), fullPage: true });
        }
        await page.close();
      }
    });

    it('clicking an event, a lane or the next-event key moves the state', async () => {
      const { page } = await open(file, '#seq=300');
      await page.click('.list-body [data-seq="305"]');
      expect(await shownState(page)).toEqual({ seq: 305, digest: stateDigest(kernel.stateAt(305)) });
      expect(await page.evaluate(() => location.hash)).toBe('#seq=305');
      await page.keyboard.press('ArrowDown');
      expect(await shownState(page)).toEqual({ seq: 306, digest: stateDigest(kernel.stateAt(306)) });
      // A click in the middle of cpu1's lane selects an event logged on cpu1.
      const box = (await page.locator('[data-cpu-lane="1"] canvas').boundingBox())!;
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      const s = await shownState(page);
      expect(run.log[s.seq]!.cpu).toBe(1);
      expect(s.digest).toBe(stateDigest(kernel.stateAt(s.seq)));
      await page.close();
    });

    it('filters the list by type, plugin and task', async () => {
      const { page } = await open(file);
      const rows = () => page.getAttribute('.events-box', 'data-rows').then(Number);
      await page.selectOption('[data-filter="type"]', 'sched/switch');
      expect(await rows()).toBe(run.log.filter((e) => e.type === 'sched/switch').length);
      await page.selectOption('[data-filter="type"]', '');
      await page.selectOption('[data-filter="owner"]', 'ring-buffer');
      const rb = run.log.filter((e) => e.type.startsWith('ring-buffer/')).length;
      expect(rb).toBeGreaterThan(0);
      expect(await rows()).toBe(rb);
      await page.selectOption('[data-filter="owner"]', '');
      // A task's events: those it ran in (on a CPU it was switched to) and those naming it.
      const pid = 2;
      const curr = [0, 0];
      let expected = 0;
      for (const e of run.log) {
        const p = e as unknown as Record<string, unknown>;
        const ranIn = e.cpu >= 0 && curr[e.cpu] === pid;
        if (ranIn || ['pid', 'prev', 'next', 'parent', 'child', 'killed', 'by'].some((f) => p[f] === pid)) expected++;
        if (e.type === 'sched/switch') curr[e.cpu] = (e as KernelEvent<'sched/switch'>).next;
      }
      await page.selectOption('[data-filter="task"]', String(pid));
      expect(await rows()).toBe(expected);
      expect(expected).toBeLessThan(run.log.length);
      await page.close();
    });
  });

  describe('a counterexample', () => {
    const sc = scenario('fork-flag-race');
    const failure = explore(sc, { variant: 'no-recopy', budget: 300 }).failure!;
    const log = ndjson({ log: failure.log } as never);
    const view = counterexampleOf(sc, failure.replay);
    const kernel = replay(log, { plugins: sc.plugins('no-recopy') });
    let file: string;
    beforeAll(() => {
      file = write('cx.html', log, {
        title: 'fork-flag-race no-recopy',
        source: 'explore',
        logHash: failure.logHash,
        violations: view.violation === null ? [] : [view.violation],
        counterexample: view.counterexample,
      });
    });

    it('walks the whole schedule: each choice shows the state after the events it led to', async () => {
      const { page, problems } = await open(file);
      const steps = view.counterexample.steps;
      expect(steps.length).toBeGreaterThan(2);
      expect(await page.getAttribute('[data-stepper]', 'data-steps')).toBe(String(steps.length));
      expect(await page.inputValue('[data-replay]')).toBe(failure.replay);
      expect(await page.locator('.chip.preemption').count()).toBe(failure.preemptions);
      expect(await page.locator('.violation').textContent()).toContain(failure.invariant);
      await page.click('[data-go="first"]');
      for (let i = 0; i < steps.length; i++) {
        if (i > 0) await page.click('[data-go="next"]');
        // The events of a choice run up to the next choice made later in the log.
        const later = steps.find((s, j) => j > i && s.at > steps[i]!.at);
        const end = Math.min(later?.at ?? log.length, failure.log.length) - 1;
        expect(await page.getAttribute('[data-stepper]', 'data-step')).toBe(String(i));
        expect(await shownState(page)).toEqual({ seq: end, digest: stateDigest(kernel.stateAt(end)) });
        if (SHOTS !== undefined && steps[i]!.preemption && i > 0)
          await page.screenshot({ path: join(SHOTS, 'viewer-counterexample-fixture.png'), fullPage: true });
      }
      // The last choice ends where the run stopped: at the violation.
      expect((await shownState(page)).seq).toBe(failure.log.length - 1);
      expect(view.violation!.seq).toBe(failure.log.length - 1);
      expect(problems).toEqual([]);
      await page.close();
    });
  });

  describe('a damaged log', () => {
    const run = tracedRun({ shells: 1, jobs: 3, files: 2 });
    const lines = ndjson(run).split('\n').slice(0, -1);

    it('a truncated log shows the error with its line, and every event before it', async () => {
      const cut = lines.slice(0, 250).join('\n') + '\n' + lines[250]!.slice(0, 30);
      const { page, problems } = await open(write('cut.html', cut));
      expect(await page.getAttribute('#tracelab-viewer', 'data-error-line')).toBe('251');
      expect(await page.locator('[data-log-error]').textContent()).toMatch(/LOG_TRUNCATED: line 251 is cut short/);
      expect(await page.getAttribute('#tracelab-viewer', 'data-events')).toBe('250');
      const before = loadLog(cut).kernel!;
      expect(await shownState(page)).toEqual({ seq: 0, digest: stateDigest(before.stateAt(0)) });
      await page.evaluate(() => (location.hash = '#seq=249'));
      await page.waitForSelector('[data-state-seq="249"]');
      expect((await shownState(page)).digest).toBe(stateDigest(run.stateAt(249)));
      expect(problems).toEqual([]);
      await page.close();
    });

    it('a corrupt line in the middle: the error names it', async () => {
      const bad = [...lines.slice(0, 120), '{"cpu":0,"seq":120,', ...lines.slice(121)].join('\n') + '\n';
      const { page } = await open(write('bad.html', bad));
      expect(await page.getAttribute('#tracelab-viewer', 'data-error-line')).toBe('121');
      expect(await page.locator('[data-log-error]').textContent()).toContain('line 121 is not valid JSON');
      expect(await page.getAttribute('#tracelab-viewer', 'data-events')).toBe('120');
      await page.close();
    });
  });

  describe('100,000 events', () => {
    it('opens, scrolls with a virtualised list, and stays within 1.5x the log plus the bundle (times logged, not asserted)', async () => {
      const big = tracedRun({ shells: 16, jobs: 8, files: 40, cpus: 4, seed: 3, minEvents: 100_000 });
      expect(big.log.length).toBeGreaterThanOrEqual(100_000);
      const log = ndjson(big);
      const file = write('big.html', log, { title: '100k events', source: 'run', logHash: big.logHash() });
      const html = Buffer.byteLength(renderViewer({ log, meta: { title: '100k events', source: 'run', logHash: big.logHash() } }));
      const bundle = Buffer.byteLength(viewerBundle());
      expect(html).toBeLessThanOrEqual(1.5 * Buffer.byteLength(log) + bundle);
      const cpu0 = browserCpu(profile);
      const t0 = Date.now();
      const { page, problems } = await open(file);
      const wall = Date.now() - t0;
      const cpu1 = browserCpu(profile);
      const cpu =
        cpu0 === null || cpu1 === null
          ? 'n/a'
          : `${(cpu1.renderers - cpu0.renderers).toFixed(2)} s in renderers, ${(cpu1.all - cpu0.all).toFixed(2)} s in all browser processes`;
      const at = await page.evaluate(() => {
        const r = document.getElementById('tracelab-viewer')!;
        return {
          firstRender: Number(r.getAttribute('data-first-render-at')),
          ready: Number(r.getAttribute('data-ready-at')),
          replay: Number(r.getAttribute('data-replay-ms')),
        };
      });
      await page.waitForSelector('#tracelab-viewer[data-log-hash]', { timeout: 60_000 });
      expect(await page.getAttribute('#tracelab-viewer', 'data-log-hash')).toBe(big.logHash());
      // Scroll the list from top to bottom in 60 jumps, one per frame, and time the frames.
      const frames = await page.evaluate(async () => {
        const vp = document.querySelector('.list-viewport') as HTMLElement;
        const gaps: number[] = [];
        let last = performance.now();
        for (let i = 1; i <= 60; i++) {
          vp.scrollTop = (vp.scrollHeight * i) / 60;
          await new Promise((r) => requestAnimationFrame(() => r(null)));
          const now = performance.now();
          gaps.push(now - last);
          last = now;
        }
        return {
          max: Math.max(...gaps),
          mean: gaps.reduce((a, b) => a + b, 0) / gaps.length,
          rows: document.querySelectorAll('.list-body .row').length,
          render: Number(vp.getAttribute('data-max-render-ms')),
        };
      });
      // Virtualised: a screenful of rows in the DOM, not 100,000.
      expect(frames.rows).toBeGreaterThan(10);
      expect(frames.rows).toBeLessThan(200);
      expect(problems).toEqual([]);
      console.log(
        `viewer 100k: ${big.log.length} events, log ${(Buffer.byteLength(log) / 1048576).toFixed(2)} MiB, page ${(html / 1048576).toFixed(2)} MiB (bundle ${(bundle / 1024).toFixed(0)} KiB, ${(html / (Buffer.byteLength(log) + bundle)).toFixed(3)}x log+bundle); ` +
          `first render at ${at.firstRender.toFixed(0)} ms, state ready at ${at.ready.toFixed(0)} ms after navigation start (replay ${at.replay.toFixed(0)} ms), goto-to-ready wall ${wall} ms, CPU to ready ${cpu}; ` +
          `scroll: ${frames.rows} rows in the DOM, slowest list render ${frames.render.toFixed(1)} ms, frame gap mean ${frames.mean.toFixed(1)} ms, max ${frames.max.toFixed(1)} ms; load average ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')} on ${cpus().length} CPUs`,
      );
      await page.close();
    }, 120_000);
  });
});
