import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createKernel, WATCHDOG_EXIT_CODE } from '../src/index.js';

// The watchdog ends its process, so each case runs in a child process of its own, against the
// built package (the suite's global setup builds it).
const CORE = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const SHELL = `function* shell(u) { for (let i = 0; i < 20; i++) yield u.syscall('getpid', {}); yield u.exit(0); }`;
/** A plugin whose context-switch hook, from the third switch on, loops in JavaScript forever. */
const LOOPER = `let switches = 0;
const looper = { name: 'looper', version: '1.0.0', core: '*', register(ctx) {
  ctx.tap('contextSwitch', function* spinForever() { if (++switches < 3) return; for (;;) { /* never yields */ } });
  return {};
} };`;

interface Exit {
  readonly status: number | null;
  readonly stderr: string;
  readonly stdout: string;
  /** Still running at the deadline (then killed). */
  readonly alive: boolean;
}

function runScript(dir: string, body: string, deadlineMs: number, env: Record<string, string> = {}): Promise<Exit> {
  const file = join(dir, `case-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, `import { createKernel } from ${JSON.stringify(CORE)};\nimport { writeFileSync } from 'node:fs';\n${body}\n`);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let alive = false;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      alive = true;
      p.kill('SIGKILL');
    }, deadlineMs);
    p.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, stdout, alive });
    });
  });
}

describe('the host watchdog (a hook whose JavaScript never returns)', () => {
  it('ends the process with exit 70 and one coded line naming the plugin, the hook, the task and the looping function; the streamed log and onFire keep what was recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-watchdog-'));
    const log = join(dir, 'log.ndjson');
    const reportFile = join(dir, 'report.json');
    const r = await runScript(
      dir,
      `${SHELL}\n${LOOPER}
const k = createKernel({ cpus: 1, seed: 1, plugins: [looper], logFile: ${JSON.stringify(log)},
  watchdog: { timeoutMs: 400, onFire: (report) => writeFileSync(${JSON.stringify(reportFile)}, JSON.stringify(report)) } });
k.spawn(shell); k.spawn(shell);
k.run();
console.log('the run returned');`,
      20_000,
    );
    expect(r.alive).toBe(false);
    expect(r.status).toBe(WATCHDOG_EXIT_CODE);
    expect(r.stdout).not.toContain('the run returned');
    const first = r.stderr.split('\n')[0]!;
    expect(first).toMatch(
      /^tracelab: KERNEL_WATCHDOG: plugin looper's hook contextSwitch in pid \d+ \(shell\) on cpu 0 ran \d+\.\d s without reaching a scheduling point or returning \(kernel step \d+\)/,
    );
    expect(first).toContain('spinForever');
    expect(first).toContain(`the log so far is in ${log}`);
    // Node's "Waiting for the debugger to disconnect..." is not printed after the report.
    expect(r.stderr).not.toContain('debugger');
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown>;
    expect(report).toMatchObject({ code: 'KERNEL_WATCHDOG', plugin: 'looper', where: 'hook contextSwitch', comm: 'shell', cpu: 0, logFile: log });
    expect(report.step).toBeGreaterThan(0);
    // Every step finished before the hang is in the file, whole: the header first, and both
    // shells' first context switches (the hook ran twice before it looped).
    const lines = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const events = lines.map((l) => JSON.parse(l) as { type: string; seq: number });
    expect(events[0]!.type).toBe('kernel/created');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.filter((e) => e.type === 'sched/switch').length).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('does not fire for a run longer than its timeout whose steps each finish, nor between runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-watchdog-'));
    // About 2.5 s of runs against a 1 s timeout, then host code idles 1.5 s with no run in
    // progress, then another run. (1 s, not less: test files run two at a time on two cores, and
    // a step must not seem stuck because its process waited for a core.)
    const r = await runScript(
      dir,
      `function* busy(u) { for (let i = 0; i < 4000; i++) yield u.syscall('getpid', {}); yield u.exit(0); }
const k = createKernel({ cpus: 2, seed: 1, watchdog: { timeoutMs: 1000 } });
const t0 = Date.now();
let runs = 0;
while (Date.now() - t0 < 2500) { k.spawn(busy); k.run(); runs++; }
await new Promise((resolve) => setTimeout(resolve, 1500));
k.spawn(busy); k.run();
console.log('ok ' + runs);`,
      20_000,
    );
    expect(r.stderr).not.toContain('KERNEL_WATCHDOG');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ok \d+/);
  }, 30_000);

  it('is off with TRACELAB_WATCHDOG=0 (the loop then runs until the process is killed from outside)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracelab-watchdog-'));
    const r = await runScript(
      dir,
      `${SHELL}\n${LOOPER}\nconst k = createKernel({ cpus: 1, seed: 1, plugins: [looper], watchdog: { timeoutMs: 200 } });\nk.spawn(shell); k.spawn(shell);\nk.run();`,
      2_000,
      { TRACELAB_WATCHDOG: '0' },
    );
    expect(r.alive).toBe(true);
    expect(r.stderr).not.toContain('KERNEL_WATCHDOG');
  }, 30_000);

  it('refuses bad options with INVALID_OPTION naming the key', () => {
    expect(() => createKernel({ watchdog: { timeoutMs: 5 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('watchdog.timeoutMs') }),
    );
    expect(() => createKernel({ watchdog: { timeoutMs: 1.5e3 + 0.5 } })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => createKernel({ watchdog: { timeout: 100 } as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('"timeout"') }),
    );
    expect(() => createKernel({ watchdog: { onFire: 3 } as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('watchdog.onFire') }),
    );
    expect(() => createKernel({ watchdog: 'on' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('watchdog must be false') }),
    );
    expect(() => createKernel({ watchdog: false })).not.toThrow();
  });
});
